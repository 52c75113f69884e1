"""A mail of a kind, rendered from the campaign's texts, ready for ``delivery.deliver``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from email.utils import parseaddr
from types import SimpleNamespace

from annual_report.campaign.kinds import MailKind
from annual_report.campaign.registry import Department
from connectors.outgoing import OutgoingAttachment, OutgoingMail, new_message_id
from office.runtime import Runtime

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"

# The greeting of a mail to a sender that is no unit (a clerk's own mailbox).
NOT_A_UNIT = SimpleNamespace(name="您好", code=None)


def compose(
    rt: Runtime,
    kind: MailKind,
    *,
    to: Iterable[str],
    department: Department | SimpleNamespace | None,
    as_of: datetime,
    cc: Iterable[str] = (),
    in_reply_to: str | None = None,
    attachments: Sequence[tuple[str, bytes, str]] = (),
    **context: object,
) -> OutgoingMail:
    """The mail of ``kind`` to ``to`` about ``department`` (None: the office's own), its
    Message-ID naming the campaign, the department and the kind."""
    plan = rt.config.plan
    rendered = rt.texts.render(
        kind,
        campaign=plan.id,
        department=department or {"name": "", "code": None},
        year=plan.report_year,
        today=as_of.astimezone(plan.zone).date(),
        **context,
    )
    code = department.code if department else None
    hint = f"{plan.id}.{code or 'office'}.{kind}"
    return OutgoingMail(
        to=tuple(to),
        cc=tuple(cc),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        attachments=tuple(OutgoingAttachment(*a) for a in attachments),
        message_id=new_message_id(rt.config.mail.smtp.sender_domain, hint),
        in_reply_to=in_reply_to,
        references=(in_reply_to,) if in_reply_to else (),
        campaign=plan.id,
        department=code,
        kind=str(kind),
    )


def department_of(rt: Runtime, code: str | None) -> Department | None:
    """The campaign's department ``code`` (as registered when the campaign opened)."""
    return rt.store.registry(rt.campaign_id).get(code) if code else None


def registered(rt: Runtime, address: str | None) -> str | None:
    """The code of the department whose registered mailbox ``address`` is."""
    dept = rt.store.registry(rt.campaign_id).by_email(address) if address else None
    return dept.code if dept else None


def same_address(a: str, b: str) -> bool:
    return parseaddr(a)[1].strip().lower() == parseaddr(b)[1].strip().lower()
