"""The store's contract, written against the interface (``annual_report.store.base.Store``) and
run against every implementation in ``storekit.IMPLEMENTATIONS`` — today the SQLite file.

Nothing here reaches below the interface: a PostgreSQL store passes these tests or it is not a
store. What only SQLite has (migrations, WAL, the text of a value on disk, its connections) is
tested in ``test_store.py``.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storekit import FEE, FORM, IMPLEMENTATIONS, T0, record, registry, report, validation

from annual_report.campaign.matching import Match
from annual_report.campaign.registry import Registry
from annual_report.campaign.states import department_states
from annual_report.errors import StoreError, WorkbookError
from annual_report.form.model import load_form
from annual_report.report import Entry, Report
from annual_report.store.base import Store, content_hash
from annual_report.validation import Validation


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def opener(request, tmp_path):
    """Opens the implementation's store on this test's storage (again: a second handle)."""
    make = IMPLEMENTATIONS[request.param]
    opened: list[Store] = []

    def open_store(clock=lambda: T0) -> Store:
        store = make(tmp_path, clock)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(opener):
    s = opener()
    s.create_campaign("2021", 2021, deadline=date(2022, 1, 26), registry=registry())
    return s


def test_an_implementation_is_a_store_and_closes(opener):
    store = opener()
    assert isinstance(store, Store)
    with store:
        assert store.campaigns() == []
        assert store.now() == T0
    with pytest.raises(StoreError, match="closed"):
        store.campaigns()


# -- campaigns and departments ----------------------------------------------------------------


def test_campaign_creation_is_idempotent(store):
    first = store.campaign("2021")
    again = store.create_campaign("2021", 2021, registry=registry())
    assert again == first
    assert first.form_id == "gov-disclosure-2021" and first.city == "宜春市"
    assert first.created_at == T0 and first.status == "open"
    assert len(first.secret) == 64
    assert store.ensure_campaign("2021", 2021) == "2021"
    moved = store.create_campaign("2021", 2021, deadline=date(2022, 1, 28))
    assert moved.deadline == date(2022, 1, 28) and moved.secret == first.secret
    with pytest.raises(StoreError, match="another report year"):
        store.create_campaign("2021", 2022)
    assert [c.id for c in store.campaigns()] == ["2021"]
    store.set_campaign_status("2021", "closed")
    assert store.campaign("2021").status == "closed"
    with pytest.raises(StoreError, match="no such campaign"):
        store.campaign("1999")
    with pytest.raises(StoreError, match="no such campaign"):
        store.set_campaign_status("1999", "closed")


def test_department_snapshot_and_tokens(store):
    depts = store.departments("2021")
    assert [d.code for d in depts] == ["SZF", "RSJ", "ZRZYJ", "ZSS", "ZSLJZ"]
    assert store.registry("2021") == registry()
    smaller = Registry(city="宜春市", departments=registry().departments[:2])
    store.snapshot_departments("2021", smaller)
    assert [d.code for d in store.departments("2021")] == ["SZF", "RSJ"]
    assert len(store.departments("2021", active_only=False)) == 5
    assert store.registry("2021") == smaller

    token = store.department_token("2021", "RSJ")
    assert len(token) == 16 and int(token, 16) >= 0
    assert token == store.department_token("2021", "RSJ")
    assert token != store.department_token("2021", "SZF")
    assert store.department_for_token("2021", token) == "RSJ"
    assert store.department_for_token("2021", f" {token.upper()} ") == "RSJ"
    assert store.department_for_token("2021", "0" * 16) is None
    assert store.department_for_token("2021", None) is None
    # an inactive unit's template still says who sent it
    assert store.department_for_token("2021", store.department_token("2021", "ZSS")) == "ZSS"
    store.create_campaign("2022", 2022, registry=registry())
    assert store.token_owner(token) == ("2021", "RSJ")
    assert store.token_owner(store.department_token("2022", "ZSS")) == ("2022", "ZSS")
    assert store.token_owner("0" * 16) is None


def test_a_departments_fields_round_trip(store):
    (zss,) = [d for d in store.departments("2021") if d.code == "ZSS"]
    assert zss == registry()["ZSS"] and zss.covers == ("ZSLJZ",)
    szf = store.registry("2021")["SZF"]
    assert szf.can_make_rules and szf.reports_for_government and szf.kind == "government"
    assert store.registry("2021")["RSJ"].leader_email == "boss@yc.example"


def test_the_registry_follows_a_snapshot_taken_through_another_handle(store, opener):
    """The registry is served from memory per snapshot; a snapshot or a new city written by
    another process (here: another handle on the same storage) is seen at the next call."""
    first = store.registry("2021")
    assert store.registry("2021") is first  # the same snapshot: not rebuilt
    other = opener()
    other.snapshot_departments("2021", Registry(city="宜春市", departments=first.departments[1:]))
    assert store.registry("2021").codes == ("RSJ", "ZRZYJ", "ZSS", "ZSLJZ")
    other.create_campaign("2021", 2021, city="宜春")
    assert store.registry("2021").city == "宜春"
    again = store.registry("2021")
    other.create_campaign(
        "2021", 2021, registry=Registry(city="宜春", departments=again.departments)
    )
    assert store.registry("2021") == again  # the same snapshot once more: the same registry


# -- submissions ----------------------------------------------------------------------------


def test_recording_the_same_file_twice_gives_one_submission(store):
    first = record(store, b"file one")
    again = record(store, b"file one", validation=validation(report(fee="1")))
    assert first.new and not again.new
    assert again.id == first.id and again.version == 1
    assert store.submission(first.id) == again
    assert store.submission_by_hash("2021", content_hash(b"file one")) == again
    assert store.submission_by_hash("2021", content_hash(b"other")) is None
    assert [s.id for s in store.submissions("2021")] == [first.id]
    assert len(store.stored_values([first.id])) == 6
    assert store.values(first.id)[FEE] == Decimal("72701.2578")  # the first file's values


def test_what_a_submission_records(store):
    sub = record(
        store,
        b"with everything",
        file_name="人社局.xlsx",
        archived_path="/archive/1.eml",
        received_at=T0 + timedelta(hours=3),
        message_id="<m1@rsj.example>",
        sender="rsj@yc.example",
        explanation="说明",
    )
    assert (sub.campaign, sub.department, sub.version, sub.status) == ("2021", "RSJ", 1, "accepted")
    assert (sub.file_name, sub.archived_path, sub.source) == (
        "人社局.xlsx",
        "/archive/1.eml",
        "cli",
    )
    assert sub.received_at == T0 + timedelta(hours=3) and sub.received_at.tzinfo is not None
    assert (sub.message_id, sub.sender, sub.explanation) == (
        "<m1@rsj.example>",
        "rsj@yc.example",
        "说明",
    )
    assert (sub.form_id, sub.report_year, sub.method) == (
        "gov-disclosure-2021",
        2021,
        "defined-names",
    )
    assert sub.missing == ("五、存在的主要问题及改进情况",)
    assert (sub.decided_by, sub.decided_at, sub.failure_kind) == (None, None, None)


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
    assert [s.id for s in store.submissions("2021")] == [v1.id, v2.id, v3.id, other.id]
    # again while the submissions just read are current (a store may answer from them)
    assert [s.id for s in store.accepted_submissions("2021")] == [v3.id, other.id]


def test_values_are_exact_and_rebuild_the_report(store):
    sub = record(store, b"exact")
    assert store.values(sub.id)[FEE] == Decimal("72701.2578")
    assert store.values(sub.id)["proactive.licensing.decisions"] == Decimal(1573179)
    assert "narrative.other_matters" not in store.values(sub.id)
    stored = store.stored_values([sub.id])
    assert [v.code for v in stored][-1] == "narrative.other_matters"  # cells first, as read
    assert str(next(v.value for v in stored if v.code == FEE)) == "72701.2578"

    original = report()
    rebuilt = store.report_from_submission(sub.id)
    assert rebuilt.form is original.form and rebuilt.year == 2021 and rebuilt.department == "RSJ"
    assert rebuilt.values() == original.values()
    assert rebuilt.entries == original.entries  # raw text, notes, cell references
    assert rebuilt.narrative == original.narrative
    assert rebuilt.missing == original.missing
    assert store.issues(sub.id) == []

    warned = record(store, b"warned", validation=validation(report(), warnings=2))
    issues = store.issues(warned.id)
    assert [(i.seq, i.rule, i.severity, i.codes, i.cells, i.message) for i in issues] == [
        (1, "N1", "warning", (FEE,), ("'二'!C15",), "警告0"),
        (2, "N1", "warning", (FEE,), ("'二'!C15",), "警告1"),
    ]
    both = store.stored_values([warned.id, sub.id])
    assert [v.submission_id for v in both] == [sub.id] * 6 + [warned.id] * 6


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.decimals(
        min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=None
    ).filter(lambda d: d.is_finite() and -12 <= d.as_tuple().exponent <= 6)
)
def test_any_decimal_comes_back_exactly_as_it_went_in(store, value):
    rep = Report(form=FORM, year=2021, department="RSJ")
    rep.entries[FEE] = Entry(code=FEE, raw=str(value), value=value, notes=(), problem=None)
    sub = store.record_submission(
        "2021",
        sha256=content_hash(repr(value.as_tuple()).encode()),
        source="cli",
        validation=Validation(rep, []),
        status="quarantined",
    )
    back = store.values(sub.id)[FEE]
    assert back == value and back.as_tuple() == value.as_tuple()  # trailing zeros too


def test_unreadable_and_unmatched_files(store):
    failure = WorkbookError("zip member too large", "文件过大，无法读取", kind="too-large")
    bad = store.record_submission(
        "2021", sha256=content_hash(b"bomb"), source="imap:1:7", failure=failure, sender="x@y.cn"
    )
    assert (bad.status, bad.department, bad.version) == ("unreadable", None, None)
    assert (bad.failure_kind, bad.failure_reason, bad.failure_reason_zh) == (
        "too-large",
        "zip member too large",
        "文件过大，无法读取",
    )
    with pytest.raises(StoreError, match="no values"):
        store.report_from_submission(bad.id)

    held = Match(
        "RSJ", None, quarantined=True, reason="token of another unit", reason_zh="令牌不符"
    )
    stray = store.record_submission(
        "2021",
        sha256=content_hash(b"stray"),
        source="maildir:cur/1",
        validation=validation(report()),
        status="quarantined",
        match=held,
        sender_notice_zh="文件待确认",
    )
    assert stray.status == "quarantined" and stray.department is None
    assert (stray.match_reason, stray.match_reason_zh, stray.suggested_department) == (
        "token of another unit",
        "令牌不符",
        "RSJ",
    )
    assert stray.sender_notice_zh == "文件待确认"
    assert [s.id for s in store.unassigned("2021")] == [bad.id, stray.id]
    record(store, b"first RSJ")
    matched = store.assign_department(stray.id, "RSJ", status="accepted")
    assert (matched.department, matched.version, matched.status) == ("RSJ", 2, "accepted")
    assert store.submissions("2021", "RSJ")[0].status == "superseded"
    assert store.assign_department(stray.id, "RSJ") == matched  # again: unchanged
    assert [s.id for s in store.unassigned("2021")] == [bad.id]
    with pytest.raises(StoreError, match="another department"):
        store.assign_department(stray.id, "ZRZYJ")
    with pytest.raises(StoreError, match="not in the campaign"):
        record(store, b"who", department="NOPE")
    with pytest.raises(StoreError, match="not in the campaign"):
        store.assign_department(bad.id, "NOPE")
    with pytest.raises(StoreError, match="unknown submission status"):
        record(store, b"odd", status="lost")


def test_an_assignment_with_a_validation_replaces_the_issues(store):
    stray = store.record_submission(
        "2021",
        sha256=content_hash(b"stray"),
        source="cli",
        validation=validation(report(), errors=1),
        status="quarantined",
    )
    assert [i.rule for i in store.issues(stray.id)] == ["R1"]
    assigned = store.assign_department(
        stray.id, "ZRZYJ", validation=validation(report("ZRZYJ"), warnings=2)
    )
    assert (assigned.status, assigned.error_count, assigned.warning_count) == (
        "accepted_with_warnings",
        0,
        2,
    )
    assert [(i.seq, i.rule) for i in store.issues(stray.id)] == [(1, "N1"), (2, "N1")]


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
    with pytest.raises(StoreError, match="'accepted' or 'rejected'"):
        store.decide(bad.id, "superseded", by="coordinator")
    with pytest.raises(StoreError, match="no such submission"):
        store.submission(10_000)


# -- accepted reports across campaigns and years --------------------------------------------


def _old_report(code: str, carried: str) -> Validation:
    old = Report(form=load_form("gov-disclosure-2019"), year=2020, department=code)
    old.set_raw("requests.carried_to_next_year.total", carried)
    old.set_raw("requests.carried_to_next_year.natural_person", carried)
    return Validation(old, [])


def test_previous_year_values(store):
    store.create_campaign("2020", 2020, registry=registry())
    store.record_submission(
        "2020",
        sha256=content_hash(b"2020"),
        source="cli",
        department="RSJ",
        validation=_old_report("RSJ", "7"),
    )
    values = store.previous_year_values("2021", "RSJ")
    assert values["requests.carried_to_next_year.total"] == Decimal(7)
    assert store.previous_year_values("2021", "ZRZYJ") == {}
    assert store.previous_year_values("2020", "RSJ") == {}
    prior = store.previous_year_report("2021", "RSJ")
    assert prior is not None and prior.form.id == "gov-disclosure-2019" and prior.year == 2020
    assert store.previous_year_report("2021", "ZRZYJ") is None


def test_the_accepted_report_of_a_year_is_the_latest_across_its_campaigns(store):
    store.create_campaign("2020", 2020, registry=registry())
    store.create_campaign("2020-text", 2020, registry=registry())
    collected = store.record_submission(
        "2020",
        sha256=content_hash(b"collected"),
        source="cli",
        department="RSJ",
        validation=_old_report("RSJ", "7"),
        received_at=T0 - timedelta(days=300),
    )
    published = store.record_submission(
        "2020-text",
        sha256=content_hash(b"published"),
        source="text",
        department="RSJ",
        validation=_old_report("RSJ", "9"),
        received_at=T0 - timedelta(days=200),
    )
    store.record_submission(
        "2020",
        sha256=content_hash(b"rejected later"),
        source="cli",
        department="RSJ",
        validation=Validation(_old_report("RSJ", "1").report, []),
        status="rejected",
        received_at=T0 - timedelta(days=100),
    )
    assert store.accepted_in_year("RSJ", 2020).id == published.id
    assert store.accepted_in_year("RSJ", 2019) is None
    assert store.previous_year_values("2021", "RSJ")["requests.carried_to_next_year.total"] == 9
    this_year = record(store, b"2021 RSJ")
    by_year = store.accepted_by_year()
    assert {y: [s.id for s in subs] for y, subs in by_year.items()} == {
        2020: [published.id],
        2021: [this_year.id],
    }
    assert list(store.accepted_by_year([2021])) == [2021]
    assert store.accepted_by_year([1999]) == {}
    years = store.unit_years("RSJ", 2019, 2021)
    assert sorted(years) == [2020, 2021]
    assert years[2020][0] == "gov-disclosure-2019"
    assert years[2020][1]["requests.carried_to_next_year.total"] == Decimal(9)
    assert years[2021][1][FEE] == Decimal("72701.2578")
    assert all(not c.startswith("narrative.") for c in years[2021][1])
    assert store.unit_years("RSJ", 2021, 2021).keys() == {2021}
    assert store.unit_years("ZRZYJ", 2019, 2021) == {}
    assert collected.id not in {s.id for subs in by_year.values() for s in subs}


def test_the_other_units_values_in_one_call(store):
    record(store, b"rsj v1", validation=validation(report(fee="1.5")))
    record(store, b"rsj v2", validation=validation(report(fee="2.50")))  # supersedes v1
    record(store, b"zr", department="ZRZYJ", validation=validation(report("ZRZYJ", fee="3")))
    record(store, b"zss", department="ZSS", validation=validation(report("ZSS"), errors=1))
    blank = report("SZF")
    blank.set_raw(FEE, "")
    record(store, b"szf", department="SZF", validation=validation(blank))
    found = store.accepted_values("2021", [FEE, "requests.new_received.total"])
    assert found == {
        "RSJ": {FEE: Decimal("2.50"), "requests.new_received.total": Decimal(3525)},
        "ZRZYJ": {FEE: Decimal(3), "requests.new_received.total": Decimal(3525)},
        "SZF": {FEE: Decimal(0), "requests.new_received.total": Decimal(3525)},
    }
    assert str(found["RSJ"][FEE]) == "2.50"
    assert store.accepted_values("2021", []) == {}
    assert store.accepted_values("2021", ["no.such.code"]) == {}


def test_the_other_units_fee_median_in_one_call(store):
    """C7's inputs as one aggregate: how many peer fees and their median, the unit itself left
    out, each unit's highest accepted version only; the same as from the values themselves."""
    import statistics

    assert store.accepted_median("2021", [FEE]) == (0, None)
    record(store, b"rsj v1", validation=validation(report(fee="100")))
    record(store, b"rsj v2", validation=validation(report(fee="2.50")))  # supersedes v1
    record(store, b"zr", department="ZRZYJ", validation=validation(report("ZRZYJ", fee="10")))
    record(store, b"zss", department="ZSS", validation=validation(report("ZSS"), errors=1))
    record(store, b"szf", department="SZF", validation=validation(report("SZF", fee="0.75")))
    assert store.accepted_median("2021", [FEE]) == (3, Decimal("2.50"))
    assert store.accepted_median("2021", [FEE], exclude="RSJ") == (2, Decimal("5.375"))
    assert store.accepted_median("2021", [FEE], exclude="SZF") == (2, Decimal("6.25"))
    assert store.accepted_median("2021", []) == (0, None)
    assert store.accepted_median("2021", ["no.such.code"]) == (0, None)
    for exclude in (None, "RSJ", "ZRZYJ"):
        fees = [
            v
            for code, values in store.accepted_values("2021", [FEE]).items()
            if code != exclude
            for v in values.values()
        ]
        found = store.accepted_median("2021", [FEE], exclude=exclude)
        assert found == (len(fees), statistics.median(fees))
        assert found == Store.accepted_median(store, "2021", [FEE], exclude=exclude)


