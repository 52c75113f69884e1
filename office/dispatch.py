"""Sending each department its personalised template, once."""

from __future__ import annotations

from datetime import datetime

from annual_report.campaign.kinds import MailKind
from annual_report.campaign.templates import write_department_template
from connectors.mailtext import report_filename
from office.campaign import department_states
from office.compose import XLSX, compose
from office.delivery import Outbound, done_count, mail_state
from office.runtime import Runtime


def invitation(rt: Runtime, code: str, as_of: datetime, *, force: bool = False) -> Outbound | None:
    """Department ``code``'s personalised template and the mail carrying it (None: sent)."""
    key = invitation_key(code)
    if mail_state(rt, key, force=force) != "send":
        return None
    department = rt.config.registry[code]
    year = rt.config.plan.report_year
    path = rt.config.output_dir / "templates" / f"{code}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_department_template(rt.store, rt.config.registry, rt.campaign_id, code, path)
    name = report_filename(department.name, year)
    mail = compose(
        rt,
        MailKind.INVITATION,
        to=[department.email],
        department=department,
        as_of=as_of,
        deadline=rt.config.plan.deadline_for(code),
        attachment_name=name,
        attachments=[(name, path.read_bytes(), XLSX)],
    )
    return Outbound(key, "sent.invitation", code, mail)


def invitation_key(code: str) -> str:
    return f"invitation:{code}"


def invited(rt: Runtime) -> int:
    """How many departments were sent their template."""
    return done_count(rt, (invitation_key(code) for code in rt.config.registry.codes))


def anyone_to_invite(rt: Runtime) -> bool:
    """Whether a department has not been sent its template yet."""
    return any(s.state == "not_sent" for s in department_states(rt))
