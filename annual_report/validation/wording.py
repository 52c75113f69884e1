"""How checks name cells and numbers in their Chinese messages, as a clerk would write them.

``第三部分“自然人”列：一、本年新收（3）+ 二、上年结转（0）= 3，但……``: where a group of cells
sits, a short label for each, one side of an equation, a Decimal without exponent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from annual_report.form.model import Block, Cell, common_prefix
from annual_report.validation.values import total

_CN_NUMERALS = "〇一二三四五六七八九十"

# a department may leave a difference that a reorganisation explains (C1, C2)
REORG_NOTE = "如因机构改革等原因确实不一致，可不修改，请附上说明。"


def fmt(value: Decimal) -> str:
    """A Decimal as a clerk writes it: no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def times(now: Decimal, base: Decimal) -> str:
    """``now / base`` as a multiple: whole from 10 on, one decimal below."""
    ratio = now / base
    return fmt(ratio.quantize(Decimal(1) if ratio >= 10 else Decimal("0.1")))


def part(section: int) -> str:
    return f"第{_CN_NUMERALS[section]}部分"


def where(cell: Cell) -> str:
    """``第七部分“规章”行“本年制发件数”列``."""
    return f"{part(cell.section)}{cell.label}"


def block_name(block: Block) -> str:
    return part(block.section) + (f"（{block.caption}）" if block.caption else "")


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


def describe(cells: Sequence[Cell]) -> tuple[str, list[str]]:
    """Where a group of cells sits (``第三部分“自然人”列``) and a short label for each."""
    scope = part(cells[0].section) if len({c.section for c in cells}) == 1 else ""
    if len(cells) == 1:
        cell = cells[0]
        if cell.row_label and cell.column_label:
            return scope + f"“{cell.row_label}”行", [cell.column_label]
        return scope, [cell.label]
    one_block = len({(c.section, c.block) for c in cells}) == 1
    same_column = one_block and len({c.column.code for c in cells}) == 1
    same_row = one_block and len({c.row.code for c in cells}) == 1
    if same_column and not same_row:
        label = cells[0].column_label
        return scope + (f"“{label}”列" if label else ""), [_row_term(c) for c in cells]
    if same_row and not same_column:
        paths = [c.column.path for c in cells]
        n = min(common_prefix(paths), min(len(p) for p in paths) - 1)
        terms = [" ".join(p[n:]) for p in paths]
        if cells[0].row_label:
            return scope + f"“{cells[0].row_label}”行", terms
        if n:  # section 4: one row, grouped columns
            return scope + f"“{' '.join(paths[0][:n])}”", terms
        return scope, terms
    return scope, [c.label for c in cells]


def side(terms: Sequence[tuple[str, Decimal]]) -> tuple[str, bool]:
    """One side of an equation in words; True when the terms were summarised (too many)."""
    whole = total(v for _, v in terms)
    if len(terms) == 1:
        label, value = terms[0]
        return f"{label}（{fmt(value)}）", False
    if len(terms) <= 4:
        listed = "+ ".join(f"{label}（{fmt(value)}）" for label, value in terms)
        return f"{listed}= {fmt(whole)}", False
    text = f"各项之和为{fmt(whole)}"
    nonzero = [(label, value) for label, value in terms if value]
    if 0 < len(nonzero) <= 6:
        text += "（非零项：" + "、".join(f"{lb}（{fmt(v)}）" for lb, v in nonzero) + "）"
    return text, True
