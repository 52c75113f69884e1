"""Shared helpers of the flow tests (tests/test_flows*.py): a small city, its configuration
pointing at the test mail servers, the office's sent mail as parsed records, and departments
that reply the way the demo's clerks do (fill the template they received, reply in its thread).

Nothing here is a stand-in: the office sends over real SMTP (aiosmtpd), the replies reach the
office mailbox by IMAP APPEND into the real dovecot, the store is a real SQLite file.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, fill_template, sample_narrative
from connectors.attachments import ParsedMessage, parse_message

YEAR = 2021
ZONE = ZoneInfo("Asia/Shanghai")
CITY = "樟树市"
DOMAIN = "zhangshu.example"
OFFICE = f"zwgk@{DOMAIN}"
COORDINATOR = f"coordinator@{DOMAIN}"
SMTP_PASSWORD_ENV = "NIANBAO_TEST_SMTP_PASSWORD"
IMAP_PASSWORD_ENV = "NIANBAO_TEST_IMAP_PASSWORD"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")

# The calendar: templates out on the 4th, deadline the 12th (the township: the 14th),
# consolidation on the 18th. Ladder: reminder 3 days before and on the deadline, escalation
# 2 days after it and every 3 days after that, and after 2 rejections.
START = date(2022, 1, 4)
DEADLINE = date(2022, 1, 12)
TOWNSHIP_DEADLINE = date(2022, 1, 14)
CONSOLIDATE_ON = date(2022, 1, 18)
REMIND_BEFORE = 3
ESCALATE_AFTER = 2
REPEAT_EVERY = 3
REJECTIONS = 2
MORNING = time(9, 0)
EVENING = time(17, 30)

# (code, name, kind, has a leader)
UNITS: list[tuple[str, str, str, bool]] = [
    ("SZF", "樟树市人民政府办公室", "government", True),
    ("RSJ", "樟树市人力资源和社会保障局", "department", True),
    ("JYJ", "樟树市教育局", "department", True),
    ("CZJ", "樟树市财政局", "department", True),
    ("SJJ", "樟树市审计局", "department", True),
    ("MZJ", "樟树市民政局", "department", True),
    ("GAJ", "樟树市公安局", "department", True),
    ("XFJ", "樟树市信访局", "department", True),
    ("TJJ", "樟树市统计局", "department", False),  # no leader: escalations go to the coordinator
    ("Z-XS", "樟树市阁山镇人民政府", "township", True),  # its deadline is later (override)
]
NAMES = {code: name for code, name, _kind, _leader in UNITS}


def address(code: str) -> str:
    return f"{code.lower().replace('-', '.')}@{DOMAIN}"


def leader_address(code: str) -> str:
    return f"{code.lower().replace('-', '.')}.leader@{DOMAIN}"


def leader_of(code: str) -> str | None:
    return next((leader_address(c) for c, _n, _k, has in UNITS if c == code and has), None)


def registry_data() -> dict[str, Any]:
    departments = []
    for i, (code, name, kind, has_leader) in enumerate(UNITS):
        entry: dict[str, Any] = {
            "code": code,
            "name": name,
            "kind": kind,
            "email": address(code),
            "contact": {"name": "王芳", "phone": f"0795-73{i:05d}"},
        }
        if has_leader:
            entry["leader_email"] = leader_address(code)
        if kind == "government":
            entry |= {"can_make_rules": True, "reports_for_government": True}
        departments.append(entry)
    return {"city": CITY, "departments": departments}


def plan_data() -> dict[str, Any]:
    return {
        "id": str(YEAR),
        "report_year": YEAR,
        "start": START.isoformat(),
        "deadline": DEADLINE.isoformat(),
        "consolidate_on": CONSOLIDATE_ON.isoformat(),
        "timezone": "Asia/Shanghai",
        "send_at": "09:00",
        "ladder": {
            "remind_days_before": [REMIND_BEFORE],
            "remind_on_deadline": True,
            "escalate_after_days": ESCALATE_AFTER,
            "repeat_every_days": REPEAT_EVERY,
            "escalate_after_rejections": REJECTIONS,
        },
        "overrides": {"Z-XS": {"deadline": TOWNSHIP_DEADLINE.isoformat()}},
    }


def mail_data(smtp: Any, dovecot: Any, folder: str, archive: Path) -> dict[str, Any]:
    return {
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": "none",
            "user": smtp.user,
            "password_env": SMTP_PASSWORD_ENV,
            "sender": OFFICE,
            "sender_name": f"{CITY}人民政府办公室",
            "timeout": 10,
            "rate_per_minute": None,
            "retries": 1,
            "backoff_seconds": 0.05,
        },
        "imap": {
            "host": dovecot.host,
            "port": dovecot.port,
            "security": "none",
            "user": dovecot.user,
            "password_env": IMAP_PASSWORD_ENV,
            "folder": folder,
            "processed_flag": "$NianbaoProcessed",
            "timeout": 10,
        },
        "coordinator": COORDINATOR,
        "contact": {"name": "周敏", "phone": "0795-7300001", "email": OFFICE},
        "archive_dir": str(archive),
    }


def write_config(target: Path, smtp: Any, dovecot: Any, folder: str, archive: Path) -> Path:
    """A complete configuration directory for the test city (mail texts copied along)."""
    from demo.city import packaged_mail_texts

    target.mkdir(parents=True, exist_ok=True)
    files = {
        "departments.yaml": registry_data(),
        "campaign.yaml": plan_data(),
        "mail.yaml": mail_data(smtp, dovecot, folder, archive),
    }
    for name, data in files.items():
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        (target / name).write_text(text, encoding="utf-8")
    shutil.copytree(packaged_mail_texts(), target / "mail", dirs_exist_ok=True)
    return target


def at(day: date, when: time) -> datetime:
    return datetime.combine(day, when, tzinfo=ZONE)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# -- the office's sent mail ------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One mail the office handed to the SMTP server, with when the test saw it go."""

    index: int
    stamp: str  # the run that sent it, e.g. "2022-01-09 morning"
    day: date | None
    rcpt: tuple[str, ...]  # SMTP envelope recipients
    parsed: ParsedMessage = field(repr=False)

    @property
    def kind(self) -> str | None:
        return self.parsed.header("X-Nianbao-Kind")

    @property
    def department(self) -> str | None:
        return self.parsed.header("X-Nianbao-Department")

    @property
    def to(self) -> tuple[str, ...]:
        return self.parsed.to

    @property
    def cc(self) -> tuple[str, ...]:
        return self.parsed.cc

    @property
    def message_id(self) -> str | None:
        return self.parsed.message_id

    @property
    def subject(self) -> str:
        return self.parsed.subject

    @property
    def text(self) -> str:
        return self.parsed.text


