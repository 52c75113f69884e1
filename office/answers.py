"""The answers a department is owed for what it sent: a receipt (with its publishable report),
the list of its errors or warnings, why its file could not be read, that its message held no
workbook or several; the coordinator's notice when no department can be answered.

Derived from the store, not from the pass that read the mail: whatever is recorded and not
answered yet is answered by the next run (``owed_answers``).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from annual_report.campaign.kinds import MailKind
from annual_report.campaign.registry import Department
from annual_report.store.records import Event, Message, Submission
from connectors.mailtext import report_filename
from office.compose import DOCX, HTML, NOT_A_UNIT, XLSX, compose, department_of, same_address
from office.delivery import Delivery, Outbound, deliver
from office.notices import intake_answers
from office.runtime import Runtime

if TYPE_CHECKING:
    from annual_report.form.model import Form

# The documents an answer carries (python-docx, openpyxl, the form) are imported when an answer
# is built: a round with nothing to answer, the common case, does without them (~0.25 s).

ANSWER_BATCH = 100  # answers built, then sent over one connection, before the next are built
ANSWERED = ("accepted", "accepted_with_warnings", "rejected", "unreadable", "quarantined")
_NOTICE_STATUS = {"quarantined": "已隔离，待协调人确认", "unreadable": "无法读取"}


def owed_answers(rt: Runtime, as_of: datetime) -> list[Outbound]:
    """Every answer the store says is owed and not sent yet."""
    return list(each_owed_answer(rt, as_of))


def each_owed_answer(rt: Runtime, as_of: datetime) -> Iterator[Outbound]:
    """:func:`owed_answers` one at a time, each built when it is asked for (the answers'
    events are looked up together, not one query per submission and message)."""
    subs = rt.store.submissions(rt.campaign_id)
    messages = rt.store.messages(rt.campaign_id)
    keys = [answer_key(s) for s in subs]
    keys += [f"returned:{s.id}" for s in subs if s.status == "rejected" and s.decided_by]
    keys += [f"answer:message:{m.key}" for m in messages]
    events = rt.store.events_by_key(rt.campaign_id, keys)
    replaced = replaced_unanswered(subs, events)
    for sub in subs:
        if owed_by(events.get(answer_key(sub))):
            item = answer_for(rt, sub, as_of, replaced=replaced.get(sub.id, ()))
            if item is not None:
                yield item
        returned = f"returned:{sub.id}"
        if sub.status == "rejected" and sub.decided_by and owed_by(events.get(returned)):
            yield returned_by_coordinator(rt, sub, as_of)
    for message in messages:
        if owed_by(events.get(f"answer:message:{message.key}")):
            item = message_answer(rt, message, as_of)
            if item is not None:
                yield item
    yield from intake_answers(rt, as_of, submissions=subs, messages=messages)


def answer_owed(
    rt: Runtime,
    as_of: datetime,
    *,
    batch: int = ANSWER_BATCH,
    send: Callable[[Runtime, Sequence[Outbound]], Delivery] = deliver,
) -> Delivery:
    """Build and send every answer owed, ``batch`` at a time (each batch over one
    connection): after a busy day the round holds one batch of receipts with their documents
    in memory, not all of them. When the mail server cannot be used the round stops there;
    the answers not tried yet stay owed (no record) and the next run sends them."""
    done = Delivery()
    chunk: list[Outbound] = []
    for item in each_owed_answer(rt, as_of):
        chunk.append(item)
        if len(chunk) >= batch:
            done.merge(send(rt, chunk))
            chunk = []
            gc.collect()  # the batch's documents are reference cycles: freed before the next
            if done.outage:
                return done
    if chunk:
        done.merge(send(rt, chunk))
    return done


def replaced_unanswered(
    subs: Sequence[Submission], events: dict[str, Event]
) -> dict[int, list[Submission]]:
    """For each version that replaced earlier ones before they were answered (two files of a
    unit read in one run, or an answer lost to an outage), those earlier versions: its answer
    names them, so every file a department sent is answered, and only once."""
    out: dict[int, list[Submission]] = {}
    waiting: dict[str, list[Submission]] = {}
    for sub in sorted(subs, key=lambda s: s.id):
        if sub.department is None or sub.status in ("quarantined", "unreadable"):
            continue  # not a version of the unit's report
        event = events.get(answer_key(sub))
        answered = event is not None and event.status == "done"
        pending = waiting.setdefault(sub.department, [])
        if answered:
            pending.clear()  # what came before was named in this answer, or is older still
        elif sub.status == "superseded":
            if sub.source.split(":")[0] in ("imap", "maildir"):
                pending.append(sub)
        elif pending:
            # a file of the same message is named by that message's own answer (several)
            out[sub.id] = [p for p in pending if p.message_id != sub.message_id]
            pending.clear()
    return out


def owed_by(event: Event | None) -> bool:
    """:func:`office.delivery.owed` for an event already at hand."""
    if event is None or event.status == "pending":
        return True
    return event.status == "failed" and not event.detail.get("permanent")


def answer_key(sub: Submission) -> str:
    """Quarantined files get a notice to the coordinator; once assigned, the department its
    answer: two keys, so assigning by hand still answers the department. An unreadable file of
    no unit whose sender is told why has its answer already (assigning it sends no second)."""
    if sub.status == "quarantined" or (sub.department is None and not _tell_sender(sub)):
        return f"notice:{sub.id}"
    return f"answer:{sub.id}"


def _tell_sender(sub: Submission) -> bool:
    """An unreadable file recorded as no unit's, from a unit or someone who had our mail."""
    return sub.status == "unreadable" and bool(sub.sender_notice_zh) and bool(sub.sender)


