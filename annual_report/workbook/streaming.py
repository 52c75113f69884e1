"""Saving a workbook whose widest sheets get most of their cells only as they are written.

openpyxl keeps every cell of a workbook as an object (~300 bytes each) until it is saved: a
consolidation's 分单位明细 of 5,000 units is ~1 million cells, ~300 MB. Its write-only mode
streams, but for a whole workbook only, without merged cells made after the fact, named
styles looked up by name, or reading back what was written. Here the workbook is built as
usual except for the bulk of a sheet's cells, which a function makes row by row while the
sheet is written (:func:`save`): the file is the same, byte for byte, as if those cells had
been in the sheet (same order, same styles: openpyxl numbers cell formats as it writes the
cells), and at most one row of them exists at a time.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl.cell.cell import Cell
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter


@dataclass(frozen=True)
class LazyCells:
    """The cells a sheet gets only as it is written: ``cells(row)`` makes a row's (in column
    order, each right of the sheet's own cells of that row) for each row of ``rows``, all
    within ``columns`` (the sheet's dimension covers them)."""

    rows: range
    columns: range
    cells: Callable[[int], Iterable[Cell]]


def save(workbook: Workbook, path: str | Path, more: Mapping[Worksheet, LazyCells]) -> None:
    """``workbook.save(path)``, each sheet of ``more`` with the cells made by its
    :class:`LazyCells` added to its rows as they are written."""
    if not more:
        workbook.save(path)
        return
    # what openpyxl.writer.excel.save_workbook does, with the writer below
    with ZipFile(path, "w", ZIP_DEFLATED, allowZip64=True) as archive:
        now = datetime.datetime.now(tz=datetime.UTC).replace(tzinfo=None)
        workbook.properties.modified = now
        _ExcelWriter(workbook, archive, more).save()


class _ExcelWriter(ExcelWriter):
    def __init__(self, workbook: Workbook, archive: ZipFile, more: Mapping[Any, LazyCells]):
        super().__init__(workbook, archive)
        self._more = {id(ws): lazy for ws, lazy in more.items()}

    def write_worksheet(self, ws: Worksheet) -> None:
        lazy = self._more.get(id(ws))
        if lazy is None:
            super().write_worksheet(ws)
            return
        # ExcelWriter.write_worksheet (openpyxl 3.1) with the writer below
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        writer = _RowsWriter(ws, lazy)
        writer.write()
        ws._rels = writer._rels
        self._archive.write(writer.out, ws.path[1:])
        self.manifest.append(ws)
        writer.cleanup()


class _RowsWriter(WorksheetWriter):
    def __init__(self, ws: Worksheet, lazy: LazyCells) -> None:
        super().__init__(ws)
        self._lazy = lazy

    def rows(self) -> Iterator[tuple[int, Iterable[Cell]]]:
        own = dict(super().rows())
        lazy = self._lazy
        for row in sorted(own.keys() | set(lazy.rows)):
            cells = own.get(row, ())
            yield row, itertools.chain(cells, lazy.cells(row)) if row in lazy.rows else cells

    def write_dimensions(self) -> None:
        """The sheet's dimension, its lazy cells included (as if they had been in the sheet)."""
        ws, lazy = self.ws, self._lazy
        rows = {row for row, _col in ws._cells}
        cols = {col for _row, col in ws._cells}
        if lazy.rows and lazy.columns:
            rows |= {lazy.rows[0], lazy.rows[-1]}
            cols |= {lazy.columns[0], lazy.columns[-1]}
        if not rows:
            ref = "A1:A1"
        else:
            first = f"{get_column_letter(min(cols))}{min(rows)}"
            ref = f"{first}:{get_column_letter(max(cols))}{max(rows)}"
        self.xf.send(SheetDimension(ref).to_tree())
