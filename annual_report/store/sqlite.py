"""The state database: campaigns, department snapshots, every submission version, values, issues
and the log of every step the flows take.

One SQLite file (WAL mode), written through sqlite-utils. A sqlite-utils ``Database`` is tied to
the thread that opened it and Prefect runs tasks in worker threads, so :class:`Store` opens one
connection per thread. Writes that must not be split (a submission with its values and issues, a
new version number) run in one ``BEGIN IMMEDIATE`` transaction, which also serialises writers
across threads and processes.

Idempotency is by natural keys: a submission is identified by the SHA-256 of its file within a
campaign, an event by its key (``invitation:RSJ``); recording either twice returns the first.
Values are stored as exact decimal *text*: sqlite-utils would store a ``Decimal`` as REAL.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from annual_report.campaign.kinds import MAIL_PROBLEMS, STATE_LABELS, Effect, effect_of
from annual_report.campaign.lateness import days_late, late_label, overdue_label
from annual_report.campaign.matching import Match
from annual_report.campaign.registry import Contact, Department, Registry
from annual_report.errors import StoreError, WorkbookError
from annual_report.form.model import form_for_year, load_form
from annual_report.report import Entry, Report
from annual_report.validation.core import Validation

log = logging.getLogger(__name__)

SubmissionStatus = Literal[
    "received",
    "rejected",
    "accepted_with_warnings",
    "accepted",
    "unreadable",
    "quarantined",
    "superseded",
]
SUBMISSION_STATUSES: tuple[str, ...] = (
    "received",
    "rejected",
    "accepted_with_warnings",
    "accepted",
    "unreadable",
    "quarantined",
    "superseded",
)
ACCEPTED: tuple[str, ...] = ("accepted", "accepted_with_warnings")
# A newer version replaces these; rejected and unreadable versions stay as they were (history).
SUPERSEDABLE: tuple[str, ...] = ("received", "accepted", "accepted_with_warnings")
EventStatus = Literal["pending", "done", "failed"]

# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    id: str
    report_year: int
    form_id: str
    deadline: date | None
    secret: str
    city: str | None
    created_at: datetime
    status: str


@dataclass(frozen=True)
class Submission:
    id: int
    campaign: str
    department: str | None
    version: int | None
    sha256: str
    file_name: str | None
    archived_path: str | None
    received_at: datetime
    source: str
    message_id: str | None
    sender: str | None
    form_id: str | None
    report_year: int | None
    method: str | None
    status: str
    error_count: int
    warning_count: int
    failure_kind: str | None
    failure_reason: str | None
    failure_reason_zh: str | None
    explanation: str | None
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    match_reason: str | None = None  # why it was quarantined (English, for operators)
    match_reason_zh: str | None = None  # the same for the coordinator's notice
    suggested_department: str | None = None  # whose it probably is (quarantined files)
    sender_notice_zh: str | None = None  # what its sender is told when it is not theirs
    new: bool = False  # true only on the call that created it


@dataclass(frozen=True)
class StoredIssue:
    submission_id: int
    seq: int
    rule: str
    severity: str
    codes: tuple[str, ...]
    cells: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class Event:
    campaign: str
    key: str
    kind: str
    department: str | None
    status: str
    detail: dict[str, Any]
    attempts: int
    created_at: datetime
    done_at: datetime | None
    previous_status: str | None = None  # on begin_event: None when new, else the status found


@dataclass(frozen=True)
class DepartmentState:
    code: str
    name: str
    kind: str
    state: str  # a key of STATE_LABELS
    last_action: str | None  # "sent.invitation", "submission v2 rejected", …
    last_action_at: datetime | None
    due: date | None
    submission_id: int | None  # the latest version
    version: int | None
    rejections: int
    escalations: int
    late_days: int = 0  # the accepted report came in this many days after ``due``
    overdue_days: int = 0  # not accepted, this many days after ``due`` (at ``today``)
    invited_at: datetime | None = None  # when the template went out
    versions: int = 0  # files received from it
    mail_problems: tuple[str, ...] = ()  # keys of MAIL_PROBLEMS for its mail (set by the flows)

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def detail(self) -> str:
        """What the state alone does not say: 逾期报送（3天）, 已逾期5天, mail that did not go."""
        parts = [late_label(self.late_days), overdue_label(self.overdue_days)]
        parts += [f"邮件{MAIL_PROBLEMS[p]}" for p in self.mail_problems if p in MAIL_PROBLEMS]
        return "，".join(p for p in parts if p)


# -- schema ---------------------------------------------------------------------------------


class _Migrations(Migrations):
    migrations_table = "migrations"

    @property
    def names(self) -> list[str]:
        return [m.name for m in self._migrations]


migrations = _Migrations("nianbao")


@migrations(name="0001_initial")
def _initial(db: Database) -> None:
    statuses = ", ".join(f"'{s}'" for s in SUBMISSION_STATUSES)
    for sql in (
        """CREATE TABLE campaigns (
            id TEXT PRIMARY KEY,
            report_year INTEGER NOT NULL,
            form_id TEXT NOT NULL,
            deadline TEXT,
            secret TEXT NOT NULL,
            city TEXT,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open'
        ) STRICT""",
        """CREATE TABLE departments (
            campaign TEXT NOT NULL REFERENCES campaigns(id),
            code TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            email TEXT NOT NULL,
            contact_name TEXT,
            contact_phone TEXT,
            leader_email TEXT,
            covers TEXT NOT NULL DEFAULT '[]',
            can_make_rules INTEGER NOT NULL DEFAULT 0,
            reports_for_government INTEGER NOT NULL DEFAULT 0,
            active INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (campaign, code)
        ) STRICT""",
        f"""CREATE TABLE submissions (
            id INTEGER PRIMARY KEY,
            campaign TEXT NOT NULL REFERENCES campaigns(id),
            department TEXT,
            version INTEGER,
            sha256 TEXT NOT NULL,
            file_name TEXT,
            archived_path TEXT,
            received_at TEXT NOT NULL,
            source TEXT NOT NULL,
            message_id TEXT,
            sender TEXT,
            form_id TEXT,
            report_year INTEGER,
            method TEXT,
            status TEXT NOT NULL CHECK (status IN ({statuses})),
            error_count INTEGER NOT NULL DEFAULT 0,
            warning_count INTEGER NOT NULL DEFAULT 0,
            failure_kind TEXT,
            failure_reason TEXT,
            failure_reason_zh TEXT,
            missing TEXT NOT NULL DEFAULT '[]',
            explanation TEXT,
            decided_by TEXT,
            decided_at TEXT,
            decision_note TEXT,
            UNIQUE (campaign, sha256),
            UNIQUE (campaign, department, version),
            FOREIGN KEY (campaign, department) REFERENCES departments(campaign, code)
        ) STRICT""",
        """CREATE TABLE submission_values (
            submission_id INTEGER NOT NULL REFERENCES submissions(id),
            code TEXT NOT NULL,
            value TEXT,
            raw TEXT,
            cell TEXT,
            notes TEXT NOT NULL DEFAULT '[]',
            problem TEXT,
            PRIMARY KEY (submission_id, code)
        ) STRICT""",
        """CREATE TABLE submission_issues (
            submission_id INTEGER NOT NULL REFERENCES submissions(id),
            seq INTEGER NOT NULL,
            rule TEXT NOT NULL,
            severity TEXT NOT NULL CHECK (severity IN ('error', 'warning')),
            codes TEXT NOT NULL,
            cells TEXT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (submission_id, seq)
        ) STRICT""",
        """CREATE TABLE events (
            campaign TEXT NOT NULL REFERENCES campaigns(id),
            key TEXT NOT NULL,
            kind TEXT NOT NULL,
            department TEXT,
            status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
            detail TEXT NOT NULL DEFAULT '{}',
            attempts INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            done_at TEXT,
            PRIMARY KEY (campaign, key),
            FOREIGN KEY (campaign, department) REFERENCES departments(campaign, code)
        ) STRICT""",
    ):
        db.execute(sql)


@migrations(name="0002_lookup_indexes")
def _lookup_indexes(db: Database) -> None:
    # department_states() reads the events and submissions of one department at a time
    db.execute("CREATE INDEX IF NOT EXISTS events_by_department ON events(campaign, department)")
    db.execute("CREATE INDEX IF NOT EXISTS submissions_by_status ON submissions(campaign, status)")


@migrations(name="0003_messages_and_state")
def _messages_and_state(db: Database) -> None:
    # Every message taken from a mailbox (archived before it was parsed) and what it held, so a
    # re-run recognises it and the answers owed for it can be derived from the store.
    db.execute(
        """CREATE TABLE messages (
            campaign TEXT NOT NULL REFERENCES campaigns(id),
            key TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            archived_path TEXT,
            message_id TEXT,
            subject TEXT,
            sender TEXT,
            received_at TEXT NOT NULL,
            outcome TEXT NOT NULL,
            department TEXT,
            workbooks INTEGER NOT NULL DEFAULT 0,
            detail TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (campaign, key)
        ) STRICT"""
    )
    # Small named JSON values per campaign: mailbox cursors, the last status snapshot.
    db.execute(
        """CREATE TABLE state (
            campaign TEXT NOT NULL REFERENCES campaigns(id),
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (campaign, name)
        ) STRICT"""
    )


@migrations(name="0004_match_reason")
def _match_reason(db: Database) -> None:
    # Why a file was quarantined and whose it probably is, for the coordinator's notice.
    for column in ("match_reason", "match_reason_zh", "suggested_department"):
        db.execute(f"ALTER TABLE submissions ADD COLUMN {column} TEXT")


@migrations(name="0005_sender_notice")
def _sender_notice(db: Database) -> None:
    # What the sender of a file that was not recorded as theirs is told (quarantined, or
    # unreadable from an address no unit registered), for the answer derived from the store.
    db.execute("ALTER TABLE submissions ADD COLUMN sender_notice_zh TEXT")


# -- helpers ----------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def content_hash(data: bytes) -> str:
    """The SHA-256 hex digest identifying a submitted file."""
    return hashlib.sha256(data).hexdigest()


def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def decimal_text(value: Decimal | None) -> str | None:
    """Exact text of a value (never exponent notation, trailing zeros kept)."""
    return None if value is None else format(value, "f")


def _ts(value: datetime) -> str:
    """Timestamps are stored in UTC ISO 8601 so that text order is time order."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _status_of(validation: Validation | None) -> SubmissionStatus:
    """errors → rejected, warnings → accepted_with_warnings, else accepted (received: none)."""
    if validation is None:
        return "received"
    if validation.errors:
        return "rejected"
    return "accepted_with_warnings" if validation.warnings else "accepted"


