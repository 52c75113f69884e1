"""The checks, by the ``check:`` name the forms use: one table, read by the runner.

A check is a function ``(rule, params, inputs) -> Iterable[Finding]`` in the module of its
family; ``params`` is the typed parameter object the form built for the rule
(:data:`annual_report.form.rules.CHECK_PARAMS`, whose names this table matches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from annual_report.form.rules import RuleDef
from annual_report.validation import history, narrative, reading, rule_making, sums
from annual_report.validation.model import Finding, Inputs

Check = Callable[[RuleDef, Any, Inputs], Iterable[Finding]]

CHECKS: Mapping[str, Check] = {
    # sums
    "sum_equal": sums.sum_equal,  # R1–R4
    "at_most": sums.at_most,  # C4
    # what the reader found
    "cell_types": reading.cell_types,  # R5
    "form_matches_year": reading.form_matches_year,  # R6
    "blank_as_zero": reading.blank_as_zero,  # N1
    "text_as_number": reading.text_as_number,  # N2
    "label_alias": reading.label_alias,  # A1
    # the unit's past
    "equals_previous": history.equals_previous,  # C1
    "stock_flow": history.stock_flow,  # C2
    "fee_magnitude": history.fee_magnitude,  # C7
    "history_jump": history.history_jump,  # C9
    # who may make 规章
    "rule_making_organ": rule_making.rule_making_organ,  # C3
    # the narrative
    "narrative_numbers": narrative.narrative_numbers,  # C5
    "fee_statement": narrative.fee_statement,  # C6
    "narrative_present": narrative.narrative_present,  # C8
    "text_length": narrative.text_length,  # T1
}
