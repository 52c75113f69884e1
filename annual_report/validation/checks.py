"""The validator's checks: one small function per ``check:`` name used in the YAML forms.

A form's ``rules:`` bind checks to cells (data); the logic lives here (code). A check receives
its :class:`~annual_report.form.model.RuleDef` and the :class:`Inputs` and yields :class:`Finding`
objects; :func:`run` turns them into :class:`~annual_report.validation.core.Issue` objects carrying
the rule's id and severity from the YAML, so no check ever names a rule.

Missing inputs are not failures: a binding whose cells the source did not contain (or could not
parse: R5 reports those) is skipped, and a rule with nothing to look at (no previous report for
C1/C2, no narrative for C5/C8) raises :class:`Skip` and is listed in ``Validation.skipped``.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from annual_report.errors import FormError
from annual_report.form.model import (
    Block,
    Cell,
    Form,
    RuleDef,
    common_prefix,
    form_for_year,
    load_form,
)
from annual_report.form.numbers import (
    BLANK,
    DASH,
    DECIMAL_INTEGER,
    FULL_WIDTH,
    PLUS_SIGN,
    THOUSANDS,
    UNIT_SUFFIX,
    YUAN_TO_WAN,
)
from annual_report.report import Report
from annual_report.validation.core import Context, Issue, Validation

logger = logging.getLogger(__name__)

__all__ = ["CHECKS", "Finding", "Inputs", "Skip", "check", "run"]


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
    """What a check found; :func:`run` adds the rule id and severity.

    ``cells`` defaults to the report's cell references of ``codes`` (unknown ones skipped).
    """

    codes: tuple[str, ...]
    message: str
    cells: tuple[str, ...] | None = None


class Skip(Exception):  # a signal, not an error
    """The rule cannot run on these inputs (the reason is for the operator's log)."""


CheckFn = Callable[[RuleDef, Inputs], Iterable[Finding]]
CHECKS: dict[str, CheckFn] = {}


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register a check under the ``check:`` name the YAML forms use."""

    def register(fn: CheckFn) -> CheckFn:
        if name in CHECKS:
            raise FormError(f"check {name!r} registered twice")
        CHECKS[name] = fn
        return fn

    return register


def run(
    report: Report, previous: Report | None = None, context: Context | None = None
) -> Validation:
    """Run every rule of ``report.form`` in order; bad data gives issues, never exceptions."""
    form = report.form
    unknown = sorted({f"{r.id}: {r.check}" for r in form.rules if r.check not in CHECKS})
    if unknown:
        raise FormError(f"form {form.id} names unknown checks", checks="; ".join(unknown))
    inputs = Inputs(report, previous, context or Context())
    validation = Validation(report)
    for rule in form.rules:
        try:
            findings = list(CHECKS[rule.check](rule, inputs))
        except Skip as skip:
            logger.debug("rule %s skipped: %s", rule.id, skip)
            validation.skipped[rule.id] = str(skip)
            continue
        for finding in findings:
            cells = finding.cells
            if cells is None:
                cells = _cell_refs(report, finding.codes)
            validation.issues.append(
                Issue(
                    rule=rule.id,
                    severity=rule.severity,
                    codes=finding.codes,
                    cells=cells,
                    message=finding.message,
                )
            )
    return validation


# -- helpers ---------------------------------------------------------------------------------

_CN_NUMERALS = "〇一二三四五六七八九十"


def _fmt(value: Decimal) -> str:
    """A Decimal as a clerk writes it: no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _part(section: int) -> str:
    return f"第{_CN_NUMERALS[section]}部分"


def _cell_refs(report: Report, codes: Iterable[str]) -> tuple[str, ...]:
    refs = []
    for code in codes:
        entry = report.entries.get(code)
        if entry is not None and entry.cell:
            refs.append(entry.cell)
    return tuple(refs)


def _value(report: Report, code: str) -> Decimal | None:
    """The value the rules may use: ``None`` when absent or unparseable (R5 reports those)."""
    entry = report.entries.get(code)
    if entry is None or entry.problem or entry.value is None:
        return None
    return entry.value


def _values(report: Report, codes: Sequence[str]) -> list[Decimal] | None:
    """All values of ``codes``, or ``None`` when any of them is unusable."""
    values = [_value(report, code) for code in codes]
    if any(v is None for v in values):
        return None
    return values  # type: ignore[return-value]


def _spec(form: Form, code: str, *others: Form) -> Cell:
    for candidate in (form, *others):
        if code in candidate.cells:
            return candidate.cells[code]
    return form.cell(code)  # raises FormError


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


_LONG_PAREN = re.compile(r"(?<=\S)（[^（）]{6,}）$")


def _shorten(label: str) -> str:
    """A row label short enough to sit in a sum (``一、本年新收`` for the full row label)."""
    label = label.removesuffix("政府信息公开申请数量")
    label = _LONG_PAREN.sub("", label)
    if len(label) > 24 and "、" in label:
        label = label.split("、", 1)[0]
    return label


def _row_term(cell: Cell) -> str:
    path = cell.row.path
    if not path:
        return cell.column_label
    label = path[-1]
    if len(path) > 1 and label[:1].isdigit():  # "1.属于国家秘密" needs its group
        label = f"{path[-2]} {label}"
    return _shorten(label)


def _describe(cells: Sequence[Cell]) -> tuple[str, list[str]]:
    """Where a group of cells sits (``第三部分“自然人”列``) and a short label for each."""
    part = _part(cells[0].section) if len({c.section for c in cells}) == 1 else ""
    if len(cells) == 1:
        cell = cells[0]
        if cell.row_label and cell.column_label:
            return part + f"“{cell.row_label}”行", [cell.column_label]
        return part, [cell.label]
    one_block = len({(c.section, c.block) for c in cells}) == 1
    same_column = one_block and len({c.column.code for c in cells}) == 1
    same_row = one_block and len({c.row.code for c in cells}) == 1
    if same_column and not same_row:
        label = cells[0].column_label
        return part + (f"“{label}”列" if label else ""), [_row_term(c) for c in cells]
    if same_row and not same_column:
        paths = [c.column.path for c in cells]
        n = min(common_prefix(paths), min(len(p) for p in paths) - 1)
        terms = [" ".join(p[n:]) for p in paths]
        if cells[0].row_label:
            return part + f"“{cells[0].row_label}”行", terms
        if n:  # section 4: one row, grouped columns
            return part + f"“{' '.join(paths[0][:n])}”", terms
        return part, terms
    return part, [c.label for c in cells]


def _where(cell: Cell) -> str:
    return f"{_part(cell.section)}{cell.label}"


def _side(terms: Sequence[tuple[str, Decimal]]) -> tuple[str, bool]:
    """One side of an equation in words; True when the terms were summarised (too many)."""
    total = _sum(v for _, v in terms)
    if len(terms) == 1:
        label, value = terms[0]
        return f"{label}（{_fmt(value)}）", False
    if len(terms) <= 4:
        listed = "+ ".join(f"{label}（{_fmt(value)}）" for label, value in terms)
        return f"{listed}= {_fmt(total)}", False
    text = f"各项之和为{_fmt(total)}"
    nonzero = [(label, value) for label, value in terms if value]
    if 0 < len(nonzero) <= 6:
        text += "（非零项：" + "、".join(f"{lb}（{_fmt(v)}）" for lb, v in nonzero) + "）"
    return text, True


def _param_codes(form: Form, rule: RuleDef, key: str, binding: dict[str, str]) -> list[str]:
    templates = rule.params.code_templates().get(key)
    if templates is None:
        raise FormError(f"rule {rule.id} ({rule.check}) needs {key!r}", form=form.id)
    return form.expand_all(templates, binding)


def _dedupe(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes))


