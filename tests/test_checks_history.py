"""Against the unit's past (C1, C2, C7; C9 is in test_plausibility.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from checkkit import BOTH, F2019, F2021, FEE, YEAR, report, request_row

from annual_report.form.model import load_form
from annual_report.report import Report
from annual_report.validation import Context, validate

# -- C1, C2: against last year ---------------------------------------------------------------


def carried(form_id: str, year: int, **by_column: int) -> Report:
    """A consistent report whose 结转下年度 and 上年结转 rows are ``by_column``."""
    values = {
        **request_row("new_received", **by_column),
        **request_row("carried_from_last_year", **by_column),
        **request_row("granted", **by_column),
        **request_row("handled_total", **by_column),
        **request_row("carried_to_next_year", **by_column),
    }
    return report(form_id, values, year=year)


@pytest.mark.parametrize(
    ("form_id", "previous_form"), [(F2019, F2019), (F2021, F2019), (F2021, F2021)]
)
def test_c1_carried_over_differs_from_last_year(form_id, previous_form):
    current = carried(form_id, YEAR[form_id], natural_person=3)
    previous = carried(previous_form, YEAR[form_id] - 1, natural_person=2)
    validation = validate(current, previous=previous)
    assert validation.flat() == [
        ("C1", "warning", "requests.carried_from_last_year.natural_person"),
        ("C1", "warning", "requests.carried_from_last_year.total"),
    ]
    issue = validation.issues[0]
    assert issue.codes == (
        "requests.carried_from_last_year.natural_person",
        "requests.carried_to_next_year.natural_person",
    )
    assert issue.cells == ("'t'!requests.carried_from_last_year.natural_person",)
    assert "本年“二、上年结转”为3" in issue.message
    assert "上年报告“四、结转下年度继续办理”为2" in issue.message
    assert "机构改革" in issue.message and "说明" in issue.message


@pytest.mark.parametrize("form_id", BOTH)
def test_c1_holds_or_is_skipped(form_id):
    current = carried(form_id, YEAR[form_id], natural_person=2, research=1)
    previous = carried(form_id, YEAR[form_id] - 1, natural_person=2, research=1)
    assert validate(current, previous=previous).issues == []
    validation = validate(current)
    assert validation.issues == [] and "C1" in validation.skipped
    truncated = Report(load_form(form_id), year=YEAR[form_id] - 1)  # last year not back-filled
    validation = validate(current, previous=truncated)
    assert validation.issues == [] and "C1" in validation.skipped


def test_c2_in_force_does_not_follow_from_last_year():
    previous = report(F2021, {"proactive.normative_docs.in_force": 7}, year=2021)
    current = report(
        F2021,
        {
            "proactive.normative_docs.issued": 1,
            "proactive.normative_docs.repealed": 0,
            "proactive.normative_docs.in_force": 9,
        },
        year=2022,
    )
    validation = validate(current, previous=previous)
    assert validation.flat() == [("C2", "warning", "proactive.normative_docs.in_force")]
    message = validation.issues[0].message
    assert message.startswith("第二部分“行政规范性文件”行：现行有效件数为9")
    assert "上年现行有效件数（7）+ 本年制发件数（1）− 本年废止件数（0）= 8" in message
    assert "机构改革" in message


def test_c2_holds_or_is_skipped():
    previous = report(F2021, {"proactive.normative_docs.in_force": 7}, year=2021)
    current = report(
        F2021,
        {
            "proactive.normative_docs.issued": 2,
            "proactive.normative_docs.repealed": 1,
            "proactive.normative_docs.in_force": 8,
        },
        year=2022,
    )
    assert validate(current, previous=previous).issues == []
    # last year in the 2019 format has no 现行有效件数: nothing to compare
    validation = validate(current, previous=report(F2019, year=2020))
    assert validation.issues == [] and "C2" in validation.skipped


# -- C7 --------------------------------------------------------------------------------------


def test_c7_fee_jumps_against_last_year():
    previous = report(F2021, {FEE: "11.28"}, year=2021)
    validation = validate(report(F2021, {FEE: "112800"}, year=2022), previous=previous)
    assert validation.flat() == [("C7", "warning", FEE)]
    message = validation.issues[0].message
    assert "112800万元" in message and "11.28万元" in message and "10000倍" in message
    assert "元" in message and "万元" in message
    assert validate(report(F2021, {FEE: "12.5"}, year=2022), previous=previous).issues == []


def test_c7_fee_against_peers():
    peers = (Decimal("10"), "11", 12, 13.0, Decimal("14.5"))
    validation = validate(report(F2021, {FEE: "1300"}), context=Context(peer_fees=peers))
    assert validation.flat() == [("C7", "warning", FEE)]
    assert "中位数（12万元）" in validation.issues[0].message
    assert validate(report(F2021, {FEE: "1100"}), context=Context(peer_fees=peers)).issues == []
    # too few peers to judge
    assert validate(report(F2021, {FEE: "1300"}), context=Context(peer_fees=peers[:4])).issues == []


def test_c7_department_ceiling():
    big = report(F2021, {FEE: "100000"})
    validation = validate(big, context=Context(organ_kind="department"))
    assert validation.flat() == [("C7", "warning", FEE)]
    assert "100000万元" in validation.issues[0].message
    assert validate(big, context=Context(organ_kind="county")).issues == []
