"""What the intake owes besides the answers (``office.answers``): the sender of a file held for
the coordinator is told why, the sender of a file received before is told what became of it,
the sender of a message that could not be taken apart is told so; the coordinator is asked
whenever nobody else can be."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from annual_report.campaign.kinds import MailKind
from annual_report.campaign.registry import Department
from annual_report.store.records import Message, Submission
from office.compose import NOT_A_UNIT, compose, department_of, registered
from office.delivery import Outbound, owed
from office.runtime import Runtime

REFUSED_MESSAGES = ("too-deep", "too-large")
_STATUS_ZH = {
    "accepted": "已接收",
    "accepted_with_warnings": "已接收（有警告）",
    "rejected": "已退回",
    "unreadable": "无法读取",
    "quarantined": "待协调人确认",
    "superseded": "已被新版本替代",
    "received": "已收到",
}


def intake_answers(
    rt: Runtime,
    as_of: datetime,
    *,
    submissions: Sequence[Submission] | None = None,
    messages: Sequence[Message] | None = None,
) -> list[Outbound]:
    """Every mail the intake owes besides the answers of ``answer_for``/``message_answer``
    (``submissions``, ``messages``: the campaign's, when the caller has read them already)."""
    out: list[Outbound] = []
    if submissions is None:
        submissions = rt.store.submissions(rt.campaign_id)
    if messages is None:
        messages = rt.store.messages(rt.campaign_id)
    for sub in submissions:
        if sub.status == "quarantined" and owed(rt, f"held:{sub.id}"):
            item = held_notice(rt, sub, as_of)
            if item is not None:
                out.append(item)
    for message in messages:
        for item in [
            *duplicate_answers(rt, message, as_of),
            *refused_message_answers(rt, message, as_of),
        ]:
            if owed(rt, item.key):
                out.append(item)
    return out


def held_notice(rt: Runtime, sub: Submission, as_of: datetime) -> Outbound | None:
    """The sender of a quarantined file is told it was not recorded, and why (when the sender
    is a unit or had our mail; see ``matching``)."""
    if sub.status != "quarantined" or not sub.sender or not sub.sender_notice_zh:
        return None
    mail = compose(
        rt,
        MailKind.HELD,
        to=[sub.sender],
        department=department_of(rt, registered(rt, sub.sender)) or NOT_A_UNIT,
        as_of=as_of,
        in_reply_to=sub.message_id,
        file_name=sub.file_name or "",
        reason=sub.sender_notice_zh,
    )
    return Outbound(f"held:{sub.id}", "answer.held", None, mail)


def duplicate_answers(rt: Runtime, message: Message, as_of: datetime) -> list[Outbound]:
    """Files of a message whose very bytes were received before, from another message: the
    sender is told what became of them (they do not change anyone's record); when they were
    another unit's, or no unit's, the coordinator is asked too."""
    dups = message.detail.get("duplicates") or []
    if not dups:
        return []
    unit = department_of(rt, message.department)
    sender = message.sender
    out: list[Outbound] = []
    files = []
    foreign = []
    for dup in dups:
        first = rt.store.submission(int(dup["submission"]))
        own = unit is not None and first.department == unit.code
        unreadable = first.status == "unreadable"  # its answer is why, whoever sent it first
        files.append(
            {
                "name": dup["name"],
                "own": own,
                "received_at": first.received_at.astimezone(rt.config.plan.zone),
                "version": first.version,
                "status": _STATUS_ZH.get(first.status, first.status),
                "unreadable": first.failure_reason_zh if unreadable else None,
                "same_content": bool(dup.get("same_content")),
            }
        )
        if not own and not unreadable:
            foreign.append((dup, first))
    if sender and (unit is not None or message.detail.get("in_our_thread")):
        mail = compose(
            rt,
            MailKind.DUPLICATE,
            to=[sender],
            department=unit or NOT_A_UNIT,
            as_of=as_of,
            in_reply_to=message.message_id,
            files=files,
        )
        out.append(Outbound(f"answer:duplicate:{message.key}", "answer.duplicate", None, mail))
    if foreign:
        out.append(_foreign_duplicates(rt, message, unit, foreign, as_of))
    return out


def _foreign_duplicates(
    rt: Runtime,
    message: Message,
    unit: Department | None,
    foreign: list[tuple[dict[str, Any], Submission]],
    as_of: datetime,
) -> Outbound:
    """The coordinator is told of files received before as another unit's, or no unit's."""
    lines = [f"发件人：{message.sender or '（未知）'}（{unit.name if unit else '不在单位名录中'}）"]
    for dup, first in foreign:
        owner = department_of(rt, first.department)
        whose = owner.name if owner else "尚未确定单位"
        status = _STATUS_ZH.get(first.status, first.status)
        lines.append(
            f"文件《{dup['name']}》与第{first.id}号报送文件"
            f"{'内容相同' if dup.get('same_content') else '完全相同'}（{whose}，{status}），"
            "未作为新的报送登记"
        )
    lines.append(f"原始邮件已存档：{message.archived_path}")
    mail = compose(
        rt,
        MailKind.COORDINATOR_NOTICE,
        to=[rt.config.mail.coordinator],
        department=None,
        as_of=as_of,
        in_reply_to=message.message_id,
        title="收到与已报送文件完全相同的文件",
        lines=lines,
    )
    return Outbound(f"notice:duplicate:{message.key}", "notice.duplicate", None, mail)


def refused_message_answers(rt: Runtime, message: Message, as_of: datetime) -> list[Outbound]:
    """A message that could not be taken apart (nested too deeply, too large to fetch): its
    sender is told, when it is a unit or had our mail; the coordinator when nobody else can be,
    and always for one left in the mailbox unfetched."""
    if message.outcome not in REFUSED_MESSAGES:
        return []
    refusal = message.detail.get("refusal") or {}
    unit = department_of(rt, message.department)
    out = []
    told = message.sender and (unit is not None or message.detail.get("in_our_thread"))
    if told:
        mail = compose(
            rt,
            MailKind.MESSAGE_PROBLEM,
            to=[message.sender],  # type: ignore[list-item]
            department=unit or NOT_A_UNIT,
            as_of=as_of,
            in_reply_to=message.message_id,
            reason=refusal.get("zh", ""),
            subject_line=(message.subject or "")[:80],
        )
        out.append(Outbound(f"answer:message:{message.key}", "answer.message_refused", None, mail))
    if not told or message.outcome == "too-large":
        if message.archived_path:
            where = f"原始邮件已存档：{message.archived_path}"
        elif message.key.startswith("drop:"):
            where = "文件未读取，已移入投递目录的 processed 文件夹"
        else:
            where = f"邮件未读取，仍在邮箱中（{message.key}，已标记为已处理）"
        mail = compose(
            rt,
            MailKind.COORDINATOR_NOTICE,
            to=[rt.config.mail.coordinator],
            department=None,
            as_of=as_of,
            in_reply_to=message.message_id,
            title="收到无法处理的邮件",
            lines=[
                f"发件人：{message.sender or '（未知）'}",
                f"主题：{(message.subject or '（无主题）')[:120]}",
                f"情况：{refusal.get('reason', message.outcome)}",
                where,
                "已告知发件人" if told else "发件人不在单位名录中，未回复",
            ],
        )
        out.append(Outbound(f"notice:message:{message.key}", "notice.message_refused", None, mail))
    return out
