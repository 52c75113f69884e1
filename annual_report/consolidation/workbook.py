"""The consolidated workbook: the national layout with the sums, then 与上年比较, 分单位明细 and
纳入与未纳入单位, each printable (landscape A4, titles repeated, page bands of units).

Names and reasons come from departments: they are written as text, never as formulas.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl.cell.cell import Cell as XlCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.pagebreak import Break

from annual_report.campaign.registry import KIND_LABELS
from annual_report.consolidation.model import Consolidation, UnitOutcome
from annual_report.form.layout import INSTRUCTIONS_SHEET, layout, text_height
from annual_report.form.model import CellType, Form
from annual_report.workbook import streaming
from annual_report.workbook.breakdown import (
    LEAF_FIRST_ROW,
    LEAF_FIXED,
    LEAF_KEY_ROW,
    LEAF_KIND_ROW,
    LEAF_NAME_ROW,
    LEAF_PATH_ROW,
    LEAVES_PER_SHEET,
    PATH_SEPARATOR,
    Leaf,
    content_hash,
    leaf_sheet_names,
)
from annual_report.workbook.streaming import LazyCells
from annual_report.workbook.template import build_workbook, set_number, set_text


@dataclass(frozen=True)
class OfficeIdentity:
    """This office as its superior's registry knows it (``departments.yaml``'s ``office``)."""

    code: str
    name: str
    level: str
    token: str | None = None  # from the superior's template, when the office kept it
    campaign: str | None = None  # the superior's campaign id (from the same template)


if TYPE_CHECKING:  # history imports the consolidation package
    from annual_report.history.frames import YearOverYear

log = logging.getLogger(__name__)

BREAKDOWN_SHEET = "分单位明细"
UNITS_SHEET = "纳入与未纳入单位"
COMPARISON_SHEET = "与上年比较"

_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_TITLE = Font(name="宋体", size=14, bold=True)


def _named_styles() -> list[NamedStyle]:
    """Named styles: assigning one per cell is ~50× faster than setting font/border/fill."""

    def style(
        name: str,
        *,
        bold: bool = False,
        fill: str | None = None,
        align: str = "left",
        number_format: str = "General",
        wrap: bool = True,
    ) -> NamedStyle:
        return NamedStyle(
            name=name,
            font=Font(name="宋体", size=11, bold=bold),
            fill=PatternFill("solid", fgColor=fill) if fill else PatternFill(),
            border=_BORDER,
            alignment=Alignment(horizontal=align, vertical="center", wrap_text=wrap),
            number_format=number_format,
        )

    return [
        style("nb_header", bold=True, fill="DDEBF7", align="center"),
        style("nb_text"),
        style("nb_code", number_format="@", wrap=False),
        style("nb_count", align="right", number_format="0"),
        style("nb_money", align="right", number_format="0.0000"),
        style("nb_sum", fill="FFF2CC", align="right", number_format="0"),
        style("nb_sum_money", fill="FFF2CC", align="right", number_format="0.0000"),
        style("nb_excluded", fill="F2F2F2"),
        *_wide_styles(),
    ]


def _wide_styles() -> list[NamedStyle]:
    """分单位明细's: 9 pt (printed at 80 %), numbers shrink to fit a narrow unit column."""

    def style(
        name: str,
        *,
        bold: bool = False,
        fill: str | None = None,
        align: str = "left",
        number_format: str = "General",
        wrap: bool = True,
    ) -> NamedStyle:
        return NamedStyle(
            name=name,
            font=Font(name="宋体", size=8.5, bold=bold),
            fill=PatternFill("solid", fgColor=fill) if fill else PatternFill(),
            border=_BORDER,
            alignment=Alignment(
                horizontal=align, vertical="center", wrap_text=wrap, shrink_to_fit=not wrap
            ),
            number_format=number_format,
        )

    return [
        style("nbw_header", bold=True, fill="DDEBF7", align="center"),
        style("nbw_label"),
        style("nbw_fit", wrap=False),  # one line, shrunk to the column
        style("nbw_code", number_format="@", wrap=False),
        style("nbw_count", align="right", number_format="0", wrap=False),
        style("nbw_money", align="right", number_format="0.0000", wrap=False),
        style("nbw_sum", fill="FFF2CC", align="right", number_format="0", wrap=False),
        style("nbw_sum_money", fill="FFF2CC", align="right", number_format="0.0000", wrap=False),
    ]


