"""Who may make 规章: only 省级 and 设区的市 governments (C3, ``Context.can_make_rules``)."""

from __future__ import annotations

from collections.abc import Iterator

from annual_report.form.rules import CellList, RuleDef
from annual_report.validation.model import Finding, Inputs
from annual_report.validation.values import value
from annual_report.validation.wording import describe, fmt


def rule_making_organ(rule: RuleDef, params: CellList, inputs: Inputs) -> Iterator[Finding]:
    """The rule's ``codes`` (规章) are non-zero for an organ that cannot make 规章 (C3)."""
    if inputs.context.can_make_rules:
        return
    form, report = inputs.form, inputs.report
    codes = form.expand_all(params.codes, {})
    nonzero = [(c, v) for c in codes if (v := value(report, c))]
    if not nonzero:
        return
    scope, terms = describe([form.cell(c) for c, _ in nonzero])
    listed = "、".join(f"{lb}（{fmt(v)}）" for lb, (_, v) in zip(terms, nonzero, strict=True))
    yield Finding(
        tuple(c for c, _ in nonzero),
        f"{scope}填写了非零数字：{listed}，但只有省级和设区的市人民政府可以制定规章，"
        "请确认；本机关制发的规范性文件应填入“行政规范性文件”行。",
    )
