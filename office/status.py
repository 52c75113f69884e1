"""What the coordinator sees: every department's state, the department table, the summary,
what changed since last time.

Plain Python over the store (the flows publish these as Prefect artifacts; ``nianbao status``
prints them).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Any

from annual_report.campaign.kinds import EVENT_KINDS, STATE_LABELS, event_label
from annual_report.campaign.registry import Registry
from annual_report.campaign.states import DepartmentState
from annual_report.errors import StoreError
from annual_report.store.records import Submission
from office.attention import Attention, attention
from office.campaign import department_states
from office.delivery import resend_command
from office.runtime import Runtime

SNAPSHOTS = "status-snapshots"  # the store's note of the last two different snapshots
PUBLISHED = "status-published"  # the digest of the view last published, and where

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


def states(rt: Runtime, as_of: datetime | None = None) -> list[DepartmentState]:
    """Every department's state; with ``as_of``, days overdue and its mail that did not go."""
    found = department_states(rt, as_of)
    if as_of is None:
        return found
    problems: dict[str, list[str]] = {}
    for item in attention(rt, found):
        if item.department and item.problem not in problems.get(item.department, []):
            problems.setdefault(item.department, []).append(item.problem)
    if not problems:  # the usual round: every state as found (no 5,000 copies)
        return found
    return [
        replace(s, mail_problems=tuple(problems[s.code])) if s.code in problems else s
        for s in found
    ]


@dataclass(frozen=True)
class Standing:
    """Where the campaign stands for ``nianbao status``: every department's state, the mail
    needing the coordinator with the exact ``resend`` commands (to send again, to record as
    delivered), and the files waiting to be assigned."""

    as_of: datetime
    states: list[DepartmentState]
    attention: list[Attention]
    commands: dict[str, tuple[str, str]]  # mail key → (resend, resend --delivered)
    unassigned: list[Submission]


def standing(rt: Runtime, now: datetime | None = None) -> Standing | None:
    """The campaign at ``now`` (default: now; a campaign that is over stands as it was on its
    last day); None when it has not been opened yet."""
    plan = rt.config.plan
    try:
        rt.store.campaign(plan.id)
    except StoreError:
        return None
    now = now or datetime.now(plan.zone)
    now = min(now, plan.at(plan.last_day, time(23, 59)))
    found = states(rt, now)
    items = attention(rt, found)
    commands = {
        i.key: (resend_command(rt, i.key), resend_command(rt, i.key, delivered=True)) for i in items
    }
    return Standing(now, found, items, commands, rt.store.unassigned(plan.id))


@dataclass(frozen=True)
class View:
    """The coordinator's view after a run: the states, the department table (one row per
    department, most urgent first), the summary (markdown) and the share accepted (%)."""

    states: list[DepartmentState]
    rows: list[dict[str, Any]]
    summary: str
    progress: float
    digest: str = ""  # of what it shows, but the moment it stands for (see ``view_digest``)


def coordinator_view(
    rt: Runtime,
    as_of: datetime,
    notes: Sequence[str] = (),
    items: Sequence[Attention] | None = None,
) -> View:
    """The view at ``as_of`` with this run's ``notes`` and the mail needing attention
    (``items``; found again when not given). Remembers the states, so the next view says what
    changed since this one."""
    plan = rt.config.plan
    found = states(rt, as_of)
    if items is None:
        items = attention(rt, found)
    before = rt.store.get_state(rt.campaign_id, SNAPSHOTS)
    history = remember(before, found, as_of, plan.zone)
    if history != before:  # an idle round writes nothing
        rt.store.set_state(rt.campaign_id, SNAPSHOTS, history)
    summary = summary_markdown(
        title=f"{rt.config.registry.city}{plan.report_year}年政府信息公开工作年度报告收集情况",
        states=found,
        registry=rt.config.registry,
        as_of=as_of,
        zone=plan.zone,
        deadline=plan.deadline,
        previous=history["previous"],
        previous_at=history["previous_at"],
        extra=list(notes),
        unassigned=rt.store.unassigned(rt.campaign_id),
        campaign=rt.campaign_id,
        attention=items,
        command=lambda key, delivered=False: resend_command(rt, key, delivered=delivered),
    )
    rows, share = table_rows(found, plan.zone), progress(found)
    return View(found, rows, summary, share, view_digest(rows, summary, share))


