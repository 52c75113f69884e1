"""How checks read a report's numbers: only parsed values count (R5 reports the rest)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from annual_report.form.model import Cell, Form
from annual_report.report import Report


def value(report: Report, code: str) -> Decimal | None:
    """The value the rules may use: ``None`` when absent or unparseable (R5 reports those)."""
    entry = report.entries.get(code)
    if entry is None or entry.problem or entry.value is None:
        return None
    return entry.value


def values(report: Report, codes: Sequence[str]) -> list[Decimal] | None:
    """All values of ``codes``, or ``None`` when any of them is unusable."""
    found = [value(report, code) for code in codes]
    if any(v is None for v in found):
        return None
    return found  # type: ignore[return-value]


def total(numbers: Iterable[Decimal]) -> Decimal:
    return sum(numbers, Decimal(0))


def decimal(raw: Any) -> Decimal | None:
    """A stored or given value (``Context.history``, ``peer_fees``) as a Decimal, if it is one."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        return None


def cell_refs(report: Report, codes: Iterable[str]) -> tuple[str, ...]:
    """The Excel references of ``codes`` in the source, where the reader knew them."""
    refs = []
    for code in codes:
        entry = report.entries.get(code)
        if entry is not None and entry.cell:
            refs.append(entry.cell)
    return tuple(refs)


def spec(form: Form, code: str, *others: Form) -> Cell:
    """The cell ``code`` of ``form``, else of ``others`` (last year's form, for C1)."""
    for candidate in (form, *others):
        if code in candidate.cells:
            return candidate.cells[code]
    return form.cell(code)  # raises FormError


def dedupe(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes))
