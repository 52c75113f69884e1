"""Taking in what arrives: each message of a mailbox archived, recorded, its files received;
a reply without a file recorded as the department's 说明; a file of no known unit given its
department by the coordinator."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from annual_report.campaign.kinds import STATE_LABELS
from annual_report.campaign.registry import Registry
from annual_report.campaign.submission import Origin, assign_submission, receive_workbook
from annual_report.errors import StoreError, WorkbookError
from annual_report.store.records import Submission
from connectors.attachments import Attachment, ParsedMessage, find_attachment
from connectors.mailbox import Mailbox, Received, receive
from connectors.mailtext import parse_subject_tag
from office.runtime import Runtime
from office.status import SUBMISSION_LABELS

log = logging.getLogger(__name__)

EXPLANATION_CHARS = 4000  # of a reply's own words kept on the submission (the mail is archived)
# The mailbox cursor is saved every this many messages (and at the end), not after each: a
# Maildir's grows with the mailbox. A run that dies in between reads those messages again,
# and taking a message is idempotent (the store knows its key and its files' hashes).
CURSOR_EVERY = 100
THREAD_IDS = 50  # Message-IDs of a reply looked up, nearest first (a hostile References is long)


@dataclass
class Intake:
    messages: int = 0
    new_messages: int = 0
    workbooks: int = 0
    new_submissions: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # English, for the coordinator


def read_mailbox(rt: Runtime, name: str, as_of: datetime) -> Intake:
    """Read the runtime's mailbox ``name`` (see :func:`collect_mailbox`), then close it."""
    box = rt.mailboxes[name]
    try:
        return collect_mailbox(rt, name, box, as_of)
    finally:
        close = getattr(box, "close", None)
        if close is not None:
            close()


def collect_mailbox(rt: Runtime, name: str, box: Mailbox, as_of: datetime) -> Intake:
    """Read one mailbox from its cursor: archive, record, then mark each message processed;
    the cursor is saved every :data:`CURSOR_EVERY` messages and when the reading ends."""
    total = Intake()
    cursor_name = f"cursor:{name}"
    budget = rt.archive_budget
    cursor = rt.store.get_state(rt.campaign_id, cursor_name)
    unsaved = None  # the cursor after the last message taken, not yet saved
    taken = 0
    try:
        for received in receive(box, rt.archive, cursor, budget=budget):
            try:
                intake = take_message(rt, received, as_of)
            except Exception as exc:  # one bad message must not stop the batch; stays unmarked
                log.exception("message %s failed", received.incoming.key)
                total.problems.append(f"message {received.incoming.key} failed: {exc}")
                continue
            box.mark_processed(received.incoming.key)
            unsaved, taken = received.incoming.cursor, taken + 1
            if taken % CURSOR_EVERY == 0:
                rt.store.set_state(rt.campaign_id, cursor_name, dict(unsaved))
                unsaved = None
            total.messages += intake.messages
            total.new_messages += intake.new_messages
            total.workbooks += intake.workbooks
            total.new_submissions.extend(intake.new_submissions)
            total.problems.extend(intake.problems)
    finally:  # also when the mailbox fails midway: what was taken is not read again
        if unsaved is not None:
            rt.store.set_state(rt.campaign_id, cursor_name, dict(unsaved))
    if budget.stopped:
        total.problems.append(
            f"{name}: the archive may grow by {budget.limit:,} bytes per run and has; the "
            "remaining messages wait in the mailbox for the next run"
        )
    return total


@dataclass(frozen=True)
class _Clues:
    """Whose a message may be: the department named in our subject tag, the one our mail in
    its thread went to, and the sender's (nobody's for a drop-folder file)."""

    subject: str | None
    thread: str | None
    sender: str | None  # the address, None for the drop folder
    guess: str | None  # the first of subject, thread, the sender's registered unit


def take_message(rt: Runtime, received: Received, as_of: datetime) -> Intake:
    """Record one archived message and every file in it meant as the report (idempotent).

    The files are recorded first, each once by its content (a re-run after a crash finds them),
    then the message with what became of them: a file whose bytes were recorded before from
    another message is a duplicate, answered from the message. The files' bytes go to the
    isolated reader as they are; only the message is archived.
    """
    intake = Intake(messages=1)
    incoming, parsed = received.incoming, received.parsed
    when = incoming.received_at or (parsed.date if parsed else None) or as_of
    when = min(when, as_of)  # a replay at as_of cannot have received anything later
    outcome, files, problem = _what_came(received)
    if problem:
        intake.problems.append(problem)
    registry = rt.store.registry(rt.campaign_id)
    clues = _clues(rt, received, registry)
    documents_only = bool(files) and all(f.intent == "document" for f in files)
    reply = outcome == "no_workbook" or documents_only
    if reply and parsed is not None and clues.guess and explain(rt, clues.guess, parsed):
        outcome, files = "explanation", ()  # a 说明 (perhaps with a signed scan): recorded
    duplicates = _receive_files(rt, received, files, clues, when, intake)
    _message, new = rt.store.record_message(
        rt.campaign_id,
        incoming.key,
        sha256=received.sha256,
        outcome=outcome,
        archived_path=received.archived.path if received.archived else None,
        message_id=parsed.message_id if parsed else None,
        subject=parsed.subject[:500] if parsed else None,
        sender=clues.sender,
        received_at=when,
        department=clues.guess if clues.guess in registry else None,
        workbooks=len(files),
        detail=_message_detail(received, files, duplicates, clues),
    )
    intake.new_messages = int(new)
    return intake


