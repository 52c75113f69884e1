"""What the reader found: cells that are not numbers of their type (R5), a form that is not the
year's (R6), and what the reader assumed to get a number or a header (N1, N2, A1)."""

from __future__ import annotations

from collections.abc import Iterator

from annual_report.errors import FormError
from annual_report.form.model import form_for_year, load_form
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
from annual_report.form.rules import NoParams, RuleDef
from annual_report.validation.model import Finding, Inputs, Skip
from annual_report.validation.wording import block_name, fmt, where


def cell_types(rule: RuleDef, params: NoParams, inputs: Inputs) -> Iterator[Finding]:
    """Every unparseable cell, and values a reader let through that the type forbids (R5)."""
    report = inputs.report
    for code, spec in report.form.cells.items():
        entry = report.entries.get(code)
        if entry is None:
            continue
        raw = (entry.raw or "").strip()
        problem = entry.problem
        if problem is None and entry.value is not None:
            if spec.type != "money" and entry.value != entry.value.to_integral_value():
                problem = f"数量应为整数（{raw or fmt(entry.value)}）"
            elif spec.type != "signed" and entry.value < 0:
                what = "金额" if spec.type == "money" else "数量"
                problem = f"{what}不能为负数（{raw or fmt(entry.value)}）"
        if problem:
            yield Finding((code,), f"{where(spec)}：{problem}。")


def _form_name(form_id: str) -> str:
    """``2019年版格式`` for a form id (the id itself when it is not a known form)."""
    try:
        return load_form(form_id).name.split("（", 1)[0]
    except FormError:
        return f"“{form_id}”格式"


def form_matches_year(rule: RuleDef, params: NoParams, inputs: Inputs) -> Iterator[Finding]:
    """The form used (and the one the file shows) is the one for the report year (R6)."""
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


_DASH_OR_BLANK = {BLANK, DASH}
_TEXT_NOTES = {
    FULL_WIDTH: "全角数字",
    UNIT_SUFFIX: "去掉了单位",
    PLUS_SIGN: "去掉了“+”号",
    DECIMAL_INTEGER: "去掉了小数点后的0",
    THOUSANDS: "去掉了千位分隔符",
    YUAN_TO_WAN: "金额以元填写，已换算为万元",
}


def blank_as_zero(rule: RuleDef, params: NoParams, inputs: Inputs) -> Iterator[Finding]:
    """Blank and dash cells counted as 0: one warning per table block, naming the cells (N1)."""
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
        place = block_name(block)
        if len(hits) <= 3:
            what = place + "、".join(spec.label for spec, _ in hits) + how
        else:
            what = f"{place}有{len(hits)}个单元格{how}（{tally}）"
        yield Finding(
            tuple(spec.code for spec, _ in hits),
            f"{what}，已按0计算，请确认（如确为0，请填写0）。",
        )


def text_as_number(rule: RuleDef, params: NoParams, inputs: Inputs) -> Iterator[Finding]:
    """Text turned into a number (``12件``, ``１２``, ``+19``, ``3.0``, ``1,234``): one per cell
    (N2). The message's wording is parsed back by :mod:`annual_report.validation.digest`."""
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
            f"{where(spec)}：“{raw}”已按{fmt(entry.value)}计算（{'，'.join(how)}），"
            "请直接填写数字。",
        )


def label_alias(rule: RuleDef, params: NoParams, inputs: Inputs) -> Iterator[Finding]:
    """Headers the reader matched through an alias, or did not understand (A1)."""
    for note in inputs.report.label_notes:
        yield Finding(tuple(note.codes), note.message, cells=tuple(note.cells))
