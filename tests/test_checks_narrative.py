"""The narrative (C5, C6, C8): numbers against the tables, the fee statement, completeness."""

from __future__ import annotations

import pytest
from checkkit import BOTH, F2021, GOOD_NARRATIVE, issues, report, request_row

from annual_report.report import Report
from annual_report.validation import validate
from annual_report.validation.narrative import chinese_int

# -- C5: numbers in the narrative ------------------------------------------------------------


def with_requests(form_id: str, new: int, carried_over: int = 0, **more: object) -> Report:
    values = {
        **request_row("new_received", natural_person=new),
        **request_row("carried_from_last_year", natural_person=carried_over),
        **request_row("granted", natural_person=new + carried_over),
        **request_row("handled_total", natural_person=new + carried_over),
        **more,
    }
    return report(form_id, values)


@pytest.mark.parametrize("form_id", BOTH)
@pytest.mark.parametrize(
    ("sentence", "new", "carried_over"),
    [
        ("2021年全年收到0件依申请公开件。", 0, 0),  # the seed
        ("本年度共收到政府信息公开申请3件，均已按时答复。", 3, 0),
        ("全年收到两件依申请公开申请。", 2, 0),
        ("共受理依申请公开3件（含上年结转1件）。", 2, 1),
        ("本年新收政府信息公开申请2件，上年结转1件。", 2, 1),
        ("收到的申请中予以公开3件。", 1, 0),
        ("2021年，我局共主动公开政府信息66条，收到市民来信12件。", 0, 0),
    ],
)
def test_c5_agreeing_narrative(form_id, sentence, new, carried_over):
    rep = with_requests(form_id, new, carried_over)
    rep.narrative = {
        **GOOD_NARRATIVE,
        "narrative.overview": GOOD_NARRATIVE["narrative.overview"] + sentence,
    }
    assert validate(rep).issues == []


@pytest.mark.parametrize("form_id", BOTH)
@pytest.mark.parametrize(
    ("sentence", "quote", "code", "table"),
    [
        (
            "本年度共收到政府信息公开申请2件。",
            "收到政府信息公开申请2件",
            "requests.new_received.total",
            "3",
        ),
        ("全年收到两件依申请公开件。", "收到两件", "requests.new_received.total", "3"),
        ("依申请公开5件。", "依申请公开5件", "requests.new_received.total", "3"),
        ("上年结转2件。", "上年结转2件", "requests.carried_from_last_year.total", "0"),
        ("本年度被申请行政复议1件。", "行政复议1件", "review.total", "0"),
        ("提起行政诉讼三件。", "行政诉讼三件", "litigation_direct.total", "0"),
    ],
)
def test_c5_narrative_number_differs_from_table(form_id, sentence, quote, code, table):
    rep = with_requests(form_id, 3)
    rep.narrative = {
        **GOOD_NARRATIVE,
        "narrative.overview": GOOD_NARRATIVE["narrative.overview"] + sentence,
    }
    validation = validate(rep)
    assert validation.flat() == [("C5", "warning", code)]
    message = validation.issues[0].message
    assert f"“{quote}”" in message and f"为{table}" in message
    assert "一、总体情况" in message


def test_c5_litigation_is_the_sum_of_both_kinds():
    rep = with_requests(
        F2021,
        0,
        **{
            "litigation_direct.upheld": 1,
            "litigation_direct.total": 1,
            "litigation_after_review.pending": 1,
            "litigation_after_review.total": 1,
        },
    )
    rep.narrative = {
        **GOOD_NARRATIVE,
        "narrative.problems": GOOD_NARRATIVE["narrative.problems"] + "行政诉讼2件。",
    }
    assert validate(rep).issues == []
    rep.narrative["narrative.problems"] += "另有行政诉讼3件。"
    validation = validate(rep)
    assert validation.flat() == [("C5", "warning", "litigation_direct.total")]
    assert validation.issues[0].codes == (
        "litigation_direct.total",
        "litigation_after_review.total",
    )
    assert "之和为2" in validation.issues[0].message


def test_c5_combined_review_and_litigation_count_is_not_read_as_litigation():
    rep = with_requests(F2021, 0, **{"review.pending": 1, "review.total": 1})
    overview = GOOD_NARRATIVE["narrative.overview"] + "全年发生行政复议和行政诉讼共1件。"
    rep.narrative = {**GOOD_NARRATIVE, "narrative.overview": overview}
    assert validate(rep).issues == []


def test_c5_and_c8_skipped_without_narrative():
    validation = validate(with_requests(F2021, 3))
    assert {"C5", "C6", "C8"} <= set(validation.skipped)


def test_chinese_numerals():
    assert [chinese_int(t) for t in ("0", "１２", "两", "十", "十三", "二十", "一百零五")] == [
        0,
        12,
        2,
        10,
        13,
        20,
        105,
    ]
    assert chinese_int("三五") is None


# -- C6 --------------------------------------------------------------------------------------


def fee_unpaid(n: int) -> dict[str, int]:
    return {
        **request_row("new_received", natural_person=n),
        **request_row("other.fee_unpaid", natural_person=n),
        **request_row("handled_total", natural_person=n),
    }


def test_c6_fee_unpaid_but_no_fee_statement():
    rep = report(F2021, fee_unpaid(2))
    rep.narrative = {
        **GOOD_NARRATIVE,
        "narrative.other_matters": "本机关无其他需要报告的事项，特此说明。",
    }
    validation = validate(rep)
    assert ("C6", "warning", "requests.other.fee_unpaid.total") in validation.flat()
    message = issues(validation, "C6")[0].message
    assert "为2" in message and "信息处理费" in message
    assert ("C8", "warning", "narrative.other_matters") in validation.flat()


def test_c6_holds():
    rep = report(F2021, fee_unpaid(2))
    rep.narrative = {
        **GOOD_NARRATIVE,
        "narrative.other_matters": "本年度发出收费通知2份，收取信息处理费0元。",
    }
    assert validate(rep).issues == []
    rep = report(F2021, narrative={**GOOD_NARRATIVE, "narrative.other_matters": "无。"})
    assert "C6" not in [t[0] for t in validate(rep).flat()]


# -- C8 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("form_id", BOTH)
def test_c8_missing_short_and_feeless_sections(form_id):
    rep = report(
        form_id,
        narrative={
            "narrative.overview": "详见附件。",
            "narrative.other_matters": "无。",
        },
    )
    validation = validate(rep)
    assert validation.flat() == [
        ("C8", "warning", "narrative.overview"),
        ("C8", "warning", "narrative.problems"),
        ("C8", "warning", "narrative.other_matters"),
    ]
    short, missing, feeless = validation.issues
    assert "一、总体情况" in short.message and "过短" in short.message and "5字" in short.message
    assert "五、存在的主要问题及改进情况" in missing.message and "缺失" in missing.message
    assert "信息处理费" in feeless.message
    rep.narrative = dict(GOOD_NARRATIVE)
    assert validate(rep).issues == []
