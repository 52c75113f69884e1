"""The names ``office.operations`` had before it was split by noun (issue 11), re-exported so
branches written against it still import. New code imports from the modules themselves; this
module goes once nothing uses it."""

from office.answers import (
    ANSWERED,
    answer_for,
    answer_key,
    department_document,
    department_documents,
    issue_context,
    message_answer,
    owed_answers,
    returned_by_coordinator,
)
from office.attention import Attention, attention, attention_notices, tell_coordinator
from office.campaign import open_campaign
from office.compose import DOCX, HTML, XLSX
from office.consolidation import consolidate
from office.delivery import (
    Delivery,
    Failure,
    Outbound,
    deliver,
    done_count,
    owed,
    release_uncertain,
    resend_command,
    sender_identity,
)
from office.dispatch import invitation
from office.intake import (
    EXPLANATION_CHARS,
    Intake,
    archived_file,
    assign,
    collect_mailbox,
    explain,
    take_message,
)
from office.ladder import due_ladder, ladder_mail, progress_zh
from office.notices import (
    REFUSED_MESSAGES,
    duplicate_answers,
    held_notice,
    intake_answers,
    refused_message_answers,
)
from office.runtime import Runtime
from office.status import states

__all__ = [
    "ANSWERED",
    "DOCX",
    "EXPLANATION_CHARS",
    "HTML",
    "REFUSED_MESSAGES",
    "XLSX",
    "Attention",
    "Delivery",
    "Failure",
    "Intake",
    "Outbound",
    "Runtime",
    "answer_for",
    "answer_key",
    "archived_file",
    "assign",
    "attention",
    "attention_notices",
    "collect_mailbox",
    "consolidate",
    "deliver",
    "department_document",
    "department_documents",
    "done_count",
    "due_ladder",
    "duplicate_answers",
    "explain",
    "held_notice",
    "intake_answers",
    "invitation",
    "issue_context",
    "ladder_mail",
    "message_answer",
    "open_campaign",
    "owed",
    "owed_answers",
    "progress_zh",
    "refused_message_answers",
    "release_uncertain",
    "resend_command",
    "returned_by_coordinator",
    "sender_identity",
    "states",
    "take_message",
    "tell_coordinator",
]