class Outbox:
    """The SMTP server's received messages, parsed and labelled with the run that sent them."""

    def __init__(self, smtp: Any) -> None:
        self.smtp = smtp
        self.mails: list[Sent] = []

    def take(self, stamp: str = "", day: date | None = None) -> list[Sent]:
        """Parse what arrived since the last call and label it ``stamp``."""
        new = []
        for envelope in self.smtp.messages[len(self.mails) :]:
            sent = Sent(
                index=len(self.mails),
                stamp=stamp,
                day=day,
                rcpt=tuple(a.lower() for a in envelope.rcpt_tos),
                parsed=parse_message(envelope.raw),
            )
            self.mails.append(sent)
            new.append(sent)
        return new

    def pending(self) -> int:
        """Messages the server received that ``take`` has not labelled yet."""
        return len(self.smtp.messages) - len(self.mails)

    def of(self, kind: str | None = None, department: str | None = None) -> list[Sent]:
        return [
            m
            for m in self.mails
            if (kind is None or m.kind == kind)
            and (department is None or m.department == department)
        ]

    def to_address(self, addr: str) -> list[Sent]:
        return [m for m in self.mails if addr.lower() in m.rcpt]


# -- departments replying --------------------------------------------------------------------

FORM = form_for_year(YEAR)