def _text(cell: XlCell, text: str | None) -> None:
    """Text as a string, never a formula: names and reasons come from departments."""
    if text is not None:
        set_text(cell, text)


def _put_number(cell: XlCell, value: Decimal | None, cell_type: CellType) -> None:
    if value is not None:
        set_number(cell, value, cell_type)  # exact decimal text, as in the template


UNITS_PER_PAGE = 20  # unit columns on one printed page (landscape A4 at 80 %)
BREAKDOWN_FIXED = ("代码", "表", "项目", "栏目", "汇总")  # 代码: hidden, for machines
_FIXED_WIDTHS = (14, 2.5, 13, 7, 7)
_UNIT_WIDTH = 4.6
_ROW_PT = 10.5
_PRINT_SCALE = 0.8  # about how small 分单位明细 prints (8.5 pt text at about 7 pt)
_PAGE_HEIGHT_PT = 595 - 2 * 0.4 * 72 - 50  # landscape A4, less margins and the header row


def write_consolidation(
    consolidation: Consolidation,
    path: str | Path,
    *,
    title: str,
    units_per_page: int = UNITS_PER_PAGE,
    comparison: YearOverYear | None = None,
    office: OfficeIdentity | None = None,
) -> Path:
    """The consolidated workbook: the national layout with the sums in the named input cells,
    then 与上年比较 (with ``comparison``, from ``history.year_over_year``: 上年, 本年, 增减 of
    the headline figures and of every cell), 分单位明细 (the national rows × one column per
    unit, printed ``units_per_page`` units to a page band) and 纳入与未纳入单位.

    With ``office`` (this office as its superior knows it), or when an office one level down is
    included, the workbook is also a submission one level up: the ``_meta`` sheet names the
    office and the fingerprint of its content, and 基层单位明细 holds every leaf unit
    (``annual_report.workbook.breakdown``)."""
    path = Path(path)
    workbook = build_workbook(consolidation.form, values=consolidation.values, title=title)
    workbook.properties.language = "zh-CN"
    if INSTRUCTIONS_SHEET in workbook.sheetnames:  # the clerks' instructions: not the city's
        del workbook[INSTRUCTIONS_SHEET]
        workbook.active = 0
    for style in _named_styles():
        workbook.add_named_style(style)
    if comparison is not None:
        sheet = workbook.create_sheet(COMPARISON_SHEET)
        _comparison_sheet(sheet, comparison, title, consolidation.form)
    breakdown = workbook.create_sheet(BREAKDOWN_SHEET)
    # the units' cells (a row per cell of the form × a column per unit) are made as each row is
    # written, never all at once (annual_report.workbook.streaming)
    units_cells = {
        breakdown: _breakdown_sheet(breakdown, consolidation, title, max(1, units_per_page))
    }
    units = workbook.create_sheet(UNITS_SHEET)
    units_cells[units] = _units_sheet(units, consolidation, title)
    if office is not None or consolidation.chained:
        units_cells.update(_leaves_sheets(workbook, consolidation, title))
        _office_meta(workbook, consolidation, office)
    streaming.save(workbook, path, units_cells)
    log.info("wrote consolidation %s (%d units)", path, len(consolidation.included))
    return path


def _unit_label(unit: UnitOutcome, city: str | None) -> str:
    """The name printed over a unit's column: its name without the city in front
    (``宜春市教育局`` → ``市教育局``), so four short lines hold it."""
    if city and unit.name.startswith(city) and len(unit.name) > len(city) + 1:
        return city[-1] + unit.name[len(city) :]
    return unit.name


_FIRST_ROW = 5  # 分单位明细: the title, a note, the unit names and the (hidden) unit codes above


