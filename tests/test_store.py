"""The state database on a real SQLite file."""

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlite_utils import Database

from annual_report.campaign.registry import Department, Registry
from annual_report.errors import StoreError, WorkbookError
from annual_report.form.model import load_form
from annual_report.report import Report
from annual_report.store.sqlite import Store, content_hash, migrations
from annual_report.validation.core import Issue, Validation

FORM = load_form("gov-disclosure-2021")
FEE = "proactive.admin_fees.amount_wan_yuan"
T0 = datetime(2022, 1, 10, 1, 0, tzinfo=UTC)


def registry() -> Registry:
    def dept(code, kind="department", **extra):
        return Department(
            code=code, name=f"宜春市{code}", kind=kind, email=f"{code.lower()}@yc.example", **extra
        )

    return Registry(
        city="宜春市",
        departments=(
            dept("SZF", "government", can_make_rules=True, reports_for_government=True),
            dept("RSJ", leader_email="boss@yc.example"),
            dept("ZRZYJ"),
            dept("ZSS", "county", covers=("ZSLJZ",)),
            dept("ZSLJZ", "township"),
        ),
    )


def report(department="RSJ", fee="72701.2578", new_total="3525", year=2021) -> Report:
    rep = Report(form=FORM, year=year, department=department, method="defined-names")
    rep.set_raw(FEE, fee, "'二、主动公开政府信息情况'!C15")
    rep.set_raw("requests.new_received.total", new_total, "'三、收到和处理政府信息公开申请情况'!J5")
    rep.set_raw("requests.carried_to_next_year.total", "12")
    rep.set_raw("proactive.licensing.decisions", "1573179")
    rep.set_raw("requests.new_received.natural_person", "")  # blank: 0 with a note
    rep.narrative["narrative.other_matters"] = "本机关无收取信息处理费情况。"
    rep.missing = ["五、存在的主要问题及改进情况"]
    return rep


def validation(rep: Report, errors: int = 0, warnings: int = 0) -> Validation:
    issues = [
        Issue("R1", "error", ("requests.new_received.total",), ("'三'!J5",), f"错误{i}")
        for i in range(errors)
    ]
    issues += [Issue("N1", "warning", (FEE,), ("'二'!C15",), f"警告{i}") for i in range(warnings)]
    return Validation(rep, issues)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state" / "nianbao.db", clock=lambda: T0)
    s.create_campaign("2021", 2021, deadline=date(2022, 1, 26), registry=registry())
    yield s
    s.close()


def record(store, data: bytes, department="RSJ", **kw):
    kw.setdefault("validation", validation(report(department)))
    return store.record_submission(
        "2021", sha256=content_hash(data), source="cli", department=department, **kw
    )


# -- opening and migrations -------------------------------------------------------------------


def test_a_new_file_is_created_migrated_and_reopened(tmp_path):
    path = tmp_path / "a.db"
    with Store(path) as first:
        assert first.applied_migrations() == migrations.names
        assert first.db.journal_mode == "wal"
        assert {"campaigns", "departments", "submissions", "submission_values"} <= set(
            first.db.table_names()
        )
        assert first.db["migrations"].count == len(migrations.names)
    with Store(path) as again:  # idempotent: nothing applied twice
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
    with Store(path) as store:
        assert store.applied_migrations() == migrations.names
        assert "events_by_department" in {i.name for i in store.db["events"].indexes}
        assert store.campaign("2020").report_year == 2020  # data kept


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO migrations (migration_set, name, applied_at) "
            "VALUES ('nianbao', '0099_future', 'x')"
        )
    with pytest.raises(StoreError, match="newer nianbao"):
        Store(path)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="cannot open the state database") as caught:
        Store(path)
    assert caught.value.context["path"] == str(path)


