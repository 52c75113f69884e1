from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from annual_report.campaign.registry import load_registry
from annual_report.campaign.states import DepartmentState
from office.status import (
    action_label,
    changes,
    progress,
    remember,
    snapshot,
    summary_markdown,
    table_rows,
)

ZONE = ZoneInfo("Asia/Shanghai")
REGISTRY = load_registry("config")


def state(code, name, st, due=date(2022, 1, 26)):
    return DepartmentState(code, name, "department", st, None, None, due, None, None, 0, 0)


STATES = [
    state("RSJ", "宜春市人力资源和社会保障局", "accepted"),
    state("FGW", "宜春市发展和改革委员会", "sent"),
    state("JYJ", "宜春市教育局", "rejected"),
    state("GAJ", "宜春市公安局", "accepted_with_warnings"),
]


def test_table_rows_are_chinese_and_complete():
    rows = table_rows(STATES, ZONE)
    assert [r["代码"] for r in rows] == ["JYJ", "FGW", "GAJ", "RSJ"]  # most urgent first
    assert rows[1]["状态"] == "已发送" and rows[1]["截止"] == "01-26"


def test_actions_read_in_chinese():
    assert action_label("answer.rejected") == "已回复：退回修改"
    assert action_label("submission v2 received") == "收到第2版"
    assert action_label("submission v1 accepted") == "第1版：已接收"
    assert action_label("something.new") == "something.new"


def test_history_keeps_the_last_change():
    first = remember(None, STATES, datetime(2022, 1, 5, 9, tzinfo=ZONE), ZONE)
    changed = [*STATES[:1], state("FGW", "宜春市发展和改革委员会", "accepted"), *STATES[2:]]
    second = remember(first, changed, datetime(2022, 1, 6, 9, tzinfo=ZONE), ZONE)
    third = remember(second, changed, datetime(2022, 1, 7, 9, tzinfo=ZONE), ZONE)
    assert third == second and third["previous_at"] == "01-05 09:00"
    assert changes(third["previous"], changed) == ["宜春市发展和改革委员会：已发送 → 已接收"]


def test_progress_counts_accepted_and_accepted_with_warnings():
    assert progress(STATES) == 50.0
    assert progress([]) == 0.0


def test_changes_since_the_last_snapshot():
    before = snapshot(STATES) | {"FGW": "not_sent"}
    assert changes(before, STATES) == ["宜春市发展和改革委员会：未发送 → 已发送"]
    assert changes(None, STATES) == []


def test_summary_names_whom_to_call_after_the_deadline():
    text = summary_markdown(
        title="收集情况",
        states=STATES,
        registry=REGISTRY,
        as_of=datetime(2022, 1, 27, 9, tzinfo=ZONE),
        zone=ZONE,
        deadline=date(2022, 1, 26),
        previous=snapshot(STATES),
        extra=["未能发送：invitation:RSJ"],
    )
    assert "应报 4 个单位，已接收 2 个（50%）" in text and "（已过）" in text
    assert "- 无变化" in text
    call = text.split("## 需要电话督促")[1]
    assert "宜春市发展和改革委员会" in call and "张伟 0795-3202101" in call
    assert "宜春市人力资源和社会保障局" not in call
    assert "未能发送：invitation:RSJ" in text


