"""The campaign flows end to end (issue 4): one Prefect test harness for the whole module, real
SQLite, real SMTP (aiosmtpd), the office mailbox in a real dovecot, departments that reply the
way the demo's clerks do. Helpers: tests/flowkit.py.

The January calendar is replayed once (module fixture ``played``): every morning the
``campaign`` flow, every evening a ``collect``, and after each of those runs the
flows are run again with the same ``as_of`` to show that a re-run changes nothing. The tests
below then read what the SMTP server received and what the store holds:

1. invitations, reminders, escalations (leader + coordinator, coordinator alone without a
   leader, every R days, once for K rejections), one threaded answer per reply, nothing sent
   twice, the consolidated workbook, the campaign run's own state;
2. every re-run left the mail and the store as they were;
3. collect SIGKILLed in another process mid-batch (while reading, while answering, anywhere)
   and run again: nothing lost, nothing doubled, the uncertain mail reported, not resent;
   deferred answers and reminders go out with the next run;
4. a round with departments missing ends ``Completed(name="Incomplete")``;
5. consolidate with ``approval="ui"`` paused and resumed with input, as the UI does;
6. ``nianbao run remind --as-of …`` and ``nianbao status --json``.
"""

from __future__ import annotations

import contextvars
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flowkit import (
    CONSOLIDATE_ON,
    COORDINATOR,
    DEADLINE,
    ESCALATE_AFTER,
    EVENING,
    IMAP_PASSWORD_ENV,
    MORNING,
    NAMES,
    REJECTIONS,
    REMIND_BEFORE,
    REPEAT_EVERY,
    SMTP_PASSWORD_ENV,
    START,
    TOWNSHIP_DEADLINE,
    UNITS,
    YEAR,
    Office,
    Outbox,
    Sent,
    address,
    at,
    days,
    event_statuses,
    filled_workbook,
    leader_of,
    reply,
    report_values,
    row_counts,
    template_of,
    write_config,
)

pytestmark = pytest.mark.mail

CODES = [code for code, _name, _kind, _leader in UNITS]
EXPLANATION = "关于核对提示的说明：我单位行政复议、行政诉讼确实均为0件，表中留空即表示没有发生。"

# What each department does, by day of January (the rest never reply): the first workbook
# the evening it is due, corrections the day after a rejection.
SCRIPT: dict[str, dict[int, str]] = {
    "SZF": {5: "good"},
    "RSJ": {6: "good"},
    "JYJ": {6: "error", 7: "good"},  # sloppy, corrected the next day
    "CZJ": {7: "warnings", 8: "explain"},  # warnings, answered with a 说明
    "SJJ": {5: "error", 6: "error2", 10: "good"},  # rejected twice: escalated for rejections
    "MZJ": {13: "good"},  # after the deadline, before the escalation
    "GAJ": {15: "good"},  # after the first escalation
}
SILENT = ["XFJ", "TJJ", "Z-XS"]
ANSWER_KIND = {
    "good": "receipt",
    "error": "rejected",
    "error2": "rejected",
    "warnings": "accepted_with_warnings",
}


def accepted_on(code: str) -> date | None:
    """The day (evening) a department's accepted workbook arrives."""
    for day_of_month, flavour in sorted(SCRIPT.get(code, {}).items()):
        if flavour in ("good", "warnings"):
            return date(2022, 1, day_of_month)
    return None


def deadline_of(code: str) -> date:
    return TOWNSHIP_DEADLINE if code == "Z-XS" else DEADLINE


# -- Prefect and the mail servers -------------------------------------------------------------


@pytest.fixture(scope="module")
def mail_env(prefect_harness, smtp_server, dovecot):
    """The office's passwords in the environment variables mail.yaml names."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SMTP_PASSWORD_ENV, smtp_server.password)
        mp.setenv(IMAP_PASSWORD_ENV, dovecot.password)
        yield


_offices = iter(range(1, 1000))


def new_office(root: Path, smtp_server, dovecot) -> Office:
    """A city office of its own: configuration, data directory, dovecot folder."""
    folder = f"office{next(_offices)}-{os.getpid()}"
    dovecot.create_folder(folder)
    smtp_server.clear()
    config = write_config(root / "config", smtp_server, dovecot, folder, root / "data" / "mail")
    return Office(config, root / "data", Outbox(smtp_server), folder)


@pytest.fixture
def office(mail_env, tmp_path, smtp_server, dovecot) -> Office:
    yield new_office(tmp_path, smtp_server, dovecot)
    smtp_server.clear()


def copy_office(played: Played, root: Path, smtp_server) -> Office:
    """The played campaign's state in a directory of its own, to change without harm."""
    shutil.copytree(played.office.data_dir, root / "data", ignore=shutil.ignore_patterns("mail"))
    smtp_server.clear()
    return Office(played.office.config_dir, root / "data", Outbox(smtp_server), "")


# -- replaying the calendar -------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    code: str
    day: date
    flavour: str  # a key of ANSWER_KIND, or "explain"
    message_id: str
    uid: int  # in the office's dovecot folder
    answering: Sent


@dataclass(frozen=True)
class Rerun:
    label: str
    before: dict[str, int]
    after: dict[str, int]
    mails: list[Sent]
    states: dict[str, Any]


@dataclass
class Played:
    office: Office
    replies: list[Reply] = field(default_factory=list)
    reruns: list[Rerun] = field(default_factory=list)
    seconds: float = 0.0


def act(office: Office, dovecot, day: date) -> list[Reply]:
    """Every department whose script says so replies today, in the thread of its latest mail."""
    replies = []
    when = at(day, clock(16, 30))
    for code, script in SCRIPT.items():
        flavour = script.get(day.day)
        if flavour is None:
            continue
        mails = office.outbox.to_address(address(code))
        invitation = [m for m in mails if m.kind == "invitation"][-1]
        answering = mails[-1]
        if flavour == "explain":
            assert answering.kind == "accepted_with_warnings", answering
            raw, message_id = reply(code, answering, when=when, text=EXPLANATION)
        else:
            workbook = filled_workbook(template_of(invitation), code, flavour)
            raw, message_id = reply(code, answering, when=when, workbook=workbook)
        uid = dovecot.deliver(raw, office.folder)
        replies.append(Reply(code, day, flavour, message_id, uid, answering))
    return replies


