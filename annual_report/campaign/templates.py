"""Campaign-level operations shared by the CLI and the flows: one department's template."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from annual_report.campaign.context import context_for
from annual_report.campaign.registry import Registry
from annual_report.errors import ConfigError
from annual_report.form.model import load_form
from annual_report.report import Report
from annual_report.store.base import Store, content_hash
from annual_report.store.records import Submission
from annual_report.validation import Validation, validate
from annual_report.workbook.template import TemplateMeta, default_title, write_template

CARRIED_FROM = "requests.carried_from_last_year."
CARRIED_TO = "requests.carried_to_next_year."


def carried_over(previous: dict[str, Decimal]) -> dict[str, Decimal]:
    """二、上年结转 pre-filled from last year's 四、结转下年度继续办理 (column by column)."""
    return {
        CARRIED_FROM + code.removeprefix(CARRIED_TO): value
        for code, value in previous.items()
        if code.startswith(CARRIED_TO)
    }


def template_meta(store: Store, registry: Registry, campaign_id: str, code: str) -> TemplateMeta:
    campaign = store.campaign(campaign_id)
    department = registry.get(code.upper())
    if department is None:
        raise ConfigError(f"department {code!r} is not in the registry", known=len(registry))
    return TemplateMeta(
        form_id=campaign.form_id,
        report_year=campaign.report_year,
        department_code=department.code,
        department_name=department.name,
        campaign_id=campaign.id,
        token=store.department_token(campaign.id, department.code),
        deadline=campaign.deadline,
    )


def write_department_template(
    store: Store, registry: Registry, campaign_id: str, code: str, path: str | Path
) -> Path:
    """Write department ``code``'s personalised template for the campaign to ``path``."""
    meta = template_meta(store, registry, campaign_id, code)
    form = load_form(meta.form_id)
    prefill = carried_over(store.previous_year_values(campaign_id, meta.department_code))
    prefill = {c: v for c, v in prefill.items() if c in form.cells}
    return write_template(path, form, meta=meta, values=prefill, title=default_title(meta))


def backfill_published(
    store: Store, registry: Registry, report: Report, code: str, *, text: bytes, source: str
) -> Submission:
    """Record a published report (read by the text importer) as the department's accepted
    report of its year, so next year's cross-year rules (C1, C2, C7) and the pre-filled
    二、上年结转 have last year's figures. Idempotent on the text's content."""
    if report.year is None:
        raise ConfigError("the text does not say its report year: give --year")
    department = registry.get(code.upper())
    if department is None:
        raise ConfigError(f"department {code!r} is not in the registry", known=len(registry))
    report.department = department.code
    campaign_id = store.ensure_campaign(str(report.year), report.year, registry=registry)
    return store.record_submission(
        campaign_id,
        sha256=content_hash(text),
        source=source,
        department=department.code,
        # as the unit it is, with its stored history (C1/C2 against the year before, C3)
        validation=_validate_as(store, registry, report, department.code),
        status="accepted",  # published figures are what they are; issues are kept for reference
        file_name=source.rpartition(":")[2],
    )


def _validate_as(store: Store, registry: Registry, report: Report, code: str) -> Validation:
    ctx = context_for(report, registry=registry, store=store, department=code)
    return validate(report, previous=ctx.previous, context=ctx.context)