def test_events_of_many_keys_in_one_call(store):
    store.begin_event("2021", "answer:1", kind="answer.accepted", department="RSJ")
    store.finish_event("2021", "answer:1", status="done", detail={"message_id": "<a@x>"})
    store.begin_event("2021", "answer:2", kind="answer.rejected", department="ZRZYJ")
    keys = ["answer:1", "answer:2", "answer:3", "answer:1"] + [f"k{i}" for i in range(1200)]
    found = store.events_by_key("2021", keys)
    assert sorted(found) == ["answer:1", "answer:2"]
    assert found["answer:1"].status == "done"
    assert found["answer:1"].detail["message_id"] == "<a@x>"
    assert found["answer:2"].status == "pending"
    assert found == Store.events_by_key(store, "2021", keys)
    assert store.events_by_key("2021", []) == {}


def test_the_unfinished_events_in_the_order_begun(store):
    for key in ("a", "b", "c", "d"):
        store.begin_event("2021", key, kind="answer.accepted", department="RSJ")
    store.finish_event("2021", "a", status="done")
    store.finish_event("2021", "c", status="failed", detail={"permanent": True})
    found = store.unfinished_events("2021")
    expected = [("b", "pending"), ("c", "failed"), ("d", "pending")]
    assert [(e.key, e.status) for e in found] == expected
    assert found == Store.unfinished_events(store, "2021")