def _breakdown_sheet(ws: Any, c: Consolidation, title: str, per_page: int) -> LazyCells:
    """The national format's rows with their Chinese labels (a row per cell, the row label
    merged over its cells), one column per included unit. Codes only where machines look:
    the hidden column A (cell codes) and the hidden row 4 (unit codes). Returns what makes
    the units' cells of a row, when the sheet is written."""
    city = _city_of(c.included)
    _breakdown_head(ws, c, title, city)
    _breakdown_rows(ws, c)
    _merge_row_labels(ws, c.form)
    _breakdown_columns(ws, c.included, city)
    _breakdown_print(ws, len(c.form.cells), len(c.included), per_page)
    units = [u.code for u in c.included]

    def values(code: str) -> Iterator[Decimal | None]:
        column = c.breakdown[code]
        return (column[unit] for unit in units)

    return _units_cells(ws, c.form, _FIRST_ROW, len(BREAKDOWN_FIXED) + 1, len(units), values)


def _breakdown_head(ws: Any, c: Consolidation, title: str, city: str | None) -> None:
    """Rows 1–4: the title, what the sums are, the fixed headers and one column per unit."""
    units = c.included
    fixed = len(BREAKDOWN_FIXED)
    _text(ws.cell(1, 2), f"{title}——分单位明细")
    ws.cell(1, 2).font = _TITLE
    note = f"纳入汇总的单位{len(units)}个；“汇总”列为各单位之和"
    if c.rules_from:
        government = next((u.name for u in units if u.code == c.rules_from), c.rules_from)
        note += f"（规章只取{government}的数据）"
    _text(ws.cell(2, 2), note + "。")
    for col, label in enumerate(BREAKDOWN_FIXED, 1):
        _text(ws.cell(3, col), label)
        _text(ws.cell(4, col), label if col == 1 else None)
    for i, unit in enumerate(units, fixed + 1):
        _text(ws.cell(3, i), _unit_label(unit, city))
        _text(ws.cell(4, i), unit.code)
    for row in ws.iter_rows(min_row=3, max_row=4, max_col=fixed + len(units)):
        for cell in row:
            cell.style = "nbw_header"


def _breakdown_rows(ws: Any, c: Consolidation) -> None:
    """A row per cell of the form: its code, table, 项目, 栏目, the sum and each unit's value."""
    form = c.form
    sections = {s.number: f"表{s.heading.split('、')[0]}" for s in form.sections}  # 表二
    for r, code in enumerate(form.cells, _FIRST_ROW):
        spec = form.cells[code]
        money = spec.type == "money"
        _text(ws.cell(r, 1), code)
        ws.cell(r, 1).style = "nbw_code"
        for col, text in ((2, sections.get(spec.section, "")), (3, spec.row_label)):
            _text(ws.cell(r, col), text)
            ws.cell(r, col).style = "nbw_label"
        leaf = spec.column.label if spec.column is not None else ""  # 商业企业, not its group
        _text(ws.cell(r, 4), leaf or spec.column_label or spec.row_label)
        ws.cell(r, 4).style = "nbw_fit"
        cell = ws.cell(r, 5)
        _put_number(cell, c.values[code], spec.type)
        cell.style = "nbw_sum_money" if money else "nbw_sum"
        # each unit's value (规章 as reported): _units_cells, as the row is written
        ws.row_dimensions[r].height = _ROW_PT


def _units_cells(
    ws: Any,
    form: Form,
    first_row: int,
    first_col: int,
    count: int,
    values: Callable[[str], Iterable[Decimal | None]],
) -> LazyCells:
    """The cells of the ``count`` unit columns (from ``first_col``) of the national rows (from
    ``first_row``, a row per cell of the form), made row by row as the sheet is written:
    ``values(cell code)`` are the units' values of that cell in column order, each styled as
    分单位明细 shows a unit's figure."""
    codes = list(form.cells)
    rows = range(first_row, first_row + len(codes))

    def cells(r: int) -> Iterator[XlCell]:
        code = codes[r - first_row]
        cell_type = form.cells[code].type
        style = "nbw_money" if cell_type == "money" else "nbw_count"
        for col, value in enumerate(values(code), first_col):
            cell = XlCell(ws, row=r, column=col)
            _put_number(cell, value, cell_type)
            cell.style = style
            yield cell

    return LazyCells(rows, range(first_col, first_col + count), cells)


