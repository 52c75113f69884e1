"""Reading a returned workbook (.xlsx .xlsm .xls .ods) into a :class:`~annual_report.report.Report`.

Call this only on a file :func:`annual_report.workbook.intake.inspect` accepted
(``sandbox.read_untrusted``
does both, isolating the parse). The steps:

1. **Metadata** from the ``meta.*`` defined names or the ``_meta`` sheet's key/value rows: form,
   year, department, campaign, token — whatever the file is called and whoever sent it.
2. **Values by defined names**: every template input cell carries a workbook-scoped name equal
   to its canonical code. Names are read straight from ``xl/workbook.xml`` (zipfile +
   ElementTree), ODS ``<table:named-expressions>`` or, for .xls, xlrd; cell values come from
   python-calamine, loading only the sheets the names point at.
3. **Values by labels** when names are lost (a copy, a re-save by an old tool, values pasted into
   another layout, .xls/.ods from elsewhere): each block's row labels and column headers are
   found on any sheet by :func:`~annual_report.form.labels.label_key`, and the value is taken at
   (row of the row label, column of the leaf header). Leaf headers repeated under several groups
   (section 4's ``结果维持`` ×3) are told apart by their group header's column span. Every alias
   used becomes a :class:`~annual_report.report.LabelNote`.

Numbers arrive from calamine as floats; :func:`cell_text` turns them back into the text a clerk
typed (``100.0`` → ``100``, ``72701.2578`` stays, a formula's ``0.30000000000000004`` shows as
Excel shows it, ``0.3``), and :meth:`Report.set_raw` parses that text exactly, with notes.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import logging
import math
import re
import statistics
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple
from xml.etree import ElementTree

import python_calamine

from annual_report.errors import FormError, WorkbookError
from annual_report.form.cellref import cell_ref
from annual_report.form.labels import label_key
from annual_report.form.model import Block, Form, Header, form_for_year, forms, load_form
from annual_report.form.numbers import number_text
from annual_report.report import LabelNote, Report
from annual_report.workbook.breakdown import read_office

log = logging.getLogger(__name__)

META_SHEET = "_meta"
META_PREFIX = "meta."
METHOD_NAMES = "defined-names"
METHOD_LABELS = "labels"
EXCEL_DIGITS = 15  # Excel shows (and keeps) 15 significant digits

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CELL_PART = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})(?::\$?[A-Za-z]{1,3}\$?[0-9]{1,7})?")
_ODS_TARGET = re.compile(
    r"^\$?(?:'((?:[^']|'')+)'|([^'.]+))\.\$?([A-Za-z]{1,3})\$?([0-9]+)(?::.*)?$"
)
_ODS_RANGE = re.compile(rb"<table:named-range\b([^>]*)/?>")
_ODS_ATTR = re.compile(rb'table:(name|cell-range-address)="([^"]*)"')


class Target(NamedTuple):
    """Where a defined name points: sheet and 0-based row/column of the (top-left) cell."""

    sheet: str
    row: int
    col: int


@cache
def _column_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def cell_text(value: Any) -> str | None:
    """The text of a cell as the clerk typed or saw it; ``None`` for an empty cell."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _float_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:  # the common case: a count
        return str(int(value))
    if not math.isfinite(value):
        return repr(value)
    text = number_text(value)  # the shortest text that round-trips: what was typed
    digits = len(text.lstrip("-").replace(".", "").lstrip("0").rstrip("0"))
    if "e" in text or "E" in text or digits > EXCEL_DIGITS:
        # Float noise from a formula (0.1+0.2) or an exponent: show it as Excel shows it.
        exact = Decimal(format(value, f".{EXCEL_DIGITS}g"))
        text = format(exact, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text


# -- the workbook -------------------------------------------------------------------------------


class Book:
    """One open workbook: sheet grids loaded on demand, defined names parsed from the file."""

    def __init__(self, path: Path, data: bytes | None = None) -> None:
        self.path = path
        if data is None:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise _unreadable(path, f"cannot read the file: {exc}") from None
        archive = _open_zip(data)
        self.kind = _sniff(data, archive)
        try:
            self._wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        except Exception as exc:  # calamine's errors (CalamineError, PasswordError, …)
            if type(exc).__name__ == "PasswordError":
                raise WorkbookError(
                    f"password-protected: {exc}",
                    "文件设置了打开密码，系统无法读取。请取消密码后重新发送。",
                    kind="encrypted",
                    file=str(path),
                ) from None
            raise _unreadable(path, f"{type(exc).__name__}: {exc}") from None
        self.sheet_names: list[str] = list(self._wb.sheet_names)
        self._grids: dict[str, list[list[Any]]] = {}
        # Defined names: lower-cased name → target (Excel names are case-insensitive).
        self.names: dict[str, Target] = {}
        try:
            if archive is not None and self.kind == "ods":
                self.names = _ods_names(archive)
            elif archive is not None:
                self.names = _xlsx_names(archive)
            elif self.kind == "xls":
                self.names = _xls_names(data)
        except (ElementTree.ParseError, zipfile.BadZipFile, KeyError, ValueError) as exc:
            log.warning("%s: defined names unreadable (%s); reading by labels", path, exc)
        finally:
            if archive is not None:
                archive.close()

    def grid(self, sheet: str) -> list[list[Any]]:
        grid = self._grids.get(sheet)
        if grid is None:
            try:
                grid = self._wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            except Exception as exc:
                raise _unreadable(
                    self.path, f"sheet {sheet!r}: {type(exc).__name__}: {exc}"
                ) from None
            self._grids[sheet] = grid
        return grid

    def value(self, sheet: str, row: int, col: int) -> Any:
        grid = self.grid(sheet)
        if row < len(grid):
            cells = grid[row]
            if col < len(cells):
                return cells[col]
        return None

    def text(self, target: Target) -> str | None:
        if target.sheet not in self.sheet_names:
            return None
        return cell_text(self.value(target.sheet, target.row, target.col))

    def close(self) -> None:
        self._wb.close()


def _unreadable(path: Path, detail: str) -> WorkbookError:
    return WorkbookError(
        f"the workbook cannot be parsed: {detail}",
        "文件无法作为Excel表格打开（可能已损坏）。请用Excel或WPS打开检查，另存为.xlsx格式后重新发送。",
        kind="unreadable",
        file=str(path),
    )


def _open_zip(data: bytes) -> zipfile.ZipFile | None:
    if not data.startswith(b"PK"):
        return None
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None


def _sniff(data: bytes, archive: zipfile.ZipFile | None) -> str:
    if data.startswith(_OLE_MAGIC):
        return "xls"
    if archive is None:
        return "unknown"
    names = set(archive.namelist())
    if "content.xml" in names or "mimetype" in names:
        return "ods"
    return "xlsm" if any(n.lower().endswith("vbaproject.bin") for n in names) else "xlsx"


# One pass over <definedNames>: attributes, quoted or plain sheet, column, row.
_NAME_ATTR = re.compile(rb'\bname="([^"]*)"')
_DEFINED_NAME = re.compile(
    rb"<definedName\b([^>]*)>"
    rb"=?(?:'([^'<]*(?:''[^'<]*)*)'|([^'!<]+))!\$?([A-Za-z]{1,3})\$?([0-9]{1,7})"
    rb"(?::\$?[A-Za-z]{1,3}\$?[0-9]{1,7})?</definedName>"
)


def _xlsx_names(archive: zipfile.ZipFile) -> dict[str, Target]:
    """``<definedNames>`` of ``xl/workbook.xml``: one regular expression over the element (an
    ElementTree parse of a template's workbook.xml takes several times longer)."""
    xml = archive.read("xl/workbook.xml")
    start, end = xml.find(b"<definedNames"), xml.rfind(b"</definedNames>")
    if start < 0 or end < 0:
        # No names, or names written with a namespace prefix: the general road.
        return _xlsx_names_tree(xml) if b"definedName" in xml else {}
    names: dict[str, Target] = {}
    local: dict[str, Target] = {}
    sheets: dict[bytes, str] = {}
    for attrs, quoted, plain, letters, row in _DEFINED_NAME.findall(xml, start, end + 15):
        name = _NAME_ATTR.search(attrs)  # LibreOffice writes other attributes first
        key = _xml_text(name.group(1)).lower() if name else ""
        if not key or key.startswith("_xlnm."):
            continue
        raw_sheet = quoted or plain
        sheet = sheets.get(raw_sheet)
        if sheet is None:
            sheet = _xml_text(raw_sheet)
            sheet = sheets[raw_sheet] = sheet.replace("''", "'") if quoted else sheet
        scope = local if b"localSheetId" in attrs else names
        if key not in scope:
            scope[key] = Target(sheet, int(row) - 1, _column_index(letters.decode()))
    for key, target in local.items():  # sheet-scoped names count too, after workbook ones
        names.setdefault(key, target)
    return names


def _xlsx_names_tree(xml: bytes) -> dict[str, Target]:
    names: dict[str, Target] = {}
    for item in ElementTree.fromstring(xml).iter():
        if item.tag.rsplit("}", 1)[-1] != "definedName":
            continue
        name = item.get("name", "")
        target = _parse_a1_target(item.text or "")
        if name and not name.startswith("_xlnm.") and target is not None:
            names.setdefault(name.lower(), target)
    return names


def _xml_text(raw: bytes) -> str:
    text = raw.decode("utf-8")
    return html.unescape(text) if "&" in text else text


def _parse_a1_target(text: str) -> Target | None:
    """``'Sheet'!$D$5`` (or a range: its top-left cell) → a target; anything else → ``None``."""
    sheet, sep, cell = text.strip().lstrip("=").rpartition("!")
    match = _CELL_PART.fullmatch(cell) if sep else None
    if not match or not sheet:
        return None  # #REF!, constants, formulas
    name = _unquote_sheet(sheet)
    if name is None:
        return None
    return Target(name, int(match.group(2)) - 1, _column_index(match.group(1)))


@cache
def _unquote_sheet(text: str) -> str | None:
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return None if "'" in text else text


def _ods_names(archive: zipfile.ZipFile) -> dict[str, Target]:
    content = archive.read("content.xml")
    names: dict[str, Target] = {}
    for match in _ODS_RANGE.finditer(content):
        attrs = dict(_ODS_ATTR.findall(match.group(1)))
        name = html.unescape(attrs.get(b"name", b"").decode("utf-8", "replace"))
        address = html.unescape(attrs.get(b"cell-range-address", b"").decode("utf-8", "replace"))
        found = _ODS_TARGET.match(address)
        if not name or not found:
            continue
        quoted, plain, letters, row = found.groups()
        sheet = quoted.replace("''", "'") if quoted is not None else plain
        names.setdefault(name.lower(), Target(sheet, int(row) - 1, _column_index(letters)))
    return names


def _xls_names(data: bytes) -> dict[str, Target]:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=io.StringIO())
    except Exception as exc:  # xlrd raises many kinds on files calamine could read
        log.info("xls defined names unreadable: %s", exc)
        return {}
    try:
        sheet_names = book.sheet_names()
        names: dict[str, Target] = {}
        for obj in book.name_obj_list:
            if obj.builtin or obj.macro or obj.result is None:
                continue
            result = obj.result
            if result.kind not in (xlrd.oREF, xlrd.oREL) or not result.value:
                continue
            # a list of Ref3D for oREF/oREL (types-xlrd says float | str)
            ref: Any = result.value[0]  # type: ignore[index]
            coords = ref.coords  # shxlo, shxhi, rowxlo, rowxhi, colxlo, colxhi
            if not 0 <= coords[0] < len(sheet_names):
                continue
            names.setdefault(obj.name.lower(), Target(sheet_names[coords[0]], coords[2], coords[4]))
        return names
    finally:
        book.release_resources()


