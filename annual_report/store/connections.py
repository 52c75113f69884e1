"""The SQLite store's connections: one per thread, and the transactions on them.

A sqlite3 connection must not be shared by threads mid-transaction, and Prefect runs tasks in
worker threads: each thread gets its own connection (a sqlite-utils ``Database``) on first
use, and the connections of threads that are gone are closed as new ones open. A write is one
``BEGIN IMMEDIATE`` transaction, which takes the write lock at its start and so serialises
writers across threads and processes without upgrade deadlocks (sqlite-utils' ``atomic()``
begins a deferred one). SQLite's errors become :class:`~annual_report.errors.StoreError` here:
nothing above the store sees the driver.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from annual_report.errors import StoreError


class Connections:
    """The connections to the database file at ``path`` (``timeout``: how long a write waits
    for another writer's lock)."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[tuple[weakref.ref[threading.Thread], Database]] = []
        self._closed = False

    def database(self) -> Database:
        """This thread's connection (opened on first use)."""
        if self._closed:
            raise StoreError("the state database is closed", path=str(self.path))
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = self._connect()
            except sqlite3.Error as exc:
                msg = f"cannot open the state database: {exc}"
                raise StoreError(msg, path=str(self.path)) from exc
            self._local.db = db
        return db

    def _connect(self) -> Database:
        conn = sqlite3.connect(self.path, timeout=self.timeout, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, much faster commits
        db = Database(conn, execute_plugins=False)
        with self._lock:
            # close connections of threads that are gone (Prefect's pool threads come and go)
            alive = []
            for ref, other in self._open:
                thread = ref()
                if thread is None or not thread.is_alive():
                    other.close()
                else:
                    alive.append((ref, other))
            alive.append((weakref.ref(threading.current_thread()), db))
            self._open = alive
        return db

    def __len__(self) -> int:
        """How many connections are open."""
        return len(self._open)

    def close(self) -> None:
        """Close every connection (from any thread); any use afterwards is a StoreError."""
        with self._lock:
            self._closed = True
            for _, db in self._open:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            self._open = []

    @contextlib.contextmanager
    def write(self) -> Iterator[Database]:
        """One write transaction (nested: a savepoint inside the enclosing one)."""
        db = self.database()
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        try:
            db.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"database is busy: {exc}", path=str(self.path)) from exc
        try:
            yield db
        except sqlite3.Error as exc:
            db.conn.execute("ROLLBACK")
            raise StoreError(f"database write failed: {exc}", path=str(self.path)) from exc
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        else:
            db.conn.execute("COMMIT")

    @contextlib.contextmanager
    def reading(self) -> Iterator[Database]:
        """This thread's connection for reads (a file that is not nianbao's, a disk error: a
        StoreError)."""
        db = self.database()
        try:
            yield db
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}", path=str(self.path)) from exc


__all__ = ["Connections"]
