"""A report as read: canonical values with their raw text, where they came from, what was assumed.

Every reader (workbook, published text) produces a :class:`Report`; the validator, the merger and
the store consume it. Values are :class:`~decimal.Decimal` (exact money, integral counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from annual_report.form.model import Form
from annual_report.form.numbers import Parsed, parse_number


@dataclass
class Entry:
    """One cell: raw text as found, its value for the rules, and where it was read."""

    code: str
    raw: str | None
    value: Decimal | None
    notes: tuple[str, ...] = ()
    problem: str | None = None
    cell: str | None = None  # "'三、收到和处理政府信息公开申请情况'!D5", or "第12行" for text


@dataclass(frozen=True)
class LabelNote:
    """A header matched through an alias (A1) or not understood at all."""

    codes: tuple[str, ...]
    found: str
    message: str  # Chinese
    cells: tuple[str, ...] = ()


@dataclass
class Report:
    """What one submission says, in canonical codes."""

    form: Form
    year: int | None = None
    department: str | None = None  # registry code, from the metadata sheet when present
    campaign: str | None = None
    token: str | None = None
    declared_form: str | None = None  # form id the file claims (metadata) or shows (headers)
    # a dict; read-only :class:`SharedEntries` for reports read back through an :class:`EntryPool`
    entries: MutableMapping[str, Entry] = field(default_factory=dict)
    narrative: dict[str, str] = field(default_factory=dict)
    label_notes: list[LabelNote] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what a truncated source did not have
    source: str | None = None  # file path or description
    method: str | None = None  # "defined-names", "labels", "text"
    # an office's consolidated report (workbook.breakdown.OfficeReport): who it is, its units
    office: Any = None

    def value(self, code: str) -> Decimal | None:
        entry = self.entries.get(code)
        return entry.value if entry else None

    def set_raw(self, code: str, raw: str | None, cell: str | None = None) -> Entry:
        """Record a cell's raw text, parsed by the form's type for that cell."""
        spec = self.form.cell(code)
        parsed: Parsed = parse_number(raw, spec.type, spec.unit)
        entry = Entry(code, raw, parsed.value, parsed.notes, parsed.problem, cell)
        self.entries[code] = entry
        return entry

    def values(self) -> dict[str, Decimal | None]:
        """Every cell of the form, ``None`` where the source had nothing at all."""
        return {code: self.value(code) for code in self.form.cells}

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``nianbao validate --json`` (without issues)."""
        return {
            "form": self.form.id,
            "year": self.year,
            "department": self.department,
            "values": {
                code: json_number(self.value(code), self.form.cells[code].type)
                for code in self.form.cells
            },
            "raw": {code: e.raw for code, e in self.entries.items() if e.raw is not None},
            "narrative": dict(self.narrative),
            "missing": list(self.missing),
        }


class SharedEntries(MutableMapping[str, Entry]):
    """A report's entries, read-only: one tuple over a key order shared with the other reports
    of an :class:`EntryPool` (~8 bytes an entry instead of a dict's ~50 and an object each)."""

    __slots__ = ("_entries", "_index")

    def __init__(self, index: dict[str, int], entries: tuple[Entry, ...]) -> None:
        self._index, self._entries = index, entries

    def __getitem__(self, code: str) -> Entry:
        return self._entries[self._index[code]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, code: object) -> bool:
        return code in self._index

    def __setitem__(self, code: str, entry: Entry) -> None:
        raise TypeError("these entries are shared with other reports: read-only")

    def __delitem__(self, code: str) -> None:
        raise TypeError("these entries are shared with other reports: read-only")

    def __repr__(self) -> str:
        return f"SharedEntries({dict(self)!r})"


def entry_tuple(entries: Mapping[str, Entry]) -> tuple[Mapping[str, int], tuple[Entry, ...]]:
    """``(code → position, the entries in that order)``: for entries read through an
    :class:`EntryPool`, the report's own tuple and the order it shares with the other reports
    (nothing copied); for a dict, both made here."""
    if isinstance(entries, SharedEntries):
        return entries._index, entries._entries
    return {code: i for i, code in enumerate(entries)}, tuple(entries.values())


class EntryPool:
    """Entries shared between the reports read through it: one :class:`Entry` object per
    distinct entry and one key order per distinct order, so that holding many reports at once
    (a consolidation of thousands of units, whose cells mostly repeat a few values) costs a
    tuple each. The entries are shared: a report read this way is read-only."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], Entry] = {}
        self._orders: dict[tuple[str, ...], dict[str, int]] = {}

    def entry(
        self,
        code: str,
        raw: str | None,
        value: Decimal | None,
        notes: tuple[str, ...] = (),
        problem: str | None = None,
        cell: str | None = None,
    ) -> Entry:
        # the value's text: Decimal("1") and Decimal("1.0") are equal, not the same entry
        key = (code, raw, None if value is None else str(value), notes, problem, cell)
        found = self._entries.get(key)
        if found is None:
            found = self._entries[key] = Entry(code, raw, value, notes, problem, cell)
        return found

    def entries(self, entries: Iterable[Entry]) -> SharedEntries:
        """``entries`` (each through :meth:`entry`) as one report's read-only entries."""
        shared = tuple(
            self.entry(e.code, e.raw, e.value, e.notes, e.problem, e.cell) for e in entries
        )
        order = tuple(e.code for e in shared)
        index = self._orders.get(order)
        if index is None:
            index = self._orders[order] = {code: i for i, code in enumerate(order)}
        return SharedEntries(index, shared)


def json_number(value: Decimal | None, cell_type: str) -> int | str | None:
    """Counts as JSON integers; money as an exact decimal string (never a float)."""
    if value is None:
        return None
    if cell_type == "money":
        return format(value.normalize(), "f") if value else "0"
    return int(value)