# -- metadata ---------------------------------------------------------------------------------


def read_meta(book: Book) -> dict[str, str]:
    """The ``_meta`` key/value pairs: by ``meta.*`` names, else by the sheet's rows."""
    meta: dict[str, str] = {}
    for name, target in book.names.items():
        if name.startswith(META_PREFIX):
            text = book.text(target)
            if text is not None and text.strip():
                meta[name.removeprefix(META_PREFIX)] = text.strip()
    sheet = next((s for s in book.sheet_names if s.lower() == META_SHEET), None)
    if sheet is not None and "form_id" not in meta:
        for row in book.grid(sheet):
            if len(row) < 2 or not isinstance(row[0], str):
                continue
            key, text = row[0].strip(), cell_text(row[1])
            if key and key != "key" and text is not None and text.strip():
                meta.setdefault(key, text.strip())
    return meta


def _meta_year(meta: dict[str, str]) -> int | None:
    raw = meta.get("report_year")
    if raw is None:
        return None
    try:
        return int(Decimal(raw))
    except ArithmeticError:
        return None


def _known_form(form_id: str | None) -> Form | None:
    if not form_id:
        return None
    try:
        return load_form(form_id)
    except FormError:
        log.warning("file names an unknown form %r", form_id)
        return None


# -- label location -----------------------------------------------------------------------------


