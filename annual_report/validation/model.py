"""What validation speaks: the inputs a check sees and the problems it reports, as data.

A check (one per ``check:`` name of the forms) receives the rule, its typed parameters and the
:class:`Inputs`, and yields :class:`Finding` objects; the runner turns them into :class:`Issue`
objects carrying the rule's id and severity from the YAML, gathered in a :class:`Validation`.
A check that has nothing to look at raises :class:`Skip` (a signal, not an error). Nothing here
runs a check, so every module of the package can import this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from annual_report.form.model import Form
from annual_report.form.rules import Severity
from annual_report.report import Report

__all__ = [
    "SKIP_REASONS_ZH",
    "Context",
    "Finding",
    "Inputs",
    "Issue",
    "Severity",
    "Skip",
    "Validation",
]


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
    # (how many, their median) of those fees when the store counted them (one aggregate
    # query, whatever the number of units); used instead of ``peer_fees`` when given
    peer_fee_median: tuple[int, Any] | None = None
    # the unit's earlier report years, year → {code: value}, for C9 (history.unit_history);
    # without it C9 looks at ``previous`` only
    history: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class Validation:
    report: Report
    issues: list[Issue] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # rule id -> why it could not run
    # the ids of the rules run when the caller chose them (``validate(rules=…)``); None: all
    rules: tuple[str, ...] | None = None

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


# The reasons checks give for skipping a rule (:class:`Skip`), for the coordinator.
SKIP_REASONS_ZH = {
    "no previous report": "没有上一年度的报告",
    "previous report has none of the cells": "上一年度的报告中没有相应数据",
    "no narrative": "没有正文",
    "report year unknown": "报告年度不明",
    "no binding has all its cells": "相关单元格都没有数据",
    "no earlier year of this unit": "数据库中没有本单位往年已接收的报告",
    "the earlier years have none of the cells": "本单位往年的报告中没有相应数据",
}


@dataclass(frozen=True)
class Inputs:
    """Everything a check may look at."""

    report: Report
    previous: Report | None
    context: Context

    @property
    def form(self) -> Form:
        return self.report.form


@dataclass(frozen=True)
class Finding:
    """What a check found; the runner adds the rule id and severity.

    ``cells`` defaults to the report's cell references of ``codes`` (unknown ones skipped).
    """

    codes: tuple[str, ...]
    message: str
    cells: tuple[str, ...] | None = None


class Skip(Exception):  # a signal, not an error
    """The rule cannot run on these inputs (the reason is for the operator's log)."""
