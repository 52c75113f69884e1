"""A synthetic province for the benchmarks: N reporting units, their configuration, their replies.

The configuration is the demo city's (``demo.city``: the shipped campaign settings, with
``attach_report_to_receipt`` on) with a registry of ``units`` plausible units: the provincial
government's office, then per county (县) its government, departments and townships. Replies
are what the demo's clerks send: the very template the unit received, filled with consistent
values (``annual_report.samples``) by openpyxl, mailed back over SMTP in the invitation's thread.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import smtplib
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import yaml

from annual_report.form.model import Form, form_for_year
from annual_report.samples import consistent_values, fill_template, sample_narrative
from connectors.attachments import parse_message
from demo import city

PROVINCE = "江西省"
DOMAIN = "jiangxi.example"
OFFICE = f"zwgk@{DOMAIN}"
COORDINATOR = f"coordinator@{DOMAIN}"
YEAR = 2021
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")

# County-level bodies reporting to the province, and what each county has (names are real
# kinds of office; the counties are made up from two syllables each).
BUREAUS = (
    "发展和改革委员会",
    "教育局",
    "公安局",
    "民政局",
    "司法局",
    "财政局",
    "人力资源和社会保障局",
    "自然资源局",
    "生态环境局",
    "住房和城乡建设局",
    "交通运输局",
    "水利局",
    "农业农村局",
    "商务局",
    "卫生健康委员会",
    "应急管理局",
    "审计局",
    "市场监督管理局",
    "统计局",
    "医疗保障局",
)
TOWNS = ("城关镇", "东湖街道", "西山镇", "南岭镇", "北河乡", "石桥镇", "新田乡", "白沙镇")
SYLLABLES = "安宁新丰永清和平兴华广昌德泰乐安宜黄金溪崇仁南城资溪铜鼓靖安奉新上高万载分宜"


def county_name(index: int) -> str:
    n = len(SYLLABLES)
    return SYLLABLES[index % n] + SYLLABLES[(index // n + index * 7 + 3) % n] + "县"


def units(count: int) -> list[dict[str, Any]]:
    """``count`` registry entries: the provincial office, then county after county."""
    rng = random.Random(count)
    out: list[dict[str, Any]] = [
        {
            "code": "SZF",
            "name": f"{PROVINCE}人民政府办公厅",
            "kind": "government",
            "can_make_rules": True,
            "reports_for_government": True,
        }
    ]
    per_county = 1 + len(BUREAUS) + len(TOWNS)
    i = 0
    while len(out) < count:
        county, slot = divmod(i, per_county)
        i += 1
        cname = county_name(county)
        prefix = f"C{county:03d}"
        if slot == 0:
            entry = {"code": prefix, "name": f"{cname}人民政府办公室", "kind": "county"}
        elif slot <= len(BUREAUS):
            entry = {"code": f"{prefix}-B{slot:02d}", "name": cname + BUREAUS[slot - 1]}
            entry["kind"] = "department"
        else:
            town = TOWNS[slot - len(BUREAUS) - 1]
            entry = {"code": f"{prefix}-T{slot:02d}", "name": cname + town, "kind": "township"}
        out.append(entry)
    for n, entry in enumerate(out):
        local = entry["code"].lower().replace("-", ".")
        entry["email"] = f"{local}@{DOMAIN}"
        entry["leader_email"] = f"{local}.leader@{DOMAIN}"
        given = city.GIVEN[rng.randrange(len(city.GIVEN))]
        entry["contact"] = {
            "name": city.SURNAMES[n % len(city.SURNAMES)] + given,
            "phone": f"0791-8{n % 1000:03d}{(n * 37) % 10000:04d}",
        }
    return out


def office_workspace(work: Path, *, count: int, smtp_port: int) -> tuple[Path, Path, Path]:
    """A fresh office of ``count`` units in ``work`` (emptied first): its configuration (mail
    read from an empty Maildir in ``work``, archived in its data directory); returns (config
    dir, data dir, Maildir)."""
    import mailbox

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    maildir = work / "office-maildir"
    mailbox.Maildir(maildir, create=True)
    data_dir = work / "data"
    config_dir = write_config(
        work / "config",
        count=count,
        smtp_port=smtp_port,
        maildir=maildir,
        archive=data_dir / "mail",
    )
    return config_dir, data_dir, maildir


def write_config(target: Path, *, count: int, smtp_port: int, maildir: Path, archive: Path) -> Path:
    """A complete configuration directory for a province of ``count`` units.

    The campaign settings are the shipped ones the demo uses (receipt with the Word report
    attached); mail goes to the local SMTP server without a rate limit (a real relay for a
    campaign this size would be configured the same way) and is read from a Maildir.
    """
    target.mkdir(parents=True, exist_ok=True)
    plan = city.plan_data(YEAR)
    plan["overrides"] = {}
    plan["website"] = f"http://www.{DOMAIN}"
    plan["site_name"] = f"{PROVINCE}人民政府网站"
    mail = city.mail_data(smtp_port, maildir, archive)
    mail["smtp"]["sender"] = OFFICE
    mail["smtp"]["sender_name"] = f"{PROVINCE}人民政府办公厅"
    mail["coordinator"] = COORDINATOR
    mail["contact"] = {"name": "周敏", "phone": "0791-86000001", "email": OFFICE}
    files = {
        "departments.yaml": {"city": PROVINCE, "departments": units(count)},
        "campaign.yaml": plan,
        "mail.yaml": mail,
    }
    for name, data in files.items():
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        (target / name).write_text(text, encoding="utf-8")
    shutil.copytree(city.packaged_mail_texts(), target / "mail", dirs_exist_ok=True)
    return target


# -- the departments' replies ---------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    code: str
    address: str
    subject: str
    message_id: str
    template: bytes


def invitation_of(raw: bytes, code: str, address: str) -> Invitation:
    parsed = parse_message(raw)
    if not parsed.workbooks:
        raise RuntimeError(f"the invitation to {code} carries no workbook")
    return Invitation(
        code, address, parsed.subject, parsed.message_id or "", parsed.workbooks[0].content
    )


class Filler:
    """Fills templates as a clerk does (openpyxl); a filled file is reused when the same
    unit's template with the same token comes again (the other mode's run of the same size,
    seeded with the same campaign secret)."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.cache.mkdir(parents=True, exist_ok=True)
        self.form = form_for_year(YEAR)

    @staticmethod
    def values_for(form: Form, code: str) -> tuple[dict[str, Decimal | None], dict[str, str]]:
        """Unit ``code``'s values (the same every run) and a narrative quoting them."""
        rng = random.Random(f"values-{code}")
        values: dict[str, Decimal | None] = dict(consistent_values(form, rng))
        return values, sample_narrative(YEAR, values, rng)  # type: ignore[arg-type]

    def filled(self, invitation: Invitation, token: str | None = None) -> bytes:
        """The filled workbook; ``token`` (the unit's token in the template) makes it reusable
        by another run of the same campaign secret, whose templates differ only in time stamps."""
        identity = token.encode() if token else invitation.template
        key = hashlib.sha256(invitation.code.encode() + identity).hexdigest()[:24]
        path = self.cache / f"{invitation.code}-{key}.xlsx"
        if path.exists():
            return path.read_bytes()
        values, narrative = self.values_for(self.form, invitation.code)
        with tempfile.TemporaryDirectory() as tmp:
            template = Path(tmp) / "template.xlsx"
            template.write_bytes(invitation.template)
            fill_template(template, path, values, narrative)
        return path.read_bytes()


def reply(invitation: Invitation, office: str, data: bytes, when: Any) -> EmailMessage:
    """The clerk's reply: in the invitation's thread, the filled workbook attached."""
    msg = EmailMessage()
    msg["From"] = f"{invitation.code} <{invitation.address}>"
    msg["To"] = office
    msg["Subject"] = f"回复：{invitation.subject}"
    msg["Date"] = format_datetime(when)
    msg["In-Reply-To"] = invitation.message_id
    msg["References"] = invitation.message_id
    msg.set_content("您好，我单位年度报告见附件，请审核。")
    name = f"{invitation.code}{YEAR}年政府信息公开工作年度报告.xlsx"
    msg.add_attachment(data, maintype=XLSX[0], subtype=XLSX[1], filename=name)
    return msg


def send_all(port: int, messages: list[EmailMessage]) -> None:
    """Mail ``messages`` to the office over one SMTP connection, as many clerks would."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for msg in messages:
            smtp.send_message(msg)
