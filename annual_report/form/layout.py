"""Where the template writer puts everything: a deterministic layout computed from a :class:`Form`.

The layout is the one place that knows cell addresses. The writer (``template.py``) draws it, the
reader falls back to it when defined names are lost, the validator quotes its references in
messages (``layout.ref(code)`` → ``'三、收到和处理政府信息公开申请情况'!D5``), and the merger writes
the consolidated workbook through the same writer. Nothing here is specific to one form: the 2019
and 2021 formats go through the same code.

Table sheets (one per section with blocks) look like the national form::

    row 1  report title (merged across the sheet)
    row 2  section heading
    row 3  note (how to fill)
    row 4… blocks stacked: caption row, header row(s), data rows
           check rows below the table, check columns at its right (the live R1–R4 checks)

Header paths are merged where neighbours share a path prefix (horizontally for column paths,
vertically for row paths); a path shorter than the block's depth lets its last element span the
remaining levels (``自然人`` spans two header rows, ``一、本年新收…`` the three row-header columns).
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from openpyxl.utils import get_column_letter

from annual_report.errors import FormError
from annual_report.form.cellref import quote_sheet
from annual_report.form.model import Block, Form, Section
from annual_report.form.rules import RuleDef, Sides

SheetKind = Literal["instructions", "narrative", "table", "meta"]
LabelRole = Literal["heading", "caption", "corner", "column", "row", "check"]

INSTRUCTIONS_SHEET = "填报说明"
META_SHEET = "_meta"
META_KEYS: tuple[str, ...] = (
    "form_id",
    "report_year",
    "department_code",
    "department_name",
    "campaign_id",
    "token",
    "generator",
    "generated_at",
)
META_NAME_PREFIX = "meta."

TITLE_ROW = 1
HEADING_ROW = 2
NOTE_ROW = 3
FIRST_TABLE_ROW = 4
NARRATIVE_COLUMNS = 10
NARRATIVE_ROWS = 30

# Sizes in Excel units: column width in characters of the default font, row height in points.
CJK_UNITS = 2.1  # a 宋体 11pt ideograph is about two digit widths
LINE_HEIGHT = 14.5
ROW_PADDING = 5.0
MIN_ROW_HEIGHT = 18.0
CHECK_ROW_HEIGHT = 34.0
CHECK_COLUMN_WIDTH = 15.0
MIN_DATA_WIDTH = 11.0
MAX_DATA_WIDTH = 22.0
TARGET_TABLE_WIDTH = 90.0  # narrow tables (section 2) get wider data columns, up to MAX

_A1 = re.compile(r"^[A-Za-z]{1,3}[0-9]+$")
_R1C1 = re.compile(r"^([Rr][0-9]*)?([Cc][0-9]*)?$")
_NAME = re.compile(r"^[A-Za-z_\\][A-Za-z0-9_.]*$")


# -- geometry --------------------------------------------------------------------------------


class Position(NamedTuple):
    """One cell: sheet, 1-based row and column (a tuple: ``sheet, row, column = position``)."""

    sheet: str
    row: int
    column: int

    @property
    def coordinate(self) -> str:
        """``D5``"""
        return f"{get_column_letter(self.column)}{self.row}"

    @property
    def absolute(self) -> str:
        """``$D$5``"""
        return f"${get_column_letter(self.column)}${self.row}"

    @property
    def ref(self) -> str:
        """``'三、收到和处理政府信息公开申请情况'!D5``"""
        return f"{quote_sheet(self.sheet)}!{self.coordinate}"


@dataclass(frozen=True)
class Area:
    """A rectangle of cells on one sheet; merged when it has more than one cell."""

    sheet: str
    min_row: int
    min_col: int
    max_row: int
    max_col: int

    @property
    def top_left(self) -> Position:
        return Position(self.sheet, self.min_row, self.min_col)

    @property
    def is_merged(self) -> bool:
        return self.min_row != self.max_row or self.min_col != self.max_col

    @property
    def coordinate(self) -> str:
        """``A1:C3`` (or ``A1`` for a single cell)."""
        start = self.top_left.coordinate
        if not self.is_merged:
            return start
        return f"{start}:{get_column_letter(self.max_col)}{self.max_row}"

    @property
    def ref(self) -> str:
        return f"{quote_sheet(self.sheet)}!{self.coordinate}"

    def contains(self, row: int, column: int) -> bool:
        return self.min_row <= row <= self.max_row and self.min_col <= column <= self.max_col

    def cells(self) -> Iterable[tuple[int, int]]:
        for row in range(self.min_row, self.max_row + 1):
            for col in range(self.min_col, self.max_col + 1):
                yield row, col


@dataclass(frozen=True)
class Label:
    """A text cell the writer puts on a sheet (heading, caption, header, check label)."""

    area: Area
    text: str
    role: LabelRole


@dataclass(frozen=True)
class Check:
    """A live check cell: ``SUM(left) = SUM(right)`` for one binding of a ``sum_equal`` rule."""

    area: Area
    rule: str
    binding: tuple[tuple[str, str], ...]
    left: tuple[str, ...]
    right: tuple[str, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return (*self.left, *(c for c in self.right if c not in self.left))


@dataclass(frozen=True)
class SheetLayout:
    """One sheet: its name and kind, what is on it, and how it prints."""

    name: str
    kind: SheetKind
    section: int | None = None
    width: int = 1  # columns in use
    height: int = 1  # rows in use
    column_widths: tuple[float, ...] = ()
    row_heights: tuple[tuple[int, float], ...] = ()
    title: Area | None = None
    note: Area | None = None
    labels: tuple[Label, ...] = ()
    borders: tuple[Area, ...] = ()  # the table rectangles (every cell gets thin borders)
    print_title_rows: tuple[int, int] | None = None

    @property
    def print_area(self) -> Area:
        return Area(self.name, 1, 1, self.height, self.width)


@dataclass(frozen=True)
class Layout:
    """Positions of everything the template writer puts on each sheet, for one form."""

    form_id: str
    sheets: tuple[SheetLayout, ...]
    inputs: Mapping[str, Area]  # cell and narrative codes → their (possibly merged) input area
    checks: tuple[Check, ...]
    meta: Mapping[str, Position]  # META_KEYS → the value cell on the metadata sheet
    _by_position: Mapping[tuple[str, int, int], str] = field(repr=False, default_factory=dict)

    def area(self, code: str) -> Area:
        """The input area of a cell or narrative code (merged for wide cells and narratives)."""
        try:
            return self.inputs[code]
        except KeyError:
            raise FormError(f"layout of {self.form_id} has no input {code!r}") from None

    def position(self, code: str) -> Position:
        """The cell holding ``code``'s value (the top-left cell of its area)."""
        return self.area(code).top_left

    def ref(self, code: str) -> str:
        """An A1 reference for messages and formulas, e.g. ``'二、主动公开政府信息情况'!B6``."""
        return self.position(code).ref

    def code_at(self, sheet: str, row: int, column: int) -> str | None:
        """The code whose value cell is exactly ``(sheet, row, column)``, if any."""
        return self._by_position.get((sheet, row, column))

    def sheet(self, name: str) -> SheetLayout:
        for sheet in self.sheets:
            if sheet.name == name:
                return sheet
        raise FormError(f"layout of {self.form_id} has no sheet {name!r}")

    def codes_on(self, sheet: str) -> list[str]:
        """The codes whose value cells are on ``sheet``, in layout order."""
        return [code for code, area in self.inputs.items() if area.sheet == sheet]

    @property
    def labels(self) -> tuple[Label, ...]:
        return tuple(label for sheet in self.sheets for label in sheet.labels)

    @property
    def sheet_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sheets)

    def meta_name(self, key: str) -> str:
        """The defined name of a metadata value, ``meta.<key>``."""
        return META_NAME_PREFIX + key


