"""The narrative: present and complete (C8), within one Excel cell (T1), its numbers agreeing with
the tables (C5), and 信息处理费 stated where applications were dropped for unpaid fees (C6).

Reading numbers out of prose is conservative: a number the patterns do not recognise is left
alone, and a received count may also mean new + carried-over, or handled (``_Fact.also``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from annual_report.form.rules import CellList, NarrativePresent, NoParams, RuleDef, TextLength
from annual_report.report import Report
from annual_report.validation.model import Finding, Inputs, Skip
from annual_report.validation.values import total, value, values
from annual_report.validation.wording import fmt, where

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}


def chinese_int(text: str) -> int | None:
    """``12``, ``１２``, ``两``, ``十三``, ``一百零五`` as an int (None if not a number)."""
    if text.isdigit():
        return int(text)
    number, digit = 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            if digit is not None and digit != 0:  # "三五" is a range, not a number
                return None
            digit = _CN_DIGITS[ch]
        elif ch in "十百":
            number += (digit if digit else 1) * (10 if ch == "十" else 100)
            digit = None
        else:
            return None
    return number + (digit or 0)


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


_FEE_WORD = "信息处理费"


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


def _table_sums(fact: _Fact, inputs: Inputs) -> tuple[Decimal, set[Decimal]] | None:
    """The tables' figure for ``fact`` and every figure a careful writer may mean by it
    (``_Fact.also``); None when the form or the report lacks its cells."""
    form, report = inputs.form, inputs.report
    if not all(c in form.cells for c in fact.codes):
        return None
    table = values(report, fact.codes)
    if table is None:
        return None
    figure = total(table)
    accepted = {figure}
    for codes in fact.also:
        other = values(report, codes) if all(c in form.cells for c in codes) else None
        if other is not None:
            accepted.add(total(other))
    return figure, accepted


def _mentions(fact: _Fact, text: str) -> Iterator[re.Match[str]]:
    """Each place ``text`` states ``fact``'s number; words an earlier pattern read are skipped."""
    spans: list[tuple[int, int]] = []
    for pattern in fact.patterns:
        for match in pattern.finditer(text):
            if any(s <= match.start() < e for s, e in spans):
                continue
            spans.append(match.span())
            yield match


def _table_place(inputs: Inputs, fact: _Fact) -> str:
    cells = [inputs.form.cell(c) for c in fact.codes]
    if len(cells) == 1:
        return where(cells[0])
    return "、".join(where(c) for c in cells) + "之和"


def narrative_numbers(rule: RuleDef, params: NoParams, inputs: Inputs) -> Iterator[Finding]:
    """Numbers the narrative quotes (申请件数, 结转, 复议, 诉讼) agree with the tables (C5)."""
    seen: set[tuple[int, int]] = set()  # one finding per fact and number, however often written
    for _code, heading, text in _narratives(inputs):
        for index, fact in enumerate(_FACTS):
            sums = _table_sums(fact, inputs)
            if sums is None:
                continue
            figure, accepted = sums
            for match in _mentions(fact, text):
                number = chinese_int(match.group("n"))
                if number is None or Decimal(number) in accepted or (index, number) in seen:
                    continue
                seen.add((index, number))
                yield Finding(
                    fact.codes,
                    f"正文“{heading}”中写“{match.group(0)}”，但表格{_table_place(inputs, fact)}"
                    f"为{fmt(figure)}，两者不一致，请核对。",
                )


def narrative_present(rule: RuleDef, params: NarrativePresent, inputs: Inputs) -> Iterator[Finding]:
    """Each narrative section is there and says something; section 6 states the fee (C8)."""
    min_chars = params.min_chars
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


def text_length(rule: RuleDef, params: TextLength, inputs: Inputs) -> Iterator[Finding]:
    """A narrative section longer than one Excel cell holds (T1). The text is kept whole (the
    store keeps it as read); the department is asked to shorten it, because neither its
    workbook nor the city-level one can hold it."""
    limit = params.max_chars
    for code, heading, text in _narratives(inputs):
        if len(text) > limit:
            yield Finding(
                (code,),
                f"正文“{heading}”共{len(text):,}字，超过Excel单元格的上限（{limit:,}字），"
                f"汇总时无法完整收录，请精简到{limit:,}字以内后重新报送。",
            )


def fee_statement(rule: RuleDef, params: CellList, inputs: Inputs) -> Iterator[Finding]:
    """Applications dropped for unpaid fees, but section 6 says nothing of 信息处理费 (C6)."""
    form, report = inputs.form, inputs.report
    if not _has_narrative(report):
        raise Skip("no narrative")
    codes = form.expand_all(params.codes, {})
    nonzero = [(c, v) for c in codes if (v := value(report, c))]
    if not nonzero or _FEE_WORD in report.narrative.get("narrative.other_matters", ""):
        return
    listed = "、".join(f"{where(form.cell(c))}为{fmt(v)}" for c, v in nonzero)
    yield Finding(
        tuple(c for c, _ in nonzero),
        f"{listed}（申请人逾期未缴纳信息处理费），但“六、其他需要报告的事项”未说明"
        "信息处理费的收取情况，请补充。",
    )
