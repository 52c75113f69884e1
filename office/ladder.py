"""Reminders before and on the deadline, then escalation to the leader (or the coordinator),
as the plan's ladder says (``annual_report.campaign.plan.due_steps``)."""

from __future__ import annotations

from datetime import date, datetime

from annual_report.campaign.kinds import STATE_LABELS, MailKind
from annual_report.campaign.lateness import days_late
from annual_report.campaign.plan import Step, due_steps
from annual_report.campaign.states import DepartmentState
from office.campaign import department_states
from office.compose import compose
from office.delivery import Outbound, owed
from office.runtime import Runtime


def due_ladder(rt: Runtime, as_of: datetime) -> list[Outbound]:
    """Reminders and escalations due at ``as_of`` that were not sent yet."""
    out = []
    for state in department_states(rt):
        for step in due_steps(rt.config.plan, state.code, state.state, state.rejections, as_of):
            if owed(rt, step.key):
                out.append(ladder_mail(rt, state, step, as_of))
    return out


def ladder_mail(rt: Runtime, state: DepartmentState, step: Step, as_of: datetime) -> Outbound:
    department = rt.config.registry[state.code]
    plan = rt.config.plan
    deadline = plan.deadline_for(state.code)
    today = as_of.astimezone(plan.zone).date()
    if step.kind == "reminder":
        stage = "deadline" if step.name == "deadline" else "before"
        mail = compose(
            rt,
            MailKind.REMINDER,
            to=[department.email],
            department=department,
            as_of=as_of,
            deadline=deadline,
            stage=stage,
            days_left=(deadline - today).days,
        )
    else:
        coordinator = rt.config.mail.coordinator
        leader = department.leader_email
        mail = compose(
            rt,
            MailKind.ESCALATION,
            to=[leader] if leader else [coordinator],
            cc=[coordinator, department.email] if leader else [department.email],
            department=department,
            as_of=as_of,
            deadline=deadline,
            reason="rejections" if step.name.startswith("rejections") else "overdue",
            days_overdue=days_late(today, deadline),
            rejections=state.rejections,
            progress=progress_zh(rt, state, as_of),
            state_label=STATE_LABELS[state.state],  # for cities' older escalation templates
        )
    return Outbound(step.key, step.event_kind, state.code, mail)


def _month_day(value: datetime | date) -> str:
    return f"{value.month}月{value.day}日"


def progress_zh(rt: Runtime, state: DepartmentState, as_of: datetime) -> str:
    """What the unit has and has not done, in words a leader reads right (never 已发送, which
    reads as "the unit has sent its report")."""
    zone = rt.config.plan.zone
    today = _month_day(as_of.astimezone(zone))
    parts = []
    if state.invited_at:
        parts.append(f"已于{_month_day(state.invited_at.astimezone(zone))}下发填报模板")
    if state.versions == 0:
        parts.append(f"截至{today}尚未报送")
    elif state.state in ("accepted", "accepted_with_warnings"):
        parts.append("已报送并通过核对")
    elif state.state == "received" or (state.rejections < state.versions):
        parts.append(f"已报送{state.versions}次，最新一次正在核对")
    else:
        parts.append(f"已报送{state.versions}次，报送被退回{state.rejections}次")
        parts.append(f"截至{today}尚无核对通过的报告")
    return "，".join(parts)