# -- names -----------------------------------------------------------------------------------


def excel_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a workbook defined name in Excel or LibreOffice (``None`` if it can).

    Dots are legal; a name (or a dot-separated part of it, which LibreOffice could read as
    ``Sheet.A1``) must not look like an A1 or R1C1 reference, nor be ``TRUE``/``FALSE``.
    """
    if not name or len(name) > 255:
        return "length must be 1..255"
    if not _NAME.match(name):
        return "only letters, digits, '_' and '.', starting with a letter or '_'"
    if name.upper() in ("TRUE", "FALSE"):
        return "a boolean literal"
    for part in (name, *name.split(".")):
        if part and (_A1.match(part) or _R1C1.match(part)):
            return f"{part!r} looks like a cell reference"
    return None


# -- text measurement ------------------------------------------------------------------------


def text_units(text: str) -> float:
    """Width of ``text`` in Excel column units (CJK and full-width count about two)."""
    return sum(CJK_UNITS if unicodedata.east_asian_width(ch) in "WF" else 1.05 for ch in text)


def text_lines(text: str, width: float) -> int:
    """Lines ``text`` wraps to in an area ``width`` units wide (explicit newlines count)."""
    usable = max(width - 1.5, 1.0)
    return sum(max(1, math.ceil(text_units(line) / usable)) for line in text.split("\n"))


def text_height(text: str, width: float) -> float:
    return text_lines(text, width) * LINE_HEIGHT + ROW_PADDING


# -- building --------------------------------------------------------------------------------


_CACHE: dict[int, tuple[Form, Layout]] = {}


def layout(form: Form) -> Layout:
    """The layout of ``form``'s template (cached per form object: forms are immutable)."""
    hit = _CACHE.get(id(form))
    if hit is not None and hit[0] is form:
        return hit[1]
    result = _build(form)
    _CACHE[id(form)] = (form, result)
    return result


