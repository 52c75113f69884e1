"""The identity policy, cell by cell: ``docs/security.md``'s table is read and every row is
checked against :func:`match_department`; then what the table cannot show (the texts, the
edited metadata sheet, the coordinator's drop folder)."""

import re
from pathlib import Path

import pytest

from annual_report.campaign.matching import Evidence, match_department, token_malformed
from annual_report.campaign.registry import load_registry

REGISTRY = load_registry("config")
X, Y = "RSJ", "FGW"
STRANGER = "clerk@qq.example"
DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"

TOKENS = {
    "valid for X": {"token_department": X, "token_present": True, "file_department": X},
    "X's, of an earlier campaign": {
        "token_present": True,
        "stale_department": X,
        "stale_campaign": "2020",
        "file_department": X,
    },
    "absent": {},
    "malformed": {"token_present": True, "token_malformed": True, "file_department": X},
}
SENDERS = {
    "X's registered address": REGISTRY[X].email,
    "Y's registered address": REGISTRY[Y].email,
    "unknown address": STRANGER,
    "none (drop folder)": None,
}
MAIL = {
    "X": {"subject_department": X, "thread_department": X},
    "Y": {"subject_department": Y, "thread_department": Y},
    "none": {},
}
UNITS = {X: "X", Y: "Y"}


def table_rows() -> list[list[str]]:
    """The rows of the identity table (the section "Who a file belongs to")."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Who a file belongs to", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].isdigit():
            rows.append(cells)
    return rows


def test_the_table_covers_every_combination():
    rows = table_rows()
    combos = {(r[1], r[2], r[3]) for r in rows}
    expected = {
        (t, s, m)
        for t in TOKENS
        for s in SENDERS
        for m in MAIL
        if SENDERS[s] is not None or m == "none"  # a dropped file has no mail
    }
    assert combos == expected and len(rows) == len(expected) == 40


@pytest.mark.parametrize("row", table_rows(), ids=lambda r: f"row{r[0]}")
def test_each_cell_of_the_identity_table(row):
    _n, token, sender, mail, outcome, rule, told = row
    match = match_department(
        Evidence(**TOKENS[token], **MAIL[mail], sender=SENDERS[sender]), REGISTRY
    )
    who = UNITS.get(match.department) if match.department else None
    if outcome.startswith("accepted as "):
        assert match.matched and who == outcome.removeprefix("accepted as ")
    else:
        assert match.quarantined
        likely = re.fullmatch(r"quarantined, likely (\w)", outcome)
        assert who == (likely.group(1) if likely else None)
        assert match.reason and match.reason_zh
    assert f"`{match.rule}`" == rule
    assert (match.sender_notice_zh is not None) == (told == "yes")


def test_anothers_token_from_a_registered_unit_is_held_and_both_are_told_why():
    match = match_department(
        Evidence(
            token_department=X,
            token_present=True,
            file_department=X,
            sender=SENDERS["Y's registered address"],
        ),
        REGISTRY,
    )
    assert match.quarantined and match.rule == "other-unit"
    assert "可能转发或误用了其他单位的模板" in match.reason_zh
    assert f"{REGISTRY[X].name}（{X}）的识别码" in match.reason_zh
    assert REGISTRY[Y].email in match.reason_zh
    assert "系统未登记该文件" in match.sender_notice_zh
    assert "可能转发或误用了其他单位的模板" in match.sender_notice_zh


@pytest.mark.parametrize("written", ["FGW", "fgw ", "NOPE", "X" * 500])
def test_editing_the_department_code_on_the_meta_sheet_is_no_way_in(written):
    # The token is X's; the code next to it was edited to another unit, a made-up one, junk.
    for sender in (REGISTRY[X].email, REGISTRY[Y].email, None):
        match = match_department(
            Evidence(
                token_department=X, token_present=True, file_department=written, sender=sender
            ),
            REGISTRY,
        )
        assert match.quarantined and match.rule == "tampered"
        assert "模板可能被修改过" in match.reason_zh and len(match.reason_zh) < 200
        assert "_meta" in match.sender_notice_zh


def test_a_stale_token_of_another_unit_is_not_the_senders():
    match = match_department(
        Evidence(
            token_present=True,
            stale_department=Y,
            stale_campaign="2020",
            file_department=Y,
            sender=REGISTRY[X].email,
        ),
        REGISTRY,
    )
    assert match.quarantined and match.rule == "other-unit"
    assert "往年（2020）的模板" in match.reason_zh
    assert "earlier year's template" in match.notes[0]


def test_an_accepted_file_says_what_identified_it():
    by_token = match_department(
        Evidence(token_department=X, token_present=True, sender=REGISTRY[X].email), REGISTRY
    )
    assert (by_token.department, by_token.method) == (X, "token")
    by_thread = match_department(Evidence(thread_department=X, sender=REGISTRY[X].email), REGISTRY)
    assert by_thread.method == "thread"
    by_sender = match_department(Evidence(sender=REGISTRY[X].email.upper()), REGISTRY)
    assert (by_sender.department, by_sender.method) == (X, "sender")


def test_nothing_known_is_held_for_the_coordinator_without_answering_the_stranger():
    match = match_department(Evidence(sender="stranger@example.org"), REGISTRY)
    assert match.quarantined and match.department is None and match.sender_notice_zh is None
    assert "无法判断报送单位" in match.reason_zh and "往年" not in match.reason_zh
    stale = match_department(
        Evidence(token_present=True, file_department="RSJ", sender="stranger@example.org"),
        REGISTRY,
    )
    assert stale.quarantined and stale.department == "RSJ"
    assert "not valid" not in (stale.reason or "")
    assert "token of no campaign" in stale.notes[0]


def test_the_coordinators_drop_folder_trusts_a_valid_token_only():
    assert match_department(Evidence(token_department="WTZ", token_present=True), REGISTRY).matched
    held = match_department(Evidence(file_department="WTZ"), REGISTRY)
    assert held.quarantined and held.department == "WTZ" and held.sender_notice_zh is None
    assert "投递目录" in held.reason_zh


@pytest.mark.parametrize(
    ("token", "malformed"),
    [("0123456789abcdef", False), ("0123456789ABCDEF ", False), ("tok", True), ("x" * 99, True)],
)
def test_malformed_tokens(token, malformed):
    assert token_malformed(token) is malformed
    assert token_malformed(None) is False
