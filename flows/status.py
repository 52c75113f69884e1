"""What the coordinator sees: the department table, the summary, what changed since last time.

Plain Python over the store (the flows publish these as Prefect artifacts; ``nianbao status``
prints them).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from annual_report.campaign.kinds import EVENT_KINDS, STATE_LABELS, event_label
from annual_report.campaign.registry import Registry
from annual_report.store.sqlite import DepartmentState, Submission

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
    to_call = [s for s in states if s.state in CHASED and s.due and today >= s.due]
    lines += ["", "## 需要电话督促", ""]
    if not to_call:
        lines.append("- 暂无")
    for s in to_call:
        dept = registry.get(s.code)
        contact = dept.contact if dept else None
        who = f"{contact.name} {contact.phone or ''}".strip() if contact else "（未登记联系人）"
        late = f"，{s.detail}" if s.detail else ""
        lines.append(f"- {s.name}（{s.label}，截止 {s.due}{late}）：{who}")
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
    if attention or extra:
        lines += ["", "## 需要注意", ""]
        lines += attention_markdown(attention, registry, zone, campaign, command)
        lines += [f"- {line}" for line in extra or ()]
    return "\n".join(lines) + "\n"


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


# -- how a run ended ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """A run's final state as the coordinator reads it: a Prefect state name and a Chinese
    message (docs/ui.md, "How a run ends")."""

    name: str  # Completed, Incomplete, NeedsAttention, Failed
    message: str

    @property
    def failed(self) -> bool:
        return self.name == "Failed"


def outcome(
    what: str,
    *,
    delivery: Any = None,
    attention: Sequence[Any] = (),
    states: Sequence[DepartmentState] | None = None,
    problems: Sequence[str] = (),
) -> Outcome:
    """``what`` the run did, then what went wrong, what waits for the coordinator and who is
    missing. Failed: mail it owed was not sent, or a mailbox could not be read; NeedsAttention:
    mail held back or refused (this run or before); Incomplete: departments not accepted yet."""
    parts = [what]
    failed = list(delivery.failed) if delivery is not None else []
    if failed:
        sent = len(delivery.sent)
        reasons = list(dict.fromkeys(f.error_zh for f in failed))
        reason = delivery.outage or reasons[0] + ("等" if len(reasons) > 1 else "")
        retry = [f for f in failed if not f.permanent]
        parts.append(
            f"应发{sent + len(failed)}封邮件，已发出{sent}封，未发出{len(failed)}封（{reason}）"
            + ("，下次运行会自动补发" if retry else "")
        )
    parts += list(problems)
    held = [i for i in attention if i.problem == "held_back"]
    refused = [i for i in attention if i.problem == "refused"]
    if held:
        keys = "、".join(i.key for i in held[:5]) + ("等" if len(held) > 5 else "")
        parts.append(
            f"{len(held)}封邮件不确定是否已发出，没有重发（{keys}）：请核实收件人是否收到，"
            "再用 resend 处理（见收集情况摘要“需要注意”）"
        )
    if refused:
        keys = "、".join(i.key for i in refused[:5]) + ("等" if len(refused) > 5 else "")
        parts.append(f"{len(refused)}封邮件被拒收（{keys}）：请核对地址后用 resend 安排重发")
    missing = [s for s in states or () if s.state not in ("accepted", "accepted_with_warnings")]
    if states is not None:
        if missing:
            shown = "、".join(s.name for s in missing[:10]) + ("等" if len(missing) > 10 else "")
            parts.append(f"{len(states)}个单位中{len(missing)}个尚未接收：{shown}")
        else:
            parts.append(f"{len(states)}个单位已全部接收")
    if failed or problems:
        name = "Failed"
    elif held or refused:
        name = "NeedsAttention"
    elif missing:
        name = "Incomplete"
    else:
        name = "Completed"
    return Outcome(name, "；".join(parts))


def _cell(text: str) -> str:
    """Text from a mail inside a markdown table cell: no pipes, no line breaks."""
    return re.sub(r"\s+", " ", text.replace("|", "｜")).strip()


def progress(states: list[DepartmentState]) -> float:
    """Share of departments accepted, in percent."""
    if not states:
        return 0.0
    done = sum(s.state in ("accepted", "accepted_with_warnings") for s in states)
    return round(done * 100 / len(states), 1)


def fetch_error_zh(mailbox: str, exc: BaseException) -> str:
    """A mailbox that could not be read, as the coordinator reads it (the technical detail
    stays in the log)."""
    text = str(exc)
    where = {"imap": "收件邮箱（IMAP）", "maildir": "本地邮件目录", "drop": "投递目录"}
    box = where.get(mailbox, mailbox)
    server = getattr(exc, "context", {}).get("host", "")
    at = f" {server}" if server else ""
    if "ConnectionRefused" in text or "connect failed" in text:
        why = f"无法连接收件服务器{at}"
        if "ConnectionRefused" in text:
            why += "（连接被拒绝：服务器未运行，或地址、端口不对）"
        elif "timed out" in text or "Timeout" in text:
            why += "（连接超时）"
    elif "login failed" in text or "no IMAP password" in text:
        why = f"收件服务器{at}拒绝登录：请检查 mail.yaml 中的 imap.user 和收信密码"
    elif "does not exist" in text or "not a Maildir" in text:
        why = "目录不存在"
    else:
        why = f"读取失败（{type(exc).__name__}）"
    return f"无法读取{box}：{why}，本次没有收取新邮件"