def _submission(row: Mapping[str, Any], *, new: bool = False) -> Submission:
    return Submission(
        id=row["id"],
        campaign=row["campaign"],
        department=row["department"],
        version=row["version"],
        sha256=row["sha256"],
        file_name=row["file_name"],
        archived_path=row["archived_path"],
        received_at=_dt(row["received_at"]),  # type: ignore[arg-type]
        source=row["source"],
        message_id=row["message_id"],
        sender=row["sender"],
        form_id=row["form_id"],
        report_year=row["report_year"],
        method=row["method"],
        status=row["status"],
        error_count=row["error_count"],
        warning_count=row["warning_count"],
        failure_kind=row["failure_kind"],
        failure_reason=row["failure_reason"],
        failure_reason_zh=row["failure_reason_zh"],
        match_reason=row["match_reason"],
        match_reason_zh=row["match_reason_zh"],
        suggested_department=row["suggested_department"],
        sender_notice_zh=row["sender_notice_zh"],
        explanation=row["explanation"],
        decided_by=row["decided_by"],
        decided_at=_dt(row["decided_at"]),
        decision_note=row["decision_note"],
        new=new,
    )


def _event(row: Mapping[str, Any], previous_status: str | None = None) -> Event:
    return Event(
        campaign=row["campaign"],
        key=row["key"],
        kind=row["kind"],
        department=row["department"],
        status=row["status"],
        detail=json.loads(row["detail"]),
        attempts=row["attempts"],
        created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
        done_at=_dt(row["done_at"]),
        previous_status=previous_status,
    )