def _what_came(received: Received) -> tuple[str, tuple[Attachment, ...], str | None]:
    """The message's outcome, the files in it meant as the report, and a problem for the
    coordinator (English) when it cannot be taken apart."""
    incoming, parsed = received.incoming, received.parsed
    if parsed is None:
        return "unparseable", (), f"message {incoming.key} cannot be parsed: {received.error}"
    if parsed.auto:
        return parsed.auto, (), None
    if parsed.refusal is not None and not parsed.candidates:
        # "too-deep", "too-large": the message as a whole
        return parsed.refusal.kind, (), f"message {incoming.key}: {parsed.refusal.reason}"
    files = parsed.candidates
    return ("workbooks" if files else "no_workbook"), files, None


def _clues(rt: Runtime, received: Received, registry: Registry) -> _Clues:
    parsed = received.parsed
    if parsed is None:
        return _Clues(None, None, None, None)
    tag = parse_subject_tag(parsed.subject, [rt.campaign_id])
    subject = tag[1] if tag and tag[0] == rt.campaign_id else None
    thread = _thread_department(rt, parsed.thread_ids)
    # Drop-folder files were put there by the coordinator: their wrapper's sender is nobody.
    sender = parsed.sender if received.incoming.source != "drop" else None
    registered = registry.by_email(sender) if sender else None
    guess = subject or thread or (registered.code if registered else None)
    return _Clues(subject, thread, sender, guess)


def _thread_department(rt: Runtime, ids: Sequence[str]) -> str | None:
    """The department our mail with one of these Message-IDs went to."""
    for message_id in ids[:THREAD_IDS]:
        event = rt.store.event_by_message_id(rt.campaign_id, message_id)
        if event is not None and event.department:
            return event.department
    return None


def _receive_files(
    rt: Runtime,
    received: Received,
    files: Sequence[Attachment],
    clues: _Clues,
    when: datetime,
    intake: Intake,
) -> list[dict[str, object]]:
    """Receive each file (``intake`` counts them); returns the files received before from
    another message."""
    incoming, parsed = received.incoming, received.parsed
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
                sender=clues.sender,
                message_id=parsed.message_id if parsed else None,
                subject_department=clues.subject,
                thread_department=clues.thread,
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
                        # an office's report in new bytes: the same figures, not the same file
                        "same_content": got.same_content,
                    }
                )
            continue
        intake.new_submissions.append(got.submission.id)
        if got.match and got.match.quarantined:
            intake.problems.append(f"{attachment.name}: quarantined: {got.match.reason}")
    return duplicates


def _message_detail(
    received: Received,
    files: Sequence[Attachment],
    duplicates: list[dict[str, object]],
    clues: _Clues,
) -> dict[str, object]:
    """What the store keeps of a message besides its columns (the answers read it)."""
    incoming, parsed = received.incoming, received.parsed
    refusal = parsed.refusal if parsed else None
    return {
        "attachments": [a.name for a in parsed.attachments] if parsed else [],
        "workbooks": [a.name for a in files],
        "problems": list(parsed.problems)[:20] if parsed else [received.error],
        "duplicates": duplicates,
        "refusal": {"kind": refusal.kind, "reason": refusal.reason, "zh": refusal.reason_zh}
        if refusal
        else None,
        "size": incoming.size or len(incoming.raw),
        "in_our_thread": bool(clues.subject or clues.thread),
    }


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


# -- a file of no known unit: the coordinator names its department ---------------------------


def assign(rt: Runtime, submission_id: int, code: str) -> Submission:
    """The coordinator names the department of a quarantined or unmatched file; the next
    collect run answers the department. The file is read again from the archived message it
    came in."""
    return assign_submission(rt.store, submission_id, code.strip().upper(), load=archived_file)


def assigned_zh(rt: Runtime, sub: Submission) -> str:
    """What the coordinator's assignment did, in Chinese."""
    dept = rt.config.registry.get(sub.department)
    name = f"{dept.name}（{sub.department}）" if dept else sub.department
    label = STATE_LABELS.get(sub.status) or SUBMISSION_LABELS.get(sub.status, sub.status)
    return (
        f"第{sub.id}号文件已指定给{name}，为该单位第{sub.version}版，核对结果：{label}；"
        "下次收集时回复该单位"
    )


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
