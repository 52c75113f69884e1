"""The SQLite schema, as the migrations that build it (sqlite-utils' registered migrations).

A database opened by :class:`~annual_report.store.sqlite.SQLiteStore` is brought up to date in
one ``BEGIN IMMEDIATE`` transaction; one written by a newer nianbao (a migration this version
does not know) is refused. Applied migrations are never edited: a change to the schema is a new
migration at the end, so every existing ``nianbao.db`` opens and migrates without losing data.
The DDL is SQLite's own (``STRICT`` tables, ``json_extract`` indexes): another database's store
keeps its schema beside its own implementation.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from annual_report.store.records import SUBMISSION_STATUSES


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


@migrations(name="0006_snapshot_and_threads")
def _snapshot_and_threads(db: Database) -> None:
    # The registry is served from memory per department snapshot: the snapshot's content hash,
    # written with it, tells every process when its copy is stale.
    db.execute("ALTER TABLE campaigns ADD COLUMN snapshot TEXT")
    # A unit's contact may give an e-mail address besides the name and phone (one Contact for
    # departments.yaml and mail.yaml): the snapshot keeps every field of the registry's record.
    db.execute("ALTER TABLE departments ADD COLUMN contact_email TEXT")
    # A reply is traced to the mail it answers by Message-ID: an index, not a scan of every
    # event of the campaign per message.
    db.execute(
        "CREATE INDEX IF NOT EXISTS events_by_message_id "
        "ON events(campaign, json_extract(detail, '$.message_id'))"
    )


@migrations(name="0007_office_levels")
def _office_levels(db: Database) -> None:
    # A unit may be an office one level down (county → city → province): its registry level,
    # and what its submission (its approved consolidated report) says besides the sums: which
    # office, the fingerprint of its content (the same report sent again is a duplicate, not a
    # new version) and every leaf unit it sums, so the next level consolidates and drills down.
    db.execute("ALTER TABLE departments ADD COLUMN level TEXT")
    db.execute(
        """CREATE TABLE office_reports (
            submission_id INTEGER PRIMARY KEY REFERENCES submissions(id),
            office_code TEXT,
            level TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            declared_hash TEXT,
            leaf_count INTEGER NOT NULL
        ) STRICT"""
    )
    db.execute("CREATE INDEX office_reports_by_hash ON office_reports(content_hash)")
    db.execute(
        """CREATE TABLE office_units (
            submission_id INTEGER NOT NULL REFERENCES submissions(id),
            seq INTEGER NOT NULL,
            code TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            path TEXT NOT NULL DEFAULT '[]',
            path_names TEXT NOT NULL DEFAULT '[]',
            identity TEXT NOT NULL,
            "values" TEXT NOT NULL,
            PRIMARY KEY (submission_id, seq)
        ) STRICT"""
    )
    # a unit reporting directly is looked up among the offices' units by its folded name
    db.execute("CREATE INDEX office_units_by_identity ON office_units(identity)")


__all__ = ["migrations"]
