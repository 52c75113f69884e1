"""Importing a published annual report (text) into a :class:`~annual_report.report.Report`.

The text is split into the form's six sections by their headings (never on a bare ``四、``:
``四、结转下年度继续办理`` is a row of section 3). Narrative sections are kept as text; each table
section becomes a stream of cell tokens (:mod:`annual_report.texttokens`, whatever the layout),
and one walker reads every layout: captions and header labels fix the block and its column order,
a row label opens a row, the value tokens after it are that row's cells. Labels are compared with
:func:`~annual_report.labels.label_key` against the form's labels and aliases, so half-width
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
from dataclasses import dataclass, field
from typing import Any

from .errors import NianbaoError
from .form import Alias, Block, Form, form_for_year, forms, load_form
from .labels import label_key
from .report import LabelNote, Report
from .texttokens import Layout, Token, detect_layout, tokenize

log = logging.getLogger(__name__)

__all__ = ["TextImportError", "import_result", "import_text"]


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
# A data row in the 2019 format, a group of three rows in 2021.
_SINGLE_OTHER = label_key("（六）其他处理")
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
        current = next(f for f in forms() if f.last_year is None)
        report = _read(body, sections, current, None, source, cut)
        if report.declared_form and report.declared_form != current.id:
            report = _read(body, sections, load_form(report.declared_form), None, source, cut)
        report.missing.insert(0, "未能从原文确定报告年度")
        return report
    return _read(body, sections, form, report_year, source, cut)


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


# -- sections -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Section:
    number: int
    line: int  # index of the heading line
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
    out = []
    for k, (i, number) in enumerate(heads):
        end = heads[k + 1][0] if k + 1 < len(heads) else len(lines)
        out.append(_Section(number, i, i + 1, end, lines[i].replace("\f", "").strip()))
    return out


# -- year ---------------------------------------------------------------------------------------
_TITLE_YEAR = re.compile(
    r"(20\d\d)\s*年\s*度?\s*(?:的)?\s*政府信息公开(?:工作)?(?:的)?\s*年度?报告"
)
_ABOUT_YEAR = re.compile(r"关于\s*(20\d\d)\s*年度")
_YEAR_AFTER = re.compile(r"年度报告\s*[(（]\s*(20\d\d)\s*年?度?\s*[)）]")
_PERIOD = re.compile(
    r"(20\d\d)\s*年\s*0?1\s*月\s*0?1\s*日\s*(?:至|到|-|—|～|~)\s*(20\d\d)\s*年\s*12\s*月\s*31\s*日"
)
_LEADING_YEAR = re.compile(r"^\s*(20\d\d)\s*年")


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
            for line in lines[section.start : section.end]:
                if line.strip():
                    m = _LEADING_YEAR.match(unicodedata.normalize("NFKC", line))
                    return int(m.group(1)) if m else None
    return None


# -- the label index ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Target:
    kind: str  # caption, corner, column, colgroup, row, group
    block: int
    index: int  # column or row index within the block (-1 for caption, corner, groups)
    label: str  # the form's exact label
    form_id: str
    foreign: bool = False  # a label of another format version
    alias: Alias | None = None


class _Index:
    """Every label of one section, in ``label_key`` form, for the form and the other versions."""

    def __init__(self, form: Form, number: int) -> None:
        self.form = form
        self.own: dict[str, list[_Target]] = defaultdict(list)
        self.other: dict[str, list[_Target]] = defaultdict(list)
        self._add(form, number, self.own, foreign=False)
        for other in forms():
            if other.id != form.id:
                self._add(other, number, self.other, foreign=True)
        self.keys = sorted(set(self.own) | set(self.other))

    @staticmethod
    def _add(form: Form, number: int, into: dict[str, list[_Target]], *, foreign: bool) -> None:
        try:
            section = form.section(number)
        except NianbaoError:
            return

        def put(label: str, target: _Target) -> None:
            if target not in into[label_key(label)]:
                into[label_key(label)].append(target)

        for b, block in enumerate(section.blocks):
            if block.caption:
                put(block.caption, _Target("caption", b, -1, block.caption, form.id, foreign))
            if block.corner:
                put(block.corner, _Target("corner", b, -1, block.corner, form.id, foreign))
            for kind, group_kind, headers in (
                ("column", "colgroup", block.columns),
                ("row", "group", block.rows),
            ):
                for i, header in enumerate(headers):
                    if not header.path:
                        continue
                    leaf = header.path[-1]
                    put(leaf, _Target(kind, b, i, leaf, form.id, foreign))
                    for alias in header.aliases:
                        put(alias.label, _Target(kind, b, i, leaf, form.id, foreign, alias))
                    for outer in header.path[:-1]:
                        put(outer, _Target(group_kind, b, -1, outer, form.id, foreign))

    def exact(self, key: str) -> list[_Target]:
        return self.own.get(key) or self.other.get(key) or []

    def longer(self, key: str) -> list[str]:
        """Label keys that start with ``key`` (a label cut by wrapping or truncation)."""
        return [k for k in self.keys if k.startswith(key) and k != key]


# -- walking the tokens of one table section ----------------------------------------------------
@dataclass
class _Header:
    """A column header as found: its target (None when not understood) and where."""

    text: str
    targets: list[_Target]
    line: int
    x: float | None


@dataclass
class _Row:
    label: str  # as found
    target: _Target | None  # None for a group label or an unknown label followed by values
    block: int | None
    line: int
    group: int
    columns: list[_Header | None] | None = None  # single-level blocks: header order as found
    values: list[Token] = field(default_factory=list)
    truncated: bool = False


@dataclass
class _Open:
    """A label seen only in part so far (wrapped over lines): what was read and what it may be."""

    acc: str
    candidates: list[str]
    header: _Header | None = None
    row: _Row | None = None


class _TableWalk:
    def __init__(self, report: Report, number: int, tokens: list[Token], layout: Layout) -> None:
        self.report = report
        self.form = report.form
        self.number = number
        self.section = self.form.section(number)
        self.blocks = self.section.blocks
        self.index = _Index(self.form, number)
        self.tokens = tokens
        self.layout = layout
        self.block: int | None = 0 if len(self.blocks) == 1 else None
        self.headers: list[_Header] = []
        self.in_rows = False  # rows of the current block have begun (headers are done)
        self.header_block: int | None = None  # block named by the caption over ``headers``
        self.columns: dict[int, list[_Header | None]] = {}
        self.rows: list[_Row] = []
        self.row: _Row | None = None
        self.opens: list[_Open] = []
        self.recent: list[str] = []
        self.seen: set[str] = set()  # keys of every label recognised (own or foreign)
        self.with_values: set[str] = set()  # keys of labels followed by values
        self.notes: list[LabelNote] = []
        self._noted: set[tuple[str, tuple[str, ...]]] = set()

    # .. driving ..
    def run(self, truncated: bool) -> None:
        i = 0
        previous: Token | None = None
        while i < len(self.tokens):
            token = self.tokens[i]
            if previous is not None and token.group != previous.group:
                self._row_break(token)
            if token.kind == "label":
                i = self._label(i)
            else:
                self._value(token)
                i += 1
            previous = token
        if self.row is not None and truncated:
            self.row.truncated = True
        self._close_row()

    def _row_break(self, token: Token) -> None:
        """A new table row (pipes, tabbed) or printed line (layout) begins."""
        if self.row is None:
            return
        explicit = self.layout in ("pipes", "tabbed")
        if explicit or (self.layout == "layout" and self.row.values):
            self._close_row()

    # .. values ..
    def _value(self, token: Token) -> None:
        if self.row is None:
            if token.kind == "empty":
                return
            block = self._single_unlabelled_block()
            if block is None:
                self._orphan(token)
                return
            self._start_row("", _Target("row", block, 0, "", self.form.id), block, token)
        assert self.row is not None
        self.row.values.append(token)

    def _single_unlabelled_block(self) -> int | None:
        """Section 4's one row has no label: values after its header are that row."""
        candidates = [self.block] if self.block is not None else range(len(self.blocks))
        for b in candidates:
            block = self.blocks[b]
            if len(block.rows) == 1 and not block.rows[0].path:
                return b
        return None

    def _orphan(self, token: Token) -> None:
        self._note(
            (),
            token.text,
            f"第{token.line}行的数值“{token.text}”前面没有可识别的行名，未读取",
            (f"第{token.line}行",),
        )

    # .. labels ..
    def _label(self, i: int) -> int:
        """Handle the label token at ``i`` (joined with the next ones when that makes a label)."""
        tokens = self.tokens
        # 1. neighbours that together are one label (``商业`` + ``企业``, ``本年新`` + ``制作数量``)
        j = i
        while j + 1 < len(tokens) and tokens[j].joins_next and j - i < 3:
            j += 1
        while j > i:
            key = label_key("".join(t.text for t in tokens[i : j + 1]))
            if self.index.exact(key):
                self._matched(key, tokens[i], "".join(t.text for t in tokens[i : j + 1]))
                return j + 1
            j -= 1
        self._label_text(tokens[i].text, tokens[i])
        return i + 1

    def _label_text(self, text: str, token: Token, *, split: bool = True) -> None:
        key = label_key(text)
        if not key:
            return
        if self.index.exact(key):  # 2. a label as the form (or another version) spells it
            self._matched(key, token, text)
            return
        if self._continues(key):  # 3. the rest of a label wrapped onto this line
            return
        longer = self.index.longer(key)
        if longer and len(key) >= 2:  # 4. the start of a label wrapped or cut off
            self._opened(key, longer, token, text)
            return
        parts = text.split()
        if split and len(parts) > 1:  # 5. two cells printed one space apart
            for part in parts:
                self._label_text(part, token, split=False)
            return
        if any(key in k for k in self.recent):  # 6. a stray piece of a label just seen
            return
        bare = key.rstrip(":")
        if bare != key and self.index.exact(bare):  # 7. ``行政许可：``
            self._matched(bare, token, text)
            return
        self._unknown(text, token)

    def _continues(self, key: str) -> bool:
        for op in reversed(self.opens):
            acc = op.acc + key
            still = [c for c in op.candidates if c.startswith(acc)]
            if not still:
                continue
            op.acc = acc
            op.candidates = still
            full = [c for c in still if c == acc]
            if full or len(still) == 1:
                self._resolve(op, full[0] if full else still[0])
                self.opens.remove(op)
            return True
        return False

    def _opened(self, key: str, longer: list[str], token: Token, text: str) -> None:
        op = _Open(key, longer)
        self.opens.append(op)
        del self.opens[:-12]
        if len(longer) == 1:
            self._matched(longer[0], token, text, opened=op)
            return
        # Ambiguous so far (``本年新`` …): keep its place; the next fragment decides.
        targets = [t for k in longer for t in self.index.exact(k)]
        if targets and all(t.kind in ("column", "colgroup", "corner") for t in targets):
            header = _Header(text, [], token.line, token.centre)
            self._add_header(header)
            op.header = header
        elif targets and all(t.kind in ("row", "group") for t in targets):
            self._close_row_if_filled()
            self.row = _Row(text, None, self.block, token.line, token.group)
            op.row = self.row

    def _resolve(self, op: _Open, key: str) -> None:
        targets = self.index.exact(key)
        self.seen.add(key)
        self.recent = [*self.recent[-20:], key]
        # an unresolved or alias-matched start (``现行有效件`` + ``数``) takes the full label
        if op.header is not None and all(t.alias for t in op.header.targets):
            columns = [t for t in targets if t.kind == "column"]
            op.header.targets = columns or op.header.targets
        elif op.row is not None and (op.row.target is None or op.row.target.alias):
            row_targets = [t for t in targets if t.kind == "row"]
            if row_targets:
                self._bind_row(op.row, row_targets)

    def _matched(self, key: str, token: Token, text: str, opened: _Open | None = None) -> None:
        targets = self.index.exact(key)
        self.seen.add(key)
        self.recent = [*self.recent[-20:], key]
        if opened is None:
            self.opens = [op for op in self.opens if key not in op.candidates]
        kinds = {t.kind for t in targets}
        if "caption" in kinds:
            self._close_row()
            self.block = next(t.block for t in targets if t.kind == "caption")
            self.in_rows = False
            self.headers = []
            self.header_block = self.block
        elif "row" in kinds:
            self._close_row()
            rows = [t for t in targets if t.kind == "row"]
            row = _Row(text, None, None, token.line, token.group)
            self._bind_row(row, rows)
            self.row = row
            if opened is not None:
                opened.row = row
            elif all(t.alias for t in rows):
                self._may_continue(key, _Open(key, [], row=row))
        elif "column" in kinds:
            if self.in_rows:
                # a column label after rows: the header of a block without caption
                self._close_row()
                self.in_rows = False
                self.headers = []
                self.header_block = None
            header = _Header(text, [t for t in targets if t.kind == "column"], token.line, None)
            header.x = token.centre
            self._add_header(header)
            if opened is not None:
                opened.header = header
            elif all(t.alias for t in header.targets):
                self._may_continue(key, _Open(key, [], header=header))
        elif "group" in kinds:
            if self.row is not None and self.row.values:
                self._close_row()
            if self.row is None:  # a group label followed by values: the 2019 (六), for one
                self.row = _Row(text, None, self.block, token.line, token.group)
        # captions' corners and outer column headers carry nothing to read

    def _may_continue(self, key: str, op: _Open) -> None:
        """An alias that is also the start of a full label may be that label wrapped."""
        op.candidates = self.index.longer(key)
        if op.candidates:
            self.opens.append(op)
            del self.opens[:-12]

    def _bind_row(self, row: _Row, targets: list[_Target]) -> None:
        """Give ``row`` its target: in the current block if it has such a row, else the first."""
        target = next((t for t in targets if t.block == self.block), targets[0])
        row.target = target
        if target.foreign:
            return
        if target.block != self.block or self.block not in self.columns:
            self._enter_block(target.block)
        row.block = target.block
        row.columns = self.columns[target.block]
        self.in_rows = True

    def _enter_block(self, b: int) -> None:
        """Rows of block ``b`` begin: fix its column order from the headers read before them."""
        self.block = b
        block = self.blocks[b]
        headers = self.headers if self.header_block in (None, b) else []
        self.headers = []
        self.header_block = b
        if _multi_level(block) or not headers:
            found = headers if _multi_level(block) else []
            self.columns[b] = self._form_order(block, found)
            return
        columns: list[_Header | None] = []
        for header in headers:
            own = [t for t in header.targets if not t.foreign and t.block == b]
            if own:
                header.targets = own[:1]
                self._alias_note(block, header, column=True)
            columns.append(header)
        self.columns[b] = columns

    def _form_order(self, block: Block, found: list[_Header]) -> list[_Header | None]:
        """Multi-level headers are read in the form's order; found leaves give their positions."""
        out: list[_Header | None] = []
        used: set[int] = set()
        for i, column in enumerate(block.columns):
            match = None
            for k, header in enumerate(found):
                if k in used:
                    continue
                if any(_is_column(t, i) for t in header.targets):
                    match = k
                    break
            if match is not None:
                used.add(match)
                header = found[match]
                header.targets = [
                    t for t in header.targets if t.index == i and not t.foreign
                ] or header.targets
                self._alias_note(block, header, column=True)
                out.append(_Header(header.text, header.targets, header.line, header.x))
            else:
                target = _Target("column", self.blocks.index(block), i, column.label, self.form.id)
                out.append(_Header(column.label, [target], -1, None))
        return out

    def _add_header(self, header: _Header) -> None:
        self.headers.append(header)

    def _close_row_if_filled(self) -> None:
        if self.row is not None and (self.row.values or self.row.target is not None):
            self._close_row()

    def _start_row(self, label: str, target: _Target | None, block: int, token: Token) -> None:
        if block not in self.columns or self.block != block:
            self._enter_block(block)
        self.row = _Row(label, target, block, token.line, token.group, self.columns[block])
        self.in_rows = True

    def _close_row(self) -> None:
        row, self.row = self.row, None
        if row is None:
            return
        if row.target is None and all(v.kind == "empty" for v in row.values):
            row.values = []  # empty cells beside a group label (merged cells in pipe tables)
        if row.values and row.target is not None:
            self.with_values.add(label_key(row.target.label))
        elif row.values:
            self.with_values.add(label_key(row.label))
        self.rows.append(row)

    def _unknown(self, text: str, token: Token) -> None:
        """A label matching nothing: a column if among headers, else a row whose values are lost."""
        if not self.in_rows and self.row is None:
            block = self.blocks[self.block] if self.block is not None else None
            if self.headers and block is not None and not _multi_level(block):
                self._add_header(_Header(text, [], token.line, token.centre))
            else:
                log.debug("ignored label %r before the rows (line %s)", text, token.line)
            return
        if self.row is not None and not self.row.values and self.row.target is not None:
            # the rest of a row label the form spells differently: keep the row open
            return
        self._close_row()
        self.row = _Row(text, None, self.block, token.line, token.group)

    # .. notes ..
    def _note(
        self, codes: tuple[str, ...], found: str, message: str, cells: tuple[str, ...]
    ) -> None:
        marker = (message, codes)
        if marker in self._noted:
            return
        self._noted.add(marker)
        self.notes.append(LabelNote(codes, found, message, cells))

    def _alias_note(self, block: Block, header: _Header, *, column: bool) -> None:
        target = header.targets[0] if header.targets else None
        if target is None or target.alias is None:
            return
        if column:
            codes = tuple(block.cell_at(r, target.index).code for r in range(len(block.rows)))
        else:
            codes = tuple(block.cell_at(target.index, c).code for c in range(len(block.columns)))
        self._note(
            codes,
            header.text,
            target.alias.warn or _alias_message(header.text, target.label, column=column),
            (f"第{header.line}行",),
        )

    # .. results ..
    def finish(self) -> None:
        """Store every row's values in the report; note what could not be placed."""
        full = self._reference_rows()
        for row in self.rows:
            self._store(row, full)

    def _reference_rows(self) -> dict[int, list[_Row]]:
        """Rows with a value in every column, by block: where each column's values sit (layout)."""
        out: dict[int, list[_Row]] = defaultdict(list)
        for row in self.rows:
            complete = row.columns and len(row.values) == len(row.columns)
            if row.block is not None and complete and all(v.x is not None for v in row.values):
                out[row.block].append(row)
        return out

    def _store(self, row: _Row, full: dict[int, list[_Row]]) -> None:
        cell_ref = f"第{row.line}行"
        if row.target is None or row.target.foreign or row.block is None:
            if row.values:
                self._dropped_row(row)
            return
        block = self.blocks[row.block]
        columns = row.columns or self.columns.get(row.block) or []
        values = list(row.values)
        n = len(columns)
        while len(values) > n and values[-1].kind == "empty":
            values.pop()  # pipe tables pad short blocks with empty cells
        if len(values) > n:
            extra = values[n:]
            values = values[:n]
            self._note(
                tuple(block.cell_at(row.target.index, c).code for c in range(len(block.columns))),
                row.label,
                f"“{row.label}”行的数值多于列数，多出的"
                + "、".join(f"“{v.text}”" for v in extra)
                + "未读取",
                (cell_ref,),
            )
        placed = self._place(values, columns, row, full)
        if placed is None:
            self._note(
                tuple(block.cell_at(row.target.index, c).code for c in range(len(block.columns))),
                row.label,
                f"“{row.label}”行只有{len(values)}个数值（应为{n}个），无法确定各数值所在的列，未读取："
                + "、".join(v.text or "（空）" for v in values),
                (cell_ref,),
            )
            return
        for value, header in placed:
            if header is None:
                continue
            own = [t for t in header.targets if t.kind == "column" and not t.foreign]
            own = [t for t in own if t.block == row.block] or []
            if not own:
                self._dropped_column(block, header, value)
                continue
            code = block.cell_at(row.target.index, own[0].index).code
            self.report.set_raw(code, value.text, f"第{value.line}行")
        if row.target.alias is not None:
            self._alias_note(block, _Header(row.label, [row.target], row.line, None), column=False)

    def _place(
        self,
        values: list[Token],
        columns: list[_Header | None],
        row: _Row,
        full: dict[int, list[_Row]],
    ) -> list[tuple[Token, _Header | None]] | None:
        """Which column each value belongs to; ``None`` when that cannot be known."""
        n = len(columns)
        if len(values) == n or not values:
            return list(zip(values, columns, strict=False))
        if self.layout in ("pipes", "tabbed") or row.truncated:
            # empty cells are explicit (or the text was cut after these): left to right
            return list(zip(values, columns, strict=False))
        if self.layout == "layout" and all(v.x is not None for v in values):
            centres = _centres(row, full.get(row.block or 0, []), n)
            if centres is None:
                centres = [h.x if h is not None else None for h in columns]
                if any(c is None for c in centres):
                    return None
            order = _assign([v.centre or 0.0 for v in values], [float(c or 0) for c in centres])
            placed = [(v, columns[j]) for v, j in zip(values, order, strict=True)]
            # a column the printed row leaves empty between its values is an empty cell
            first = values[0]
            blank = Token("", "empty", first.line, first.group, None, first.page)
            placed += [(blank, columns[j]) for j in range(n) if j not in order]
            return placed
        return None

    def _dropped_row(self, row: _Row) -> None:
        values = list(row.values)
        while values and values[-1].kind == "empty":
            values.pop()
        text = "、".join(v.text or "（空）" for v in values)
        if row.target is not None and row.target.foreign:
            other = load_form(row.target.form_id)
            message = (
                f"“{row.label}”是{_form_name(other)}的行，本表格式（{_form_name(self.form)}）"
                f"没有此行，其数值未读取：{text}"
            )
        elif label_key(row.label) == _SINGLE_OTHER:
            message = (
                f"“{row.label}”按2019年版格式填为一行，{_form_name(self.form)}中该项分为3行，"
                f"其数值未读取：{text}"
            )
        else:
            message = f"未能识别的行名“{row.label}”，其数值未读取：{text}"
        self._note((), row.label, message, (f"第{row.line}行",))

    def _dropped_column(self, block: Block, header: _Header, value: Token) -> None:
        foreign = [t for t in header.targets if t.foreign]
        if foreign:
            other = load_form(foreign[0].form_id)
            message = (
                f"“{header.text}”是{_form_name(other)}的列，本表格式（{_form_name(self.form)}）"
                "没有此列，该列数值未读取"
            )
        else:
            message = f"未能识别的表头“{header.text}”，该列数值未读取"
        self._note((), header.text, message, (f"第{header.line}行",))


