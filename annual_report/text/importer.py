"""Importing a published annual report (text) into a :class:`~annual_report.report.Report`.

The text is split into the form's six sections by their headings (never on a bare ``四、``:
``四、结转下年度继续办理`` is a row of section 3). Narrative sections are kept as text; each table
section becomes a stream of cell tokens (:mod:`annual_report.text.tokens`, whatever the layout),
and one walker reads every layout: captions and header labels fix the block and its column order,
a row label opens a row, the value tokens after it are that row's cells. Labels are compared with
:func:`~annual_report.form.labels.label_key` against the form's labels and aliases, so half-width
brackets, traditional characters, split headers (``本年新 制作数量``) and labels wrapped over
several printed lines all match; the labels of the other format version are recognised too, to say
what they are and to tell which version the tables actually use (``report.declared_form``).

Nothing is guessed silently: an alias or a foreign label gives a :class:`LabelNote`, values that
cannot be placed in a column are reported and not stored, and ``report.missing`` says in Chinese
what the text (often truncated) does not contain.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import opencc

from annual_report.errors import NianbaoError
from annual_report.form.labels import label_key
from annual_report.form.model import Block, Form, form_for_year, forms, load_form
from annual_report.report import Report
from annual_report.text.table import SINGLE_OTHER, TableWalk
from annual_report.text.tokens import detect_layout, tokenize

log = logging.getLogger(__name__)

__all__ = ["TextImportError", "decode_text", "import_result", "import_text", "tables_lost"]


class TextImportError(NianbaoError):
    """The text holds no recognisable part of an annual report at all."""


_NUMERALS = "一二三四五六"
# Words that identify a section heading (after its numeral), in label_key form.
_HEADING_WORDS = {
    1: ("总体情况",),
    2: ("主动公开",),
    3: ("申请",),
    4: ("复议", "诉讼"),
    5: ("问题",),
    6: ("其他需要报告", "其他事项"),
}
_MAX_HEADING = 40
_TRUNCATION = re.compile(r"^\s*\[\s*(?:\.\.\.|…)")

# Labels only one version of the national format uses (FORMAT.md §4, §5): they tell which
# version a published table follows, whatever the report year says.
_SIGNALS = {
    "gov-disclosure-2019": (
        "本年新制作数量",
        "本年新公开数量",
        "上一年项目数量",
        "本年增/减",
        "其他对外管理服务事项",
        "政府集中采购",
        "采购项目数量",
        "采购总金额",
        "第二十条第（九）项",
    ),
    "gov-disclosure-2021": (
        "本年制发件数",
        "本年废止件数",
        "现行有效件数",
        "本年处理决定数量",
        "本年收费金额（单位：万元）",
        "本年度收费金额（单位：万元）",
        "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
        "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
        "1.逾期不补正",
        "2.逾期不缴费",
    ),
}
_SIGNAL_KEYS = {fid: {label_key(s) for s in labels} for fid, labels in _SIGNALS.items()}


# -- public API ---------------------------------------------------------------------------------
def import_text(
    text: str,
    *,
    year: int | None = None,
    source: str | None = None,
    form: Form | None = None,
) -> Report:
    """Read a published report's text into a :class:`Report`.

    ``year`` overrides the year found in the text; ``form`` overrides the form chosen by year
    (e.g. to re-read a 2022 report whose tables use the 2019 format with that format).
    Raises :class:`TextImportError` only when no section of a report is found at all.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [_PINYIN.sub("", line) for line in lines]
    lines = _simplified(lines, source)
    cut = _truncation_line(lines)
    body = lines[:cut] if cut is not None else lines
    sections = _find_sections(body)
    if not sections:
        raise TextImportError(
            "no section heading of an annual report found", source=source, lines=len(lines)
        )
    found_year = _detect_year(body, sections)
    if year is not None and found_year is not None and found_year != year:
        log.warning("text says year %s, using the given year %s (%s)", found_year, year, source)
    report_year = year if year is not None else found_year

    if form is None and report_year is not None:
        form = form_for_year(report_year)
    if form is None:  # no year: read with the current format, then with the one the tables show
        form = next(f for f in forms() if f.last_year is None)
        report = _read(body, sections, form, None, source, cut)
        if report.declared_form and report.declared_form != form.id:
            declared = load_form(report.declared_form)
            report = _read(body, sections, declared, None, source, cut)
    else:
        report = _read(body, sections, form, report_year, source, cut)
    if report_year is None:
        report.missing.insert(0, "未能从原文确定报告年度")
    return report


