"""Simulated departments for the demo: clerks who read their mail and reply, or don't.

Each clerk has a persona (on time, late, silent, sloppy then corrected, warnings answered with a
说明, a wrong file first, a forgotten attachment first, a WPS re-save that loses the names, a
workbook sent as a new mail from a personal mailbox, which the coordinator must assign). A
clerk reads the invitation from its own Maildir, fills in the very template it received and
replies over SMTP to the office, threaded on the mail it answers, the way a mail client does.
"""

from __future__ import annotations

import random
import smtplib
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import openpyxl

from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, fill_template, sample_narrative
from connectors.attachments import ParsedMessage, parse_message
from demo.postoffice import PostOffice

XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
# Personas of the units, by code; the rest are prompt.
CAST = {
    "GAJ": "late",
    "SJJ": "late",
    "XFJ": "silent",
    "Z-NL": "silent",
    "JYJ": "sloppy",
    "ZJJ": "sloppy",
    "CZJ": "warnings",
    "WJW": "warnings",
    "SLJ": "wrong_file",
    "TJJ": "no_attachment",
    "JD-DH": "wps",
    "KJJ": "personal_mailbox",
}


@dataclass
class Clerk:
    code: str
    name: str
    address: str
    persona: str
    office: str
    rng: random.Random
    personal_address: str | None = None  # persona personal_mailbox: the clerk's own QQ mail
    reply_on: date | None = None  # when to send the (next) workbook
    seen: int = 0  # messages of the inbox already read
    template: bytes | None = None
    invitation: ParsedMessage | None = None
    attempts: int = 0
    done: bool = False
    log: list[str] = field(default_factory=list)

    def read(self, office: PostOffice) -> list[ParsedMessage]:
        raw = office.inbox(self.address)
        new = [parse_message(r) for r in raw[self.seen :]]
        self.seen = len(raw)
        return new