def _build(form: Form) -> Layout:
    problems = [
        f"{c}: {p}" for c in (*form.cells, *form.narrative_codes) if (p := excel_name_problem(c))
    ]
    folded = [c.lower() for c in (*form.cells, *form.narrative_codes)]
    if len(set(folded)) != len(folded):
        problems.append("codes differ only in case (Excel names are case-insensitive)")
    if problems:
        raise FormError(f"form {form.id}: codes cannot be Excel names: " + "; ".join(problems))

    sheets: list[SheetLayout] = [SheetLayout(INSTRUCTIONS_SHEET, "instructions", width=2)]
    inputs: dict[str, Area] = {}
    checks: list[Check] = []
    for section in form.sections:
        if section.blocks:
            sheet, cells, section_checks = _table_sheet(form, section)
            inputs.update(cells)
            checks.extend(section_checks)
        elif section.narrative:
            sheet, area = _narrative_sheet(section)
            inputs[section.narrative] = area
        else:
            continue
        sheets.append(sheet)
    names = [s.name for s in sheets]
    if len(set(names)) != len(names):
        raise FormError(f"form {form.id}: two sections share a sheet name")
    sheets.append(
        SheetLayout(
            META_SHEET,
            "meta",
            width=2,
            height=len(META_KEYS) + 1,
            column_widths=(18.0, 40.0),
        )
    )
    meta = {key: Position(META_SHEET, i + 2, 2) for i, key in enumerate(META_KEYS)}
    by_position = {(a.sheet, a.min_row, a.min_col): code for code, a in inputs.items()}
    return Layout(form.id, tuple(sheets), inputs, tuple(checks), meta, by_position)


def sheet_name(section: Section) -> str:
    """The sheet of a section: its declared ``sheet``, else its heading (≤ 31 characters)."""
    name = section.sheet or section.heading
    if len(name) > 31 or any(ch in name for ch in "[]:*?/\\"):
        raise FormError(f"section {section.number}: {name!r} cannot be a sheet name")
    return name


def _narrative_sheet(section: Section) -> tuple[SheetLayout, Area]:
    name = sheet_name(section)
    width = NARRATIVE_COLUMNS
    first = NOTE_ROW + 1
    area = Area(name, first, 1, first + NARRATIVE_ROWS - 1, width)
    heading = Label(Area(name, HEADING_ROW, 1, HEADING_ROW, width), section.heading, "heading")
    sheet = SheetLayout(
        name=name,
        kind="narrative",
        section=section.number,
        width=width,
        height=area.max_row,
        column_widths=(12.0,) * width,
        row_heights=((TITLE_ROW, 30.0), (HEADING_ROW, 24.0)),
        title=Area(name, TITLE_ROW, 1, TITLE_ROW, width),
        note=Area(name, NOTE_ROW, 1, NOTE_ROW, width),
        labels=(heading,),
        borders=(area,),
    )
    return sheet, area