# -- events ---------------------------------------------------------------------------------


def test_events_are_recorded_before_and_after(store):
    ev = store.begin_event("2021", "invitation:RSJ", kind="sent.invitation", department="RSJ")
    assert (ev.status, ev.previous_status, ev.attempts, ev.created_at) == ("pending", None, 1, T0)
    assert not store.event_done("2021", "invitation:RSJ")
    # a crash here, then the flow runs again: the step is found pending, one more attempt
    again = store.begin_event("2021", "invitation:RSJ", kind="sent.invitation", department="RSJ")
    assert (again.status, again.previous_status, again.attempts) == ("pending", "pending", 2)
    done = store.finish_event(
        "2021", "invitation:RSJ", detail={"message_id": "<a@yc.example>"}, at=T0
    )
    assert done.status == "done" and done.detail == {"message_id": "<a@yc.example>"}
    assert done.done_at == T0
    assert store.event_done("2021", "invitation:RSJ")
    skip = store.begin_event("2021", "invitation:RSJ", kind="sent.invitation", department="RSJ")
    assert (skip.status, skip.previous_status, skip.attempts) == ("done", "done", 2)
    assert len(store.events("2021")) == 1

    store.begin_event("2021", "reminder.1:ZRZYJ", kind="reminder.1", department="ZRZYJ")
    failed = store.finish_event("2021", "reminder.1:ZRZYJ", status="failed", detail={"e": "550"})
    assert failed.status == "failed"
    retry = store.begin_event(
        "2021", "reminder.1:ZRZYJ", kind="reminder.1", department="ZRZYJ", detail={"by": "b"}
    )
    assert (retry.status, retry.previous_status, retry.detail) == (
        "pending",
        "failed",
        {"e": "550", "by": "b"},
    )
    assert [e.key for e in store.events("2021", kind="reminder")] == ["reminder.1:ZRZYJ"]
    assert [e.key for e in store.events("2021", kind="sent.")] == ["invitation:RSJ"]
    assert [e.key for e in store.events("2021", kind="sent")] == ["invitation:RSJ"]
    assert store.events("2021", kind="sent.invitatio") == []
    assert [e.key for e in store.events("2021", department="RSJ", status="done")] == [
        "invitation:RSJ"
    ]
    assert store.event("2021", "never:begun") is None
    with pytest.raises(StoreError, match="begin_event first"):
        store.finish_event("2021", "never:begun")
    with pytest.raises(StoreError, match="'done' or 'failed'"):
        store.finish_event("2021", "invitation:RSJ", status="pending")


