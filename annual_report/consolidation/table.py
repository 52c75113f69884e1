"""The included units' values as one table: a row of values per unit over the form's cells.

A consolidation of N units holds N × ~200 values. As dictionaries (one per cell over the units,
one per unit over the cells) that is ~25 KB a unit, and the memory of a 5,000-unit
consolidation grew with it; here each unit is one tuple (8 bytes a value, the values
themselves shared with the reports they came from), and :attr:`Consolidation.breakdown
<annual_report.consolidation.model.Consolidation.breakdown>` and a plain unit's
:attr:`Leaf.values <annual_report.workbook.breakdown.Leaf.values>` are read-only views of it
(:class:`Column`, :class:`Row`), with the keys and values the dictionaries had.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal

from annual_report.report import Report


class _Absent:
    """A cell the unit's report has no entry for (not even an empty one); one object, also
    after a table is copied or pickled."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "_ABSENT"

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


class ValueTable:
    """Each unit's value of each cell, for ``units`` (code, report) in that order."""

    __slots__ = ("_cells", "_extra", "_rows", "_units")

    def __init__(self, cells: Iterable[str], units: Iterable[tuple[str, Report]]) -> None:
        self._cells: dict[str, int] = {code: i for i, code in enumerate(cells)}
        self._units: dict[str, int] = {}
        self._rows: list[tuple[object, ...]] = []
        self._extra: dict[str, dict[str, Decimal | None]] = {}  # entries of no cell of the form
        for code, report in units:
            entries = report.entries
            row = []
            for cell in self._cells:
                entry = entries.get(cell)
                row.append(_ABSENT if entry is None else entry.value)
            self._units[code] = len(self._rows)
            self._rows.append(tuple(row))
            if len(entries) > len(row) - row.count(_ABSENT):
                extra = {c: e.value for c, e in entries.items() if c not in self._cells}
                self._extra[code] = extra

    @property
    def units(self) -> Sequence[str]:
        return tuple(self._units)

    def column(self, cell: str) -> Column:
        """Every unit's value of ``cell`` (None where it has none), by unit code."""
        return Column(self, self._cells[cell])

    def row(self, unit: str) -> Row:
        """The unit's values of the cells its report has, by cell code."""
        return Row(self._cells, self._rows[self._units[unit]], self._extra.get(unit))


class Column(Mapping[str, Decimal | None]):
    """One cell over the units: ``{unit code: value or None}`` in the table's unit order."""

    __slots__ = ("_at", "_table")

    def __init__(self, table: ValueTable, at: int) -> None:
        self._table, self._at = table, at

    def __getitem__(self, unit: str) -> Decimal | None:
        value = self._table._rows[self._table._units[unit]][self._at]
        return None if value is _ABSENT else value  # type: ignore[return-value]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table._units)

    def __len__(self) -> int:
        return len(self._table._units)

    def __contains__(self, unit: object) -> bool:
        return unit in self._table._units

    def values_in_order(self) -> Iterator[Decimal | None]:
        """The values in the table's unit order (as ``self.values()``, without the lookups)."""
        at = self._at
        for row in self._table._rows:
            value = row[at]
            yield None if value is _ABSENT else value  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Column({dict(self)!r})"


class Row(Mapping[str, Decimal | None]):
    """One unit over the cells its report has: ``{cell code: value}`` in the form's order (and
    then any entry of a code the form has not, as the report had it)."""

    __slots__ = ("_cells", "_extra", "_row")

    def __init__(
        self,
        cells: Mapping[str, int],
        row: tuple[object, ...],
        extra: Mapping[str, Decimal | None] | None = None,
    ) -> None:
        self._cells, self._row, self._extra = cells, row, extra or {}

    def __getitem__(self, cell: str) -> Decimal | None:
        at = self._cells.get(cell)
        if at is None:
            return self._extra[cell]
        value = self._row[at]
        if value is _ABSENT:
            raise KeyError(cell)
        return value  # type: ignore[return-value]

    def __iter__(self) -> Iterator[str]:
        row = self._row
        yield from (cell for cell, at in self._cells.items() if row[at] is not _ABSENT)
        yield from self._extra

    def __len__(self) -> int:
        return len(self._row) - self._row.count(_ABSENT) + len(self._extra)

    def __contains__(self, cell: object) -> bool:
        at = self._cells.get(cell)  # type: ignore[call-overload]
        return self._row[at] is not _ABSENT if at is not None else cell in self._extra

    def __repr__(self) -> str:
        return f"Row({dict(self)!r})"