def report_values(code: str, flavour: str) -> tuple[dict[str, Decimal | None], dict[str, str]]:
    """The values a clerk types in: ``good``; ``error`` / ``error2`` (a sum that does not add
    up, two different files); ``warnings`` (review and litigation left blank: counted as 0)."""
    rng = random.Random(f"values-{code}")
    values: dict[str, Decimal | None] = dict(consistent_values(FORM, rng))
    narrative = sample_narrative(YEAR, values, rng)  # type: ignore[arg-type]
    if flavour in ("error", "error2"):
        key = "requests.new_received.natural_person"
        values[key] = (values[key] or Decimal(0)) + (3 if flavour == "error" else 5)
    elif flavour == "warnings":
        for cell in FORM.cells:
            if cell.startswith(("review.", "litigation_")):
                values[cell] = None
    elif flavour != "good":
        raise ValueError(flavour)
    return values, narrative


def filled_workbook(template: bytes, code: str, flavour: str) -> bytes:
    values, narrative = report_values(code, flavour)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.xlsx"
        path.write_bytes(template)
        return fill_template(path, Path(tmp) / "filled.xlsx", values, narrative).read_bytes()


def reply(
    code: str,
    answering: Sent,
    *,
    when: datetime,
    text: str = "您好，我单位年度报告见附件，请审核。",
    workbook: bytes | None = None,
) -> tuple[bytes, str]:
    """A department's reply to ``answering`` as a mail client writes it: ``(raw, message_id)``."""
    msg = EmailMessage()
    msg["From"] = f"{NAMES[code]} <{address(code)}>"
    msg["To"] = OFFICE
    msg["Subject"] = f"回复：{answering.subject}"
    msg["Date"] = format_datetime(when)
    message_id = f"<{code.lower()}.{when:%Y%m%d%H%M%S}.{random.randrange(10**9)}@{DOMAIN}>"
    msg["Message-ID"] = message_id
    assert answering.message_id
    msg["In-Reply-To"] = answering.message_id
    msg["References"] = answering.message_id
    msg.set_content(text)
    if workbook is not None:
        name = f"{NAMES[code]}{YEAR}年政府信息公开工作年度报告.xlsx"
        msg.add_attachment(workbook, maintype=XLSX[0], subtype=XLSX[1], filename=name)
    return msg.as_bytes(policy=SMTP), message_id


def template_of(invitation: Sent) -> bytes:
    books = invitation.parsed.workbooks
    assert len(books) == 1, invitation
    return books[0].content


# -- running the flows ------------------------------------------------------------------------


@dataclass
class Office:
    """One city office: its configuration and data directories, and the mail it sent."""

    config_dir: Path
    data_dir: Path
    outbox: Outbox
    folder: str  # the office mailbox: this dovecot folder
    states: dict[str, Any] = field(default_factory=dict)  # run label → final Prefect state

    @property
    def database(self) -> Path:
        return self.data_dir / "nianbao.db"

    @property
    def output_dir(self) -> Path:
        return self.data_dir / "out" / str(YEAR)

    def run(self, flow_name: str, when: datetime, label: str | None = None, **kwargs: Any) -> Any:
        """Run one flow in this process and label the mail it sent; returns its final state."""
        from flows.campaign import FLOWS

        assert self.outbox.pending() == 0, "mail arrived that no run accounts for"
        state = FLOWS[flow_name](
            str(self.config_dir),
            when,
            data_dir=str(self.data_dir),
            return_state=True,
            **kwargs,
        )
        label = label or f"{when:%Y-%m-%d %H:%M} {flow_name}"
        self.outbox.take(label, when.astimezone(ZONE).date())
        self.states[label] = state
        return state


# -- the store -------------------------------------------------------------------------------

COUNTED = ("submissions", "submission_values", "submission_issues", "events", "messages")


def row_counts(database: Path) -> dict[str, int]:
    """Rows per table, read with a plain sqlite3 connection (as another process would)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}
    finally:
        conn.close()


def event_statuses(database: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT key, status FROM events").fetchall())
    finally:
        conn.close()
