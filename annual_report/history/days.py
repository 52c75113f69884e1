"""The campaign day by day in plain Python: at the end of each day, how many active departments
had an accepted report, a rejected one, one waiting for review, or nothing.

Every collect round asks for it (the coordinator's progress chart is drawn again only when the
days changed), so it works without pandas and in time proportional to the departments and their
versions, not to days × departments: a department's state at the end of a day can only change
on a day one of its versions arrived or was decided. :func:`annual_report.history.frames.
progress_by_day` gives the same days as a DataFrame.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from annual_report.store.records import ACCEPTED, Submission

if TYPE_CHECKING:
    from annual_report.store.base import Store

DEFAULT_ZONE = "Asia/Shanghai"
PROGRESS_STATES: tuple[str, ...] = ("accepted", "rejected", "pending", "missing")
PROGRESS_LABELS: dict[str, str] = {
    "accepted": "已接收",
    "rejected": "已退回",
    "pending": "待审核",
    "missing": "未报送",
}


def progress_days(
    store: Store,
    campaign_id: str,
    *,
    zone: ZoneInfo | str | None = None,
    as_of: datetime | None = None,
    start: date | None = None,
) -> list[dict[str, Any]]:
    """One row a day (``day``, ``accepted``, ``rejected``, ``pending``, ``missing``,
    ``total``), in the campaign's zone from the first invitation (or ``start``) to ``as_of``
    (default: the last thing that happened).

    Reconstructed from the submissions (when each version arrived, what became of it, when the
    coordinator decided) and the events (the first invitation starts the curve)."""
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone or DEFAULT_ZONE)
    departments = list(store.registry(campaign_id).codes)  # the active ones, kept per snapshot
    active = set(departments)
    subs = [s for s in store.submissions(campaign_id) if s.department in active]

    events = store.steps(campaign_id)  # without their details: tens of thousands of them

    def moments() -> list[datetime]:  # when anything happened
        done = [e.done_at or e.created_at for e in events if e.status == "done"]
        return [s.received_at for s in subs] + done

    if start is None:
        invitations = [e.done_at or e.created_at for e in events if e.kind == "sent.invitation"]
        first = min(invitations or moments() or [store.campaign(campaign_id).created_at])
        start = first.astimezone(tz).date()
    end = (as_of or max(moments(), default=None) or datetime.now(tz)).astimezone(tz).date()
    if end < start:
        end = start
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    # the end of each day: what arrived before it counts for the day
    midnight = datetime.min.time()
    cutoffs = [datetime.combine(d + timedelta(days=1), midnight, tzinfo=tz) for d in days]
    by_dept: dict[str, list[Submission]] = {}
    for s in sorted(subs, key=lambda s: (s.received_at, s.id)):
        by_dept.setdefault(s.department, []).append(s)  # type: ignore[arg-type]
    # per state, what changes from each day on (+1 / -1), summed up day by day below
    delta = {state: [0] * (len(days) + 1) for state in PROGRESS_STATES}
    delta["missing"][0] += sum(1 for code in departments if code not in by_dept)
    for code in departments:
        versions = by_dept.get(code)
        if not versions:
            continue
        changes = {0}  # the days from which the department's state may differ
        for v in versions:
            changes.add(bisect_right(cutoffs, v.received_at))
            if v.decided_at is not None:
                changes.add(bisect_right(cutoffs, v.decided_at))
        steps = sorted(i for i in changes if i < len(days))
        for i, until in zip(steps, [*steps[1:], len(days)], strict=True):
            state = _state_on(versions, cutoffs[i])
            delta[state][i] += 1
            delta[state][until] -= 1
    rows = []
    running = dict.fromkeys(PROGRESS_STATES, 0)
    for i, day in enumerate(days):
        for state in PROGRESS_STATES:
            running[state] += delta[state][i]
        rows.append({"day": day, **running, "total": len(departments)})
    return rows


def _state_on(versions: list[Submission], cutoff: datetime) -> str:
    """The department's state at ``cutoff``: its latest version received before it."""
    seen = [v for v in versions if v.received_at < cutoff]
    return state_at(seen[-1], cutoff) if seen else "missing"


def state_at(sub: Any, cutoff: datetime) -> str:
    """What the latest version received before ``cutoff`` was at that moment."""
    decided_later = sub.decided_at is not None and sub.decided_at >= cutoff
    if sub.status in ACCEPTED:
        return "accepted"
    if sub.status in ("rejected", "unreadable"):
        if decided_later and not sub.error_count:
            return "accepted"  # returned by the coordinator later: accepted (with warnings) then
        return "rejected"
    if sub.status == "superseded":  # only received/accepted versions are superseded
        return "accepted" if sub.error_count == 0 else "rejected"
    return "pending"


__all__ = ["PROGRESS_LABELS", "PROGRESS_STATES", "progress_days", "state_at"]
