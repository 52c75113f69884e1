"""The Maildir and drop-folder readers: same interface, same guarantees as IMAP."""

import hashlib
import mailbox
import os
import time
from pathlib import Path

import pytest

from annual_report.errors import MailFetchError
from connectors.archive import MessageArchive
from connectors.attachments import parse_message
from connectors.mailbox import DropFolder, MaildirMailbox, receive

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mail"
XLSX = (FIXTURES / "payload" / "report.xlsx").read_bytes()
XLS = (FIXTURES / "payload" / "report.xls").read_bytes()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# -- Maildir ---------------------------------------------------------------------------------


@pytest.fixture
def maildir(tmp_path):
    return mailbox.Maildir(tmp_path / "Maildir", create=True)


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_maildir_is_read_incrementally_and_intact(maildir, tmp_path):
    for name in ("outlook_gb2312.eml", "thunderbird_rfc2231.eml"):
        maildir.add(fixture(name))
    box = MaildirMailbox(tmp_path / "Maildir")
    first = list(box.fetch_new({}))
    assert sorted(m.raw for m in first) == sorted(
        fixture(n) for n in ("outlook_gb2312.eml", "thunderbird_rfc2231.eml")
    )
    assert all(m.key.startswith("maildir:") and m.source == "maildir" for m in first)
    cursor = first[-1].cursor
    assert list(box.fetch_new(cursor)) == []
    maildir.add(fixture("foxmail_gbk.eml"))
    [new] = box.fetch_new(cursor)
    assert parse_message(new.raw).attachments[0].name == "樟树市民政局2021年度报告（定稿）.xlsx"


def test_maildir_mark_processed_renames_never_deletes(maildir, tmp_path):
    key = maildir.add(fixture("outlook_gb2312.eml"))
    root = tmp_path / "Maildir"
    box = MaildirMailbox(root)
    [msg] = box.fetch_new({})
    assert files(root) == [f"new/{key}"]
    box.mark_processed(msg.key)
    assert files(root) == [f"cur/{key}:2,S"]
    assert (root / "cur" / f"{key}:2,S").read_bytes() == fixture("outlook_gb2312.eml")
    # still the same message for anyone else, and not new for us
    assert list(box.fetch_new(msg.cursor)) == []


def test_maildir_processed_folder(maildir, tmp_path):
    key = maildir.add(fixture("outlook_gb2312.eml"))
    root = tmp_path / "Maildir"
    box = MaildirMailbox(root, processed_folder="processed")
    [msg] = box.fetch_new({})
    box.mark_processed(msg.key)
    assert files(root) == [".processed/cur/" + f"{key}:2,S", ".processed/maildirfolder"]
    assert mailbox.Maildir(root).get_folder("processed").get_bytes(key) == msg.raw
    assert list(box.fetch_new({})) == []  # moved out of the inbox


def test_maildir_errors(tmp_path):
    with pytest.raises(MailFetchError, match="not a Maildir"):
        list(MaildirMailbox(tmp_path).fetch_new({}))


def test_the_maildir_of_a_real_server(dovecot, imap_folder):
    """dovecot's own files (names with ,S=size,W=size and flags) read by the Maildir reader."""
    uid = dovecot.deliver(fixture("qq_reply_quoting.eml"), imap_folder)
    folder = dovecot.maildir / f".{imap_folder}"
    box = MaildirMailbox(folder)
    [msg] = box.fetch_new({})
    # dovecot keeps Maildir files with LF line ends (IMAP serves them with CRLF)
    assert msg.raw == fixture("qq_reply_quoting.eml").replace(b"\r\n", b"\n")
    assert parse_message(msg.raw).reply_text == "附件是我委的年报，请查收。"
    assert dovecot.uids(imap_folder) == [uid]


# -- drop folder -----------------------------------------------------------------------------


def put(folder: Path, name: str, data: bytes, age: float = 3600) -> Path:
    path = folder / name
    path.write_bytes(data)
    past = time.time() - age
    os.utime(path, (past, past))
    return path