@dataclass
class _Hit:
    sheet: str
    row: int
    col: int
    text: str


@dataclass
class _Found:
    """The result of locating one form's blocks by their labels."""

    cells: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # code → position
    notes: list[LabelNote] = field(default_factory=list)
    exact: int = 0  # cells found through exact labels only
    aliased: int = 0


class LabelIndex:
    """Every text cell of the workbook by :func:`label_key` (the metadata sheet excepted)."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self.hits: dict[str, list[_Hit]] = defaultdict(list)
        self.rows: dict[str, dict[int, list[int]]] = {}  # sheet → row → non-empty columns
        for sheet in book.sheet_names:
            if sheet.lower() == META_SHEET:
                continue
            occupied: dict[int, list[int]] = {}
            for r, row in enumerate(book.grid(sheet)):
                cols = []
                for c, value in enumerate(row):
                    if value is None or value == "":
                        continue
                    cols.append(c)
                    if isinstance(value, str) and len(value) < 200:
                        self.hits[label_key(value)].append(_Hit(sheet, r, c, value))
                if cols:
                    occupied[r] = cols
            self.rows[sheet] = occupied

    def find(self, label: str) -> list[_Hit]:
        return self.hits.get(label_key(label), [])

    def next_filled(self, sheet: str, row: int, col: int) -> int:
        """Column of the next non-empty cell right of ``col`` in ``row`` (huge if none)."""
        for c in self.rows.get(sheet, {}).get(row, ()):
            if c > col:
                return c
        return 1 << 30


def _header_hits(index: LabelIndex, header: Header) -> list[tuple[_Hit, str | None, str]]:
    """(hit, alias warn or None, alias label or "") for a header's label and its aliases."""
    out: list[tuple[_Hit, str | None, str]] = [(h, None, "") for h in index.find(header.label)]
    for alias in header.aliases:
        out.extend((h, alias.warn, alias.label) for h in index.find(alias.label))
    return out


