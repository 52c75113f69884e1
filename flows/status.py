"""What the coordinator sees: the department table, the summary, what changed since last time.

Plain Python over the store (the flows publish these as Prefect artifacts; ``nianbao status``
prints them).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from annual_report.registry import Registry
from annual_report.store import STATE_LABELS, DepartmentState

ORDER = (
    "not_sent",
    "sent",
    "received",
    "rejected",
    "escalated",
    "accepted_with_warnings",
    "accepted",
)
CHASED = ("sent", "rejected", "escalated")


def _time(value: datetime | None, zone: Any) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def table_rows(states: list[DepartmentState], zone: Any) -> list[dict[str, Any]]:
    """One row per department, Chinese column names (the Prefect table artifact)."""
    return [
        {
            "代码": s.code,
            "单位": s.name,
            "状态": s.label,
            "最近动作": s.last_action or "",
            "时间": _time(s.last_action_at, zone),
            "截止日期": s.due.isoformat() if s.due else "",
            "版本": s.version or "",
            "退回次数": s.rejections,
            "督办次数": s.escalations,
        }
        for s in states
    ]


def snapshot(states: list[DepartmentState]) -> dict[str, str]:
    return {s.code: s.state for s in states}


def changes(previous: dict[str, str] | None, states: list[DepartmentState]) -> list[str]:
    """Chinese lines for every department whose state changed since ``previous``."""
    if previous is None:
        return []
    lines = []
    for s in states:
        before = previous.get(s.code)
        if before != s.state:
            was = STATE_LABELS.get(before, "（新增）") if before else "（新增）"
            lines.append(f"{s.name}：{was} → {s.label}")
    return lines


def summary_markdown(
    *,
    title: str,
    states: list[DepartmentState],
    registry: Registry,
    as_of: datetime,
    zone: Any,
    deadline: date,
    previous: dict[str, str] | None,
    extra: list[str] | None = None,
) -> str:
    """The run summary: counts, changes since the last run, whom to call, notes."""
    counts = Counter(s.state for s in states)
    total = len(states)
    done = counts["accepted"] + counts["accepted_with_warnings"]
    today = as_of.astimezone(zone).date()
    lines = [
        f"# {title}",
        "",
        f"截至 {as_of.astimezone(zone):%Y-%m-%d %H:%M}，应报 {total} 个单位，"
        f"已接收 {done} 个（{done * 100 // max(total, 1)}%），截止日期 {deadline.isoformat()}"
        + ("（已过）" if today > deadline else "")
        + "。",
        "",
        "| 状态 | 单位数 |",
        "|---|---|",
    ]
    lines += [f"| {STATE_LABELS[k]} | {counts[k]} |" for k in ORDER if counts[k]]
    changed = changes(previous, states)
    lines += ["", "## 本次变化", ""]
    lines += [f"- {line}" for line in changed] if changed else ["- 无变化"]
    to_call = [s for s in states if s.state in CHASED and s.due and today >= s.due]
    lines += ["", "## 需要电话督促", ""]
    if not to_call:
        lines.append("- 暂无")
    for s in to_call:
        dept = registry.get(s.code)
        contact = dept.contact if dept else None
        who = f"{contact.name} {contact.phone or ''}".strip() if contact else "（未登记联系人）"
        lines.append(f"- {s.name}（{s.label}，截止 {s.due}）：{who}")
    if extra:
        lines += ["", "## 需要注意", ""] + [f"- {line}" for line in extra]
    return "\n".join(lines) + "\n"


def progress(states: list[DepartmentState]) -> float:
    """Share of departments accepted, in percent."""
    if not states:
        return 0.0
    done = sum(s.state in ("accepted", "accepted_with_warnings") for s in states)
    return round(done * 100 / len(states), 1)
