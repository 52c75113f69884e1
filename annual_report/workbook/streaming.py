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
from pathlib import Path
from typing import Any
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl.cell.cell import Cell
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

# row number → the cells of that row to write after the row's own (in column order, each
# further right than the sheet's own cells of the row); made when the row is written
RowCells = Callable[[int], Iterable[Cell]]


def save(workbook: Workbook, path: str | Path, more: Mapping[Worksheet, RowCells]) -> None:
    """``workbook.save(path)``, each sheet of ``more`` with the cells its function makes added
    to its rows as they are written."""
    if not more:
        workbook.save(path)
        return
    # what openpyxl.writer.excel.save_workbook does, with the writer below
    with ZipFile(path, "w", ZIP_DEFLATED, allowZip64=True) as archive:
        now = datetime.datetime.now(tz=datetime.UTC).replace(tzinfo=None)
        workbook.properties.modified = now
        _ExcelWriter(workbook, archive, more).save()


class _ExcelWriter(ExcelWriter):
    def __init__(self, workbook: Workbook, archive: ZipFile, more: Mapping[Any, RowCells]):
        super().__init__(workbook, archive)
        self._more = {id(ws): cells for ws, cells in more.items()}

    def write_worksheet(self, ws: Worksheet) -> None:
        cells = self._more.get(id(ws))
        if cells is None:
            super().write_worksheet(ws)
            return
        # ExcelWriter.write_worksheet (openpyxl 3.1) with the writer below
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        writer = _RowsWriter(ws, cells)
        writer.write()
        ws._rels = writer._rels
        self._archive.write(writer.out, ws.path[1:])
        self.manifest.append(ws)
        writer.cleanup()


class _RowsWriter(WorksheetWriter):
    def __init__(self, ws: Worksheet, cells: RowCells) -> None:
        super().__init__(ws)
        self._cells = cells

    def rows(self) -> Iterator[tuple[int, Iterable[Cell]]]:
        for row, own in super().rows():
            yield row, itertools.chain(own, self._cells(row))
