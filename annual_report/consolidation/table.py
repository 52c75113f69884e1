"""The included units' values as one table: each unit's entries over the form's cells.

A consolidation of N units holds N × ~200 values. As dictionaries (one per cell over the units,
one per unit over the cells) that is ~25 KB a unit, and the memory of a 5,000-unit
consolidation grew with it. Here a unit costs no more than its report already does: the table
keeps the report's own tuple of entries (read through an :class:`~annual_report.report.
EntryPool`, shared, nothing copied) and, per distinct key order, one layout saying where each
cell of the form is in it. :attr:`Consolidation.breakdown
<annual_report.consolidation.model.Consolidation.breakdown>` and a plain unit's
:attr:`Leaf.values <annual_report.workbook.breakdown.Leaf.values>` are read-only views of it
(:class:`Column`, :class:`Row`), with the keys and values the dictionaries had.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal

from annual_report.report import Entry, Report, entry_tuple

Layout = tuple[int | None, ...]  # per cell of the form: its position in a unit's entries


class ValueTable:
    """Each unit's value of each cell, for ``units`` (code, report) in that order."""

    __slots__ = ("_cells", "_entries", "_extra", "_layouts", "_units")

    def __init__(self, cells: Iterable[str], units: Iterable[tuple[str, Report]]) -> None:
        self._cells: dict[str, int] = {code: i for i, code in enumerate(cells)}
        self._units: dict[str, int] = {}
        self._entries: list[tuple[Entry, ...]] = []
        self._layouts: list[Layout] = []  # one object per key order, shared by its units
        self._extra: dict[str, dict[str, Decimal | None]] = {}  # entries of no cell of the form
        known: dict[int, tuple[Mapping[str, int], Layout]] = {}  # by the order's identity
        for code, report in units:
            index, entries = entry_tuple(report.entries)
            found = known.get(id(index))
            if found is None or found[0] is not index:
                found = known[id(index)] = (index, tuple(index.get(c) for c in self._cells))
            layout = found[1]
            self._units[code] = len(self._entries)
            self._entries.append(entries)
            self._layouts.append(layout)
            if len(index) > len(layout) - layout.count(None):
                extra = {c: entries[i].value for c, i in index.items() if c not in self._cells}
                self._extra[code] = extra

    @property
    def units(self) -> Sequence[str]:
        return tuple(self._units)

    def column(self, cell: str) -> Column:
        """Every unit's value of ``cell`` (None where it has none), by unit code."""
        return Column(self, self._cells[cell])

    def row(self, unit: str) -> Row:
        """The unit's values of the cells its report has, by cell code."""
        at = self._units[unit]
        return Row(self._cells, self._layouts[at], self._entries[at], self._extra.get(unit))

    def _value(self, unit: int, cell: int) -> Decimal | None:
        position = self._layouts[unit][cell]
        return None if position is None else self._entries[unit][position].value


class Column(Mapping[str, Decimal | None]):
    """One cell over the units: ``{unit code: value or None}`` in the table's unit order."""

    __slots__ = ("_at", "_table")

    def __init__(self, table: ValueTable, at: int) -> None:
        self._table, self._at = table, at

    def __getitem__(self, unit: str) -> Decimal | None:
        return self._table._value(self._table._units[unit], self._at)

    def __iter__(self) -> Iterator[str]:
        return iter(self._table._units)

    def __len__(self) -> int:
        return len(self._table._units)

    def __contains__(self, unit: object) -> bool:
        return unit in self._table._units

    def values_in_order(self) -> Iterator[Decimal | None]:
        """The values in the table's unit order (as ``self.values()``, without the lookups)."""
        at = self._at
        for layout, entries in zip(self._table._layouts, self._table._entries, strict=True):
            position = layout[at]
            yield None if position is None else entries[position].value

    def __repr__(self) -> str:
        return f"Column({dict(self)!r})"


class Row(Mapping[str, Decimal | None]):
    """One unit over the cells its report has: ``{cell code: value}`` in the form's order (and
    then any entry of a code the form has not, as the report had it)."""

    __slots__ = ("_cells", "_entries", "_extra", "_layout")

    def __init__(
        self,
        cells: Mapping[str, int],
        layout: Layout,
        entries: tuple[Entry, ...],
        extra: Mapping[str, Decimal | None] | None = None,
    ) -> None:
        self._cells, self._layout, self._entries = cells, layout, entries
        self._extra = extra or {}

    def __getitem__(self, cell: str) -> Decimal | None:
        at = self._cells.get(cell)
        if at is None:
            return self._extra[cell]
        position = self._layout[at]
        if position is None:
            raise KeyError(cell)
        return self._entries[position].value

    def __iter__(self) -> Iterator[str]:
        layout = self._layout
        yield from (cell for cell, at in self._cells.items() if layout[at] is not None)
        yield from self._extra

    def __len__(self) -> int:
        return len(self._layout) - self._layout.count(None) + len(self._extra)

    def __contains__(self, cell: object) -> bool:
        at = self._cells.get(cell)  # type: ignore[call-overload]
        return self._layout[at] is not None if at is not None else cell in self._extra

    def __repr__(self) -> str:
        return f"Row({dict(self)!r})"