def _is_column(target: _Target, index: int) -> bool:
    return target.kind == "column" and target.index == index and not target.foreign


def _multi_level(block: Block) -> bool:
    return block.header_depth > 1


def _alias_message(found: str, label: str, *, column: bool) -> str:
    what = "列名" if column else "行名"
    return f"{what}“{found}”与标准格式的“{label}”不一致，已按“{label}”读取"


def _form_name(form: Form) -> str:
    return form.name.split("（", 1)[0]


def _centres(row: _Row, reference: list[_Row], n: int) -> list[float] | None:
    """Column centres from the nearest complete row, on the same page when there is one."""
    if not reference or not row.values:
        return None
    page = row.values[0].page
    same_page = [r for r in reference if r.values[0].page == page] or reference
    nearest = min(same_page, key=lambda r: abs(r.line - row.line))
    return [v.centre or 0.0 for v in nearest.values][:n]


def _assign(xs: list[float], centres: list[float]) -> list[int]:
    """Columns for values at ``xs`` (left to right): increasing, nearest in total distance."""
    k, n = len(xs), len(centres)
    inf = float("inf")
    # cost[i][j]: best cost placing values[:i+1] with value i in column j
    cost = [[inf] * n for _ in range(k)]
    back = [[-1] * n for _ in range(k)]
    for j in range(n):
        cost[0][j] = abs(xs[0] - centres[j])
    for i in range(1, k):
        best, arg = inf, -1
        for j in range(n):
            if j > 0 and cost[i - 1][j - 1] < best:
                best, arg = cost[i - 1][j - 1], j - 1
            if arg >= 0:
                cost[i][j] = best + abs(xs[i] - centres[j])
                back[i][j] = arg
    j = min(range(n), key=lambda c: cost[k - 1][c])
    out = [j]
    for i in range(k - 1, 0, -1):
        j = back[i][j]
        out.append(j)
    return out[::-1]


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
        walk = _TableWalk(report, spec.number, tokens, layout)
        walk.run(truncated=cut is not None and spec.number == last)
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
    if _SINGLE_OTHER in with_values:
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
        out.extend(_missing_cells(report, spec.number, part))
    return out


def _missing_cells(report: Report, number: int, part: str) -> list[str]:
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
        return [f"{part}没有读到表格数据"]
    out = []
    if absent:
        more = f"等{len(absent)}行" if len(absent) > 1 else "行"
        out.append(f"{part}表格不完整：缺少“{absent[0]}”{more}")
    return out + partial


def _columns_text(block: Block, cols: list[int]) -> str:
    first = block.columns[cols[0]].label
    return f"“{first}”等{len(cols)}" if len(cols) > 1 else f"“{first}”"
