"""Mail the coordinator must know about: held back by a crash (it may have left), refused for
good, or not sent yet after a failure; each held-back or refused mail is mailed to the
coordinator once, with what to check and the exact ``resend`` to run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from annual_report.campaign.kinds import (
    EVENT_KINDS,
    MAIL_PROBLEMS,
    Effect,
    MailKind,
    effect_of,
    mail_label,
)
from annual_report.campaign.states import DepartmentState
from office.campaign import department_states
from office.compose import compose, department_of
from office.delivery import Delivery, Outbound, deliver, owed, resend_command, sending_elsewhere
from office.runtime import Runtime

LADDER = (Effect.REMINDS, Effect.ESCALATES)


@dataclass(frozen=True)
class Attention:
    """A mail the coordinator has to know about: held back, refused, or not sent yet."""

    key: str
    kind: str  # event kind
    problem: str  # a key of MAIL_PROBLEMS: held_back, refused, failed
    department: str | None
    to: tuple[str, ...]
    subject: str
    since: datetime | None  # handed to the server (held back) or last tried
    reason_zh: str
    attempts: int

    @property
    def what(self) -> str:
        """``接收回执（answer:17）``."""
        kind = EVENT_KINDS.get(self.kind)
        return f"{mail_label(kind.mail) if kind else self.kind}（{self.key}）"

    @property
    def problem_label(self) -> str:
        return MAIL_PROBLEMS[self.problem]


def attention(rt: Runtime, found: Sequence[DepartmentState] | None = None) -> list[Attention]:
    """Mail that needs the coordinator or is still owed after a failure, oldest first.

    Held back: pending from a run that died (it may have left; never re-sent by itself).
    Refused: the server refused the address for good. Failed: a transient failure the next run
    retries, unless it no longer matters (a reminder to a department accepted since, or one a
    later rung of the ladder replaced). ``found``: the departments' states, when known.
    """
    found = found if found is not None else department_states(rt)
    settled = {s.code for s in found if s.state in ("accepted", "accepted_with_warnings")}
    events = rt.store.events(rt.campaign_id)
    last_ladder: dict[str, str] = {}
    for event in events:
        if event.department and effect_of(event.kind) in LADDER:
            last_ladder[event.department] = event.key
    out = []
    for event in events:
        detail = event.detail
        if event.status == "pending":
            if sending_elsewhere(detail.get("sender")):
                continue
            problem = "held_back"
            reason = "上次运行在把这封邮件交给邮件服务器时中断，邮件可能已发出，也可能没有"
        elif event.status == "failed" and detail.get("permanent"):
            problem, reason = "refused", detail.get("error_zh") or "邮件被拒收"
        elif event.status == "failed" and not detail.get("released"):
            if effect_of(event.kind) in LADDER and (
                event.department in settled or last_ladder.get(event.department or "") != event.key
            ):
                continue
            problem, reason = "failed", detail.get("error_zh") or detail.get("error") or "发送失败"
        else:
            continue
        handed = detail.get("handed_at")
        since = datetime.fromisoformat(handed) if handed else event.done_at or event.created_at
        out.append(
            Attention(
                key=event.key,
                kind=event.kind,
                problem=problem,
                department=event.department,
                to=tuple(detail.get("to") or ()) + tuple(detail.get("cc") or ()),
                subject=detail.get("subject") or "",
                since=since,
                reason_zh=reason,
                attempts=event.attempts,
            )
        )
    return out


def tell_coordinator(
    rt: Runtime, as_of: datetime, *, server_down: bool = False
) -> tuple[list[Attention], Delivery]:
    """Mail the coordinator about every held-back or refused mail not told yet; returns what
    still needs attention and how the notices went. ``server_down``: this run already found
    the mail server unusable; the notices wait for the next run (no second retry budget)."""
    items = attention(rt)
    if server_down:
        return items, Delivery()
    delivery = deliver(rt, attention_notices(rt, items, as_of))
    return attention(rt), delivery


def attention_notices(rt: Runtime, items: Sequence[Attention], as_of: datetime) -> list[Outbound]:
    """One mail to the coordinator per held-back or refused mail (per attempt), saying what to
    check and the exact ``resend`` to run. A failure the next run retries needs no mail."""
    out = []
    for item in items:
        notice_kind = {"held_back": "notice.held_back", "refused": "notice.refused"}.get(
            item.problem
        )
        if notice_kind is None or item.kind in ("notice.held_back", "notice.refused"):
            continue  # never a notice about a notice: a refused coordinator cannot be told
        key = f"{item.problem}:{item.key}#{item.attempts}"
        if not owed(rt, key):
            continue
        department = department_of(rt, item.department)
        whose = f"（{department.name}）" if department else ""
        if item.problem == "held_back":
            title = f"有一封邮件不确定是否已发出，请核实{whose}"
        else:
            title = f"有一封邮件被拒收，请处理{whose}"
        mail = compose(
            rt,
            MailKind.COORDINATOR_NOTICE,
            to=[rt.config.mail.coordinator],
            department=None,
            as_of=as_of,
            title=title,
            lines=_notice_lines(rt, item, whose),
        )
        out.append(Outbound(key, notice_kind, None, mail))
    return out


def _notice_lines(rt: Runtime, item: Attention, whose: str) -> list[str]:
    """What the coordinator reads about one mail: which, to whom, and what to do."""
    zone = rt.config.plan.zone
    deployment = f"resend-{rt.campaign_id}"
    since = f"{item.since.astimezone(zone):%Y-%m-%d %H:%M}" if item.since else "（未知）"
    lines = [
        f"邮件：{item.what}{whose}",
        f"收件人：{'、'.join(item.to) or '（未知）'}",
        f"主题：{item.subject or '（未知）'}",
    ]
    if item.problem == "held_back":
        return [
            *lines,
            f"开始发送：{since}",
            f"情况：{item.reason_zh}。为避免重复，系统没有重发。",
            "请核实：在发件邮箱的“已发送”中查找这个主题，或电话询问收件人是否收到。",
            f"如未收到，安排重发：在 Prefect 界面运行“{deployment}”部署（Run → Custom run，"
            f"key 填 {item.key}），或在服务器上运行 {resend_command(rt, item.key)}",
            f"如已收到，记为已发出：同一部署勾选 delivered，或运行 "
            f"{resend_command(rt, item.key, delivered=True)}",
            "处理之前，这封邮件一直列在收集情况摘要的“需要注意”和 nianbao status 中。",
        ]
    return [
        *lines,
        f"拒收时间：{since}",
        f"原因：{item.reason_zh}",
        "请核对收件地址（单位邮箱在 departments.yaml 中），改正后安排重发："
        f"在 Prefect 界面运行“{deployment}”部署（key 填 {item.key}），"
        f"或运行 {resend_command(rt, item.key)}",
    ]