_REORG_NOTE = "如因机构改革等原因确实不一致，可不修改，请附上说明。"


# -- R1–R4: sums -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sides:
    """One binding of a two-sided rule, with every value present."""

    codes: list[str]
    left: list[str]
    right: list[str]
    value: dict[str, Decimal]

    def sums(self) -> tuple[Decimal, Decimal]:
        return _sum(self.value[c] for c in self.left), _sum(self.value[c] for c in self.right)

    def texts(self, form: Form) -> tuple[str, tuple[str, bool], tuple[str, bool]]:
        scope, terms = _describe([form.cell(c) for c in self.codes])
        label = dict(zip(self.codes, terms, strict=True))
        left = _side([(label[c], self.value[c]) for c in self.left])
        right = _side([(label[c], self.value[c]) for c in self.right])
        return scope, left, right


def _two_sided(rule: RuleDef, inputs: Inputs) -> Iterator[_Sides]:
    """Every binding whose cells are all present and parsed; Skip when there is none."""
    form, report = inputs.form, inputs.report
    evaluated = 0
    for binding in form.bindings(rule):
        left = _param_codes(form, rule, "left", binding)
        right = _param_codes(form, rule, "right", binding)
        codes = _dedupe(left + right)
        values = _values(report, codes)
        if values is None:  # absent (even partly) or unparseable: nothing sound to compare
            continue
        evaluated += 1
        yield _Sides(codes, left, right, dict(zip(codes, values, strict=True)))
    if not evaluated:
        raise Skip("no binding has all its cells")


