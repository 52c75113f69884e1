"""What the flows do, one unit of work at a time.

Plain Python over the domain (``annual_report``) and the connectors: the Prefect tasks in
``flows/tasks.py`` are thin wrappers of these functions, and the flows only wire the tasks.

Exactly once, whatever crashes: every mail has a natural key (``invitation:RSJ``,
``answer:17``, ``reminder.deadline:RSJ``) recorded in the store as *pending* just before it is
handed to the SMTP server and *done* right after. A key found pending on a later run means the
process died in between: that mail may or may not have left, so it is not sent again but shown
to the coordinator (``--force`` sends it anyway). Answers are derived from the store, not from
the pass that read the mail, so a crash between reading and answering loses no answer.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from email.utils import parseaddr
from pathlib import Path
from types import SimpleNamespace

from annual_report.campaign.kinds import (
    EVENT_KINDS,
    MAIL_PROBLEMS,
    Effect,
    effect_of,
    event_kind,
    mail_label,
)
from annual_report.campaign.lateness import days_late
from annual_report.campaign.plan import Step, due_steps
from annual_report.campaign.registry import Department
from annual_report.campaign.submission import Origin, assign_submission, receive_workbook
from annual_report.campaign.templates import write_department_template
from annual_report.consolidation.merge import (
    Consolidation,
    consolidate_campaign,
    write_consolidation,
)
from annual_report.documents.report import department_report, department_source
from annual_report.documents.webpage import department_page
from annual_report.errors import MailSendError, StoreError, WorkbookError
from annual_report.form.model import Form, load_form
from annual_report.store.sqlite import (
    STATE_LABELS,
    Campaign,
    DepartmentState,
    Message,
    Store,
    Submission,
)
from annual_report.validation.digest import digest, issues_workbook
from connectors.archive import MessageArchive
from connectors.attachments import Attachment, ParsedMessage, find_attachment
from connectors.mailbox import (
    ArchiveBudget,
    DropFolder,
    ImapMailbox,
    Mailbox,
    MaildirMailbox,
    Received,
    receive,
)
from connectors.mailtext import MailKind, MailTexts, parse_subject_tag, report_filename
from connectors.outgoing import MailSender, OutgoingMail, SendResult, SmtpSender, new_message_id
from office.settings import AppConfig

log = logging.getLogger(__name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ANSWERED = ("accepted", "accepted_with_warnings", "rejected", "unreadable", "quarantined")


class Runtime:
    """Everything a unit of work needs, opened once per flow run.

    A plain class on purpose: Prefect walks dataclasses and models given to tasks as inputs,
    and there is nothing to find in here.
    """

    def __init__(
        self,
        config: AppConfig,
        store: Store,
        archive: MessageArchive,
        texts: MailTexts,
        smtp_password: str | None = None,
        imap_password: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.archive = archive
        self.texts = texts
        self.smtp_password = smtp_password
        self.imap_password = imap_password
        self.archive_budget = ArchiveBudget()  # what this run may add to the archive

    def __repr__(self) -> str:
        return f"Runtime(campaign={self.campaign_id!r}, store={self.store!r})"

    @classmethod
    def open(
        cls,
        config: AppConfig,
        *,
        smtp_password: str | None = None,
        imap_password: str | None = None,
        as_of: datetime | None = None,
    ) -> Runtime:
        """``as_of`` (a replay) also becomes the store's clock, so what the run records is
        stamped with the moment it stands for."""
        return cls(
            config=config,
            store=Store(config.database, clock=(lambda: as_of) if as_of else None),
            archive=MessageArchive(config.mail.archive_dir),
            texts=MailTexts.from_settings(config.mail),
            smtp_password=smtp_password,
            imap_password=imap_password,
        )

    @property
    def campaign_id(self) -> str:
        return self.config.plan.id

    def sender(self) -> MailSender:
        return SmtpSender(self.config.mail.smtp, self.smtp_password, archive=self.archive)

    def mailboxes(self) -> list[tuple[str, Mailbox]]:
        mail = self.config.mail
        boxes: list[tuple[str, Mailbox]] = []
        if mail.imap is not None:
            boxes.append(("imap", ImapMailbox(mail.imap, self.imap_password)))
        if mail.maildir is not None:
            boxes.append(("maildir", MaildirMailbox(mail.maildir)))
        if mail.drop_dir is not None:
            boxes.append(("drop", DropFolder(mail.drop_dir)))
        return boxes

    def close(self) -> None:
        self.store.close()


def open_campaign(rt: Runtime) -> Campaign:
    """Create the campaign from the plan (idempotent) and snapshot the registry into it."""
    plan, registry = rt.config.plan, rt.config.registry
    return rt.store.create_campaign(
        plan.id, plan.report_year, deadline=plan.deadline, city=registry.city, registry=registry
    )


# -- outgoing mail, exactly once ------------------------------------------------------------


@dataclass(frozen=True)
class Outbound:
    """A mail with the event that records it."""

    key: str
    kind: str  # an event kind (annual_report/campaign/kinds.py): "sent.invitation", …
    department: str | None
    mail: OutgoingMail

    def __post_init__(self) -> None:
        event_kind(self.kind)  # an undeclared kind fails here, not as a raw string in the UI


@dataclass(frozen=True)
class Failure:
    """A mail that could not be sent in this run."""

    key: str
    error: str  # English, for the log
    error_zh: str  # for the coordinator
    permanent: bool = False  # a refused address: not retried until the coordinator acts


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)  # event keys
    failed: list[Failure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already sent
    uncertain: list[str] = field(default_factory=list)  # pending from a run that died: held back
    refused: list[str] = field(default_factory=list)  # refused before: waits for the coordinator
    busy: list[str] = field(default_factory=list)  # being sent by another run right now
    outage: str | None = None  # Chinese: why nothing more could be sent (server down, login)

    def merge(self, other: Delivery) -> Delivery:
        for name in ("sent", "failed", "skipped", "uncertain", "refused", "busy"):
            getattr(self, name).extend(getattr(other, name))
        self.outage = self.outage or other.outage
        return self


# -- who is sending: a pending mail of a live run is not held back --------------------------


def _start_time(pid: int) -> str:
    """The process's start time (Linux), so a reused pid is not taken for the same process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


