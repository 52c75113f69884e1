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

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

from annual_report.campaign import write_department_template
from annual_report.consolidation import Consolidation, consolidate_campaign, write_consolidation
from annual_report.document import department_report, department_source
from annual_report.errors import MailSendError, StoreError
from annual_report.plan import Step, due_steps
from annual_report.registry import Department
from annual_report.store import (
    STATE_LABELS,
    Campaign,
    DepartmentState,
    Message,
    Store,
    Submission,
)
from annual_report.submission import Origin, assign_submission, receive_workbook
from annual_report.webpage import department_page
from connectors.archive import MessageArchive
from connectors.attachments import ParsedMessage
from connectors.mailbox import DropFolder, ImapMailbox, Mailbox, MaildirMailbox, Received, receive
from connectors.mailtext import MailKind, MailTexts, parse_subject_tag, report_filename
from connectors.outgoing import MailSender, OutgoingMail, SendResult, SmtpSender, new_message_id

from .settings import AppConfig

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
    kind: str  # event kind: "sent.invitation", "answer.rejected", "reminder.before", …
    department: str | None
    mail: OutgoingMail


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)  # event keys
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)
    skipped: list[str] = field(default_factory=list)  # already sent
    uncertain: list[str] = field(default_factory=list)  # pending from a crashed run

    def merge(self, other: Delivery) -> Delivery:
        for name in ("sent", "failed", "skipped", "uncertain"):
            getattr(self, name).extend(getattr(other, name))
        return self


def _is_open(rt: Runtime, key: str, *, force: bool) -> bool | None:
    """True: send; False: already done; None: uncertain (pending) or permanently failed."""
    event = rt.store.event(rt.campaign_id, key)
    if event is None or force:
        return True
    if event.status == "done":
        return False
    if event.status == "failed" and not event.detail.get("permanent"):
        return True  # a transient failure: try again
    return None


def deliver(rt: Runtime, items: Sequence[Outbound], *, force: bool = False) -> Delivery:
    """Send ``items`` over one connection, each recorded pending → done/failed around it."""
    delivery = Delivery()
    todo: list[Outbound] = []
    for item in items:
        state = _is_open(rt, item.key, force=force)
        if state is True:
            todo.append(item)
        elif state is False:
            delivery.skipped.append(item.key)
        else:
            delivery.uncertain.append(item.key)
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
            detail |= {"error": result.error, "permanent": result.permanent}
            rt.store.finish_event(rt.campaign_id, item.key, status="failed", detail=detail)
            delivery.failed.append((item.key, result.error or "failed"))

    try:
        rt.sender().send([item.mail for item in todo], before_send=before, on_result=after)
    except MailSendError as exc:
        # The sender raises only when it could not connect or log in: nothing left, so the
        # mails it was about to send are failures to retry, not uncertain.
        done = set(delivery.sent) | {key for key, _ in delivery.failed}
        for item in todo:
            event = rt.store.event(rt.campaign_id, item.key)
            if item.key not in done and event is not None and event.status == "pending":
                rt.store.finish_event(
                    rt.campaign_id, item.key, status="failed", detail={"error": str(exc)}
                )
        raise
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
    if _is_open(rt, key, force=force) is not True:
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
    """Record one archived message and every workbook in it (idempotent)."""
    intake = Intake(messages=1)
    incoming, parsed = received.incoming, received.parsed
    registry = rt.store.registry(rt.campaign_id)
    when = incoming.received_at or (parsed.date if parsed else None) or as_of
    when = min(when, as_of)  # a replay at as_of cannot have received anything later
    if parsed is None:
        outcome = "unparseable"
        intake.problems.append(f"message {incoming.key} cannot be parsed: {received.error}")
    elif parsed.auto:
        outcome = parsed.auto
    elif parsed.workbooks:
        outcome = "workbooks"
    else:
        outcome = "no_workbook"
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
    if outcome == "no_workbook" and guess and explain(rt, guess, parsed):
        outcome = "explanation"
    _message, new = rt.store.record_message(
        rt.campaign_id,
        incoming.key,
        sha256=received.archived.sha256,
        outcome=outcome,
        archived_path=received.archived.path,
        message_id=parsed.message_id if parsed else None,
        subject=parsed.subject if parsed else None,
        sender=sender,
        received_at=when,
        department=guess if guess in registry else None,
        workbooks=len(parsed.workbooks) if parsed else 0,
        detail={
            "attachments": [a.name for a in parsed.attachments] if parsed else [],
            "workbooks": [a.name for a in parsed.workbooks] if parsed else [],
            "problems": list(parsed.problems) if parsed else [received.error],
        },
    )
    intake.new_messages = int(new)
    if parsed is None or outcome != "workbooks":
        return intake
    explanation = parsed.reply_text.strip()[:4000] or None
    for attachment in parsed.workbooks:
        stored = rt.archive.store_attachment(attachment.content, attachment.extension)
        got = receive_workbook(
            rt.store,
            rt.campaign_id,
            stored.path,
            Origin(
                source=incoming.key,
                file_name=attachment.name,
                sender=sender,
                message_id=parsed.message_id,
                subject_department=subject_department,
                thread_department=thread_department,
                received_at=when,
                explanation=explanation,
            ),
        )
        intake.workbooks += 1
        if not got.duplicate:
            intake.new_submissions.append(got.submission.id)
        if got.match and got.match.quarantined:
            intake.problems.append(f"{attachment.name}: quarantined: {got.match.reason}")
    return intake


