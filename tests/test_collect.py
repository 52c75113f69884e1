"""Collecting a mixed batch from a real Maildir into a real store: every kind of reply gets the
right record and the right answer, a broken message does not stop the batch, and a second run
changes nothing. (The IMAP path against dovecot is in the flow tests.)"""

import mailbox
import random
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from officekit import recording_runtime

from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, fill_template, sample_narrative
from connectors.attachments import parse_message
from connectors.mailbox import MaildirMailbox
from demo import city
from office.answers import owed_answers
from office.delivery import deliver
from office.dispatch import invitation as prepare_invitation
from office.intake import collect_mailbox

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2022, 1, 4, 9, tzinfo=ZONE)
EVENING = datetime(2022, 1, 10, 17, tzinfo=ZONE)
FIXTURES = Path(__file__).parent / "fixtures" / "mail"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@pytest.fixture
def rt(tmp_path):
    runtime = recording_runtime(tmp_path)
    items = [prepare_invitation(runtime, code, START) for code in ("RSJ", "JYJ", "CZJ", "SLJ")]
    deliver(runtime, items)
    yield runtime
    runtime.close()


def invitation(rt, code):
    mail = next(m for m in rt.sender.sent if m.department == code and m.kind == "invitation")
    return parse_message(rt.sender.raw[mail.message_id])


def reply(rt, tmp_path, code, *, workbooks=1, broken=False, text="请查收。", seed=""):
    inv = invitation(rt, code)
    msg = EmailMessage()
    msg["From"] = city.address(code)
    msg["To"] = city.OFFICE
    msg["Subject"] = f"回复：{inv.subject}"
    msg["In-Reply-To"] = inv.message_id
    msg["Message-ID"] = make_msgid(domain="qinghe.example")
    msg.set_content(text)
    form = form_for_year(2021)
    for n in range(workbooks):
        rng = random.Random(f"{code}-{n}{seed}")
        values = consistent_values(form, rng)
        if broken:
            values["requests.granted.natural_person"] += 1
        template = tmp_path / f"{code}-t.xlsx"
        template.write_bytes(inv.workbooks[0].content)
        filled = fill_template(
            template, tmp_path / f"{code}-{n}.xlsx", values, sample_narrative(2021, values, rng)
        )
        msg.add_attachment(
            filled.read_bytes(), maintype=XLSX[0], subtype=XLSX[1], filename=f"报告{n + 1}.xlsx"
        )
    return msg.as_bytes()


def drop_in(rt, raws):
    box = mailbox.Maildir(rt.config.mail.maildir, create=True)
    for raw in raws:
        box.add(raw)


def collect(rt):
    box = MaildirMailbox(rt.config.mail.maildir)
    intake = collect_mailbox(rt, "maildir", box, EVENING)
    answers = owed_answers(rt, EVENING)
    return intake, answers, deliver(rt, answers)


def test_a_mixed_batch(rt, tmp_path):
    drop_in(
        rt,
        [
            reply(rt, tmp_path, "RSJ"),
            (FIXTURES / "broken_truncated.eml").read_bytes(),
            reply(rt, tmp_path, "JYJ", broken=True),
            reply(rt, tmp_path, "CZJ", workbooks=2),
            reply(rt, tmp_path, "SLJ", workbooks=0, text="表格稍后补报。"),
            (FIXTURES / "auto_reply.eml").read_bytes(),
        ],
    )
    intake, answers, delivery = collect(rt)
    # the truncated message's attachment is a file too: unreadable, its sender told why
    assert intake.messages == 6 and intake.workbooks == 5
    subs = {s.department: s for s in rt.store.submissions("2021")}
    assert subs["RSJ"].status == "accepted"
    assert subs["JYJ"].status == "rejected"
    assert subs["CZJ"].version == 2  # two workbooks: two versions, the last one counts
    kinds = sorted(a.kind for a in answers)
    # RSJ, and CZJ's second workbook (its first was superseded before anyone was answered)
    assert kinds.count("answer.accepted") == 2
    assert "answer.rejected" in kinds and "answer.several_workbooks" in kinds
    no_workbook = [a.department for a in answers if a.kind == "answer.no_workbook"]
    assert "SLJ" in no_workbook
    receipt = next(a for a in answers if a.kind == "answer.accepted")
    attached = receipt.mail.attachments[0]
    assert attached.filename.endswith("年政府信息公开工作年度报告.docx")
    assert attached.content[:2] == b"PK" and "附件《" in receipt.mail.text
    rejected = next(a for a in answers if a.kind == "answer.rejected")
    assert rejected.mail.to == (city.address("JYJ"),)
    assert "R3" in rejected.mail.text and rejected.mail.in_reply_to
    outcomes = {m.outcome for m in rt.store.messages("2021")}
    assert {"workbooks", "no_workbook", "auto-reply"} <= outcomes
    # every raw message archived by content hash, the broken one too
    assert all(rt.archive.find(m.sha256) for m in rt.store.messages("2021"))
    assert not delivery.failed

    sent = len(rt.sender.sent)
    intake, answers, _ = collect(rt)
    assert intake.messages == 0 and answers == [] and len(rt.sender.sent) == sent