def decode_text(data: bytes) -> str:
    """A saved report's bytes as text: UTF-8 (with or without BOM), else GB18030 (pages saved
    on Chinese Windows), else UTF-8 with replacement characters."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def import_result(report: Report) -> dict[str, Any]:
    """The JSON of ``nianbao import-text --json``: ``report.to_dict()`` and what the text showed."""
    result = report.to_dict()
    result["narrative"] = dict(report.narrative)
    result["missing"] = list(report.missing)
    result["declared_form"] = report.declared_form
    result["source"] = report.source
    result["label_notes"] = [
        {
            "codes": list(note.codes),
            "found": note.found,
            "message": note.message,
            "cells": list(note.cells),
        }
        for note in report.label_notes
    ]
    return result


# -- script -------------------------------------------------------------------------------------
# Pages offered in traditional characters by machine conversion sometimes annotate characters
# with their pinyin: ``鎮(zhèn)``, ``機構(gòu)``.
_PINYIN = re.compile(
    r"(?<=[\u4e00-\u9fff])[(（]"
    r"[a-zü]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹ][a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹ]*[)）]"
)
_T2S = opencc.OpenCC("tw2s")  # Taiwan variants too (著力 → 着力)
_MIN_TRADITIONAL = 10  # characters that differ from simplified, to call a text traditional
# Pages converted by machine with Taiwan phrases write 資訊 for 信息 and so on. OpenCC's own
# reverse (tw2sp) also turns 查询 into 查找 and 文件 into 文档, so only these are put back; the
# walker matches table labels with 檔案 for 文件 as well.
_TAIWAN_PHRASES = {"资讯": "信息", "网路": "网络", "软体": "软件", "程式": "程序"}


def _simplified(lines: list[str], source: str | None) -> list[str]:
    """A text in traditional characters, in simplified ones (character by character, and the
    few Taiwan phrases above when the text uses them)."""
    converted = [_T2S.convert(line) for line in lines]
    pairs = zip("".join(lines), "".join(converted), strict=False)  # tw2s keeps the length
    changed = sum(1 for x, y in pairs if x != y)
    if changed < _MIN_TRADITIONAL:
        return lines
    log.info("%s: traditional characters (%s), read as simplified", source, changed)
    if any("资讯" in line for line in converted):
        for taiwan, mainland in _TAIWAN_PHRASES.items():
            converted = [line.replace(taiwan, mainland) for line in converted]
    return converted


# -- sections -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Section:
    number: int
    line: int  # index of the heading line (or of the table's first line, heading lost)
    start: int  # body: lines[start:end]
    end: int
    heading: str


def _truncation_line(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if _TRUNCATION.match(line):
            return i
    return None


def _heading_keys() -> dict[int, set[str]]:
    keys: dict[int, set[str]] = defaultdict(set)
    for f in forms():
        for section in f.sections:
            keys[section.number].update(label_key(h) for h in section.headings)
    return keys


def _heading(line: str, known: dict[int, set[str]]) -> tuple[int, bool] | None:
    """``(section number, exact)`` when ``line`` is a section heading; ``exact`` when it is one
    of the headings the forms know, rather than a numeral followed by the section's words."""
    text = line.replace("\f", "").strip()
    if not text or len(text) > _MAX_HEADING or "|" in text:
        return None
    key = label_key(text)
    for number, numeral in enumerate(_NUMERALS, start=1):
        if not key.startswith(numeral + ","):  # label_key folds 、 to ,
            continue
        if key in known[number]:
            return number, True
        if any(w in key for w in _HEADING_WORDS[number]):
            return number, False
    return None


