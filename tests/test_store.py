"""What only the SQLite store has: its file, its migrations, its connections, its query plans.

The behaviour every store owes is tested against the interface in ``test_store_contract.py``.
"""

import pickle
import shutil
import sqlite3
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlite_utils import Database
from storekit import FEE, T0, record, registry, report, validation

from annual_report.campaign.registry import Registry
from annual_report.campaign.states import department_states
from annual_report.errors import StoreError
from annual_report.store import open_store
from annual_report.store.base import Store as StoreInterface
from annual_report.store.migrations import migrations
from annual_report.store.sqlite import SQLiteStore

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "state" / "nianbao.db", clock=lambda: T0)
    s.create_campaign("2021", 2021, deadline=date(2022, 1, 26), registry=registry())
    yield s
    s.close()


def test_open_store_gives_the_sqlite_implementation_of_the_interface(tmp_path):
    with open_store(tmp_path / "a.db") as store:
        assert isinstance(store, SQLiteStore) and isinstance(store, StoreInterface)


# -- opening and migrations -------------------------------------------------------------------


def test_a_new_file_is_created_migrated_and_reopened(tmp_path):
    path = tmp_path / "a.db"
    with open_store(path) as first:
        assert first.applied_migrations() == migrations.names
        assert first.db.journal_mode == "wal"
        assert {"campaigns", "departments", "submissions", "submission_values"} <= set(
            first.db.table_names()
        )
        assert first.db["migrations"].count == len(migrations.names)
    with open_store(path) as again:  # idempotent: nothing applied twice
        assert again.db["migrations"].count == len(migrations.names)
        assert again.applied_migrations() == migrations.names


def test_an_old_database_is_migrated_on_open(tmp_path):
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="0002_lookup_indexes")
    db.execute(
        "INSERT INTO campaigns (id, report_year, form_id, secret, created_at) "
        "VALUES ('2020', 2020, 'gov-disclosure-2019', 's', '2021-01-01T00:00:00+00:00')"
    )
    db.conn.commit()
    assert "events_by_department" not in {i.name for i in db["events"].indexes}
    db.close()
    with open_store(path) as store:
        assert store.applied_migrations() == migrations.names
        assert "0003_messages_and_state" in store.applied_migrations()
        assert "events_by_department" in {i.name for i in store.db["events"].indexes}
        assert store.campaign("2020").report_year == 2020  # data kept
        assert store.messages("2020") == []  # the tables of 0003


def test_a_database_written_before_the_seam_opens_with_everything_in_it(tmp_path):
    """``nianbao-0005.db`` was written by nianbao 5da61c1 (``make_store_0005.py``): opened now,
    it migrates and reads back every campaign, unit, version, value, issue, event and message
    as it was."""
    path = tmp_path / "nianbao.db"
    shutil.copy(FIXTURES / "nianbao-0005.db", path)
    with open_store(path) as store:
        assert store.applied_migrations() == migrations.names
        campaign = store.campaign("2021")
        assert (campaign.report_year, campaign.deadline, campaign.city) == (
            2021,
            date(2022, 1, 26),
            "宜春市",
        )
        reg = store.registry("2021")
        assert reg.codes == ("SZF", "RSJ", "ZSS", "ZSLJZ")
        assert reg["RSJ"].contact.name == "张三" and reg["RSJ"].contact.phone == "0795-3201234"
        assert reg["ZSS"].covers == ("ZSLJZ",) and reg["SZF"].can_make_rules
        token = store.department_token("2021", "RSJ")
        assert store.department_for_token("2021", token) == "RSJ"

        v1, v2 = store.submissions("2021", "RSJ")
        assert (v1.version, v1.status, v1.error_count, v1.file_name) == (
            1,
            "rejected",
            1,
            "人社局.xlsx",
        )
        assert (v2.status, v2.decided_by, v2.decision_note, v2.explanation) == (
            "accepted",
            "coordinator",
            "同意",
            "已核实",
        )
        assert v2.decided_at == datetime(2022, 1, 13, 1, 0, tzinfo=UTC)
        assert store.values(v2.id)[FEE] == Decimal("72701.2578")
        assert store.values(v1.id)[FEE] == Decimal("72701257.8")
        rebuilt = store.report_from_submission(v2.id)
        assert rebuilt.missing == ["五、存在的主要问题及改进情况"]
        assert rebuilt.narrative["narrative.other_matters"] == "本机关无收取信息处理费情况。"
        assert rebuilt.entries["requests.new_received.natural_person"].notes
        assert [(i.rule, i.message) for i in store.issues(v1.id)] == [("C7", "单位疑为元")]

        stray, bomb = store.unassigned("2021")
        assert (stray.status, stray.suggested_department, stray.match_reason_zh) == (
            "quarantined",
            "ZSS",
            "发件人不符",
        )
        assert stray.sender_notice_zh == "文件已转协调人确认"
        assert (bomb.status, bomb.failure_kind, bomb.failure_reason_zh) == (
            "unreadable",
            "too-large",
            "文件过大，无法读取",
        )
        (message,) = store.messages("2021")
        assert (message.outcome, message.detail) == ("no_workbook", {"问题": ["无附件"]})
        assert store.get_state("2021", "cursor:imap") == {"uidvalidity": 7, "last_uid": 5}
        assert len(store.events("2021", kind="sent.")) == 4
        # the thread index of migration 0006 covers the events written before it
        found = store.event_by_message_id("2021", "<inv-zss@yc.example>")
        assert found is not None and found.department == "ZSS"
        states = {s.code: s.state for s in department_states(store, "2021")}
        assert states == {"SZF": "sent", "RSJ": "accepted", "ZSS": "sent", "ZSLJZ": "sent"}
        # and it keeps working: a new version on top of the old ones
        v3 = record(store, b"rsj v3")
        assert v3.version == 3 and store.submission(v2.id).status == "superseded"


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.db"
    open_store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO migrations (migration_set, name, applied_at) "
            "VALUES ('nianbao', '0099_future', 'x')"
        )
    with pytest.raises(StoreError, match="newer nianbao"):
        open_store(path)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="cannot open the state database") as caught:
        open_store(path)
    assert caught.value.context["path"] == str(path)


