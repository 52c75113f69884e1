"""What the coordinator sees: the department table, the summary, what changed since last time.

Plain Python over the store (the flows publish these as Prefect artifacts; ``nianbao status``
prints them).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime
from typing import Any

from annual_report.registry import Registry
from annual_report.store import STATE_LABELS, DepartmentState, Submission

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
    return value.astimezone(zone).strftime("%m-%d %H:%M") if value else ""


# Event kinds and submission steps as the coordinator reads them.
ACTION_LABELS = {
    "sent.invitation": "已发送模板",
    "answer.accepted": "已回复：接收",
    "answer.accepted_with_warnings": "已回复：请核实警告",
    "answer.rejected": "已回复：退回修改",
    "answer.unreadable": "已回复：附件无法读取",
    "answer.no_workbook": "已回复：未附表格",
    "answer.several_workbooks": "已回复：多个表格",
    "reminder.before": "已提醒（截止前）",
    "reminder.deadline": "已提醒（截止日）",
    "escalation.overdue": "已督办（逾期）",
    "escalation.rejections": "已督办（多次退回）",
    "notice.quarantine": "已通知协调人（待确认）",
}
_SUBMISSION = re.compile(r"^submission v(\d+) (\w+)$")


def action_label(action: str | None) -> str:
    """``answer.rejected`` → ``已回复：退回修改``; ``submission v2 received`` → ``收到第2版``."""
    if not action:
        return ""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    match = _SUBMISSION.match(action)
    if match:
        version, what = match.groups()
        if what == "received":
            return f"收到第{version}版"
        return f"第{version}版：{STATE_LABELS.get(what, what)}"
    return action


URGENCY = (
    "escalated",
    "rejected",
    "sent",
    "not_sent",
    "received",
    "accepted_with_warnings",
    "accepted",
)


def by_urgency(states: list[DepartmentState]) -> list[DepartmentState]:
    """Who needs attention first; registry order within each state."""
    rank = {state: i for i, state in enumerate(URGENCY)}
    return sorted(states, key=lambda s: rank.get(s.state, len(rank)))


def table_rows(states: list[DepartmentState], zone: Any) -> list[dict[str, Any]]:
    """One row per department, most urgent first, Chinese column names (the table artifact)."""
    return [
        {
            "单位": s.name,
            "状态": s.label,
            "最近动作": action_label(s.last_action),
            "时间": _time(s.last_action_at, zone),
            "截止": s.due.strftime("%m-%d") if s.due else "",
            "版本": s.version or "",
            "退回/督办": f"{s.rejections}/{s.escalations}",
            "代码": s.code,
        }
        for s in by_urgency(states)
    ]


def snapshot(states: list[DepartmentState]) -> dict[str, str]:
    return {s.code: s.state for s in states}


def remember(
    history: dict[str, Any] | None, states: list[DepartmentState], as_of: datetime, zone: Any
) -> dict[str, Any]:
    """The last two *different* snapshots, so the summary shows the most recent change even
    when several runs in a row change nothing."""
    now = snapshot(states)
    history = history or {
        "current": None,
        "current_at": None,
        "previous": None,
        "previous_at": None,
    }
    if history["current"] == now:
        return history
    return {
        "current": now,
        "current_at": f"{as_of.astimezone(zone):%m-%d %H:%M}",
        "previous": history["current"],
        "previous_at": history["current_at"],
    }


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
    previous_at: str | None = None,
    extra: list[str] | None = None,
    unassigned: list[Submission] | None = None,
    campaign: str | None = None,
) -> str:
    """The run summary: counts, changes since the last run, whom to call, files waiting for
    the coordinator (until assigned, whichever run received them), notes."""
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
    since = f"（与 {previous_at} 相比）" if previous_at else ""
    lines += ["", f"## 最近变化{since}", ""]
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
    if unassigned:
        lines += ["", "## 待确认的文件", ""]
        lines += [
            f"来源无法确认的文件不会计入任何单位。核实后运行 `assign-{campaign}` 部署"
            "（Run → Custom run，填写编号和单位代码）指定所属单位。",
            "",
            "| 编号 | 收到时间 | 发件人 | 文件 | 原因 | 可能的单位 |",
            "|---|---|---|---|---|---|",
        ]
        for sub in unassigned:
            suggested = registry.get(sub.suggested_department)
            cells = [
                str(sub.id),
                _time(sub.received_at, zone),
                sub.sender or "（投递目录）",
                sub.file_name or "",
                sub.match_reason_zh or sub.failure_reason_zh or "无法确定报送单位",
                f"{suggested.name}（{suggested.code}）" if suggested else "",
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if extra:
        lines += ["", "## 需要注意", ""] + [f"- {line}" for line in extra]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text from a mail inside a markdown table cell: no pipes, no line breaks."""
    return re.sub(r"\s+", " ", text.replace("|", "｜")).strip()


def progress(states: list[DepartmentState]) -> float:
    """Share of departments accepted, in percent."""
    if not states:
        return 0.0
    done = sum(s.state in ("accepted", "accepted_with_warnings") for s in states)
    return round(done * 100 / len(states), 1)
