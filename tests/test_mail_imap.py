"""Reading the office mailbox from a real dovecot (see conftest.py)."""

import logging
from pathlib import Path

import pytest

from annual_report.errors import MailFetchError
from connectors import mailbox as mailbox_module
from connectors.archive import MessageArchive
from connectors.attachments import parse_message
from connectors.mailbox import ImapMailbox, receive
from connectors.settings import ImapSettings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mail"
REAL_CLIENTS = {
    "outlook_gb2312.eml": ["樟树市人社局-2021年政府信息公开工作年度报告.xlsx"],
    "outlook_gb2312_gbk_chars.eml": ["樟树市人社局-2021年报（填报人王玥）.xlsx"],
    "foxmail_gbk.eml": ["樟树市民政局2021年度报告（定稿）.xlsx"],
    "thunderbird_rfc2231.eml": ["樟树市教育局-2021年政府信息公开工作年度报告（终稿）.xlsx"],
    "forwarded_rfc822.eml": ["樟树市财政局2021年报.xlsx"],
    "qq_reply_quoting.eml": ["樟树市卫健委年报.xlsx"],
    "reply_no_attachment.eml": [],
    "reply_zip.eml": ["年报.zip", "樟树市卫健委-2021年报.xlsx", "evil.xlsx"],
    "reply_docx.eml": ["樟树市统计局2021年政府信息公开工作年度报告.docx"],
    "reply_et.eml": ["樟树市交通运输局年报.et"],
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def small(n: int) -> bytes:
    head = f"From: a@zhangshu.example\r\nSubject: m{n}\r\nMessage-ID: <m{n}@x.example>\r\n"
    return f"{head}\r\n{n}\r\n".encode()


def settings_for(dovecot, folder: str, **changes) -> ImapSettings:
    values = {
        "host": dovecot.host,
        "port": dovecot.port,
        "security": "none",
        "user": dovecot.user,
        "folder": folder,
        "timeout": 10,
    }
    values.update(changes)
    return ImapSettings(**values)


def open_box(dovecot, folder: str, **changes) -> ImapMailbox:
    return ImapMailbox(settings_for(dovecot, folder, **changes), dovecot.password)


def test_real_client_messages_arrive_intact_and_decoded(dovecot, imap_folder):
    uids = {name: dovecot.deliver(fixture(name), imap_folder) for name in REAL_CLIENTS}
    with open_box(dovecot, imap_folder) as box:
        got = list(box.fetch_new({}))
    assert [m.key.rsplit(":", 1)[1] for m in got] == [str(u) for u in uids.values()]
    for (name, names), msg in zip(REAL_CLIENTS.items(), got, strict=True):
        assert msg.raw == fixture(name), name  # byte for byte, as the client sent it
        assert msg.source == "imap"
        assert [a.name for a in parse_message(msg.raw).attachments] == names, name


def test_fetch_is_incremental_by_uid(dovecot, imap_folder):
    for n in range(3):
        dovecot.deliver(small(n), imap_folder)
    with open_box(dovecot, imap_folder) as box:
        first = list(box.fetch_new(None))
        assert len(first) == 3
        cursor = first[-1].cursor
        assert cursor["last_uid"] == 3 and cursor["folder"] == imap_folder
        # UID 4:* would return UID 3 (the highest) on its own: it must not come back
        assert list(box.fetch_new(cursor)) == []
    uid = dovecot.deliver(small(9), imap_folder)
    with open_box(dovecot, imap_folder) as box:
        again = list(box.fetch_new(cursor))
    assert [m.key for m in again] == [f"imap:{cursor['uidvalidity']}:{uid}"]
    assert again[0].raw == small(9)


def test_peek_leaves_seen_alone_until_processed(dovecot, imap_folder):
    uid = dovecot.deliver(small(1), imap_folder)
    seen_by_a_person = dovecot.deliver(small(2), imap_folder, flags="\\Seen")
    with open_box(dovecot, imap_folder) as box:
        got = list(box.fetch_new({}))
        assert dovecot.flags(imap_folder, uid) == set()  # BODY.PEEK[]: still unread
        assert "\\Seen" in got[1].flags
        box.mark_processed(got[0].key)
    assert dovecot.flags(imap_folder, uid) == {"$NianbaoProcessed"}
    assert dovecot.flags(imap_folder, seen_by_a_person) == {"\\Seen"}
    assert dovecot.uids(imap_folder) == [uid, seen_by_a_person]  # nothing deleted


def test_processed_with_seen_flag(dovecot, imap_folder):
    uid = dovecot.deliver(small(1), imap_folder)
    with open_box(dovecot, imap_folder, processed_flag="\\Seen") as box:
        [msg] = box.fetch_new({})
        box.mark_processed(msg.key)
    assert dovecot.flags(imap_folder, uid) == {"\\Seen"}


def test_processed_messages_move_to_a_folder_never_deleted(dovecot, imap_folder):
    done = f"{imap_folder}/已处理"
    for n in range(3):
        dovecot.deliver(small(n), imap_folder)
    with open_box(dovecot, imap_folder, processed_folder=done) as box:
        got = list(box.fetch_new({}))
        box.mark_processed(got[0].key)
        box.mark_processed(got[2].key)
    assert dovecot.uids(imap_folder) == [2]
    moved = dovecot.uids(done)
    assert len(moved) == 2
    assert all(dovecot.flags(done, u) == {"$NianbaoProcessed"} for u in moved)


def test_marking_while_iterating_across_fetch_chunks(dovecot, imap_folder):
    for n in range(7):
        dovecot.deliver(small(n), imap_folder)
    with open_box(dovecot, imap_folder, bulk=3) as box:  # three FETCH commands
        keys = []
        for msg in box.fetch_new({}):
            keys.append(msg.key)
            box.mark_processed(msg.key)  # re-selects read-write between chunks
    assert len(keys) == 7 == len(set(keys))
    assert all(dovecot.flags(imap_folder, u) == {"$NianbaoProcessed"} for u in range(1, 8))


def test_a_new_uidvalidity_restarts_from_zero(dovecot, imap_folder, caplog):
    dovecot.deliver(small(1), imap_folder)
    dovecot.deliver(small(2), imap_folder)
    with open_box(dovecot, imap_folder) as box:
        cursor = list(box.fetch_new({}))[-1].cursor
    dovecot.recreate_folder(imap_folder)
    dovecot.deliver(small(3), imap_folder)
    caplog.set_level(logging.WARNING, logger="connectors")
    with open_box(dovecot, imap_folder) as box:
        [msg] = box.fetch_new(cursor)  # UID 1 again, but a different message
        assert msg.raw == small(3)
        assert msg.cursor["uidvalidity"] != cursor["uidvalidity"]
        assert msg.cursor["last_uid"] == 1
        box.mark_processed(f"imap:{cursor['uidvalidity']}:1")  # stale key: ignored
    assert "UIDVALIDITY" in caplog.text
    assert dovecot.flags(imap_folder, 1) == set()


def test_since_skips_older_messages(dovecot, imap_folder):
    dovecot.deliver(small(1), imap_folder)
    from datetime import date, timedelta

    tomorrow = date.today() + timedelta(days=1)
    with open_box(dovecot, imap_folder, since=tomorrow) as box:
        assert list(box.fetch_new({})) == []


def test_many_messages_in_bulk(dovecot, imap_folder):
    raws = [small(n) for n in range(120)]
    with dovecot.imap() as conn:
        for raw in raws:
            conn.append(imap_folder, None, None, raw)
    with open_box(dovecot, imap_folder, bulk=50) as box:
        got = [m.raw for m in box.fetch_new({})]
    assert got == raws


def test_a_wrong_password_is_a_fetch_error_without_the_password(dovecot, imap_folder):
    box = ImapMailbox(settings_for(dovecot, imap_folder), "wrong-Imap-Pass")
    with pytest.raises(MailFetchError) as info:
        list(box.fetch_new({}))
    text = str(info.value)
    assert "login failed" in text and dovecot.user in text and f":{dovecot.port}" in text
    assert imap_folder in text
    assert "wrong-Imap-Pass" not in text + repr(box)


def test_an_unreachable_server_and_a_missing_folder(dovecot, imap_folder, unused_port):
    box = ImapMailbox(settings_for(dovecot, imap_folder, port=unused_port), "x")
    with pytest.raises(MailFetchError, match="connect failed"):
        list(box.fetch_new({}))
    with open_box(dovecot, "no-such-folder") as box, pytest.raises(MailFetchError) as info:
        list(box.fetch_new({}))
    assert "no-such-folder" in str(info.value)


def test_no_password_at_all(dovecot, imap_folder, monkeypatch):
    monkeypatch.delenv("NIANBAO_IMAP_PASSWORD", raising=False)
    with pytest.raises(MailFetchError, match="NIANBAO_IMAP_PASSWORD"):
        list(ImapMailbox(settings_for(dovecot, imap_folder)).fetch_new({}))
    monkeypatch.setenv("NIANBAO_IMAP_PASSWORD", dovecot.password)
    with ImapMailbox(settings_for(dovecot, imap_folder)) as box:
        assert list(box.fetch_new({})) == []


def test_archive_before_parse_and_idempotent(dovecot, imap_folder, tmp_path, monkeypatch):
    dovecot.deliver(fixture("foxmail_gbk.eml"), imap_folder)
    dovecot.deliver(fixture("broken_truncated.eml"), imap_folder)
    dovecot.deliver(fixture("thunderbird_rfc2231.eml"), imap_folder)
    archive = MessageArchive(tmp_path / "archive")
    real_parse = mailbox_module.parse_message

    def parse_or_explode(raw):
        assert archive.find(__import__("hashlib").sha256(raw).hexdigest()), "parsed before archived"
        if b"broken-0001" in raw:
            raise RuntimeError("parser bug")
        return real_parse(raw)

    monkeypatch.setattr(mailbox_module, "parse_message", parse_or_explode)
    with open_box(dovecot, imap_folder) as box:
        first = list(receive(box, archive, {}))
        assert [r.error for r in first] == [None, "RuntimeError: parser bug", None]
        assert (
            first[1].parsed is None and first[1].archived.path.read_bytes() == first[1].incoming.raw
        )
        assert all(r.archived.created for r in first)
        assert first[2].parsed.attachments[0].name.startswith("樟树市教育局")
        again = list(receive(box, archive, {}))  # the cursor was lost: read everything again
    assert [r.archived.created for r in again] == [False, False, False]
    assert [r.archived.path for r in again] == [r.archived.path for r in first]
    assert len(list((tmp_path / "archive").rglob("*.eml"))) == 3
