"""What validation needs besides the report itself: the unit and its history.

The registry says what kind of unit reports (a department, a township, the city government that
may make 规章: C3, C7); the store holds last year's accepted report of that unit (C1, C2, C7)
and its earlier years (C9), whether it came in by mail or was read from the published text
(``import-text --backfill``), and this year's other units' fees (C7). The collection flows
validate with all of this; the ``validate`` and ``import-text`` commands do too when they find
the office's configuration, and say in Chinese what they could not find, so a rule skipped for
lack of context is never mistaken for a rule passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from annual_report.campaign.registry import Department, Registry
from annual_report.errors import ConfigError
from annual_report.form.model import Form
from annual_report.report import Report
from annual_report.store.base import Store
from annual_report.validation import Context

__all__ = ["ValidationContext", "context_for", "previous_report", "year_fees"]


@dataclass(frozen=True)
class ValidationContext:
    """The inputs of :func:`~annual_report.validation.validate` for one report."""

    previous: Report | None
    context: Context
    department: Department | None = None
    notes: tuple[str, ...] = ()  # Chinese: which context is missing and why


def context_for(
    report: Report,
    *,
    registry: Registry | None = None,
    store: Store | None = None,
    department: str | None = None,
    previous: Report | None = None,
) -> ValidationContext:
    """The context of ``report`` as unit ``department`` (default: the unit the file names).

    ``previous`` (a report given by hand) wins over the stored history. Raises
    :class:`ConfigError` when ``department`` is given but not in the registry.
    """
    notes: list[str] = []
    code = (department or report.department or "").strip().upper() or None
    unit = None
    if registry is None:
        notes.append("未找到单位名录（departments.yaml），单位类型不明，规章按一般单位核对")
    elif code is None:
        notes.append("文件未写明单位，也未指定单位（--department），按未知单位核对")
    else:
        unit = registry.get(code)
        if unit is None:
            if department:
                raise ConfigError(
                    f"department {code!r} is not in the registry", known=len(registry)
                )
            notes.append(f"单位名录中没有文件所写的单位代码 {code}，按未知单位核对")
    if previous is None and store is not None and code is not None and report.year is not None:
        previous = previous_report(store, code, report.year - 1)
        if previous is None:
            notes.append(f"数据库中没有 {code} {report.year - 1}年度已接收的报告，跨年度核对未进行")
    elif previous is None and store is None:
        notes.append("未找到数据库，没有上一年度的报告，跨年度核对未进行（可用 --previous 指定）")
    fees: tuple[Decimal, ...] = ()
    history: dict[int, dict[str, Decimal]] = {}
    if store is not None and report.year is not None:
        fees = year_fees(store, report.form, report.year, exclude=code)
        if code is not None:
            from annual_report.history.frames import (
                unit_history,  # pandas: only when a store is at hand
            )

            history = unit_history(store, code, before=report.year)
    if unit is not None:
        report.department = unit.code
    context = Context(
        organ_kind=unit.kind if unit else None,
        can_make_rules=unit.can_make_rules if unit else False,
        peer_fees=fees,
        history=history,
    )
    return ValidationContext(previous, context, unit, tuple(notes))


def previous_report(store: Store, code: str, year: int) -> Report | None:
    """Unit ``code``'s accepted report of ``year`` (the latest, whichever campaign holds it)."""
    latest = store.accepted_in_year(code, year)
    return store.report_from_submission(latest.id) if latest is not None else None


def year_fees(
    store: Store, form: Form, year: int, *, exclude: str | None = None
) -> tuple[Decimal, ...]:
    """The other units' accepted fees of ``year``, for the magnitude check (C7): the cells its
    rule names, none when the form has no such rule."""
    cells = form.codes_of("fee_magnitude")
    if not cells:
        return ()
    fees: list[Decimal] = []
    for campaign in store.campaigns():
        if campaign.report_year != year:
            continue
        found = store.accepted_values(campaign.id, cells)
        fees.extend(v for dept, values in found.items() if dept != exclude for v in values.values())
    return tuple(fees)