def answer_for(
    rt: Runtime, sub: Submission, as_of: datetime, *, replaced: Sequence[Submission] = ()
) -> Outbound | None:
    """The mail owed for a received submission (None when none is owed); ``replaced``: the
    unit's earlier versions it replaced before they were answered, named in this answer."""
    origin = sub.source.split(":")[0]
    if sub.status not in ANSWERED or origin not in ("imap", "maildir", "drop"):
        return None
    if origin == "drop" and (
        sub.status not in ("quarantined", "unreadable") or sub.department is not None
    ):
        return None  # the coordinator dropped it in; the department did not mail it
    department = department_of(rt, sub.department)
    if department is None and _tell_sender(sub):
        mail = compose(
            rt,
            MailKind.UNREADABLE,
            to=[sub.sender],  # type: ignore[list-item]
            department=NOT_A_UNIT,
            as_of=as_of,
            in_reply_to=sub.message_id,
            file_name=sub.file_name or "",
            reason=sub.failure_reason_zh or "",
        )
        return Outbound(answer_key(sub), "answer.unreadable", None, mail)
    if sub.status == "quarantined" or department is None:
        return _quarantine_notice(rt, sub, as_of)
    return _department_answer(rt, sub, department, as_of, replaced)


def _quarantine_notice(rt: Runtime, sub: Submission, as_of: datetime) -> Outbound:
    """The coordinator is asked whose a file of no known unit is, and told how to say it."""
    reason = sub.match_reason_zh or sub.failure_reason_zh or "无法确定报送单位"
    suggested = department_of(rt, sub.suggested_department)
    mail = compose(
        rt,
        MailKind.COORDINATOR_NOTICE,
        to=[rt.config.mail.coordinator],
        department=None,
        as_of=as_of,
        in_reply_to=sub.message_id,
        title=f"需要人工确认的报送文件（第{sub.id}号）",
        lines=[
            f"文件：{sub.file_name or '（无名称）'}",
            f"发件人：{sub.sender or '（未知）'}",
            f"状态：{_NOTICE_STATUS.get(sub.status, sub.status)}",
            f"原因：{reason}",
            *([f"可能的报送单位：{suggested.name}（{suggested.code}）"] if suggested else []),
            f"请核实后指定报送单位：在 Prefect 界面运行“assign-{rt.campaign_id}”部署"
            f"（文件编号填 {sub.id}，并填写单位代码），"
            f"或在服务器上运行 nianbao assign {sub.id} 单位代码",
        ],
    )
    return Outbound(answer_key(sub), "notice.quarantine", None, mail)


