"""What the store holds, as plain records: a campaign, a received file, its values and issues,
a message taken from a mailbox, a step the flows took.

Every store implementation returns these and nothing else (no database rows, no cursors), so the
code above the store never learns which database it talks to. Each record is a frozen dataclass
whose fields are the columns of its table; :mod:`annual_report.store.rows` maps them both ways
with one set of converters. A field that is not a column (set by the store on the way out)
is declared with :func:`~annual_report.store.rows.transient`.

The departments of a campaign are the registry's own :class:`~annual_report.campaign.registry.
Department` (a snapshot of ``departments.yaml``); a department's state is derived from these
records by :mod:`annual_report.campaign.states`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from annual_report.store.rows import transient

SubmissionStatus = Literal[
    "received",
    "rejected",
    "accepted_with_warnings",
    "accepted",
    "unreadable",
    "quarantined",
    "superseded",
]
SUBMISSION_STATUSES: tuple[str, ...] = (
    "received",
    "rejected",
    "accepted_with_warnings",
    "accepted",
    "unreadable",
    "quarantined",
    "superseded",
)
ACCEPTED: tuple[str, ...] = ("accepted", "accepted_with_warnings")
# What counts against a department in escalations and its state (已退回).
REJECTED: tuple[str, ...] = ("rejected", "unreadable")
# A newer version replaces these; rejected and unreadable versions stay as they were (history).
SUPERSEDABLE: tuple[str, ...] = ("received", "accepted", "accepted_with_warnings")
# Files no department owns yet wait for the coordinator in these states.
UNASSIGNED: tuple[str, ...] = ("quarantined", "unreadable")
EventStatus = Literal["pending", "done", "failed"]
EVENT_STATUSES: tuple[str, ...] = ("pending", "done", "failed")


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    report_year: int
    form_id: str
    deadline: date | None
    secret: str  # keys the departments' tokens (HMAC); never shown
    city: str | None
    created_at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class Submission:
    """One received file, one version of a department's report (or a file no one owns yet)."""

    id: int
    campaign: str
    department: str | None
    version: int | None
    sha256: str  # the file's content hash: the same file twice is one submission
    file_name: str | None
    archived_path: str | None
    received_at: datetime
    source: str
    message_id: str | None
    sender: str | None
    form_id: str | None
    report_year: int | None
    method: str | None
    status: str
    error_count: int
    warning_count: int
    failure_kind: str | None
    failure_reason: str | None
    failure_reason_zh: str | None
    explanation: str | None
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    match_reason: str | None = None  # why it was quarantined (English, for operators)
    match_reason_zh: str | None = None  # the same for the coordinator's notice
    suggested_department: str | None = None  # whose it probably is (quarantined files)
    sender_notice_zh: str | None = None  # what its sender is told when it is not theirs
    missing: tuple[str, ...] = ()  # sections the reader did not find in the file
    new: bool = transient(False)  # true only on the call that created it


@dataclass(frozen=True, slots=True)
class StoredValue:
    """One cell of a submission as read (narrative sections too, under ``narrative.*``)."""

    submission_id: int
    code: str
    value: Decimal | None  # exact: stored as decimal text
    raw: str | None
    cell: str | None
    notes: tuple[str, ...] = ()
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class StoredIssue:
    submission_id: int
    seq: int
    rule: str
    severity: str
    codes: tuple[str, ...]
    cells: tuple[str, ...]
    message: str


@dataclass(frozen=True, slots=True)
class Event:
    """A step the flows take (a mail sent, a reminder, an escalation), recorded before and after:
    ``key`` is its natural key (``invitation:RSJ``), so a re-run finds it."""

    campaign: str
    key: str
    kind: str
    department: str | None
    status: str
    detail: dict[str, Any]
    attempts: int
    created_at: datetime
    done_at: datetime | None
    previous_status: str | None = transient(None)  # on begin_event: None when new, else found
    begun: bool = transient(True)  # on begin_event: False when another run began it first


@dataclass(frozen=True, slots=True)
class Step:
    """An event as a department's state reads it: what was done to which unit, and when. A
    campaign of thousands of units has tens of thousands of events; deriving the states needs
    none of their details (each a decoded JSON object)."""

    kind: str
    department: str | None
    status: str
    created_at: datetime
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class Message:
    """A message taken from a mailbox (archived before it was parsed) and what it held."""

    campaign: str
    key: str
    sha256: str
    archived_path: str | None
    message_id: str | None
    subject: str | None
    sender: str | None
    received_at: datetime
    outcome: str  # "workbooks", "no_workbook", "unparseable", "auto_reply"
    department: str | None
    workbooks: int
    detail: dict[str, Any]


__all__ = [
    "ACCEPTED",
    "EVENT_STATUSES",
    "REJECTED",
    "SUBMISSION_STATUSES",
    "SUPERSEDABLE",
    "UNASSIGNED",
    "Campaign",
    "Event",
    "EventStatus",
    "Message",
    "StoredIssue",
    "StoredValue",
    "Submission",
    "SubmissionStatus",
]
