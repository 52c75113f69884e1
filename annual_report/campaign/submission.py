"""Receiving one returned workbook: read it (isolated), find its department, validate, record.

The caller (the collect flow) has already archived the message the file came in; this records
what the file says, once: the same file again (same content hash) returns the first record
without reading it again (the caller answers that message). The file is a path, or the bytes of
an attachment: those go to the isolated reader as they are, never expanded here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from annual_report.campaign.matching import Evidence, Match, match_department, token_malformed
from annual_report.campaign.registry import Department, Registry
from annual_report.errors import StoreError, WorkbookError
from annual_report.form.model import Form
from annual_report.report import Report
from annual_report.store.base import Store, content_hash, file_hash
from annual_report.store.records import Submission
from annual_report.validation import Context, Validation, validate
from annual_report.workbook.sandbox import read_untrusted

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
    # a duplicate by content: an office's report with the same figures in other bytes
    same_content: bool = False

    @property
    def duplicate(self) -> bool:
        return not self.submission.new


def receive_workbook(
    store: Store,
    campaign_id: str,
    source: str | Path | bytes,
    origin: Origin,
    *,
    archived_path: str | Path | None = None,
    failure: WorkbookError | None = None,
) -> Received:
    """Read, match, validate and record one file: a path, or an attachment's bytes.

    ``archived_path``: where the file is kept (the archived message it came in; default: the
    path). ``failure``: the file is known to be unreadable already (its mail's encoding is
    broken, its zip is locked): recorded with that reason, not read.
    """
    content = source if isinstance(source, bytes) else None
    path = None if isinstance(source, bytes) else Path(source)
    sha256 = content_hash(content) if content is not None else file_hash(path)  # type: ignore[arg-type]
    existing = store.submission_by_hash(campaign_id, sha256)
    if existing is not None:
        log.info("file %s already recorded as submission %s", sha256[:12], existing.id)
        return Received(existing)
    campaign = store.campaign(campaign_id)
    registry = store.registry(campaign_id)
    record: dict[str, Any] = {  # what every outcome records of the file
        "sha256": sha256,
        "source": origin.source,
        "file_name": origin.file_name,
        "archived_path": archived_path if archived_path is not None else path,
        "received_at": origin.received_at,
        "message_id": origin.message_id,
        "sender": origin.sender,
        "explanation": origin.explanation,
    }
    mail = Evidence(
        subject_department=origin.subject_department,
        thread_department=origin.thread_department,
        sender=origin.sender,
    )
    report: Report | None = None
    if failure is None:
        try:
            # The campaign decides the year: a file typed into last year's template is still
            # this year's report (its token is then stale and the sender identifies it).
            report = read_untrusted(
                content if content is not None else path,  # type: ignore[arg-type]
                name=origin.file_name or (path.name if path else None),
                year=campaign.report_year,
            )
        except WorkbookError as exc:
            failure = exc
    if failure is not None or report is None:
        assert failure is not None
        # Nothing in the file can be read: the mail alone says whose it is. The department's
        # record gets it only when its registered address sent it and nothing disagrees; else
        # the sender is told why it cannot be read if it is a unit or had our mail.
        match = match_department(mail, registry)
        department = match.department if match.matched else None
        told = None if department else (failure.reason_zh if match.sender_notice_zh else None)
        submission = store.record_submission(
            campaign_id,
            department=department,
            failure=failure,
            sender_notice_zh=told,
            **record,
        )
        log.warning("unreadable file from %s: %s", origin.sender or origin.source, failure)
        return Received(submission, match=match, failure=failure)

    token = (report.token or "").strip() or None
    valid = store.department_for_token(campaign_id, token)
    stale = store.token_owner(token) if token and valid is None else None
    evidence = Evidence(
        token_department=valid,
        token_present=token is not None,
        token_malformed=token_malformed(token),
        stale_department=stale[1] if stale else None,
        stale_campaign=stale[0] if stale else None,
        file_department=report.department,
        subject_department=origin.subject_department,
        thread_department=origin.thread_department,
        sender=origin.sender,
    )
    match = match_department(evidence, registry)
    if not match.matched:
        submission = store.record_submission(
            campaign_id,
            status="quarantined",
            validation=validate(report),
            match=match,
            sender_notice_zh=match.sender_notice_zh,
            **record,
        )
        log.warning("quarantined %s: %s", origin.file_name or sha256[:12], match.reason)
        return Received(submission, match=match)

    unit = registry[match.department]  # type: ignore[index]
    digest = _office_digest(report) if unit.is_office else None
    if digest is not None:  # an office's report again, in another file: a duplicate
        same = store.office_by_content(campaign_id, unit.code, digest)
        if same is not None:
            log.info("office report of %s unchanged (submission %s)", unit.code, same.id)
            return Received(same, match=match, same_content=True)
    validation = validate_for_department(store, campaign_id, report, unit)
    validation.issues.extend(_office_issues(report, unit))
    validation.issues.extend(_reported_twice(store, campaign_id, registry, unit, report))
    submission = store.record_submission(
        campaign_id, department=unit.code, validation=validation, **record
    )
    if digest is not None and submission.new:
        office = report.office
        store.record_office(
            submission.id,
            office_code=office.code,
            level=office.level,
            content_hash=digest,
            declared_hash=office.declared_hash,
            leaves=office.leaves,
        )
    return Received(submission, match=match, validation=validation)


def _office_digest(report: Report) -> str | None:
    from annual_report.consolidation import office_digest  # the merger imports us

    return office_digest(report)


def _reported_twice(
    store: Store, campaign_id: str, registry: Registry, department: Department, report: Report
) -> list:
    from annual_report.consolidation import reported_twice

    return reported_twice(store, campaign_id, registry, department, report)


def _office_issues(report: Report, department: Department) -> list:
    from annual_report.consolidation import office_issues

    return office_issues(report, department)


def validate_for_department(
    store: Store, campaign_id: str, report: Report, department: Department
) -> Validation:
    """Validate ``report`` as ``department``'s: last year's figures (C1), its stored earlier
    years (C9: one query for the unit, however many units there are), its kind and
    rule-making power, the other units' fees (their count and median: one aggregate query).
    Sets ``report.department``."""
    from annual_report.history.frames import unit_history

    report.department = department.code
    year = store.campaign(campaign_id).report_year
    return validate(
        report,
        previous=store.previous_year_report(campaign_id, department.code),
        context=Context(
            organ_kind=department.kind,
            can_make_rules=department.can_make_rules,
            peer_fee_median=store.accepted_median(
                campaign_id, report.form.codes_of("fee_magnitude"), exclude=department.code
            ),
            history=unit_history(store, department.code, before=year),
        ),
    )


def assign_submission(
    store: Store,
    submission_id: int,
    code: str,
    *,
    load: Callable[[Submission], bytes] | None = None,
) -> Submission:
    """The coordinator names the department of a quarantined or unmatched file.

    The file is read again and validated with that department's context, so the rules that
    need it (last year's carry-over, the unit's kind, the fee comparison) hold for an assigned
    file exactly as for a matched one; an unreadable file stays unreadable. ``load`` gives the
    file's bytes (from the archived message it came in); without it the archived path is the
    file itself.
    """
    sub = store.submission(submission_id)
    if sub.status == "unreadable":
        return store.assign_department(submission_id, code, status="unreadable")
    department = store.registry(sub.campaign).get(code)
    if department is None:
        raise StoreError("department is not in the campaign", campaign=sub.campaign, code=code)
    if load is not None:
        source: bytes | str = load(sub)
    elif sub.archived_path is not None and Path(sub.archived_path).is_file():
        source = sub.archived_path
    else:
        raise StoreError(
            "the archived file of the submission is missing; restore it from the mail archive",
            submission=submission_id,
            path=sub.archived_path,
        )
    report = read_untrusted(
        source, name=sub.file_name, year=store.campaign(sub.campaign).report_year
    )
    validation = validate_for_department(store, sub.campaign, report, department)
    validation.issues.extend(_office_issues(report, department))
    assigned = store.assign_department(submission_id, code, validation=validation)
    digest = _office_digest(report) if department.is_office else None
    if digest is not None:
        store.record_office(
            submission_id,
            office_code=report.office.code,
            level=report.office.level,
            content_hash=digest,
            declared_hash=report.office.declared_hash,
            leaves=report.office.leaves,
        )
    return assigned


def peer_fees(store: Store, campaign_id: str, form: Form, code: str) -> tuple[Decimal, ...]:
    """The other accepted units' fees this year (the cells the magnitude rule names; none when
    the form has no such rule), in one query. Validation asks only their count and median
    (:meth:`~annual_report.store.base.Store.accepted_median`)."""
    by_unit = store.accepted_values(campaign_id, form.codes_of("fee_magnitude"))
    return tuple(v for unit, values in by_unit.items() if unit != code for v in values.values())
