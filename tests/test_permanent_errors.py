"""A wrong mailbox setting fails the collect at once, not after retries (issue 12).

Real collect flows on the session's Prefect test server, counting how often the read task
read its mailbox: once for a wrong setting, twice (one retry) for an outage.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from flowkit import (
    EVENING,
    IMAP_PASSWORD_ENV,
    MORNING,
    SMTP_PASSWORD_ENV,
    START,
    Office,
    Outbox,
    at,
    write_config,
)

from annual_report.errors import ConfigError, MailFetchError, StoreError, permanent
from connectors.mailbox import DropFolder, ImapMailbox, MaildirMailbox
from connectors.settings import ImapSettings

pytestmark = pytest.mark.mail


@pytest.fixture
def office(prefect_harness, smtp_server, dovecot, tmp_path) -> Iterator[Office]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SMTP_PASSWORD_ENV, smtp_server.password)
        mp.setenv(IMAP_PASSWORD_ENV, dovecot.password)
        folder = f"perm-{os.getpid()}-{tmp_path.name}"[:60]
        dovecot.create_folder(folder)
        smtp_server.clear()
        config = write_config(
            tmp_path / "config", smtp_server, dovecot, folder, tmp_path / "data" / "mail"
        )
        yield Office(config, tmp_path / "data", Outbox(smtp_server), folder)
        smtp_server.clear()


def edit_mail(office: Office, change) -> None:
    path = office.config_dir / "mail.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture
def attempts(monkeypatch) -> dict[str, int]:
    """How often the collect's read task read each mailbox (once per try of the task)."""
    from office import intake

    counted: dict[str, int] = {}
    read = intake.read_mailbox

    def counting(rt, name, as_of):
        counted[name] = counted.get(name, 0) + 1
        return read(rt, name, as_of)

    monkeypatch.setattr(intake, "read_mailbox", counting)
    return counted


def test_a_directory_that_is_not_a_maildir_fails_the_collect_at_once(office, tmp_path, attempts):
    office.run("dispatch", at(START, MORNING))
    not_a_maildir = tmp_path / "not-a-maildir"
    not_a_maildir.mkdir()

    def maildir_only(data):
        data.pop("imap")
        data["maildir"] = str(not_a_maildir)

    edit_mail(office, maildir_only)
    state = office.run("collect", at(START, EVENING))
    assert state.is_failed()
    assert "无法读取本地邮件目录" in state.message
    assert "不是邮件目录（Maildir" in state.message and "这是配置问题，没有重试" in state.message
    assert str(not_a_maildir) in state.message
    assert attempts == {"maildir": 1}


def test_an_imap_host_that_does_not_exist_fails_at_once(office, attempts):
    office.run("dispatch", at(START, MORNING))
    edit_mail(office, lambda data: data["imap"].update(host="imap.no-such-host.invalid"))
    state = office.run("collect", at(START, EVENING))
    assert state.is_failed()
    assert "找不到收件服务器 imap.no-such-host.invalid" in state.message
    assert "imap.host" in state.message and "没有重试" in state.message
    assert attempts == {"imap": 1}


def test_an_imap_server_that_is_down_is_still_retried(office, unused_port, attempts):
    office.run("dispatch", at(START, MORNING))
    edit_mail(office, lambda data: data["imap"].update(port=unused_port))
    state = office.run("collect", at(START, EVENING))
    assert state.is_failed()
    assert "无法连接收件服务器" in state.message and "没有重试" not in state.message
    assert attempts == {"imap": 2}


def test_which_mailbox_failures_are_permanent(tmp_path, dovecot, imap_folder):
    def error(read) -> MailFetchError:
        with pytest.raises(MailFetchError) as caught:
            list(read())
        return caught.value

    assert error(MaildirMailbox(tmp_path).fetch_new).permanent
    assert error(DropFolder(tmp_path / "missing").fetch_new).permanent

    def imap(**change) -> ImapMailbox:
        settings = {
            "host": dovecot.host,
            "port": dovecot.port,
            "security": "none",
            "user": dovecot.user,
            "folder": imap_folder,
            "timeout": 5,
        }
        return ImapMailbox(ImapSettings(**(settings | change)), password=dovecot.password)

    assert error(imap(host="imap.no-such-host.invalid").fetch_new).permanent
    assert error(imap(folder="NoSuchFolder").fetch_new).permanent
    wrong = imap()
    wrong._password = "not-the-password"
    assert error(wrong.fetch_new).permanent
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert not error(imap(port=free).fetch_new).permanent  # nothing listening: an outage
    assert permanent(ConfigError("mail.yaml is invalid"))
    assert not permanent(StoreError("database is busy"))
    assert not permanent(OSError("connection reset"))


def test_the_read_task_retries_only_what_a_retry_can_fix():
    from prefect.states import Failed

    from flows.tasks import READ

    helps = READ["retry_condition_fn"]
    outage = MailFetchError("IMAP connect failed: ConnectionRefusedError")
    wrong = MailFetchError("not a Maildir", permanent=True, path=str(Path("/tmp")))
    assert helps(None, None, Failed(data=outage))
    assert not helps(None, None, Failed(data=wrong))
    assert not helps(None, None, Failed(data=ConfigError("broken")))