def _department_answer(
    rt: Runtime,
    sub: Submission,
    department: Department,
    as_of: datetime,
    replaced: Sequence[Submission] = (),
) -> Outbound:
    """The receipt, the errors or warnings, or why the file could not be read."""
    plan = rt.config.plan
    to = [sub.sender] if sub.sender else [department.email]
    # Sent from another address than the registry's (a clerk's own mailbox, a file the
    # coordinator assigned): the department's registered mailbox gets a copy for its records.
    own = not sub.sender or same_address(sub.sender, department.email)
    context: dict[str, object] = {
        "file_name": sub.file_name or "",
        "received_at": sub.received_at.astimezone(plan.zone),
        "deadline": plan.deadline_for(department.code),
        "replaced": [
            {"file_name": r.file_name or "", "received_at": r.received_at.astimezone(plan.zone)}
            for r in replaced
        ],
    }
    attachments: list[tuple[str, bytes, str]] = []
    if sub.status == "accepted":
        kind, context["version"] = MailKind.RECEIPT, sub.version
        if plan.attach_report_to_receipt:
            # the .docx the mail names, and the same report as a page for the website
            attachments.extend(department_documents(rt, sub, department))
            context["attached_report"] = attachments[0][0]
    elif sub.status == "unreadable":
        kind, context["reason"] = MailKind.UNREADABLE, sub.failure_reason_zh or ""
    else:
        warnings = sub.status == "accepted_with_warnings"
        severity = "warning" if warnings else "error"
        issues = [i for i in rt.store.issues(sub.id) if i.severity == severity]
        kind = MailKind.ACCEPTED_WITH_WARNINGS if warnings else MailKind.REJECTED
        context |= issue_context(rt, issues, department, sub, attachments)
    mail = compose(
        rt,
        kind,
        to=to,
        cc=[] if own else [department.email],
        department=department,
        as_of=as_of,
        in_reply_to=sub.message_id,
        attachments=attachments,
        **context,
    )
    return Outbound(answer_key(sub), f"answer.{sub.status}", department.code, mail)


def returned_by_coordinator(rt: Runtime, sub: Submission, as_of: datetime) -> Outbound:
    """A submission accepted with warnings that the coordinator sent back from the UI."""
    department = rt.config.registry[sub.department]  # type: ignore[index]
    issues = [i for i in rt.store.issues(sub.id) if i.severity == "warning"]
    attachments: list[tuple[str, bytes, str]] = []
    context = issue_context(rt, issues, department, sub, attachments)
    mail = compose(
        rt,
        MailKind.REJECTED,
        to=[sub.sender or department.email],
        department=department,
        as_of=as_of,
        in_reply_to=sub.message_id,
        file_name=sub.file_name or "",
        received_at=sub.received_at.astimezone(rt.config.plan.zone),
        deadline=rt.config.plan.deadline_for(department.code),
        note=sub.decision_note or "",
        attachments=attachments,
        **context,
    )
    return Outbound(f"returned:{sub.id}", "answer.returned", department.code, mail)