def test_a_closed_store_says_so(tmp_path):
    store = Store(tmp_path / "c.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.campaigns()


# -- campaigns and departments ----------------------------------------------------------------


def test_campaign_creation_is_idempotent(store):
    first = store.campaign("2021")
    again = store.create_campaign("2021", 2021, registry=registry())
    assert again == first
    assert first.form_id == "gov-disclosure-2021" and first.city == "宜春市"
    assert len(first.secret) == 64
    assert store.ensure_campaign("2021", 2021) == "2021"
    moved = store.create_campaign("2021", 2021, deadline=date(2022, 1, 28))
    assert moved.deadline == date(2022, 1, 28) and moved.secret == first.secret
    with pytest.raises(StoreError, match="another report year"):
        store.create_campaign("2021", 2022)
    assert [c.id for c in store.campaigns()] == ["2021"]


def test_department_snapshot_and_tokens(store):
    depts = store.departments("2021")
    assert [d.code for d in depts] == ["SZF", "RSJ", "ZRZYJ", "ZSS", "ZSLJZ"]
    assert store.registry("2021") == registry()
    smaller = Registry(city="宜春市", departments=registry().departments[:2])
    store.snapshot_departments("2021", smaller)
    assert [d.code for d in store.departments("2021")] == ["SZF", "RSJ"]
    assert len(store.departments("2021", active_only=False)) == 5

    token = store.department_token("2021", "RSJ")
    assert len(token) == 16 and int(token, 16) >= 0
    assert token == store.department_token("2021", "RSJ")
    assert token != store.department_token("2021", "SZF")
    assert store.department_for_token("2021", token) == "RSJ"
    assert store.department_for_token("2021", f" {token.upper()} ") == "RSJ"
    assert store.department_for_token("2021", "0" * 16) is None
    assert store.department_for_token("2021", None) is None


# -- submissions ----------------------------------------------------------------------------


def test_recording_the_same_file_twice_gives_one_row(store):
    first = record(store, b"file one")
    again = record(store, b"file one", validation=validation(report(fee="1")))
    assert first.new and not again.new
    assert again.id == first.id and again.version == 1
    assert store.db["submissions"].count == 1
    assert store.db.execute("SELECT count(*) FROM submission_values").fetchone()[0] == 6


def test_versions_increment_and_supersede(store):
    v1 = record(store, b"v1")
    v2 = record(store, b"v2", validation=validation(report(), errors=2))
    v3 = record(store, b"v3", validation=validation(report(), warnings=1))
    other = record(store, b"zr", department="ZRZYJ")
    assert (v1.version, v2.version, v3.version, other.version) == (1, 2, 3, 1)
    assert [s.status for s in store.submissions("2021", "RSJ")] == [
        "superseded",
        "rejected",
        "accepted_with_warnings",
    ]
    assert v2.error_count == 2 and v3.warning_count == 1
    assert store.latest_submission("2021", "RSJ").id == v3.id
    assert store.latest_submission("2021", "SZF") is None
    assert [s.id for s in store.accepted_submissions("2021")] == [v3.id, other.id]
    assert store.rejection_count("2021", "RSJ") == 1


def test_values_are_exact_text_and_rebuild_the_report(store):
    sub = record(store, b"exact")
    rows = store.db.execute(
        "SELECT value, typeof(value) FROM submission_values WHERE code = ?", [FEE]
    ).fetchall()
    assert rows == [("72701.2578", "text")]
    assert store.values(sub.id)[FEE] == Decimal("72701.2578")
    assert store.values(sub.id)["proactive.licensing.decisions"] == Decimal(1573179)

    original = report()
    rebuilt = store.report_from_submission(sub.id)
    assert rebuilt.form is FORM and rebuilt.year == 2021 and rebuilt.department == "RSJ"
    assert rebuilt.values() == original.values()
    assert rebuilt.entries == original.entries  # raw text, notes, cell references
    assert rebuilt.narrative == original.narrative
    assert rebuilt.missing == original.missing
    assert [i.message for i in store.issues(sub.id)] == []

    warned = record(store, b"warned", validation=validation(report(), warnings=2))
    issues = store.issues(warned.id)
    assert [(i.seq, i.rule, i.severity, i.codes, i.cells) for i in issues] == [
        (1, "N1", "warning", (FEE,), ("'二'!C15",)),
        (2, "N1", "warning", (FEE,), ("'二'!C15",)),
    ]


def test_a_failure_in_the_middle_leaves_nothing_half_written(store, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Store, "_insert_issues", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        record(store, b"doomed")
    assert store.db["submissions"].count == 0
    assert store.db["submission_values"].count == 0
    assert not store.db.conn.in_transaction
    monkeypatch.undo()
    again = record(store, b"doomed")
    assert again.new and again.version == 1
    assert store.db["submission_values"].count == 6


def test_unreadable_and_unmatched_files(store):
    failure = WorkbookError("zip member too large", "文件过大，无法读取", kind="too-large")
    bad = store.record_submission(
        "2021", sha256=content_hash(b"bomb"), source="imap:1:7", failure=failure, sender="x@y.cn"
    )
    assert (bad.status, bad.department, bad.version) == ("unreadable", None, None)
    assert (bad.failure_kind, bad.failure_reason_zh) == ("too-large", "文件过大，无法读取")
    with pytest.raises(StoreError, match="no values"):
        store.report_from_submission(bad.id)

    stray = store.record_submission(
        "2021",
        sha256=content_hash(b"stray"),
        source="maildir:cur/1",
        validation=validation(report()),
        status="quarantined",
    )
    assert stray.status == "quarantined" and stray.department is None
    record(store, b"first RSJ")
    matched = store.assign_department(stray.id, "RSJ", status="accepted")
    assert (matched.department, matched.version, matched.status) == ("RSJ", 2, "accepted")
    assert store.submissions("2021", "RSJ")[0].status == "superseded"
    with pytest.raises(StoreError, match="not in the campaign"):
        record(store, b"who", department="NOPE")


def test_coordinator_decisions_and_explanations(store):
    sub = record(store, b"w", validation=validation(report(), warnings=1))
    sub = store.set_explanation(sub.id, "本年度机构改革，上年结转数据口径调整。")
    assert sub.explanation.startswith("本年度机构改革")
    returned = store.decide(sub.id, "rejected", by="coordinator", note="请补充说明")
    assert (returned.status, returned.decided_by, returned.decision_note) == (
        "rejected",
        "coordinator",
        "请补充说明",
    )
    assert store.accepted_submissions("2021") == []
    accepted = store.decide(sub.id, "accepted", by="coordinator")
    assert accepted.status == "accepted" and accepted.decided_at == T0
    bad = record(store, b"e", validation=validation(report(), errors=1))
    with pytest.raises(StoreError, match="errors cannot be accepted"):
        store.decide(bad.id, "accepted", by="coordinator")
    with pytest.raises(StoreError, match="superseded"):
        store.decide(sub.id, "accepted", by="coordinator")


def test_previous_year_values(store):
    store.create_campaign("2020", 2020, registry=registry())
    old = Report(form=load_form("gov-disclosure-2019"), year=2020, department="RSJ")
    old.set_raw("requests.carried_to_next_year.total", "7")
    old.set_raw("requests.carried_to_next_year.natural_person", "7")
    store.record_submission(
        "2020",
        sha256=content_hash(b"2020"),
        source="cli",
        department="RSJ",
        validation=Validation(old, []),
    )
    values = store.previous_year_values("2021", "RSJ")
    assert values["requests.carried_to_next_year.total"] == Decimal(7)
    assert store.previous_year_values("2021", "ZRZYJ") == {}
    assert store.previous_year_values("2020", "RSJ") == {}
    prior = store.previous_year_report("2021", "RSJ")
    assert prior is not None and prior.form.id == "gov-disclosure-2019" and prior.year == 2020


# -- events ---------------------------------------------------------------------------------


def test_events_are_recorded_before_and_after(store):
    ev = store.begin_event("2021", "invitation:RSJ", kind="sent.invitation", department="RSJ")
    assert (ev.status, ev.previous_status, ev.attempts) == ("pending", None, 1)
    assert not store.event_done("2021", "invitation:RSJ")
    # a crash here, then the flow runs again: the step is found pending, one more attempt
    again = store.begin_event("2021", "invitation:RSJ", kind="sent.invitation", department="RSJ")
    assert (again.status, again.previous_status, again.attempts) == ("pending", "pending", 2)
    done = store.finish_event(
        "2021", "invitation:RSJ", detail={"message_id": "<a@yc.example>"}, at=T0
    )
    assert done.status == "done" and done.detail == {"message_id": "<a@yc.example>"}
    assert store.event_done("2021", "invitation:RSJ")
    skip = store.begin_event("2021", "invitation:RSJ", kind="sent.invitation", department="RSJ")
    assert (skip.status, skip.previous_status, skip.attempts) == ("done", "done", 2)
    assert store.db["events"].count == 1

    store.begin_event("2021", "reminder.1:ZRZYJ", kind="reminder.1", department="ZRZYJ")
    failed = store.finish_event("2021", "reminder.1:ZRZYJ", status="failed", detail={"e": "550"})
    assert failed.status == "failed"
    retry = store.begin_event("2021", "reminder.1:ZRZYJ", kind="reminder.1", department="ZRZYJ")
    assert (retry.status, retry.previous_status, retry.detail) == (
        "pending",
        "failed",
        {"e": "550"},
    )
    assert [e.key for e in store.events("2021", kind="reminder")] == ["reminder.1:ZRZYJ"]
    assert [e.key for e in store.events("2021", kind="sent.")] == ["invitation:RSJ"]
    assert [e.key for e in store.events("2021", department="RSJ", status="done")] == [
        "invitation:RSJ"
    ]
    with pytest.raises(StoreError, match="begin_event first"):
        store.finish_event("2021", "never:begun")


def test_department_states(store):
    day = timedelta(days=1)
    for code in ("RSJ", "ZRZYJ", "ZSS", "ZSLJZ"):
        key = f"invitation:{code}"
        store.begin_event("2021", key, kind="sent.invitation", department=code, at=T0)
        store.finish_event("2021", key, at=T0)
    record(store, b"rsj", received_at=T0 + 2 * day)
    record(
        store,
        b"zr",
        department="ZRZYJ",
        validation=validation(report("ZRZYJ"), errors=1),
        received_at=T0 + 3 * day,
    )
    record(
        store,
        b"ljz",
        department="ZSLJZ",
        validation=validation(report("ZSLJZ"), warnings=1),
        received_at=T0 + day,
    )
    store.begin_event("2021", "escalation.leader:ZSS:1", kind="escalation.leader", department="ZSS")
    store.finish_event("2021", "escalation.leader:ZSS:1", at=T0 + 20 * day)

    states = {s.code: s for s in store.department_states("2021", due={"ZSLJZ": date(2022, 2, 20)})}
    assert {c: s.state for c, s in states.items()} == {
        "SZF": "not_sent",
        "RSJ": "accepted",
        "ZRZYJ": "rejected",
        "ZSS": "escalated",
        "ZSLJZ": "accepted_with_warnings",
    }
    assert states["ZSS"].label == "已督办" and states["SZF"].label == "未发送"
    assert states["ZSS"].last_action == "escalation.leader"
    assert states["ZSS"].last_action_at == T0 + 20 * day and states["ZSS"].escalations == 1
    assert states["ZRZYJ"].last_action == "submission v1 received"
    assert states["ZRZYJ"].rejections == 1 and states["ZRZYJ"].version == 1
    assert states["RSJ"].due == date(2022, 1, 26) and states["ZSLJZ"].due == date(2022, 2, 20)
    assert states["SZF"].last_action is None and states["SZF"].submission_id is None


# -- threads --------------------------------------------------------------------------------


def test_the_store_is_used_from_many_threads(store):
    barrier = threading.Barrier(8)

    def work(i: int):
        barrier.wait()
        sub = record(store, f"file {i % 4}".encode())  # four distinct files, each sent twice
        ev = store.begin_event("2021", "invitation:RSJ", kind="sent.invitation", department="RSJ")
        return sub.id, ev.key, threading.get_ident()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    assert len({thread for _, _, thread in results}) > 1
    subs = store.submissions("2021", "RSJ")
    assert sorted(s.version for s in subs) == [1, 2, 3, 4]
    assert len({s.sha256 for s in subs}) == 4
    assert store.db["events"].count == 1
    assert store.event("2021", "invitation:RSJ").attempts == 8
    # connections of finished threads are closed and forgotten when new ones open
    t = threading.Thread(target=lambda: store.campaign("2021"))
    t.start()
    t.join()
    assert len(store._connections) <= 3


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
    with Store(path) as store:
        (sub,) = store.submissions("2021")
        assert sub.status == "quarantined"
        assert (sub.match_reason_zh, sub.suggested_department) == (None, None)
