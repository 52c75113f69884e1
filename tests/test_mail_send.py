"""Sending through a real SMTP server (aiosmtpd on loopback, see conftest.py)."""

import base64
import email
import email.policy
import logging
import re
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from annual_report.errors import ConfigError, MailSendError
from connectors.archive import MessageArchive
from connectors.attachments import parse_message
from connectors.outgoing import (
    OutgoingMail,
    RecordingSender,
    SmtpSender,
    new_message_id,
    render_message,
)
from connectors.settings import SmtpSettings

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NAME = "樟树市人社局-2021年政府信息公开工作年度报告.xlsx"
SUBJECT = "[年报2021-RSJ] 关于报送2021年政府信息公开工作年度报告的通知"
TEXT = "樟树市人力资源和社会保障局：\n\n请于2022年1月26日前报送。\n\n樟树市人民政府办公室\n"


class Sleeps:
    """Records back-off and rate-limit waits instead of sleeping; drives a fake clock."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def settings_for(smtp, **changes) -> SmtpSettings:
    values = {
        "host": smtp.host,
        "port": smtp.port,
        "security": "none",
        "user": smtp.user,
        "sender": "nianbao@zhangshu.example",
        "sender_name": "樟树市人民政府办公室",
        "rate_per_minute": None,
        "retries": 2,
        "backoff_seconds": 0.5,
        "timeout": 10,
    }
    values.update(changes)
    return SmtpSettings(**values)


def sender_for(smtp, sleeps=None, **changes) -> SmtpSender:
    sleeps = sleeps or Sleeps()
    return SmtpSender(
        settings_for(smtp, **changes), smtp.password, sleep=sleeps, clock=sleeps.clock
    )


def invitation(code: str = "RSJ", to: str = "rsj@zhangshu.example", **changes) -> OutgoingMail:
    values = {
        "to": [f"樟树市人社局 <{to}>"],
        "subject": SUBJECT.replace("RSJ", code),
        "text": TEXT,
        "attachments": [(NAME, b"PK\x03\x04 workbook " + code.encode(), XLSX_TYPE)],
        "message_id": new_message_id("zhangshu.example", f"2021.{code}.invitation"),
        "campaign": "2021",
        "department": code,
        "kind": "invitation",
    }
    values.update(changes)
    return OutgoingMail(**values)


def test_a_batch_goes_over_one_connection_and_one_login(smtp):
    mails = [invitation(f"D{i:02d}", f"d{i:02d}@zhangshu.example") for i in range(30)]
    sender = sender_for(smtp)
    results = sender.send(mails)
    assert [r.status for r in results] == ["sent"] * 30
    assert [r.message_id for r in results] == [m.message_id for m in mails]
    assert smtp.handler.connections == 1
    assert smtp.handler.logins == 1
    assert sender.logins == 1
    assert len(smtp.messages) == 30
    assert smtp.messages[7].rcpt_tos == ["d07@zhangshu.example"]
    assert smtp.messages[0].login == smtp.user
    assert all(r.attempts == 1 and r.sent_at is not None for r in results)


def test_the_raw_mime_is_what_chinese_clients_read(smtp):
    mail = invitation(cc=["leader@zhangshu.example"], in_reply_to="<orig.1@zhangshu.example>")
    [result] = sender_for(smtp).send([mail])
    assert result.ok
    [received] = smtp.messages
    raw = received.raw
    assert sorted(received.rcpt_tos) == ["leader@zhangshu.example", "rsj@zhangshu.example"]

    # RFC 2231 filename* for modern clients ...
    assert f"filename*=UTF-8''{quote(NAME, safe='')}".encode() in raw
    # ... and an RFC 2047 name= on Content-Type for Outlook / Foxmail / QQ mail of old
    name_param = re.search(rb'name="(=\?utf-8\?b\?[^"]+)"', raw)
    assert name_param, raw[:2000]
    words = re.findall(rb"=\?utf-8\?b\?([^?]+)\?=", name_param.group(1))
    assert b"".join(base64.b64decode(w) for w in words).decode() == NAME
    assert all(len(b"=?utf-8?b??=") + len(w) <= 76 for w in words)

    # Independent decoders read the same: the stdlib's modern policy and our parser.
    modern = email.message_from_bytes(raw, policy=email.policy.default)
    assert modern["Subject"] == SUBJECT
    assert str(modern["From"]) == "樟树市人民政府办公室 <nianbao@zhangshu.example>"
    assert modern["Message-ID"] == mail.message_id
    assert modern["In-Reply-To"] == "<orig.1@zhangshu.example>"
    assert modern["X-Nianbao-Department"] == "RSJ"
    assert modern["X-Nianbao-Kind"] == "invitation"
    assert modern["Auto-Submitted"] == "auto-generated"
    assert [p.get_filename() for p in modern.iter_attachments()] == [NAME]
    text = modern.get_body(("plain",)).get_content()
    assert text.replace("\r\n", "\n") == TEXT  # real line breaks, no <br>
    assert "<br" not in text
    ours = parse_message(raw)
    assert ours.subject == SUBJECT and ours.attachments[0].name == NAME
    assert ours.attachments[0].content == b"PK\x03\x04 workbook RSJ"
    assert b"\r\r" not in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_html_alternative_and_bcc(smtp):
    mail = invitation(html="<p>请于<b>1月26日</b>前报送</p>", bcc=["archive@zhangshu.example"])
    sender_for(smtp).send([mail])
    [received] = smtp.messages
    assert "archive@zhangshu.example" in received.rcpt_tos
    assert b"archive@zhangshu.example" not in received.raw  # bcc stays out of the headers
    modern = email.message_from_bytes(received.raw, policy=email.policy.default)
    assert "<b>1月26日</b>" in modern.get_body(("html",)).get_content()
    assert modern.get_body(("plain",)).get_content().startswith("樟树市")


def test_a_refused_recipient_is_recorded_and_the_batch_goes_on(smtp):
    smtp.handler.rcpt_replies["bad@zhangshu.example"] = (
        "550 5.1.1 <bad@zhangshu.example>: no such user"
    )
    mails = [
        invitation("A"),
        invitation("B", "bad@zhangshu.example"),
        invitation("C", "c@zhangshu.example"),
    ]
    seen = []
    results = sender_for(smtp).send(mails, on_result=seen.append)
    assert [r.status for r in results] == ["sent", "failed", "sent"]
    assert seen == results
    bad = results[1]
    assert bad.permanent and bad.smtp_code == 550
    assert "no such user" in bad.smtp_reply
    assert bad.department == "B" and bad.kind == "invitation"
    assert bad.attempts == 1  # a permanent error is not retried
    assert len(smtp.messages) == 2 and smtp.handler.connections == 1


def test_a_partly_refused_mail_is_sent_with_the_refusal_noted(smtp):
    smtp.handler.rcpt_replies["gone@zhangshu.example"] = "550 5.1.1 no such user"
    [result] = sender_for(smtp).send([invitation(cc=["gone@zhangshu.example"])])
    assert result.ok
    assert result.refused == {"gone@zhangshu.example": (550, "5.1.1 no such user")}


def test_a_transient_error_is_retried_with_backoff(smtp):
    smtp.handler.data_replies.append("451 4.3.0 try again later")
    sleeps = Sleeps()
    [result] = sender_for(smtp, sleeps).send([invitation()])
    assert result.ok and result.attempts == 2
    assert len(smtp.messages) == 1
    assert len(sleeps.calls) == 1 and 0.25 <= sleeps.calls[0] <= 0.75  # 0.5 s ± jitter


def test_transient_errors_give_up_after_the_retries_and_the_batch_goes_on(smtp):
    smtp.handler.data_replies.extend(["451 4.3.0 busy"] * 3)
    sleeps = Sleeps()
    results = sender_for(smtp, sleeps).send([invitation("A"), invitation("B")])
    assert [r.status for r in results] == ["failed", "sent"]
    failed = results[0]
    assert not failed.permanent and failed.smtp_code == 451 and failed.attempts == 3
    assert len(sleeps.calls) == 2 and sleeps.calls[1] > sleeps.calls[0] * 0.5
    assert len(smtp.messages) == 1


def test_a_closing_server_is_reconnected(smtp):
    smtp.handler.data_replies.append("421 4.4.2 closing connection")
    results = sender_for(smtp).send([invitation("A"), invitation("B")])
    assert [r.status for r in results] == ["sent", "sent"]
    assert results[0].attempts == 2
    assert smtp.handler.connections == 2 and smtp.handler.logins == 2


def test_a_wrong_password_stops_the_batch_without_showing_it(smtp, caplog):
    caplog.set_level(logging.DEBUG, logger="connectors")
    sender = SmtpSender(settings_for(smtp), "wrong-Passw0rd", sleep=Sleeps())
    with pytest.raises(MailSendError) as info:
        sender.send([invitation()])
    assert info.value.permanent
    assert "authentication failed" in str(info.value)
    assert "wrong-Passw0rd" not in str(info.value) + repr(sender) + caplog.text
    assert smtp.messages == []


def test_an_unreachable_server_gives_up_within_the_retry_budget(unused_port):
    """Ten retries allowed, but the budget of 3 s allows only the back-offs that fit in it."""
    settings = SmtpSettings(
        host="127.0.0.1",
        port=unused_port,
        security="none",
        sender="nianbao@zhangshu.example",
        sender_name="樟树市人民政府办公室",
        retries=10,
        backoff_seconds=1,
        retry_budget_seconds=3,
        rate_per_minute=None,
        timeout=5,
    )
    sleeps = Sleeps()
    with pytest.raises(MailSendError) as info:
        SmtpSender(settings, sleep=sleeps, clock=sleeps.clock).send([invitation()])
    assert 1 <= len(sleeps.calls) < 10 and sum(sleeps.calls) <= 3
    assert info.value.reason_zh == (
        f"无法连接邮件服务器 127.0.0.1:{unused_port}（连接被拒绝：服务器未运行，或地址、端口不对）"
    )


def test_smtp_errors_read_in_chinese():
    import smtplib
    import socket

    from connectors.outgoing import translate_error

    where = {"host": "smtp.yichun.example", "port": 465}
    server = "邮件服务器 smtp.yichun.example:465"
    cases = [
        (ConnectionRefusedError(111, "Connection refused"), f"无法连接{server}（连接被拒绝"),
        (TimeoutError("timed out"), f"连接{server} 超时"),
        (socket.gaierror(-2, "Name or service not known"), "找不到邮件服务器 smtp.yichun.example"),
        (smtplib.SMTPServerDisconnected("gone"), f"{server} 断开了连接"),
        (smtplib.SMTPAuthenticationError(535, b"bad"), f"{server} 拒绝登录（535）"),
        (smtplib.SMTPDataError(451, b"busy"), "暂时无法接收（451 busy），稍后重试"),
        (
            smtplib.SMTPRecipientsRefused({"x@y.example": (550, b"no such user")}),
            "收件地址被邮件服务器拒收：x@y.example（550 no such user）",
        ),
    ]
    for exc, zh in cases:
        error = translate_error(exc, **where)
        assert error.reason_zh.startswith(zh) or zh in error.reason_zh, (exc, error.reason_zh)
        assert "Errno" not in error.reason_zh and "Error" not in error.reason_zh


def test_an_unreachable_server_raises_after_the_retries(unused_port):
    settings = SmtpSettings(
        host="127.0.0.1",
        port=unused_port,
        security="none",
        sender="nianbao@zhangshu.example",
        sender_name="樟树市人民政府办公室",
        retries=2,
        rate_per_minute=None,
        timeout=5,
    )
    sleeps = Sleeps()
    with pytest.raises(MailSendError) as info:
        SmtpSender(settings, sleep=sleeps, clock=sleeps.clock).send([invitation()])
    assert not info.value.permanent
    assert "ConnectionRefusedError" in str(info.value)
    assert len(sleeps.calls) == 2


def test_a_server_lost_mid_batch_leaves_the_rest_unattempted(spare_smtp_server):
    server = spare_smtp_server
    sleeps = Sleeps()

    def stop_after_first(result):
        if result.department == "A":
            server.stop()

    sender = SmtpSender(
        settings_for(server, user=None, retries=1), sleep=sleeps, clock=sleeps.clock
    )
    results = sender.send(
        [invitation("A"), invitation("B"), invitation("C")], on_result=stop_after_first
    )
    assert [r.status for r in results] == ["sent", "failed", "failed"]
    assert not results[1].permanent and results[1].attempts == 2
    assert results[2].attempts == 0 and results[2].error.startswith("not attempted")
    assert len(server.messages) == 1


def test_no_authentication_for_a_relay(smtp):
    sender = SmtpSender(settings_for(smtp, user=None), sleep=Sleeps())
    [result] = sender.send([invitation()])
    assert result.ok and smtp.handler.logins == 0
    assert smtp.messages[0].login is None


def test_a_user_without_password_is_a_config_error(smtp, monkeypatch):
    monkeypatch.delenv("NIANBAO_SMTP_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="NIANBAO_SMTP_PASSWORD"):
        SmtpSender(settings_for(smtp))
    monkeypatch.setenv("NIANBAO_SMTP_PASSWORD", smtp.password)
    [result] = SmtpSender(settings_for(smtp), sleep=Sleeps()).send([invitation()])
    assert result.ok


def test_passwords_never_reach_the_logs(smtp, caplog, monkeypatch):
    # yagmail must never fall back to a prompt or the keyring
    monkeypatch.setattr("getpass.getpass", lambda *a, **k: pytest.fail("prompted for a password"))
    caplog.set_level(logging.DEBUG)
    smtp.handler.data_replies.append("451 4.3.0 try again")
    sender = sender_for(smtp)
    sender.send([invitation()])
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # not aiosmtpd's
    text = "\n".join(r.getMessage() for r in ours)
    assert "attempt 1" in text and "sent <nianbao.2021.RSJ.invitation" in text
    secret = smtp.password
    encoded = base64.b64encode(f"\0{smtp.user}\0{secret}".encode()).decode()
    for shown in (text, repr(sender), repr(sender.settings), str(sender.settings)):
        assert secret not in shown and encoded not in shown


def test_the_rate_limit_spaces_the_mails(smtp):
    sleeps = Sleeps()
    sender = sender_for(smtp, sleeps, rate_per_minute=30)
    sender.send([invitation("A"), invitation("B"), invitation("C")])
    assert sleeps.calls == [2.0, 2.0]


def test_sent_mails_can_be_archived(smtp, tmp_path):
    archive = MessageArchive(tmp_path)
    sleeps = Sleeps()
    sender = SmtpSender(
        settings_for(smtp), smtp.password, archive=archive, sleep=sleeps, clock=sleeps.clock
    )
    [result] = sender.send([invitation()])
    assert result.archived is not None
    with open(result.archived, "rb") as fh:
        assert fh.read() == smtp.messages[0].raw


def test_malformed_mails_fail_alone(smtp):
    mails = [
        invitation("A", to="not an address"),
        invitation("B", subject="注入\r\nBcc: victim@example.org"),
        invitation("C", message_id="no-at-sign"),
    ]
    results = sender_for(smtp).send(mails)
    assert [r.status for r in results] == ["failed", "sent", "failed"]
    assert results[0].permanent and "invalid e-mail address" in results[0].error
    assert b"Bcc: victim" not in smtp.messages[0].raw  # the line break was folded away
    assert "victim@example.org" not in smtp.messages[0].rcpt_tos


def test_recording_sender_for_flow_tests():
    fake = RecordingSender(refuse={"bad@zhangshu.example": (550, "no such user")})
    seen = []
    results = fake.send(
        [invitation("A"), invitation("B", "bad@zhangshu.example")], on_result=seen.append
    )
    assert [r.status for r in results] == ["sent", "failed"]
    assert results[1].permanent and results[1].smtp_code == 550
    assert seen == results and fake.batches == 1
    assert [m.department for m in fake.to("rsj@zhangshu.example")] == ["A"]
    raw = fake.raw[results[0].message_id]
    assert parse_message(raw).attachments[0].name == NAME


def test_render_message_is_deterministic_with_a_date_and_boundary():
    mail = invitation(message_id="<fixed.1@zhangshu.example>")
    date = datetime(2022, 1, 4, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    one = render_message(mail, sender="a@zhangshu.example", date=date, boundary="b")
    two = render_message(mail, sender="a@zhangshu.example", date=date, boundary="b")
    assert one == two
    assert b"Date: Tue, 04 Jan 2022 09:00:00 +0800" in one


def test_threading_ids_from_other_clients_are_kept_when_well_formed():
    mail = invitation(
        in_reply_to="<tencent_4A6B@qq.example>",
        references=["<a@b.example>", "not an id", "<no-at-sign-but-fine>"],
    )
    raw = render_message(mail, sender="a@zhangshu.example")
    parsed = parse_message(raw)
    assert parsed.in_reply_to == "<tencent_4A6B@qq.example>"
    assert parsed.references == (
        "<a@b.example>",
        "<no-at-sign-but-fine>",
        "<tencent_4A6B@qq.example>",
    )


def test_an_invitation_from_the_templates_round_trips(smtp):
    from datetime import date

    from connectors.mailtext import MailTexts, parse_subject_tag, report_filename

    texts = MailTexts(defaults={"office": "樟树市人民政府办公室", "contact": None})
    dept = {"name": "樟树市人社局", "code": "RSJ"}
    file_name = report_filename(dept["name"], 2021)
    rendered = texts.render(
        "invitation",
        campaign="2021",
        year=2021,
        department=dept,
        deadline=date(2022, 1, 26),
        attachment_name=file_name,
    )
    mail = OutgoingMail(
        to=["rsj@zhangshu.example"],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        attachments=[(file_name, b"PK\x03\x04", XLSX_TYPE)],
        message_id=new_message_id("zhangshu.example", "2021.RSJ.invitation"),
        campaign="2021",
        department="RSJ",
        kind="invitation",
    )
    assert sender_for(smtp).send([mail])[0].ok
    back = parse_message(smtp.messages[0].raw)
    assert parse_subject_tag(back.subject) == ("2021", "RSJ")
    assert back.message_id == mail.message_id
    assert back.attachments[0].name == "樟树市人社局-2021年政府信息公开工作年度报告.xlsx"
    assert back.text == rendered.text
    assert back.header("X-Nianbao-Kind") == "invitation"


def test_an_empty_batch_does_not_connect(smtp):
    assert sender_for(smtp).send([]) == []
    assert smtp.handler.connections == 0
