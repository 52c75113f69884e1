"""Exactly-once mail, and mail the coordinator must know about, on a real SQLite store with an
in-memory sender injected into the runtime.

The real SMTP/IMAP path is covered by the flow tests; these pin down the bookkeeping fast.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from officekit import recording_runtime

from annual_report.errors import StoreError
from connectors.outgoing import RecordingSender
from demo import city
from office.answers import owed_answers
from office.attention import attention, tell_coordinator
from office.delivery import Outbound, _start_time, deliver, release_uncertain
from office.dispatch import invitation
from office.ladder import due_ladder
from office.status import states

AS_OF = datetime(2022, 1, 4, 9, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def rt(tmp_path):
    runtime = recording_runtime(
        tmp_path, RecordingSender(refuse={city.address("FGW"): (550, "5.1.1 no such user")})
    )
    yield runtime
    runtime.close()


def invitations(rt, *codes):
    return [invitation(rt, code, AS_OF) for code in codes]


def invitations_of(rt, *codes):
    """The invitations even when they are not owed (to see what deliver makes of them)."""
    return [invitation(rt, code, AS_OF, force=True) for code in codes]


def test_each_invitation_goes_once(rt):
    first = deliver(rt, invitations(rt, "RSJ", "JYJ"))
    assert first.sent == ["invitation:RSJ", "invitation:JYJ"]
    assert invitation(rt, "RSJ", AS_OF) is None  # already sent: nothing to prepare
    assert len(rt.sender.sent) == 2
    mail = rt.sender.sent[0]
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

    rt.sender = Dies()
    with pytest.raises(KeyboardInterrupt):
        deliver(rt, items)
    assert rt.store.event("2021", "invitation:RSJ").status == "pending"
    rt.sender = RecordingSender()
    again = deliver(rt, items)
    assert again.uncertain == ["invitation:RSJ"] and rt.sender.sent == []
    forced = deliver(rt, items, force=True)
    assert forced.sent == ["invitation:RSJ"]


def test_a_refused_address_is_recorded_and_not_retried(rt):
    result = deliver(rt, invitations(rt, "FGW", "RSJ"))
    assert result.sent == ["invitation:RSJ"]
    (failure,) = result.failed
    assert failure.key == "invitation:FGW" and failure.permanent
    assert failure.error_zh.startswith("收件地址被拒收：fgw@")
    event = rt.store.event("2021", "invitation:FGW")
    assert event.status == "failed" and event.detail["permanent"] is True
    assert invitation(rt, "FGW", AS_OF) is None  # the coordinator fixes the address first
    again = deliver(rt, invitations_of(rt, "FGW"))
    assert again.refused == ["invitation:FGW"] and again.uncertain == []  # refused, not held
    (item,) = attention(rt)
    assert (item.key, item.problem, item.department) == ("invitation:FGW", "refused", "FGW")
    # the coordinator is told once, with the exact resend to run after fixing the address
    told, delivery = tell_coordinator(rt, AS_OF)
    assert delivery.sent == ["refused:invitation:FGW#1"] and told == [item]
    (notice,) = rt.sender.to(rt.config.mail.coordinator)
    assert "被拒收" in notice.subject and "nianbao resend invitation:FGW --config" in notice.text
    assert tell_coordinator(rt, AS_OF)[1].sent == []
    assert "将由下一次运行发送" in release_uncertain(rt, "invitation:FGW")
    assert attention(rt) == []
    assert deliver(rt, invitations(rt, "FGW")).failed  # still refused: told again


def test_a_transient_failure_is_tried_again(rt):
    rt.sender = RecordingSender(refuse={city.address("RSJ"): (451, "4.3.0 try later")})
    assert deliver(rt, invitations(rt, "RSJ")).failed
    rt.sender = RecordingSender()
    assert deliver(rt, invitations(rt, "RSJ")).sent == ["invitation:RSJ"]


def test_nothing_is_owed_before_anything_arrived(rt):
    assert owed_answers(rt, AS_OF) == []
    assert due_ladder(rt, AS_OF) == []  # nobody invited yet: nobody chased


def test_a_server_that_cannot_be_reached_leaves_nothing_uncertain(rt):
    from connectors.outgoing import SmtpError

    class Down(RecordingSender):
        def send(self, mails, *, before_send=None, on_result=None):
            before_send(mails[0])
            raise SmtpError("ConnectionRefusedError", reason_zh="无法连接邮件服务器 x:25")

    items = invitations(rt, "RSJ", "JYJ")
    rt.sender = Down()
    down = deliver(rt, items)  # an expected outage does not raise
    assert down.outage == "无法连接邮件服务器 x:25" and down.sent == []
    assert [f.key for f in down.failed] == ["invitation:RSJ", "invitation:JYJ"]
    assert {rt.store.event("2021", k).status for k in ("invitation:RSJ", "invitation:JYJ")} == {
        "failed"
    }
    assert [(i.key, i.problem) for i in attention(rt)] == [
        ("invitation:RSJ", "failed"),
        ("invitation:JYJ", "failed"),
    ]
    rt.sender = RecordingSender()
    assert deliver(rt, items).sent == ["invitation:RSJ", "invitation:JYJ"]  # next run
    assert attention(rt) == []


def test_an_undeclared_event_kind_is_refused_at_once(rt):
    (item,) = invitations(rt, "RSJ")
    with pytest.raises(KeyError, match=r"annual_report/campaign/kinds\.py"):
        Outbound("x:RSJ", "sent.thank_you", "RSJ", item.mail)


def test_a_held_back_mail_is_told_once_and_released_by_the_coordinators_word(rt):
    items = invitations(rt, "RSJ")

    class Dies(RecordingSender):
        def send(self, mails, *, before_send=None, on_result=None):
            before_send(mails[0])
            raise KeyboardInterrupt

    rt.sender = Dies()
    with pytest.raises(KeyboardInterrupt):
        deliver(rt, items)
    rt.sender = RecordingSender()
    (held,) = attention(rt)
    assert (held.key, held.problem, held.department) == ("invitation:RSJ", "held_back", "RSJ")
    assert held.to == (city.address("RSJ"),) and held.subject.startswith("[年报2021-RSJ]")
    by_code = {s.code: s for s in states(rt, AS_OF)}
    assert by_code["RSJ"].mail_problems == ("held_back",)
    assert "邮件不确定是否已发出" in by_code["RSJ"].detail
    _, delivery = tell_coordinator(rt, AS_OF)
    assert delivery.sent == ["held_back:invitation:RSJ#1"]
    (notice,) = rt.sender.sent
    assert notice.to == (rt.config.mail.coordinator,)
    assert "不确定是否已发出" in notice.subject
    assert "resend-2021" in notice.text and "key 填 invitation:RSJ" in notice.text
    assert "nianbao resend invitation:RSJ --config" in notice.text
    assert "nianbao resend invitation:RSJ --delivered --config" in notice.text
    assert tell_coordinator(rt, AS_OF)[1].sent == []  # once
    # it arrived after all: recorded as sent, never sent again, nothing left to look at
    assert "已记为发出" in release_uncertain(rt, "invitation:RSJ", delivered=True)
    assert attention(rt) == []
    assert deliver(rt, items).skipped == ["invitation:RSJ"]
    with pytest.raises(StoreError, match=r"已于.*发出，无需处理"):
        release_uncertain(rt, "invitation:RSJ")
    with pytest.raises(StoreError, match="没有编号为 answer:99 的邮件"):
        release_uncertain(rt, "answer:99")


def test_a_mail_another_live_run_is_sending_is_neither_sent_nor_held(rt):
    """A pending mail of a process that is alive on this machine (a collect started by hand
    while the scheduled one runs) is that run's: not sent twice, not reported as held back."""
    import socket
    import subprocess
    import sys

    items = invitations(rt, "RSJ")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = f"{socket.gethostname()}:{other.pid}:{_start_time(other.pid)}"
        rt.store.begin_event(
            "2021", "invitation:RSJ", kind="sent.invitation", department="RSJ",
            detail={"sender": owner},
        )  # fmt: skip
        busy = deliver(rt, items, force=True)
        assert busy.busy == ["invitation:RSJ"] and rt.sender.sent == []
        assert attention(rt) == []
    finally:
        other.kill()
        other.wait()
    # the other process is gone: its mail is held back now
    assert [i.problem for i in attention(rt)] == ["held_back"]


def test_resend_lets_the_next_run_send_an_uncertain_mail(rt):
    from typer.testing import CliRunner

    from flows.cli import app

    items = invitations(rt, "RSJ")
    rt.store.begin_event("2021", "invitation:RSJ", kind="sent.invitation", department="RSJ")
    assert deliver(rt, items).uncertain == ["invitation:RSJ"]
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
    assert deliver(rt, items).sent == ["invitation:RSJ"]