def _alias_note(header: Header, hit: _Hit, warn: str | None, codes: Iterable[str]) -> LabelNote:
    message = (
        warn
        or f"表头“{hit.text.strip()}”与标准格式“{header.label}”不一致，已按“{header.label}”读取"
    )
    return LabelNote(tuple(codes), hit.text, message, (cell_ref(hit.sheet, hit.row, hit.col),))


def locate_block(index: LabelIndex, block: Block, found: _Found) -> None:
    """Find one block's cells by its labels; add them (and alias notes) to ``found``."""
    labelled_rows = [h for h in block.rows if h.path]
    row_pos: dict[int, tuple[_Hit, str | None, str]] = {}
    sheet: str | None = None
    if labelled_rows:
        candidates = {i: _header_hits(index, h) for i, h in enumerate(block.rows) if h.path}
        per_sheet: dict[str, int] = defaultdict(int)
        for hits in candidates.values():
            for s in {h.sheet for h, _, _ in hits}:
                per_sheet[s] += 1
        if not per_sheet:
            return
        sheet = max(per_sheet, key=lambda s: per_sheet[s])  # first-listed sheet wins ties
        on_sheet = {i: [x for x in hits if x[0].sheet == sheet] for i, hits in candidates.items()}
        unique_rows = [v[0][0].row for v in on_sheet.values() if len(v) == 1]
        centre = statistics.median(unique_rows) if unique_rows else None
        for i, hits in on_sheet.items():
            if not hits:
                continue
            hits.sort(key=lambda x: (bool(x[2]), abs(x[0].row - (centre or 0))))
            row_pos[i] = hits[0]
        if not row_pos:
            return
        top = min(h.row for h, _, _ in row_pos.values())
    else:
        top = None

    # Column headers: on the rows' sheet, above the first row label, nearest first.
    col_pos: dict[int, tuple[_Hit, str | None, str]] = {}
    taken: set[tuple[str, int, int]] = set()
    if sheet is None:
        per_sheet = defaultdict(int)
        for col in block.columns:
            for s in {h.sheet for h, _, _ in _header_hits(index, col)}:
                per_sheet[s] += 1
        if not per_sheet:
            return
        sheet = max(per_sheet, key=lambda s: per_sheet[s])
    for j, col in enumerate(block.columns):
        hits = [
            x
            for x in _header_hits(index, col)
            if x[0].sheet == sheet and (top is None or x[0].row < top)
        ]
        if len(col.path) >= 2 and len(hits) > 1:
            hits = _within_group(index, col.path[-2], hits) or hits
        hits = [x for x in hits if (x[0].sheet, x[0].row, x[0].col) not in taken]
        if not hits:
            continue
        if top is not None:  # nearest above the data; exact labels before aliases
            hits.sort(key=lambda x: (-x[0].row, bool(x[2]), x[0].col))
        else:
            hits.sort(key=lambda x: (bool(x[2]), x[0].row, x[0].col))
        col_pos[j] = hits[0]
        taken.add((hits[0][0].sheet, hits[0][0].row, hits[0][0].col))
    if not col_pos:
        return

    # Unlabelled rows (section 4's single row) sit right under the deepest leaf header.
    data_row_default = max(h.row for h, _, _ in col_pos.values()) + 1
    for i, row in enumerate(block.rows):
        if row.path and i not in row_pos:
            continue
        r = row_pos[i][0].row if row.path else data_row_default
        for j in range(len(block.columns)):
            if j not in col_pos:
                continue
            code = block.cell_at(i, j).code
            found.cells[code] = (sheet, r, col_pos[j][0].col)
            aliased = (row.path and bool(row_pos[i][2])) or bool(col_pos[j][2])
            if aliased:
                found.aliased += 1
            else:
                found.exact += 1
    for i, (hit, warn, alias) in row_pos.items():
        if alias:
            codes = [block.cell_at(i, j).code for j in range(len(block.columns))]
            found.notes.append(_alias_note(block.rows[i], hit, warn, codes))
    for j, (hit, warn, alias) in col_pos.items():
        if alias:
            codes = [block.cell_at(i, j).code for i in range(len(block.rows))]
            found.notes.append(_alias_note(block.columns[j], hit, warn, codes))


