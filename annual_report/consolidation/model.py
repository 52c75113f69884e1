"""What consolidation produces: each unit offered and what became of it, and the sums.

:class:`Unit` is a submission offered to the merger, :class:`UnitOutcome` whether it is in the
sums and why (Chinese, for the coordinator), :class:`Consolidation` the city-level values, each
unit's share of every cell and the notices (H1–H5, and R1–R4 on the sums).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from annual_report.form.model import Form
from annual_report.report import Report, json_number
from annual_report.validation import Issue, Validation
from annual_report.workbook.breakdown import Leaf

RULES_CHECK = "rule_making_organ"  # the check (C3) whose rule names the 规章 cells


def rules_codes(form: Form) -> tuple[str, ...]:
    """The 规章 cells: the ones C3 names (a form without C3: by their code)."""
    return form.codes_of(RULES_CHECK) or tuple(
        c for c in form.cells if c.startswith("proactive.rules.")
    )


@dataclass(frozen=True)
class Unit:
    """One unit's submission offered to the merger."""

    code: str
    name: str
    report: Report
    validation: Validation | None = None  # None: validated here
    kind: str = "department"
    submission_id: int | None = None
    version: int | None = None
    # an office one level down: the units its report sums (None: the unit is its own leaf)
    leaves: tuple[Leaf, ...] | None = None
    level: str | None = None  # the office's level (county, city)

    def own_leaves(self) -> tuple[Leaf, ...]:
        """The leaf units this submission stands for, seen from the office consolidating it."""
        if self.leaves is None:
            values = {code: e.value for code, e in self.report.entries.items()}
            return (Leaf(self.code, self.name, self.kind, values),)
        return tuple(leaf.under(self.code, self.name) for leaf in self.leaves)


@dataclass(frozen=True)
class UnitOutcome:
    """Whether a unit's submission is in the sums, and why (Chinese, for the coordinator)."""

    code: str
    name: str
    kind: str
    included: bool
    reason: str
    # included | duplicate | wrong_form | errors | covered | unreadable | missing | returned |
    # pending
    status: str = "included"
    submission_id: int | None = None
    version: int | None = None
    source: str | None = None
    errors: int = 0
    warnings: int = 0
    covered_by: str | None = None
    level: str | None = None  # an office one level down: its level
    leaf_count: int | None = None  # … and how many leaf units its report sums

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "leaf_count": self.leaf_count,
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "included": self.included,
            "reason": self.reason,
            "status": self.status,
            "submission_id": self.submission_id,
            "version": self.version,
            "source": self.source,
            "errors": self.errors,
            "warnings": self.warnings,
            "covered_by": self.covered_by,
        }


@dataclass
class Consolidation:
    form: Form
    year: int | None
    values: dict[str, Decimal]  # every cell of the form
    # code → included unit code → value (read-only views of one table: .table.Column)
    breakdown: Mapping[str, Mapping[str, Decimal | None]]
    units: list[UnitOutcome]  # every unit offered, sorted by code
    issues: list[Issue] = field(default_factory=list)
    rules_from: str | None = None  # the unit whose 规章 were taken
    # every leaf unit of the included units (an office's units through it), each once
    leaves: list[Leaf] = field(default_factory=list)

    @property
    def chained(self) -> bool:
        """Whether an office one level down is included (its units come through it)."""
        return any(leaf.path for leaf in self.leaves)

    def drill(self, code: str) -> list[tuple[Leaf, Decimal]]:
        """The leaf units behind one figure, ``(leaf, value)``, largest first: the units whose
        reports it sums, through the offices they came through (``leaf.path``)."""
        rows = [(leaf, leaf.values.get(code)) for leaf in self.leaves]
        found = [(leaf, v) for leaf, v in rows if v]
        found.sort(key=lambda lv: (-lv[1], lv[0].key))
        return found

    @property
    def included(self) -> list[UnitOutcome]:
        return [u for u in self.units if u.included]

    @property
    def excluded(self) -> list[UnitOutcome]:
        return [u for u in self.units if not u.included]

    @property
    def missing(self) -> list[UnitOutcome]:
        """Departments that sent nothing (only known when consolidating from the store)."""
        return [u for u in self.units if u.status == "missing"]

    @property
    def rules_codes(self) -> tuple[str, ...]:
        return rules_codes(self.form)

    def contributors(self, code: str, n: int = 5) -> list[tuple[str, str, Decimal]]:
        """The biggest contributors to a cell: ``(unit code, name, value)``, largest first."""
        names = {u.code: u.name for u in self.included}
        values = [(v, c) for c, v in self.breakdown.get(code, {}).items() if v]
        values.sort(key=lambda vc: (-vc[0], vc[1]))
        return [(c, names.get(c, c), v) for v, c in values[:n]]

    def report(self) -> Report:
        """The sums as a :class:`Report` (e.g. to validate the city's own report)."""
        report = Report(form=self.form, year=self.year, method="consolidation")
        for code, value in self.values.items():
            report.set_raw(code, format(value, "f"))
        return report

    def to_dict(self) -> dict[str, Any]:
        return {
            "form": self.form.id,
            "year": self.year,
            "values": {
                code: json_number(value, self.form.cells[code].type)
                for code, value in self.values.items()
            },
            "breakdown": {
                code: {
                    unit: json_number(value, self.form.cells[code].type)
                    for unit, value in units.items()
                }
                for code, units in self.breakdown.items()
            },
            "units": [u.to_dict() for u in self.units],
            "rules_from": self.rules_from,
            "issues": [i.to_dict() for i in self.issues],
            "leaves": [
                {
                    "key": leaf.key,
                    "code": leaf.code,
                    "name": leaf.name,
                    "kind": leaf.kind,
                    "through": list(leaf.path_names),
                }
                for leaf in self.leaves
            ],
        }
