"""Sums: two sides of a table that must agree (R1–R4: ``sum_equal``; C4: ``at_most``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from annual_report.form.model import Form
from annual_report.form.rules import RuleDef, Sides
from annual_report.validation.model import Finding, Inputs, Skip
from annual_report.validation.values import dedupe, total, values
from annual_report.validation.wording import describe, side


@dataclass(frozen=True)
class _Binding:
    """One binding of a two-sided rule, with every value present."""

    codes: tuple[str, ...]
    left: list[str]
    right: list[str]
    value: dict[str, Decimal]

    def sums(self) -> tuple[Decimal, Decimal]:
        return total(self.value[c] for c in self.left), total(self.value[c] for c in self.right)

    def texts(self, form: Form) -> tuple[str, tuple[str, bool], tuple[str, bool]]:
        scope, terms = describe([form.cell(c) for c in self.codes])
        label = dict(zip(self.codes, terms, strict=True))
        left = side([(label[c], self.value[c]) for c in self.left])
        right = side([(label[c], self.value[c]) for c in self.right])
        return scope, left, right


def _bindings(rule: RuleDef, params: Sides, inputs: Inputs) -> Iterator[_Binding]:
    """Every binding whose cells are all present and parsed; Skip when there is none."""
    form, report = inputs.form, inputs.report
    evaluated = 0
    for binding in form.bindings(rule):
        left = form.expand_all(params.left, binding)
        right = form.expand_all(params.right, binding)
        codes = dedupe(left + right)
        found = values(report, codes)
        if found is None:  # absent (even partly) or unparseable: nothing sound to compare
            continue
        evaluated += 1
        yield _Binding(codes, left, right, dict(zip(codes, found, strict=True)))
    if not evaluated:
        raise Skip("no binding has all its cells")


def sum_equal(rule: RuleDef, params: Sides, inputs: Inputs) -> Iterator[Finding]:
    """``sum(left) == sum(right)`` for every binding of the rule's ``for_each``."""
    for sides in _bindings(rule, params, inputs):
        left_sum, right_sum = sides.sums()
        if left_sum == right_sum:
            continue
        scope, (left_text, left_short), (right_text, right_short) = sides.texts(inputs.form)
        why = f"（规则：{rule.title}）" if left_short or right_short else ""
        yield Finding(sides.codes, f"{scope}：{left_text}，但{right_text}，两者应相等{why}。")


def at_most(rule: RuleDef, params: Sides, inputs: Inputs) -> Iterator[Finding]:
    """``sum(left) <= sum(right)`` for every binding (C4)."""
    for sides in _bindings(rule, params, inputs):
        left_sum, right_sum = sides.sums()
        if left_sum <= right_sum:
            continue
        scope, (left_text, _), (right_text, _) = sides.texts(inputs.form)
        yield Finding(sides.codes, f"{scope}：{left_text}应不大于{right_text}，请核对。")