def test_a_database_that_is_not_nianbaos_is_a_store_error(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE campaigns (name TEXT)")
    with pytest.raises(StoreError, match="cannot open the state database"):
        open_store(path)


def test_a_failed_read_is_a_store_error_not_the_drivers(store):
    record(store, b"rsj")
    with sqlite3.connect(store.path) as conn:  # someone else damages the file
        conn.execute("DROP TABLE submission_issues")
        conn.execute("DROP TABLE submission_values")
    with pytest.raises(StoreError, match="database read failed") as caught:
        store.accepted_values("2021", [FEE])
    assert caught.value.context["path"] == str(store.path)
    with pytest.raises(StoreError, match="database read failed"):
        store.unit_years("RSJ", 2020, 2021)


def test_submissions_of_a_0003_database_gain_the_match_columns(tmp_path):
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="0004_match_reason")
    db.execute(
        "INSERT INTO campaigns (id, report_year, form_id, secret, created_at) "
        "VALUES ('2021', 2021, 'gov-disclosure-2021', 's', '2022-01-01T00:00:00+00:00')"
    )
    db.execute(
        "INSERT INTO submissions (campaign, sha256, received_at, source, status) "
        "VALUES ('2021', 'abc', '2022-01-05T00:00:00+00:00', 'cli', 'quarantined')"
    )
    db.conn.commit()
    db.close()
    with open_store(path) as store:
        (sub,) = store.submissions("2021")
        assert sub.status == "quarantined"
        assert (sub.match_reason_zh, sub.suggested_department) == (None, None)


# -- what is on disk --------------------------------------------------------------------------


def test_values_are_exact_text_on_disk(store):
    sub = record(store, b"exact")
    rows = store.db.execute(
        "SELECT value, typeof(value) FROM submission_values WHERE code = ? AND submission_id = ?",
        [FEE, sub.id],
    ).fetchall()
    assert rows == [("72701.2578", "text")]
    (received_at,) = store.db.execute(
        "SELECT received_at FROM submissions WHERE id = ?", [sub.id]
    ).fetchone()
    assert received_at == "2022-01-10T01:00:00+00:00"  # UTC text: text order is time order


def test_a_failure_in_the_middle_leaves_nothing_half_written(store, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SQLiteStore, "_insert_issues", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        record(store, b"doomed")
    assert store.db["submissions"].count == 0
    assert store.db["submission_values"].count == 0
    assert not store.db.conn.in_transaction
    monkeypatch.undo()
    again = record(store, b"doomed")
    assert again.new and again.version == 1
    assert store.db["submission_values"].count == 6


# -- connections ------------------------------------------------------------------------------


def test_connections_of_finished_threads_are_closed(store):
    for _ in range(6):
        t = threading.Thread(target=lambda: store.campaign("2021"))
        t.start()
        t.join()
    # each new connection closes and forgets those of threads that are gone
    assert len(store._pool) <= 2


def test_the_store_travels_as_its_path(tmp_path):
    with open_store(tmp_path / "p.db") as store:
        store.create_campaign("2021", 2021)
        copy = pickle.loads(pickle.dumps(store))
        try:
            assert isinstance(copy, SQLiteStore) and copy.path == store.path
            assert copy.campaign("2021") == store.campaign("2021")
        finally:
            copy.close()


# -- bounded per message ------------------------------------------------------------------------


def _statements(store, call):
    seen: list[str] = []
    store.db.conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        store.db.conn.set_trace_callback(None)
    return seen


def test_the_registry_and_the_tokens_are_read_once_per_snapshot(store):
    store.registry("2021")
    token = store.department_token("2021", "RSJ")
    store.department_for_token("2021", token)
    again = _statements(store, lambda: store.registry("2021"))
    again += _statements(store, lambda: store.department_for_token("2021", token))
    assert not [s for s in again if "departments" in s], again
    store.snapshot_departments(
        "2021", Registry(city="宜春市", departments=registry().departments[:2])
    )
    changed = _statements(store, lambda: store.registry("2021"))
    assert [s for s in changed if "departments" in s]


def test_an_event_is_found_by_message_id_through_its_index(store):
    store.begin_event("2021", "invitation:RSJ", kind="sent.invitation", department="RSJ")
    store.finish_event("2021", "invitation:RSJ", detail={"message_id": "<a@yc>"})
    plan = " | ".join(
        row[3]
        for row in store.db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM events "
            "WHERE campaign = ? AND json_extract(detail, '$.message_id') = ?",
            ["2021", "<a@yc>"],
        )
    )
    assert "events_by_message_id" in plan, plan
    assert store.event_by_message_id("2021", "<a@yc>").key == "invitation:RSJ"


def test_the_other_units_fees_are_one_query(store):
    record(store, b"rsj")
    record(store, b"zr", department="ZRZYJ", validation=validation(report("ZRZYJ")))
    seen = _statements(store, lambda: store.accepted_values("2021", [FEE]))
    assert len([s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]) == 1