@dataclass
class _Grid:
    """Mutable drawing state of one table sheet."""

    sheet: str
    row_cols: int
    data_cols: int
    labels: list[Label] = field(default_factory=list)
    heights: dict[int, float] = field(default_factory=dict)
    tall: list[tuple[Area, str]] = field(default_factory=list)  # labels to fit by row height

    def label(self, r1: int, c1: int, r2: int, c2: int, text: str, role: LabelRole) -> Area:
        area = Area(self.sheet, r1, c1, r2, c2)
        self.labels.append(Label(area, text, role))
        return area


def _column_spans(block: Block, data_cols: int) -> list[tuple[int, int]]:
    """Data-column offsets (0-based, inclusive) of each block column: fewer columns share the
    width, the last one taking the remainder (a one-column block spans the whole width)."""
    n = len(block.columns)
    each = data_cols // n
    spans = []
    for i in range(n):
        start = i * each
        end = data_cols - 1 if i == n - 1 else start + each - 1
        spans.append((start, end))
    return spans


def _groups(paths: list[tuple[str, ...]], level: int) -> list[tuple[int, int]]:
    """Runs of neighbouring headers sharing the path prefix up to ``level`` (inclusive)."""
    runs: list[tuple[int, int]] = []
    for i, path in enumerate(paths):
        if len(path) <= level:
            continue
        if runs and runs[-1][1] == i - 1 and paths[runs[-1][0]][: level + 1] == path[: level + 1]:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _draw_block(grid: _Grid, block: Block, top: int, width: int) -> tuple[int, dict[str, Area]]:
    """Draw one block from row ``top``; return the next free row and the input areas."""
    sheet, row_cols = grid.sheet, grid.row_cols
    r = top
    if block.caption:
        grid.label(r, 1, r, width, block.caption, "caption")
        r += 1
    depth = block.header_depth
    spans = _column_spans(block, grid.data_cols)
    first_data_col = row_cols + 1
    if row_cols:
        grid.label(r, 1, r + depth - 1, row_cols, block.corner or "", "corner")
    col_paths = [c.path for c in block.columns]
    for level in range(depth):
        for a, b in _groups(col_paths, level):
            path = col_paths[a]
            bottom = r + depth - 1 if len(path) == level + 1 else r + level
            area = grid.label(
                r + level,
                first_data_col + spans[a][0],
                bottom,
                first_data_col + spans[b][1],
                path[level],
                "column",
            )
            grid.tall.append((area, path[level]))
    r += depth
    row_paths = [h.path for h in block.rows]
    for level in range(row_cols):
        for a, b in _groups(row_paths, level):
            path = row_paths[a]
            right = row_cols if len(path) == level + 1 else level + 1
            area = grid.label(r + a, level + 1, r + b, right, path[level], "row")
            grid.tall.append((area, path[level]))
    if row_cols:  # rows without any path still get a (blank, bordered) header cell
        for i, path in enumerate(row_paths):
            if not path:
                grid.label(r + i, 1, r + i, row_cols, "", "row")
    inputs = {}
    for i, row in enumerate(block.rows):
        for j, col in enumerate(block.columns):
            cell = block.cell_at(i, j)
            assert cell.row is row and cell.column is col
            inputs[cell.code] = Area(
                sheet,
                r + i,
                first_data_col + spans[j][0],
                r + i,
                first_data_col + spans[j][1],
            )
    return r + len(block.rows), inputs


def _sum_equal_rules(form: Form) -> list[RuleDef]:
    return [r for r in form.rules if r.check == "sum_equal"]


def _rule_bindings(form: Form, rule: RuleDef) -> list[tuple[dict[str, str], list[str], list[str]]]:
    out = []
    sides = rule.params_as(Sides)
    for binding in form.bindings(rule):
        left = form.expand_all(sides.left, binding)
        right = form.expand_all(sides.right, binding)
        out.append((binding, left, right))
    return out