def _find_sections(lines: list[str]) -> list[_Section]:
    """Section headings in order. Known headings win; a looser match (numeral and the section's
    words) only fills a gap between them, so a numbered sub-heading cannot split the text."""
    known = _heading_keys()
    found = [(i, h) for i, line in enumerate(lines) if (h := _heading(line, known))]

    def ordered(candidates: list[tuple[int, int]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for i, number in candidates:
            if not out or number > out[-1][1]:
                out.append((i, number))
        return out

    heads = ordered([(i, n) for i, (n, exact) in found if exact])
    for i, (number, exact) in found:
        if exact:
            continue
        before = [h for h in heads if h[0] < i]
        after = [h for h in heads if h[0] > i]
        low = before[-1][1] if before else 0
        high = after[0][1] if after else len(_NUMERALS) + 1
        if low < number < high and all(n != number for _, n in heads):
            heads = sorted([*heads, (i, number)])
    spans = [(i, number, i + 1) for i, number in heads]  # heading line, number, first line
    for number, keys in _LANDMARKS.items():  # a table whose section heading was lost
        if any(n == number for _, n, _ in spans):
            continue
        for i, line in enumerate(lines):
            above = [h for h in spans if h[0] < i]
            below = [h for h in spans if h[0] > i]
            low = above[-1][1] if above else 0
            high = below[0][1] if below else len(_NUMERALS) + 1
            if low < number < high and _is_landmark(line, keys):
                spans = sorted([*spans, (i, number, i)])
                break
    out = []
    for k, (i, number, start) in enumerate(spans):
        end = spans[k + 1][0] if k + 1 < len(spans) else len(lines)
        heading = lines[i].replace("\f", "").strip() if start > i else ""
        out.append(_Section(number, i, start, end, heading))
    return out


# The first line of a table section's table, when its heading is missing.
_LANDMARKS = {
    2: (label_key("第二十条第（一）项"),),
    3: (label_key("（本列数据的勾稽关系为"), label_key("申请人情况")),
}


def _is_landmark(line: str, keys: tuple[str, ...]) -> bool:
    text = line.replace("|", " ").replace("\f", "").strip()
    return 0 < len(text) <= 2 * _MAX_HEADING and label_key(text).startswith(keys)


# -- year ---------------------------------------------------------------------------------------
_TITLE_YEAR = re.compile(
    r"(20\d\d)\s*年\s*度?\s*(?:的)?\s*政府信息公开(?:工作)?(?:的)?\s*年度?报告"
)
_ABOUT_YEAR = re.compile(r"关于\s*(20\d\d)\s*年度")
_YEAR_AFTER = re.compile(r"年度报告\s*[(（]\s*(20\d\d)\s*年?度?\s*[)）]")
_PERIOD = re.compile(
    r"(20\d\d)\s*年\s*0?1\s*月\s*0?1\s*日\s*起?\s*(?:至|到|-|—|～|~)\s*(20\d\d)\s*年"
    r"\s*12\s*月\s*31\s*日"
)
_LEADING_YEAR = re.compile(r"^\s*(20\d\d)\s*年")
_WORK_YEAR = re.compile(r"(20\d\d)\s*年度?\s*(?:的)?\s*政府信息公开工作")
_YEAR_END = re.compile(r"截[至止]\s*(20\d\d)\s*年\s*12\s*月\s*31\s*日")


def _detect_year(lines: list[str], sections: list[_Section]) -> int | None:
    """The report year from the title, the statistical period or the first words of section 1."""
    end = next((s.line for s in sections if s.number >= 2), len(lines))
    head = unicodedata.normalize("NFKC", "\n".join(lines[:end]))
    for pattern in (_TITLE_YEAR, _ABOUT_YEAR, _YEAR_AFTER):
        m = pattern.search(head)
        if m:
            return int(m.group(1))
    for m in _PERIOD.finditer(head):
        if m.group(1) == m.group(2):
            return int(m.group(1))
    for section in sections:
        if section.number == 1:
            first = next((line for line in lines[section.start : section.end] if line.strip()), "")
            m = _LEADING_YEAR.match(unicodedata.normalize("NFKC", first))
            if m:
                return int(m.group(1))
    for pattern in (_WORK_YEAR, _YEAR_END):  # weaker: the year the text says it is about
        found = {int(m.group(1)) for m in pattern.finditer(head)}
        if len(found) == 1:
            return found.pop()
    return None


# -- the whole report ---------------------------------------------------------------------------
def _read(
    lines: list[str],
    sections: list[_Section],
    form: Form,
    year: int | None,
    source: str | None,
    cut: int | None,
) -> Report:
    report = Report(form=form, year=year, source=source, method="text")
    by_number = {s.number: s for s in sections}
    last = sections[-1].number
    seen: set[str] = set()
    with_values: set[str] = set()
    tables_read = False
    for spec in form.sections:
        section = by_number.get(spec.number)
        if section is None:
            continue
        body = lines[section.start : section.end]
        if spec.narrative:
            text = _narrative(body)
            if text:
                report.narrative[spec.narrative] = text
        if not spec.blocks:
            continue
        numbered = [(section.start + 1 + k, line) for k, line in enumerate(body)]
        layout = detect_layout(body)
        tokens = tokenize(numbered, layout)
        walk = TableWalk(report, spec.number, tokens, layout)
        # the text ends in this table: cut there, whether or not the cut is marked
        walk.run(truncated=spec.number == last, marked=cut is not None)
        walk.finish()
        report.label_notes.extend(walk.notes)
        seen |= walk.seen
        with_values |= walk.with_values
        tables_read = tables_read or any(r.values for r in walk.rows)
        log.debug("section %s: %s layout, %s tokens", spec.number, layout, len(tokens))
    report.declared_form = _declared_form(form, seen, with_values, tables_read)
    report.missing = _missing(report, by_number, cut)
    return report


def _narrative(body: list[str]) -> str:
    out: list[str] = []
    for raw in body:
        line = raw.replace("\f", "").strip()
        if not line:
            if out and out[-1]:
                out.append("")
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _declared_form(form: Form, seen: set[str], with_values: set[str], tables: bool) -> str | None:
    """The format version the tables show: the one with more of its own labels (ties: not the
    version the year requires, so that R6 reports it)."""
    counts = {fid: len(keys & seen) for fid, keys in _SIGNAL_KEYS.items()}
    if SINGLE_OTHER in with_values:
        counts["gov-disclosure-2019"] = counts.get("gov-disclosure-2019", 0) + 1
    others = [fid for fid in counts if fid != form.id and counts[fid]]
    own = counts.get(form.id, 0)
    best = max(others, key=lambda fid: counts[fid], default=None)
    if best is not None and counts[best] >= own:
        return best
    if own or tables:
        return form.id
    return None


# -- what the text lacks ------------------------------------------------------------------------
def _missing(report: Report, sections: dict[int, _Section], cut: int | None) -> list[str]:
    form = report.form
    out: list[str] = []
    if cut is not None:
        out.append(f"原文不完整：第{cut + 1}行起的内容未收录")
    for spec in form.sections:
        part = f"第{_NUMERALS[spec.number - 1]}部分"
        if spec.number not in sections:
            out.append(f"缺少{part}“{spec.heading}”")
            continue
        if spec.narrative and spec.narrative not in report.narrative:
            out.append(f"{part}“{spec.heading}”没有正文")
        if not spec.blocks:
            continue
        # a table the text goes on after, but nothing read from it, is a table lost
        lost = spec.number != max(sections)
        out.extend(_missing_cells(report, spec.number, part, lost=lost))
    return out


_LOST = "有表格，但没有读出任何数值"


def tables_lost(report: Report) -> list[str]:
    """What :func:`import_text` says of table sections the text has in full but from which no
    value was read (the layout was not understood): the import failed for those tables."""
    return [m for m in report.missing if m.endswith(_LOST)]


def _missing_cells(report: Report, number: int, part: str, *, lost: bool) -> list[str]:
    absent: list[str] = []  # rows with no value at all
    partial: list[str] = []  # rows with some columns missing
    any_read = False
    for block in report.form.section(number).blocks:
        lacking_by_row: list[tuple[str, list[int]]] = []
        read = 0
        for r, row in enumerate(block.rows):
            lacking = [
                c
                for c in range(len(block.columns))
                if block.cell_at(r, c).code not in report.entries
            ]
            if len(lacking) == len(block.columns):
                absent.append(row.label or "数据")
                continue
            read += 1
            if lacking:
                lacking_by_row.append((row.label or "数据", lacking))
        any_read = any_read or read > 0
        same = {tuple(cols) for _, cols in lacking_by_row}
        if len(lacking_by_row) >= 2 and len(lacking_by_row) == read and len(same) == 1:
            where = f"“{block.caption}”" if block.caption else "表格"
            partial.append(f"{part}{where}缺少{_columns_text(block, lacking_by_row[0][1])}列")
        else:
            for label, cols in lacking_by_row:
                partial.append(f"{part}“{label}”行缺少{_columns_text(block, cols)}列")
    if not any_read:
        return [f"{part}{_LOST}" if lost else f"{part}没有读到表格数据"]
    out = []
    if absent:
        more = f"等{len(absent)}行" if len(absent) > 1 else "行"
        out.append(f"{part}表格不完整：缺少“{absent[0]}”{more}")
    return out + partial


def _columns_text(block: Block, cols: list[int]) -> str:
    first = block.columns[cols[0]].label
    return f"“{first}”等{len(cols)}" if len(cols) > 1 else f"“{first}”"
