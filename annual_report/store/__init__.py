"""The state database: the interface the rest of the code uses, its records, and how to open one.

- :mod:`~annual_report.store.base` — :class:`Store`, the interface (type against this)
- :mod:`~annual_report.store.records` — what it holds: Campaign, Submission, Event, Message, …
- :mod:`~annual_report.store.rows` — the one mapping between records and table rows
- :mod:`~annual_report.store.sqlite` — the implementation on one SQLite file
- :mod:`~annual_report.store.migrations` — the SQLite schema, as registered migrations

Open a store with :func:`open_store`; code that receives one types it as :class:`Store`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING


def _import_sqlite_utils() -> None:
    """Import sqlite-utils without pandas.

    sqlite-utils imports pandas whenever it is installed (it is: the history frames use it),
    only to give ``pandas.Timestamp`` columns a type; this store never writes one. With pandas
    3 and pyarrow that costs every process ~0.4 s and ~70 MB before any work, an idle collect
    round included. So pandas is hidden while sqlite-utils is first imported (it then sets its
    ``pd`` to None, as when pandas is absent) and is importable as usual right after. Once
    pandas is loaded, nothing is hidden.
    """
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]  # makes `import pandas` fail
    try:
        import sqlite_utils.db  # noqa: F401
    finally:
        del sys.modules["pandas"]


_import_sqlite_utils()

if TYPE_CHECKING:
    from annual_report.store.base import Store


def open_store(
    location: str | Path,
    *,
    clock: Callable[[], datetime] | None = None,
    timeout: float = 30.0,
) -> Store:
    """The office's store at ``location`` (a SQLite file, created and migrated on open).

    ``clock`` stands for the current time (a replay's moment); ``timeout`` is how long a
    write waits for another writer. Another database would be chosen here by its URL.
    """
    from annual_report.store.sqlite import SQLiteStore  # sqlite-utils only when opened

    return SQLiteStore(location, clock=clock, timeout=timeout)


__all__ = ["open_store"]