def rerun(office: Office, when: datetime, label: str, flows: tuple[str, ...]) -> Rerun:
    before = row_counts(office.database)
    first = len(office.outbox.mails)
    states = {}
    for name in flows:
        kwargs = {"approval": "auto"} if name == "consolidate" else {}
        states[name] = office.run(name, when, f"{label} again: {name}", **kwargs)
    return Rerun(label, before, row_counts(office.database), office.outbox.mails[first:], states)


@pytest.fixture(scope="module")
def played(mail_env, tmp_path_factory, smtp_server, dovecot) -> Played:
    started = time.monotonic()
    office = new_office(tmp_path_factory.mktemp("played"), smtp_server, dovecot)
    result = Played(office)
    for day in days(START, CONSOLIDATE_ON):
        morning = at(day, MORNING)
        office.run("campaign", morning, f"{day} campaign", approval="auto")
        again = ("dispatch", "collect", "remind")
        if day == CONSOLIDATE_ON:
            again += ("consolidate",)
        result.reruns.append(rerun(office, morning, f"{day} morning", again))
        result.replies += act(office, dovecot, day)
        evening = at(day, EVENING)
        office.run("collect", evening, f"{day} collect")
        result.reruns.append(rerun(office, evening, f"{day} evening", ("collect",)))
    result.seconds = time.monotonic() - started
    smtp_server.clear()
    return result


def submissions(database: Path) -> int:
    """Submission rows so far (0 while the file or its tables do not exist yet)."""
    try:
        return row_counts(database)["submissions"]
    except sqlite3.OperationalError:
        return 0