@check("sum_equal")
def sum_equal(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """``sum(left) == sum(right)`` for every binding of the rule's ``for_each``."""
    for sides in _two_sided(rule, inputs):
        left_sum, right_sum = sides.sums()
        if left_sum == right_sum:
            continue
        scope, (left_text, left_short), (right_text, right_short) = sides.texts(inputs.form)
        why = f"（规则：{rule.title}）" if left_short or right_short else ""
        yield Finding(sides.codes, f"{scope}：{left_text}，但{right_text}，两者应相等{why}。")


@check("at_most")
def at_most(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """``sum(left) <= sum(right)`` for every binding (C4)."""
    for sides in _two_sided(rule, inputs):
        left_sum, right_sum = sides.sums()
        if left_sum <= right_sum:
            continue
        scope, (left_text, _), (right_text, _) = sides.texts(inputs.form)
        yield Finding(sides.codes, f"{scope}：{left_text}应不大于{right_text}，请核对。")


# -- R5, R6: cells and form ------------------------------------------------------------------


@check("cell_types")
def cell_types(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """Every unparseable cell, and values a reader let through that the type forbids."""
    report = inputs.report
    for code, spec in report.form.cells.items():
        entry = report.entries.get(code)
        if entry is None:
            continue
        raw = (entry.raw or "").strip()
        problem = entry.problem
        if problem is None and entry.value is not None:
            if spec.type != "money" and entry.value != entry.value.to_integral_value():
                problem = f"数量应为整数（{raw or _fmt(entry.value)}）"
            elif spec.type != "signed" and entry.value < 0:
                what = "金额" if spec.type == "money" else "数量"
                problem = f"{what}不能为负数（{raw or _fmt(entry.value)}）"
        if problem:
            yield Finding((code,), f"{_where(spec)}：{problem}。")


def _form_name(form_id: str) -> str:
    """``2019年版格式`` for a form id (the id itself when it is not a known form)."""
    try:
        return load_form(form_id).name.split("（", 1)[0]
    except FormError:
        return f"“{form_id}”格式"


@check("form_matches_year")
def form_matches_year(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """The form used (and the one the file shows) is the one for the report year."""
    report = inputs.report
    if report.year is None:
        raise Skip("report year unknown")
    try:
        expected = form_for_year(report.year)
    except FormError:
        yield Finding((), f"没有适用于{report.year}年度报告的格式，请核对报告年度。")
        return
    used = [report.form.id]
    if report.declared_form and report.declared_form != report.form.id:
        used.append(report.declared_form)
    wrong = [form_id for form_id in used if form_id != expected.id]
    if wrong:
        shown = "、".join(_form_name(form_id) for form_id in wrong)
        yield Finding(
            (),
            f"{report.year}年度报告应使用{expected.name}，本表为{shown}，"
            f"请使用{expected.name.split('（', 1)[0]}的表格重新填报。",
        )


# -- C1, C2: against last year ---------------------------------------------------------------


def _need_previous(inputs: Inputs) -> Report:
    if inputs.previous is None:
        raise Skip("no previous report")
    return inputs.previous


@check("equals_previous")
def equals_previous(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """This year's ``current`` equals last year's ``previous`` (C1)."""
    previous = _need_previous(inputs)
    form, report = inputs.form, inputs.report
    evaluated = 0
    for binding in form.bindings(rule):
        current_code = _param_codes(form, rule, "current", binding)[0]
        previous_code = _param_codes(form, rule, "previous", binding)[0]
        now, before = _value(report, current_code), _value(previous, previous_code)
        if now is None or before is None:
            continue
        evaluated += 1
        if now == before:
            continue
        cells = [form.cell(current_code), _spec(form, previous_code, previous.form)]
        scope, (now_label, before_label) = _describe(cells)
        yield Finding(
            _dedupe([current_code, previous_code]),
            f"{scope}：本年“{now_label}”为{_fmt(now)}，但上年报告“{before_label}”为"
            f"{_fmt(before)}，两者应相等。{_REORG_NOTE}",
            cells=_cell_refs(report, [current_code]),
        )
    if not evaluated:
        raise Skip("previous report has none of the cells")


@check("stock_flow")
def stock_flow(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """``current`` = last year's ``previous`` + ``plus`` − ``minus`` (C2)."""
    previous = _need_previous(inputs)
    form, report = inputs.form, inputs.report
    evaluated = 0
    for binding in form.bindings(rule):
        current = _param_codes(form, rule, "current", binding)[0]
        plus = _param_codes(form, rule, "plus", binding)
        minus = _param_codes(form, rule, "minus", binding)
        previous_code = _param_codes(form, rule, "previous", binding)[0]
        values = _values(report, [current, *plus, *minus])
        before = _value(previous, previous_code)
        if values is None or before is None:
            continue
        evaluated += 1
        now, *rest = values
        added, removed = rest[: len(plus)], rest[len(plus) :]
        expected = before + _sum(added) - _sum(removed)
        if now == expected:
            continue
        scope, terms = _describe([form.cell(c) for c in (current, *plus, *minus)])
        now_label, plus_labels, minus_labels = (
            terms[0],
            terms[1 : 1 + len(plus)],
            terms[1 + len(plus) :],
        )
        formula = f"上年{now_label}（{_fmt(before)}）"
        formula += "".join(f"+ {lb}（{_fmt(v)}）" for lb, v in zip(plus_labels, added, strict=True))
        formula += "".join(
            f"− {lb}（{_fmt(v)}）" for lb, v in zip(minus_labels, removed, strict=True)
        )
        yield Finding(
            _dedupe([current, *plus, *minus, previous_code]),
            f"{scope}：{now_label}为{_fmt(now)}，但{formula}= {_fmt(expected)}，两者应相等。"
            f"{_REORG_NOTE}",
        )
    if not evaluated:
        raise Skip("previous report has none of the cells")


# -- C3, C4, C6, C7: single-report plausibility ----------------------------------------------


@check("rule_making_organ")
def rule_making_organ(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """The rule's ``codes`` (规章) are non-zero for an organ that cannot make 规章 (C3)."""
    if inputs.context.can_make_rules:
        return
    form, report = inputs.form, inputs.report
    codes = _param_codes(form, rule, "codes", {})
    nonzero = [(c, v) for c in codes if (v := _value(report, c))]
    if not nonzero:
        return
    scope, terms = _describe([form.cell(c) for c, _ in nonzero])
    listed = "、".join(f"{lb}（{_fmt(v)}）" for lb, (_, v) in zip(terms, nonzero, strict=True))
    yield Finding(
        tuple(c for c, _ in nonzero),
        f"{scope}填写了非零数字：{listed}，但只有省级和设区的市人民政府可以制定规章，"
        "请确认；本机关制发的规范性文件应填入“行政规范性文件”行。",
    )


_FEE_WORD = "信息处理费"


@check("fee_statement")
def fee_statement(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """Applications dropped for unpaid fees, but section 6 says nothing of 信息处理费 (C6)."""
    form, report = inputs.form, inputs.report
    if not _has_narrative(report):
        raise Skip("no narrative")
    codes = _param_codes(form, rule, "codes", {})
    nonzero = [(c, v) for c in codes if (v := _value(report, c))]
    if not nonzero or _FEE_WORD in report.narrative.get("narrative.other_matters", ""):
        return
    listed = "、".join(f"{_where(form.cell(c))}为{_fmt(v)}" for c, v in nonzero)
    yield Finding(
        tuple(c for c, _ in nonzero),
        f"{listed}（申请人逾期未缴纳信息处理费），但“六、其他需要报告的事项”未说明"
        "信息处理费的收取情况，请补充。",
    )


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


@check("fee_magnitude")
def fee_magnitude(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """A fee in 万元 that looks typed in 元 (C7): against last year, peers, or a ceiling."""
    form, report, context = inputs.form, inputs.report, inputs.context
    jump = Decimal(str(rule.params.jump))
    peer_factor = Decimal(str(rule.params.peer_factor))
    min_peers = int(rule.params.min_peers)
    ceiling = Decimal(str(rule.params.department_ceiling))
    for code in _param_codes(form, rule, "codes", {}):
        fee = _value(report, code)
        if not fee:
            continue
        spec = form.cell(code)
        unit = spec.unit or "万元"
        reasons = []
        before = _value(inputs.previous, code) if inputs.previous else None
        if before:
            if fee >= before * jump:
                reasons.append(f"是上年（{_fmt(before)}{unit}）的{_fmt(fee / before)}倍")
        else:
            peers = [d for d in map(_decimal, context.peer_fees) if d is not None]
            if len(peers) >= min_peers:
                median = statistics.median(peers)
                if median > 0 and fee > median * peer_factor:
                    reasons.append(
                        f"是其他{len(peers)}个单位中位数（{_fmt(median)}{unit}）的"
                        f"{_fmt((fee / median).quantize(Decimal(1)))}倍"
                    )
        if context.organ_kind == "department" and fee >= ceiling:
            reasons.append(f"一个部门的收费达到{_fmt(ceiling)}{unit}以上")
        if reasons:
            yield Finding(
                (code,),
                f"{_where(spec)}收费金额为{_fmt(fee)}{unit}，{'，'.join(reasons)}，"
                f"可能误将以“元”为单位的金额填入了以“{unit}”为单位的单元格，请核对。",
            )


# -- C9: against the unit's own history ------------------------------------------------------


def _history(inputs: Inputs) -> dict[int, dict[str, Decimal]]:
    """The unit's earlier years (``Context.history``), or last year's report (``previous``)."""
    report = inputs.report
    raw: dict[int, Any] = dict(inputs.context.history)
    if not raw and inputs.previous is not None:
        previous = inputs.previous
        year = previous.year or (report.year - 1 if report.year else 0)
        raw = {year: {c: e.value for c, e in previous.entries.items() if not e.problem}}
    out = {}
    for year, values in raw.items():
        if report.year is not None and year >= report.year:
            continue  # only the past is history
        parsed = {c: d for c, v in values.items() if (d := _decimal(v)) is not None}
        if parsed:
            out[int(year)] = parsed
    return out


def _times(now: Decimal, base: Decimal) -> str:
    ratio = now / base
    return _fmt(ratio.quantize(Decimal(1) if ratio >= 10 else Decimal("0.1")))


@check("history_jump")
def history_jump(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """A figure far beyond the unit's own history (C9): at least ``factor`` times its highest
    earlier year, or at most its lowest divided by ``factor`` (from hundreds to zero), and by at
    least ``min_change`` (small numbers jump naturally)."""
    history = _history(inputs)
    if not history:
        raise Skip("no earlier year of this unit")
    form, report = inputs.form, inputs.report
    factor = Decimal(str(rule.params.factor))
    min_change = Decimal(str(rule.params.min_change))
    evaluated = 0
    for code in _param_codes(form, rule, "codes", {}):
        now = _value(report, code)
        past = [(year, values[code]) for year, values in sorted(history.items()) if code in values]
        if now is None or not past:
            continue
        evaluated += 1
        high = max(v for _, v in past)
        low = min(v for _, v in past)
        years = "、".join(f"{year}年{_fmt(v)}" for year, v in past)
        where = f"{_where(form.cell(code))}为{_fmt(now)}"
        if now >= high * factor and now - high >= min_change:
            if high == 0:
                why = f"而本单位往年均为0（{years}）"
            else:
                why = f"是本单位往年最高值的{_times(now, high)}倍（{years}）"
        elif now * factor <= low and low - now >= min_change:
            why = f"而本单位往年最少也有{_fmt(low)}（{years}）"
        else:
            continue
        yield Finding(
            (code,),
            f"{where}，{why}，变化幅度异常，请核对；如数据无误，可不修改，请附上说明。",
        )
    if not evaluated:
        raise Skip("the earlier years have none of the cells")


# -- C5, C8: the narrative -------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}


def chinese_int(text: str) -> int | None:
    """``12``, ``１２``, ``两``, ``十三``, ``一百零五`` as an int (None if not a number)."""
    if text.isdigit():
        return int(text)
    total, digit = 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            if digit is not None and digit != 0:  # "三五" is a range, not a number
                return None
            digit = _CN_DIGITS[ch]
        elif ch in "十百":
            total += (digit if digit else 1) * (10 if ch == "十" else 100)
            digit = None
        else:
            return None
    return total + (digit or 0)


_N = r"(?P<n>\d+|[零〇一二两三四五六七八九十百]+)"
_U = r"(?:件|个|宗|起)"
_SUM = r"(?:共计|总计|合计|共|为)?"


@dataclass(frozen=True)
class _Fact:
    """A number the narrative states and the table cells (summed) it must agree with."""

    patterns: tuple[re.Pattern[str], ...]
    codes: tuple[str, ...]
    # other readings a careful writer may mean (e.g. 收到 including 上年结转): not flagged
    also: tuple[tuple[str, ...], ...] = ()


_RECEIVED = r"(?:收到|受理|新收|接收|接到)"
_FACTS = (
    _Fact(
        (
            re.compile(
                _RECEIVED
                + r"(?P<mid>[^\d。；;，,：:]{0,14}?(?:申请|依申请公开)(?:件|事项|数量)?)"
                + _SUM
                + _N
                + _U
            ),
            re.compile(_RECEIVED + r"(?:了)?" + _SUM + _N + _U + r"(?=[^。；;，,]{0,8}申请)"),
            re.compile(r"依申请公开(?:申请|件|事项)?" + _SUM + _N + _U),
        ),
        ("requests.new_received.total",),
        also=(
            ("requests.new_received.total", "requests.carried_from_last_year.total"),
            ("requests.handled_total.total",),
        ),
    ),
    _Fact(
        (re.compile(r"上年(?:度)?结转(?:的)?(?:政府信息公开)?(?:申请)?" + _SUM + _N + _U),),
        ("requests.carried_from_last_year.total",),
    ),
    _Fact(
        (
            re.compile(
                r"结转(?:至|到)?下(?:一)?年度?(?:继续办理)?(?:的)?(?:申请)?" + _SUM + _N + _U
            ),
        ),
        ("requests.carried_to_next_year.total",),
    ),
    _Fact(
        (re.compile(r"行政复议(?:案件|申请)?" + _SUM + _N + _U),),
        ("review.total",),
    ),
    _Fact(
        # not "行政复议和行政诉讼共N件": that N is both together
        (re.compile(r"(?<![和、及与])行政诉讼(?:案件)?" + _SUM + _N + _U),),
        ("litigation_direct.total", "litigation_after_review.total"),
    ),
)


def _has_narrative(report: Report) -> bool:
    return any((text or "").strip() for text in report.narrative.values())


def _narratives(inputs: Inputs) -> list[tuple[str, str, str]]:
    """``(code, heading, text)`` of each narrative section of the form."""
    report = inputs.report
    if not _has_narrative(report):
        raise Skip("no narrative")
    out = []
    for section in inputs.form.sections:
        if section.narrative:
            out.append(
                (section.narrative, section.heading, report.narrative.get(section.narrative) or "")
            )
    return out


@check("narrative_numbers")
def narrative_numbers(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """Numbers the narrative quotes (申请件数, 结转, 复议, 诉讼) agree with the tables (C5)."""
    form, report = inputs.form, inputs.report
    seen: set[tuple[int, int]] = set()
    for _code, heading, text in _narratives(inputs):
        for index, fact in enumerate(_FACTS):
            if not all(c in form.cells for c in fact.codes):
                continue
            table = _values(report, fact.codes)
            if table is None:
                continue
            total = _sum(table)
            accepted = {total}
            for codes in fact.also:
                values = _values(report, codes) if all(c in form.cells for c in codes) else None
                if values is not None:
                    accepted.add(_sum(values))
            spans: list[tuple[int, int]] = []
            for pattern in fact.patterns:
                for match in pattern.finditer(text):
                    if any(s <= match.start() < e for s, e in spans):
                        continue  # the same words, already read by an earlier pattern
                    spans.append(match.span())
                    number = chinese_int(match.group("n"))
                    if number is None or Decimal(number) in accepted:
                        continue
                    if (index, number) in seen:
                        continue
                    seen.add((index, number))
                    cells = [form.cell(c) for c in fact.codes]
                    if len(cells) == 1:
                        where = _where(cells[0])
                    else:
                        where = "、".join(_where(c) for c in cells) + "之和"
                    yield Finding(
                        fact.codes,
                        f"正文“{heading}”中写“{match.group(0)}”，但表格{where}为{_fmt(total)}，"
                        "两者不一致，请核对。",
                    )


@check("narrative_present")
def narrative_present(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """Each narrative section is there and says something; section 6 states the fee (C8)."""
    min_chars = int(rule.params.min_chars)
    for code, heading, text in _narratives(inputs):
        body = re.sub(r"\s+", "", text)
        fee_section = code == "narrative.other_matters"
        if not body:
            extra = "（应说明信息处理费的收取情况）" if fee_section else ""
            yield Finding((code,), f"正文“{heading}”部分缺失，请补充{extra}。")
        elif fee_section and _FEE_WORD not in body:
            yield Finding(
                (code,),
                f"正文“{heading}”未说明信息处理费的收取情况（如“本机关未收取信息处理费”），请补充。",
            )
        elif len(body) < min_chars and not fee_section:
            # a one-line 信息处理费 statement is a complete section 6
            yield Finding((code,), f"正文“{heading}”内容过短（{len(body)}字：“{body}”），请补充。")


@check("text_length")
def text_length(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """A narrative section longer than one Excel cell holds (T1). The text is kept whole (the
    store keeps it as read); the department is asked to shorten it, because neither its
    workbook nor the city-level one can hold it."""
    limit = int(rule.params.max_chars)
    for code, heading, text in _narratives(inputs):
        if len(text) > limit:
            yield Finding(
                (code,),
                f"正文“{heading}”共{len(text):,}字，超过Excel单元格的上限（{limit:,}字），"
                f"汇总时无法完整收录，请精简到{limit:,}字以内后重新报送。",
            )


# -- N1, N2, A1: what the reader assumed -----------------------------------------------------

_DASH_OR_BLANK = {BLANK, DASH}
_TEXT_NOTES = {
    FULL_WIDTH: "全角数字",
    UNIT_SUFFIX: "去掉了单位",
    PLUS_SIGN: "去掉了“+”号",
    DECIMAL_INTEGER: "去掉了小数点后的0",
    THOUSANDS: "去掉了千位分隔符",
    YUAN_TO_WAN: "金额以元填写，已换算为万元",
}


def _block_name(block: Block) -> str:
    return _part(block.section) + (f"（{block.caption}）" if block.caption else "")


@check("blank_as_zero")
def blank_as_zero(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """Blank and dash cells counted as 0: one warning per table block, naming the cells."""
    report = inputs.report
    for block in report.form.blocks:
        hits = []
        for spec in block.cells:
            entry = report.entries.get(spec.code)
            if entry is not None and _DASH_OR_BLANK & set(entry.notes):
                form_text = "空白" if BLANK in entry.notes else f"“{(entry.raw or '').strip()}”"
                hits.append((spec, form_text))
        if not hits:
            continue
        counts: dict[str, int] = {}
        for _, form_text in hits:
            counts[form_text] = counts.get(form_text, 0) + 1
        dashes = [f for f in counts if f != "空白"]
        how = "或".join(
            (["为空"] if "空白" in counts else []) + (["填写" + "".join(dashes)] if dashes else [])
        )
        tally = "，".join(f"{f}{n}个" for f, n in counts.items())
        place = _block_name(block)
        if len(hits) <= 3:
            where = place + "、".join(spec.label for spec, _ in hits)
            what = f"{where}{how}"
        else:
            what = f"{place}有{len(hits)}个单元格{how}（{tally}）"
        yield Finding(
            tuple(spec.code for spec, _ in hits),
            f"{what}，已按0计算，请确认（如确为0，请填写0）。",
        )


@check("text_as_number")
def text_as_number(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """Text turned into a number (``12件``, ``１２``, ``+19``, ``3.0``, ``1,234``): one per cell."""
    report = inputs.report
    for code, spec in report.form.cells.items():
        entry = report.entries.get(code)
        if entry is None or entry.problem or entry.value is None:
            continue
        how = [text for note, text in _TEXT_NOTES.items() if note in entry.notes]
        if not how:
            continue
        raw = (entry.raw or "").strip()
        yield Finding(
            (code,),
            f"{_where(spec)}：“{raw}”已按{_fmt(entry.value)}计算（{'，'.join(how)}），"
            "请直接填写数字。",
        )


@check("label_alias")
def label_alias(rule: RuleDef, inputs: Inputs) -> Iterator[Finding]:
    """Headers the reader matched through an alias, or did not understand (A1)."""
    for note in inputs.report.label_notes:
        yield Finding(tuple(note.codes), note.message, cells=tuple(note.cells))