def _table_sheet(form: Form, section: Section) -> tuple[SheetLayout, dict[str, Area], list[Check]]:
    name = sheet_name(section)
    blocks = section.blocks
    row_cols = max(b.row_depth for b in blocks)
    data_cols = max(len(b.columns) for b in blocks)
    table_width = row_cols + data_cols
    grid = _Grid(name, row_cols, data_cols)

    # Which sum_equal rules check cells of this sheet, and how their check cells are placed.
    plan = _plan_checks(form, section)
    check_cols = [p for p in plan if p.mode == "column"]
    width = table_width + len(check_cols)

    inputs: dict[str, Area] = {}
    r = FIRST_TABLE_ROW
    header_rows: list[tuple[int, int]] = []
    for block in blocks:
        block_top = r + (1 if block.caption else 0)
        r, cells = _draw_block(grid, block, r, table_width)
        header_rows.append((block_top, block_top + block.header_depth - 1))
        inputs.update(cells)
    table_bottom = r - 1

    checks: list[Check] = []
    # Check columns at the right: header over the header rows, one cell per checked row.
    for k, item in enumerate(check_cols):
        col = table_width + 1 + k
        h1, h2 = header_rows[0]
        area = grid.label(h1, col, h2, col, f"校验：{item.rule.title}", "check")
        grid.tall.append((area, f"校验：{item.rule.title}"))
        for binding, left, right in item.bindings:
            row = inputs[left[0]].min_row
            checks.append(_check(Area(name, row, col, row, col), item.rule, binding, left, right))
    # Check rows below: label at the left (or on a row of its own), check cells under the codes.
    for item in plan:
        if item.mode == "column":
            continue
        text = f"校验：{item.rule.title}"
        r = table_bottom + 1
        if item.mode == "list":
            for binding, left, right in item.bindings:
                what = "、".join(form.cell(c).label for c in left)
                label = grid.label(r, 1, r, width - 1, f"{text}（{what}）", "check")
                grid.tall.append((label, f"{text}（{what}）"))
                checks.append(
                    _check(Area(name, r, width, r, width), item.rule, binding, left, right)
                )
                r += 1
            table_bottom = r - 1
            continue
        if row_cols:
            label = grid.label(r, 1, r, row_cols, text, "check")
        else:
            label = grid.label(r, 1, r, width, text, "check")
            r += 1
        grid.tall.append((label, text))
        for binding, left, right in item.bindings:
            cols = [inputs[c] for c in (*left, *right)]
            c1, c2 = min(a.min_col for a in cols), max(a.max_col for a in cols)
            grid.heights[r] = CHECK_ROW_HEIGHT
            checks.append(_check(Area(name, r, c1, r, c2), item.rule, binding, left, right))
        table_bottom = r

    widths = _column_widths(grid, blocks, table_width, len(check_cols))
    heights = _row_heights(grid, widths, table_bottom)
    heights[TITLE_ROW] = 30.0
    heights[HEADING_ROW] = 24.0
    heading = Label(Area(name, HEADING_ROW, 1, HEADING_ROW, width), section.heading, "heading")
    sheet = SheetLayout(
        name=name,
        kind="table",
        section=section.number,
        width=width,
        height=table_bottom,
        column_widths=tuple(widths),
        row_heights=tuple(sorted(heights.items())),
        title=Area(name, TITLE_ROW, 1, TITLE_ROW, width),
        note=Area(name, NOTE_ROW, 1, NOTE_ROW, width),
        labels=(heading, *grid.labels),
        borders=(Area(name, FIRST_TABLE_ROW, 1, table_bottom, width),),
        print_title_rows=header_rows[0] if len(blocks) == 1 else None,
    )
    return sheet, inputs, checks


def _check(
    area: Area, rule: RuleDef, binding: dict[str, str], left: list[str], right: list[str]
) -> Check:
    return Check(area, rule.id, tuple(binding.items()), tuple(left), tuple(right))


@dataclass
class _CheckPlan:
    rule: RuleDef
    mode: Literal["column", "row", "span", "list"]
    bindings: list[tuple[dict[str, str], list[str], list[str]]]