def test_files_waiting_for_the_coordinator_stay_in_the_summary_until_assigned():
    from annual_report.store.records import Submission

    stray = Submission(
        id=17,
        campaign="2021",
        department=None,
        version=None,
        sha256="ab" * 32,
        file_name="年报|最终版.xlsx",
        archived_path=None,
        received_at=datetime(2022, 1, 10, 8, 30, tzinfo=ZONE),
        source="imap:1:40",
        message_id=None,
        sender="12345@qq.example",
        form_id=None,
        report_year=None,
        method=None,
        status="quarantined",
        error_count=0,
        warning_count=0,
        failure_kind=None,
        failure_reason=None,
        failure_reason_zh=None,
        explanation=None,
        decided_by=None,
        decided_at=None,
        decision_note=None,
        match_reason_zh="表格带有某单位的识别码，但发件地址\n不在单位名录中",
        suggested_department="RSJ",
    )
    common = dict(
        title="收集情况",
        states=STATES,
        registry=REGISTRY,
        as_of=datetime(2022, 1, 11, 9, tzinfo=ZONE),
        zone=ZONE,
        deadline=date(2022, 1, 26),
        previous=None,
        campaign="2021",
    )
    text = summary_markdown(**common, unassigned=[stray])
    waiting = text.split("## 待确认的文件")[1]
    assert "`assign-2021`" in waiting
    row = next(line for line in waiting.splitlines() if line.startswith("| 17 |"))
    assert row == (
        "| 17 | 01-10 08:30 | 12345@qq.example | 年报｜最终版.xlsx | "
        "表格带有某单位的识别码，但发件地址 不在单位名录中 | 宜春市人力资源和社会保障局（RSJ） |"
    )
    assert "待确认的文件" not in summary_markdown(**common, unassigned=[])


def test_every_recorded_action_reads_in_chinese():
    from annual_report.campaign.kinds import EVENT_KINDS

    for kind in EVENT_KINDS:
        assert action_label(kind) != kind
    assert action_label("answer.returned") == "已回复：协调人退回"
    assert action_label("submission v3 unreadable") == "第3版：无法读取"


def test_the_table_says_late_and_mail_problems_in_its_own_column():
    from dataclasses import replace

    late = replace(STATES[0], late_days=2)
    chased = replace(STATES[1], overdue_days=5, mail_problems=("held_back",))
    rows = table_rows([late, chased], ZONE)
    assert rows[0]["说明"] == "已逾期5天，邮件不确定是否已发出"
    assert rows[1]["说明"] == "逾期报送（2天）"


class Item:
    def __init__(self, key, problem, department="FGW", reason="无法连接邮件服务器 x:25"):
        self.key, self.problem, self.department = key, problem, department
        self.what = f"填报通知（附模板）（{key}）"
        self.to = ("fgw@example.org",)
        self.since = datetime(2022, 1, 4, 9, 0, tzinfo=ZONE)
        self.reason_zh = reason


class Failure:
    def __init__(self, key, permanent=False):
        self.key, self.permanent = key, permanent
        self.error_zh = "无法连接邮件服务器 x:25（连接被拒绝）"


class Delivery:
    def __init__(self, sent, failed, outage=None):
        self.sent, self.failed, self.outage = sent, failed, outage


def test_a_run_that_could_not_send_what_it_owed_fails_counting_in_chinese():
    from office.outcome import outcome

    result = outcome(
        "下发模板：本次发出8份，此前已发出0份",
        delivery=Delivery(["a"] * 8, [Failure(f"invitation:{i}") for i in range(22)]),
        states=STATES,
    )
    assert result.failed and result.name == "Failed"
    assert result.message == (
        "下发模板：本次发出8份，此前已发出0份；应发30封邮件，已发出8封，未发出22封"
        "（无法连接邮件服务器 x:25（连接被拒绝）），下次运行会自动补发；"
        "4个单位中2个尚未接收：宜春市发展和改革委员会、宜春市教育局"
    )


def test_held_back_or_refused_mail_needs_attention_and_says_which():
    from office.outcome import outcome

    held = outcome("收集：新收到0份报表，发出回复0封", attention=[Item("answer:17", "held_back")])
    assert held.name == "NeedsAttention" and not held.failed
    assert "1封邮件不确定是否已发出，没有重发（answer:17）" in held.message
    quiet = outcome("催报：发出提醒和督办0封", attention=[Item("reminder.x:FGW", "failed")])
    assert quiet.name == "Completed"  # a failure the next run retries is in the summary only
    done = outcome("催报：发出提醒和督办0封", states=[STATES[0]])
    assert (done.name, done.message) == ("Completed", "催报：发出提醒和督办0封；1个单位已全部接收")


