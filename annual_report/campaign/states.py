"""Where each department stands: its state, last action, lateness, as the coordinator reads it.

A state is derived, never stored: :func:`derive_states` is a pure function of the campaign, its
departments, their submissions and the steps taken (events), so the department table, ``nianbao
status``, the ladder of reminders and escalations and the history's units frame all read the
same answer from the same records. :func:`department_states` reads those records from a store.

The order of precedence, most decisive first: an accepted version (已接收, with or without
warnings), an escalation not yet answered by one (已督办), a rejected or unreadable latest version
(已退回), any received version (已收到), an invitation sent (已发送), else 未发送. What an event
kind does is declared once in :mod:`annual_report.campaign.kinds`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

from annual_report.campaign.kinds import MAIL_PROBLEMS, STATE_LABELS, Effect, effect_of
from annual_report.campaign.lateness import days_late, late_label, overdue_label
from annual_report.campaign.registry import Department
from annual_report.store.records import ACCEPTED, REJECTED, Campaign, Event, Step, Submission

if TYPE_CHECKING:
    from annual_report.store.base import Store

__all__ = ["STATE_LABELS", "DepartmentState", "department_states", "derive_states"]


@dataclass(frozen=True)
class DepartmentState:
    code: str
    name: str
    kind: str
    state: str  # a key of STATE_LABELS
    last_action: str | None  # "sent.invitation", "submission v2 rejected", …
    last_action_at: datetime | None
    due: date | None
    submission_id: int | None  # the latest version
    version: int | None
    rejections: int
    escalations: int
    late_days: int = 0  # the accepted report came in this many days after ``due``
    overdue_days: int = 0  # not accepted, this many days after ``due`` (at ``today``)
    invited_at: datetime | None = None  # when the template went out
    versions: int = 0  # files received from it
    mail_problems: tuple[str, ...] = ()  # keys of MAIL_PROBLEMS for its mail (set by the flows)

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def detail(self) -> str:
        """What the state alone does not say: 逾期报送（3天）, 已逾期5天, mail that did not go."""
        parts = [late_label(self.late_days), overdue_label(self.overdue_days)]
        parts += [f"邮件{MAIL_PROBLEMS[p]}" for p in self.mail_problems if p in MAIL_PROBLEMS]
        return "，".join(p for p in parts if p)


def _state_of(latest: Submission | None, escalations: int, invited: bool) -> str:
    if latest and latest.status in ACCEPTED:
        return latest.status
    if escalations:
        return "escalated"
    if latest and latest.status in REJECTED:
        return "rejected"
    if latest:
        return "received"
    return "sent" if invited else "not_sent"


def _state(
    dept: Department,
    versions: Sequence[Submission],
    events: Sequence[Event | Step],
    deadline: date | None,
    zone: tzinfo | None,
    today: date | None,
) -> DepartmentState:
    done = [e for e in events if e.status == "done"]
    effects = [(e, effect_of(e.kind)) for e in done]
    escalations = sum(1 for _, effect in effects if effect is Effect.ESCALATES)
    invitations = [e for e, effect in effects if effect is Effect.INVITES]
    latest = versions[-1] if versions else None
    state = _state_of(latest, escalations, bool(invitations))
    late = overdue = 0
    if deadline is not None and state in ACCEPTED:
        # the first version that counted: a later correction does not make it late
        first = next(v for v in versions if v.status in (*ACCEPTED, "superseded"))
        late = days_late(first.received_at, deadline, zone)
    elif deadline is not None and today is not None and state != "not_sent":
        overdue = days_late(today, deadline)
    actions: list[tuple[datetime, str]] = [(e.done_at or e.created_at, e.kind) for e in done]
    for v in versions:
        actions.append((v.received_at, f"submission v{v.version} received"))
        if v.decided_at:
            actions.append((v.decided_at, f"submission v{v.version} {v.status}"))
    last = max(actions) if actions else None
    invited = invitations[0] if invitations else None
    return DepartmentState(
        code=dept.code,
        name=dept.name,
        kind=dept.kind,
        state=state,
        last_action=last[1] if last else None,
        last_action_at=last[0] if last else None,
        due=deadline,
        submission_id=latest.id if latest else None,
        version=latest.version if latest else None,
        rejections=sum(1 for v in versions if v.status in REJECTED),
        escalations=escalations,
        late_days=late,
        overdue_days=overdue,
        invited_at=(invited.done_at or invited.created_at) if invited else None,
        versions=len(versions),
    )


def derive_states(
    campaign: Campaign,
    departments: Iterable[Department],
    submissions: Iterable[Submission],
    events: Iterable[Event | Step],
    *,
    due: Mapping[str, date] | None = None,
    zone: tzinfo | None = None,
    today: date | None = None,
) -> list[DepartmentState]:
    """One state per department, in the order given.

    ``events`` in the order they were begun; ``due`` overrides the campaign deadline per
    department (e.g. townships); ``zone`` is the campaign's time zone (lateness is counted in
    its days); ``today`` (a date in that zone) counts the days a department not yet accepted is
    overdue.
    """
    versions: dict[str, list[Submission]] = {}
    for sub in submissions:
        if sub.department is not None:
            versions.setdefault(sub.department, []).append(sub)
    for subs in versions.values():
        subs.sort(key=lambda s: s.version or 0)
    steps: dict[str, list[Event | Step]] = {}
    for event in events:
        if event.department is not None:
            steps.setdefault(event.department, []).append(event)
    return [
        _state(
            dept,
            versions.get(dept.code, []),
            steps.get(dept.code, []),
            (due or {}).get(dept.code, campaign.deadline),
            zone,
            today,
        )
        for dept in departments
    ]


def department_states(
    store: Store,
    campaign_id: str,
    *,
    due: Mapping[str, date] | None = None,
    zone: tzinfo | None = None,
    today: date | None = None,
) -> list[DepartmentState]:
    """The state of each active department of the campaign (see :func:`derive_states`)."""
    return derive_states(
        store.campaign(campaign_id),
        store.registry(campaign_id),
        store.submissions(campaign_id),
        store.steps(campaign_id),
        due=due,
        zone=zone,
        today=today,
    )
