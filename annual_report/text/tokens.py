"""Turning the table part of a published report's text into a stream of cell tokens.

Published reports reach us as text in these layouts, and all become the same token stream:

- ``pipes`` — web tables flattened to ``规章 | 0 | 0 | 0 |``: a row per line, empty cells explicit;
- ``cells`` — web tables flattened a cell at a time: every cell on its own line ending in ``|``
  (``规章 |``, then ``0 |``), empty cells as bare ``|`` lines and merged cells as ``|||``, or a
  ``|`` line after every cell; a ``|`` ends a cell and line breaks mean nothing, so rows are
  found by their labels, as in ``lines``;
- ``tsv`` — a table copied from a web page: a row per line, cells separated by tabs (empty
  cells explicit, like ``pipes``);
- ``tabbed`` — one cell per line, tab-indented, a blank line between rows (the seed): empty cells
  are explicit (a line holding only the tab);
- ``layout`` — ``pdftotext -layout``: cells separated by two or more spaces, labels wrapped onto
  other lines, empty cells simply absent (the column offset ``x`` is kept to place values);
- ``lines`` — one cell per line with nothing marking rows (many web pages). Where the cells are
  separated by one blank line each, an empty cell shows as one more blank line: such empty cells
  are kept as ``inferred`` tokens, which count only to place a value that follows them.

The walker in :mod:`annual_report.text.importer` decides what the tokens mean.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Literal

from annual_report.form.numbers import DASHES

Layout = Literal["pipes", "tsv", "cells", "tabbed", "layout", "lines"]
Kind = Literal["label", "value", "empty"]

_NUMBER = re.compile(
    r"[+\-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:万元|元|件|条|個|个|项|項|次|人|份|篇)?"
)
_GAP = re.compile(r"\S\s{2,}\S")
_LAYOUT_CELL = re.compile(r"\S+(?: \S+)*")  # runs of text separated by two or more spaces
_PART = re.compile(r"\S+")
_MARKDOWN_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_TSV_ROW = re.compile(r"\S[ ]*\t")  # a tab after a cell's text (not the seed's indenting tab)


@dataclass(frozen=True)
class Token:
    """One cell (or a piece of one) of a table, where it was found."""

    text: str  # stripped; "" for an explicit empty cell
    kind: Kind
    line: int  # 1-based line number in the whole text
    group: int  # cells sharing a group were on one table row (pipes/tabbed) or one printed line
    x: int | None = None  # column offset of the cell's first character (layout only)
    page: int = 0
    joins_next: bool = False  # may form one label with the next token (a label split in two)
    closed: bool = False  # its cell was ended by a "|" (so the text was not cut inside it)
    inferred: bool = False  # an empty cell known only from an extra blank line (``lines``)

    @property
    def centre(self) -> float | None:
        return None if self.x is None else self.x + len(self.text) / 2


def is_value(text: str) -> bool:
    """Whether a cell holds a number, a dash form or ``无`` (what a data cell may hold)."""
    folded = unicodedata.normalize("NFKC", text).replace(" ", "").replace("−", "-")
    if not folded:
        return False
    return folded in DASHES or text.strip() in DASHES or bool(_NUMBER.fullmatch(folded))


def is_number(text: str) -> bool:
    """Whether a cell holds a number (with or without a unit), not a dash form or ``无``."""
    folded = unicodedata.normalize("NFKC", text).replace(" ", "").replace("−", "-")
    return bool(folded) and bool(_NUMBER.fullmatch(folded))


def detect_layout(lines: Sequence[str]) -> Layout:
    """Which of the five layouts the (table) lines use."""
    content = [line for line in lines if line.strip()]
    if not content:
        return "lines"
    piped = sum(1 for line in content if "|" in line)
    if piped * 5 >= len(content) * 2:  # a caption or a line of prose among the table's lines
        # a row per line puts a label and its values on one line; a cell per line never does
        rows = sum(1 for line in content if len([c for c in line.split("|") if c.strip()]) >= 2)
        return "pipes" if rows * 5 >= len(content) else "cells"
    tabs = sum(1 for line in content if _TSV_ROW.search(line))
    if tabs * 5 >= len(content) * 2:
        return "tsv"
    tabbed = sum(1 for line in content if line.startswith("\t"))
    if tabbed * 2 >= len(content):
        return "tabbed"
    gapped = sum(1 for line in content if _GAP.search(line.replace("\f", "")))
    if gapped >= 3 and gapped * 4 >= len(content):
        return "layout"
    return "lines"


def tokenize(numbered: Sequence[tuple[int, str]], layout: Layout | None = None) -> list[Token]:
    """The cell tokens of ``(line number, line)`` pairs in ``layout`` (detected when ``None``)."""
    if layout is None:
        layout = detect_layout([line for _, line in numbered])
    tokens = _cell_stream(numbered) if layout == "cells" else _line_tokens(numbered, layout)
    # Neighbouring labels may be one label split in two: within a row or printed line, or
    # anywhere in the ``lines`` and ``cells`` layouts (``商业`` / ``企业`` on separate lines).
    out = []
    labels = [t for t in tokens if t.kind != "empty" or not t.inferred]
    following = {id(a): b for a, b in pairwise(labels)}
    for token in tokens:
        nxt = following.get(id(token))
        joins = (
            token.kind == "label"
            and nxt is not None
            and nxt.kind == "label"
            and (layout in ("lines", "cells") or nxt.group == token.group)
        )
        out.append(replace(token, joins_next=joins) if token.joins_next != joins else token)
    return out


def _line_tokens(numbered: Sequence[tuple[int, str]], layout: Layout) -> list[Token]:
    """Tokens of the layouts where a line is a row (pipes, layout), a cell (tabbed, lines)."""
    # text, line, group, x, page, inferred (empty cell), closed (by a "|")
    cells: list[tuple[str, int, int, int | None, int, bool, bool]] = []
    group = 0
    page = 0
    if layout == "tabbed":
        in_row = False
        for number, line in numbered:
            if not line.strip() and not line.startswith("\t"):
                if in_row:
                    group += 1
                    in_row = False
                continue
            if line.startswith("\t"):
                cells.append((line.strip(), number, group, None, 0, False, False))
                in_row = True
            else:  # a stray line between the rows: a row of its own
                group += 1
                cells.append((line.strip(), number, group, None, 0, False, False))
                group += 1
                in_row = False
    else:
        gaps = _blank_gaps(numbered) if layout == "lines" else {}
        for number, raw in numbered:
            page += raw.count("\f")
            line = raw.replace("\f", "")
            line = line if layout == "tsv" else line.expandtabs()
            if not line.strip() or (layout == "pipes" and _MARKDOWN_RULE.match(line)):
                continue
            for _ in range(gaps.get(number, 0)):
                group += 1
                cells.append(("", number, group, None, page, True, False))
            group += 1
            if layout == "pipes":
                parts = line.rstrip().split("|")
                ended = len(parts) > 1 and parts[-1] == ""
                if ended:
                    parts.pop()  # the pipe that ends the row, not an empty cell
                for k, part in enumerate(parts):
                    closed = ended or k < len(parts) - 1
                    cells.append((part.strip(), number, group, None, page, False, closed))
            elif layout == "tsv":
                for part in line.rstrip("\r\n ").split("\t"):
                    cells.append((part.strip(), number, group, None, page, False, True))
            elif layout == "layout":
                for m in _LAYOUT_CELL.finditer(line):
                    cells.append((m.group(), number, group, m.start(), page, False, False))
            else:
                cells.append((line.strip(), number, group, None, page, False, False))
    explicit = layout in ("pipes", "tsv", "tabbed")
    tokens: list[Token] = []
    for text, number, grp, x, pg, inferred, closed in cells:
        if not text:
            if explicit or inferred:
                tokens.append(Token("", "empty", number, grp, x, pg, inferred=inferred))
            continue
        for piece, offset in _split_cell(text):
            kind: Kind = "value" if is_value(piece) else "label"
            px = None if x is None else x + offset
            tokens.append(Token(piece, kind, number, grp, px, pg, closed=closed))
    return tokens


def _blank_gaps(numbered: Sequence[tuple[int, str]]) -> dict[int, int]:
    """Empty cells shown as extra blank lines: ``{line number: empty cells before it}``.

    Only where nearly every cell is followed by exactly one blank line (so that two blank lines
    can only mean an empty cell between), and only between two lines of text.
    """
    gaps: list[tuple[int, int]] = []  # (line number of the next text line, blank lines before it)
    blank = None
    for number, raw in numbered:
        if not raw.replace("\f", "").strip():
            if blank is not None:
                blank += 1
            continue
        if blank is not None:
            gaps.append((number, blank))
        blank = 0
    if len(gaps) < 8 or sum(1 for _, g in gaps if g == 1) * 10 < len(gaps) * 7:
        return {}
    return {number: g - 1 for number, g in gaps if g > 1}


def _cell_stream(numbered: Sequence[tuple[int, str]]) -> list[Token]:
    """The ``cells`` layout: the text is one stream of cells, each ended by a ``|``."""
    tokens: list[Token] = []
    text: list[str] = []
    first: int | None = None  # line where the current cell's text begins
    page = 0

    def end(number: int, closed: bool) -> None:
        nonlocal first
        cell = " ".join(part.strip() for part in text if part.strip())
        line = first if first is not None else number
        text.clear()
        first = None
        if not cell:
            if closed:
                tokens.append(Token("", "empty", line, len(tokens), None, page, closed=True))
            return
        for piece, _ in _split_cell(cell):
            kind: Kind = "value" if is_value(piece) else "label"
            tokens.append(Token(piece, kind, line, len(tokens), None, page, closed=closed))

    for number, raw in numbered:
        page += raw.count("\f")
        line = raw.replace("\f", "")
        if _MARKDOWN_RULE.match(line):
            continue
        parts = line.split("|")
        for k, part in enumerate(parts):
            if part.strip():
                if first is None:
                    first = number
                text.append(part)
            if k < len(parts) - 1:
                end(number, closed=True)
        # a line break inside a cell means nothing (``商业`` / ``企业``)
    end(numbered[-1][0] if numbered else 0, closed=False)
    return tokens


def _split_cell(text: str) -> list[tuple[str, int]]:
    """A cell as (piece, offset) pairs: values typed after a label, or several values, split off.

    ``行政许可 6`` → label and value; ``0 0 0`` → three values; ``本年新 制作数量`` stays whole
    (the label matcher removes the space).
    """
    parts = [(m.group(), m.start()) for m in _PART.finditer(text)]
    if len(parts) == 1:
        return [(text, 0)]
    first_value = len(parts)
    while first_value > 0 and is_value(parts[first_value - 1][0]):
        first_value -= 1
    if first_value == len(parts):
        return [(text, 0)]
    out = []
    if first_value:
        end = parts[first_value - 1][1] + len(parts[first_value - 1][0])
        out.append((text[:end], 0))
    out.extend(parts[first_value:])
    return out
