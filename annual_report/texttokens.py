"""Turning the table part of a published report's text into a stream of cell tokens.

Published reports reach us as text in these layouts, and all become the same token stream:

- ``pipes`` — web tables flattened to ``规章 | 0 | 0 | 0 |``: a row per line, empty cells explicit;
- ``tabbed`` — one cell per line, tab-indented, a blank line between rows (the seed): empty cells
  are explicit (a line holding only the tab);
- ``layout`` — ``pdftotext -layout``: cells separated by two or more spaces, labels wrapped onto
  other lines, empty cells simply absent (the column offset ``x`` is kept to place values);
- ``lines`` — one cell per line with nothing marking rows or empty cells (many web pages).

The walker in :mod:`annual_report.textimport` decides what the tokens mean.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .numbers import DASHES

Layout = Literal["pipes", "tabbed", "layout", "lines"]
Kind = Literal["label", "value", "empty"]

_NUMBER = re.compile(
    r"[+\-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:万元|元|件|条|個|个|项|項|次|人|份|篇)?"
)
_GAP = re.compile(r"\S\s{2,}\S")
_LAYOUT_CELL = re.compile(r"\S+(?: \S+)*")  # runs of text separated by two or more spaces
_PART = re.compile(r"\S+")
_MARKDOWN_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")


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

    @property
    def centre(self) -> float | None:
        return None if self.x is None else self.x + len(self.text) / 2


def is_value(text: str) -> bool:
    """Whether a cell holds a number, a dash form or ``无`` (what a data cell may hold)."""
    folded = unicodedata.normalize("NFKC", text).replace(" ", "").replace("−", "-")
    if not folded:
        return False
    return folded in DASHES or text.strip() in DASHES or bool(_NUMBER.fullmatch(folded))


def detect_layout(lines: Sequence[str]) -> Layout:
    """Which of the four layouts the (table) lines use."""
    content = [line for line in lines if line.strip()]
    if not content:
        return "lines"
    piped = sum(1 for line in content if "|" in line)
    if piped * 2 >= len(content):
        return "pipes"
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
    cells: list[tuple[str, int, int, int | None, int]] = []  # text, line, group, x, page
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
                cells.append((line.strip(), number, group, None, 0))
                in_row = True
            else:  # a stray line between the rows: a row of its own
                group += 1
                cells.append((line.strip(), number, group, None, 0))
                group += 1
                in_row = False
    else:
        for number, raw in numbered:
            page += raw.count("\f")
            line = raw.replace("\f", "").expandtabs()
            if not line.strip() or (layout == "pipes" and _MARKDOWN_RULE.match(line)):
                continue
            group += 1
            if layout == "pipes":
                parts = line.rstrip().split("|")
                if len(parts) > 1 and parts[-1] == "":
                    parts.pop()  # the pipe that ends the row, not an empty cell
                for part in parts:
                    cells.append((part.strip(), number, group, None, page))
            elif layout == "layout":
                for m in _LAYOUT_CELL.finditer(line):
                    cells.append((m.group(), number, group, m.start(), page))
            else:
                cells.append((line.strip(), number, group, None, page))
    explicit = layout in ("pipes", "tabbed")
    tokens: list[Token] = []
    for text, number, grp, x, pg in cells:
        if not text:
            if explicit:
                tokens.append(Token("", "empty", number, grp, x, pg))
            continue
        for piece, offset in _split_cell(text):
            kind: Kind = "value" if is_value(piece) else "label"
            px = None if x is None else x + offset
            tokens.append(Token(piece, kind, number, grp, px, pg))
    # Neighbouring labels may be one label split in two: within a row or printed line, or
    # anywhere in the ``lines`` layout (``商业`` / ``企业`` on separate lines).
    out = []
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        joins = (
            token.kind == "label"
            and nxt is not None
            and nxt.kind == "label"
            and (layout == "lines" or nxt.group == token.group)
        )
        out.append(_with_join(token, joins))
    return out


def _with_join(token: Token, joins: bool) -> Token:
    if token.joins_next == joins:
        return token
    return Token(token.text, token.kind, token.line, token.group, token.x, token.page, joins)


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
