"""A department's state is a pure function of records: no store needed to test it."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from annual_report.campaign.registry import Department
from annual_report.campaign.states import derive_states
from annual_report.store.records import Campaign, Event, Submission

T0 = datetime(2022, 1, 10, 1, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CAMPAIGN = Campaign(
    "2021", 2021, "gov-disclosure-2021", date(2022, 1, 26), "s", "宜春市", T0, "open"
)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def dept(code: str) -> Department:
    return Department(code=code, name=f"单位{code}", kind="department", email=f"{code}@yc.example")


def sub(n: int, code: str, version: int, status: str, at: datetime, **kw) -> Submission:
    fields = dict.fromkeys(
        (
            "file_name",
            "archived_path",
            "message_id",
            "sender",
            "form_id",
            "report_year",
            "method",
            "failure_kind",
            "failure_reason",
            "failure_reason_zh",
            "explanation",
            "decided_by",
            "decided_at",
            "decision_note",
        )
    )
    fields.update(kw)
    return Submission(
        id=n,
        campaign="2021",
        department=code,
        version=version,
        sha256=f"{n:064x}",
        received_at=at,
        source="cli",
        status=status,
        error_count=0,
        warning_count=0,
        **fields,
    )


def done(code: str, kind: str, at: datetime, status: str = "done") -> Event:
    return Event("2021", f"{kind}:{code}", kind, code, status, {}, 1, at, at)


def states(subs=(), events=(), codes=("AA",), **kw):
    found = derive_states(CAMPAIGN, [dept(c) for c in codes], subs, events, **kw)
    return {s.code: s for s in found}


def test_not_sent_then_sent_then_received():
    assert states()["AA"].state == "not_sent"
    invited = states(events=[done("AA", "sent.invitation", T0)])["AA"]
    assert (invited.state, invited.invited_at, invited.last_action) == (
        "sent",
        T0,
        "sent.invitation",
    )
    failed = states(events=[done("AA", "sent.invitation", T0, status="failed")])["AA"]
    assert failed.state == "not_sent" and failed.invited_at is None
    got = states([sub(1, "AA", 1, "received", T0 + DAY)], [done("AA", "sent.invitation", T0)])["AA"]
    assert (got.state, got.last_action, got.versions) == ("received", "submission v1 received", 1)


def test_an_accepted_version_wins_over_an_escalation_and_a_rejection_does_not():
    escalated = [done("AA", "sent.invitation", T0), done("AA", "escalation.overdue", T0 + 20 * DAY)]
    rejected = [sub(1, "AA", 1, "rejected", T0 + DAY)]
    assert states(rejected, escalated)["AA"].state == "escalated"
    assert states(rejected)["AA"].state == "rejected"
    accepted = [*rejected, sub(2, "AA", 2, "accepted_with_warnings", T0 + 25 * DAY)]
    found = states(accepted, escalated)["AA"]
    assert (found.state, found.label, found.rejections, found.escalations) == (
        "accepted_with_warnings",
        "已接收（有警告）",
        1,
        1,
    )
    assert (found.submission_id, found.version) == (2, 2)


def test_an_undeclared_kind_is_judged_by_its_prefix():
    """Events written by an older version (``escalation.leader``) still count."""
    assert states(events=[done("AA", "escalation.leader", T0)])["AA"].state == "escalated"
    assert states(events=[done("AA", "reminder.1", T0)])["AA"].state == "not_sent"


def test_lateness_counts_the_first_version_that_counted_in_the_campaigns_days():
    # 2022-01-26 23:30 in Shanghai is 15:30 UTC: on time there
    on_time = sub(1, "AA", 1, "superseded", datetime(2022, 1, 26, 15, 30, tzinfo=UTC))
    later = sub(2, "AA", 2, "accepted", T0 + 30 * DAY)
    found = states([on_time, later], zone=SHANGHAI)["AA"]
    assert found.late_days == 0 and found.detail == ""
    late = sub(3, "BB", 1, "accepted", datetime(2022, 1, 29, 2, 0, tzinfo=UTC))
    found = states([late], codes=("BB",), zone=SHANGHAI)["BB"]
    assert found.late_days == 3 and found.detail == "逾期报送（3天）"


def test_overdue_days_and_a_units_own_deadline():
    events = [done("AA", "sent.invitation", T0), done("BB", "sent.invitation", T0)]
    found = states(
        events=events, codes=("AA", "BB"), due={"BB": date(2022, 2, 20)}, today=date(2022, 2, 1)
    )
    assert (found["AA"].overdue_days, found["AA"].due, found["AA"].detail) == (
        6,
        date(2022, 1, 26),
        "已逾期6天",
    )
    assert (found["BB"].overdue_days, found["BB"].due) == (0, date(2022, 2, 20))
    assert states(today=date(2022, 2, 1))["AA"].overdue_days == 0  # never invited: not overdue


def test_the_last_action_is_the_latest_of_steps_versions_and_decisions():
    decided = sub(
        1, "AA", 1, "rejected", T0 + DAY, decided_by="coordinator", decided_at=T0 + 3 * DAY
    )
    found = states([decided], [done("AA", "answer.accepted", T0 + 2 * DAY)])["AA"]
    assert (found.last_action, found.last_action_at) == ("submission v1 rejected", T0 + 3 * DAY)


def test_units_keep_the_given_order_and_others_records_are_ignored():
    found = derive_states(
        CAMPAIGN,
        [dept("BB"), dept("AA")],
        [sub(1, "CC", 1, "accepted", T0), sub(2, None, None, "quarantined", T0)],
        [done("CC", "sent.invitation", T0)],
    )
    assert [(s.code, s.state) for s in found] == [("BB", "not_sent"), ("AA", "not_sent")]