def message_answer(rt: Runtime, message: Message, as_of: datetime) -> Outbound | None:
    """The mail owed for a message as a whole (None when none is owed): no workbook in it,
    several workbooks in it, or something only the coordinator can look at."""
    several = message.outcome == "workbooks" and message.workbooks > 1
    if message.outcome not in ("no_workbook", "unparseable", "bounce") and not several:
        return None
    key = f"answer:message:{message.key}"
    department = department_of(rt, message.department)
    if department is not None and message.outcome != "bounce":
        # several: each workbook got its own answer, this one says which counts
        kind, files = (
            (MailKind.SEVERAL_WORKBOOKS, "workbooks")
            if several
            else (MailKind.NO_WORKBOOK, "attachments")
        )
        mail = compose(
            rt,
            kind,
            to=[message.sender or department.email],
            department=department,
            as_of=as_of,
            in_reply_to=message.message_id,
            file_names=message.detail.get(files, []),
        )
        return Outbound(key, f"answer.{kind}", department.code, mail)
    if several:
        return None  # workbooks of unknown origin: their quarantine notices say it all
    mail = compose(
        rt,
        MailKind.COORDINATOR_NOTICE,
        to=[rt.config.mail.coordinator],
        department=None,
        as_of=as_of,
        title="邮件被退回" if message.outcome == "bounce" else "收到无法自动处理的邮件",
        lines=[
            f"发件人：{message.sender or '（未知）'}",
            f"主题：{message.subject or '（无主题）'}",
            f"情况：{message.outcome}",
            f"原始邮件已存档：{message.archived_path}",
        ],
    )
    return Outbound(key, "notice.message", None, mail)


# -- what an answer carries -----------------------------------------------------------------


@functools.cache
def _form(form_id: str) -> Form:
    from annual_report.form.model import load_form

    return load_form(form_id)


def issue_context(
    rt: Runtime,
    issues: Sequence[object],
    department: Department,
    sub: Submission,
    attachments: list[tuple[str, bytes, str]],
) -> dict[str, Any]:
    """Issues as a mail shows them: grouped by rule and part, cells as ranges, at most a screen
    of lines; the full list attached as a sheet when there are many (``attachments`` grows)."""
    from annual_report.validation.digest import digest, issues_workbook

    found = digest(issues, _form(rt.store.campaign(rt.campaign_id).form_id))
    context: dict[str, Any] = {
        "issues": [f.to_dict() for f in found.findings],
        "issue_count": found.total,
        "omitted": found.omitted,
        "issue_list": "",
    }
    if found.attach:
        year = rt.config.plan.report_year
        name = f"{department.name}-{year}年度报告问题清单（第{sub.version or 1}版）.xlsx"
        title = (
            f"{department.name}{year}年政府信息公开工作年度报告：核对发现的问题（{found.total}处）"
        )
        attachments.append((name, issues_workbook(issues, title=title), XLSX))
        context["issue_list"] = name
    return context


def department_documents(
    rt: Runtime, sub: Submission, department: Department
) -> list[tuple[str, bytes, str]]:
    """The department's publishable report from its accepted submission: the .docx to edit,
    and the same as a static web page for its 政府信息公开专栏 (read from the store once)."""
    from annual_report.documents.report import department_report, department_source
    from annual_report.documents.webpage import department_page

    plan = rt.config.plan
    source = department_source(rt.store, rt.campaign_id, department.code, submission_id=sub.id)
    common: dict[str, Any] = {
        "department_name": source.name,
        "year": source.year,
        "office": rt.config.mail.smtp.sender_name,
        "contact": rt.config.mail.contact,
        "website": plan.website,
        "site_name": plan.site_name,
        "comparison": source.comparison,  # the unit against its own last year
    }
    draft = department_report(source.report, **common)
    document = draft.to_bytes()
    draft.close()  # freed now, not at the next full collection (a batch of receipts)
    page = department_page(source.report, **common)
    return [
        (report_filename(department.name, plan.report_year, "docx"), document, DOCX),
        (report_filename(department.name, plan.report_year, "html"), page.encode("utf-8"), HTML),
    ]


def department_document(
    rt: Runtime, sub: Submission, department: Department
) -> tuple[str, bytes, str]:
    """The department's publishable report (.docx) from its accepted submission."""
    return department_documents(rt, sub, department)[0]