def _merge_row_labels(ws: Any, form: Form, first_row: int = _FIRST_ROW) -> None:
    """A national row's label (and its table's) once, over all its cells; a long label over
    few cells makes its rows taller."""
    codes = list(form.cells)
    for col, key in ((2, lambda s: s.section), (3, lambda s: (s.section, s.row_label))):
        start = first_row
        for r in range(first_row, first_row + len(codes) + 1):
            done = r == first_row + len(codes)
            same = not done and key(form.cells[codes[r - first_row]]) == key(
                form.cells[codes[start - first_row]]
            )
            if done or not same:
                if r - 1 > start:
                    ws.merge_cells(start_row=start, start_column=col, end_row=r - 1, end_column=col)
                    if col == 3:
                        span = _ROW_PT * (r - start)
                        need = text_height(form.cells[codes[start - first_row]].row_label, 13)
                        if need > span:  # a long label over few cells: taller rows
                            for k in range(start, r):
                                ws.row_dimensions[k].height = need / (r - start)
                elif col == 3:
                    label = form.cells[codes[start - first_row]].row_label
                    ws.row_dimensions[start].height = max(_ROW_PT, text_height(label, 13) * 0.8)
                start = r


def _breakdown_columns(ws: Any, units: Sequence[UnitOutcome], city: str | None) -> None:
    """Column widths, the hidden code column and row, a header row tall enough for the names."""
    fixed = len(BREAKDOWN_FIXED)
    for col, width in enumerate(_FIXED_WIDTHS, 1):
        ws.column_dimensions[get_column_letter(col)].width = width
    for i in range(len(units)):
        ws.column_dimensions[get_column_letter(fixed + 1 + i)].width = _UNIT_WIDTH
    ws.column_dimensions["A"].hidden = True
    ws.row_dimensions[4].hidden = True
    ws.row_dimensions[3].height = max(
        [24.0, *(min(text_height(_unit_label(u, city), _UNIT_WIDTH + 1), 60.0) for u in units)],
        default=24.0,
    )


def _breakdown_print(ws: Any, n_cells: int, n_units: int, per_page: int) -> None:
    """Landscape A4, the headers on every page, ``per_page`` units to a band of pages."""
    fixed = len(BREAKDOWN_FIXED)
    ws.freeze_panes = ws.cell(_FIRST_ROW, fixed + 1)
    ws.print_title_rows = "3:4"
    ws.print_title_cols = "B:E"
    last_col = get_column_letter(max(fixed + n_units, fixed))
    ws.print_area = f"B1:{last_col}{_FIRST_ROW + n_cells - 1}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    # as many pages wide as bands of units, as long as it takes: Excel and LibreOffice both
    # scale to that (their column-width units differ, a fixed scale would not fit in both)
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = max(1, math.ceil(n_units / per_page))
    rows_pt = sum(ws.row_dimensions[r].height or _ROW_PT for r in range(_FIRST_ROW, ws.max_row + 1))
    ws.page_setup.fitToHeight = max(1, math.ceil(rows_pt * _PRINT_SCALE / _PAGE_HEIGHT_PT))
    ws.page_margins.left = ws.page_margins.right = 0.3
    ws.page_margins.top = ws.page_margins.bottom = 0.4
    ws.page_margins.header = ws.page_margins.footer = 0.2
    ws.print_options.horizontalCentered = True
    ws.oddFooter.center.text = "分单位明细 第 &P 页，共 &N 页"
    ws.page_setup.pageOrder = "downThenOver"  # a band of units, all its rows, then the next
    for i in range(per_page, n_units, per_page):
        ws.col_breaks.append(Break(id=fixed + i))  # after the i-th unit's column