def _within_group(
    index: LabelIndex, group: str, hits: list[tuple[_Hit, str | None, str]]
) -> list[tuple[_Hit, str | None, str]]:
    """Hits under ``group``'s header: from its column to the next filled cell of its row."""
    groups = index.find(group)
    kept = []
    for x in hits:
        hit = x[0]
        for g in groups:
            if g.sheet != hit.sheet or g.row >= hit.row:
                continue
            if g.col <= hit.col < index.next_filled(g.sheet, g.row, g.col):
                kept.append(x)
                break
    return kept


def locate(index: LabelIndex, form: Form) -> _Found:
    found = _Found()
    for block in form.blocks:
        locate_block(index, block, found)
    return found


# -- narratives -------------------------------------------------------------------------------

_PROMPTS = ("请", "填写说明", "注：", "注:")  # a template's prompt row, not the department's text


def _narrative_by_heading(index: LabelIndex, form: Form, code: str) -> tuple[str, str] | None:
    """(text, ref) under a narrative section's heading; the template puts it two rows below."""
    section = next(s for s in form.sections if s.narrative == code)
    headings = [h for label in section.headings for h in index.find(label)]
    if not headings:
        return None
    heading = headings[0]
    grid = index.book.grid(heading.sheet)
    # The template: heading, a note row, then the text area. Elsewhere: whatever follows.
    below = heading.row + 2
    if below < len(grid) and heading.col < len(grid[below]):
        text = cell_text(grid[below][heading.col])
        if text and text.strip():
            return text.strip(), cell_ref(heading.sheet, below, heading.col)
    other = {label_key(h) for s in form.sections for h in s.headings} - {
        label_key(h) for h in section.headings
    }
    parts = []
    for r in range(heading.row + 1, len(grid)):
        cells = [cell_text(v) for v in grid[r]]
        texts = [t.strip() for t in cells if t and t.strip() and not t.startswith(_PROMPTS)]
        if any(label_key(t) in other for t in texts):
            break
        parts.extend(texts)
    if not parts:
        return None
    return "\n".join(parts), cell_ref(heading.sheet, heading.row + 1, heading.col)