@pytest.fixture
def drop(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


def test_dropped_workbooks_and_messages_become_messages(drop):
    put(drop, "樟树市人社局年报（微信收到）.xlsx", XLSX)
    put(drop, "foxmail.eml", fixture("foxmail_gbk.eml"))
    put(drop, "~$樟树市人社局年报.xlsx", b"lock")  # Excel's lock file
    put(drop, ".hidden.xlsx", XLSX)
    put(drop, "copying.xls", XLS, age=0)  # still being copied from the USB stick
    (drop / "subdir").mkdir()
    box = DropFolder(drop, settle_seconds=60)
    got = {m.file_name: m for m in box.fetch_new({})}
    assert set(got) == {"樟树市人社局年报（微信收到）.xlsx", "foxmail.eml"}

    wrapped = got["樟树市人社局年报（微信收到）.xlsx"]
    assert wrapped.key == "drop:" + hashlib.sha256(XLSX).hexdigest()
    assert wrapped.source == "drop" and wrapped.received_at is not None
    parsed = parse_message(wrapped.raw)
    [att] = parsed.attachments
    assert (att.name, att.kind, att.content) == ("樟树市人社局年报（微信收到）.xlsx", "xlsx", XLSX)
    assert parsed.header("X-Nianbao-Source") == "drop-folder"
    assert parsed.sender == "drop-folder@nianbao.invalid"  # never answered

    assert got["foxmail.eml"].raw == fixture("foxmail_gbk.eml")  # an .eml stays as it is


def test_drop_folder_is_deterministic_incremental_and_moves_processed_files(drop):
    put(drop, "a.xlsx", XLSX)
    box = DropFolder(drop, settle_seconds=0)
    [one] = box.fetch_new({})
    [same] = box.fetch_new({})
    assert one.raw == same.raw  # the wrapper message is the same every time
    assert list(box.fetch_new(one.cursor)) == []
    put(drop, "b.xls", XLS)
    [new] = box.fetch_new(one.cursor)
    assert new.file_name == "b.xls"
    box.mark_processed(one.key)
    assert sorted(p.name for p in drop.iterdir()) == ["b.xls", "processed"]
    assert (drop / "processed" / "a.xlsx").read_bytes() == XLSX


def test_drop_folder_same_content_twice_and_name_clashes(drop):
    put(drop, "一.xlsx", XLSX)
    put(drop, "二.xlsx", XLSX)
    (drop / "processed").mkdir()
    put(drop / "processed", "一.xlsx", b"an older file of that name")
    box = DropFolder(drop, settle_seconds=0)
    [msg] = box.fetch_new({})  # one message for one content
    DropFolder(drop, settle_seconds=0).mark_processed(msg.key)  # a new session: looks again
    names = sorted(p.name for p in (drop / "processed").iterdir())
    digest = msg.key[5:17]
    assert names == sorted(["一.xlsx", f"一-{digest}.xlsx", "二.xlsx"])
    assert (drop / "processed" / "一.xlsx").read_bytes() == b"an older file of that name"
    assert [p.name for p in drop.iterdir()] == ["processed"]


def test_drop_folder_through_receive_and_archive(drop, tmp_path):
    put(drop, "a.xlsx", XLSX)
    put(drop, "broken.eml", fixture("broken_truncated.eml"))
    archive = MessageArchive(tmp_path / "archive")
    got = list(receive(DropFolder(drop, settle_seconds=0), archive, {}))
    assert [r.error for r in got] == [None, None]
    assert all(r.archived.path.read_bytes() == r.incoming.raw for r in got)
    again = list(receive(DropFolder(drop, settle_seconds=0), archive, {}))
    assert [r.archived.created for r in again] == [False, False]


def test_a_missing_drop_folder(tmp_path):
    with pytest.raises(MailFetchError, match="does not exist"):
        list(DropFolder(tmp_path / "nope").fetch_new({}))


def test_mailboxes_from_settings(tmp_path):
    from connectors.mailbox import ImapMailbox, mailboxes
    from connectors.settings import parse_mail_settings

    settings = parse_mail_settings(
        {
            "smtp": {"host": "h", "port": 25, "security": "none", "sender": "a@zhangshu.example",
                     "sender_name": "樟树市人民政府办公室"},
            "imap": {"host": "h", "port": 143, "security": "none", "user": "office"},
            "maildir": "Maildir",
            "drop_dir": "drop",
            "coordinator": "c@zhangshu.example",
        },
        base_dir=tmp_path,
    )  # fmt: skip
    boxes = mailboxes(settings, imap_password="x")
    assert isinstance(boxes["imap"], ImapMailbox)
    assert boxes["maildir"].path == tmp_path / "Maildir"
    assert boxes["drop"].path == tmp_path / "drop"
