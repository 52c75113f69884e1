"""The store in one SQLite file: the implementation of :class:`~annual_report.store.base.Store`.

WAL mode; one connection per thread (:mod:`~annual_report.store.connections`). Writes that
must not be split (a submission with its values, issues and version number) run in one
``BEGIN IMMEDIATE`` transaction, which also serialises writers across threads and processes.

**sqlite-utils, not plain DB-API.** The stack names sqlite-utils for state, and it is good at
exactly what a store needs: rows as dicts (what the record mapping of :mod:`~annual_report.
store.rows` reads and writes), inserts and upserts on natural keys, ``last_pk`` instead of
``lastrowid``, registered migrations (:mod:`~annual_report.store.migrations`). So every row
goes in and out through it: ``Table.insert``/``insert_all``/``upsert``/``upsert_all``/
``update``/``delete_where`` for writes, ``rows_where`` for reads of one table, and
``Database.query`` only for the reads a table call cannot say (joins, windows, aggregates).
Below it stay two things it does not offer: the connection's PRAGMAs and ``BEGIN IMMEDIATE``
(its ``atomic()`` begins a deferred transaction, which under WAL lets two writers deadlock on
the lock upgrade).

SQLite-only constructs (``rowid`` order, ``STRICT``, ``json_extract``, the query-plan hints
of :data:`UNIT_SQL`) live in this module and the migrations, nowhere else.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError, Table

from annual_report.campaign.registry import Department, Registry
from annual_report.errors import StoreError, WorkbookError
from annual_report.store import base
from annual_report.store.base import (
    campaign_form,
    campaign_secret,
    content_hash,
    issue_records,
    new_submission,
    status_of,
)
from annual_report.store.connections import Connections
from annual_report.store.migrations import migrations
from annual_report.store.records import (
    ACCEPTED,
    SUPERSEDABLE,
    UNASSIGNED,
    Campaign,
    Event,
    EventStatus,
    Message,
    Step,
    StoredIssue,
    StoredValue,
    Submission,
    SubmissionStatus,
)
from annual_report.store.rows import decimal_text, from_row, json_text, timestamp_text, to_row
from annual_report.workbook.breakdown import Leaf, unit_identity

if TYPE_CHECKING:
    from annual_report.campaign.matching import Match
    from annual_report.validation import Validation

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (…): well under SQLite's parameter limit

# The few campaigns first (CROSS JOIN keeps that order), then each campaign's submissions of the
# unit through the (campaign, department, version) index; ``+s.status`` keeps SQLite from
# scanning every accepted submission of the campaign through the status index instead.
UNIT_SQL = """
WITH ranked AS (
    SELECT s.id, s.form_id, c.report_year,
           ROW_NUMBER() OVER (
               PARTITION BY c.report_year ORDER BY s.received_at DESC, s.id DESC
           ) AS rank
    FROM campaigns c CROSS JOIN submissions s
    WHERE s.campaign = c.id AND s.department = ?
      AND c.report_year BETWEEN ? AND ? AND +s.status IN ({marks})
)
SELECT r.report_year, r.form_id, v.code, v.value
FROM ranked r JOIN submission_values v ON v.submission_id = r.id
WHERE r.rank = 1 AND v.value IS NOT NULL AND v.code NOT LIKE 'narrative.%'
ORDER BY r.report_year, v.rowid
"""

# Each department's latest accepted submission per report year, across that year's campaigns.
_BY_YEAR_SQL = """
WITH ranked AS (
    SELECT s.*, c.report_year AS campaign_year,
           ROW_NUMBER() OVER (
               PARTITION BY c.report_year, s.department
               ORDER BY s.received_at DESC, s.id DESC
           ) AS rank
    FROM submissions s JOIN campaigns c ON c.id = s.campaign
    WHERE s.department IS NOT NULL AND s.status IN ({marks}){years}
)
SELECT * FROM ranked WHERE rank = 1 ORDER BY campaign_year, department
"""


# The middle one or two of the fee cells of each department's accepted submission (its
# highest accepted version), with how many there are: the peers' median in one query.
_MEDIAN_SQL = """
WITH latest AS (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY department ORDER BY version DESC) AS rank
    FROM submissions
    WHERE campaign = ? AND department IS NOT NULL AND department != ?
      AND status IN ({accepted})
), fees AS (
    SELECT v.value FROM latest l JOIN submission_values v ON v.submission_id = l.id
    WHERE l.rank = 1 AND v.code IN ({codes}) AND v.value IS NOT NULL
), counted AS (SELECT count(*) AS n FROM fees)
SELECT counted.n, f.value FROM fees f, counted
ORDER BY CAST(f.value AS REAL), f.value
LIMIT 2 - (SELECT n FROM counted) % 2 OFFSET ((SELECT n FROM counted) - 1) / 2
"""


def _marks(items: Sequence[Any]) -> str:
    return ", ".join("?" * len(items))


def _open(path: Path, timeout: float, clock: Callable[[], datetime] | None) -> SQLiteStore:
    return SQLiteStore(path, timeout=timeout, clock=clock)


class SQLiteStore(base.Store):
    """The state database at ``path`` (created and migrated on open)."""

    def __init__(
        self,
        path: str | Path,
        *,
        timeout: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.path = Path(path)
        self._pool = Connections(self.path, timeout)
        self._generations = itertools.count(1)  # this store's writes, begun and ended
        self._generation = 0
        self._held: dict[tuple[str, str], tuple[tuple[int, int, int], Any]] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self.db
            db.enable_wal()
            self._migrate(db)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(f"cannot open the state database: {exc}", path=str(self.path)) from exc

    @property
    def db(self) -> Database:
        """This thread's sqlite-utils ``Database`` (opened on first use)."""
        return self._pool.database()

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        self._pool.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # Prefect hashes and may pickle task arguments: a store travels as what reopens it.
        return (_open, (self.path, self._pool.timeout, self._clock))

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    @contextlib.contextmanager
    def _write(self) -> Iterator[Database]:
        self._generation = next(self._generations)  # what was read before may change
        self._held.clear()  # … so it is not kept either (5,000 submissions: ~13 MB)
        try:
            with self._pool.write() as db:
                yield db
        finally:
            self._generation = next(self._generations)

    def _unchanged(self, key: tuple[str, str], read: Callable[[], Any]) -> Any:
        """``read()``, or what it gave last time when the database has not changed since: no
        write through this store (any thread) and none committed by another connection or
        process (SQLite's ``data_version`` of this thread's connection). A round reads the
        campaign's submissions for the states, the answers and the progress days: once.
        Only immutable records are held (they are shared by the callers)."""
        token = self._read_token()
        if token is None:  # inside a write: its own changes, not committed yet
            return read()
        held = self._held.get(key)
        if held is not None and held[0] == token:
            return held[1]
        value = read()  # a change committed meanwhile moves data_version: read again next time
        self._held[key] = (token, value)
        return value

    def _current(self, key: tuple[str, str]) -> Any:
        """What :meth:`_unchanged` holds for ``key`` if it is still current, else None."""
        held = self._held.get(key)
        return held[1] if held is not None and held[0] == self._read_token() else None

    def _read_token(self) -> tuple[int, int, int] | None:
        with self._pool.reading() as db:
            if db.conn.in_transaction:
                return None
            version = db.conn.execute("PRAGMA data_version").fetchone()[0]
        return (self._generation, version, threading.get_ident())

    def _rows(
        self,
        table: str,
        where: str | None,
        args: Sequence[Any] = (),
        *,
        order_by: str | None = None,
        select: str = "*",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        return list(self._each(table, where, args, order_by=order_by, select=select, limit=limit))

    def _each(
        self,
        table: str,
        where: str | None,
        args: Sequence[Any] = (),
        *,
        order_by: str | None = None,
        select: str = "*",
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The rows one at a time (thousands of wide rows are not held as a list beside the
        records made of them); consume it at once, in the thread that asked."""
        with self._pool.reading() as db:
            yield from db.table(table).rows_where(
                where, list(args), order_by=order_by, select=select, limit=limit
            )

    def _one(self, table: str, where: str, args: Sequence[Any] = (), **kw: Any) -> dict | None:
        rows = self._rows(table, where, args, limit=1, **kw)
        return rows[0] if rows else None

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._pool.reading() as db:
            return list(db.query(sql, list(args)))

    def _at(self, at: datetime | None) -> datetime:
        return at if at is not None else self._clock()

    # -- schema ---------------------------------------------------------------------------

    def _migrate(self, db: Database) -> None:
        db.conn.execute("BEGIN IMMEDIATE")  # two processes opening a new file migrate once
        try:
            known = set(migrations.names)
            unknown = [m.name for m in migrations.applied(db) if m.name not in known]
            if unknown:
                raise StoreError(
                    "the state database was written by a newer nianbao",
                    path=str(self.path),
                    migrations=", ".join(unknown),
                )
            pending = [m.name for m in migrations.pending(db)]
            migrations.apply(db)
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        db.conn.execute("COMMIT")
        if pending:
            log.info("migrated %s: %s", self.path, ", ".join(pending))

    def applied_migrations(self) -> list[str]:
        with self._pool.reading() as db:
            return [m.name for m in migrations.applied(db)]

    # -- campaigns ------------------------------------------------------------------------

    def create_campaign(
        self,
        campaign_id: str,
        report_year: int,
        *,
        deadline: date | None = None,
        form_id: str | None = None,
        city: str | None = None,
        registry: Registry | None = None,
        at: datetime | None = None,
    ) -> Campaign:
        form_id = campaign_form(report_year, form_id)
        with self._write() as db:
            found = self._one("campaigns", "id = ?", [campaign_id])
            if found is None:
                campaign = Campaign(
                    id=campaign_id,
                    report_year=report_year,
                    form_id=form_id,
                    deadline=deadline,
                    secret=campaign_secret(),
                    city=city or (registry.city if registry else None),
                    created_at=self._at(at),
                    status="open",
                )
                db.table("campaigns").insert(to_row(campaign))
                log.info("created campaign %s (report year %s)", campaign_id, report_year)
            else:
                existing = from_row(Campaign, found)
                if existing.report_year != report_year or existing.form_id != form_id:
                    raise StoreError(
                        "campaign exists with another report year or form",
                        campaign=campaign_id,
                        existing=f"{existing.report_year}/{existing.form_id}",
                        requested=f"{report_year}/{form_id}",
                    )
                changed = replace(
                    existing, deadline=deadline or existing.deadline, city=city or existing.city
                )
                self._update(db.table("campaigns"), campaign_id, existing, changed)
            if registry is not None:
                self.snapshot_departments(campaign_id, registry)
        return self.campaign(campaign_id)

    @staticmethod
    def _update(table: Table, pk: Any, before: Any, after: Any) -> None:
        """Write the columns of record ``after`` that differ from ``before``."""
        old, new = to_row(before), to_row(after)
        changes = {k: v for k, v in new.items() if old.get(k) != v}
        if changes:
            table.update(pk, changes)

    def campaign(self, campaign_id: str) -> Campaign:
        row = self._one("campaigns", "id = ?", [campaign_id])
        if row is None:
            raise StoreError("no such campaign", campaign=campaign_id)
        return from_row(Campaign, row)

    def campaigns(self) -> list[Campaign]:
        return [from_row(Campaign, r) for r in self._rows("campaigns", None, order_by="id")]

    def set_campaign_status(self, campaign_id: str, status: str) -> None:
        with self._write() as db:
            try:
                db.table("campaigns").update(campaign_id, {"status": status})
            except NotFoundError:
                raise StoreError("no such campaign", campaign=campaign_id) from None

    # -- departments ----------------------------------------------------------------------

    def snapshot_departments(self, campaign_id: str, registry: Registry) -> None:
        rows = [{"campaign": campaign_id, **to_row(d), "active": 1} for d in registry]
        listed = {row["code"] for row in rows}
        stamp = self.snapshot_stamp(campaign_id)  # before the rows: a change since is seen
        if self._snapshot_unchanged(campaign_id, rows):
            if stamp is not None:  # the snapshot holds these units: no need to read them back
                self._know_registry(campaign_id, stamp, registry)
            return  # every run opens the campaign: the same registry writes nothing
        with self._write() as db:
            table = db.table("departments")
            for row in self._rows("departments", "campaign = ? AND active = 1", [campaign_id]):
                if row["code"] not in listed:
                    table.update((campaign_id, row["code"]), {"active": 0})
            table.upsert_all(rows, pk=("campaign", "code"))
            # the content hash of the snapshot as stored (inactive units too): the same
            # registry again leaves it as it was, any change gives a new one
            stored = self._rows("departments", "campaign = ?", [campaign_id], order_by="rowid")
            stamp = content_hash(json_text(stored).encode())[:16]
            db.table("campaigns").update(campaign_id, {"snapshot": stamp})

    def _snapshot_unchanged(self, campaign_id: str, rows: list[dict[str, Any]]) -> bool:
        """Whether the snapshot holds exactly ``rows``, in their order, all active, and its
        stamp is set."""
        if self.snapshot_stamp(campaign_id) is None:
            return False
        stored = self._rows("departments", "campaign = ?", [campaign_id], order_by="rowid")
        active = [r for r in stored if r["active"]]
        if len(active) != len(rows):
            return False
        return all(
            old.get(k) == v for old, row in zip(active, rows, strict=True) for k, v in row.items()
        )

    def departments(self, campaign_id: str, *, active_only: bool = True) -> list[Department]:
        where = "campaign = ?" + (" AND active = 1" if active_only else "")
        rows = self._rows("departments", where, [campaign_id], order_by="rowid")
        return [from_row(Department, r) for r in rows]

    def snapshot_stamp(self, campaign_id: str) -> str | None:
        row = self._one("campaigns", "id = ?", [campaign_id], select="snapshot, city")
        if row is None or row["snapshot"] is None:
            return None
        return f"{row['snapshot']}:{row['city']}"

    def _known(self, campaign_id: str, code: str) -> bool:
        where = "campaign = ? AND code = ?"
        return self._one("departments", where, [campaign_id, code], select="code") is not None

    # -- submissions ----------------------------------------------------------------------

    def record_submission(
        self,
        campaign_id: str,
        *,
        sha256: str,
        source: str,
        department: str | None = None,
        validation: Validation | None = None,
        failure: WorkbookError | str | None = None,
        status: SubmissionStatus | None = None,
        file_name: str | None = None,
        archived_path: str | Path | None = None,
        received_at: datetime | None = None,
        message_id: str | None = None,
        sender: str | None = None,
        explanation: str | None = None,
        match: Match | None = None,
        sender_notice_zh: str | None = None,
    ) -> Submission:
        new = new_submission(
            campaign_id,
            sha256=sha256,
            source=source,
            department=department,
            validation=validation,
            failure=failure,
            status=status,
            file_name=file_name,
            archived_path=archived_path,
            received_at=self._at(received_at),
            message_id=message_id,
            sender=sender,
            explanation=explanation,
            match=match,
            sender_notice_zh=sender_notice_zh,
        )
        with self._write() as db:
            found = self.submission_by_hash(campaign_id, sha256)
            if found is not None:
                log.info("submission %s already recorded (sha256 %s)", found.id, sha256[:12])
                return found
            version = None
            if department is not None:
                if not self._known(campaign_id, department):
                    raise StoreError(
                        "department is not in the campaign", campaign=campaign_id, code=department
                    )
                version = self._next_version(campaign_id, department)
            row = to_row(replace(new.submission, version=version))
            del row["id"]  # the store's to assign
            table = db.table("submissions").insert(row)
            submission_id = table.last_pk
            assert isinstance(submission_id, int)
            self._insert_values(db, submission_id, new.values)
            self._insert_issues(db, submission_id, new.issues)
            if version is not None:
                self._supersede(db, campaign_id, department, version)  # type: ignore[arg-type]
            recorded = self.submission(submission_id)
        log.info(
            "recorded submission %s: campaign %s department %s v%s %s",
            submission_id,
            campaign_id,
            department,
            version,
            recorded.status,
        )
        return replace(recorded, new=True)

    def _next_version(self, campaign_id: str, department: str) -> int:
        where = "campaign = ? AND department = ?"
        row = self._one("submissions", where, [campaign_id, department], select="max(version) AS v")
        return int(row["v"] or 0) + 1 if row else 1

    def _supersede(self, db: Database, campaign_id: str, department: str, version: int) -> None:
        table = db.table("submissions")
        where = (
            "campaign = ? AND department = ? AND version < ? "
            f"AND status IN ({_marks(SUPERSEDABLE)})"
        )
        for row in self._rows(
            "submissions", where, [campaign_id, department, version, *SUPERSEDABLE], select="id"
        ):
            table.update(row["id"], {"status": "superseded"})

    def _insert_values(self, db: Database, submission_id: int, values: list[StoredValue]) -> None:
        rows = [{**to_row(v), "submission_id": submission_id} for v in values]
        if rows:
            db.table("submission_values").insert_all(rows)

    def _insert_issues(self, db: Database, submission_id: int, issues: list[StoredIssue]) -> None:
        rows = [{**to_row(i), "submission_id": submission_id} for i in issues]
        if rows:
            db.table("submission_issues").insert_all(rows)

    def assign_department(
        self,
        submission_id: int,
        department: str,
        *,
        status: SubmissionStatus | None = None,
        validation: Validation | None = None,
    ) -> Submission:
        if status is None and validation is not None:
            status = status_of(validation)
        with self._write() as db:
            sub = self.submission(submission_id)
            if sub.department == department:
                return sub
            if sub.department is not None:
                raise StoreError(
                    "submission already belongs to another department",
                    submission=submission_id,
                    department=sub.department,
                )
            if not self._known(sub.campaign, department):
                raise StoreError(
                    "department is not in the campaign", campaign=sub.campaign, code=department
                )
            version = self._next_version(sub.campaign, department)
            assigned = replace(
                sub, department=department, version=version, status=status or sub.status
            )
            if validation is not None:
                assigned = replace(
                    assigned,
                    error_count=len(validation.errors),
                    warning_count=len(validation.warnings),
                )
                db.table("submission_issues").delete_where("submission_id = ?", [submission_id])
                self._insert_issues(db, submission_id, issue_records(submission_id, validation))
            self._update(db.table("submissions"), submission_id, sub, assigned)
            self._supersede(db, sub.campaign, department, version)
        return self.submission(submission_id)

    def decide(
        self,
        submission_id: int,
        status: Literal["accepted", "rejected"],
        *,
        by: str,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Submission:
        if status not in ("accepted", "rejected"):
            raise StoreError(f"a decision is 'accepted' or 'rejected', not {status!r}")
        with self._write() as db:
            sub = self.submission(submission_id)
            if sub.status == "superseded":
                raise StoreError("submission was superseded by a newer version", id=submission_id)
            if status == "accepted" and sub.error_count:
                raise StoreError("a submission with errors cannot be accepted", id=submission_id)
            decided = replace(
                sub, status=status, decided_by=by, decided_at=self._at(at), decision_note=note
            )
            self._update(db.table("submissions"), submission_id, sub, decided)
        return self.submission(submission_id)

    def set_explanation(self, submission_id: int, text: str) -> Submission:
        with self._write() as db:
            sub = self.submission(submission_id)
            self._update(
                db.table("submissions"), submission_id, sub, replace(sub, explanation=text)
            )
        return self.submission(submission_id)

    def submission(self, submission_id: int) -> Submission:
        row = self._one("submissions", "id = ?", [submission_id])
        if row is None:
            raise StoreError("no such submission", id=submission_id)
        return from_row(Submission, row)

    def submission_by_hash(self, campaign_id: str, sha256: str) -> Submission | None:
        row = self._one("submissions", "campaign = ? AND sha256 = ?", [campaign_id, sha256])
        return from_row(Submission, row) if row else None

    def submissions(self, campaign_id: str, department: str | None = None) -> list[Submission]:
        if department is None:
            return list(
                self._unchanged(("submissions", campaign_id), lambda: self._all(campaign_id))
            )
        where = "campaign = ? AND department = ?"
        rows = self._rows("submissions", where, [campaign_id, department], order_by="version")
        return [from_row(Submission, r) for r in rows]

    def _all(self, campaign_id: str) -> tuple[Submission, ...]:
        rows = self._each("submissions", "campaign = ?", [campaign_id], order_by="id")
        return tuple(from_row(Submission, r) for r in rows)

    def unassigned(self, campaign_id: str) -> list[Submission]:
        where = f"campaign = ? AND department IS NULL AND status IN ({_marks(UNASSIGNED)})"
        rows = self._rows("submissions", where, [campaign_id, *UNASSIGNED], order_by="id")
        return [from_row(Submission, r) for r in rows]

    def latest_submission(self, campaign_id: str, code: str) -> Submission | None:
        row = self._one(
            "submissions",
            "campaign = ? AND department = ?",
            [campaign_id, code],
            order_by="version DESC",
        )
        return from_row(Submission, row) if row else None

    def accepted_submissions(self, campaign_id: str) -> list[Submission]:
        # the round's submissions when they are held and current (the records shared), else
        # only the accepted ones, not kept
        held = self._current(("submissions", campaign_id))
        if held is None:
            where = f"campaign = ? AND status IN ({_marks(ACCEPTED)}) AND department IS NOT NULL"
            rows = self._each("submissions", where, [campaign_id, *ACCEPTED])
            held = [from_row(Submission, row) for row in rows]
        latest: dict[str, Submission] = {}
        for sub in held:
            if sub.department is None or sub.status not in ACCEPTED:
                continue
            known = latest.get(sub.department)  # one per department, also after re-acceptance
            if known is None or (sub.version or 0) > (known.version or 0):
                latest[sub.department] = sub
        return [latest[code] for code in sorted(latest)]

    def stored_values(self, submission_ids: Iterable[int]) -> list[StoredValue]:
        ids = sorted(set(submission_ids))
        out: list[StoredValue] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            rows = self._rows(
                "submission_values",
                f"submission_id IN ({_marks(chunk)})",
                chunk,
                order_by="submission_id, rowid",
            )
            out += [from_row(StoredValue, r) for r in rows]
        return out

    def issues(self, submission_id: int) -> list[StoredIssue]:
        rows = self._rows("submission_issues", "submission_id = ?", [submission_id], order_by="seq")
        return [from_row(StoredIssue, r) for r in rows]

    # -- offices one level down ----------------------------------------------------------

    def record_office(
        self,
        submission_id: int,
        *,
        office_code: str | None,
        level: str,
        content_hash: str,
        declared_hash: str | None,
        leaves: Sequence[Leaf],
    ) -> None:
        with self._write() as db:
            if self._one("office_reports", "submission_id = ?", [submission_id]) is not None:
                return
            db.table("office_reports").insert(
                {
                    "submission_id": submission_id,
                    "office_code": office_code,
                    "level": level,
                    "content_hash": content_hash,
                    "declared_hash": declared_hash,
                    "leaf_count": len(leaves),
                }
            )
            rows = [
                {
                    "submission_id": submission_id,
                    "seq": i,
                    "code": leaf.code,
                    "name": leaf.name,
                    "kind": leaf.kind,
                    "path": json_text(list(leaf.path)),
                    "path_names": json_text(list(leaf.path_names)),
                    "identity": unit_identity(leaf.name),
                    "values": json_text(
                        {c: decimal_text(v) for c, v in leaf.values.items() if v is not None}
                    ),
                }
                for i, leaf in enumerate(leaves)
            ]
            if rows:
                db.table("office_units").insert_all(rows)

    def office_record(self, submission_id: int) -> dict[str, Any] | None:
        return self._one("office_reports", "submission_id = ?", [submission_id])

    def office_leaves(self, submission_id: int) -> list[Leaf]:
        rows = self._rows("office_units", "submission_id = ?", [submission_id], order_by="seq")
        return [
            Leaf(
                code=r["code"],
                name=r["name"],
                kind=r["kind"],
                values={c: Decimal(v) for c, v in json.loads(r["values"]).items()},
                path=tuple(json.loads(r["path"])),
                path_names=tuple(json.loads(r["path_names"])),
            )
            for r in rows
        ]

    def offices_holding(self, campaign_id: str, identity: str) -> list[str]:
        rows = self._query(
            "SELECT DISTINCT s.department FROM office_units u "
            "JOIN submissions s ON s.id = u.submission_id "
            f"WHERE u.identity = ? AND s.campaign = ? AND s.status IN ({_marks(ACCEPTED)}) "
            "AND s.department IS NOT NULL ORDER BY s.department",
            [identity, campaign_id, *ACCEPTED],
        )
        return [r["department"] for r in rows]

    def office_by_content(
        self, campaign_id: str, department: str, content_hash: str
    ) -> Submission | None:
        rows = self._query(
            "SELECT s.* FROM submissions s JOIN office_reports o ON o.submission_id = s.id "
            "WHERE s.campaign = ? AND s.department = ? AND o.content_hash = ? "
            "ORDER BY s.version DESC LIMIT 1",
            [campaign_id, department, content_hash],
        )
        return from_row(Submission, rows[0]) if rows else None

    # -- accepted reports across campaigns and years --------------------------------------

    def accepted_in_year(self, code: str, report_year: int) -> Submission | None:
        # the year's few campaigns first, then the unit's submissions in each through the
        # (campaign, department, version) index: not a scan of every submission (as UNIT_SQL)
        rows = self._query(
            "SELECT s.* FROM campaigns c CROSS JOIN submissions s "
            "WHERE s.campaign = c.id AND c.report_year = ? AND s.department = ? "
            f"AND +s.status IN ({_marks(ACCEPTED)}) "
            "ORDER BY s.received_at DESC, s.id DESC LIMIT 1",
            [report_year, code, *ACCEPTED],
        )
        return from_row(Submission, rows[0]) if rows else None

    def accepted_values(
        self, campaign_id: str, codes: Sequence[str]
    ) -> dict[str, dict[str, Decimal]]:
        if not codes:
            return {}
        rows = self._query(
            "SELECT s.department, s.version, v.code, v.value "
            "FROM submissions s JOIN submission_values v ON v.submission_id = s.id "
            f"WHERE s.campaign = ? AND s.department IS NOT NULL "
            f"AND s.status IN ({_marks(ACCEPTED)}) AND v.code IN ({_marks(codes)}) "
            "AND v.value IS NOT NULL ORDER BY s.department, s.version DESC, v.rowid",
            [campaign_id, *ACCEPTED, *codes],
        )
        version: dict[str, int] = {}
        out: dict[str, dict[str, Decimal]] = {}
        for row in rows:  # the highest accepted version of each department, as accepted_…()
            dept = row["department"]
            if version.setdefault(dept, row["version"]) == row["version"]:
                out.setdefault(dept, {})[row["code"]] = Decimal(row["value"])
        return out

    def accepted_median(
        self, campaign_id: str, codes: Sequence[str], *, exclude: str | None = None
    ) -> tuple[int, Decimal | None]:
        if not codes:
            return 0, None
        sql = _MEDIAN_SQL.format(accepted=_marks(ACCEPTED), codes=_marks(codes))
        args = [campaign_id, exclude or "", *ACCEPTED, *codes]
        with self._pool.reading() as db:
            rows = db.execute(sql, args).fetchall()
        if not rows:
            return 0, None
        count = int(rows[0][0])
        middle = [Decimal(value) for _, value in rows]
        if count % 2:
            return count, middle[0]
        return count, (middle[0] + middle[1]) / 2  # as statistics.median does

    def unit_years(
        self, code: str, first: int, last: int
    ) -> dict[int, tuple[str, dict[str, Decimal]]]:
        sql = UNIT_SQL.format(marks=_marks(ACCEPTED))
        out: dict[int, tuple[str, dict[str, Decimal]]] = {}
        with self._pool.reading() as db:
            rows = db.execute(sql, [code, first, last, *ACCEPTED]).fetchall()
        for year, form_id, cell, value in rows:
            out.setdefault(int(year), (form_id, {}))[1][cell] = Decimal(value)
        return out

    def accepted_by_year(self, years: Iterable[int] | None = None) -> dict[int, list[Submission]]:
        wanted = sorted(set(years)) if years is not None else None
        clause = f" AND c.report_year IN ({_marks(wanted)})" if wanted is not None else ""
        sql = _BY_YEAR_SQL.format(marks=_marks(ACCEPTED), years=clause)
        out: dict[int, list[Submission]] = {}
        for row in self._query(sql, [*ACCEPTED, *(wanted or [])]):
            out.setdefault(row["campaign_year"], []).append(from_row(Submission, row))
        return out

    # -- messages and named state ----------------------------------------------------------

    def record_message(
        self,
        campaign_id: str,
        key: str,
        *,
        sha256: str,
        outcome: str,
        archived_path: str | Path | None = None,
        message_id: str | None = None,
        subject: str | None = None,
        sender: str | None = None,
        received_at: datetime | None = None,
        department: str | None = None,
        workbooks: int = 0,
        detail: Mapping[str, Any] | None = None,
    ) -> tuple[Message, bool]:
        with self._write() as db:
            found = self._message(campaign_id, key)
            if found is not None:
                return found, False
            message = Message(
                campaign=campaign_id,
                key=key,
                sha256=sha256,
                archived_path=str(archived_path) if archived_path is not None else None,
                message_id=message_id,
                subject=subject,
                sender=sender,
                received_at=self._at(received_at),
                outcome=outcome,
                department=department,
                workbooks=workbooks,
                detail=dict(detail or {}),
            )
            db.table("messages").insert(to_row(message))
            recorded = self._message(campaign_id, key)
        assert recorded is not None
        return recorded, True

    def _message(self, campaign_id: str, key: str) -> Message | None:
        row = self._one("messages", "campaign = ? AND key = ?", [campaign_id, key])
        return from_row(Message, row) if row else None

    def messages(self, campaign_id: str, *, outcome: str | None = None) -> list[Message]:
        where, args = "campaign = ?", [campaign_id]
        if outcome is not None:
            where += " AND outcome = ?"
            args.append(outcome)
        rows = self._rows("messages", where, args, order_by="received_at, rowid")
        return [from_row(Message, r) for r in rows]

    def get_state(self, campaign_id: str, name: str) -> Any:
        where = "campaign = ? AND name = ?"
        row = self._one("state", where, [campaign_id, name], select="value")
        return json.loads(row["value"]) if row else None

    def set_state(self, campaign_id: str, name: str, value: Any) -> None:
        row = {
            "campaign": campaign_id,
            "name": name,
            "value": json_text(value),
            "updated_at": timestamp_text(self._clock()),
        }
        with self._write() as db:
            db.table("state").upsert(row, pk=("campaign", "name"))

    # -- events ---------------------------------------------------------------------------

    def begin_event(
        self,
        campaign_id: str,
        key: str,
        *,
        kind: str,
        department: str | None = None,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
        expect_attempts: int | None = None,
    ) -> Event:
        with self._write() as db:
            found = self.event(campaign_id, key)
            seen = found.attempts if found else 0
            if expect_attempts is not None and seen != expect_attempts:
                assert found is not None  # begun by another run since the caller looked
                return replace(found, previous_status=found.status, begun=False)
            if found is None:
                event = Event(
                    campaign=campaign_id,
                    key=key,
                    kind=kind,
                    department=department,
                    status="pending",
                    detail=dict(detail or {}),
                    attempts=1,
                    created_at=self._at(at),
                    done_at=None,
                )
                db.table("events").insert(to_row(event))
            elif found.status != "done":
                retried = replace(
                    found,
                    status="pending",
                    attempts=found.attempts + 1,
                    detail={**found.detail, **dict(detail or {})},
                )
                self._update(db.table("events"), (campaign_id, key), found, retried)
            begun = self.event(campaign_id, key)
        assert begun is not None
        return replace(begun, previous_status=found.status if found else None)

    def finish_event(
        self,
        campaign_id: str,
        key: str,
        *,
        status: Literal["done", "failed"] = "done",
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> Event:
        if status not in ("done", "failed"):
            raise StoreError(f"an event finishes 'done' or 'failed', not {status!r}")
        with self._write() as db:
            found = self.event(campaign_id, key)
            if found is None:
                raise StoreError("no such event (begin_event first)", campaign=campaign_id, key=key)
            finished = replace(
                found,
                status=status,
                detail={**found.detail, **dict(detail or {})},
                done_at=self._at(at),
            )
            self._update(db.table("events"), (campaign_id, key), found, finished)
            done = self.event(campaign_id, key)
        assert done is not None
        return done

    def event(self, campaign_id: str, key: str) -> Event | None:
        row = self._one("events", "campaign = ? AND key = ?", [campaign_id, key])
        return from_row(Event, row) if row else None

    def events(
        self,
        campaign_id: str,
        *,
        department: str | None = None,
        kind: str | None = None,
        status: EventStatus | None = None,
    ) -> list[Event]:
        where, args = "campaign = ?", [campaign_id]
        if department is not None:
            where += " AND department = ?"
            args.append(department)
        if kind is not None:
            where += " AND (kind = ? OR kind LIKE ? ESCAPE '\\')"
            escaped = kind.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args += [kind, escaped + "%" if kind.endswith(".") else escaped + ".%"]
        if status is not None:
            where += " AND status = ?"
            args.append(status)
        rows = self._rows("events", where, args, order_by="created_at, rowid")
        return [from_row(Event, r) for r in rows]

    def steps(self, campaign_id: str) -> list[Step]:
        # five columns, a row at a time: no detail decoded, no list of rows beside the steps
        rows = self._each(
            "events",
            "campaign = ?",
            [campaign_id],
            order_by="created_at, rowid",
            select="kind, department, status, created_at, done_at",
        )
        return [from_row(Step, row) for row in rows]

    def unfinished_events(self, campaign_id: str) -> list[Event]:
        where = "campaign = ? AND status IN ('pending', 'failed')"
        rows = self._rows("events", where, [campaign_id], order_by="created_at, rowid")
        return [from_row(Event, r) for r in rows]

    def events_by_key(self, campaign_id: str, keys: Iterable[str]) -> dict[str, Event]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Event] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            where = f"campaign = ? AND key IN ({_marks(chunk)})"
            for row in self._rows("events", where, [campaign_id, *chunk]):
                found[row["key"]] = from_row(Event, row)
        return found

    def event_by_message_id(self, campaign_id: str, message_id: str) -> Event | None:
        # the expression is the one indexed by events_by_message_id (migration 0006)
        row = self._one(
            "events",
            "campaign = ? AND json_extract(detail, '$.message_id') = ?",
            [campaign_id, message_id],
            order_by="created_at, rowid",
        )
        return from_row(Event, row) if row else None


__all__ = ["UNIT_SQL", "SQLiteStore"]