_AS_OF = re.compile(r"截至 \d{4}-\d{2}-\d{2} \d{2}:\d{2}，")


def view_digest(rows: list[dict[str, Any]], summary: str, share: float) -> str:
    """What the view shows, without the moment it stands for: the same digest means the
    artifacts already published say it all (days overdue and the deadline passing are in
    the rows and the summary, so a new day still publishes)."""
    body = _AS_OF.sub("截至 ", summary, count=1)
    text = json.dumps([rows, body, share], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def unpublished(rt: Runtime, view: View, server: str | None) -> bool:
    """Whether ``view`` differs from the one last published to ``server`` (the Prefect API's
    URL; None — a temporary server that keeps nothing — always publishes)."""
    if server is None:
        return True
    return rt.store.get_state(rt.campaign_id, PUBLISHED) != {
        "digest": view.digest,
        "server": server,
    }


def view_published(rt: Runtime, view: View, server: str | None) -> None:
    """Remember that ``view`` is on ``server``: the next round publishes only a change."""
    if server is not None:
        rt.store.set_state(rt.campaign_id, PUBLISHED, {"digest": view.digest, "server": server})


def _time(value: datetime | None, zone: Any) -> str:
    return value.astimezone(zone).strftime("%m-%d %H:%M") if value else ""


_SUBMISSION = re.compile(r"^submission v(\d+) (\w+)$")


def action_label(action: str | None) -> str:
    """``answer.rejected`` → ``已回复：退回修改`` (the labels of annual_report/campaign/kinds.py);
    ``submission v2 received`` → ``收到第2版``."""
    if not action:
        return ""
    if action in EVENT_KINDS:
        return event_label(action)
    match = _SUBMISSION.match(action)
    if match:
        version, what = match.groups()
        if what == "received":
            return f"收到第{version}版"
        return f"第{version}版：{STATE_LABELS.get(what, SUBMISSION_LABELS.get(what, what))}"
    return event_label(action)


SUBMISSION_LABELS = {
    "unreadable": "无法读取",
    "quarantined": "待确认",
    "superseded": "已被新版本替代",
}


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
            "说明": s.detail,
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
    attention: Sequence[Any] = (),
    command: Callable[..., str] | None = None,
) -> str:
    """The run summary: counts, changes since the last run, whom to call, files waiting for
    the coordinator (until assigned, whichever run received them), and under 需要注意 the mail
    that did not go (held back, refused, failed: until resolved, whichever run found it) and
    this run's notes. ``command(key, delivered=False)`` is the exact ``resend`` to run."""
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
    lines += ["", "## 需要电话督促", ""]
    lines += _to_call(states, registry, today) or ["- 暂无"]
    if unassigned:
        lines += ["", "## 待确认的文件", ""]
        lines += _unassigned(unassigned, registry, zone, campaign)
    if attention or extra:
        lines += ["", "## 需要注意", ""]
        lines += attention_markdown(attention, registry, zone, campaign, command)
        lines += [f"- {line}" for line in extra or ()]
    return "\n".join(lines) + "\n"


def _to_call(states: list[DepartmentState], registry: Registry, today: date) -> list[str]:
    """Departments chased and due: whom to phone, with the contact of the registry."""
    lines = []
    for s in states:
        if s.state not in CHASED or not s.due or today < s.due:
            continue
        dept = registry.get(s.code)
        contact = dept.contact if dept else None
        who = f"{contact.name} {contact.phone or ''}".strip() if contact else "（未登记联系人）"
        late = f"，{s.detail}" if s.detail else ""
        lines.append(f"- {s.name}（{s.label}，截止 {s.due}{late}）：{who}")
    return lines