def test_the_steps_are_the_events_without_their_details(store):
    """The states are derived from the steps: every event, in the order begun, no detail."""
    for key, dept in (("invitation:RSJ", "RSJ"), ("invitation:ZRZYJ", "ZRZYJ")):
        store.begin_event("2021", key, kind="sent.invitation", department=dept)
    store.finish_event("2021", "invitation:ZRZYJ", detail={"message_id": "<z@yc>"}, at=T0)
    store.begin_event("2021", "digest", kind="digest.coordinator")
    steps = store.steps("2021")
    expected = [
        (e.kind, e.department, e.status, e.created_at, e.done_at) for e in store.events("2021")
    ]
    assert [(s.kind, s.department, s.status, s.created_at, s.done_at) for s in steps] == expected
    assert steps == Store.steps(store, "2021") and len(steps) == 3
    assert not hasattr(steps[0], "detail")


def test_a_kind_with_like_wildcards_matches_only_itself(store):
    store.begin_event("2021", "a", kind="x_y.1")
    store.begin_event("2021", "b", kind="xzy.1")
    store.begin_event("2021", "c", kind="x%y")
    assert [e.key for e in store.events("2021", kind="x_y")] == ["a"]
    assert [e.key for e in store.events("2021", kind="x%y")] == ["c"]


