"""What the reader found (R5, R6, N1, N2, A1): firing and not firing, on both forms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from checkkit import BOTH, F2019, F2021, report, request_row

from annual_report.form.model import load_form
from annual_report.report import Entry, LabelNote
from annual_report.validation import validate

# -- R5, R6 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("form_id", BOTH)
def test_r5_reports_unparseable_cells_and_skips_their_sums(form_id):
    rep = report(form_id, {"requests.granted.natural_person": "若干", "review.pending": "1.5"})
    validation = validate(rep)
    assert validation.flat() == [
        ("R5", "error", "requests.granted.natural_person"),
        ("R5", "error", "review.pending"),
    ]
    first, second = validation.issues
    assert first.message == (
        "第三部分“三、本年度办理结果 （一）予以公开”行“自然人”列：“若干”不是数字。"
    )
    assert first.cells == ("'t'!requests.granted.natural_person",)
    assert "数量应为整数（1.5）" in second.message


@pytest.mark.parametrize("form_id", BOTH)
def test_r5_negative_counts(form_id):
    rep = report(form_id, {"review.upheld": "-1", "review.total": "-1"})
    assert [t for t in validate(rep).flat() if t[0] == "R5"] == [
        ("R5", "error", "review.upheld"),
        ("R5", "error", "review.total"),
    ]
    # a value put there by another reader, not by set_raw, is still checked
    rep = report(form_id)
    rep.entries["review.pending"] = Entry("review.pending", None, Decimal(-2), cell="'四'!D5")
    rep.entries["review.total"] = Entry("review.total", None, Decimal(-2))
    validation = validate(rep)
    assert validation.flat() == [("R5", "error", "review.pending"), ("R5", "error", "review.total")]
    assert "数量不能为负数（-2）" in validation.issues[0].message
    assert validation.issues[0].cells == ("'四'!D5",)


def test_r5_signed_2019_change_may_be_negative():
    rep = report(F2019, {"proactive.licensing.items_change": "-3"})
    assert validate(rep).issues == []


def test_r5_fee_unit_and_places():
    rep = report(F2021, {"proactive.admin_fees.amount_wan_yuan": "79000.1元"})
    validation = validate(rep)
    assert validation.flat() == [("R5", "error", "proactive.admin_fees.amount_wan_yuan")]
    assert "金额单位应为万元" in validation.issues[0].message
    rep = report(F2021, {"proactive.admin_fees.amount_wan_yuan": "11.28"})
    assert validate(rep).issues == []


def test_r6_wrong_form_for_the_year():
    validation = validate(report(F2019, year=2022))
    assert validation.flat() == [("R6", "error", "")]
    assert validation.issues[0].message.startswith(
        "2022年度报告应使用2021年版格式（国办公开办函〔2021〕30号），本表为2019年版格式"
    )
    validation = validate(report(F2021, year=2020))
    assert "2020年度报告应使用2019年版格式（试行，国办公开办函〔2019〕60号）" in (
        validation.issues[0].message
    )


def test_r6_declared_form_differs():
    validation = validate(report(F2021, declared_form=F2019))
    assert validation.flat() == [("R6", "error", "")]
    assert "本表为2019年版格式" in validation.issues[0].message


@pytest.mark.parametrize("form_id", BOTH)
def test_r6_holds_or_is_skipped(form_id):
    assert validate(report(form_id, declared_form=form_id)).issues == []
    validation = validate(report(form_id, year=None))
    assert validation.issues == [] and "R6" in validation.skipped


def test_r6_year_without_a_form():
    validation = validate(report(F2019, year=2018))
    assert validation.flat() == [("R6", "error", "")]
    assert "2018年度" in validation.issues[0].message


# -- N1, N2, A1 ------------------------------------------------------------------------------


@pytest.mark.parametrize("form_id", BOTH)
def test_n1_blanks_grouped_per_block(form_id):
    form = load_form(form_id)
    section3 = [c for c in form.cells if c.startswith("requests.")]
    blanks = {code: "" for code in section3[:10]}
    blanks[section3[10]] = "/"
    blanks[section3[11]] = "无"
    values = {**blanks, "review.other": "—"}
    validation = validate(report(form_id, values))
    assert validation.flat() == [
        ("N1", "warning", section3[0]),
        ("N1", "warning", "review.other"),
    ]
    grouped, single = validation.issues
    assert grouped.codes == tuple(section3[:12])
    assert len(grouped.cells) == 12
    assert grouped.message == (
        "第三部分有12个单元格为空或填写“/”“无”（空白10个，“/”1个，“无”1个），"
        "已按0计算，请确认（如确为0，请填写0）。"
    )
    assert (
        single.message
        == "第四部分“行政复议 其他结果”填写“—”，已按0计算，请确认（如确为0，请填写0）。"
    )


def test_n1_names_few_cells_with_their_block():
    rep = report(F2021, {"proactive.rules.repealed": ""})
    validation = validate(rep)
    assert validation.flat() == [("N1", "warning", "proactive.rules.repealed")]
    assert validation.issues[0].message.startswith(
        "第二部分（第二十条第（一）项）“规章”行“本年废止件数”列为空，已按0计算"
    )


@pytest.mark.parametrize("form_id", BOTH)
def test_n2_text_turned_into_numbers(form_id):
    values = {
        **request_row("new_received", natural_person=12),
        **request_row("granted", natural_person=12),
        **request_row("handled_total", natural_person=12),
        "requests.new_received.natural_person": "12件",
        "requests.granted.natural_person": "１２",
        "review.upheld": "+1",
        "review.total": "1.0",
    }
    validation = validate(report(form_id, values))
    assert validation.flat() == [
        ("N2", "warning", "requests.new_received.natural_person"),
        ("N2", "warning", "requests.granted.natural_person"),
        ("N2", "warning", "review.upheld"),
        ("N2", "warning", "review.total"),
    ]
    messages = [i.message for i in validation.issues]
    assert "“12件”已按12计算" in messages[0]
    assert "“１２”已按12计算" in messages[1]
    assert "“+1”已按1计算" in messages[2]
    assert "“1.0”已按1计算" in messages[3]


def test_n2_signed_plus_is_not_text():
    assert validate(report(F2019, {"proactive.licensing.items_change": "+19"})).issues == []


@pytest.mark.parametrize("form_id", BOTH)
def test_a1_label_notes(form_id):
    rep = report(form_id)
    assert validate(rep).issues == []
    rep.label_notes.append(
        LabelNote(
            codes=("requests.carried_to_next_year.total",),
            found="四、结转下一年度继续办理",
            message="行名“四、结转下一年度继续办理”已按“四、结转下年度继续办理”读取。",
            cells=("'三'!A27",),
        )
    )
    validation = validate(rep)
    assert validation.flat() == [("A1", "warning", "requests.carried_to_next_year.total")]
    assert validation.issues[0].cells == ("'三'!A27",)
    assert "结转下一年度" in validation.issues[0].message
