from annual_report.matching import Evidence, match_department
from annual_report.registry import load_registry

REGISTRY = load_registry("config")


def test_token_wins_over_everything_else():
    match = match_department(
        Evidence(
            token_department="RSJ",
            token_present=True,
            subject_department="FGW",
            sender="rsj@yichun.example",
        ),
        REGISTRY,
    )
    assert (match.department, match.method, match.quarantined) == ("RSJ", "token", False)


def test_token_from_an_unregistered_sender_is_quarantined():
    match = match_department(
        Evidence(token_department="RSJ", token_present=True, sender="someone@qq.example"),
        REGISTRY,
    )
    assert match.quarantined and match.department == "RSJ"
    assert "not in the registry" in match.reason
    rsj = REGISTRY["RSJ"].name
    assert f"表格带有{rsj}（RSJ）的识别码" in match.reason_zh
    assert "someone@qq.example 不在单位名录中" in match.reason_zh


def test_token_from_another_registered_unit_is_accepted_with_a_note():
    match = match_department(
        Evidence(token_department="ZSRSJ", token_present=True, sender="zss.zwgk@yichun.example"),
        REGISTRY,
    )
    assert match.matched and match.department == "ZSRSJ"
    assert "on behalf of ZSRSJ" in match.notes[0]


def test_drop_folder_file_with_token_needs_no_sender():
    match = match_department(Evidence(token_department="WTZ", token_present=True), REGISTRY)
    assert match.matched and match.department == "WTZ"


def test_without_token_subject_then_thread_then_sender():
    assert match_department(Evidence(subject_department="FGW"), REGISTRY).method == "subject"
    assert match_department(Evidence(thread_department="FGW"), REGISTRY).method == "thread"
    match = match_department(Evidence(sender="FGW@Yichun.example"), REGISTRY)
    assert (match.department, match.method) == ("FGW", "sender")


def test_invalid_token_is_noted_and_ignored():
    match = match_department(
        Evidence(token_present=True, file_department="RSJ", sender="rsj@yichun.example"),
        REGISTRY,
    )
    assert match.matched and match.method == "sender"
    assert "not valid for this campaign" in match.notes[0]


def test_conflicting_evidence_is_quarantined():
    match = match_department(
        Evidence(subject_department="FGW", sender="rsj@yichun.example"), REGISTRY
    )
    assert match.quarantined and "FGW" in match.reason and "RSJ" in match.reason
    assert match.reason_zh == (
        f"邮件主题指向{REGISTRY['FGW'].name}（FGW），"
        f"但其他线索指向{REGISTRY['RSJ'].name}（RSJ），请核实"
    )


def test_nothing_known_is_quarantined():
    match = match_department(Evidence(sender="stranger@example.org"), REGISTRY)
    assert match.quarantined and match.department is None
    assert "无法判断报送单位" in match.reason_zh and "往年" not in match.reason_zh
    stale = match_department(
        Evidence(token_present=True, file_department="RSJ", sender="stranger@example.org"),
        REGISTRY,
    )
    assert "识别码已失效" in stale.reason_zh