def _city_of(units: Sequence[UnitOutcome]) -> str | None:
    """The city the units' names start with (``宜春市``), if the government's name says it."""
    for unit in units:
        if unit.kind == "government":
            for cut in ("人民政府办公室", "人民政府办公厅", "人民政府", "政府办公室"):
                if cut in unit.name:
                    return unit.name.split(cut)[0] or None
    return None


def _units_sheet(ws: Any, c: Consolidation, title: str) -> LazyCells:
    """纳入与未纳入单位: a row per unit offered (made as the sheet is written: the returned
    cells), then the consolidation's notices."""
    headers = ["序号", "单位名称", "类别", "状态", "原因", "版本", "错误", "警告", "来源", "代码"]
    widths = (6, 34, 12, 8, 44, 6, 6, 6, 24, 10)  # 代码: hidden, for machines
    _text(ws.cell(1, 1), f"{title}——纳入与未纳入单位")
    ws.cell(1, 1).font = _TITLE
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers) - 1)
    _text(
        ws.cell(2, 1),
        f"纳入{len(c.included)}个，未纳入{len(c.excluded)}个。",
    )
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(headers) - 1)
    for col, label in enumerate(headers, 1):
        cell = ws.cell(3, col)
        _text(cell, label)
        cell.style = "nb_header"
    rows = [*c.included, *c.excluded]
    last = 3 + len(rows)
    if c.issues:
        r = len(rows) + 5
        _text(ws.cell(r, 1), "汇总提示")
        ws.cell(r, 1).font = Font(name="宋体", size=11, bold=True)
        for i, issue in enumerate(c.issues, r + 1):
            _text(ws.cell(i, 1), issue.rule)
            ws.cell(i, 1).alignment = Alignment(vertical="top")
            _text(ws.cell(i, 2), issue.message)
            ws.merge_cells(start_row=i, start_column=2, end_row=i, end_column=len(headers) - 1)
            ws.cell(i, 2).alignment = Alignment(vertical="top", wrap_text=True)
            ws.row_dimensions[i].height = text_height(issue.message, sum(widths[1:-1]))
        last = r + len(c.issues)
    for letter, w in zip("ABCDEFGHIJ", widths, strict=True):
        ws.column_dimensions[letter].width = w
    ws.column_dimensions["J"].hidden = True
    ws.print_area = f"A1:I{last}"
    ws.freeze_panes = "A4"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True  # one page wide, as long as it takes
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0

    def cells(r: int) -> Iterator[XlCell]:
        unit = rows[r - 4]
        style = "nb_text" if unit.included else "nb_excluded"
        source = Path(unit.source).name if unit.source else None
        texts: dict[int, str | None] = {
            2: unit.name,
            3: KIND_LABELS.get(unit.kind, unit.kind),
            4: "纳入" if unit.included else "未纳入",
            5: unit.reason,
            9: source,
            10: unit.code,
        }
        numbers = {1: r - 3, 6: unit.version, 7: unit.errors, 8: unit.warnings}
        for col in range(1, len(headers) + 1):
            cell = XlCell(ws, row=r, column=col)
            if col in texts:
                _text(cell, texts[col])
            elif numbers[col] is not None:
                cell.value = numbers[col]
            cell.style = style
            yield cell

    return LazyCells(range(4, 4 + len(rows)), range(1, len(headers) + 1), cells)


COMPARISON_FIXED = ("表", "项目", "栏目")
_COMPARISON_WIDTHS = (5, 34, 13, 10, 10, 9, 9, 26, 12)  # the last: codes, hidden
_SIGNED = {"count": "+0;-0;0", "money": "+0.0000;-0.0000;0"}


def _comparison_place(form: Form, code: str) -> tuple[str, str, str]:
    """``(表, 项目, 栏目)`` of a cell, as 分单位明细 names it; a table-four cell has no row
    label: its column groups are its 项目 (``行政诉讼 未经复议直接起诉``)."""
    spec = form.cells[code]
    table = next(
        (f"表{s.heading.split('、')[0]}" for s in form.sections if s.number == spec.section), ""
    )
    leaf = spec.column.label if spec.column is not None else ""
    item = spec.row_label
    if not item:
        path = (spec.column_label or "").split(" ")
        item = " ".join(path[:-1]) if len(path) > 1 else path[0]
    return table, item, "" if leaf == item else leaf