def _unassigned(
    unassigned: list[Submission], registry: Registry, zone: Any, campaign: str | None
) -> list[str]:
    """Files of no known unit, waiting for the coordinator's word (a table)."""
    lines = [
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
    return lines


def attention_markdown(
    items: Sequence[Any],
    registry: Registry,
    zone: Any,
    campaign: str | None,
    command: Callable[..., str] | None,
) -> list[str]:
    """Mail the coordinator must know about, grouped by what to do, with the exact commands."""
    lines: list[str] = []
    deployment = f"`resend-{campaign}`" if campaign else "resend"
    held = [i for i in items if i.problem == "held_back"]
    refused = [i for i in items if i.problem == "refused"]
    failed = [i for i in items if i.problem == "failed"]
    if held:
        lines += [
            f"**{len(held)}封邮件不确定是否已发出，没有重发。** "
            "请核实收件人是否收到：未收到的安排重发，"
            f"已收到的记为已发出（在 Prefect 界面运行 {deployment} 部署，Run → Custom run，"
            "填写 key；勾选 delivered 即记为已发出；或在服务器上运行下面的命令）。",
            "",
        ]
        for item in held:
            lines.append(f"- {_mail_line(item, registry, zone)}，{_since(item, zone)}开始发送")
            if command:
                lines.append(f"  - 未收到，重发：`{command(item.key)}`")
                lines.append(f"  - 已收到：`{command(item.key, delivered=True)}`")
        lines.append("")
    if refused:
        lines += [
            f"**{len(refused)}封邮件被拒收。** 请核对收件地址（departments.yaml），"
            f"改正后用 {deployment} 部署或下面的命令安排重发。",
            "",
        ]
        for item in refused:
            lines.append(f"- {_mail_line(item, registry, zone)}：{item.reason_zh}")
            if command:
                lines.append(f"  - 重发：`{command(item.key)}`")
        lines.append("")
    if failed:
        lines += [f"**{len(failed)}封邮件未能发出**，下次运行会自动补发：", ""]
        by_reason: dict[str, list[Any]] = {}
        for item in failed:
            by_reason.setdefault(item.reason_zh, []).append(item)
        for reason, group in by_reason.items():
            lines.append(f"- {reason}（{_since(group[-1], zone)}）：")
            by_kind: dict[str, list[Any]] = {}
            for item in group:
                by_kind.setdefault(item.what.rsplit("（", 1)[0], []).append(item)
            for what, items in by_kind.items():
                names = [_whose(i, registry) for i in items]
                shown = "、".join(names[:12]) + (f"等{len(names)}个" if len(names) > 12 else "")
                lines.append(f"  - {what}{len(items)}封：{shown}")
        lines.append("")
    return lines


def _whose(item: Any, registry: Any) -> str:
    department = registry.get(item.department) if item.department else None
    return department.name if department else item.key


def _mail_line(item: Any, registry: Registry, zone: Any) -> str:
    department = registry.get(item.department) if item.department else None
    whose = f"，{department.name}" if department else ""
    to = "、".join(item.to[:2]) + ("等" if len(item.to) > 2 else "")
    return f"{item.what}{whose}，发往 {to or '（未知）'}"


def _since(item: Any, zone: Any) -> str:
    return f"{item.since.astimezone(zone):%m-%d %H:%M}" if item.since else "时间不详"


def _cell(text: str) -> str:
    """Text from a mail inside a markdown table cell: no pipes, no line breaks."""
    return re.sub(r"\s+", " ", text.replace("|", "｜")).strip()


def progress(states: list[DepartmentState]) -> float:
    """Share of departments accepted, in percent."""
    if not states:
        return 0.0
    done = sum(s.state in ("accepted", "accepted_with_warnings") for s in states)
    return round(done * 100 / len(states), 1)