@functools.cache
def sender_identity() -> str:
    """``host:pid:start``: recorded on every mail while it is with the SMTP server."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _sending_elsewhere(owner: object) -> bool:
    """Whether the run that left a mail pending is alive (another process on this machine).

    A pending mail of this very process is from a run that raised; of a process that is gone
    or of another machine, from a run that died: either way held back, never sent twice.
    """
    if not isinstance(owner, str) or owner == sender_identity():
        return False
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return bool(started) and _start_time(int(pid)) == started


def _is_open(rt: Runtime, key: str, *, force: bool) -> str:
    """What to do with mail ``key``: ``send``, or why not: ``done`` (sent), ``held`` (pending
    from a run that died: it may have left), ``busy`` (another run is sending it now),
    ``refused`` (refused for good; the coordinator releases it with ``resend``)."""
    event = rt.store.event(rt.campaign_id, key)
    if event is None:
        return "send"
    if event.status == "pending" and _sending_elsewhere(event.detail.get("sender")):
        return "busy"  # never sent twice, not even with force
    if force:
        return "send"
    if event.status == "done":
        return "done"
    if event.status == "failed":
        return "refused" if event.detail.get("permanent") else "send"
    return "held"


def deliver(rt: Runtime, items: Sequence[Outbound], *, force: bool = False) -> Delivery:
    """Send ``items`` over one connection, each recorded pending → done/failed around it.

    Expected outages (server unreachable, login refused) do not raise: the mails are recorded
    as failed (the next run sends them) and ``Delivery.outage`` says why, in Chinese.
    """
    delivery = Delivery()
    todo: list[Outbound] = []
    lists = {
        "done": delivery.skipped,
        "held": delivery.uncertain,
        "busy": delivery.busy,
        "refused": delivery.refused,
    }
    for item in items:
        state = _is_open(rt, item.key, force=force)
        if state == "send":
            todo.append(item)
        else:
            lists[state].append(item.key)
    if not todo:
        return delivery
    by_id = {item.mail.message_id: item for item in todo}

    def before(mail: OutgoingMail) -> None:
        item = by_id[mail.message_id]
        rt.store.begin_event(
            rt.campaign_id,
            item.key,
            kind=item.kind,
            department=item.department,
            detail={
                "message_id": mail.message_id,
                "to": list(mail.to),
                "cc": list(mail.cc),
                "subject": mail.subject,
                "sender": sender_identity(),
                "handed_at": rt.store.now().isoformat(),
            },
        )

    def after(result: SendResult) -> None:
        item = by_id[result.message_id]
        if result.attempts == 0 and not result.ok:
            before(item.mail)  # never handed to the server: record it so it is retried
        detail = {
            "message_id": result.message_id,
            "to": list(item.mail.to),
            "cc": list(item.mail.cc),
            "subject": item.mail.subject,
            "archived": result.archived,
        }
        if result.ok:
            rt.store.finish_event(rt.campaign_id, item.key, status="done", detail=detail)
            delivery.sent.append(item.key)
        else:
            error = result.error or "failed"
            error_zh = result.error_zh or "发送失败"
            detail |= {"error": error, "error_zh": error_zh, "permanent": result.permanent}
            rt.store.finish_event(rt.campaign_id, item.key, status="failed", detail=detail)
            delivery.failed.append(Failure(item.key, error, error_zh, result.permanent))

    try:
        rt.sender().send([item.mail for item in todo], before_send=before, on_result=after)
    except MailSendError as exc:
        # The sender raises only when it could not connect or log in: nothing left, so the
        # mails it was about to send are failures to retry, not uncertain.
        outage = getattr(exc, "reason_zh", None) or f"无法使用邮件服务器（{exc.message}）"
        log.warning("mail server unusable: %s", exc)
        delivery.outage = outage
        done = set(delivery.sent) | {f.key for f in delivery.failed}
        for item in todo:
            if item.key in done:
                continue
            event = rt.store.event(rt.campaign_id, item.key)
            if event is None or event.status != "pending":
                before(item.mail)
            rt.store.finish_event(
                rt.campaign_id,
                item.key,
                status="failed",
                detail={"error": str(exc), "error_zh": outage, "permanent": False},
            )
            delivery.failed.append(Failure(item.key, str(exc), outage))
    return delivery


def _mail(
    rt: Runtime,
    kind: MailKind,
    *,
    to: Iterable[str],
    department: Department | None,
    as_of: datetime,
    cc: Iterable[str] = (),
    in_reply_to: str | None = None,
    attachments: Sequence[tuple[str, bytes, str]] = (),
    **context: object,
) -> OutgoingMail:
    plan = rt.config.plan
    rendered = rt.texts.render(
        kind,
        campaign=plan.id,
        department=department or {"name": "", "code": None},
        year=plan.report_year,
        today=as_of.astimezone(plan.zone).date(),
        **context,
    )
    code = department.code if department else None
    hint = f"{plan.id}.{code or 'office'}.{kind}"
    return OutgoingMail(
        to=tuple(to),
        cc=tuple(cc),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        attachments=tuple(attachments),
        message_id=new_message_id(rt.config.mail.smtp.sender_domain, hint),
        in_reply_to=in_reply_to,
        references=(in_reply_to,) if in_reply_to else (),
        campaign=plan.id,
        department=code,
        kind=str(kind),
    )


# -- dispatch -------------------------------------------------------------------------------


def invitation(rt: Runtime, code: str, as_of: datetime, *, force: bool = False) -> Outbound | None:
    """Department ``code``'s personalised template and the mail carrying it (None: sent)."""
    key = f"invitation:{code}"
    if _is_open(rt, key, force=force) != "send":
        return None
    department = rt.config.registry[code]
    year = rt.config.plan.report_year
    path = rt.config.output_dir / "templates" / f"{code}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_department_template(rt.store, rt.config.registry, rt.campaign_id, code, path)
    name = report_filename(department.name, year)
    mail = _mail(
        rt,
        MailKind.INVITATION,
        to=[department.email],
        department=department,
        as_of=as_of,
        deadline=rt.config.plan.deadline_for(code),
        attachment_name=name,
        attachments=[(name, path.read_bytes(), XLSX)],
    )
    return Outbound(key, "sent.invitation", code, mail)