def test_the_summary_lists_what_needs_the_coordinator_with_the_exact_commands():
    text = summary_markdown(
        title="收集情况",
        states=STATES,
        registry=REGISTRY,
        as_of=datetime(2022, 1, 5, 9, tzinfo=ZONE),
        zone=ZONE,
        deadline=date(2022, 1, 26),
        previous=None,
        campaign="2021",
        attention=[
            Item("answer:17", "held_back"),
            Item("invitation:JYJ", "refused", "JYJ", "收件地址被邮件服务器拒收"),
            Item("invitation:RSJ", "failed", "RSJ"),
        ],
        command=lambda key, delivered=False: (
            f"nianbao resend {key}" + (" --delivered" if delivered else "")
        ),
    )
    section = text.split("## 需要注意")[1]
    assert "**1封邮件不确定是否已发出，没有重发。**" in section and "`resend-2021`" in section
    assert (
        "- 填报通知（附模板）（answer:17），宜春市发展和改革委员会，发往 fgw@example.org" in section
    )
    assert "  - 未收到，重发：`nianbao resend answer:17`" in section
    assert "  - 已收到：`nianbao resend answer:17 --delivered`" in section
    assert "**1封邮件被拒收。**" in section and "：收件地址被邮件服务器拒收" in section
    assert "**1封邮件未能发出**，下次运行会自动补发" in section


def test_a_mailbox_that_cannot_be_read_reads_in_chinese():
    from annual_report.errors import MailFetchError
    from office.outcome import fetch_error_zh

    exc = MailFetchError(
        "IMAP connect failed: ConnectionRefusedError: [Errno 111] Connection refused",
        host="imap.yichun.example:993",
    )
    assert fetch_error_zh("imap", exc) == (
        "无法读取收件邮箱（IMAP）：无法连接收件服务器 imap.yichun.example:993"
        "（连接被拒绝：服务器未运行，或地址、端口不对），本次没有收取新邮件"
    )


def test_where_the_campaign_stands_for_nianbao_status(tmp_path):
    from typer.testing import CliRunner

    from connectors.outgoing import RecordingSender
    from demo import city
    from flows.cli import app
    from office.campaign import open_campaign
    from office.delivery import deliver
    from office.dispatch import invitation
    from office.runtime import Runtime
    from office.settings import load_app_config
    from office.status import standing

    config_dir = city.write_config(
        tmp_path / "config",
        report_year=2021,
        smtp_port=2525,
        maildir=tmp_path / "office",
        archive=tmp_path / "archive",
    )
    config = load_app_config(config_dir, tmp_path / "data")
    common = ["--config", str(config_dir), "--data", str(tmp_path / "data")]
    refused = RecordingSender(refuse={city.address("FGW"): (550, "5.1.1 no such user")})
    rt = Runtime.open(config, sender=refused)
    try:
        assert standing(rt) is None  # not opened yet
        before = CliRunner().invoke(app, ["status", *common])
        assert before.exit_code == 2 and "本期（2021）收集尚未开始" in before.output
        open_campaign(rt)
        deliver(rt, [invitation(rt, "FGW", datetime(2022, 1, 4, 9, tzinfo=ZONE))])
        # a campaign that is over stands as it was on its last day
        where = standing(rt, datetime(2023, 6, 1, tzinfo=ZONE))
        assert where.as_of == config.plan.at(config.plan.last_day, time(23, 59))
        assert len(where.states) == len(config.registry) and where.unassigned == []
        (item,) = where.attention
        assert (item.key, item.problem) == ("invitation:FGW", "refused")
        resend, delivered = where.commands["invitation:FGW"]
        assert resend.startswith("nianbao resend invitation:FGW --config")
        assert delivered.startswith("nianbao resend invitation:FGW --delivered --config")
    finally:
        rt.close()
