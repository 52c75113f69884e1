"""Sending each department its personalised template, once.

A run's departments go in a few batches (:func:`batches`, a Prefect task each: the run's
history does not grow with the city), and a batch in chunks of :data:`CHUNK` invitations
prepared and sent over one connection (memory holds one chunk's mails, not the city's).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from annual_report.campaign.kinds import MailKind
from connectors.mailtext import report_filename
from office.campaign import department_states
from office.compose import XLSX, compose
from office.delivery import Delivery, Outbound, deliver, done_count, mail_state
from office.runtime import Runtime


def invitation(rt: Runtime, code: str, as_of: datetime, *, force: bool = False) -> Outbound | None:
    """Department ``code``'s personalised template and the mail carrying it (None: sent)."""
    # openpyxl when there is a template to write: every run's process imports this module
    from annual_report.campaign.templates import write_department_template

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


MOST_BATCHES = 10  # a dispatch is at most this many tasks, whatever the number of units
LEAST_BATCH = 100  # a small city is one batch
CHUNK = 50  # invitations prepared, then sent over one connection


def batches(codes: Sequence[str]) -> list[list[str]]:
    """``codes`` in order, in at most :data:`MOST_BATCHES` batches of even size, each of
    :data:`LEAST_BATCH` or more when there are that many."""
    if not codes:
        return []
    count = min(MOST_BATCHES, max(1, len(codes) // LEAST_BATCH))
    ends = [len(codes) * (i + 1) // count for i in range(count)]
    return [list(codes[start:end]) for start, end in zip([0, *ends], ends, strict=False)]


def invite(
    rt: Runtime,
    codes: Sequence[str],
    as_of: datetime,
    *,
    force: bool = False,
    down: Delivery | None = None,
) -> Delivery:
    """Send departments ``codes`` their templates (those not sent yet; ``force``: again).

    After an outage (here or in ``down``, an earlier batch of the run) the rest are recorded
    as failed without trying; the next run sends them.
    """
    done = Delivery()
    for start in range(0, len(codes), CHUNK):
        items = [
            item
            for code in codes[start : start + CHUNK]
            if (item := invitation(rt, code, as_of, force=force)) is not None
        ]
        done.merge(deliver(rt, items, force=force, down=done if done.outage else down))
    return done


def invitation_key(code: str) -> str:
    return f"invitation:{code}"


def invited(rt: Runtime) -> int:
    """How many departments were sent their template."""
    return done_count(rt, (invitation_key(code) for code in rt.config.registry.codes))


def anyone_to_invite(rt: Runtime) -> bool:
    """Whether a department has not been sent its template yet."""
    return any(s.state == "not_sent" for s in department_states(rt))
