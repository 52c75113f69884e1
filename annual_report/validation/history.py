"""The unit against its own past: last year's report (C1, C2), the magnitude of its fee against
last year's or its peers' (C7), and every stored earlier year (C9).

Without the past there is nothing to compare: the rule is skipped (:class:`Skip`), never failed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from annual_report.form.rules import EqualsPrevious, FeeMagnitude, HistoryJump, RuleDef, StockFlow
from annual_report.report import Report
from annual_report.validation.model import Finding, Inputs, Skip
from annual_report.validation.values import cell_refs, decimal, dedupe, spec, total, value, values
from annual_report.validation.wording import REORG_NOTE, describe, fmt, times, where


def _need_previous(inputs: Inputs) -> Report:
    if inputs.previous is None:
        raise Skip("no previous report")
    return inputs.previous


def equals_previous(rule: RuleDef, params: EqualsPrevious, inputs: Inputs) -> Iterator[Finding]:
    """This year's ``current`` equals last year's ``previous`` (C1)."""
    previous = _need_previous(inputs)
    form, report = inputs.form, inputs.report
    evaluated = 0
    for binding in form.bindings(rule):
        current_code = form.expand(params.current, binding)[0]
        previous_code = form.expand(params.previous, binding)[0]
        now, before = value(report, current_code), value(previous, previous_code)
        if now is None or before is None:
            continue
        evaluated += 1
        if now == before:
            continue
        cells = [form.cell(current_code), spec(form, previous_code, previous.form)]
        scope, (now_label, before_label) = describe(cells)
        yield Finding(
            dedupe([current_code, previous_code]),
            f"{scope}：本年“{now_label}”为{fmt(now)}，但上年报告“{before_label}”为"
            f"{fmt(before)}，两者应相等。{REORG_NOTE}",
            cells=cell_refs(report, [current_code]),
        )
    if not evaluated:
        raise Skip("previous report has none of the cells")


def stock_flow(rule: RuleDef, params: StockFlow, inputs: Inputs) -> Iterator[Finding]:
    """``current`` = last year's ``previous`` + ``plus`` − ``minus`` (C2)."""
    previous = _need_previous(inputs)
    form, report = inputs.form, inputs.report
    evaluated = 0
    for binding in form.bindings(rule):
        current = form.expand(params.current, binding)[0]
        plus = form.expand_all(params.plus, binding)
        minus = form.expand_all(params.minus, binding)
        previous_code = form.expand(params.previous, binding)[0]
        found = values(report, [current, *plus, *minus])
        before = value(previous, previous_code)
        if found is None or before is None:
            continue
        evaluated += 1
        now, *rest = found
        added, removed = rest[: len(plus)], rest[len(plus) :]
        expected = before + total(added) - total(removed)
        if now == expected:
            continue
        scope, terms = describe([form.cell(c) for c in (current, *plus, *minus)])
        now_label, plus_labels, minus_labels = (
            terms[0],
            terms[1 : 1 + len(plus)],
            terms[1 + len(plus) :],
        )
        formula = f"上年{now_label}（{fmt(before)}）"
        formula += "".join(f"+ {lb}（{fmt(v)}）" for lb, v in zip(plus_labels, added, strict=True))
        formula += "".join(
            f"− {lb}（{fmt(v)}）" for lb, v in zip(minus_labels, removed, strict=True)
        )
        yield Finding(
            dedupe([current, *plus, *minus, previous_code]),
            f"{scope}：{now_label}为{fmt(now)}，但{formula}= {fmt(expected)}，两者应相等。"
            f"{REORG_NOTE}",
        )
    if not evaluated:
        raise Skip("previous report has none of the cells")


def fee_magnitude(rule: RuleDef, params: FeeMagnitude, inputs: Inputs) -> Iterator[Finding]:
    """A fee in 万元 that looks typed in 元 (C7): against last year, peers, or a ceiling."""
    form, report, context = inputs.form, inputs.report, inputs.context
    ceiling = params.department_ceiling
    for code in form.expand_all(params.codes, {}):
        fee = value(report, code)
        if not fee:
            continue
        cell = form.cell(code)
        unit = cell.unit or "万元"
        reasons = []
        before = value(inputs.previous, code) if inputs.previous else None
        if before:
            if fee >= before * params.jump:
                reasons.append(f"是上年（{fmt(before)}{unit}）的{fmt(fee / before)}倍")
        else:
            peers = [d for d in map(decimal, context.peer_fees) if d is not None]
            if len(peers) >= params.min_peers:
                median = statistics.median(peers)
                if median > 0 and fee > median * params.peer_factor:
                    reasons.append(
                        f"是其他{len(peers)}个单位中位数（{fmt(median)}{unit}）的"
                        f"{fmt((fee / median).quantize(Decimal(1)))}倍"
                    )
        if context.organ_kind == "department" and fee >= ceiling:
            reasons.append(f"一个部门的收费达到{fmt(ceiling)}{unit}以上")
        if reasons:
            yield Finding(
                (code,),
                f"{where(cell)}收费金额为{fmt(fee)}{unit}，{'，'.join(reasons)}，"
                f"可能误将以“元”为单位的金额填入了以“{unit}”为单位的单元格，请核对。",
            )


def _history(inputs: Inputs) -> dict[int, dict[str, Decimal]]:
    """The unit's earlier years (``Context.history``), or last year's report (``previous``)."""
    report = inputs.report
    raw: dict[int, Any] = dict(inputs.context.history)
    if not raw and inputs.previous is not None:
        previous = inputs.previous
        year = previous.year or (report.year - 1 if report.year else 0)
        raw = {year: {c: e.value for c, e in previous.entries.items() if not e.problem}}
    out = {}
    for year, by_code in raw.items():
        if report.year is not None and year >= report.year:
            continue  # only the past is history
        parsed = {c: d for c, v in by_code.items() if (d := decimal(v)) is not None}
        if parsed:
            out[int(year)] = parsed
    return out


def history_jump(rule: RuleDef, params: HistoryJump, inputs: Inputs) -> Iterator[Finding]:
    """A figure far beyond the unit's own history (C9): at least ``factor`` times its highest
    earlier year, or at most its lowest divided by ``factor`` (from hundreds to zero), and by at
    least ``min_change`` (small numbers jump naturally)."""
    history = _history(inputs)
    if not history:
        raise Skip("no earlier year of this unit")
    form, report = inputs.form, inputs.report
    factor, min_change = params.factor, params.min_change
    evaluated = 0
    for code in form.expand_all(params.codes, {}):
        now = value(report, code)
        past = [
            (year, by_code[code]) for year, by_code in sorted(history.items()) if code in by_code
        ]
        if now is None or not past:
            continue
        evaluated += 1
        high = max(v for _, v in past)
        low = min(v for _, v in past)
        years = "、".join(f"{year}年{fmt(v)}" for year, v in past)
        figure = f"{where(form.cell(code))}为{fmt(now)}"
        if now >= high * factor and now - high >= min_change:
            if high == 0:
                why = f"而本单位往年均为0（{years}）"
            else:
                why = f"是本单位往年最高值的{times(now, high)}倍（{years}）"
        elif now * factor <= low and low - now >= min_change:
            why = f"而本单位往年最少也有{fmt(low)}（{years}）"
        else:
            continue
        yield Finding(
            (code,),
            f"{figure}，{why}，变化幅度异常，请核对；如数据无误，可不修改，请附上说明。",
        )
    if not evaluated:
        raise Skip("the earlier years have none of the cells")