def _campaign(row: Mapping[str, Any]) -> Campaign:
    return Campaign(
        id=row["id"],
        report_year=row["report_year"],
        form_id=row["form_id"],
        deadline=date.fromisoformat(row["deadline"]) if row["deadline"] else None,
        secret=row["secret"],
        city=row["city"],
        created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
        status=row["status"],
    )


def _department(row: Mapping[str, Any]) -> Department:
    contact = (
        Contact(name=row["contact_name"], phone=row["contact_phone"])
        if row["contact_name"]
        else None
    )
    return Department(
        code=row["code"],
        name=row["name"],
        kind=row["kind"],
        email=row["email"],
        contact=contact,
        leader_email=row["leader_email"],
        covers=tuple(json.loads(row["covers"])),
        can_make_rules=bool(row["can_make_rules"]),
        reports_for_government=bool(row["reports_for_government"]),
    )


@dataclass(frozen=True)
class Message:
    campaign: str
    key: str
    sha256: str
    archived_path: str | None
    message_id: str | None
    subject: str | None
    sender: str | None
    received_at: datetime
    outcome: str  # "workbooks", "no_workbook", "unparseable", "auto_reply"
    department: str | None
    workbooks: int
    detail: dict[str, Any]


def _message(row: Mapping[str, Any]) -> Message:
    return Message(
        campaign=row["campaign"],
        key=row["key"],
        sha256=row["sha256"],
        archived_path=row["archived_path"],
        message_id=row["message_id"],
        subject=row["subject"],
        sender=row["sender"],
        received_at=_dt(row["received_at"]),  # type: ignore[arg-type]
        outcome=row["outcome"],
        department=row["department"],
        workbooks=row["workbooks"],
        detail=json.loads(row["detail"]),
    )


# -- the store ------------------------------------------------------------------------------