_COMPARISON_FIRST_ROW = 4  # 与上年比较: the title, the note and the headers above


def _comparison_sheet(ws: Any, y: YearOverYear, title: str, form: Form) -> None:
    """上年 / 本年 / 增减 of the headline figures, then of every cell of the form in the
    layout of 分单位明细 (表, 项目 merged over its cells, 栏目): Chinese labels, one page wide
    in landscape, the header row on every page, the codes in the hidden last column."""
    columns = _comparison_head(ws, y, title)
    places = _comparison_rows(ws, y, form)
    _merge_runs(ws, _COMPARISON_FIRST_ROW, places)
    _comparison_print(ws, columns, _COMPARISON_FIRST_ROW + len(places) - 1)


def _comparison_head(ws: Any, y: YearOverYear, title: str) -> int:
    """Rows 1–3: the title, where last year's figures come from, the headers; the number of
    columns (the last one, the codes, hidden)."""
    headers = [
        *COMPARISON_FIXED,
        f"上年\n（{y.year - 1}年）",
        f"本年\n（{y.year}年）",
        "增减",
        "增减幅度\n（%）",
        "说明",
        "代码",
    ]
    shown = len(headers) - 1
    _text(ws.cell(1, 1), f"{title}——与上年比较")
    ws.cell(1, 1).font = _TITLE
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=shown)
    note = ""
    if y.has_last_year:
        note = (
            f"上年（{y.year - 1}年）数据：{y.source}。增减＝本年－上年；增减幅度为增减占上年"
            "的百分比，四舍五入保留一位小数，上年为0时不计算。"
        )
    note = "".join([note, *y.notes])
    _text(ws.cell(2, 1), note)
    ws.cell(2, 1).alignment = Alignment(vertical="top", wrap_text=True)
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=shown)
    ws.row_dimensions[2].height = max(15.0, text_height(note, sum(_COMPARISON_WIDTHS[:-1])))
    for col, label in enumerate(headers, 1):
        _text(ws.cell(3, col), label)
        ws.cell(3, col).style = "nbw_header"
    ws.row_dimensions[3].height = 26
    return len(headers)


def _comparison_rows(ws: Any, y: YearOverYear, form: Form) -> list[tuple[str, str]]:
    """A row per compared figure; the ``(表, 项目)`` of each row, to merge."""
    from annual_report.history.yoy import HEADLINE_GROUP  # history imports this package

    places: list[tuple[str, str]] = []
    for r, row in enumerate(y.rows if y.has_last_year else [], _COMPARISON_FIRST_ROW):
        money = row.unit not in ("件", "")
        kind: CellType = "money" if money else "count"
        if row.group == HEADLINE_GROUP:
            unit = f"（{row.unit}）" if money else ""
            table, item, column = HEADLINE_GROUP, f"{row.label}{unit}", ""
        elif row.code in form.cells:
            table, item, column = _comparison_place(form, row.code)
        else:
            table, item, column = row.group, row.label, ""
        places.append((table, item))
        for col, text in ((1, table), (2, item), (3, column)):
            _text(ws.cell(r, col), text)
            ws.cell(r, col).style = "nbw_label" if col < 3 else "nbw_fit"
        for col, value in ((4, row.last), (5, row.this), (6, row.change)):
            cell = ws.cell(r, col)
            cell.style = "nbw_money" if money else "nbw_count"
            _put_number(cell, value, kind)
        ws.cell(r, 6).number_format = _SIGNED[kind]
        pct = ws.cell(r, 7)
        pct.style = "nbw_count"
        if row.percent is not None:
            set_number(pct, row.percent, "money")
        pct.number_format = "+0.0;-0.0;0.0"
        _text(ws.cell(r, 8), row.note if row.this or row.last else "")  # 0 and 0: nothing to say
        ws.cell(r, 8).style = "nbw_fit"
        _text(ws.cell(r, 9), row.code)
        ws.cell(r, 9).style = "nbw_code"
        ws.row_dimensions[r].height = _ROW_PT
    return places


