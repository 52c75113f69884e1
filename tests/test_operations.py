"""Exactly-once mail and owed answers, on a real SQLite store with an in-memory sender.

The real SMTP/IMAP path is covered by the flow tests; these pin down the bookkeeping fast.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from officekit import recording_runtime

from connectors.outgoing import RecordingSender
from flows import operations as ops
from flows.demo import city

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
    assert result.failed[0][0] == "invitation:FGW"
    event = rt.store.event("2021", "invitation:FGW")
    assert event.status == "failed" and event.detail["permanent"] is True
    assert ops.invitation(rt, "FGW", AS_OF) is None  # the coordinator fixes the address first


def test_a_transient_failure_is_tried_again(rt):
    rt.outbox = RecordingSender(refuse={city.address("RSJ"): (451, "4.3.0 try later")})
    assert ops.deliver(rt, invitations(rt, "RSJ")).failed
    rt.outbox = RecordingSender()
    assert ops.deliver(rt, invitations(rt, "RSJ")).sent == ["invitation:RSJ"]


def test_nothing_is_owed_before_anything_arrived(rt):
    assert ops.owed_answers(rt, AS_OF) == []
    assert ops.due_ladder(rt, AS_OF) == []  # nobody invited yet: nobody chased


def test_a_server_that_cannot_be_reached_leaves_nothing_uncertain(rt):
    from annual_report.errors import MailSendError

    class Down(RecordingSender):
        def send(self, mails, *, before_send=None, on_result=None):
            before_send(mails[0])
            raise MailSendError("cannot connect to the SMTP server")

    items = invitations(rt, "RSJ")
    rt.outbox = Down()
    with pytest.raises(MailSendError):
        ops.deliver(rt, items)
    assert rt.store.event("2021", "invitation:RSJ").status == "failed"
    rt.outbox = RecordingSender()
    assert ops.deliver(rt, items).sent == ["invitation:RSJ"]  # retried on the next run


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
