"""An office's consolidated report as a submission one level up: who it is and its leaf units.

Offices chain: a county consolidates its units, its approved workbook (``…（定稿）.xlsx``) is its
submission to the city, whose approved workbook is in turn its submission to the province. Such a
workbook says on its ``_meta`` sheet which office it is (``office_code``, ``office_level``,
``office_name``, ``report_year``) and carries a fingerprint of its content (``content_hash``);
its ``基层单位明细`` sheets hold every leaf unit that contributed (departments, townships …,
through however many offices), one column each, in the national rows. That lets the next level
check the sums, find a unit counted twice and drill a figure down to the units it came from.

The sheet's machine rows are hidden: row 4 the leaf's key (the codes of the offices it came
through and its own code, ``YZQ/JYJ``), row 5 its full name, row 6 its kind, row 7 the names of
the offices it came through (``袁州区/…``); the rows of the form from row 8, the cell code in the
hidden column A. Read here in the isolated reader, like every other cell of a received file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from annual_report.form.labels import label_key
from annual_report.form.numbers import number_text, parse_number, shown

LEAVES_SHEET = (
    "基层单位明细"  # the first; more as 基层单位明细2, 基层单位明细3 … (≤ LEAVES_PER_SHEET)
)
LEAVES_PER_SHEET = 180  # columns of units per sheet: the reader's limit is 200 columns a sheet
LEAF_KEY_ROW, LEAF_NAME_ROW, LEAF_KIND_ROW, LEAF_PATH_ROW = 4, 5, 6, 7  # 1-based
LEAF_FIRST_ROW = 8
LEAF_FIXED = ("代码", "表", "项目", "栏目", "合计")  # columns before the units' (A hidden)
PATH_SEPARATOR = "/"

# Keys the office's workbook adds to the _meta sheet (as defined names ``meta.<key>`` too).
OFFICE_META_KEYS = ("office_code", "office_name", "office_level", "content_hash", "leaf_units")


@dataclass(frozen=True)
class Leaf:
    """One unit that contributed to an office's report, and the offices it came through
    (outermost first, not counting the office whose report this is)."""

    code: str
    name: str
    kind: str
    values: Mapping[str, Decimal | None]  # read-only (a dict, or a view of the merger's table)
    path: tuple[str, ...] = ()  # office codes, outermost first
    path_names: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``YZQ/JYJ``: unique within one office's report."""
        return PATH_SEPARATOR.join((*self.path, self.code))

    def under(self, code: str, name: str) -> Leaf:
        """The same leaf seen one level up, through office ``code``."""
        return Leaf(
            self.code,
            self.name,
            self.kind,
            self.values,
            (code, *self.path),
            (name, *self.path_names),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "path": list(self.path),
            "path_names": list(self.path_names),
            "values": {c: None if v is None else str(v) for c, v in self.values.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Leaf:
        return cls(
            code=data["code"],
            name=data["name"],
            kind=data["kind"],
            values={c: None if v is None else Decimal(v) for c, v in data["values"].items()},
            path=tuple(data.get("path") or ()),
            path_names=tuple(data.get("path_names") or ()),
        )


@dataclass
class OfficeReport:
    """What an office's consolidated workbook says of itself besides the sums."""

    code: str | None
    name: str | None
    level: str
    leaves: list[Leaf] = field(default_factory=list)
    declared_hash: str | None = None  # the content_hash the file claims
    problems: list[str] = field(default_factory=list)  # Chinese: what could not be read

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "level": self.level,
            "leaves": [leaf.to_dict() for leaf in self.leaves],
            "declared_hash": self.declared_hash,
            "problems": list(self.problems),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OfficeReport:
        return cls(
            code=data["code"],
            name=data["name"],
            level=data["level"],
            leaves=[Leaf.from_dict(d) for d in data["leaves"]],
            declared_hash=data.get("declared_hash"),
            problems=list(data.get("problems") or ()),
        )


def content_hash(
    form_id: str,
    year: int | None,
    values: Mapping[str, Decimal | None],
    leaves: Iterable[Leaf],
) -> str:
    """The fingerprint of an office's report: the form, the year, every sum and every leaf's
    values (exact decimal text, in a fixed order). The same report written again (another day,
    another file) has the same hash; any figure or unit changed gives another."""
    h = hashlib.sha256(f"{form_id}\0{year}\n".encode())
    for code in sorted(values):
        h.update(f"{code}\0{_text(values[code])}\n".encode())
    for leaf in sorted(leaves, key=lambda leaf: leaf.key):
        h.update(f"leaf\0{leaf.key}\0{leaf.name}\0{leaf.kind}\n".encode())
        for code in sorted(leaf.values):
            h.update(f"{code}\0{_text(leaf.values[code])}\n".encode())
    return h.hexdigest()


def _text(value: Decimal | None) -> str:
    if value is None:
        return ""
    return format(value.normalize(), "f") if value else "0"


def unit_identity(name: str) -> str:
    """Who a unit is across offices: its full name, folded (width, spacing, traditional forms);
    codes are each office's own (袁州区教育局 is JYJ in the county, YZQJYJ in the city)."""
    return label_key(name)


def leaf_sheet_names(count: int) -> list[str]:
    """The sheets ``count`` leaves take: 基层单位明细, 基层单位明细2, …"""
    pages = max(1, -(-count // LEAVES_PER_SHEET))
    return [LEAVES_SHEET if i == 0 else f"{LEAVES_SHEET}{i + 1}" for i in range(pages)]


# -- reading (in the isolated reader) ---------------------------------------------------------


class _Grid(Protocol):
    sheet_names: list[str]

    def grid(self, sheet: str) -> list[list[Any]]: ...


def read_office(
    book: _Grid, cells: Mapping[str, Any], meta: Mapping[str, str]
) -> OfficeReport | None:
    """The office and its leaves, when the ``_meta`` sheet says the file is an office's report
    (``office_level``); ``None`` for a unit's own report. ``cells``: the form's cells by code.
    Every value is parsed as the form's cells are (R5's limits: 15 digits, finite, the type's
    places); one that is not a number is a problem of the breakdown, not a value."""
    level = (meta.get("office_level") or "").strip()
    if not level:
        return None
    office = OfficeReport(
        code=(meta.get("office_code") or meta.get("department_code") or "").strip().upper() or None,
        name=meta.get("office_name") or meta.get("department_name"),
        level=level,
        declared_hash=meta.get("content_hash"),
    )
    wanted = dict(cells)
    sheets = [s for s in book.sheet_names if s.startswith(LEAVES_SHEET)]
    if not sheets:
        office.problems.append(f"文件中没有“{LEAVES_SHEET}”工作表，无法核对下级单位的数据")
        return office
    keys: set[str] = set()
    for sheet in sheets:
        grid = book.grid(sheet)
        for leaf in _sheet_leaves(grid, wanted, office.problems, sheet):
            if leaf.key in keys:
                office.problems.append(f"“{sheet}”中单位{leaf.key}出现了两次")
                continue
            keys.add(leaf.key)
            office.leaves.append(leaf)
    return office


def _cell(grid: list[list[Any]], row: int, col: int) -> Any:
    """A 1-based cell of the grid, ``None`` outside it."""
    if row - 1 < len(grid) and col - 1 < len(grid[row - 1]):
        return grid[row - 1][col - 1]
    return None


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _sheet_leaves(
    grid: list[list[Any]], wanted: Mapping[str, Any], problems: list[str], sheet: str
) -> list[Leaf]:
    rows: dict[str, int] = {}
    for r in range(LEAF_FIRST_ROW, len(grid) + 1):
        code = _str(_cell(grid, r, 1))
        if code in wanted:
            rows[code] = r
    missing = set(wanted) - set(rows)
    if missing:
        problems.append(f"“{sheet}”缺少{len(missing)}个栏目的行（如{sorted(missing)[0]}）")
    leaves = []
    first = len(LEAF_FIXED) + 1
    width = max((len(row) for row in grid[:LEAF_PATH_ROW]), default=0)
    for col in range(first, width + 1):
        key = _str(_cell(grid, LEAF_KEY_ROW, col))
        if not key:
            continue
        *path, code = key.split(PATH_SEPARATOR)
        names = _str(_cell(grid, LEAF_PATH_ROW, col))
        path_names = tuple(names.split(PATH_SEPARATOR)) if names else ()
        if len(path_names) != len(path):
            path_names = tuple(path)
        values: dict[str, Decimal | None] = {}
        for cell_code, r in rows.items():
            raw = _cell(grid, r, col)
            values[cell_code] = _number(raw, wanted[cell_code], problems, sheet, key)
        leaves.append(
            Leaf(
                code=code,
                name=_str(_cell(grid, LEAF_NAME_ROW, col)) or code,
                kind=_str(_cell(grid, LEAF_KIND_ROW, col)) or "department",
                values=values,
                path=tuple(path),
                path_names=path_names,
            )
        )
    return leaves


def _number(raw: Any, spec: Any, problems: list[str], sheet: str, key: str) -> Decimal | None:
    """A leaf's value: blank is None; anything but a plain number is a problem."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        text = str(raw)[:20]
    else:
        text = number_text(raw) if isinstance(raw, int | float) else raw.strip()
    parsed = parse_number(text, spec.type, spec.unit)
    if parsed.problem is not None or parsed.notes or parsed.value is None:
        problems.append(f"“{sheet}”中{key}的{spec.code}不是数字（{shown(text, quotes=False)}）")
        return None
    return parsed.value
