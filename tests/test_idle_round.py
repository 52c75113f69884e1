"""An idle collect round writes nothing (issue 12): no store write, no artifact version.

Real flows on the session's Prefect test server, the real SQLite file, replies over real
IMAP (dovecot) and answers over real SMTP (aiosmtpd). Every statement on the store's
connections is traced (``sqlite3`` trace callback on each connection the store opens).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import time as clock
from pathlib import Path
from typing import Any

import pytest
from flowkit import (
    EVENING,
    IMAP_PASSWORD_ENV,
    MORNING,
    SMTP_PASSWORD_ENV,
    START,
    YEAR,
    Office,
    Outbox,
    at,
    filled_workbook,
    reply,
    row_counts,
    template_of,
    write_config,
)

from annual_report.store.connections import Connections

pytestmark = pytest.mark.mail

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


@pytest.fixture
def office(prefect_harness, smtp_server, dovecot, tmp_path) -> Iterator[Office]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SMTP_PASSWORD_ENV, smtp_server.password)
        mp.setenv(IMAP_PASSWORD_ENV, dovecot.password)
        folder = f"idle-{os.getpid()}-{tmp_path.name}"[:60]
        dovecot.create_folder(folder)
        smtp_server.clear()
        config = write_config(
            tmp_path / "config", smtp_server, dovecot, folder, tmp_path / "data" / "mail"
        )
        yield Office(config, tmp_path / "data", Outbox(smtp_server), folder)
        smtp_server.clear()


@contextmanager
def traced_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every writing statement any store connection opened in the block runs."""
    writes: list[str] = []
    connect = Connections._connect

    def trace(sql: str) -> None:
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if head in WRITES:
            writes.append(" ".join(sql.split())[:120])

    def traced(self: Connections) -> Any:
        db = connect(self)
        db.conn.set_trace_callback(trace)
        return db

    with monkeypatch.context() as mp:
        mp.setattr(Connections, "_connect", traced)
        yield writes


def artifact_versions() -> int:
    """Artifact versions of the campaign on the test server (every key, every version)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.tasks import artifact_key

    prefix = artifact_key(str(YEAR))  # other tests of the session use the campaign id too
    found = 0
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=f"{prefix}-%")),
                limit=200,
                offset=found,
            )
            found += len(page)
            if len(page) < 200:
                return found


def file_state(database: Path) -> tuple[int, int]:
    stat = database.stat()
    return stat.st_size, stat.st_mtime_ns


def test_an_idle_collect_round_writes_nothing_and_publishes_nothing(office, dovecot, monkeypatch):
    office.run("dispatch", at(START, MORNING))
    invitation = office.outbox.of("invitation", "RSJ")[0]
    workbook = filled_workbook(template_of(invitation), "RSJ", "good")
    raw, _ = reply("RSJ", invitation, when=at(START, clock(16, 30)), workbook=workbook)
    dovecot.deliver(raw, office.folder)
    first = office.run("collect", at(START, EVENING))
    assert first.message.startswith("收集：新收到1份报表，发出回复1封"), first.message
    published = artifact_versions()
    assert published >= 3  # the department table, the summary, the progress (and the chart)

    rows, state = row_counts(office.database), file_state(office.database)
    with traced_writes(monkeypatch) as writes:
        idle = office.run("collect", at(START, clock(18, 0)))
    assert idle.is_completed() and idle.message.startswith("收集：新收到0份报表，发出回复0封")
    assert writes == []
    assert artifact_versions() == published
    assert row_counts(office.database) == rows
    assert file_state(office.database) == state
    assert office.outbox.mails[-1].kind == "receipt"  # nothing new was mailed either

    # a change is published: the next department's reply
    invitation = office.outbox.of("invitation", "JYJ")[0]
    workbook = filled_workbook(template_of(invitation), "JYJ", "good")
    raw, _ = reply("JYJ", invitation, when=at(START, clock(18, 10)), workbook=workbook)
    dovecot.deliver(raw, office.folder)
    with traced_writes(monkeypatch) as writes:
        changed = office.run("collect", at(START, clock(18, 30)))
    assert changed.message.startswith("收集：新收到1份报表，发出回复1封"), changed.message
    assert writes  # recorded, answered, the view remembered
    assert artifact_versions() > published