def store_rows(database: Path, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# -- 1. the calendar replayed -----------------------------------------------------------------


def test_every_department_gets_exactly_one_invitation_on_the_start_day(played):
    invitations = played.office.outbox.of("invitation")
    assert sorted(m.department for m in invitations) == sorted(CODES)
    for mail in invitations:
        assert mail.day == START
        assert mail.rcpt == (address(mail.department),)
        assert mail.to == (address(mail.department),) and mail.cc == ()
        assert f"[年报{YEAR}-{mail.department}]" in mail.subject
        assert len(mail.parsed.workbooks) == 1  # the department's own template


def test_reminders_go_to_the_departments_not_yet_accepted_on_the_ladders_days(played):
    expected = []
    for code in CODES:
        deadline, accepted = deadline_of(code), accepted_on(code)
        for day in (date.fromordinal(deadline.toordinal() - REMIND_BEFORE), deadline):
            if accepted is None or day <= accepted:  # the morning run precedes the evening reply
                expected.append((code, day))
    reminders = played.office.outbox.of("reminder")
    assert sorted((m.department, m.day) for m in reminders) == sorted(expected)
    for mail in reminders:
        assert mail.rcpt == (address(mail.department),) and mail.cc == ()
        if mail.day == deadline_of(mail.department):
            assert "报送截止日" in mail.subject
        else:
            assert f"距今还有{REMIND_BEFORE}天" in mail.text
    # the township's later deadline moved its whole ladder
    assert [m.day for m in reminders if m.department == "Z-XS"] == [
        date(2022, 1, 11),
        TOWNSHIP_DEADLINE,
    ]


def test_an_escalation_says_what_the_unit_has_and_has_not_done(played):
    escalations = played.office.outbox.of("escalation")
    for mail in escalations:
        assert "当前状态" not in mail.text and "已发送" not in mail.text
    xfj = next(m for m in escalations if m.department == "XFJ")
    assert f"现已逾期{ESCALATE_AFTER}天" in xfj.text
    assert "目前情况：已于1月4日下发填报模板，截至1月14日尚未报送。" in xfj.text
    (sjj,) = [m for m in escalations if m.department == "SJJ"]
    assert "目前情况：已于1月4日下发填报模板，已报送2次，报送被退回2次，" in sjj.text
    assert "截至1月7日尚无核对通过的报告" in sjj.text


def test_escalations_go_to_the_leader_and_coordinator_then_every_r_days(played):
    expected = []
    for code in CODES:
        accepted = accepted_on(code)
        day = date.fromordinal(deadline_of(code).toordinal() + ESCALATE_AFTER)
        while day <= CONSOLIDATE_ON:
            if accepted is None or day <= accepted:
                expected.append((code, day, "overdue"))
            day = date.fromordinal(day.toordinal() + REPEAT_EVERY)
    # SJJ's second rejection came in on the 6th: escalated the next morning, and only then
    expected.append(("SJJ", date(2022, 1, 7), "rejections"))
    escalations = played.office.outbox.of("escalation")
    got = [
        (m.department, m.day, "rejections" if "均未通过核对" in m.text else "overdue")
        for m in escalations
    ]
    assert sorted(got) == sorted(expected)
    assert ("XFJ", date(2022, 1, 17), "overdue") in got  # repeated after R days
    for mail in escalations:
        code, leader = mail.department, leader_of(mail.department)
        if leader:
            assert mail.to == (leader,)
            assert set(mail.cc) == {COORDINATOR, address(code)}
        else:  # TJJ has no leader: the coordinator is told directly
            assert mail.to == (COORDINATOR,)
            assert mail.cc == (address(code),)
        assert set(mail.rcpt) == {*mail.to, *mail.cc}
        if "均未通过核对" in mail.text:
            assert f"已报送{REJECTIONS}次" in mail.text


def test_every_reply_gets_exactly_one_answer_in_its_thread(played):
    outbox, database = played.office.outbox, played.office.database
    workbook_replies = [r for r in played.replies if r.flavour != "explain"]
    assert len(workbook_replies) == 10
    for r in played.replies:
        answers = [m for m in outbox.mails if m.parsed.in_reply_to == r.message_id]
        if r.flavour == "explain":
            assert answers == []  # a 说明 is recorded, not answered
            continue
        assert len(answers) == 1, (r, answers)
        answer = answers[0]
        assert answer.kind == ANSWER_KIND[r.flavour]
        assert answer.department == r.code
        assert answer.to == (address(r.code),)
        assert answer.stamp == f"{r.day} collect"  # answered in the evening it arrived
        assert r.message_id in answer.parsed.references
        (sub,) = store_rows(
            database, "SELECT * FROM submissions WHERE message_id = ?", (r.message_id,)
        )
        severity = {"rejected": "error", "accepted_with_warnings": "warning"}.get(answer.kind)
        if severity:
            issues = store_rows(
                database,
                "SELECT message FROM submission_issues WHERE submission_id = ? AND severity = ?",
                (sub["id"], severity),
            )
            assert issues
            for issue in issues:
                assert issue["message"] in answer.text
    answer_kinds = ("receipt", "rejected", "accepted_with_warnings", "unreadable", "no_workbook")
    assert len([m for m in outbox.mails if m.kind in answer_kinds]) == len(workbook_replies)
    assert outbox.of("coordinator_notice") == []
    # the 说明 is kept on the submission it explains
    (czj,) = store_rows(
        database, "SELECT * FROM submissions WHERE department = 'CZJ' AND status != 'superseded'"
    )
    assert czj["status"] == "accepted_with_warnings"
    assert EXPLANATION in czj["explanation"]


def test_nothing_is_sent_twice(played):
    mails = played.office.outbox.mails
    ids = [m.message_id for m in mails]
    assert len(set(ids)) == len(ids)
    same = Counter((m.subject, m.rcpt, m.day) for m in mails)
    assert [k for k, n in same.items() if n > 1] == []
    # every mail is one done event and every event is one mail
    events = store_rows(played.office.database, "SELECT key, status, detail FROM events")
    assert {e["status"] for e in events} == {"done"}
    by_id = {json.loads(e["detail"])["message_id"]: e["key"] for e in events}
    assert sorted(by_id) == sorted(ids)
    kinds = Counter(m.kind for m in mails)
    assert kinds == {
        "invitation": 10,
        "receipt": 6,
        "rejected": 3,
        "accepted_with_warnings": 1,
        "reminder": 11,
        "escalation": 7,
    }


def test_the_consolidation_sums_the_accepted_and_lists_the_silent_as_missing(played):
    # the consolidate subflow's own state (run again that morning, see test 2 for why equal)
    state = played.office.states[f"{CONSOLIDATE_ON} morning again: consolidate"]
    assert state.is_completed() and state.name == "Incomplete"
    assert state.message.startswith("汇总：纳入7个单位，定稿为《樟树市")
    assert "10个单位中3个尚未接收" in state.message
    out = played.office.output_dir
    draft = out / f"樟树市{YEAR}年政府信息公开工作年度报告（汇总）.xlsx"
    final = out / f"樟树市{YEAR}年政府信息公开工作年度报告（定稿）.xlsx"
    assert draft.is_file() and final.is_file()
    workbook = openpyxl.load_workbook(final)
    sheet = workbook.worksheets[-1]  # 纳入与未纳入单位
    rows = {  # the unit's code is in the hidden last column, for machines
        row[9]: (row[3], row[4])
        for row in sheet.iter_rows(min_row=4, max_col=10, values_only=True)
        if row[9] in NAMES
    }
    included = {code for code, (mark, _reason) in rows.items() if mark == "纳入"}
    assert included == {"SZF", "RSJ", "JYJ", "CZJ", "SJJ", "MZJ", "GAJ"}
    assert {code: reason for code, (mark, reason) in rows.items() if mark == "未纳入"} == {
        code: "未报送" for code in SILENT
    }
    # the city's total is the sum of what the accepted versions said
    code = "requests.new_received.total"
    expected = sum(report_values(c, "good")[0][code] for c in included)
    (destination,) = workbook.defined_names[code].destinations
    sheet_name, ref = destination
    assert workbook[sheet_name][ref.replace("$", "")].value == expected
    (campaign,) = store_rows(played.office.database, "SELECT status FROM campaigns")
    assert campaign["status"] == "consolidated"


def test_the_campaign_flow_ends_in_the_state_of_its_collect_or_consolidate_round(played):
    first = played.office.states[f"{START} campaign"]
    assert first.name == "Incomplete" and "10个单位中10个尚未接收" in (first.message or "")
    last = played.office.states[f"{CONSOLIDATE_ON} campaign"]
    assert last.name == "Incomplete" and "汇总：纳入7个单位" in (last.message or "")


def test_the_coordinator_sees_the_campaign_day_by_day_as_a_picture(played):
    """Every status publication carries the progress chart inline (a data URI: the UI shows it
    wherever the browser is); the counts beside it are the departments' states."""
    import base64
    import io

    from PIL import Image

    from annual_report.campaign.states import department_states
    from annual_report.store import open_store
    from annual_report.store.records import ACCEPTED

    text = latest_summary("progress-chart")
    words, _, data = text.partition("](data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(data.strip().removesuffix(")"))))
    assert image.format == "PNG" and image.size == (1350, 690)
    with open_store(played.office.database) as store:
        states = department_states(store, str(YEAR))
    accepted = sum(s.state in ACCEPTED for s in states)
    assert f"已接收{accepted}个" in words and f"（共{len(CODES)}个单位）" in words
    assert words.startswith("# 报送进度") and "![报送进度图" in words


def test_a_campaign_whose_consolidation_fails_fails(played, tmp_path, smtp_server):
    office = copy_office(played, tmp_path, smtp_server)
    draft = office.output_dir / f"樟树市{YEAR}年政府信息公开工作年度报告（汇总）.xlsx"
    draft.unlink()
    draft.mkdir()  # the workbook cannot be written there (a full disk, a locked file, ...)
    state = office.run("campaign", at(CONSOLIDATE_ON, clock(9, 30)), approval="auto")
    assert state.is_failed(), state


# -- 2. running a flow again changes nothing ---------------------------------------------------


def test_running_any_flow_again_with_the_same_as_of_changes_nothing(played):
    assert len(played.reruns) == 15 * 2  # every morning and every evening
    for again in played.reruns:
        assert again.mails == [], again.label
        assert again.after == again.before, again.label
        for name, state in again.states.items():
            assert state.is_completed(), (again.label, name, state)
            if name == "dispatch":
                assert state.message == "下发模板：本次发出0份，此前已发出10份"
            elif name == "collect":
                assert state.message.startswith("收集：新收到0份报表，发出回复0封")
            elif name == "remind":
                assert state.message.startswith("催报：发出提醒和督办0封")


# -- 3. killing collect in the middle of a batch ----------------------------------------------

KILL_SCRIPT = """
import sys, time
from datetime import datetime
from pathlib import Path

config_dir, data_dir, as_of, mode, marker = sys.argv[1:6]
marker = Path(marker)

def stop_here(what):
    marker.write_text(what)
    time.sleep(600)  # until the test kills this process

if mode == "read":  # stop once the 3rd message is recorded, before it is marked processed
    from office import intake
    take_message, taken = intake.take_message, []
    def take(*args, **kwargs):
        got = take_message(*args, **kwargs)
        taken.append(got)
        if len(taken) == 3:
            stop_here("read 3")
        return got
    intake.take_message = take
elif mode == "send":  # stop once the 2nd answer is with the SMTP server, before it is recorded
    from annual_report.store.sqlite import SQLiteStore
    finish_event, finished = SQLiteStore.finish_event, []
    def finish(self, campaign, key, **kwargs):
        if key.startswith("answer:"):
            finished.append(key)
            if len(finished) == 2:
                stop_here(key)
        return finish_event(self, campaign, key, **kwargs)
    SQLiteStore.finish_event = finish

from flows.campaign import collect
collect(config_dir, datetime.fromisoformat(as_of), data_dir=data_dir)
"""
KILL_REPLIES = {"SZF": "good", "RSJ": "good", "JYJ": "error", "CZJ": "good", "SJJ": "error"}
KILL_REPLIES |= {"MZJ": "good"}


@dataclass
class Killed:
    office: Office
    replies: list[Reply]
    at_kill: dict[str, int]
    events_at_kill: dict[str, str]
    state: Any  # the collect run after the kill
    summary: str  # the coordinator's summary artifact after it


def kill_collect(mode: str, root: Path, smtp_server, dovecot, api_url: str) -> Killed:
    """Dispatch, six departments reply, a collect in another process is SIGKILLed mid-batch
    (``read``: after the 3rd message is recorded; ``send``: after the 2nd answer went out;
    ``anywhere``: as soon as the first submission is in the database), then collect again."""

    office = new_office(root, smtp_server, dovecot)
    office.run("dispatch", at(START, MORNING))
    when = at(START, clock(16, 30))
    replies = []
    for code, flavour in KILL_REPLIES.items():
        invitation = office.outbox.of("invitation", code)[0]
        workbook = filled_workbook(template_of(invitation), code, flavour)
        raw, message_id = reply(code, invitation, when=when, workbook=workbook)
        replies.append(
            Reply(code, START, flavour, message_id, dovecot.deliver(raw, office.folder), invitation)
        )
    evening = at(START, EVENING)
    env = dict(os.environ, PREFECT_API_URL=api_url, PREFECT_LOGGING_LEVEL="WARNING")
    marker = root / "stopped"
    args = [str(office.config_dir), str(office.data_dir), evening.isoformat(), mode, str(marker)]
    if mode == "anywhere":
        command = [
            str(Path(sys.executable).with_name("nianbao")),
            "run",
            "collect",
            "--config",
            str(office.config_dir),
            "--data",
            str(office.data_dir),
            "--as-of",
            evening.isoformat(),
        ]
    else:
        command = [sys.executable, "-c", KILL_SCRIPT, *args]
    log = (root / "killed.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if mode == "anywhere":
                if submissions(office.database):
                    break
            elif marker.exists():
                break
            time.sleep(0.01)
        assert process.poll() is None, (root / "killed.log").read_text(errors="replace")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    at_kill = row_counts(office.database)
    events_at_kill = event_statuses(office.database)
    office.outbox.take("killed collect", START)
    state = office.run("collect", evening, "collect after the kill")
    return Killed(office, replies, at_kill, events_at_kill, state, latest_summary())


def latest_summary(name: str = "summary") -> str:
    """The coordinator's latest summary artifact, or another one by its key's ``name``
    (``prefect.artifacts.Artifact.get`` leaves its client's connection open: a
    ResourceWarning, an error here)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.tasks import artifact_key

    key = f"{artifact_key(str(YEAR))}-{name}"
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            limit=1,
            sort=ArtifactSort.UPDATED_DESC,
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
        )
    return str(found[0].data) if found else ""


@pytest.fixture(scope="module")
def killed_while_sending(mail_env, prefect_harness, tmp_path_factory, smtp_server, dovecot):
    root = tmp_path_factory.mktemp("killed-send")
    result = kill_collect("send", root, smtp_server, dovecot, prefect_harness)
    smtp_server.clear()
    return result


def assert_exactly_once(killed: Killed, dovecot) -> None:
    office, replies = killed.office, killed.replies
    counts = row_counts(office.database)
    assert counts["messages"] == len(replies)
    subs = store_rows(office.database, "SELECT * FROM submissions ORDER BY id")
    assert sorted(s["message_id"] for s in subs) == sorted(r.message_id for r in replies)
    assert sorted(s["department"] for s in subs) == sorted(r.code for r in replies)
    assert {s["version"] for s in subs} == {1}
    for r in replies:
        answers = [m for m in office.outbox.mails if m.parsed.in_reply_to == r.message_id]
        assert len(answers) == 1, (r.code, [m.stamp for m in answers])
        assert answers[0].kind == ANSWER_KIND[r.flavour]
        assert "$NianbaoProcessed" in dovecot.flags(office.folder, r.uid)


@pytest.mark.parametrize("mode", ["read", "anywhere"])
def test_killing_collect_mid_batch_loses_and_duplicates_nothing(
    mode, mail_env, prefect_harness, tmp_path, smtp_server, dovecot
):
    killed = kill_collect(mode, tmp_path, smtp_server, dovecot, prefect_harness)
    try:
        if mode == "read":  # stopped with 3 messages recorded, 2 of them marked processed
            assert killed.at_kill["submissions"] == 3
            assert [m for m in killed.office.outbox.mails if m.stamp == "killed collect"] == []
        assert_exactly_once(killed, dovecot)
        assert set(event_statuses(killed.office.database).values()) == {"done"}
        assert killed.state.is_completed()
    finally:
        smtp_server.clear()


def test_killing_collect_while_it_answers_sends_no_answer_twice(killed_while_sending, dovecot):
    killed = killed_while_sending
    pending = [k for k, s in killed.events_at_kill.items() if s == "pending"]
    assert len(pending) == 1 and pending[0].startswith("answer:")
    sent_before_kill = [m for m in killed.office.outbox.mails if m.stamp == "killed collect"]
    assert len(sent_before_kill) == 2  # the second one is the pending one: it did leave
    assert_exactly_once(killed, dovecot)
    # the uncertain one is left as it was: not sent again, not marked done
    statuses = event_statuses(killed.office.database)
    assert statuses[pending[0]] == "pending"
    assert [k for k, s in statuses.items() if s != "done"] == pending


def test_an_answer_left_pending_by_a_kill_is_reported_to_the_coordinator(killed_while_sending):
    """Held back, and impossible to miss: the run's state and message, the summary under
    需要注意 with the exact commands, one mail to the coordinator."""
    killed = killed_while_sending
    (pending,) = [k for k, s in killed.events_at_kill.items() if s == "pending"]
    state = killed.state
    assert state.is_completed() and state.name == "NeedsAttention"
    assert f"1封邮件不确定是否已发出，没有重发（{pending}）" in state.message
    attention = killed.summary.split("## 需要注意")[1]
    assert "**1封邮件不确定是否已发出，没有重发。**" in attention
    assert f"`resend-{YEAR}`" in attention
    (line,) = [line for line in attention.splitlines() if f"（{pending}）" in line]
    assert line.startswith("- 接收回执") or line.startswith("- 退回修改通知")
    command = f"nianbao resend {pending} --config {killed.office.config_dir}"
    assert f"`{command} --data {killed.office.data_dir}`" in attention
    assert f"`nianbao resend {pending} --delivered --config" in attention
    (notice,) = killed.office.outbox.of("coordinator_notice")
    assert notice.to == (COORDINATOR,) and notice.stamp == "collect after the kill"
    assert "不确定是否已发出" in notice.subject
    assert f"key 填 {pending}" in notice.text and f"“resend-{YEAR}”部署" in notice.text
    assert command in notice.text and "勾选 delivered" in notice.text


def test_a_held_back_answer_stays_in_view_until_the_coordinator_decides(
    killed_while_sending, tmp_path, smtp_server
):
    from typer.testing import CliRunner

    from flows.cli import app

    killed = killed_while_sending
    (pending,) = [k for k, s in killed.events_at_kill.items() if s == "pending"]
    shutil.copytree(
        killed.office.data_dir, tmp_path / "data", ignore=shutil.ignore_patterns("mail")
    )
    smtp_server.clear()
    office = Office(killed.office.config_dir, tmp_path / "data", Outbox(smtp_server), "")
    common = ["--config", str(office.config_dir), "--data", str(office.data_dir)]
    runner = CliRunner()
    status = json.loads(runner.invoke(app, ["status", *common, "--json"]).output)
    (item,) = status["attention"]
    assert (item["key"], item["problem"], item["problem_label"]) == (
        pending,
        "held_back",
        "不确定是否已发出",
    )
    assert item["resend"].startswith(f"nianbao resend {pending} --config")
    assert item["delivered"].startswith(f"nianbao resend {pending} --delivered --config")
    assert item["deployment"] == f"resend-{YEAR}"
    row = next(r for r in status["departments"] if r["code"] == item["department"])
    assert row["mail_problems"] == ["held_back"] and "邮件不确定是否已发出" in row["detail"]
    text = runner.invoke(app, ["status", *common], env={"COLUMNS": "80"}).output
    assert "需要注意" in text and f"nianbao resend {pending} --delivered" in text
    # the next collect does not mail the coordinator again, and still says so
    again = office.run("collect", at(START, clock(18, 0)))
    assert again.name == "NeedsAttention" and office.outbox.mails == []
    # the coordinator checked: it arrived
    result = runner.invoke(app, ["resend", pending, "--delivered", *common])
    assert result.exit_code == 0 and "已记为发出，不会再发送" in result.output
    after = office.run("collect", at(START, clock(18, 30)))
    assert after.name == "Incomplete" and office.outbox.mails == []
    assert json.loads(runner.invoke(app, ["status", *common, "--json"]).output)["attention"] == []


def test_an_answer_that_failed_transiently_is_sent_by_the_next_collect(office, dovecot):
    office.run("dispatch", at(START, MORNING))
    invitation = office.outbox.of("invitation", "RSJ")[0]
    workbook = filled_workbook(template_of(invitation), "RSJ", "good")
    raw, message_id = reply("RSJ", invitation, when=at(START, clock(16, 30)), workbook=workbook)
    dovecot.deliver(raw, office.folder)
    # the server defers every attempt of this run (retries: 1 → two attempts)
    office.outbox.smtp.handler.data_replies.extend(["451 4.3.0 try again later"] * 2)
    office.run("collect", at(START, EVENING))
    assert [m for m in office.outbox.mails if m.parsed.in_reply_to == message_id] == []
    assert set(event_statuses(office.database).values()) == {"done", "failed"}
    office.run("collect", at(START, clock(18, 0)))
    assert len([m for m in office.outbox.mails if m.parsed.in_reply_to == message_id]) == 1
    assert set(event_statuses(office.database).values()) == {"done"}
    office.run("collect", at(START, clock(18, 30)))  # and only once
    assert len([m for m in office.outbox.mails if m.parsed.in_reply_to == message_id]) == 1


def test_a_reminder_that_failed_transiently_is_sent_by_the_next_remind(office):
    office.run("dispatch", at(START, MORNING))
    first_reminder = date(2022, 1, 9)  # 3 days before the deadline: all but the township
    office.outbox.smtp.handler.data_replies.extend(["451 4.3.0 try again later"] * 2)
    office.run("remind", at(first_reminder, MORNING))
    assert len(office.outbox.of("reminder")) == 8  # SZF's was deferred
    for minute in (5, 10):  # the next run sends the deferred one, the one after nothing
        office.run("remind", at(first_reminder, clock(9, minute)))
    reminders = office.outbox.of("reminder")
    assert sorted(m.department for m in reminders) == sorted(c for c in CODES if c != "Z-XS")
    assert set(event_statuses(office.database).values()) == {"done"}


# -- 4. a round that ends with departments missing --------------------------------------------


def test_a_collect_round_with_departments_missing_completes_as_incomplete(
    played, tmp_path, smtp_server
):
    for label in (f"{date(2022, 1, 5)} collect", f"{date(2022, 1, 15)} collect"):
        state = played.office.states[label]
        assert state.is_completed() and not state.is_failed()
        assert state.name == "Incomplete"
    office = copy_office(played, tmp_path, smtp_server)
    state = office.run("collect", at(CONSOLIDATE_ON, EVENING))
    assert state.type.value == "COMPLETED" and state.name == "Incomplete"
    assert state.message.startswith("收集：新收到0份报表，发出回复0封；10个单位中3个尚未接收：")
    for code in SILENT:
        assert NAMES[code] in state.message


def test_runs_outside_the_campaigns_dates_are_skipped_and_send_nothing(
    played, tmp_path, smtp_server
):
    # Cron has no year: next January the schedules wake against this campaign again.
    office = copy_office(played, tmp_path, smtp_server)
    before = row_counts(office.database)
    for when in (at(START - timedelta(days=1), EVENING), at(date(2023, 1, 10), clock(9, 0))):
        for name in ("dispatch", "collect", "remind", "consolidate", "campaign"):
            state = office.run(name, when)
            assert state.is_completed() and state.name == "Skipped", (name, when, state)
            assert f"不在{YEAR}年度收集期内" in state.message
    assert office.outbox.mails == []
    assert row_counts(office.database) == before


def test_a_quarantined_file_is_assigned_from_the_ui_and_then_answered(office, dovecot):
    """RSJ's clerk mails the workbook from a personal mailbox, outside the thread: the token
    says RSJ but the sender is unknown, so the coordinator is asked; the assign flow (the UI's
    "Custom run" of assign-<campaign>) gives it to RSJ and the next collect answers it."""
    import email
    from email.policy import SMTP

    from flows.campaign import assign

    office.run("dispatch", at(START, MORNING))
    invitation = office.outbox.of("invitation", "RSJ")[0]
    workbook = filled_workbook(template_of(invitation), "RSJ", "good")
    raw, _ = reply("RSJ", invitation, when=at(START, clock(16, 30)), workbook=workbook)
    msg = email.message_from_bytes(raw, policy=SMTP)
    for header in ("From", "Subject", "In-Reply-To", "References"):
        del msg[header]
    msg["From"] = "小王 <xiaowang@qq.example>"
    msg["Subject"] = "年报"
    dovecot.deliver(msg.as_bytes(), office.folder)
    office.run("collect", at(START, EVENING))
    (notice,) = office.outbox.of("coordinator_notice")
    (stray,) = store_rows(office.database, "SELECT * FROM submissions")
    assert (stray["status"], stray["department"]) == ("quarantined", None)
    assert f"assign-{YEAR}" in notice.text and f"文件编号填 {stray['id']}" in notice.text
    assert "xiaowang@qq.example 不在单位名录中" in notice.text
    assert f"可能的报送单位：{NAMES['RSJ']}（RSJ）" in notice.text
    waiting = latest_summary().split("## 待确认的文件")[1]
    assert f"| {stray['id']} |" in waiting and "xiaowang@qq.example" in waiting

    common = {"config_dir": str(office.config_dir), "data_dir": str(office.data_dir)}
    state = assign(submission=stray["id"], department="rsj", return_state=True, **common)
    assert state.is_completed(), state
    assert state.message.startswith(
        f"第{stray['id']}号文件已指定给{NAMES['RSJ']}（RSJ），为该单位第1版，核对结果：已接收；"
    )
    wrong = assign(submission=stray["id"], department="NOPE", return_state=True, **common)
    assert wrong.is_failed() and "department is not in the campaign" in wrong.message
    assert "待确认的文件" not in latest_summary()  # the assign run published the summary

    office.run("collect", at(START + timedelta(days=1), MORNING))
    (receipt,) = office.outbox.of("receipt")
    assert receipt.department == "RSJ" and receipt.to == ("xiaowang@qq.example",)
    assert receipt.cc == (address("RSJ"),)  # the department's registered mailbox is told too


# -- 5. the coordinator approves in the UI ----------------------------------------------------


def paused_run(flow_name: str, after: Any = None, timeout: float = 60) -> Any:
    """The (only) paused run of ``flow_name``, once its state is not ``after`` any more."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name]))
            )
            for run in runs:
                if run.state and run.state.is_paused() and run.state.id != after:
                    return run
            time.sleep(0.1)
    raise AssertionError(f"no paused {flow_name} run")


def pause_description(run: Any) -> str:
    from prefect.input.actions import read_flow_run_input
    from prefect.input.run_input import keyset_from_paused_state

    return read_flow_run_input(keyset_from_paused_state(run.state)["description"], run.id)


def in_thread(fn, *args, **kwargs) -> tuple[threading.Thread, list]:
    """Run ``fn`` in a thread with this context (the harness's settings)."""
    result: list = []
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(lambda: result.append(fn(*args, **kwargs)),), daemon=True
    )
    thread.start()
    return thread, result


