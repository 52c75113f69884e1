"""Receiving one returned workbook: read it (isolated), find its department, validate, record.

The caller (the collect flow) has already archived the file; this records what it says, once:
the same file again (same content hash) returns the first record without reading it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from .errors import StoreError, WorkbookError
from .form import Form
from .matching import Evidence, Match, match_department
from .registry import Department
from .report import Report
from .sandbox import read_untrusted
from .store import Store, Submission, file_hash
from .validation import Context, Validation, validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """Where a file came from and what its mail says about the department."""

    source: str  # "imap:<uidvalidity>:<uid>", "maildir:<key>", "drop:<name>", "cli"
    file_name: str | None = None
    sender: str | None = None
    message_id: str | None = None
    subject_department: str | None = None
    thread_department: str | None = None
    received_at: datetime | None = None
    explanation: str | None = None  # the 说明 the department wrote in its mail


@dataclass(frozen=True)
class Received:
    submission: Submission
    match: Match | None = None
    validation: Validation | None = None
    failure: WorkbookError | None = None

    @property
    def duplicate(self) -> bool:
        return not self.submission.new


def receive_workbook(store: Store, campaign_id: str, path: str | Path, origin: Origin) -> Received:
    """Read, match, validate and record the workbook at ``path`` (already archived)."""
    path = Path(path)
    sha256 = file_hash(path)
    existing = store.submission_by_hash(campaign_id, sha256)
    if existing is not None:
        log.info("file %s already recorded as submission %s", sha256[:12], existing.id)
        return Received(existing)
    campaign = store.campaign(campaign_id)
    registry = store.registry(campaign_id)
    record = {
        "sha256": sha256,
        "source": origin.source,
        "file_name": origin.file_name,
        "archived_path": path,
        "received_at": origin.received_at,
        "message_id": origin.message_id,
        "sender": origin.sender,
        "explanation": origin.explanation,
    }
    try:
        # The campaign decides the year: a file typed into last year's template is still
        # this year's report (its token then fails and the sender identifies it).
        report = read_untrusted(path, year=campaign.report_year)
    except WorkbookError as exc:
        match = match_department(
            Evidence(
                subject_department=origin.subject_department,
                thread_department=origin.thread_department,
                sender=origin.sender,
            ),
            registry,
        )
        department = match.department if match.matched else None
        submission = store.record_submission(
            campaign_id, department=department, failure=exc, **record
        )
        log.warning("unreadable file from %s: %s", origin.sender or origin.source, exc)
        return Received(submission, match=match, failure=exc)

    evidence = Evidence(
        token_department=store.department_for_token(campaign_id, report.token),
        token_present=bool(report.token),
        file_department=report.department,
        subject_department=origin.subject_department,
        thread_department=origin.thread_department,
        sender=origin.sender,
    )
    match = match_department(evidence, registry)
    if not match.matched:
        submission = store.record_submission(
            campaign_id, status="quarantined", validation=validate(report), match=match, **record
        )
        log.warning("quarantined %s: %s", origin.file_name or sha256[:12], match.reason)
        return Received(submission, match=match)

    department = registry[match.department]  # type: ignore[index]
    validation = validate_for_department(store, campaign_id, report, department)
    submission = store.record_submission(
        campaign_id, department=department.code, validation=validation, **record
    )
    return Received(submission, match=match, validation=validation)


def validate_for_department(
    store: Store, campaign_id: str, report: Report, department: Department
) -> Validation:
    """Validate ``report`` as ``department``'s: last year's figures (C1), its stored earlier
    years (C9: one query for the unit, however many units there are), its kind and
    rule-making power, the other units' fees. Sets ``report.department``."""
    from .history import unit_history

    report.department = department.code
    year = store.campaign(campaign_id).report_year
    return validate(
        report,
        previous=store.previous_year_report(campaign_id, department.code),
        context=Context(
            organ_kind=department.kind,
            can_make_rules=department.can_make_rules,
            peer_fees=peer_fees(store, campaign_id, report.form, department.code),
            history=unit_history(store, department.code, before=year),
        ),
    )


def assign_submission(store: Store, submission_id: int, code: str) -> Submission:
    """The coordinator names the department of a quarantined or unmatched file.

    The archived file is read again and validated with that department's context, so the
    rules that need it (last year's carry-over, the unit's kind, the fee comparison) hold for
    an assigned file exactly as for a matched one; an unreadable file stays unreadable.
    """
    sub = store.submission(submission_id)
    if sub.status == "unreadable":
        return store.assign_department(submission_id, code, status="unreadable")
    if sub.archived_path is None or not Path(sub.archived_path).is_file():
        raise StoreError(
            "the archived file of the submission is missing; restore it from the mail archive",
            submission=submission_id,
            path=sub.archived_path,
        )
    department = store.registry(sub.campaign).get(code)
    if department is None:
        raise StoreError("department is not in the campaign", campaign=sub.campaign, code=code)
    report = read_untrusted(sub.archived_path, year=store.campaign(sub.campaign).report_year)
    validation = validate_for_department(store, sub.campaign, report, department)
    return store.assign_department(submission_id, code, validation=validation)


def peer_fees(store: Store, campaign_id: str, form: Form, code: str) -> tuple[Decimal, ...]:
    """The other accepted units' fees this year, for the magnitude check (the cells its rule
    names; none when the form has no such rule)."""
    cells = [c for r in form.rules if r.check == "fee_magnitude" for c in r.params.get("codes", [])]
    fees = []
    for sub in store.accepted_submissions(campaign_id):
        if sub.department == code:
            continue
        values = store.values(sub.id)
        fees.extend(values[c] for c in cells if values.get(c) is not None)
    return tuple(fees)  # type: ignore[arg-type]
