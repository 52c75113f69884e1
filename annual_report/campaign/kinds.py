"""Every kind of mail, every kind of event and every department state, named once.

One table per thing, and everything else looks them up: the Chinese label a coordinator reads
(department table, ``nianbao status``, summaries), the mail template a kind of mail is written
with (``connectors/templates/<template>``, which an office may override in its ``config/mail/``)
and what an event does to a department's state.

Adding a kind is one entry here (a new mail kind: a :class:`MailKind` member, its entry in
:data:`MAIL_KINDS` and its template file): a flow that records an event kind not in
:data:`EVENT_KINDS` fails at once (``Outbound`` checks it), a configuration under which a kind
of :data:`MAIL_KINDS` has no template (neither packaged nor overridden) or an override does not
compile is refused when it is loaded, and ``tests/test_kinds.py`` keeps the tables complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar


class Effect(StrEnum):
    """What a sent mail changes in its department's state (see ``campaign.states``)."""

    INVITES = "invites"  # the department has its template: 未发送 → 已发送
    ANSWERS = "answers"  # a reply to what the department sent (its submission sets the state)
    REMINDS = "reminds"  # a reminder; no change
    ESCALATES = "escalates"  # counted as an escalation: 已督办 until accepted
    NOTIFIES = "notifies"  # to the coordinator; the department's state does not change


class MailKind(StrEnum):
    """Every kind of mail by name (``MailKind.RECEIPT == "receipt"``): how code names one.

    Declared literally so that a type checker sees the members; :data:`MAIL_KINDS` says what
    each is, and a member without its entry there fails at import."""

    INVITATION = "invitation"
    RECEIPT = "receipt"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
    REJECTED = "rejected"
    UNREADABLE = "unreadable"
    NO_WORKBOOK = "no_workbook"
    SEVERAL_WORKBOOKS = "several_workbooks"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    COORDINATOR_NOTICE = "coordinator_notice"
    HELD = "held"
    DUPLICATE = "duplicate"
    MESSAGE_PROBLEM = "message_problem"


@dataclass(frozen=True)
class Mail:
    """What a kind of mail is: its label, its reader and its templates."""

    name: str  # a MailKind: also the template's stem and the X-Nianbao-Kind header
    label: str  # what the mail is, for the coordinator
    to: str  # who reads it: 单位 / 分管领导 / 协调人

    @property
    def template(self) -> str:
        """The text: a ``subject`` block and the plain-text body."""
        return f"{self.name}.txt.j2"

    @property
    def html_template(self) -> str:
        """The HTML alternative, where the kind has one."""
        return f"{self.name}.html.j2"


@dataclass(frozen=True)
class EventKind:
    name: str  # "answer.rejected"
    label: str  # the department table's 最近动作
    mail: str | None  # the kind of mail it sends (None: an event that sends nothing)
    effect: Effect


_Kind = TypeVar("_Kind", Mail, EventKind)


def _table(*items: _Kind) -> dict[str, _Kind]:
    return {item.name: item for item in items}


MAIL_KINDS: dict[str, Mail] = _table(
    Mail(MailKind.INVITATION, "填报通知（附模板）", "单位"),
    Mail(MailKind.RECEIPT, "接收回执", "单位"),
    Mail(MailKind.ACCEPTED_WITH_WARNINGS, "核实提示（暂予接收）", "单位"),
    Mail(MailKind.REJECTED, "退回修改通知", "单位"),
    Mail(MailKind.UNREADABLE, "附件无法读取通知", "单位"),
    Mail(MailKind.NO_WORKBOOK, "未附表格提示", "单位"),
    Mail(MailKind.SEVERAL_WORKBOOKS, "多个表格提示", "单位"),
    Mail(MailKind.REMINDER, "催报提醒", "单位"),
    Mail(MailKind.ESCALATION, "督办函", "分管领导"),
    Mail(MailKind.COORDINATOR_NOTICE, "给协调人的通知", "协调人"),
    Mail(MailKind.HELD, "文件待确认通知", "单位"),
    Mail(MailKind.DUPLICATE, "重复报送提示", "单位"),
    Mail(MailKind.MESSAGE_PROBLEM, "来信无法处理通知", "单位"),
)
if set(MAIL_KINDS) != set(MailKind):  # a kind half declared: refuse at import, not mid-run
    raise RuntimeError(f"MailKind and MAIL_KINDS differ: {set(MailKind) ^ set(MAIL_KINDS)}")