def explain(rt: Runtime, code: str, parsed: ParsedMessage) -> bool:
    """A reply without a workbook answering our warnings is the department's 说明: record it
    on the submission it explains (the coordinator sees it when deciding)."""
    latest = rt.store.latest_submission(rt.campaign_id, code)
    text = parsed.reply_text.strip()
    if latest is None or latest.status != "accepted_with_warnings" or not text:
        return False
    if latest.explanation and text in latest.explanation:
        return True
    rt.store.set_explanation(latest.id, text[:4000])
    return True


def collect_mailbox(rt: Runtime, name: str, box: Mailbox, as_of: datetime) -> Intake:
    """Read one mailbox from its cursor: archive, record, then mark each message processed."""
    total = Intake()
    cursor_name = f"cursor:{name}"
    for received in receive(box, rt.archive, rt.store.get_state(rt.campaign_id, cursor_name)):
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
    return total


# -- answers --------------------------------------------------------------------------------


def _department(rt: Runtime, code: str | None) -> Department | None:
    return rt.store.registry(rt.campaign_id).get(code) if code else None


_NOTICE_STATUS = {"quarantined": "已隔离，待协调人确认", "unreadable": "无法读取"}


def answer_key(sub: Submission) -> str:
    """Quarantined files get a notice to the coordinator; once assigned, the department its
    answer: two keys, so assigning by hand still answers the department."""
    if sub.status == "quarantined" or sub.department is None:
        return f"notice:{sub.id}"
    return f"answer:{sub.id}"


def answer_for(rt: Runtime, sub: Submission, as_of: datetime) -> Outbound | None:
    """The mail owed for a received submission (None when none is owed)."""
    origin = sub.source.split(":")[0]
    if sub.status not in ANSWERED or origin not in ("imap", "maildir", "drop"):
        return None
    if origin == "drop" and sub.status != "quarantined":
        return None  # the coordinator dropped it in; the department did not mail it
    key = answer_key(sub)
    department = _department(rt, sub.department)
    coordinator = rt.config.mail.coordinator
    common = {"as_of": as_of, "in_reply_to": sub.message_id}
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
        context["issues"] = issues
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
        issues=issues,
        note=sub.decision_note or "",
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
    return out


# -- reminders and escalation ---------------------------------------------------------------


def states(rt: Runtime) -> list[DepartmentState]:
    codes = list(rt.store.registry(rt.campaign_id).codes)
    return rt.store.department_states(rt.campaign_id, due=rt.config.plan.deadlines(codes))


def ladder_mail(rt: Runtime, state: DepartmentState, step: Step, as_of: datetime) -> Outbound:
    department = rt.config.registry[state.code]
    plan = rt.config.plan
    deadline = plan.deadline_for(state.code)
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
            days_left=(deadline - as_of.astimezone(plan.zone).date()).days,
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
            days_overdue=max(0, (as_of.astimezone(plan.zone).date() - deadline).days),
            rejections=state.rejections,
            state_label=STATE_LABELS[state.state],
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
    from annual_report.history import year_over_year

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
    collect run answers the department."""
    return assign_submission(rt.store, submission_id, code.strip().upper())


def release_uncertain(rt: Runtime, key: str) -> None:
    """Let the next run send mail ``key``, which a crash left uncertain: the coordinator has
    checked that it did not arrive. A mail known to be sent is never released."""
    event = rt.store.event(rt.campaign_id, key)
    if event is None:
        raise StoreError(f"no mail {key!r} in campaign {rt.campaign_id}")
    if event.status == "done":
        raise StoreError(f"{key} was sent on {event.done_at}: use the mail's own resend")
    rt.store.finish_event(
        rt.campaign_id, key, status="failed", detail={"error": "reset by the coordinator"}
    )
