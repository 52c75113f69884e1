"""One mapping between records and table rows, both ways, for every record the store keeps.

A record's field is the column of the same name; its type picks the converter:

- ``datetime`` ↔ UTC ISO 8601 text to the second, so text order is time order
- ``date`` ↔ ISO text; ``Decimal`` ↔ exact decimal text (never a float, never exponent notation)
- ``bool`` ↔ 0/1; ``dict``, ``list``, ``tuple`` ↔ JSON text (sorted keys, Chinese kept as is)
- a nested record (``Department.contact``) ↔ its own fields as columns prefixed with the
  field's name (``contact_name``, ``contact_phone``); all of them NULL when it is absent
- ``str``, ``int`` and everything else as they are.

Records are frozen dataclasses (:mod:`annual_report.store.records`) or pydantic models (the
registry's ``Department``). A dataclass field declared with :func:`transient` is not a column:
the store sets it on the way out (``Submission.new``). Columns a row has and a record lacks are
ignored; fields a row lacks keep their defaults.

Nothing here knows a database: the text forms are what the SQLite schema stores, and what a
store with the same schema on another database would store.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar, get_args, get_origin

R = TypeVar("R")

_COLUMN = "nianbao.column"


def transient(default: Any) -> Any:
    """A dataclass field that is not a column (``new: bool = transient(False)``)."""
    return dataclasses.field(default=default, metadata={_COLUMN: False})


def timestamp_text(value: datetime) -> str:
    """Timestamps are stored in UTC ISO 8601 so that text order is time order (naive = UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def decimal_text(value: Decimal | None) -> str | None:
    """Exact text of a value (never exponent notation, trailing zeros kept)."""
    return None if value is None else format(value, "f")


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _moment(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


Converter = tuple[Callable[[Any], Any], Callable[[Any], Any]]  # (to the column, from it)

CONVERTERS: dict[type, Converter] = {
    datetime: (timestamp_text, _moment),
    date: (date.isoformat, _day),
    Decimal: (decimal_text, Decimal),
    bool: (int, bool),
    dict: (json_text, json.loads),
    list: (json_text, json.loads),
    tuple: (
        lambda v: json_text(list(v)),
        lambda text: tuple(json.loads(text)) if text != "[]" else (),
    ),
}


@dataclass(frozen=True)
class _Column:
    name: str
    encode: Callable[[Any], Any] | None
    decode: Callable[[Any], Any] | None
    nested: type | None = None  # a record stored as prefixed columns


def _base_type(hint: Any) -> Any:
    """``X | None`` → X, ``tuple[str, ...]`` → tuple, ``Literal["a"]`` → str."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else object
    if origin is Literal:
        return type(get_args(hint)[0])
    return origin or hint


def _is_record(cls: Any) -> bool:
    return isinstance(cls, type) and (dataclasses.is_dataclass(cls) or hasattr(cls, "model_fields"))


_PLANS: dict[type, tuple[_Column, ...]] = {}
_READERS: dict[tuple[type, str], Callable[[Mapping[str, Any]], dict[str, Any]]] = {}


def _plan(cls: type) -> tuple[_Column, ...]:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _make_plan(cls)
    return plan


def _make_plan(cls: type) -> tuple[_Column, ...]:
    hints = typing.get_type_hints(cls)
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls) if f.metadata.get(_COLUMN, True)]
    else:
        names = list(cls.model_fields)  # type: ignore[attr-defined]
    plan: list[_Column] = []
    for name in names:
        base = _base_type(hints[name])
        if _is_record(base):
            plan.append(_Column(name, None, None, nested=base))
            continue
        encode, decode = CONVERTERS.get(base, (None, None))
        plan.append(_Column(name, encode, decode))
    return tuple(plan)


def columns(cls: type) -> list[str]:
    """The columns of record type ``cls``, in field order (nested records flattened)."""
    out = []
    for col in _plan(cls):
        if col.nested is not None:
            out += [f"{col.name}_{sub}" for sub in columns(col.nested)]
        else:
            out.append(col.name)
    return out


def to_row(record: Any) -> dict[str, Any]:
    """The record as a row: column name → stored value."""
    row: dict[str, Any] = {}
    for col in _plan(type(record)):
        value = getattr(record, col.name)
        if col.nested is not None:
            if value is None:
                row.update(dict.fromkeys((f"{col.name}_{c}" for c in columns(col.nested)), None))
            else:
                row.update({f"{col.name}_{k}": v for k, v in to_row(value).items()})
        elif value is None or col.encode is None:
            row[col.name] = value
        else:
            row[col.name] = col.encode(value)
    return row


def _reader(cls: type, prefix: str = "") -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A function from a row to ``cls``'s keyword arguments, its keys and converters worked
    out once per class (stores read records by the hundred thousand)."""
    read = _READERS.get((cls, prefix))
    if read is None:
        read = _READERS[(cls, prefix)] = _make_reader(cls, prefix)
    return read


def _make_reader(cls: type, prefix: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    flat = tuple(
        (col.name, prefix + col.name, col.decode) for col in _plan(cls) if col.nested is None
    )
    nested = tuple(
        (col.name, col.nested, _reader(col.nested, f"{prefix}{col.name}_"))
        for col in _plan(cls)
        if col.nested is not None
    )

    def read(row: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, key, decode in flat:
            if key in row:
                value = row[key]
                out[name] = value if value is None or decode is None else decode(value)
        for name, kind, inner in nested:
            fields = inner(row)
            out[name] = kind(**fields) if any(v is not None for v in fields.values()) else None
        return out

    return read


def from_row(cls: type[R], row: Mapping[str, Any], **extra: Any) -> R:
    """A record of type ``cls`` from a row (``extra``: its transient fields)."""
    return cls(**_reader(cls)(row), **extra)


__all__ = [
    "CONVERTERS",
    "columns",
    "decimal_text",
    "from_row",
    "json_text",
    "timestamp_text",
    "to_row",
    "transient",
]
