"""The coordinator's decisions as data, without Prefect: the warnings review (what it shows,
codes asked again, the send-back applied) and the approval (the final workbook, the campaign's
status, the report's 成文日期). The UI path, pausing a real flow, is in test_flows."""

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from annual_report.documents.report import report_date
from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, fill_template, sample_narrative
from connectors.mailbox import DropFolder
from connectors.outgoing import RecordingSender
from demo import city
from office.answers import owed_answers
from office.campaign import open_campaign
from office.consolidation import approve, consolidate
from office.delivery import deliver
from office.dispatch import invitation
from office.intake import read_mailbox
from office.reviews import approval_request, pending_warnings, returned_zh, send_back
from office.runtime import Runtime
from office.settings import load_app_config

ZONE = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2022, 1, 10, 9, tzinfo=ZONE)
APPROVED_AT = datetime(2022, 2, 8, 15, tzinfo=ZONE)
REPLIES = {"RSJ": "good", "JYJ": "warnings", "CZJ": "warnings"}


@pytest.fixture
def rt(tmp_path):
    """Three departments' workbooks taken in from the drop folder: one clean, two whose
    review and litigation tables were left blank (warnings: counted as 0)."""
    config_dir = city.write_config(
        tmp_path / "config",
        report_year=2021,
        smtp_port=2525,
        maildir=tmp_path / "office",
        archive=tmp_path / "archive",
    )
    drop = tmp_path / "drop"
    drop.mkdir()
    runtime = Runtime.open(
        load_app_config(config_dir, tmp_path / "data"),
        sender=RecordingSender(),
        mailboxes={"drop": DropFolder(drop, settle_seconds=0)},
    )
    open_campaign(runtime)
    deliver(runtime, [invitation(runtime, code, AS_OF) for code in REPLIES])
    form = form_for_year(2021)
    for mail in runtime.sender.sent:
        template = tmp_path / f"{mail.department}-template.xlsx"
        template.write_bytes(mail.attachments[0].content)
        rng = random.Random(mail.department)
        values = dict(consistent_values(form, rng))
        narrative = sample_narrative(2021, values, rng)
        if REPLIES[mail.department] == "warnings":
            for cell in form.cells:
                if cell.startswith(("review.", "litigation_")):
                    values[cell] = None
        fill_template(template, drop / f"{mail.department}.xlsx", values, narrative)
    assert len(read_mailbox(runtime, "drop", AS_OF).new_submissions) == 3
    yield runtime
    runtime.close()


def status_of(rt, code):
    return rt.store.latest_submission("2021", code)


def test_the_warnings_review(rt):
    review = pending_warnings(rt)
    assert review.codes == {"JYJ", "CZJ"}
    for code in ("JYJ", "CZJ"):
        name = rt.config.registry[code].name
        assert f"- {name}（{code}，第1版）：" in review.description
        issues = rt.store.issues(status_of(rt, code).id)
        assert next(i for i in issues if i.severity == "warning").message in review.description
    assert "RSJ" not in review.description
    # what the coordinator typed, folded; a code not under review is asked again, not dropped
    assert review.unknown(["jyj ", " CJZ", ""]) == ["CJZ"]
    again = review.ask_again(["CJZ"])
    assert again.startswith("**未找到单位代码：CJZ**") and again.endswith(review.description)
    send_back(rt, review, ["jyj "], note="请核实复议数据")
    jyj, czj = status_of(rt, "JYJ"), status_of(rt, "CZJ")
    assert (jyj.status, jyj.decided_by, jyj.decision_note) == (
        "rejected",
        "coordinator",
        "请核实复议数据",
    )
    assert (czj.status, czj.decided_by) == ("accepted", "coordinator")
    assert pending_warnings(rt) is None  # decided: not asked again
    # the next collect tells the department sent back, with the coordinator's note
    (returned,) = [a for a in owed_answers(rt, AS_OF) if a.kind == "answer.returned"]
    assert returned.key == f"returned:{jyj.id}" and returned.department == "JYJ"
    assert "请核实复议数据" in returned.mail.text


def test_the_approval(rt):
    send_back(rt, pending_warnings(rt), [])
    result, draft = consolidate(rt)
    assert {u.code for u in result.included} == set(REPLIES)
    asked = approval_request(result, draft)
    assert f"纳入 {len(REPLIES)} 个单位" in asked and str(draft) in asked
    assert rt.store.campaign("2021").status != "consolidated"
    final = approve(rt, draft, APPROVED_AT)
    assert final.name.endswith("年政府信息公开工作年度报告（定稿）.xlsx")
    assert final.parent == draft.parent and final.read_bytes() == draft.read_bytes()
    assert rt.store.campaign("2021").status == "consolidated"
    assert rt.store.get_state("2021", "consolidation.approved") == {
        "at": APPROVED_AT.isoformat(),
        "file": final.name,
    }
    assert report_date(rt.store, "2021", zone=ZONE)[0] == APPROVED_AT.date()  # its 成文日期
    assert returned_zh("") == "汇总结果已退回，未定稿：（未填写原因）"
    assert returned_zh("等待补报") == "汇总结果已退回，未定稿：等待补报"