def test_a_warning_answered_with_an_explanation_is_recorded_not_complained_about(rt, tmp_path):
    drop_in(rt, [reply(rt, tmp_path, "RSJ")])
    collect(rt)
    sub = rt.store.latest_submission("2021", "RSJ")
    rt.store.decide(sub.id, "accepted", by="test")  # make the next one the one explained
    rt.store.record_submission(
        "2021",
        sha256="f" * 64,
        source="maildir:x",
        department="RSJ",
        status="accepted_with_warnings",
        sender=city.address("RSJ"),
    )
    drop_in(rt, [reply(rt, tmp_path, "RSJ", workbooks=0, text="关于警告的说明：确实为0。")])
    _, answers, _ = collect(rt)
    assert rt.store.latest_submission("2021", "RSJ").explanation.startswith("关于警告的说明")
    assert not [a for a in answers if a.kind == "answer.no_workbook"]


def test_the_answers_owed_are_built_and_sent_a_batch_at_a_time(rt, tmp_path):
    """Memory bounded by a batch: each batch of answers is sent (one connection) before the
    next is built; together they are exactly the answers owed, each sent once."""
    from office.answers import answer_owed

    drop_in(rt, [reply(rt, tmp_path, code) for code in ("RSJ", "JYJ", "CZJ", "SLJ")])
    collect_mailbox(rt, "maildir", MaildirMailbox(rt.config.mail.maildir), EVENING)
    owed = sorted(a.key for a in owed_answers(rt, EVENING))
    assert len(owed) == 4
    batches: list[list[str]] = []

    def send(runtime, items):
        batches.append([i.key for i in items])
        return deliver(runtime, items)

    done = answer_owed(rt, EVENING, batch=3, send=send)
    assert [len(b) for b in batches] == [3, 1]
    assert sorted(done.sent) == owed == sorted(k for b in batches for k in b)
    assert owed_answers(rt, EVENING) == []
    assert answer_owed(rt, EVENING, batch=3, send=send).sent == [] and len(batches) == 2


def test_a_version_replaced_before_it_was_answered_is_named_in_the_answer(rt, tmp_path):
    """Two mails of one unit read in one run: one answer, which names the first file as
    replaced; a third version after that answer names nothing again."""
    first = reply(rt, tmp_path, "RSJ")
    second = reply(rt, tmp_path, "RSJ", broken=True)
    drop_in(rt, [first])
    drop_in(rt, [second])
    _, answers, delivery = collect(rt)
    assert not delivery.failed
    mine = [a for a in answers if a.department == "RSJ"]
    assert [a.kind for a in mine] == ["answer.rejected"]
    [old, new] = sorted(rt.store.submissions("2021"), key=lambda s: s.id)
    assert (old.status, new.status) == ("superseded", "rejected")
    text = mine[0].mail.text
    assert "已被本次报送替代" in text and f"《{old.file_name}》" in text
    assert "已被本次报送替代" in (mine[0].mail.html or "")

    drop_in(rt, [reply(rt, tmp_path, "RSJ", seed="third")])
    _, answers, _ = collect(rt)
    [receipt] = [a for a in answers if a.department == "RSJ"]
    assert receipt.kind == "answer.accepted" and "已被本次报送替代" not in receipt.mail.text


def test_files_of_one_message_are_not_named_twice(rt, tmp_path):
    drop_in(rt, [reply(rt, tmp_path, "CZJ", workbooks=2)])
    _, answers, _ = collect(rt)
    receipt = next(a for a in answers if a.department == "CZJ" and a.kind == "answer.accepted")
    assert "已被本次报送替代" not in receipt.mail.text  # the several_workbooks answer says it