def test_the_input_models_validate():
    from pydantic import ValidationError

    from flows.campaign import ConsolidationApproval, WarningsReview

    assert ConsolidationApproval().approve is True
    assert WarningsReview().send_back == []
    with pytest.raises(ValidationError):
        ConsolidationApproval(approve="maybe")
    with pytest.raises(ValidationError):
        WarningsReview(send_back="CZJ")


NOTE = "请核实复议数据"


@dataclass
class Reviewed:
    """What the coordinator saw and did in the UI, and what followed."""

    office: Office
    review_description: str
    invalid_input: Exception | None  # resuming with input that does not fit the form
    asked_again: str  # the review's description after a code that is not under review
    approval_description: str
    approved: Any  # the state of the approved run
    final_written: bool
    czj: sqlite3.Row
    mails_after: list[Sent]  # sent by the approved run and the collect after it
    returned: Any  # the state of the run sent back
    final_after_return: bool


@pytest.fixture(scope="module")
def reviewed(played, tmp_path_factory, smtp_server) -> Reviewed:
    """Consolidate with ``approval="ui"`` in a thread; the test resumes it the way the UI does
    (``resume_flow_run`` with the pause form's input): first CZJ's warnings are sent back, then
    the result is approved; a second run is sent back as a whole."""
    from prefect.flow_runs import resume_flow_run

    from flows.campaign import consolidate

    office = copy_office(played, tmp_path_factory.mktemp("reviewed"), smtp_server)
    when = at(CONSOLIDATE_ON, clock(10, 0))
    final = office.output_dir / f"樟树市{YEAR}年政府信息公开工作年度报告（定稿）.xlsx"
    final.unlink()
    kwargs = {"approval": "ui", "data_dir": str(office.data_dir), "return_state": True}
    thread, result = in_thread(consolidate, str(office.config_dir), when, **kwargs)
    # first the submissions accepted with warnings, with the department's 说明
    review = paused_run("consolidate")
    review_description = pause_description(review)
    invalid = None
    try:
        resume_flow_run(review.id, run_input={"send_back": "CZJ"})
    except Exception as exc:
        invalid = exc
    # a mistyped code is asked again, with the list, rather than dropped
    resume_flow_run(review.id, run_input={"send_back": ["CJZ"], "note": NOTE})
    again = paused_run("consolidate", after=review.state.id)
    asked_again = pause_description(again)
    resume_flow_run(again.id, run_input={"send_back": ["czj"], "note": NOTE})
    # then the result itself
    approval = paused_run("consolidate", after=again.state.id)
    approval_description = pause_description(approval)
    resume_flow_run(approval.id, run_input={"approve": True})
    thread.join(timeout=120)
    (approved,) = result
    office.outbox.take("approved consolidation", CONSOLIDATE_ON)
    final_written = final.is_file()
    (czj,) = store_rows(office.database, "SELECT * FROM submissions WHERE department = 'CZJ'")
    office.run("collect", at(CONSOLIDATE_ON, EVENING))
    mails_after = list(office.outbox.mails)
    # run again: nothing left to review, one pause, sent back, and nothing becomes final
    final.unlink()
    thread, result = in_thread(consolidate, str(office.config_dir), when, **kwargs)
    approval = paused_run("consolidate")
    resume_flow_run(approval.id, run_input={"approve": False, "note": "等待补报"})
    thread.join(timeout=120)
    (returned,) = result
    smtp_server.clear()
    return Reviewed(
        office,
        review_description,
        invalid,
        asked_again,
        approval_description,
        approved,
        final_written,
        czj,
        mails_after,
        returned,
        final.exists(),
    )