EVENT_KINDS: dict[str, EventKind] = _table(
    EventKind("sent.invitation", "已发送模板", "invitation", Effect.INVITES),
    EventKind("answer.accepted", "已回复：接收", "receipt", Effect.ANSWERS),
    EventKind(
        "answer.accepted_with_warnings",
        "已回复：请核实警告",
        "accepted_with_warnings",
        Effect.ANSWERS,
    ),
    EventKind("answer.rejected", "已回复：退回修改", "rejected", Effect.ANSWERS),
    EventKind("answer.returned", "已回复：协调人退回", "rejected", Effect.ANSWERS),
    EventKind("answer.unreadable", "已回复：附件无法读取", "unreadable", Effect.ANSWERS),
    EventKind("answer.no_workbook", "已回复：未附表格", "no_workbook", Effect.ANSWERS),
    EventKind("answer.several_workbooks", "已回复：多个表格", "several_workbooks", Effect.ANSWERS),
    EventKind("answer.held", "已回复：文件待协调人确认", "held", Effect.ANSWERS),
    EventKind("answer.duplicate", "已回复：重复报送", "duplicate", Effect.ANSWERS),
    EventKind("answer.message_refused", "已回复：来信无法处理", "message_problem", Effect.ANSWERS),
    EventKind("reminder.before", "已提醒（截止前）", "reminder", Effect.REMINDS),
    EventKind("reminder.deadline", "已提醒（截止日）", "reminder", Effect.REMINDS),
    EventKind("escalation.overdue", "已督办（逾期）", "escalation", Effect.ESCALATES),
    EventKind("escalation.rejections", "已督办（多次退回）", "escalation", Effect.ESCALATES),
    EventKind(
        "notice.quarantine", "已通知协调人（待确认文件）", "coordinator_notice", Effect.NOTIFIES
    ),
    EventKind(
        "notice.message", "已通知协调人（无法处理的来信）", "coordinator_notice", Effect.NOTIFIES
    ),
    EventKind(
        "notice.duplicate", "已通知协调人（重复报送的文件）", "coordinator_notice", Effect.NOTIFIES
    ),
    EventKind(
        "notice.message_refused",
        "已通知协调人（来信过大或嵌套过深）",
        "coordinator_notice",
        Effect.NOTIFIES,
    ),
    EventKind(
        "notice.held_back", "已通知协调人（邮件待核实）", "coordinator_notice", Effect.NOTIFIES
    ),
    EventKind(
        "notice.refused", "已通知协调人（邮件被拒收）", "coordinator_notice", Effect.NOTIFIES
    ),
)

# A department's state as the coordinator reads it, most urgent first.
STATE_LABELS: dict[str, str] = {
    "escalated": "已督办",
    "rejected": "已退回",
    "sent": "已发送",
    "not_sent": "未发送",
    "received": "已收到",
    "accepted_with_warnings": "已接收（有警告）",
    "accepted": "已接收",
}

# What can be wrong with a mail, for the coordinator (``office.attention``).
MAIL_PROBLEMS: dict[str, str] = {
    "held_back": "不确定是否已发出",
    "refused": "被拒收",
    "failed": "未能发出，将自动重试",
}


def event_kind(name: str) -> EventKind:
    """The kind ``name``; a ``KeyError`` naming the table when it is not declared."""
    try:
        return EVENT_KINDS[name]
    except KeyError:
        raise KeyError(
            f"event kind {name!r} is not declared in annual_report/campaign/kinds.py"
        ) from None


def event_label(name: str | None) -> str:
    """The Chinese label of an event kind (an undeclared one shows as it is, never as nothing)."""
    if not name:
        return ""
    kind = EVENT_KINDS.get(name)
    return kind.label if kind else name


def mail_label(name: str | None) -> str:
    kind = MAIL_KINDS.get(name or "")
    return kind.label if kind else (name or "")


_PREFIX_EFFECTS = {"sent.": Effect.INVITES, "escalation.": Effect.ESCALATES}


def effect_of(name: str) -> Effect | None:
    """What an event kind does to a department. A kind not declared (written by an older
    version) is judged by its prefix, so an old database reads as it did."""
    kind = EVENT_KINDS.get(name)
    if kind is not None:
        return kind.effect
    return next((e for p, e in _PREFIX_EFFECTS.items() if name.startswith(p)), None)


def templates() -> list[str]:
    """The template file of every mail kind (packaged, or overridden in ``config/mail``)."""
    return [kind.template for kind in MAIL_KINDS.values()]
