"""The hostile corpus through the real collect path: a real dispatch (templates with tokens, over
aiosmtpd), the batch delivered into the office's dovecot folder next to valid replies, one real
``collect`` flow run (IMAP, the isolated reader, SQLite, answers over SMTP). Then every case is
checked for exactly what it must leave: the sender's answer, the coordinator's notice, the
store's rows and the archive; the valid replies of the same batch are accepted.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import time as clock
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from corpus import CASES, Batch, Case, address, markdown
from flowkit import (
    COORDINATOR,
    IMAP_PASSWORD_ENV,
    MORNING,
    SMTP_PASSWORD_ENV,
    START,
    UNITS,
    Office,
    Outbox,
    at,
    template_of,
    write_config,
)

pytestmark = pytest.mark.mail

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


@dataclass
class Ran:
    office: Office
    ids: dict[str, str]  # case → Message-ID
    delivered: int  # bytes delivered into the mailbox
    state: object  # the collect flow's final state

    def rows(self, sql: str, *params: object) -> list[dict]:
        conn = sqlite3.connect(f"file:{self.office.database}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()


@pytest.fixture(scope="module")
def ran(prefect_harness, smtp_server, dovecot, tmp_path_factory) -> Ran:
    from annual_report.campaign.templates import write_department_template
    from annual_report.store import open_store

    root = tmp_path_factory.mktemp("hostile")
    folder = f"hostile-{os.getpid()}"
    dovecot.create_folder(folder)
    smtp_server.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SMTP_PASSWORD_ENV, smtp_server.password)
        mp.setenv(IMAP_PASSWORD_ENV, dovecot.password)
        config = write_config(root / "config", smtp_server, dovecot, folder, root / "data" / "mail")
        office = Office(config, root / "data", Outbox(smtp_server), folder)
        office.run("dispatch", at(START, MORNING), "dispatch")
        invitations = {m.department: m for m in office.outbox.of("invitation")}
        assert sorted(invitations) == sorted(code for code, *_ in UNITS)
        # last year's campaign in the same store, for a stale token
        with open_store(office.database) as store:
            registry = store.registry(str(START.year - 1))
            store.create_campaign("2020", 2020, registry=registry)
            stale = write_department_template(store, registry, "2020", "TJJ", root / "tjj.xlsx")
        batch = Batch(
            templates={code: template_of(inv) for code, inv in invitations.items()},
            invitations=invitations,
            stale={"TJJ": stale.read_bytes()},
            when=at(START + timedelta(days=1), clock(16, 30)),
        )
        ids, delivered = {}, 0
        for case in CASES:
            raw, message_id = case.build(batch)
            dovecot.deliver(raw, folder)
            ids[case.name] = message_id
            delivered += len(raw)
        state = office.run("collect", at(START + timedelta(days=1), clock(17, 30)), "collect")
    yield Ran(office, ids, delivered, state)
    smtp_server.clear()


def sender_of(case: Case) -> str:
    return address(case.sender)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_gets_exactly_its_outcome(ran: Ran, case: Case):
    expect = case.expect
    message_id = ran.ids[case.name]
    [message] = ran.rows("SELECT * FROM messages WHERE message_id = ?", message_id)
    assert message["outcome"] == expect.outcome
    subs = ran.rows("SELECT * FROM submissions WHERE message_id = ? ORDER BY id", message_id)
    if expect.status is None:
        assert subs == []
    else:
        assert len(subs) == expect.files
        for sub in subs:
            # a later version of the same unit supersedes an accepted one: it was accepted
            later = sub["status"] == "superseded" and expect.status == "accepted"
            assert sub["status"] == expect.status or later, sub
            assert sub["department"] == expect.unit
            if expect.status == "unreadable":
                assert sub["failure_kind"] == expect.kind, sub["failure_reason"]
                assert sub["failure_reason_zh"]
            if expect.status == "quarantined":
                assert sub["match_reason"].startswith(f"{expect.kind}: "), sub["match_reason"]

    answers = [m for m in ran.office.outbox.mails if m.parsed.in_reply_to == message_id]
    to_sender = [m for m in answers if sender_of(case) in m.rcpt]
    if expect.answer is None:
        assert to_sender == []
    else:
        kinds = sorted(m.kind for m in to_sender)
        owed = [expect.answer] * (expect.files if expect.answer == "unreadable" else 1)
        assert kinds == sorted([*owed, *expect.also])
        for mail in to_sender:
            if mail.kind == expect.answer:
                assert expect.says in mail.text, mail.text
    notices = [m for m in answers if COORDINATOR in m.rcpt and m.kind == "coordinator_notice"]
    assert bool(notices) == expect.notice, [m.subject for m in notices]


def test_the_valid_replies_of_the_batch_are_accepted_and_nothing_replaced_them(ran: Ran):
    for unit in ("SZF", "RSJ", "JYJ"):
        subs = ran.rows(
            "SELECT status, version FROM submissions WHERE campaign = '2021' AND department = ?",
            unit,
        )
        # RSJ's template was sent from CZJ, a stranger and MZJ, JYJ replied in RSJ's thread,
        # SZF's file came again from GAJ and SZF: the first report of each stands alone
        assert subs == [{"status": "accepted", "version": 1}], (unit, subs)
    receipts = ran.office.outbox.of("receipt")
    assert {m.department for m in receipts} >= {"SZF", "RSJ", "JYJ"}
    assert ran.state.is_completed(), ran.state


def test_the_archive_keeps_each_message_once_and_nothing_expanded(ran: Ran):
    archive = ran.office.data_dir / "mail"
    received = ran.rows("SELECT sha256, archived_path, outcome FROM messages")
    assert len(received) == len(CASES)
    for row in received:
        if row["outcome"] == "too-large":
            assert row["archived_path"] is None  # left in the mailbox, not fetched
        else:
            assert Path(row["archived_path"]).is_file()
    assert not (archive / "attachments").exists()  # no file is ever written out of a message
    sent = {  # the office's own mail is archived too: not what was received
        Path(archived).name
        for event in ran.rows("SELECT detail FROM events")
        if (archived := json.loads(event["detail"]).get("archived"))
    }
    grown = sum(p.stat().st_size for p in archive.rglob("*.eml") if p.name not in sent)
    assert 0 < grown <= ran.delivered


def test_no_answer_carries_an_injected_header_or_an_endless_text(ran: Ran):
    for mail in ran.office.outbox.mails:
        assert "victim@evil.example" not in mail.rcpt
        raw = ran.office.outbox.smtp.messages[mail.index].raw
        assert message_from_bytes(raw).get_all("Bcc") is None
        assert b"\nbcc:" not in raw.lower()
        assert len(mail.text) < 20_000, mail.subject


def test_the_corpus_is_large_and_its_table_is_in_docs_security_md():
    hostile = [c for c in CASES if c.category != "valid"]
    assert len(hostile) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
    assert markdown() in DOC.read_text(encoding="utf-8")