def test_consolidate_waits_for_the_coordinator_in_the_ui(reviewed):
    # the review form shows the warnings with the department's 说明
    assert NAMES["CZJ"] in reviewed.review_description and "CZJ" in reviewed.review_description
    assert EXPLANATION in reviewed.review_description
    assert reviewed.asked_again.startswith("**未找到单位代码：CJZ**")
    assert EXPLANATION in reviewed.asked_again
    # input that does not fit the form is refused by the server; the run stays paused
    assert isinstance(reviewed.invalid_input, RuntimeError)
    # CZJ sent back: out of the sums, with the coordinator's note
    assert (reviewed.czj["status"], reviewed.czj["decided_by"]) == ("rejected", "coordinator")
    assert reviewed.czj["decision_note"] == NOTE
    assert "纳入 6 个单位" in reviewed.approval_description
    for code in SILENT:
        assert f"{NAMES[code]}：未报送" in reviewed.approval_description
    state = reviewed.approved
    assert state.is_completed() and "汇总：纳入6个单位" in state.message
    assert reviewed.final_written
    # the second run, sent back as a whole
    state = reviewed.returned
    assert state.is_completed() and state.name == "Returned"
    assert "等待补报" in state.message
    assert not reviewed.final_after_return


def test_a_submission_sent_back_in_the_ui_is_mailed_to_its_department(reviewed):
    told = [m for m in reviewed.mails_after if address("CZJ") in m.rcpt]
    assert len(told) == 1  # by the next collect, with the coordinator's note
    (mail,) = told
    assert mail.kind == "rejected" and mail.to == (address("CZJ"),)
    assert NOTE in mail.text
    assert mail.parsed.in_reply_to == reviewed.czj["message_id"]