def test_an_event_is_found_by_the_message_id_of_its_mail(store):
    for code, mid in (("RSJ", "<inv-rsj@yc>"), ("ZRZYJ", "<inv-zr@yc>")):
        store.begin_event("2021", f"invitation:{code}", kind="sent.invitation", department=code)
        store.finish_event("2021", f"invitation:{code}", detail={"message_id": mid})
    store.begin_event("2021", "notice:x", kind="notice.message", detail={"message_id": "<n@yc>"})
    found = store.event_by_message_id("2021", "<inv-zr@yc>")
    assert found is not None and (found.key, found.department) == ("invitation:ZRZYJ", "ZRZYJ")
    assert store.event_by_message_id("2021", "<n@yc>").department is None
    assert store.event_by_message_id("2021", "<unknown@yc>") is None
    store.create_campaign("2022", 2022, registry=registry())
    assert store.event_by_message_id("2022", "<inv-zr@yc>") is None


# -- messages and named state -----------------------------------------------------------------


def test_messages_are_recorded_once_and_state_round_trips(store):
    message, new = store.record_message(
        "2021",
        "imap:7:1",
        sha256="ab" * 32,
        outcome="no_workbook",
        sender="a@b.example",
        subject="年报",
        detail={"问题": ["无附件"]},
    )
    assert new and message.outcome == "no_workbook" and message.received_at == T0
    assert message.detail == {"问题": ["无附件"]} and message.subject == "年报"
    again, new = store.record_message("2021", "imap:7:1", sha256="cd" * 32, outcome="x")
    assert not new and again == message
    store.record_message(
        "2021", "imap:7:2", sha256="ef" * 32, outcome="workbooks", received_at=T0 - timedelta(1)
    )
    assert [m.key for m in store.messages("2021")] == ["imap:7:2", "imap:7:1"]
    assert [m.key for m in store.messages("2021", outcome="no_workbook")] == ["imap:7:1"]
    assert store.get_state("2021", "cursor:imap") is None
    store.set_state("2021", "cursor:imap", {"uidvalidity": 7, "last_uid": 1})
    store.set_state("2021", "cursor:imap", {"uidvalidity": 7, "last_uid": 2})
    assert store.get_state("2021", "cursor:imap") == {"uidvalidity": 7, "last_uid": 2}
    store.set_state("2021", "批准", "市政府办公室")
    assert store.get_state("2021", "批准") == "市政府办公室"


# -- the coordinator's view (derived from the records, by campaign.states) --------------------


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

    found = department_states(store, "2021", due={"ZSLJZ": date(2022, 2, 20)})
    states = {s.code: s for s in found}
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
    assert states["RSJ"].invited_at == T0 and states["RSJ"].versions == 1


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
    assert len(store.events("2021")) == 1
    assert store.event("2021", "invitation:RSJ").attempts == 8


def test_two_handles_on_the_same_storage_see_each_others_writes(store, opener):
    other = opener()
    sub = record(other, b"from another process")
    assert store.submission(sub.id) == replace(sub, new=False)
    assert not record(store, b"from another process").new
