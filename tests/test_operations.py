"""Exactly-once mail and owed answers, on a real SQLite store with an in-memory sender.

The real SMTP/IMAP path is covered by the flow tests; these pin down the bookkeeping fast.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from officekit import recording_runtime

from annual_report.errors import StoreError
from connectors.outgoing import RecordingSender
from demo import city
from office import operations as ops

AS_OF = datetime(2022, 1, 4, 9, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def rt(tmp_path):
    runtime = recording_runtime(
        tmp_path, RecordingSender(refuse={city.address("FGW"): (550, "5.1.1 no such user")})
    )
    yield runtime
    runtime.close()


def invitations(rt, *codes):
    return [ops.invitation(rt, code, AS_OF) for code in codes]


def invitations_of(rt, *codes):
    """The invitations even when they are not owed (to see what deliver makes of them)."""
    return [ops.invitation(rt, code, AS_OF, force=True) for code in codes]


def test_each_invitation_goes_once(rt):
    first = ops.deliver(rt, invitations(rt, "RSJ", "JYJ"))
    assert first.sent == ["invitation:RSJ", "invitation:JYJ"]
    assert ops.invitation(rt, "RSJ", AS_OF) is None  # already sent: nothing to prepare
    assert len(rt.outbox.sent) == 2
    mail = rt.outbox.sent[0]
    assert mail.subject.startswith("[年报2021-RSJ]")
    assert (
        mail.attachments[0].filename
        == "清河市人力资源和社会保障局-2021年政府信息公开工作年度报告.xlsx"
    )
    event = rt.store.event("2021", "invitation:RSJ")
    assert event.status == "done" and event.detail["message_id"] == mail.message_id


def test_a_mail_pending_when_a_run_died_is_not_sent_again(rt):
    items = invitations(rt, "RSJ")

    class Dies(RecordingSender):
        def send(self, mails, *, before_send=None, on_result=None):
            before_send(mails[0])
            raise KeyboardInterrupt  # the process dies while the server has the mail

    rt.outbox = Dies()
    with pytest.raises(KeyboardInterrupt):
        ops.deliver(rt, items)
    assert rt.store.event("2021", "invitation:RSJ").status == "pending"
    rt.outbox = RecordingSender()
    again = ops.deliver(rt, items)
    assert again.uncertain == ["invitation:RSJ"] and rt.outbox.sent == []
    forced = ops.deliver(rt, items, force=True)
    assert forced.sent == ["invitation:RSJ"]


def test_a_refused_address_is_recorded_and_not_retried(rt):
    result = ops.deliver(rt, invitations(rt, "FGW", "RSJ"))
    assert result.sent == ["invitation:RSJ"]
    (failure,) = result.failed
    assert failure.key == "invitation:FGW" and failure.permanent
    assert failure.error_zh.startswith("收件地址被拒收：fgw@")
    event = rt.store.event("2021", "invitation:FGW")
    assert event.status == "failed" and event.detail["permanent"] is True
    assert ops.invitation(rt, "FGW", AS_OF) is None  # the coordinator fixes the address first
    again = ops.deliver(rt, invitations_of(rt, "FGW"))
    assert again.refused == ["invitation:FGW"] and again.uncertain == []  # refused, not held
    (item,) = ops.attention(rt)
    assert (item.key, item.problem, item.department) == ("invitation:FGW", "refused", "FGW")
    # the coordinator is told once, with the exact resend to run after fixing the address
    told, delivery = ops.tell_coordinator(rt, AS_OF)
    assert delivery.sent == ["refused:invitation:FGW#1"] and told == [item]
    (notice,) = rt.outbox.to(rt.config.mail.coordinator)
    assert "被拒收" in notice.subject and "nianbao resend invitation:FGW --config" in notice.text
    assert ops.tell_coordinator(rt, AS_OF)[1].sent == []
    assert "将由下一次运行发送" in ops.release_uncertain(rt, "invitation:FGW")
    assert ops.attention(rt) == []
    assert ops.deliver(rt, invitations(rt, "FGW")).failed  # still refused: told again


def test_a_transient_failure_is_tried_again(rt):
    rt.outbox = RecordingSender(refuse={city.address("RSJ"): (451, "4.3.0 try later")})
    assert ops.deliver(rt, invitations(rt, "RSJ")).failed
    rt.outbox = RecordingSender()
    assert ops.deliver(rt, invitations(rt, "RSJ")).sent == ["invitation:RSJ"]


def test_nothing_is_owed_before_anything_arrived(rt):
    assert ops.owed_answers(rt, AS_OF) == []
    assert ops.due_ladder(rt, AS_OF) == []  # nobody invited yet: nobody chased


def test_a_server_that_cannot_be_reached_leaves_nothing_uncertain(rt):
    from connectors.outgoing import SmtpError

    class Down(RecordingSender):
        def send(self, mails, *, before_send=None, on_result=None):
            before_send(mails[0])
            raise SmtpError("ConnectionRefusedError", reason_zh="无法连接邮件服务器 x:25")

    items = invitations(rt, "RSJ", "JYJ")
    rt.outbox = Down()
    down = ops.deliver(rt, items)  # an expected outage does not raise
    assert down.outage == "无法连接邮件服务器 x:25" and down.sent == []
    assert [f.key for f in down.failed] == ["invitation:RSJ", "invitation:JYJ"]
    assert {rt.store.event("2021", k).status for k in ("invitation:RSJ", "invitation:JYJ")} == {
        "failed"
    }
    assert [(i.key, i.problem) for i in ops.attention(rt)] == [
        ("invitation:RSJ", "failed"),
        ("invitation:JYJ", "failed"),
    ]
    rt.outbox = RecordingSender()
    assert ops.deliver(rt, items).sent == ["invitation:RSJ", "invitation:JYJ"]  # next run
    assert ops.attention(rt) == []


def test_an_undeclared_event_kind_is_refused_at_once(rt):
    (item,) = invitations(rt, "RSJ")
    with pytest.raises(KeyError, match=r"annual_report/campaign/kinds\.py"):
        ops.Outbound("x:RSJ", "sent.thank_you", "RSJ", item.mail)


def test_a_held_back_mail_is_told_once_and_released_by_the_coordinators_word(rt):
    items = invitations(rt, "RSJ")

    class Dies(RecordingSender):
        def send(self, mails, *, before_send=None, on_result=None):
            before_send(mails[0])
            raise KeyboardInterrupt

    rt.outbox = Dies()
    with pytest.raises(KeyboardInterrupt):
        ops.deliver(rt, items)
    rt.outbox = RecordingSender()
    (held,) = ops.attention(rt)
    assert (held.key, held.problem, held.department) == ("invitation:RSJ", "held_back", "RSJ")
    assert held.to == (city.address("RSJ"),) and held.subject.startswith("[年报2021-RSJ]")
    states = {s.code: s for s in ops.states(rt, AS_OF)}
    assert states["RSJ"].mail_problems == ("held_back",)
    assert "邮件不确定是否已发出" in states["RSJ"].detail
    _, delivery = ops.tell_coordinator(rt, AS_OF)
    assert delivery.sent == ["held_back:invitation:RSJ#1"]
    (notice,) = rt.outbox.sent
    assert notice.to == (rt.config.mail.coordinator,)
    assert "不确定是否已发出" in notice.subject
    assert "resend-2021" in notice.text and "key 填 invitation:RSJ" in notice.text
    assert "nianbao resend invitation:RSJ --config" in notice.text
    assert "nianbao resend invitation:RSJ --delivered --config" in notice.text
    assert ops.tell_coordinator(rt, AS_OF)[1].sent == []  # once
    # it arrived after all: recorded as sent, never sent again, nothing left to look at
    assert "已记为发出" in ops.release_uncertain(rt, "invitation:RSJ", delivered=True)
    assert ops.attention(rt) == []
    assert ops.deliver(rt, items).skipped == ["invitation:RSJ"]
    with pytest.raises(StoreError, match=r"已于.*发出，无需处理"):
        ops.release_uncertain(rt, "invitation:RSJ")
    with pytest.raises(StoreError, match="没有编号为 answer:99 的邮件"):
        ops.release_uncertain(rt, "answer:99")


def test_a_mail_another_live_run_is_sending_is_neither_sent_nor_held(rt):
    """A pending mail of a process that is alive on this machine (a collect started by hand
    while the scheduled one runs) is that run's: not sent twice, not reported as held back."""
    import socket
    import subprocess
    import sys

    items = invitations(rt, "RSJ")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = f"{socket.gethostname()}:{other.pid}:{ops._start_time(other.pid)}"
        rt.store.begin_event(
            "2021", "invitation:RSJ", kind="sent.invitation", department="RSJ",
            detail={"sender": owner},
        )  # fmt: skip
        busy = ops.deliver(rt, items, force=True)
        assert busy.busy == ["invitation:RSJ"] and rt.outbox.sent == []
        assert ops.attention(rt) == []
    finally:
        other.kill()
        other.wait()
    # the other process is gone: its mail is held back now
    assert [i.problem for i in ops.attention(rt)] == ["held_back"]


def test_resend_lets_the_next_run_send_an_uncertain_mail(rt):
    from typer.testing import CliRunner

    from flows.cli import app

    items = invitations(rt, "RSJ")
    rt.store.begin_event("2021", "invitation:RSJ", kind="sent.invitation", department="RSJ")
    assert ops.deliver(rt, items).uncertain == ["invitation:RSJ"]
    config_dir = rt.config.config_dir
    result = CliRunner().invoke(
        app,
        [
            "resend",
            "invitation:RSJ",
            "--config",
            str(config_dir),
            "--data",
            str(rt.config.data_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert ops.deliver(rt, items).sent == ["invitation:RSJ"]