# -- collect --------------------------------------------------------------------------------


@dataclass
class Intake:
    messages: int = 0
    new_messages: int = 0
    workbooks: int = 0
    new_submissions: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # English, for the coordinator


def _thread_department(rt: Runtime, ids: Sequence[str]) -> str | None:
    """The department our mail with one of these Message-IDs went to."""
    for message_id in ids:
        for event in rt.store.events(rt.campaign_id):
            if event.detail.get("message_id") == message_id and event.department:
                return event.department
    return None


def take_message(rt: Runtime, received: Received, as_of: datetime) -> Intake:
    """Record one archived message and every file in it meant as the report (idempotent).

    The files are recorded first, each once by its content (a re-run after a crash finds them),
    then the message with what became of them: a file whose bytes were recorded before from
    another message is a duplicate, answered from the message. The files' bytes go to the
    isolated reader as they are; only the message is archived.
    """
    intake = Intake(messages=1)
    incoming, parsed = received.incoming, received.parsed
    registry = rt.store.registry(rt.campaign_id)
    when = incoming.received_at or (parsed.date if parsed else None) or as_of
    when = min(when, as_of)  # a replay at as_of cannot have received anything later
    files: tuple[Attachment, ...] = ()
    if parsed is None:
        outcome = "unparseable"
        intake.problems.append(f"message {incoming.key} cannot be parsed: {received.error}")
    elif parsed.auto:
        outcome = parsed.auto
    elif parsed.refusal is not None and not parsed.candidates:
        outcome = parsed.refusal.kind  # "too-deep", "too-large": the message as a whole
        intake.problems.append(f"message {incoming.key}: {parsed.refusal.reason}")
    else:
        files = parsed.candidates
        outcome = "workbooks" if files else "no_workbook"
    tag = parse_subject_tag(parsed.subject, [rt.campaign_id]) if parsed else None
    subject_department = tag[1] if tag and tag[0] == rt.campaign_id else None
    thread_department = _thread_department(rt, parsed.thread_ids) if parsed else None
    # Drop-folder files were put there by the coordinator: their wrapper's sender is nobody.
    sender = parsed.sender if parsed and incoming.source != "drop" else None
    sender_department = registry.by_email(sender) if sender else None
    guess = (
        subject_department
        or thread_department
        or (sender_department.code if sender_department else None)
    )
    documents_only = bool(files) and all(f.intent == "document" for f in files)
    if (outcome == "no_workbook" or documents_only) and guess and explain(rt, guess, parsed):
        outcome, files = "explanation", ()  # a 说明 (perhaps with a signed scan): recorded
    explanation = _explanation_text(parsed.reply_text) if parsed else None
    duplicates: list[dict[str, object]] = []
    for attachment in files:
        problem = attachment.problem
        got = receive_workbook(
            rt.store,
            rt.campaign_id,
            attachment.content,
            Origin(
                source=incoming.key,
                file_name=attachment.name,
                sender=sender,
                message_id=parsed.message_id if parsed else None,
                subject_department=subject_department,
                thread_department=thread_department,
                received_at=when,
                explanation=explanation,
            ),
            archived_path=received.archived.path if received.archived else None,
            failure=WorkbookError(
                problem.reason, problem.reason_zh, kind=problem.kind, file=attachment.name
            )
            if problem
            else None,
        )
        intake.workbooks += 1
        if got.duplicate:
            if got.submission.source != incoming.key:  # not this very message read again
                duplicates.append(
                    {
                        "name": attachment.name,
                        "submission": got.submission.id,
                        "department": got.submission.department,
                        "status": got.submission.status,
                        "sender": got.submission.sender,
                    }
                )
            continue
        intake.new_submissions.append(got.submission.id)
        if got.match and got.match.quarantined:
            intake.problems.append(f"{attachment.name}: quarantined: {got.match.reason}")
    refusal = parsed.refusal if parsed else None
    _message, new = rt.store.record_message(
        rt.campaign_id,
        incoming.key,
        sha256=received.sha256,
        outcome=outcome,
        archived_path=received.archived.path if received.archived else None,
        message_id=parsed.message_id if parsed else None,
        subject=parsed.subject[:500] if parsed else None,
        sender=sender,
        received_at=when,
        department=guess if guess in registry else None,
        workbooks=len(files),
        detail={
            "attachments": [a.name for a in parsed.attachments] if parsed else [],
            "workbooks": [a.name for a in files],
            "problems": list(parsed.problems)[:20] if parsed else [received.error],
            "duplicates": duplicates,
            "refusal": {"kind": refusal.kind, "reason": refusal.reason, "zh": refusal.reason_zh}
            if refusal
            else None,
            "size": incoming.size or len(incoming.raw),
            "in_our_thread": bool(subject_department or thread_department),
        },
    )
    intake.new_messages = int(new)
    return intake