class Clerks:
    """All simulated departments of the demo city."""

    def __init__(
        self,
        office: PostOffice,
        units: list[tuple[str, str, str]],
        *,
        year: int,
        office_address: str,
        deadline: date,
        seed: int = 2022,
    ) -> None:
        from demo.city import address

        self.office = office
        self.year = year
        self.deadline = deadline
        self.form = form_for_year(year)
        self.rng = random.Random(seed)
        self.clerks = [
            Clerk(
                code,
                name,
                address(code),
                CAST.get(code, "prompt"),
                office_address,
                random.Random(f"{seed}-{code}"),
            )
            for code, name, _kind in units
        ]
        for clerk in self.clerks:
            if clerk.persona == "personal_mailbox":
                clerk.personal_address = f"{clerk.rng.randint(10**8, 10**10 - 1)}@qq.example"

    def by_address(self, address: str) -> Clerk | None:
        """The clerk who writes from ``address`` (registered or personal)."""
        address = address.lower()
        return next((c for c in self.clerks if address in (c.address, c.personal_address)), None)

    def act(self, day: date, at: datetime) -> list[str]:
        """Every clerk reads its mail and does what its persona does on ``day``."""
        actions = []
        for clerk in self.clerks:
            for message in clerk.read(self.office):
                actions.extend(self._on_mail(clerk, message, day))
            if clerk.reply_on is not None and day >= clerk.reply_on and not clerk.done:
                actions.append(self._reply(clerk, at))
        return actions

    # -- reacting to mail --------------------------------------------------------------------

    def _on_mail(self, clerk: Clerk, message: ParsedMessage, day: date) -> list[str]:
        kind = message.header("X-Nianbao-Kind")
        if kind == "invitation" and message.workbooks:
            clerk.template = message.workbooks[0].content
            clerk.invitation = message
            clerk.reply_on = self._first_reply_day(clerk, day)
            return []
        if kind == "rejected" or kind in ("unreadable", "no_workbook"):
            clerk.done = False
            clerk.reply_on = day + timedelta(days=1)  # fixes it the next day
            return [f"{clerk.name} 收到退回通知，准备修改"]
        if kind == "accepted_with_warnings" and clerk.persona == "warnings":
            self._send(
                clerk,
                subject=f"回复：{message.subject}",
                text="关于核对提示的说明：我单位第四部分行政复议、行政诉讼确实均为0件，"
                "表中相应单元格为空即表示没有发生，特此说明。",
                in_reply_to=message.message_id,
                at=None,
            )
            return [f"{clerk.name} 回复了说明"]
        return []

    def _first_reply_day(self, clerk: Clerk, day: date) -> date | None:
        if clerk.persona == "silent":
            return None
        if clerk.persona == "late":
            return self.deadline + timedelta(days=3)
        return day + timedelta(days=clerk.rng.randint(1, 10))

    # -- replying ----------------------------------------------------------------------------

    def _values(
        self, clerk: Clerk, first: bool
    ) -> tuple[dict[str, Decimal | None], dict[str, str]]:
        rng = random.Random(f"values-{clerk.code}")
        values: dict[str, Decimal | None] = dict(consistent_values(self.form, rng))
        narrative = sample_narrative(self.year, values, rng)  # type: ignore[arg-type]
        if clerk.persona == "sloppy" and first:
            values["requests.new_received.natural_person"] = (
                values["requests.new_received.natural_person"] or Decimal(0)
            ) + 3
        if clerk.persona == "warnings":
            for code in self.form.cells:
                if code.startswith(("review.", "litigation_")):
                    values[code] = None  # left blank: counted as 0, with a warning
        return values, narrative

    def _reply(self, clerk: Clerk, at: datetime) -> str:
        assert clerk.invitation is not None and clerk.template is not None
        first = clerk.attempts == 0
        clerk.attempts += 1
        clerk.done = True
        subject = f"回复：{clerk.invitation.subject}"
        if clerk.persona == "no_attachment" and first:
            self._send(
                clerk,
                subject=subject,
                text="报告已填好，请查收。",
                at=at,
                in_reply_to=clerk.invitation.message_id,
            )
            return f"{clerk.name} 回复了邮件，但忘了附件"
        if clerk.persona == "wrong_file" and first:
            self._send(
                clerk,
                subject=subject,
                text="请查收年度报告。",
                at=at,
                in_reply_to=clerk.invitation.message_id,
                attachment=(
                    "年度报告.docx",
                    b"PK\x03\x04 word document",
                    ("application", "msword"),
                ),
            )
            return f"{clerk.name} 误发了 Word 文件"
        values, narrative = self._values(clerk, first)
        personal = clerk.persona == "personal_mailbox" and first
        with tempfile.TemporaryDirectory() as tmp:
            template = Path(tmp) / "template.xlsx"
            template.write_bytes(clerk.template)
            filled = fill_template(template, Path(tmp) / "filled.xlsx", values, narrative)
            if clerk.persona == "wps":
                filled = _resave_without_names(filled)
            data = filled.read_bytes()
        name = f"{clerk.name}{self.year}年政府信息公开工作年度报告.xlsx"
        if personal:  # a new mail from home: no thread, no tag, an address nobody registered
            self._send(
                clerk,
                subject="年报",
                text="您好，这是我们单位的年度报告表格，办公室邮箱登不上，先用个人邮箱发给您。",
                at=at,
                in_reply_to=None,
                attachment=(name, data, XLSX),
                sender=clerk.personal_address,
            )
            return f"{clerk.name} 的经办人用个人邮箱发来表格（新邮件，不在原邮件往来中）"
        self._send(
            clerk,
            subject=subject,
            text="您好，我单位年度报告见附件，请审核。",
            at=at,
            in_reply_to=clerk.invitation.message_id,
            attachment=(name, data, XLSX),
        )
        return f"{clerk.name} 报送了表格（第{clerk.attempts}次）"

    def _send(
        self,
        clerk: Clerk,
        *,
        subject: str,
        text: str,
        at: datetime | None,
        in_reply_to: str | None,
        attachment: tuple[str, bytes, tuple[str, str]] | None = None,
        sender: str | None = None,
    ) -> None:
        msg = EmailMessage()
        # from a personal mailbox the name is the clerk's own nickname, not the unit's
        msg["From"] = f"李明 <{sender}>" if sender else f"{clerk.name} <{clerk.address}>"
        msg["To"] = clerk.office
        msg["Subject"] = subject
        if at is not None:
            msg["Date"] = format_datetime(at)
        if in_reply_to:
            msg["In-Reply-To"] = in_reply_to
            msg["References"] = in_reply_to
        msg.set_content(text)
        if attachment:
            name, data, (maintype, subtype) = attachment
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        with smtplib.SMTP("127.0.0.1", self.office.port, timeout=10) as smtp:
            smtp.send_message(msg)


def _resave_without_names(path: Path) -> Path:
    """What a WPS or old-Excel re-save can do: the defined names are gone."""
    workbook = openpyxl.load_workbook(path)
    for name in list(workbook.defined_names):
        del workbook.defined_names[name]
    workbook.save(path)
    return path