class Store:
    """The state database at ``path`` (created and migrated on open)."""

    def __init__(
        self,
        path: str | Path,
        *,
        timeout: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._clock = clock or utc_now
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[weakref.ref[threading.Thread], Database]] = []
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self.db
            db.enable_wal()
            self._migrate(db)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(f"cannot open the state database: {exc}", path=str(self.path)) from exc

    # -- connections ----------------------------------------------------------------------

    @property
    def db(self) -> Database:
        """This thread's sqlite-utils ``Database`` (opened on first use)."""
        if self._closed:
            raise StoreError("the state database is closed", path=str(self.path))
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
        return db

    def _connect(self) -> Database:
        conn = sqlite3.connect(self.path, timeout=self._timeout, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, much faster commits
        db = Database(conn, execute_plugins=False)
        with self._lock:
            # close connections of threads that are gone (Prefect's pool threads come and go)
            alive = []
            for ref, other in self._connections:
                thread = ref()
                if thread is None or not thread.is_alive():
                    other.close()
                else:
                    alive.append((ref, other))
            alive.append((weakref.ref(threading.current_thread()), db))
            self._connections = alive
        return db

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        with self._lock:
            self._closed = True
            for _, db in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            self._connections = []

    def __reduce__(self) -> tuple[Any, ...]:
        # Prefect hashes and may pickle task arguments: a Store travels as its path.
        return (Store, (self.path,), {"_timeout": self._timeout, "_clock": self._clock})

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._timeout = state["_timeout"]
        self._clock = state["_clock"]

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Database]:
        """One write transaction, taking the write lock at its start (no upgrade deadlocks)."""
        db = self.db
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

    def _rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def _row(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _now(self, at: datetime | None) -> str:
        return _ts(at if at is not None else self._clock())

    def now(self) -> datetime:
        """The store's clock: the moment a replay stands for, else the current time."""
        return self._clock()

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
        return [m.name for m in migrations.applied(self.db)]

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
        """Create the campaign, or return it when it exists (updating deadline and city if given).

        A different report year or form for an existing id is an error. With ``registry`` the
        campaign's department snapshot is refreshed (see :meth:`snapshot_departments`).
        """
        form_id = form_id or form_for_year(report_year).id
        load_form(form_id)  # fails early on an unknown form
        with self._write() as db:
            row = self._row("SELECT * FROM campaigns WHERE id = ?", [campaign_id])
            if row is None:
                db.execute(
                    "INSERT INTO campaigns (id, report_year, form_id, deadline, secret, city, "
                    "created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'open')",
                    [
                        campaign_id,
                        report_year,
                        form_id,
                        deadline.isoformat() if deadline else None,
                        secrets.token_hex(32),
                        city or (registry.city if registry else None),
                        self._now(at),
                    ],
                )
                log.info("created campaign %s (report year %s)", campaign_id, report_year)
            else:
                if row["report_year"] != report_year or row["form_id"] != form_id:
                    raise StoreError(
                        "campaign exists with another report year or form",
                        campaign=campaign_id,
                        existing=f"{row['report_year']}/{row['form_id']}",
                        requested=f"{report_year}/{form_id}",
                    )
                if deadline is not None and row["deadline"] != deadline.isoformat():
                    db.execute(
                        "UPDATE campaigns SET deadline = ? WHERE id = ?",
                        [deadline.isoformat(), campaign_id],
                    )
                if city and row["city"] != city:
                    db.execute("UPDATE campaigns SET city = ? WHERE id = ?", [city, campaign_id])
            if registry is not None:
                self.snapshot_departments(campaign_id, registry)
        return self.campaign(campaign_id)

    def ensure_campaign(self, campaign_id: str, report_year: int, **kwargs: Any) -> str:
        """:meth:`create_campaign`, returning only the id."""
        return self.create_campaign(campaign_id, report_year, **kwargs).id

    def campaign(self, campaign_id: str) -> Campaign:
        row = self._row("SELECT * FROM campaigns WHERE id = ?", [campaign_id])
        if row is None:
            raise StoreError("no such campaign", campaign=campaign_id)
        return _campaign(row)

    def campaigns(self) -> list[Campaign]:
        return [_campaign(r) for r in self._rows("SELECT * FROM campaigns ORDER BY id")]

    def set_campaign_status(self, campaign_id: str, status: str) -> None:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE campaigns SET status = ? WHERE id = ?", [status, campaign_id]
            )
            if cursor.rowcount == 0:
                raise StoreError("no such campaign", campaign=campaign_id)

    # -- departments ----------------------------------------------------------------------

    def snapshot_departments(self, campaign_id: str, registry: Registry) -> None:
        """Record the registry as it is for this campaign; units no longer listed go inactive."""
        rows = [
            {
                "campaign": campaign_id,
                "code": d.code,
                "name": d.name,
                "kind": d.kind,
                "email": d.email,
                "contact_name": d.contact.name if d.contact else None,
                "contact_phone": d.contact.phone if d.contact else None,
                "leader_email": d.leader_email,
                "covers": _json(list(d.covers)),
                "can_make_rules": int(d.can_make_rules),
                "reports_for_government": int(d.reports_for_government),
                "active": 1,
            }
            for d in registry
        ]
        with self._write() as db:
            db.execute(
                "UPDATE departments SET active = 0 WHERE campaign = ? AND code NOT IN "
                f"({', '.join('?' * len(rows))})",
                [campaign_id, *(r["code"] for r in rows)],
            )
            db["departments"].upsert_all(rows, pk=("campaign", "code"))  # type: ignore[union-attr]

    def departments(self, campaign_id: str, *, active_only: bool = True) -> list[Department]:
        where = " AND active = 1" if active_only else ""
        rows = self._rows(
            f"SELECT * FROM departments WHERE campaign = ?{where} ORDER BY rowid", [campaign_id]
        )
        return [_department(r) for r in rows]

    def registry(self, campaign_id: str) -> Registry:
        """The campaign's department snapshot as a :class:`Registry` (for the merger)."""
        campaign = self.campaign(campaign_id)
        return Registry(city=campaign.city or "—", departments=tuple(self.departments(campaign_id)))

    def department_token(self, campaign_id: str, code: str) -> str:
        """The per-department token written into its template (HMAC of the campaign secret)."""
        secret = self.campaign(campaign_id).secret
        return _token(secret, campaign_id, code)

    def department_for_token(self, campaign_id: str, token: str | None) -> str | None:
        """The department code whose token this is, or ``None``."""
        if not token:
            return None
        token = token.strip().lower()
        secret = self.campaign(campaign_id).secret
        rows = self._rows("SELECT code FROM departments WHERE campaign = ?", [campaign_id])
        for row in rows:
            if hmac.compare_digest(_token(secret, campaign_id, row["code"]), token):
                return row["code"]
        return None

    def token_owner(self, token: str | None) -> tuple[str, str] | None:
        """``(campaign, department)`` of any campaign in this store whose token this is (a
        stale token: last year's template), or ``None``."""
        if not token:
            return None
        token = token.strip().lower()
        for campaign in self.campaigns():
            code = self.department_for_token(campaign.id, token)
            if code is not None:
                return campaign.id, code
        return None

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
        """Record one received file with what was read from it, in one transaction.

        Idempotent on the file's hash: the same file again returns the first record
        (``new=False``). A matched department gets the next version number and its earlier
        received/accepted versions become ``superseded``. The status follows the validation
        (errors → rejected, warnings → accepted_with_warnings, else accepted) or the failure
        (unreadable) unless ``status`` says otherwise.
        """
        if status is not None and status not in SUBMISSION_STATUSES:
            raise StoreError(f"unknown submission status {status!r}")
        report = validation.report if validation is not None else None
        if status is None:
            status = "unreadable" if failure is not None else _status_of(validation)
        failure_kind = failure.kind if isinstance(failure, WorkbookError) else None
        failure_reason = failure.message if isinstance(failure, WorkbookError) else failure
        failure_reason_zh = failure.reason_zh if isinstance(failure, WorkbookError) else None
        with self._write() as db:
            row = self._row(
                "SELECT * FROM submissions WHERE campaign = ? AND sha256 = ?",
                [campaign_id, sha256],
            )
            if row is not None:
                log.info("submission %s already recorded (sha256 %s)", row["id"], sha256[:12])
                return _submission(row)
            version = None
            if department is not None:
                known = self._row(
                    "SELECT code FROM departments WHERE campaign = ? AND code = ?",
                    [campaign_id, department],
                )
                if known is None:
                    raise StoreError(
                        "department is not in the campaign", campaign=campaign_id, code=department
                    )
                version = self._next_version(campaign_id, department)
            cursor = db.execute(
                "INSERT INTO submissions (campaign, department, version, sha256, file_name, "
                "archived_path, received_at, source, message_id, sender, form_id, report_year, "
                "method, status, error_count, warning_count, failure_kind, failure_reason, "
                "failure_reason_zh, missing, explanation, match_reason, match_reason_zh, "
                "suggested_department, sender_notice_zh) "
                f"VALUES ({', '.join('?' * 25)})",
                [
                    campaign_id,
                    department,
                    version,
                    sha256,
                    file_name,
                    str(archived_path) if archived_path is not None else None,
                    self._now(received_at),
                    source,
                    message_id,
                    sender,
                    report.form.id if report else None,
                    report.year if report else None,
                    report.method if report else None,
                    status,
                    len(validation.errors) if validation else 0,
                    len(validation.warnings) if validation else 0,
                    failure_kind,
                    failure_reason,
                    failure_reason_zh,
                    _json(list(report.missing)) if report else "[]",
                    explanation,
                    match.reason if match and match.quarantined else None,
                    match.reason_zh if match and match.quarantined else None,
                    match.department if match and match.quarantined else None,
                    sender_notice_zh,
                ],
            )
            submission_id = cursor.lastrowid
            assert submission_id is not None
            if report is not None:
                self._insert_values(db, submission_id, report)
            if validation is not None:
                self._insert_issues(db, submission_id, validation)
            if version is not None:
                self._supersede(db, campaign_id, department, version)  # type: ignore[arg-type]
            row = self._row("SELECT * FROM submissions WHERE id = ?", [submission_id])
        assert row is not None
        log.info(
            "recorded submission %s: campaign %s department %s v%s %s",
            submission_id,
            campaign_id,
            department,
            version,
            status,
        )
        return _submission(row, new=True)

    def _next_version(self, campaign_id: str, department: str) -> int:
        row = self._row(
            "SELECT coalesce(max(version), 0) + 1 AS v FROM submissions "
            "WHERE campaign = ? AND department = ?",
            [campaign_id, department],
        )
        return int(row["v"]) if row else 1

    def _supersede(self, db: Database, campaign_id: str, department: str, version: int) -> None:
        marks = ", ".join("?" * len(SUPERSEDABLE))
        db.execute(
            f"UPDATE submissions SET status = 'superseded' WHERE campaign = ? AND department = ? "
            f"AND version < ? AND status IN ({marks})",
            [campaign_id, department, version, *SUPERSEDABLE],
        )

    def _insert_values(self, db: Database, submission_id: int, report: Report) -> None:
        rows = [
            {
                "submission_id": submission_id,
                "code": code,
                "value": decimal_text(entry.value),
                "raw": entry.raw,
                "cell": entry.cell,
                "notes": _json(list(entry.notes)),
                "problem": entry.problem,
            }
            for code, entry in report.entries.items()
        ]
        # narrative sections live under their canonical codes (narrative.overview, …), text only
        rows += [
            {
                "submission_id": submission_id,
                "code": code,
                "value": None,
                "raw": text,
                "cell": None,
                "notes": "[]",
                "problem": None,
            }
            for code, text in report.narrative.items()
        ]
        if rows:
            db["submission_values"].upsert_all(rows, pk=("submission_id", "code"))  # type: ignore[union-attr]

    def _insert_issues(self, db: Database, submission_id: int, validation: Validation) -> None:
        rows = [
            {
                "submission_id": submission_id,
                "seq": seq,
                "rule": issue.rule,
                "severity": issue.severity,
                "codes": _json(list(issue.codes)),
                "cells": _json(list(issue.cells)),
                "message": issue.message,
            }
            for seq, issue in enumerate(validation.issues, 1)
        ]
        if rows:
            db["submission_issues"].insert_all(rows)  # type: ignore[union-attr]

    def assign_department(
        self,
        submission_id: int,
        department: str,
        *,
        status: SubmissionStatus | None = None,
        validation: Validation | None = None,
    ) -> Submission:
        """Match a so-far unmatched submission to a department (next version), e.g. by hand.

        ``validation`` (the file validated as that department's) replaces the stored issues
        and decides the status unless ``status`` is given.
        """
        if status is None and validation is not None:
            status = _status_of(validation)
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
            if (
                self._row(
                    "SELECT 1 AS x FROM departments WHERE campaign = ? AND code = ?",
                    [sub.campaign, department],
                )
                is None
            ):
                raise StoreError(
                    "department is not in the campaign", campaign=sub.campaign, code=department
                )
            version = self._next_version(sub.campaign, department)
            db.execute(
                "UPDATE submissions SET department = ?, version = ?, status = ? WHERE id = ?",
                [department, version, status or sub.status, submission_id],
            )
            if validation is not None:
                db.execute(
                    "UPDATE submissions SET error_count = ?, warning_count = ? WHERE id = ?",
                    [len(validation.errors), len(validation.warnings), submission_id],
                )
                db.execute("DELETE FROM submission_issues WHERE submission_id = ?", [submission_id])
                self._insert_issues(db, submission_id, validation)
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
        """The coordinator accepts or returns a submission (e.g. one with warnings only)."""
        if status not in ("accepted", "rejected"):
            raise StoreError(f"a decision is 'accepted' or 'rejected', not {status!r}")
        with self._write() as db:
            sub = self.submission(submission_id)
            if sub.status == "superseded":
                raise StoreError("submission was superseded by a newer version", id=submission_id)
            if status == "accepted" and sub.error_count:
                raise StoreError("a submission with errors cannot be accepted", id=submission_id)
            db.execute(
                "UPDATE submissions SET status = ?, decided_by = ?, decided_at = ?, "
                "decision_note = ? WHERE id = ?",
                [status, by, self._now(at), note, submission_id],
            )
        return self.submission(submission_id)

    def set_explanation(self, submission_id: int, text: str) -> Submission:
        """The department's 说明 answering the warnings of a submission."""
        with self._write() as db:
            self.submission(submission_id)
            db.execute("UPDATE submissions SET explanation = ? WHERE id = ?", [text, submission_id])
        return self.submission(submission_id)

    def submission(self, submission_id: int) -> Submission:
        row = self._row("SELECT * FROM submissions WHERE id = ?", [submission_id])
        if row is None:
            raise StoreError("no such submission", id=submission_id)
        return _submission(row)

    def submission_by_hash(self, campaign_id: str, sha256: str) -> Submission | None:
        row = self._row(
            "SELECT * FROM submissions WHERE campaign = ? AND sha256 = ?", [campaign_id, sha256]
        )
        return _submission(row) if row else None

    def submissions(self, campaign_id: str, department: str | None = None) -> list[Submission]:
        """Every version, oldest first (unmatched ones too when ``department`` is None)."""
        if department is None:
            rows = self._rows(
                "SELECT * FROM submissions WHERE campaign = ? ORDER BY id", [campaign_id]
            )
        else:
            rows = self._rows(
                "SELECT * FROM submissions WHERE campaign = ? AND department = ? ORDER BY version",
                [campaign_id, department],
            )
        return [_submission(r) for r in rows]

    def unassigned(self, campaign_id: str) -> list[Submission]:
        """Files no department owns yet (quarantined, or unreadable from an unknown sender):
        they wait for the coordinator to assign them."""
        rows = self._rows(
            "SELECT * FROM submissions WHERE campaign = ? AND department IS NULL "
            "AND status IN ('quarantined', 'unreadable') ORDER BY id",
            [campaign_id],
        )
        return [_submission(r) for r in rows]

    def latest_submission(self, campaign_id: str, code: str) -> Submission | None:
        row = self._row(
            "SELECT * FROM submissions WHERE campaign = ? AND department = ? "
            "ORDER BY version DESC LIMIT 1",
            [campaign_id, code],
        )
        return _submission(row) if row else None

    def accepted_submissions(self, campaign_id: str) -> list[Submission]:
        """Each department's accepted submission (with or without warnings), by department."""
        marks = ", ".join("?" * len(ACCEPTED))
        rows = self._rows(
            f"SELECT * FROM submissions WHERE campaign = ? AND status IN ({marks}) "
            "AND department IS NOT NULL ORDER BY department, version DESC",
            [campaign_id, *ACCEPTED],
        )
        seen: set[str] = set()
        out = []
        for row in rows:  # one per department even after a coordinator's re-acceptance
            if row["department"] not in seen:
                seen.add(row["department"])
                out.append(_submission(row))
        return out

    def rejection_count(self, campaign_id: str, code: str) -> int:
        row = self._row(
            "SELECT count(*) AS n FROM submissions WHERE campaign = ? AND department = ? "
            "AND status IN ('rejected', 'unreadable')",
            [campaign_id, code],
        )
        return int(row["n"]) if row else 0

    def values(self, submission_id: int) -> dict[str, Decimal | None]:
        """The cell values of a submission, exact (narrative codes excluded)."""
        rows = self._rows(
            "SELECT code, value FROM submission_values WHERE submission_id = ? "
            "AND code NOT LIKE 'narrative.%' ORDER BY rowid",
            [submission_id],
        )
        return {r["code"]: Decimal(r["value"]) if r["value"] is not None else None for r in rows}

    def issues(self, submission_id: int) -> list[StoredIssue]:
        rows = self._rows(
            "SELECT * FROM submission_issues WHERE submission_id = ? ORDER BY seq", [submission_id]
        )
        return [
            StoredIssue(
                submission_id=r["submission_id"],
                seq=r["seq"],
                rule=r["rule"],
                severity=r["severity"],
                codes=tuple(json.loads(r["codes"])),
                cells=tuple(json.loads(r["cells"])),
                message=r["message"],
            )
            for r in rows
        ]

    def report_from_submission(self, submission_id: int) -> Report:
        """The submission's values as a :class:`Report` again (for the merger, C1, templates)."""
        sub = self.submission(submission_id)
        if sub.form_id is None:
            raise StoreError("submission has no values (it was not read)", id=submission_id)
        form = load_form(sub.form_id)
        report = Report(
            form=form,
            year=sub.report_year,
            department=sub.department,
            campaign=sub.campaign,
            source=sub.archived_path or sub.file_name,
            method=sub.method,
        )
        row = self._row("SELECT missing FROM submissions WHERE id = ?", [submission_id])
        report.missing = list(json.loads(row["missing"])) if row else []
        narrative_codes = set(form.narrative_codes)
        for r in self._rows(
            "SELECT * FROM submission_values WHERE submission_id = ? ORDER BY rowid",
            [submission_id],
        ):
            code = r["code"]
            if code in narrative_codes or code.startswith("narrative."):
                report.narrative[code] = r["raw"] or ""
                continue
            report.entries[code] = Entry(
                code=code,
                raw=r["raw"],
                value=Decimal(r["value"]) if r["value"] is not None else None,
                notes=tuple(json.loads(r["notes"])),
                problem=r["problem"],
                cell=r["cell"],
            )
        return report

    def _previous_accepted(self, campaign_id: str, code: str) -> Submission | None:
        year = self.campaign(campaign_id).report_year
        marks = ", ".join("?" * len(ACCEPTED))
        row = self._row(
            "SELECT s.* FROM submissions s JOIN campaigns c ON c.id = s.campaign "
            f"WHERE c.report_year = ? AND s.department = ? AND s.status IN ({marks}) "
            "ORDER BY s.received_at DESC, s.id DESC LIMIT 1",
            [year - 1, code, *ACCEPTED],
        )
        return _submission(row) if row else None

    def previous_year_values(self, campaign_id: str, code: str) -> dict[str, Decimal]:
        """Last report year's accepted values of department ``code`` (empty when unknown).

        Used to pre-fill 二、上年结转 and for the cross-year warnings C1/C2.
        """
        sub = self._previous_accepted(campaign_id, code)
        if sub is None:
            return {}
        return {c: v for c, v in self.values(sub.id).items() if v is not None}

    def previous_year_report(self, campaign_id: str, code: str) -> Report | None:
        """Last report year's accepted submission of ``code`` as a Report (``previous=``)."""
        sub = self._previous_accepted(campaign_id, code)
        return self.report_from_submission(sub.id) if sub else None

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
        """Record a message taken from a mailbox; ``(message, new)``. Idempotent on ``key``."""
        with self._write() as db:
            row = self._row(
                "SELECT * FROM messages WHERE campaign = ? AND key = ?", [campaign_id, key]
            )
            if row is not None:
                return _message(row), False
            db.execute(
                "INSERT INTO messages (campaign, key, sha256, archived_path, message_id, subject, "
                "sender, received_at, outcome, department, workbooks, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    campaign_id,
                    key,
                    sha256,
                    str(archived_path) if archived_path is not None else None,
                    message_id,
                    subject,
                    sender,
                    self._now(received_at),
                    outcome,
                    department,
                    workbooks,
                    _json(dict(detail or {})),
                ],
            )
            row = self._row(
                "SELECT * FROM messages WHERE campaign = ? AND key = ?", [campaign_id, key]
            )
        assert row is not None
        return _message(row), True

    def messages(self, campaign_id: str, *, outcome: str | None = None) -> list[Message]:
        sql = "SELECT * FROM messages WHERE campaign = ?"
        params: list[Any] = [campaign_id]
        if outcome is not None:
            sql += " AND outcome = ?"
            params.append(outcome)
        return [_message(r) for r in self._rows(sql + " ORDER BY received_at, rowid", params)]

    def get_state(self, campaign_id: str, name: str) -> Any:
        """A named JSON value of the campaign (``None`` when never set)."""
        row = self._row(
            "SELECT value FROM state WHERE campaign = ? AND name = ?", [campaign_id, name]
        )
        return json.loads(row["value"]) if row else None

    def set_state(self, campaign_id: str, name: str, value: Any) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO state (campaign, name, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (campaign, name) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                [campaign_id, name, _json(value), self._now(None)],
            )

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
    ) -> Event:
        """Record that a step is about to happen, before doing it.

        New key: inserted as ``pending``. Existing key: returned as it is when ``done`` (the
        caller skips the step); otherwise (``pending`` after a crash, or ``failed``) it is set
        back to ``pending`` with one more attempt and ``detail`` merged into its detail (who is
        sending it now). ``previous_status`` tells which case it was.
        """
        with self._write() as db:
            row = self._row(
                "SELECT * FROM events WHERE campaign = ? AND key = ?", [campaign_id, key]
            )
            if row is None:
                db.execute(
                    "INSERT INTO events (campaign, key, kind, department, status, detail, "
                    "attempts, created_at) VALUES (?, ?, ?, ?, 'pending', ?, 1, ?)",
                    [campaign_id, key, kind, department, _json(dict(detail or {})), self._now(at)],
                )
                previous = None
            else:
                previous = row["status"]
                if previous != "done":
                    merged = {**json.loads(row["detail"]), **dict(detail or {})}
                    db.execute(
                        "UPDATE events SET status = 'pending', attempts = attempts + 1, "
                        "detail = ? WHERE campaign = ? AND key = ?",
                        [_json(merged), campaign_id, key],
                    )
            row = self._row(
                "SELECT * FROM events WHERE campaign = ? AND key = ?", [campaign_id, key]
            )
        assert row is not None
        return _event(row, previous)

    def finish_event(
        self,
        campaign_id: str,
        key: str,
        *,
        status: Literal["done", "failed"] = "done",
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> Event:
        """Record the outcome of a step (``detail`` is merged into the event's detail)."""
        if status not in ("done", "failed"):
            raise StoreError(f"an event finishes 'done' or 'failed', not {status!r}")
        with self._write() as db:
            row = self._row(
                "SELECT * FROM events WHERE campaign = ? AND key = ?", [campaign_id, key]
            )
            if row is None:
                raise StoreError("no such event (begin_event first)", campaign=campaign_id, key=key)
            merged = {**json.loads(row["detail"]), **dict(detail or {})}
            db.execute(
                "UPDATE events SET status = ?, detail = ?, done_at = ? "
                "WHERE campaign = ? AND key = ?",
                [status, _json(merged), self._now(at), campaign_id, key],
            )
            row = self._row(
                "SELECT * FROM events WHERE campaign = ? AND key = ?", [campaign_id, key]
            )
        assert row is not None
        return _event(row)

    def event(self, campaign_id: str, key: str) -> Event | None:
        row = self._row("SELECT * FROM events WHERE campaign = ? AND key = ?", [campaign_id, key])
        return _event(row) if row else None

    def event_done(self, campaign_id: str, key: str) -> bool:
        event = self.event(campaign_id, key)
        return event is not None and event.status == "done"

    def events(
        self,
        campaign_id: str,
        *,
        department: str | None = None,
        kind: str | None = None,
        status: EventStatus | None = None,
    ) -> list[Event]:
        """Events in the order they were begun; ``kind`` matches a prefix (``"reminder."``)."""
        sql = "SELECT * FROM events WHERE campaign = ?"
        params: list[Any] = [campaign_id]
        if department is not None:
            sql += " AND department = ?"
            params.append(department)
        if kind is not None:
            sql += " AND (kind = ? OR kind LIKE ? ESCAPE '\\')"
            escaped = kind.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params += [kind, escaped + "%" if kind.endswith(".") else escaped + ".%"]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        return [_event(r) for r in self._rows(sql + " ORDER BY created_at, rowid", params)]

    # -- the coordinator's view -----------------------------------------------------------

    def department_states(
        self,
        campaign_id: str,
        *,
        due: Mapping[str, date] | None = None,
        zone: tzinfo | None = None,
        today: date | None = None,
    ) -> list[DepartmentState]:
        """One row per active department: its state, last action and due date.

        ``due`` overrides the campaign deadline per department (e.g. townships); ``zone`` is
        the campaign's time zone (lateness is counted in its days); ``today`` (a date in that
        zone) counts the days a department not yet accepted is overdue.
        """
        campaign = self.campaign(campaign_id)
        departments = self._rows(
            "SELECT code, name, kind FROM departments WHERE campaign = ? AND active = 1 "
            "ORDER BY rowid",
            [campaign_id],
        )
        subs: dict[str, list[dict[str, Any]]] = {}
        for row in self._rows(
            "SELECT id, department, version, status, received_at, decided_at FROM submissions "
            "WHERE campaign = ? AND department IS NOT NULL ORDER BY version",
            [campaign_id],
        ):
            subs.setdefault(row["department"], []).append(row)
        events: dict[str, list[dict[str, Any]]] = {}
        for row in self._rows(
            "SELECT department, kind, status, created_at, done_at FROM events "
            "WHERE campaign = ? AND department IS NOT NULL ORDER BY created_at, rowid",
            [campaign_id],
        ):
            events.setdefault(row["department"], []).append(row)
        states = []
        for dept in departments:
            code = dept["code"]
            deadline = (due or {}).get(code, campaign.deadline)
            versions = subs.get(code, [])
            done = [e for e in events.get(code, []) if e["status"] == "done"]
            effects = [(e, effect_of(e["kind"])) for e in done]
            escalations = sum(1 for _, effect in effects if effect is Effect.ESCALATES)
            invitations = [e for e, effect in effects if effect is Effect.INVITES]
            latest = versions[-1] if versions else None
            if latest and latest["status"] in ACCEPTED:
                state = latest["status"]
            elif escalations:
                state = "escalated"
            elif latest and latest["status"] in ("rejected", "unreadable"):
                state = "rejected"
            elif latest:
                state = "received"
            elif invitations:
                state = "sent"
            else:
                state = "not_sent"
            late = overdue = 0
            if deadline is not None and state in ACCEPTED:
                # the first version that counted: a later correction does not make it late
                first = next(v for v in versions if v["status"] in (*ACCEPTED, "superseded"))
                late = days_late(_dt(first["received_at"]), deadline, zone)  # type: ignore[arg-type]
            elif deadline is not None and today is not None and state != "not_sent":
                overdue = days_late(today, deadline)
            actions: list[tuple[str, str]] = [
                (e["done_at"] or e["created_at"], e["kind"]) for e in done
            ]
            for v in versions:
                actions.append((v["received_at"], f"submission v{v['version']} received"))
                if v["decided_at"]:
                    actions.append((v["decided_at"], f"submission v{v['version']} {v['status']}"))
            last = max(actions) if actions else None
            invited = invitations[0] if invitations else None
            states.append(
                DepartmentState(
                    code=code,
                    name=dept["name"],
                    kind=dept["kind"],
                    state=state,
                    last_action=last[1] if last else None,
                    last_action_at=_dt(last[0]) if last else None,
                    due=deadline,
                    submission_id=latest["id"] if latest else None,
                    version=latest["version"] if latest else None,
                    rejections=sum(
                        1 for v in versions if v["status"] in ("rejected", "unreadable")
                    ),
                    escalations=escalations,
                    late_days=late,
                    overdue_days=overdue,
                    invited_at=_dt(invited["done_at"] or invited["created_at"])
                    if invited
                    else None,
                    versions=len(versions),
                )
            )
        return states


def _token(secret: str, campaign_id: str, code: str) -> str:
    message = f"{campaign_id}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:16]


__all__ = [
    "ACCEPTED",
    "STATE_LABELS",
    "SUBMISSION_STATUSES",
    "Campaign",
    "DepartmentState",
    "Event",
    "Message",
    "Store",
    "StoredIssue",
    "Submission",
    "content_hash",
    "decimal_text",
    "file_hash",
    "migrations",
]