EXPLANATION_CHARS = 4000  # of a reply's own words kept on the submission (the mail is archived)


def _explanation_text(reply: str) -> str | None:
    """The sender's words for the submission, said to be cut when they are."""
    text = reply.strip()
    if len(text) <= EXPLANATION_CHARS:
        return text or None
    return text[:EXPLANATION_CHARS] + f"…（来信正文共{len(text):,}字，全文见存档的原始邮件）"


def explain(rt: Runtime, code: str, parsed: ParsedMessage) -> bool:
    """A reply without a workbook answering our warnings is the department's 说明: record it
    on the submission it explains (the coordinator sees it when deciding)."""
    latest = rt.store.latest_submission(rt.campaign_id, code)
    text = _explanation_text(parsed.reply_text)
    if latest is None or latest.status != "accepted_with_warnings" or not text:
        return False
    if latest.explanation and text in latest.explanation:
        return True
    rt.store.set_explanation(latest.id, text)
    return True


def collect_mailbox(rt: Runtime, name: str, box: Mailbox, as_of: datetime) -> Intake:
    """Read one mailbox from its cursor: archive, record, then mark each message processed."""
    total = Intake()
    cursor_name = f"cursor:{name}"
    budget = rt.archive_budget
    cursor = rt.store.get_state(rt.campaign_id, cursor_name)
    for received in receive(box, rt.archive, cursor, budget=budget):
        try:
            intake = take_message(rt, received, as_of)
        except Exception as exc:  # one bad message must not stop the batch; it stays unmarked
            log.exception("message %s failed", received.incoming.key)
            total.problems.append(f"message {received.incoming.key} failed: {exc}")
            continue
        box.mark_processed(received.incoming.key)
        rt.store.set_state(rt.campaign_id, cursor_name, dict(received.incoming.cursor))
        total.messages += intake.messages
        total.new_messages += intake.new_messages
        total.workbooks += intake.workbooks
        total.new_submissions.extend(intake.new_submissions)
        total.problems.extend(intake.problems)
    if budget.stopped:
        total.problems.append(
            f"{name}: the archive may grow by {budget.limit:,} bytes per run and has; the "
            "remaining messages wait in the mailbox for the next run"
        )
    return total


# -- answers --------------------------------------------------------------------------------


def _department(rt: Runtime, code: str | None) -> Department | None:
    return rt.store.registry(rt.campaign_id).get(code) if code else None


_NOTICE_STATUS = {"quarantined": "已隔离，待协调人确认", "unreadable": "无法读取"}


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


# The greeting of a mail to a sender that is no unit (a clerk's own mailbox).
_SENDER = SimpleNamespace(name="您好", code=None)


