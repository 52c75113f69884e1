"""The campaign a run works on: opened from the plan, the moment the run stands for, and
where each department stands (the store's record, before any mail problem is added)."""

from __future__ import annotations

from datetime import datetime

from annual_report.campaign import states
from annual_report.campaign.states import DepartmentState
from annual_report.store.records import Campaign
from office.runtime import Runtime


def open_campaign(rt: Runtime) -> Campaign:
    """Create the campaign from the plan (idempotent) and snapshot the registry into it."""
    plan, registry = rt.config.plan, rt.config.registry
    return rt.store.create_campaign(
        plan.id, plan.report_year, deadline=plan.deadline, city=registry.city, registry=registry
    )


def moment(rt: Runtime, as_of: datetime | None) -> datetime:
    """The moment a run stands for: ``as_of`` (a replay; naive means the campaign's zone), or
    now."""
    zone = rt.config.plan.zone
    if as_of is None:
        return datetime.now(zone)
    return as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=zone)


def out_of_season(rt: Runtime, now: datetime) -> str | None:
    """Why nothing is done at ``now`` (in Chinese), or None when ``now`` is in the campaign.

    The cron schedules carry no year, so they wake again next January; until campaign.yaml
    describes the new campaign those runs must not mail anyone about the old one.
    """
    plan = rt.config.plan
    if plan.in_season(now):
        return None
    return (
        f"{now:%Y-%m-%d %H:%M} 不在{plan.id}年度收集期内（{plan.start} 至 {plan.last_day}），"
        "未做任何操作。新一年的收集请更新 config/campaign.yaml；如需继续处理本期，"
        "请推后其中的 closes_on。"
    )


def department_states(rt: Runtime, as_of: datetime | None = None) -> list[DepartmentState]:
    """Every department's state from the store; with ``as_of``, the days overdue at it."""
    plan = rt.config.plan
    codes = list(rt.store.registry(rt.campaign_id).codes)
    return states.department_states(
        rt.store,
        rt.campaign_id,
        due=plan.deadlines(codes),
        zone=plan.zone,
        today=as_of.astimezone(plan.zone).date() if as_of else None,
    )
