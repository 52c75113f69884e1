"""Excel cell references, without importing a spreadsheet library (the reader must start fast)."""

from __future__ import annotations

from functools import cache


@cache
def quote_sheet(sheet: str) -> str:
    """A sheet name as it appears in a reference: always single-quoted, quotes doubled."""
    return "'" + sheet.replace("'", "''") + "'"


@cache
def column_letters(col: int) -> str:
    """0-based column → ``A``, ``Z``, ``AA`` …"""
    out = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def cell_ref(sheet: str, row: int, col: int) -> str:
    """``'Sheet'!D5`` from a 0-based position."""
    return f"{quote_sheet(sheet)}!{column_letters(col)}{row + 1}"