# -- reading -------------------------------------------------------------------------------------


def _form_by_names(names: dict[str, Target], candidates: list[Form]) -> tuple[Form | None, float]:
    best: Form | None = None
    best_share = 0.0
    for form in candidates:
        codes = _lower_codes(form)
        share = len(codes.intersection(names)) / max(len(codes), 1)
        if share > best_share:
            best, best_share = form, share
    return best, best_share


_LOWER_CODES: dict[str, frozenset[str]] = {}


def _lower_codes(form: Form) -> frozenset[str]:
    codes = _LOWER_CODES.get(form.id)
    if codes is None:
        codes = _LOWER_CODES[form.id] = frozenset(code.lower() for code in form.cells)
    return codes


def _candidates(*preferred: Form | None) -> list[Form]:
    out: list[Form] = []
    for form in (*preferred, *forms()):
        if form is not None and form not in out:
            out.append(form)
    return out


def read_workbook(
    path: str | Path,
    *,
    data: bytes | None = None,
    year: int | None = None,
    form_id: str | None = None,
) -> Report:
    """Read a workbook :func:`~annual_report.workbook.intake.inspect` accepted into a
    :class:`Report`.

    ``year`` is the report year when the caller knows it (the campaign's); ``form_id`` forces a
    form. Otherwise the form is the one the metadata names, else the one the defined names or
    labels show, else the year's. ``report.declared_form`` is what the file claims or shows.
    ``data``: the file's bytes, already in hand (``path`` then only names it).
    """
    path = Path(path)
    book = Book(path, data)
    try:
        return _read(book, path, year, form_id)
    finally:
        book.close()


def _read(book: Book, path: Path, year: int | None, form_id: str | None) -> Report:
    meta = read_meta(book)
    report_year = year if year is not None else _meta_year(meta)
    forced = load_form(form_id) if form_id else None
    meta_form = _known_form(meta.get("form_id"))
    year_form = None
    if report_year is not None:
        try:
            year_form = form_for_year(report_year)
        except FormError:
            year_form = None
    candidates = _candidates(forced, meta_form, year_form)

    # Which form does the file show? By its names, else by its labels.
    named_form, share = _form_by_names(book.names, candidates)
    index: LabelIndex | None = None
    located: dict[str, _Found] = {}
    if named_form is not None and share > 0:
        shown = named_form
        method = METHOD_NAMES
    else:
        index = LabelIndex(book)
        for form in candidates:
            located[form.id] = locate(index, form)
        shown = max(
            candidates, key=lambda f: (located[f.id].exact, located[f.id].aliased)
        )  # max() keeps the first of equals: the preferred order
        if not located[shown.id].cells:
            raise WorkbookError(
                "no report table found: no defined names and none of the form's labels",
                "文件中没有找到年度报告的表格（既没有模板的单元格名称，也没有识别到标准的表头和行名）。"
                "请使用下发的模板填写后重新发送。",
                kind="not-a-report",
                file=str(path),
            )
        method = METHOD_LABELS
    form = forced or shown  # read by the layout the file has; R6 compares it with the year
    report = Report(
        form=form,
        year=report_year,
        department=meta.get("department_code"),
        campaign=meta.get("campaign_id"),
        token=meta.get("token"),
        declared_form=meta_form.id if meta_form else shown.id,
        source=str(path),
        method=method,
    )
    names, sheets = book.names, set(book.sheet_names)
    stale: set[str] = set()
    if method == METHOD_NAMES:
        # Names are trusted where the labels next to their cells agree; a tool that inserts
        # rows without updating names (openpyxl, pandas) leaves them pointing at the wrong cells.
        for block in form.blocks:
            if not _names_agree(book, block, sheets):
                stale.update(c.code for c in block.cells)
                log.warning(
                    "%s: defined names of %s block %d disagree with its labels; reading by labels",
                    path,
                    form.id,
                    block.section,
                )
        for code in form.cells:
            if code in stale:
                continue
            target = _target(names, code, sheets)
            if target is not None:
                sheet, row, col = target
                grid = book.grid(sheet)
                value = grid[row][col] if row < len(grid) and col < len(grid[row]) else None
                report.set_raw(code, cell_text(value), cell_ref(sheet, row, col))
    missing = [code for code in form.cells if code not in report.entries]
    if missing:  # names lost, stale or never there: find those blocks by their labels
        if index is None:
            index = LabelIndex(book)
        found = located.get(form.id) or _Found()
        if form.id not in located:
            wanted = set(missing)
            for block in form.blocks:
                if any(c.code in wanted for c in block.cells):
                    locate_block(index, block, found)
        for code in missing:
            position = found.cells.get(code)
            if position is None and code in stale:  # labels not found either: names it is
                position = _target(names, code, sheets)
            if position is not None:
                sheet, r, c = position
                report.set_raw(code, cell_text(book.value(sheet, r, c)), cell_ref(sheet, r, c))
        wanted = set(missing)
        report.label_notes.extend(n for n in found.notes if wanted.intersection(n.codes))
        report.missing.extend(code for code in form.cells if code not in report.entries)
        if report.missing:
            report.label_notes.extend(_missing_notes(form, report.missing))
    _read_narratives(book, form, report, index)
    report.office = read_office(book, form.cells, meta)  # None: not an office's report
    return report