def _comparison_print(ws: Any, columns: int, last_row: int) -> None:
    """Widths, the hidden code column, one page wide in landscape with the headers repeated."""
    for col, width in enumerate(_COMPARISON_WIDTHS, 1):
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.column_dimensions[get_column_letter(columns)].hidden = True
    ws.freeze_panes = ws.cell(_COMPARISON_FIRST_ROW, len(COMPARISON_FIXED) + 1)
    ws.print_title_rows = "3:3"
    ws.print_area = f"A1:{get_column_letter(columns - 1)}{max(last_row, 3)}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True  # one page wide, as long as it takes
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    ws.print_options.horizontalCentered = True
    ws.oddFooter.center.text = "与上年比较 第 &P 页，共 &N 页"


def _merge_runs(ws: Any, first: int, places: Sequence[tuple[str, str]]) -> None:
    """Merge column A over the rows of one table and column B over the cells of one 项目;
    rows grow where a long 项目 has too few cells to show it."""
    for col, key in ((1, lambda p: p[0]), (2, lambda p: p)):
        start = 0
        for i in range(len(places) + 1):
            if i < len(places) and key(places[i]) == key(places[start]):
                continue
            top, bottom = first + start, first + i - 1
            if bottom > top:
                ws.merge_cells(start_row=top, start_column=col, end_row=bottom, end_column=col)
            if col == 2 and i > start:
                need = text_height(places[start][1], _COMPARISON_WIDTHS[1] * 0.9) * 0.8
                span = _ROW_PT * (i - start)
                if need > span:
                    for k in range(top, bottom + 1):
                        ws.row_dimensions[k].height = need / (i - start)
            start = i


# -- an office's report as a submission one level up ----------------------------------------


def _leaves_sheets(workbook: Any, c: Consolidation, title: str) -> dict[Any, LazyCells]:
    """基层单位明细 (and 基层单位明细2 … past LEAVES_PER_SHEET units): every leaf unit's values in
    the national rows, each column headed by the unit and the offices it came through; the
    machine rows (key, full name, kind, offices) hidden. Returns, for each sheet, what makes
    the units' cells of a row when the sheet is written."""
    form = c.form
    names = leaf_sheet_names(len(c.leaves))
    sections = {s.number: f"表{s.heading.split('、')[0]}" for s in form.sections}
    fixed = len(LEAF_FIXED)
    units_cells: dict[Any, LazyCells] = {}
    for page, name in enumerate(names):
        ws = workbook.create_sheet(name)
        leaves = c.leaves[page * LEAVES_PER_SHEET : (page + 1) * LEAVES_PER_SHEET]
        _text(ws.cell(1, 2), f"{title}——基层单位明细" + (f"（{page + 1}）" if page else ""))
        ws.cell(1, 2).font = _TITLE
        _text(
            ws.cell(2, 2),
            f"汇总所含基层单位共{len(c.leaves)}个（经下级汇总报告报送的单位注明所经的下级单位）；"
            "“合计”列为本页各单位之和。",
        )
        for col, label in enumerate(LEAF_FIXED, 1):
            _text(ws.cell(3, col), label)
        for i, leaf in enumerate(leaves, fixed + 1):
            through = f"（经{'、'.join(leaf.path_names)}）" if leaf.path_names else ""
            _text(ws.cell(3, i), leaf.name + through)
            _text(ws.cell(LEAF_KEY_ROW, i), leaf.key)
            _text(ws.cell(LEAF_NAME_ROW, i), leaf.name)
            _text(ws.cell(LEAF_KIND_ROW, i), leaf.kind)
            _text(ws.cell(LEAF_PATH_ROW, i), PATH_SEPARATOR.join(leaf.path_names))
        for row in ws.iter_rows(min_row=3, max_row=3, max_col=fixed + len(leaves)):
            for cell in row:
                cell.style = "nbw_header"
        for r in range(LEAF_KEY_ROW, LEAF_PATH_ROW + 1):
            ws.row_dimensions[r].hidden = True
        for r, code in enumerate(form.cells, LEAF_FIRST_ROW):
            spec = form.cells[code]
            money = spec.type == "money"
            _text(ws.cell(r, 1), code)
            _text(ws.cell(r, 2), sections.get(spec.section, ""))
            _text(ws.cell(r, 3), spec.row_label)
            leaf_label = spec.column.label if spec.column is not None else ""
            _text(ws.cell(r, 4), leaf_label or spec.column_label or spec.row_label)
            for col in (2, 3):
                ws.cell(r, col).style = "nbw_label"
            ws.cell(r, 4).style = "nbw_fit"
            ws.row_dimensions[r].height = _ROW_PT
            total = sum((leaf.values.get(code) or Decimal(0) for leaf in leaves), Decimal(0))
            cell = ws.cell(r, 5)
            _put_number(cell, total, spec.type)
            cell.style = "nbw_sum_money" if money else "nbw_sum"
        units_cells[ws] = _units_cells(
            ws, form, LEAF_FIRST_ROW, fixed + 1, len(leaves), _leaf_values(leaves)
        )
        _merge_row_labels(ws, form, LEAF_FIRST_ROW)
        for col, width in enumerate(_FIXED_WIDTHS, 1):
            ws.column_dimensions[get_column_letter(col)].width = width
        for i in range(len(leaves)):
            ws.column_dimensions[get_column_letter(fixed + 1 + i)].width = _UNIT_WIDTH + 1.4
        ws.column_dimensions["A"].hidden = True
        ws.row_dimensions[3].height = 84.0  # the unit and the offices it came through
        ws.freeze_panes = ws.cell(LEAF_FIRST_ROW, fixed + 1)
        ws.print_title_rows = "3:3"
        ws.print_title_cols = "B:E"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_setup.fitToWidth = max(1, math.ceil(len(leaves) / UNITS_PER_PAGE))
        ws.page_setup.fitToHeight = 0
        ws.oddFooter.center.text = "基层单位明细 第 &P 页，共 &N 页"
    return units_cells


