"""``nianbao demo``, the main job on its embedded default, played once for real.

The whole campaign of the sample city: a real SMTP post office delivering to Maildirs, the
simulated clerks and coordinator, the real Prefect flows day by day. The tests read what the
demo left behind: the city workbook, the database and every mailbox.
"""

from __future__ import annotations

import io
import mailbox
import sqlite3
from collections import Counter

import pytest
from rich.console import Console

from connectors.attachments import parse_message
from demo import city
from demo.clerks import CAST
from demo.postoffice import maildir_path


@pytest.fixture(scope="module")
def demo(prefect_harness, tmp_path_factory):
    from demo.run import run_demo

    out = io.StringIO()
    workspace = tmp_path_factory.mktemp("demo") / "nianbao-demo"
    result = run_demo(workspace, console=Console(file=out, width=200))
    return result, out.getvalue()


def inbox(result, address: str) -> list:
    box = mailbox.Maildir(maildir_path(result.workspace / "mailboxes", address), create=False)
    return [parse_message(box.get_bytes(key)) for key in sorted(box.keys())]


def kinds(messages) -> Counter:
    return Counter(m.header("X-Nianbao-Kind") for m in messages)


def test_the_demo_ends_with_the_approved_city_workbook(demo):
    result, output = demo
    assert result.workbook is not None and result.workbook.is_file()
    assert result.workbook.name == f"{city.CITY}2021年政府信息公开工作年度报告（定稿）.xlsx"
    assert str(result.workbook) in output.replace("\n", "")
    assert result.database.is_file() and any(result.archive.rglob("*.eml"))


def test_every_persona_ends_where_it_should(demo):
    result, _ = demo
    expected = {code: "accepted" for code, _name, _kind in city.UNITS}
    for code, persona in CAST.items():
        if persona == "silent":
            expected[code] = "escalated"
        elif persona == "warnings":
            expected[code] = "accepted_with_warnings"
    assert result.states == expected


def test_every_unit_got_one_invitation_and_every_reply_an_answer(demo):
    result, _ = demo
    for code, _name, _kind in city.UNITS:
        got = kinds(inbox(result, city.address(code)))
        assert got["invitation"] == 1, code
        if CAST.get(code) != "silent":
            assert got["receipt"] + got["accepted_with_warnings"] >= 1, (code, got)
    for code in ("JYJ", "ZJJ"):  # sloppy: rejected first, then accepted
        assert kinds(inbox(result, city.address(code)))["rejected"] == 1, code


def test_a_file_from_a_personal_mailbox_is_assigned_by_the_coordinator(demo):
    result, output = demo
    (code,) = [c for c, persona in CAST.items() if persona == "personal_mailbox"]
    name = dict((c, n) for c, n, _ in city.UNITS)[code]
    notices = [m for m in inbox(result, city.COORDINATOR) if "需要人工确认的报送文件" in m.subject]
    assert len(notices) == 1
    assert f"指定为{name}的报送" in output
    conn = sqlite3.connect(result.database)
    try:
        sender, status = conn.execute(
            "SELECT sender, status FROM submissions WHERE department = ?", [code]
        ).fetchone()
    finally:
        conn.close()
    assert sender.endswith("@qq.example") and status == "accepted"
    (receipt,) = [m for m in inbox(result, sender) if m.header("X-Nianbao-Kind") == "receipt"]
    assert receipt.cc == (city.address(code),)  # the unit's registered mailbox has a copy
    assert kinds(inbox(result, city.address(code)))["receipt"] == 1