def _plan_checks(form: Form, section: Section) -> list[_CheckPlan]:
    """Place each ``sum_equal`` rule whose cells lie in this section.

    ``row``: every binding checks one table column → a check row under the table, one cell per
    column (R1, R3). ``column``: every binding checks one table row → a check column at the right
    (R2). ``span``: bindings cover disjoint column ranges → one merged check cell under each range
    (R4). Anything else: ``list``, one labelled check row per binding.
    """
    codes = {c.code: c for b in section.blocks for c in b.cells}
    # Sheet positions are not known yet; block-relative (row index, column index) suffice.
    where: dict[str, tuple[int, int, int]] = {}
    for b in section.blocks:
        for i in range(len(b.rows)):
            for j in range(len(b.columns)):
                where[b.cell_at(i, j).code] = (b.index, i, j)
    plans = []
    for rule in _sum_equal_rules(form):
        bindings = _rule_bindings(form, rule)
        all_codes = [c for _, left, right in bindings for c in (*left, *right)]
        if not all_codes or not all(c in codes for c in all_codes):
            continue
        blocks = {where[c][0] for c in all_codes}
        one_block = len(blocks) == 1
        mode: Literal["column", "row", "span", "list"]
        cols = [{where[c][2] for c in (*lf, *rt)} for _, lf, rt in bindings]
        rows = [{where[c][1] for c in (*lf, *rt)} for _, lf, rt in bindings]
        if one_block and all(len(s) == 1 for s in cols) and _distinct(cols):
            mode = "row"
        elif one_block and all(len(s) == 1 for s in rows) and _distinct(rows):
            mode = "column"
        elif one_block and _disjoint_ranges(cols):
            mode = "span"
        else:
            mode = "list"
        plans.append(_CheckPlan(rule, mode, bindings))
    return plans


def _distinct(sets: list[set[int]]) -> bool:
    singles = [next(iter(s)) for s in sets]
    return len(set(singles)) == len(singles)


def _disjoint_ranges(sets: list[set[int]]) -> bool:
    ranges = sorted((min(s), max(s)) for s in sets)
    return all(a[1] < b[0] for a, b in itertools.pairwise(ranges))


def _column_widths(
    grid: _Grid, blocks: tuple[Block, ...], table_width: int, n_checks: int
) -> list[float]:
    """Widths that fit the labels: group levels narrow (they are merged down over many rows),
    the innermost row-header level wide enough for its longest item in ≤ 3 lines, data columns
    wide enough for their headers in ≤ 2 lines."""
    widths: list[float] = []
    row_cols = grid.row_cols
    for level in range(row_cols):
        single = [
            text_units(lb.text)
            for lb in grid.labels
            if lb.role in ("row", "corner")
            and lb.area.min_col == level + 1 == lb.area.max_col
            and lb.text
        ]
        need = max(single, default=8.0) + 2
        if level < row_cols - 1:
            # Group labels are merged down over several rows: one line if short, else two.
            widths.append(need if need <= 17 else math.ceil((need - 2) / 2) + 2)
        else:
            widths.append(min(max(need, 10.0), 32.0))
    data = [MIN_DATA_WIDTH] * grid.data_cols
    for lb in grid.labels:
        if lb.role == "column" and lb.area.min_col == lb.area.max_col:
            j = lb.area.min_col - row_cols - 1
            need = math.ceil(text_units(lb.text) / 2) + 2.5
            data[j] = min(max(data[j], need), MAX_DATA_WIDTH)
    total = sum(widths) + sum(data)
    if total < TARGET_TABLE_WIDTH:
        widen = min(MAX_DATA_WIDTH, (TARGET_TABLE_WIDTH - sum(widths)) / grid.data_cols)
        data = [max(w, widen) for w in data]
    assert len(widths) + len(data) == table_width
    return [round(w, 1) for w in (*widths, *data, *([CHECK_COLUMN_WIDTH] * n_checks))]


def _row_heights(grid: _Grid, widths: list[float], last_row: int) -> dict[int, float]:
    """Row heights that show every wrapped label (Excel does not grow merged cells by itself)."""
    heights = {r: MIN_ROW_HEIGHT for r in range(FIRST_TABLE_ROW, last_row + 1)}
    heights.update(grid.heights)

    def area_width(area: Area) -> float:
        return sum(widths[c - 1] for c in range(area.min_col, area.max_col + 1))

    # Single-row labels first, then grow the last row of merged ones that still do not fit.
    tall = sorted(grid.tall, key=lambda t: t[0].max_row - t[0].min_row)
    for area, text in tall:
        need = text_height(text, area_width(area))
        have = sum(heights[r] for r in range(area.min_row, area.max_row + 1))
        if need > have:
            heights[area.max_row] += need - have
    return heights