def answer_for(rt: Runtime, sub: Submission, as_of: datetime) -> Outbound | None:
    """The mail owed for a received submission (None when none is owed)."""
    origin = sub.source.split(":")[0]
    if sub.status not in ANSWERED or origin not in ("imap", "maildir", "drop"):
        return None
    if origin == "drop" and (
        sub.status not in ("quarantined", "unreadable") or sub.department is not None
    ):
        return None  # the coordinator dropped it in; the department did not mail it
    key = answer_key(sub)
    department = _department(rt, sub.department)
    coordinator = rt.config.mail.coordinator
    common = {"as_of": as_of, "in_reply_to": sub.message_id}
    if department is None and _tell_sender(sub):
        mail = _mail(
            rt,
            MailKind.UNREADABLE,
            to=[sub.sender],  # type: ignore[list-item]
            department=_SENDER,  # type: ignore[arg-type]
            file_name=sub.file_name or "",
            reason=sub.failure_reason_zh or "",
            **common,
        )
        return Outbound(key, "answer.unreadable", None, mail)
    if sub.status == "quarantined" or department is None:
        reason = sub.match_reason_zh or sub.failure_reason_zh or "无法确定报送单位"
        suggested = _department(rt, sub.suggested_department)
        mail = _mail(
            rt,
            MailKind.COORDINATOR_NOTICE,
            to=[coordinator],
            department=None,
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
            **common,
        )
        return Outbound(key, "notice.quarantine", None, mail)
    to = [sub.sender] if sub.sender else [department.email]
    # Sent from another address than the registry's (a clerk's own mailbox, a file the
    # coordinator assigned): the department's registered mailbox gets a copy for its records.
    own = not sub.sender or _same_address(sub.sender, department.email)
    cc = [] if own else [department.email]
    context: dict[str, object] = {
        "file_name": sub.file_name or "",
        "received_at": sub.received_at.astimezone(rt.config.plan.zone),
        "deadline": rt.config.plan.deadline_for(department.code),
    }
    attachments: list[tuple[str, bytes, str]] = []
    if sub.status == "accepted":
        kind, context["version"] = MailKind.RECEIPT, sub.version
        if rt.config.plan.attach_report_to_receipt:
            # the .docx the mail names, and the same report as a page for the website
            attachments.extend(department_documents(rt, sub, department))
            context["attached_report"] = attachments[0][0]
    elif sub.status == "unreadable":
        kind, context["reason"] = MailKind.UNREADABLE, sub.failure_reason_zh or ""
    else:
        severity = "warning" if sub.status == "accepted_with_warnings" else "error"
        issues = [i for i in rt.store.issues(sub.id) if i.severity == severity]
        kind = (
            MailKind.ACCEPTED_WITH_WARNINGS
            if sub.status == "accepted_with_warnings"
            else MailKind.REJECTED
        )
        context |= issue_context(rt, issues, department, sub, attachments)
    mail = _mail(
        rt,
        kind,
        to=to,
        cc=cc,
        department=department,
        attachments=attachments,
        **common,
        **context,
    )
    return Outbound(key, f"answer.{sub.status}", department.code, mail)


def _campaign_form(rt: Runtime) -> Form:
    return _form(rt.store.campaign(rt.campaign_id).form_id)


@functools.cache
def _form(form_id: str) -> Form:
    return load_form(form_id)