def _leaf_values(leaves: Sequence[Leaf]) -> Callable[[str], Iterator[Decimal | None]]:
    """The leaves' values of a cell, in column order."""

    def values(code: str) -> Iterator[Decimal | None]:
        return (leaf.values.get(code) for leaf in leaves)

    return values


def office_hash(c: Consolidation) -> str:
    """The fingerprint of a consolidation as an office's report (what its ``_meta`` says)."""
    return content_hash(c.form.id, c.year, c.values, c.leaves)


def _office_meta(workbook: Any, c: Consolidation, office: OfficeIdentity | None) -> None:
    """The ``_meta`` sheet of an office's report: the office (as the department the superior's
    registry lists), its level, the year, the fingerprint; each as a ``meta.*`` name too."""
    lay = layout(c.form)
    ws = next(w for w in workbook.worksheets if w.title.lower() == "_meta")
    values: dict[str, str | int | None] = {
        "report_year": c.year,
        "department_code": office.code if office else None,
        "department_name": office.name if office else None,
        "token": office.token if office else None,
        "campaign_id": office.campaign if office else None,
    }
    for key, value in values.items():
        pos = lay.meta[key]
        if isinstance(value, int):
            ws.cell(pos.row, pos.column).value = value
        elif value is not None:
            set_text(ws.cell(pos.row, pos.column), value)
    extra = {
        "office_code": office.code if office else "",
        "office_name": office.name if office else "",
        "office_level": office.level if office else "",
        "content_hash": office_hash(c),
        "leaf_units": str(len(c.leaves)),
    }
    row = ws.max_row + 1
    for key, value in extra.items():
        set_text(ws.cell(row, 1), key)
        set_text(ws.cell(row, 2), value)
        workbook.defined_names[f"{lay.meta_name(key)}"] = DefinedName(
            lay.meta_name(key), attr_text=f"'{ws.title}'!$B${row}"
        )
        row += 1
