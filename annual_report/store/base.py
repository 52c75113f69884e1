"""The store interface: what the use cases, the documents and the history read and write.

:class:`Store` is the one type the rest of the code depends on; :mod:`annual_report.store.
sqlite` is its implementation today (open one with :func:`annual_report.store.open_store`). A
store on another database is a new subclass that provides the abstract methods below, each
with the contract written on it, and passes ``tests/test_store_contract.py`` (the suite is
parametrised over implementations). What every implementation shares — the department
tokens, the registry cache, the records a received file becomes, the reports rebuilt from
stored values — is written once here, over the abstract methods.

The contracts every implementation keeps:

- **Records out.** Methods return the records of :mod:`annual_report.store.records` (and the
  registry's ``Department``), never database rows; ``Decimal`` values exact, times aware (UTC).
- **Idempotent by natural keys.** A campaign by its id, a submission by its file's content hash
  within a campaign, an event by its key, a message by its mailbox key: recording one twice
  returns the first (``Submission.new``, ``record_message``'s flag say which call created it).
- **Atomic writes.** Each write method is one transaction: a submission with its values and
  issues and its version number, or nothing; the versions of a department never collide, even
  when many threads or processes write at once.
- **Threads.** One store object may be used from many threads at once (Prefect runs tasks in
  worker threads); it pickles as what it needs to reopen (Prefect hashes task arguments).
- **Bounded per message.** What the intake of one message asks (a unit's token, its history, an
  event by Message-ID, the other units' fees) is one bounded query or a cached snapshot, not a
  scan that grows with the number of units.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from annual_report.campaign.registry import Department, Registry
from annual_report.errors import StoreError, WorkbookError
from annual_report.form.model import form_for_year, load_form
from annual_report.report import Entry, EntryPool, Report
from annual_report.store.records import (
    REJECTED,
    SUBMISSION_STATUSES,
    Campaign,
    Event,
    EventStatus,
    Message,
    Step,
    StoredIssue,
    StoredValue,
    Submission,
    SubmissionStatus,
)

if TYPE_CHECKING:
    from annual_report.campaign.matching import Match
    from annual_report.validation import Validation
    from annual_report.workbook.breakdown import Leaf

NARRATIVE = "narrative."  # narrative sections are stored under these codes, as text only


def utc_now() -> datetime:
    return datetime.now(UTC)


def content_hash(data: bytes) -> str:
    """The SHA-256 hex digest identifying a submitted file."""
    return hashlib.sha256(data).hexdigest()


def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def department_token(secret: str, campaign_id: str, code: str) -> str:
    """The per-department token written into its template: an HMAC of the campaign secret."""
    message = f"{campaign_id}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:16]


def campaign_secret() -> str:
    return secrets.token_hex(32)


def campaign_form(report_year: int, form_id: str | None) -> str:
    """The form of a new campaign (the year's, unless named); an unknown form fails here."""
    form_id = form_id or form_for_year(report_year).id
    load_form(form_id)
    return form_id


def status_of(validation: Validation | None) -> SubmissionStatus:
    """errors → rejected, warnings → accepted_with_warnings, else accepted (received: none)."""
    if validation is None:
        return "received"
    if validation.errors:
        return "rejected"
    return "accepted_with_warnings" if validation.warnings else "accepted"


def issue_records(submission_id: int, validation: Validation) -> list[StoredIssue]:
    return [
        StoredIssue(
            submission_id=submission_id,
            seq=seq,
            rule=issue.rule,
            severity=issue.severity,
            codes=tuple(issue.codes),
            cells=tuple(issue.cells),
            message=issue.message,
        )
        for seq, issue in enumerate(validation.issues, 1)
    ]


def value_records(submission_id: int, report: Report) -> list[StoredValue]:
    """The report's cells, then its narrative sections (text only, under their codes)."""
    values = [
        StoredValue(
            submission_id=submission_id,
            code=code,
            value=entry.value,
            raw=entry.raw,
            cell=entry.cell,
            notes=tuple(entry.notes),
            problem=entry.problem,
        )
        for code, entry in report.entries.items()
    ]
    values += [
        StoredValue(submission_id=submission_id, code=code, value=None, raw=text, cell=None)
        for code, text in report.narrative.items()
    ]
    return values


@dataclass(frozen=True)
class NewSubmission:
    """What :meth:`Store.record_submission` stores: the submission (``id`` and ``version``
    are the store's to assign), its values and its issues (``submission_id`` likewise)."""

    submission: Submission
    values: list[StoredValue]
    issues: list[StoredIssue]


def new_submission(
    campaign_id: str,
    *,
    sha256: str,
    source: str,
    department: str | None,
    validation: Validation | None,
    failure: WorkbookError | str | None,
    status: SubmissionStatus | None,
    file_name: str | None,
    archived_path: str | Path | None,
    received_at: datetime,
    message_id: str | None,
    sender: str | None,
    explanation: str | None,
    match: Match | None,
    sender_notice_zh: str | None,
) -> NewSubmission:
    """The records a received file becomes: its status follows the validation (errors →
    rejected, warnings → accepted_with_warnings, else accepted) or the failure (unreadable)
    unless ``status`` says otherwise."""
    if status is not None and status not in SUBMISSION_STATUSES:
        raise StoreError(f"unknown submission status {status!r}")
    report = validation.report if validation is not None else None
    if status is None:
        status = "unreadable" if failure is not None else status_of(validation)
    held = match if match is not None and match.quarantined else None
    submission = Submission(
        id=0,
        campaign=campaign_id,
        department=department,
        version=None,
        sha256=sha256,
        file_name=file_name,
        archived_path=str(archived_path) if archived_path is not None else None,
        received_at=received_at,
        source=source,
        message_id=message_id,
        sender=sender,
        form_id=report.form.id if report else None,
        report_year=report.year if report else None,
        method=report.method if report else None,
        status=status,
        error_count=len(validation.errors) if validation else 0,
        warning_count=len(validation.warnings) if validation else 0,
        failure_kind=failure.kind if isinstance(failure, WorkbookError) else None,
        failure_reason=failure.message if isinstance(failure, WorkbookError) else failure,
        failure_reason_zh=failure.reason_zh if isinstance(failure, WorkbookError) else None,
        explanation=explanation,
        decided_by=None,
        decided_at=None,
        decision_note=None,
        match_reason=held.reason if held else None,
        match_reason_zh=held.reason_zh if held else None,
        suggested_department=held.department if held else None,
        sender_notice_zh=sender_notice_zh,
        missing=tuple(report.missing) if report else (),
    )
    return NewSubmission(
        submission,
        value_records(0, report) if report is not None else [],
        issue_records(0, validation) if validation is not None else [],
    )


class Store(ABC):
    """The state database of one office: campaigns, their department snapshots, every received
    file with its values and issues, every message taken from a mailbox, every step taken."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or utc_now
        # campaign → (snapshot stamp, registry / token → code): rebuilt when the stamp changes
        self._registries: dict[str, tuple[str, Registry]] = {}
        self._tokens: dict[str, tuple[str, dict[str, str]]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    @abstractmethod
    def close(self) -> None:
        """Release every connection (from any thread); the store refuses use afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        """The store's clock: the moment a replay stands for, else the current time."""
        return self._clock()

    # -- campaigns ---------------------------------------------------------------------------

    @abstractmethod
    def create_campaign(
        self,
        campaign_id: str,
        report_year: int,
        *,
        deadline: date | None = None,
        form_id: str | None = None,
        city: str | None = None,
        registry: Registry | None = None,
        at: datetime | None = None,
    ) -> Campaign:
        """Create the campaign, or return it when it exists (updating deadline and city if given).

        A new campaign gets the year's form unless ``form_id`` names one
        (:func:`campaign_form`) and a fresh secret (:func:`campaign_secret`). A different
        report year or form for an existing id is a :class:`StoreError`. With ``registry``
        the department snapshot is refreshed in the same transaction
        (:meth:`snapshot_departments`); the city defaults to the registry's.
        """

    def ensure_campaign(self, campaign_id: str, report_year: int, **kwargs: Any) -> str:
        """:meth:`create_campaign`, returning only the id."""
        return self.create_campaign(campaign_id, report_year, **kwargs).id

    @abstractmethod
    def campaign(self, campaign_id: str) -> Campaign:
        """The campaign; :class:`StoreError` when there is none."""

    @abstractmethod
    def campaigns(self) -> list[Campaign]:
        """Every campaign, by id."""

    @abstractmethod
    def set_campaign_status(self, campaign_id: str, status: str) -> None:
        """:class:`StoreError` when there is no such campaign."""

    # -- departments -------------------------------------------------------------------------

    @abstractmethod
    def snapshot_departments(self, campaign_id: str, registry: Registry) -> None:
        """Record the registry as it is for this campaign (upsert on the department code);
        units no longer listed stay, inactive. Changes :meth:`snapshot_stamp`."""

    @abstractmethod
    def departments(self, campaign_id: str, *, active_only: bool = True) -> list[Department]:
        """The campaign's department snapshot, in the order units were first recorded."""

    @abstractmethod
    def snapshot_stamp(self, campaign_id: str) -> str | None:
        """A short text that changes whenever the snapshot or the campaign's city changes,
        seen by every process using the same database (``None``: not known, do not cache).
        Read on every :meth:`registry` call: one small lookup."""

    def registry(self, campaign_id: str) -> Registry:
        """The campaign's active departments as a :class:`Registry` (for matching, the
        merger, the answers): built once per snapshot, then served from memory."""
        stamp = self.snapshot_stamp(campaign_id)
        cached = self._registries.get(campaign_id)
        if stamp is not None and cached is not None and cached[0] == stamp:
            return cached[1]
        campaign = self.campaign(campaign_id)
        registry = Registry(
            city=campaign.city or "—", departments=tuple(self.departments(campaign_id))
        )
        if stamp is not None:
            self._registries[campaign_id] = (stamp, registry)
        return registry

    def _know_registry(self, campaign_id: str, stamp: str, registry: Registry) -> None:
        """Serve :meth:`registry` from ``registry``'s units while the snapshot's stamp is
        ``stamp``: for a snapshot just found to hold exactly them, active, in their order (what
        every run finds when it opens the campaign), instead of reading and validating 5,000
        units back from the store."""
        city = self.campaign(campaign_id).city or "—"
        known = Registry(city=city, departments=tuple(registry.departments))
        self._registries[campaign_id] = (stamp, known)

    def department_token(self, campaign_id: str, code: str) -> str:
        """The per-department token written into its template (HMAC of the campaign secret)."""
        return department_token(self.campaign(campaign_id).secret, campaign_id, code)

    def department_for_token(self, campaign_id: str, token: str | None) -> str | None:
        """The department code whose token this is (inactive units too), or ``None``."""
        if not token:
            return None
        token = token.strip().lower()
        stamp = self.snapshot_stamp(campaign_id)
        cached = self._tokens.get(campaign_id)
        if stamp is not None and cached is not None and cached[0] == stamp:
            owners = cached[1]
        else:
            secret = self.campaign(campaign_id).secret
            owners = {
                department_token(secret, campaign_id, d.code): d.code
                for d in self.departments(campaign_id, active_only=False)
            }
            if stamp is not None:
                self._tokens[campaign_id] = (stamp, owners)
        # a dict lookup: a wrong token differs in its hash, so no prefix of a token leaks
        return owners.get(token)

    def token_owner(self, token: str | None) -> tuple[str, str] | None:
        """``(campaign, department)`` of any campaign in this store whose token this is (a
        stale token: last year's template), or ``None``."""
        if not token:
            return None
        for campaign in self.campaigns():
            code = self.department_for_token(campaign.id, token)
            if code is not None:
                return campaign.id, code
        return None

    # -- submissions: writes -----------------------------------------------------------------

    @abstractmethod
    def record_submission(
        self,
        campaign_id: str,
        *,
        sha256: str,
        source: str,
        department: str | None = None,
        validation: Validation | None = None,
        failure: WorkbookError | str | None = None,
        status: SubmissionStatus | None = None,
        file_name: str | None = None,
        archived_path: str | Path | None = None,
        received_at: datetime | None = None,
        message_id: str | None = None,
        sender: str | None = None,
        explanation: str | None = None,
        match: Match | None = None,
        sender_notice_zh: str | None = None,
    ) -> Submission:
        """Record one received file with what was read from it, in one transaction.

        The records come from :func:`new_submission`. Idempotent on the file's hash: the same
        file again returns the first record (``new=False``). A department not in the campaign
        is a :class:`StoreError`; a matched department gets the next version number and its
        earlier received/accepted versions become ``superseded``.
        """

    @abstractmethod
    def assign_department(
        self,
        submission_id: int,
        department: str,
        *,
        status: SubmissionStatus | None = None,
        validation: Validation | None = None,
    ) -> Submission:
        """Match a so-far unmatched submission to a department (next version), e.g. by hand.

        ``validation`` (the file validated as that department's) replaces the stored issues
        and counts and decides the status (:func:`status_of`) unless ``status`` is given.
        The same department again returns it unchanged; another one is a :class:`StoreError`.
        """

    @abstractmethod
    def decide(
        self,
        submission_id: int,
        status: Literal["accepted", "rejected"],
        *,
        by: str,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Submission:
        """The coordinator accepts or returns a submission (e.g. one with warnings only).
        A superseded submission, or accepting one with errors, is a :class:`StoreError`."""

    @abstractmethod
    def set_explanation(self, submission_id: int, text: str) -> Submission:
        """The department's 说明 answering the warnings of a submission."""

    # -- submissions: reads ------------------------------------------------------------------

    @abstractmethod
    def submission(self, submission_id: int) -> Submission:
        """The submission; :class:`StoreError` when there is none."""

    @abstractmethod
    def submission_by_hash(self, campaign_id: str, sha256: str) -> Submission | None: ...

    @abstractmethod
    def submissions(self, campaign_id: str, department: str | None = None) -> list[Submission]:
        """Every version, oldest first (all files of the campaign, by id, when ``department``
        is None; the department's by version otherwise)."""

    @abstractmethod
    def unassigned(self, campaign_id: str) -> list[Submission]:
        """Files no department owns yet (quarantined, or unreadable from an unknown sender):
        they wait for the coordinator to assign them. By id."""

    @abstractmethod
    def latest_submission(self, campaign_id: str, code: str) -> Submission | None:
        """The department's highest version."""

    @abstractmethod
    def accepted_submissions(self, campaign_id: str) -> list[Submission]:
        """Each department's accepted submission (with or without warnings; the highest
        accepted version after a coordinator's re-acceptance), by department code."""

    def rejection_count(self, campaign_id: str, code: str) -> int:
        return sum(1 for s in self.submissions(campaign_id, code) if s.status in REJECTED)

    @abstractmethod
    def stored_values(self, submission_ids: Iterable[int]) -> list[StoredValue]:
        """The stored cells of these submissions, by submission id, each in reading order
        (its cells as read, then its narrative sections)."""

    def values(self, submission_id: int) -> dict[str, Decimal | None]:
        """The cell values of a submission, exact (narrative codes excluded)."""
        return {
            v.code: v.value
            for v in self.stored_values([submission_id])
            if not v.code.startswith(NARRATIVE)
        }

    @abstractmethod
    def issues(self, submission_id: int) -> list[StoredIssue]:
        """The submission's issues in the order validation found them."""

    def report_from_submission(
        self, submission_id: int, pool: EntryPool | None = None, *, narrative: bool = True
    ) -> Report:
        """The submission's values as a :class:`Report` again (for the merger, C1, templates).
        With ``pool``, its entries are shared with the other reports read through that pool
        (read-only, a tuple a report: what the merger holds of thousands of units); without
        ``narrative``, the report has the figures only (the merger sums them; a unit's text,
        often pages long, is read where it is quoted)."""
        sub = self.submission(submission_id)
        if sub.form_id is None:
            raise StoreError("submission has no values (it was not read)", id=submission_id)
        form = load_form(sub.form_id)
        report = Report(
            form=form,
            year=sub.report_year,
            department=sub.department,
            campaign=sub.campaign,
            source=sub.archived_path or sub.file_name,
            method=sub.method,
        )
        report.missing = list(sub.missing)
        narrative_codes = set(form.narrative_codes)
        make = pool.entry if pool is not None else Entry
        entries = []
        for v in self.stored_values([submission_id]):
            if v.code in narrative_codes or v.code.startswith(NARRATIVE):
                if narrative:
                    report.narrative[v.code] = v.raw or ""
                continue
            entries.append(make(v.code, v.raw, v.value, v.notes, v.problem, v.cell))
        if pool is not None:
            report.entries = pool.entries(entries)
        else:
            report.entries = {e.code: e for e in entries}
        return report

    # -- offices one level down: their reports' units ------------------------------------------

    @abstractmethod
    def record_office(
        self,
        submission_id: int,
        *,
        office_code: str | None,
        level: str,
        content_hash: str,
        declared_hash: str | None,
        leaves: Sequence[Leaf],
    ) -> None:
        """Keep what an office's report says besides its sums: the office, its content's
        fingerprint and every leaf unit with its values (idempotent per submission)."""

    @abstractmethod
    def office_record(self, submission_id: int) -> dict[str, Any] | None:
        """``{office_code, level, content_hash, declared_hash, leaf_count}`` of an office's
        submission, ``None`` for a unit's own report."""

    @abstractmethod
    def office_leaves(self, submission_id: int) -> list[Leaf]:
        """The leaf units of an office's submission, in the order they were recorded."""

    @abstractmethod
    def offices_holding(self, campaign_id: str, identity: str) -> list[str]:
        """The departments whose accepted office report holds a leaf unit of this identity
        (its folded name, :func:`annual_report.workbook.breakdown.unit_identity`): one indexed
        query, whatever the number of units."""

    @abstractmethod
    def office_by_content(
        self, campaign_id: str, department: str, content_hash: str
    ) -> Submission | None:
        """The department's latest submission whose office report has this fingerprint."""

    # -- accepted reports across campaigns and years -----------------------------------------

    @abstractmethod
    def accepted_in_year(self, code: str, report_year: int) -> Submission | None:
        """Department ``code``'s accepted report of ``report_year``: the latest received (then
        highest id) across that year's campaigns, collected or backfilled alike."""

    def previous_year_values(self, campaign_id: str, code: str) -> dict[str, Decimal]:
        """Last report year's accepted values of department ``code`` (empty when unknown).

        Used to pre-fill 二、上年结转 and for the cross-year warnings C1/C2.
        """
        sub = self.accepted_in_year(code, self.campaign(campaign_id).report_year - 1)
        if sub is None:
            return {}
        return {c: v for c, v in self.values(sub.id).items() if v is not None}

    def previous_year_report(self, campaign_id: str, code: str) -> Report | None:
        """Last report year's accepted submission of ``code`` as a Report (``previous=``)."""
        sub = self.accepted_in_year(code, self.campaign(campaign_id).report_year - 1)
        return self.report_from_submission(sub.id) if sub else None

    @abstractmethod
    def accepted_values(
        self, campaign_id: str, codes: Sequence[str]
    ) -> dict[str, dict[str, Decimal]]:
        """Department → cell code → value of the cells ``codes`` (those not blank) of each
        department's accepted submission (as :meth:`accepted_submissions`). One query: the
        fee comparison (C7) of every received workbook reads the other units' fees."""

    def accepted_median(
        self, campaign_id: str, codes: Sequence[str], *, exclude: str | None = None
    ) -> tuple[int, Decimal | None]:
        """How many values the cells ``codes`` hold (not blank) in the departments' accepted
        submissions (as :meth:`accepted_values`; department ``exclude`` left out) and their
        median: the fee comparison (C7) of every received workbook, without loading every
        peer's values. Implementations answer it in one aggregate query."""
        fees = [
            value
            for code, by_cell in self.accepted_values(campaign_id, codes).items()
            if code != exclude
            for value in by_cell.values()
        ]
        return len(fees), (statistics.median(fees) if fees else None)

    @abstractmethod
    def unit_years(
        self, code: str, first: int, last: int
    ) -> dict[int, tuple[str, dict[str, Decimal]]]:
        """Department ``code``'s accepted values (not blank, narrative excluded) of the report
        years ``first``..``last``: year → (form id, cell code → ``Decimal``), the latest
        accepted report of each year as :meth:`accepted_in_year`. One query bounded by the
        unit's own submissions: validation (C9) runs it for every received workbook."""

    @abstractmethod
    def accepted_by_year(self, years: Iterable[int] | None = None) -> dict[int, list[Submission]]:
        """Report year → each department's accepted report of that year (as
        :meth:`accepted_in_year`), by department; every year when ``years`` is None."""

    # -- messages and named state ------------------------------------------------------------

    @abstractmethod
    def record_message(
        self,
        campaign_id: str,
        key: str,
        *,
        sha256: str,
        outcome: str,
        archived_path: str | Path | None = None,
        message_id: str | None = None,
        subject: str | None = None,
        sender: str | None = None,
        received_at: datetime | None = None,
        department: str | None = None,
        workbooks: int = 0,
        detail: Mapping[str, Any] | None = None,
    ) -> tuple[Message, bool]:
        """Record a message taken from a mailbox; ``(message, new)``. Idempotent on ``key``."""

    @abstractmethod
    def messages(self, campaign_id: str, *, outcome: str | None = None) -> list[Message]:
        """The campaign's messages in the order received."""

    @abstractmethod
    def get_state(self, campaign_id: str, name: str) -> Any:
        """A named JSON value of the campaign (``None`` when never set): mailbox cursors, the
        last status snapshot, the report's approval."""

    @abstractmethod
    def set_state(self, campaign_id: str, name: str, value: Any) -> None: ...

    # -- events ------------------------------------------------------------------------------

    @abstractmethod
    def begin_event(
        self,
        campaign_id: str,
        key: str,
        *,
        kind: str,
        department: str | None = None,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
        expect_attempts: int | None = None,
    ) -> Event:
        """Record that a step is about to happen, before doing it.

        New key: inserted as ``pending`` (one attempt). Existing key: returned as it is when
        ``done`` (the caller skips the step); otherwise (``pending`` after a crash, or
        ``failed``) set back to ``pending`` with one more attempt and ``detail`` merged into
        its detail (who is sending it now). ``previous_status`` tells which case it was.

        ``expect_attempts``: the attempts the caller saw when it decided to act (0: no event
        yet). If another run began the step since, the event is returned unchanged with
        ``begun=False``: the caller does not act. Two runs of one office that decided
        together never both act.
        """

    @abstractmethod
    def finish_event(
        self,
        campaign_id: str,
        key: str,
        *,
        status: Literal["done", "failed"] = "done",
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> Event:
        """Record the outcome of a step (``detail`` is merged into the event's detail). A
        status other than done/failed, or a key never begun, is a :class:`StoreError`."""

    @abstractmethod
    def event(self, campaign_id: str, key: str) -> Event | None: ...

    def event_done(self, campaign_id: str, key: str) -> bool:
        event = self.event(campaign_id, key)
        return event is not None and event.status == "done"

    def unfinished_events(self, campaign_id: str) -> list[Event]:
        """The pending and failed events, in the order they were begun: the only mail that can
        need the coordinator (a round reads these few, not every event of the campaign)."""
        return [e for e in self.events(campaign_id) if e.status in ("pending", "failed")]

    def events_by_key(self, campaign_id: str, keys: Iterable[str]) -> dict[str, Event]:
        """The events of these keys that exist, by key (a round's pass over what is owed asks
        once, not once per key)."""
        found = {}
        for key in dict.fromkeys(keys):
            event = self.event(campaign_id, key)
            if event is not None:
                found[key] = event
        return found

    @abstractmethod
    def events(
        self,
        campaign_id: str,
        *,
        department: str | None = None,
        kind: str | None = None,
        status: EventStatus | None = None,
    ) -> list[Event]:
        """Events in the order they were begun; ``kind`` matches itself and its sub-kinds
        (``"reminder"`` → ``reminder.*``), or a prefix when it ends with a dot."""

    def steps(self, campaign_id: str) -> list[Step]:
        """The campaign's events without their details, in the order they were begun: what
        :mod:`annual_report.campaign.states` derives the states from."""
        return [
            Step(e.kind, e.department, e.status, e.created_at, e.done_at)
            for e in self.events(campaign_id)
        ]

    @abstractmethod
    def event_by_message_id(self, campaign_id: str, message_id: str) -> Event | None:
        """The first event whose detail names this ``message_id`` (the mail it sent): how a
        reply is traced to its thread. An indexed lookup, not a scan of the campaign."""


__all__ = [
    "NewSubmission",
    "Store",
    "campaign_form",
    "campaign_secret",
    "content_hash",
    "department_token",
    "file_hash",
    "issue_records",
    "new_submission",
    "status_of",
    "utc_now",
    "value_records",
]