# -- 6. the command line ----------------------------------------------------------------------


def test_the_cli_runs_remind_and_prints_every_departments_state(played, tmp_path, smtp_server):
    from typer.testing import CliRunner

    from flows.cli import app

    office = copy_office(played, tmp_path, smtp_server)
    common = ["--config", str(office.config_dir), "--data", str(office.data_dir)]
    runner = CliRunner()
    result = runner.invoke(app, ["run", "remind", *common, "--as-of", "2022-01-25T09:00+08:00"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("催报（remind）尚未收齐（Incomplete）：催报：发出提醒和督办3封")
    sent = office.outbox.take("cli", date(2022, 1, 25))
    assert sorted((m.kind, m.department) for m in sent) == [
        ("escalation", c) for c in sorted(SILENT)
    ]
    result = runner.invoke(app, ["status", *common, "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    states = {row["code"]: row["state"] for row in status["departments"]}
    assert states == {
        **{code: "accepted" for code in ("SZF", "RSJ", "JYJ", "SJJ", "MZJ", "GAJ")},
        "CZJ": "accepted_with_warnings",
        **{code: "escalated" for code in SILENT},
    }
    # late is late: stable codes and numbers beside the Chinese labels
    rows = {row["code"]: row for row in status["departments"]}
    assert (rows["MZJ"]["late_days"], rows["MZJ"]["detail"]) == (1, "逾期报送（1天）")
    assert (rows["GAJ"]["late_days"], rows["SZF"]["late_days"], rows["SZF"]["detail"]) == (3, 0, "")
    # the campaign is over: it stands as on its last day, January 31
    assert (rows["XFJ"]["overdue_days"], rows["XFJ"]["detail"]) == (19, "已逾期19天")
    assert rows["XFJ"]["last_action"] == "escalation.overdue"
    assert rows["XFJ"]["last_action_label"] == "已督办（逾期）"
    assert (rows["XFJ"]["state"], rows["XFJ"]["label"]) == ("escalated", "已督办")
    assert status["attention"] == [] and status["campaign"] == str(YEAR)


def test_status_reads_at_80_columns(played, tmp_path, smtp_server):
    from rich.cells import cell_len
    from typer.testing import CliRunner

    from flows.cli import app

    office = copy_office(played, tmp_path, smtp_server)
    common = ["--config", str(office.config_dir), "--data", str(office.data_dir)]
    result = CliRunner().invoke(app, ["status", *common], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    for code, name, _kind, _leader in UNITS:  # one line per unit, its name whole
        (line,) = [line for line in lines if line.split()[:1] == [code]]
        assert name.removeprefix("樟树市") in line
    (mzj,) = [line for line in lines if line.startswith(" MZJ ") or line.startswith("MZJ ")]
    assert "已接收" in mzj and "逾期报送（1天）" in mzj


# -- 7. failures the coordinator is told about -------------------------------------------------


def stop_after(server, count: int) -> threading.Thread:
    """Stop the aiosmtpd ``server`` when it has taken ``count`` messages: the next DATA waits
    until the server is gone, so exactly ``count`` arrive."""
    import asyncio

    handler = server.handler
    reached = threading.Event()
    handle_data = type(handler).handle_DATA

    async def handle_DATA(smtp, session, envelope):
        if len(handler.messages) >= count:
            reached.set()
            await asyncio.sleep(3600)  # cancelled when the server stops
        return await handle_data(handler, smtp, session, envelope)

    handler.handle_DATA = handle_DATA

    def stop():
        reached.wait()
        server.stop()

    thread = threading.Thread(target=stop, daemon=True)
    thread.start()
    return thread


def point_at(office: Office, smtp, **smtp_changes) -> Office:
    """The office's mail.yaml sends through ``smtp`` (with changes) from now on."""
    import yaml

    path = office.config_dir / "mail.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["smtp"] |= {"host": smtp.host, "port": smtp.port, "user": smtp.user or None}
    data["smtp"] |= smtp_changes
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    office.outbox = Outbox(smtp) if hasattr(smtp, "messages") else office.outbox
    return office


def office_on(root: Path, smtp_server, dovecot, smtp, **smtp_changes) -> Office:
    """An office of its own whose mail.yaml points at ``smtp`` (with changes)."""
    return point_at(new_office(root, smtp_server, dovecot), smtp, **smtp_changes)


def test_a_dispatch_whose_server_stops_midway_fails_and_the_next_sends_the_rest_once(
    mail_env, tmp_path, spare_smtp_server, smtp_server, dovecot
):
    office = office_on(
        tmp_path, smtp_server, dovecot, spare_smtp_server, retries=2, backoff_seconds=0.05,
        retry_budget_seconds=2,
    )  # fmt: skip
    watcher = stop_after(spare_smtp_server, 3)
    state = office.run("dispatch", at(START, MORNING))
    watcher.join(timeout=30)
    assert state.is_failed()
    first = office.outbox.of("invitation")
    assert len(first) == 3
    assert state.message.startswith(
        "下发模板：本次发出3份，此前已发出0份；应发10封邮件，已发出3封，未发出7封"
        f"（无法连接邮件服务器 127.0.0.1:{spare_smtp_server.port}（连接被拒绝"
    )
    assert state.message.endswith("，下次运行会自动补发")
    assert "Error" not in state.message and "Errno" not in state.message
    summary = latest_summary().split("## 需要注意")[1]
    assert "**7封邮件未能发出**，下次运行会自动补发" in summary
    # the server is back (the office's usual one): the next run sends the seven, once
    smtp_server.clear()
    point_at(office, smtp_server)
    again = office.run("dispatch", at(START, clock(9, 30)))
    assert again.is_completed() and again.message == "下发模板：本次发出7份，此前已发出3份"
    second = office.outbox.of("invitation")
    assert sorted(m.department for m in first + second) == sorted(CODES)
    assert office.run("dispatch", at(START, clock(10, 0))).message.startswith(
        "下发模板：本次发出0份"
    )
    assert len(office.outbox.mails) == 7
    assert set(event_statuses(office.database).values()) == {"done"}


def test_an_unreachable_server_fails_the_run_at_once_with_one_chinese_line(
    mail_env, prefect_harness, tmp_path, smtp_server, dovecot, unused_port
):
    """`nianbao run dispatch` against a port nothing listens on: exit 1, one Chinese line, no
    traceback; the detail is in the log. Quick by construction: a 2-second retry budget."""

    class Nowhere:
        host, port, user = "127.0.0.1", unused_port, ""

    office = office_on(tmp_path, smtp_server, dovecot, Nowhere, retries=5, retry_budget_seconds=2)
    env = dict(os.environ, PREFECT_API_URL=prefect_harness)
    command = [
        str(Path(sys.executable).with_name("nianbao")), "run", "dispatch",
        "--config", str(office.config_dir), "--data", str(office.data_dir),
        "--as-of", at(START, MORNING).isoformat(),
    ]  # fmt: skip
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 1, output
    assert "Traceback" not in output and len(output.splitlines()) == 1, output
    assert output.startswith(
        "下发（dispatch）失败（Failed）：下发模板：本次发出0份，此前已发出0份；"
    )
    assert f"未发出10封（无法连接邮件服务器 127.0.0.1:{unused_port}（连接被拒绝" in output
    log = office.data_dir / "logs" / "nianbao.log"
    assert f"详情见日志 {log}" in output
    assert "ConnectionRefusedError" in log.read_text(encoding="utf-8")
    statuses = event_statuses(office.database)
    assert len(statuses) == 10 and set(statuses.values()) == {"failed"}


def test_a_mailbox_that_cannot_be_read_fails_the_collect_which_still_answers(
    office, dovecot, unused_port
):
    import yaml

    office.run("dispatch", at(START, MORNING))
    invitation = office.outbox.of("invitation", "RSJ")[0]
    workbook = filled_workbook(template_of(invitation), "RSJ", "good")
    raw, message_id = reply("RSJ", invitation, when=at(START, clock(16, 30)), workbook=workbook)
    dovecot.deliver(raw, office.folder)
    # the answer is owed but the server refuses it this evening
    office.outbox.smtp.handler.data_replies.extend(["451 4.3.0 try again later"] * 2)
    assert office.run("collect", at(START, EVENING)).is_failed()
    # next morning the IMAP server is down: no new mail read, the owed answer goes all the same
    path = office.config_dir / "mail.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["imap"]["port"] = unused_port
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    state = office.run("collect", at(START + timedelta(days=1), MORNING))
    assert state.is_failed()
    assert "无法读取收件邮箱（IMAP）：无法连接收件服务器 127.0.0.1" in state.message
    assert "本次没有收取新邮件" in state.message and "Error" not in state.message
    assert state.message.startswith("收集：新收到0份报表，发出回复1封；")
    assert [m.kind for m in office.outbox.mails if m.parsed.in_reply_to == message_id] == [
        "receipt"
    ]
