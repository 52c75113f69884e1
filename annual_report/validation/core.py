"""Validation: run a form's rules over a report and return the issues found (never raise).

Each rule of the form names a check (``checks.py``); the check turns the rule's bound cells into
:class:`Issue` objects with a Chinese message for the department and the codes and Excel cells
for the coordinator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from annual_report.report import Report

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    rule: str  # "R1"
    severity: Severity
    codes: tuple[str, ...]
    cells: tuple[str, ...]  # Excel references where known, e.g. "'三、…'!D5"
    message: str  # Chinese, for the department

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "codes": list(self.codes),
            "cells": list(self.cells),
            "message": self.message,
        }


@dataclass(frozen=True)
class Context:
    """What a check may need besides the report itself."""

    organ_kind: str | None = None  # registry kind: "department", "township", "county"
    can_make_rules: bool = False  # 省级 / 设区的市 government (C3)
    peer_fees: tuple[Any, ...] = ()  # other units' fees this year, for C7
    # the unit's earlier report years, year → {code: value}, for C9 (history.unit_history);
    # without it C9 looks at ``previous`` only
    history: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class Validation:
    report: Report
    issues: list[Issue] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # rule id -> why it could not run

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def flat(self) -> list[tuple[str, str, str]]:
        """``(rule, severity, first code)`` triples, handy in tests."""
        return [(i.rule, i.severity, i.codes[0] if i.codes else "") for i in self.issues]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.report.to_dict(),
            "issues": [i.to_dict() for i in self.issues],
            "skipped": self.skipped_list(),
        }

    def skipped_list(self) -> list[dict[str, str]]:
        """The rules that could not run, each with its reason (English and Chinese)."""
        return [
            {"rule": rule, "reason": why, "reason_zh": SKIP_REASONS_ZH.get(why, why)}
            for rule, why in self.skipped.items()
        ]


# The reasons checks give for skipping a rule (``checks.Skip``), for the coordinator.
SKIP_REASONS_ZH = {
    "no previous report": "没有上一年度的报告",
    "previous report has none of the cells": "上一年度的报告中没有相应数据",
    "no narrative": "没有正文",
    "report year unknown": "报告年度不明",
    "no binding has all its cells": "相关单元格都没有数据",
    "no earlier year of this unit": "数据库中没有本单位往年已接收的报告",
    "the earlier years have none of the cells": "本单位往年的报告中没有相应数据",
}


def validate(
    report: Report, *, previous: Report | None = None, context: Context | None = None
) -> Validation:
    """Run every rule of ``report.form`` that the inputs allow."""
    from annual_report.validation import checks

    return checks.run(report, previous=previous, context=context or Context())