def _target(names: dict[str, Target], code: str, sheets: set[str]) -> Target | None:
    target = names.get(code) or names.get(code.lower())
    return target if target is not None and target.sheet in sheets else None


def _names_agree(book: Book, block: Block, sheets: set[str]) -> bool:
    """Do the block's named cells sit where its labels are? Checks the first and last row (by
    its row label, left of the value) or, for a block without row labels, the first and last
    column (by its header, just above). A block without names agrees trivially."""
    names = book.names
    if any(h.path for h in block.rows):
        labelled = [i for i, h in enumerate(block.rows) if h.path]
        for i in {labelled[0], labelled[-1]}:
            target = _target(names, block.cell_at(i, 0).code, sheets)
            if target is None:
                continue
            grid = book.grid(target.sheet)
            left = grid[target.row][: target.col] if target.row < len(grid) else []
            if not _has_label(left, block.rows[i]):
                return False
        return True
    for j in {0, len(block.columns) - 1}:
        target = _target(names, block.cell_at(0, j).code, sheets)
        if target is None:
            continue
        grid = book.grid(target.sheet)
        top = max(target.row - block.header_depth - 1, 0)
        above = [
            grid[r][target.col]
            for r in range(top, min(target.row, len(grid)))
            if target.col < len(grid[r])
        ]
        if not _has_label(above, block.columns[j]):
            return False
    return True


def _has_label(values: list[Any], header: Header) -> bool:
    keys = {label_key(header.label), *(label_key(a.label) for a in header.aliases)}
    return any(isinstance(v, str) and v and label_key(v) in keys for v in values)


def _missing_notes(form: Form, missing: list[str]) -> list[LabelNote]:
    """One note per block with cells not found, naming its caption or section."""
    by_block: dict[tuple[int, int], list[str]] = defaultdict(list)
    for code in missing:
        cell = form.cell(code)
        by_block[(cell.section, cell.block)].append(code)
    notes = []
    for (section, block_index), codes in by_block.items():
        block = form.section(section).blocks[block_index]
        where = block.caption or form.section(section).heading
        labels = "、".join(dict.fromkeys(form.cell(c).label for c in codes[:3]))
        more = f"等{len(codes)}个单元格" if len(codes) > 3 else ""
        notes.append(
            LabelNote(
                tuple(codes),
                "",
                f"未找到“{where}”中{labels}{more}（表头或行名缺失或无法识别），这些单元格未读取",
            )
        )
    return notes


def _read_narratives(book: Book, form: Form, report: Report, index: LabelIndex | None) -> None:
    for code in form.narrative_codes:
        target = book.names.get(code.lower())
        if target is not None and target.sheet in book.sheet_names:
            text = book.text(target)
            if text and text.strip():
                report.narrative[code] = text.strip()
            continue
        if index is None:
            index = LabelIndex(book)
        found = _narrative_by_heading(index, form, code)
        if found:
            report.narrative[code] = found[0]