def issue_context(
    rt: Runtime,
    issues: Sequence[object],
    department: Department,
    sub: Submission,
    attachments: list[tuple[str, bytes, str]],
) -> dict[str, object]:
    """Issues as a mail shows them: grouped by rule and part, cells as ranges, at most a screen
    of lines; the full list attached as a sheet when there are many (``attachments`` grows)."""
    found = digest(issues, _campaign_form(rt))
    context: dict[str, object] = {
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


def _same_address(a: str, b: str) -> bool:
    return parseaddr(a)[1].strip().lower() == parseaddr(b)[1].strip().lower()


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


HTML = "text/html"


def department_documents(
    rt: Runtime, sub: Submission, department: Department
) -> list[tuple[str, bytes, str]]:
    """The department's publishable report from its accepted submission: the .docx to edit,
    and the same as a static web page for its 政府信息公开专栏 (read from the store once)."""
    plan = rt.config.plan
    source = department_source(rt.store, rt.campaign_id, department.code, submission_id=sub.id)
    common = {
        "department_name": source.name,
        "year": source.year,
        "office": rt.config.mail.smtp.sender_name,
        "contact": rt.config.mail.contact,
        "website": plan.website,
        "site_name": plan.site_name,
        "comparison": source.comparison,  # the unit against its own last year
    }
    draft = department_report(source.report, **common)
    page = department_page(source.report, **common)
    return [
        (report_filename(department.name, plan.report_year, "docx"), draft.to_bytes(), DOCX),
        (report_filename(department.name, plan.report_year, "html"), page.encode("utf-8"), HTML),
    ]


def department_document(
    rt: Runtime, sub: Submission, department: Department
) -> tuple[str, bytes, str]:
    """The department's publishable report (.docx) from its accepted submission."""
    return department_documents(rt, sub, department)[0]


def message_answer(rt: Runtime, message: Message, as_of: datetime) -> Outbound | None:
    """The mail owed for a message as a whole (None when none is owed): no workbook in it,
    several workbooks in it, or something only the coordinator can look at."""
    several = message.outcome == "workbooks" and message.workbooks > 1
    if message.outcome not in ("no_workbook", "unparseable", "bounce") and not several:
        return None
    key = f"answer:message:{message.key}"
    department = _department(rt, message.department)
    if department is not None and message.outcome != "bounce":
        # several: each workbook got its own answer, this one says which counts
        kind, files = (
            (MailKind.SEVERAL_WORKBOOKS, "workbooks")
            if several
            else (MailKind.NO_WORKBOOK, "attachments")
        )
        mail = _mail(
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
    mail = _mail(
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


# -- what the intake owes besides the answers: held files, duplicates, refused messages ------


def held_notice(rt: Runtime, sub: Submission, as_of: datetime) -> Outbound | None:
    """The sender of a quarantined file is told it was not recorded, and why (when the sender
    is a unit or had our mail; see ``matching``)."""
    if sub.status != "quarantined" or not sub.sender or not sub.sender_notice_zh:
        return None
    mail = _mail(
        rt,
        MailKind.HELD,
        to=[sub.sender],
        department=_department(rt, _registered(rt, sub.sender)) or _SENDER,  # type: ignore[arg-type]
        as_of=as_of,
        in_reply_to=sub.message_id,
        file_name=sub.file_name or "",
        reason=sub.sender_notice_zh,
    )
    return Outbound(f"held:{sub.id}", "answer.held", None, mail)


def _registered(rt: Runtime, address: str | None) -> str | None:
    dept = rt.store.registry(rt.campaign_id).by_email(address) if address else None
    return dept.code if dept else None


def duplicate_answers(rt: Runtime, message: Message, as_of: datetime) -> list[Outbound]:
    """Files of a message whose very bytes were received before, from another message: the
    sender is told what became of them (they do not change anyone's record); when they were
    another unit's, or no unit's, the coordinator is asked too."""
    dups = message.detail.get("duplicates") or []
    if not dups:
        return []
    unit = _department(rt, message.department)
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
            }
        )
        if not own and not unreadable:
            foreign.append((dup, first))
    if sender and (unit is not None or message.detail.get("in_our_thread")):
        mail = _mail(
            rt,
            MailKind.DUPLICATE,
            to=[sender],
            department=unit or _SENDER,  # type: ignore[arg-type]
            as_of=as_of,
            in_reply_to=message.message_id,
            files=files,
        )
        out.append(Outbound(f"answer:duplicate:{message.key}", "answer.duplicate", None, mail))
    if foreign:
        lines = [f"发件人：{sender or '（未知）'}（{unit.name if unit else '不在单位名录中'}）"]
        for dup, first in foreign:
            owner = _department(rt, first.department)
            whose = owner.name if owner else "尚未确定单位"
            status = _STATUS_ZH.get(first.status, first.status)
            lines.append(
                f"文件《{dup['name']}》与第{first.id}号报送文件完全相同（{whose}，{status}），"
                "未作为新的报送登记"
            )
        lines.append(f"原始邮件已存档：{message.archived_path}")
        mail = _mail(
            rt,
            MailKind.COORDINATOR_NOTICE,
            to=[rt.config.mail.coordinator],
            department=None,
            as_of=as_of,
            in_reply_to=message.message_id,
            title="收到与已报送文件完全相同的文件",
            lines=lines,
        )
        out.append(Outbound(f"notice:duplicate:{message.key}", "notice.duplicate", None, mail))
    return out


_STATUS_ZH = {
    "accepted": "已接收",
    "accepted_with_warnings": "已接收（有警告）",
    "rejected": "已退回",
    "unreadable": "无法读取",
    "quarantined": "待协调人确认",
    "superseded": "已被新版本替代",
    "received": "已收到",
}
REFUSED_MESSAGES = ("too-deep", "too-large")


def refused_message_answers(rt: Runtime, message: Message, as_of: datetime) -> list[Outbound]:
    """A message that could not be taken apart (nested too deeply, too large to fetch): its
    sender is told, when it is a unit or had our mail; the coordinator when nobody else can be,
    and always for one left in the mailbox unfetched."""
    if message.outcome not in REFUSED_MESSAGES:
        return []
    refusal = message.detail.get("refusal") or {}
    unit = _department(rt, message.department)
    out = []
    told = message.sender and (unit is not None or message.detail.get("in_our_thread"))
    if told:
        mail = _mail(
            rt,
            MailKind.MESSAGE_PROBLEM,
            to=[message.sender],  # type: ignore[list-item]
            department=unit or _SENDER,  # type: ignore[arg-type]
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
        mail = _mail(
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


def intake_answers(rt: Runtime, as_of: datetime) -> list[Outbound]:
    """Every mail the intake owes besides the answers of ``answer_for``/``message_answer``."""
    out: list[Outbound] = []
    for sub in rt.store.submissions(rt.campaign_id):
        if sub.status == "quarantined" and owed(rt, f"held:{sub.id}"):
            item = held_notice(rt, sub, as_of)
            if item is not None:
                out.append(item)
    for message in rt.store.messages(rt.campaign_id):
        for item in [
            *duplicate_answers(rt, message, as_of),
            *refused_message_answers(rt, message, as_of),
        ]:
            if owed(rt, item.key):
                out.append(item)
    return out


def owed(rt: Runtime, key: str) -> bool:
    """Not sent yet, failed for a reason a retry may fix, or pending from a run that died
    (``deliver`` reports those to the coordinator instead of sending them)."""
    event = rt.store.event(rt.campaign_id, key)
    if event is None or event.status == "pending":
        return True
    return event.status == "failed" and not event.detail.get("permanent")


def returned_by_coordinator(rt: Runtime, sub: Submission, as_of: datetime) -> Outbound:
    """A submission accepted with warnings that the coordinator sent back from the UI."""
    department = rt.config.registry[sub.department]  # type: ignore[index]
    issues = [i for i in rt.store.issues(sub.id) if i.severity == "warning"]
    attachments: list[tuple[str, bytes, str]] = []
    context = issue_context(rt, issues, department, sub, attachments)
    mail = _mail(
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


def owed_answers(rt: Runtime, as_of: datetime) -> list[Outbound]:
    """Every answer the store says is owed and not sent yet."""
    out = []
    for sub in rt.store.submissions(rt.campaign_id):
        if owed(rt, answer_key(sub)):
            item = answer_for(rt, sub, as_of)
            if item is not None:
                out.append(item)
        if sub.status == "rejected" and sub.decided_by and owed(rt, f"returned:{sub.id}"):
            out.append(returned_by_coordinator(rt, sub, as_of))
    for message in rt.store.messages(rt.campaign_id):
        if owed(rt, f"answer:message:{message.key}"):
            item = message_answer(rt, message, as_of)
            if item is not None:
                out.append(item)
    out.extend(intake_answers(rt, as_of))
    return out


# -- reminders and escalation ---------------------------------------------------------------


def states(rt: Runtime, as_of: datetime | None = None) -> list[DepartmentState]:
    """Every department's state; with ``as_of``, days overdue and its mail that did not go."""
    plan = rt.config.plan
    codes = list(rt.store.registry(rt.campaign_id).codes)
    found = rt.store.department_states(
        rt.campaign_id,
        due=plan.deadlines(codes),
        zone=plan.zone,
        today=as_of.astimezone(plan.zone).date() if as_of else None,
    )
    if as_of is None:
        return found
    problems: dict[str, list[str]] = {}
    for item in attention(rt, found):
        if item.department and item.problem not in problems.get(item.department, []):
            problems.setdefault(item.department, []).append(item.problem)
    return [replace(s, mail_problems=tuple(problems.get(s.code, ()))) for s in found]


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


def ladder_mail(rt: Runtime, state: DepartmentState, step: Step, as_of: datetime) -> Outbound:
    department = rt.config.registry[state.code]
    plan = rt.config.plan
    deadline = plan.deadline_for(state.code)
    today = as_of.astimezone(plan.zone).date()
    if step.kind == "reminder":
        stage = "deadline" if step.name == "deadline" else "before"
        mail = _mail(
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
        mail = _mail(
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


def due_ladder(rt: Runtime, as_of: datetime) -> list[Outbound]:
    """Reminders and escalations due at ``as_of`` that were not sent yet."""
    out = []
    for state in states(rt):
        for step in due_steps(rt.config.plan, state.code, state.state, state.rejections, as_of):
            if owed(rt, step.key):
                out.append(ladder_mail(rt, state, step, as_of))
    return out


# -- consolidation --------------------------------------------------------------------------


def consolidate(rt: Runtime) -> tuple[Consolidation, Path]:
    """Merge the accepted submissions and write the city-level workbook (with its 与上年比较
    sheet from the stored history)."""
    from annual_report.history.frames import year_over_year

    result = consolidate_campaign(rt.store, rt.campaign_id)
    plan = rt.config.plan
    city = rt.config.registry.city
    path = rt.config.output_dir / f"{city}{plan.report_year}年政府信息公开工作年度报告（汇总）.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    comparison = year_over_year(
        rt.store,
        plan.report_year,
        this=result.values,
        form=result.form,
        units=len(result.included),
    )
    title = f"{city}{plan.report_year}年政府信息公开工作年度报告"
    write_consolidation(result, path, title=title, comparison=comparison)
    return result, path


def assign(rt: Runtime, submission_id: int, code: str) -> Submission:
    """The coordinator names the department of a quarantined or unmatched file; the next
    collect run answers the department. The file is read again from the archived message it
    came in."""
    return assign_submission(rt.store, submission_id, code.strip().upper(), load=archived_file)


def archived_file(sub: Submission) -> bytes:
    """A submission's file as received: taken out of its archived message again (or, for a
    file archived on its own by an older version, that file)."""
    path = Path(sub.archived_path) if sub.archived_path else None
    if path is not None and path.is_file():
        if path.suffix != ".eml":
            return path.read_bytes()
        content = find_attachment(path.read_bytes(), sub.sha256)
        if content is not None:
            return content
    raise StoreError(
        "the archived file of the submission is missing; restore it from the mail archive",
        submission=sub.id,
        path=sub.archived_path,
    )


def release_uncertain(rt: Runtime, key: str, *, delivered: bool = False) -> str:
    """The coordinator's word on mail ``key``, held back or refused.

    ``delivered=False``: the next run sends it (the coordinator checked that a held-back mail
    did not arrive, or corrected a refused address). ``delivered=True``: a held-back mail did
    arrive; it is recorded as sent and never sent again. A mail known to be sent is never
    released. Returns what was done, in Chinese.
    """
    event = rt.store.event(rt.campaign_id, key)
    if event is None:
        raise StoreError(
            f"本期（{rt.campaign_id}）没有编号为 {key} 的邮件"
            "（编号见收集情况摘要或 nianbao status）"
        )
    kind = EVENT_KINDS.get(event.kind)
    label = mail_label(kind.mail) if kind else event.kind
    if event.status == "done":
        when = event.done_at.astimezone(rt.config.plan.zone) if event.done_at else None
        raise StoreError(
            f"{key}（{label}）已于{when:%Y-%m-%d %H:%M}发出，无需处理"
            if when
            else f"{key}（{label}）已发出，无需处理"
        )
    if delivered:
        if event.status != "pending":
            reason = event.detail.get("error_zh", "发送失败")
            raise StoreError(f"{key}（{label}）没有发出（{reason}），不能记为已发出")
        rt.store.finish_event(
            rt.campaign_id, key, status="done", detail={"confirmed_by": "coordinator"}
        )
        return f"{key}（{label}）已记为发出，不会再发送"
    if _sending_elsewhere(event.detail.get("sender")) and event.status == "pending":
        raise StoreError(f"{key}（{label}）正在由另一次运行发送，请稍后再看")
    rt.store.finish_event(
        rt.campaign_id,
        key,
        status="failed",
        detail={
            "error": "released by the coordinator",
            "error_zh": "协调人已安排重发",
            "permanent": False,
            "released": True,
        },
    )
    return f"{key}（{label}）将由下一次运行发送"


# -- what the coordinator must look at ------------------------------------------------------


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


def attention(rt: Runtime, found: list[DepartmentState] | None = None) -> list[Attention]:
    """Mail that needs the coordinator or is still owed after a failure, oldest first.

    Held back: pending from a run that died (it may have left; never re-sent by itself).
    Refused: the server refused the address for good. Failed: a transient failure the next run
    retries, unless it no longer matters (a reminder to a department accepted since, or one a
    later rung of the ladder replaced).
    """
    found = found if found is not None else states(rt)
    settled = {s.code for s in found if s.state in ("accepted", "accepted_with_warnings")}
    events = rt.store.events(rt.campaign_id)
    last_ladder: dict[str, str] = {}
    for event in events:
        if event.department and effect_of(event.kind) in (Effect.REMINDS, Effect.ESCALATES):
            last_ladder[event.department] = event.key
    out = []
    for event in events:
        detail = event.detail
        if event.status == "pending":
            if _sending_elsewhere(detail.get("sender")):
                continue
            problem = "held_back"
            reason = "上次运行在把这封邮件交给邮件服务器时中断，邮件可能已发出，也可能没有"
        elif event.status == "failed" and detail.get("permanent"):
            problem, reason = "refused", detail.get("error_zh") or "邮件被拒收"
        elif event.status == "failed" and not detail.get("released"):
            ladder = effect_of(event.kind) in (Effect.REMINDS, Effect.ESCALATES)
            if ladder and (
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


def resend_command(rt: Runtime, key: str, *, delivered: bool = False) -> str:
    """The exact command for the coordinator's terminal."""
    flag = " --delivered" if delivered else ""
    return f"nianbao resend {key}{flag} --config {rt.config.config_dir} --data {rt.config.data_dir}"


def attention_notices(rt: Runtime, items: Sequence[Attention], as_of: datetime) -> list[Outbound]:
    """One mail to the coordinator per held-back or refused mail (per attempt), saying what to
    check and the exact ``resend`` to run. A failure the next run retries needs no mail."""
    out = []
    coordinator = rt.config.mail.coordinator
    zone = rt.config.plan.zone
    deployment = f"resend-{rt.campaign_id}"
    for item in items:
        notice_kind = {"held_back": "notice.held_back", "refused": "notice.refused"}.get(
            item.problem
        )
        if notice_kind is None or item.kind in ("notice.held_back", "notice.refused"):
            continue  # never a notice about a notice: a refused coordinator cannot be told
        key = f"{item.problem}:{item.key}#{item.attempts}"
        if not owed(rt, key):
            continue
        department = _department(rt, item.department)
        whose = f"（{department.name}）" if department else ""
        lines = [
            f"邮件：{item.what}{whose}",
            f"收件人：{'、'.join(item.to) or '（未知）'}",
            f"主题：{item.subject or '（未知）'}",
        ]
        since = f"{item.since.astimezone(zone):%Y-%m-%d %H:%M}" if item.since else "（未知）"
        if item.problem == "held_back":
            title = f"有一封邮件不确定是否已发出，请核实{whose}"
            lines += [
                f"开始发送：{since}",
                f"情况：{item.reason_zh}。为避免重复，系统没有重发。",
                "请核实：在发件邮箱的“已发送”中查找这个主题，或电话询问收件人是否收到。",
                f"如未收到，安排重发：在 Prefect 界面运行“{deployment}”部署（Run → Custom run，"
                f"key 填 {item.key}），或在服务器上运行 {resend_command(rt, item.key)}",
                f"如已收到，记为已发出：同一部署勾选 delivered，或运行 "
                f"{resend_command(rt, item.key, delivered=True)}",
                "处理之前，这封邮件一直列在收集情况摘要的“需要注意”和 nianbao status 中。",
            ]
        else:
            title = f"有一封邮件被拒收，请处理{whose}"
            lines += [
                f"拒收时间：{since}",
                f"原因：{item.reason_zh}",
                "请核对收件地址（单位邮箱在 departments.yaml 中），改正后安排重发："
                f"在 Prefect 界面运行“{deployment}”部署（key 填 {item.key}），"
                f"或运行 {resend_command(rt, item.key)}",
            ]
        mail = _mail(
            rt,
            MailKind.COORDINATOR_NOTICE,
            to=[coordinator],
            department=None,
            as_of=as_of,
            title=title,
            lines=lines,
        )
        out.append(Outbound(key, notice_kind, None, mail))
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


def done_count(rt: Runtime, keys: Iterable[str]) -> int:
    """How many of the mails ``keys`` were sent."""
    return sum(rt.store.event_done(rt.campaign_id, key) for key in keys)
