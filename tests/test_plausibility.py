"""C9: a unit's figure far beyond its own history asks for a 说明."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from annual_report.form.model import load_form
from annual_report.report import Report
from annual_report.validation import Context, Validation, validate

BOTH = ["gov-disclosure-2019", "gov-disclosure-2021"]
NEW = "requests.new_received.total"


def report(form_id: str, year: int, values: dict[str, object] | None = None) -> Report:
    """Every cell 0 except ``values`` (the other rules' findings are not looked at here)."""
    form = load_form(form_id)
    rep = Report(form, year=year)
    for code in form.cells:
        rep.set_raw(code, "0", cell=f"'t'!{code}")
    for code, raw in (values or {}).items():
        rep.set_raw(code, str(raw), cell=f"'t'!{code}")
    return rep


def c9(validation: Validation) -> list[tuple[str, str]]:
    return [(i.codes[0], i.message) for i in validation.issues if i.rule == "C9"]


def history(**years: dict[str, int]) -> dict[int, dict[str, Decimal]]:
    return {
        int(y.removeprefix("y")): {c: Decimal(v) for c, v in d.items()} for y, d in years.items()
    }


@pytest.mark.parametrize("form_id", BOTH)
def test_applications_five_times_the_highest_year(form_id):
    past = history(y2019={NEW: 120}, y2020={NEW: 150})
    found = c9(validate(report(form_id, 2021, {NEW: 1500}), context=Context(history=past)))
    assert [code for code, _ in found] == [NEW]
    message = found[0][1]
    assert message.startswith("第三部分“一、本年新收政府信息公开申请数量”行“总计”列为1500，")
    assert "是本单位往年最高值的10倍（2019年120、2020年150）" in message
    assert message.endswith("变化幅度异常，请核对；如数据无误，可不修改，请附上说明。")
    # within five times the highest year: no warning
    assert c9(validate(report(form_id, 2021, {NEW: 700}), context=Context(history=past))) == []


def test_from_hundreds_to_zero():
    past = history(y2020={NEW: 320, "review.total": 2}, y2021={NEW: 280, "review.total": 3})
    found = c9(validate(report(BOTH[1], 2022, {NEW: 0}), context=Context(history=past)))
    assert len(found) == 1
    assert "为0，而本单位往年最少也有280（2020年320、2021年280）" in found[0][1]


def test_from_nothing_to_many():
    past = history(
        y2020={"proactive.penalties.decisions": 0}, y2021={"proactive.penalties.decisions": 0}
    )
    rep = report(BOTH[1], 2022, {"proactive.penalties.decisions": 200})
    found = c9(validate(rep, context=Context(history=past)))
    assert found[0][0] == "proactive.penalties.decisions"
    assert "而本单位往年均为0（2020年0、2021年0）" in found[0][1]


def test_small_numbers_may_jump():
    past = history(y2021={NEW: 2, "review.total": 40})
    rep = report(BOTH[1], 2022, {NEW: 20, "review.total": 12})  # ×10 but +18; ÷3.3
    assert c9(validate(rep, context=Context(history=past))) == []
    down = report(BOTH[1], 2022, {NEW: 2, "review.total": 5})  # 40 → 5: ÷8 and −35
    assert [code for code, _ in c9(validate(down, context=Context(history=past)))] == [
        "review.total"
    ]


def test_last_years_report_is_history_enough():
    """Without Context.history, C9 compares with ``previous`` (as C1/C2 get it)."""
    previous = report(BOTH[1], 2021, {NEW: 100, "proactive.licensing.decisions": 5000})
    current = report(BOTH[1], 2022, {NEW: 600, "proactive.licensing.decisions": 900})
    found = c9(validate(current, previous=previous))
    assert [code for code, _ in found] == [NEW, "proactive.licensing.decisions"]
    assert "（2021年100）" in found[0][1] and "最少也有5000（2021年5000）" in found[1][1]
    # a previous report in the other format compares by code too
    old = report(BOTH[0], 2020, {NEW: 100, "proactive.licensing.decisions": 800})
    assert [code for code, _ in c9(validate(current, previous=old))] == [NEW]


def test_no_history_is_skipped_with_a_reason():
    validation = validate(report(BOTH[1], 2022, {NEW: 600}))
    assert c9(validation) == [] and validation.skipped["C9"] == "no earlier year of this unit"
    # this year and later are not history
    later = history(y2022={NEW: 1}, y2023={NEW: 1})
    validation = validate(report(BOTH[1], 2022, {NEW: 600}), context=Context(history=later))
    assert "C9" in validation.skipped
    # an earlier year without any of the rule's cells (a truncated published text)
    sparse = history(y2021={"proactive.admin_fees.amount_wan_yuan": 3})
    validation = validate(report(BOTH[1], 2022, {NEW: 600}), context=Context(history=sparse))
    assert validation.skipped["C9"] == "the earlier years have none of the cells"


def test_thresholds_come_from_the_form():
    form = load_form(BOTH[1])
    rule = form.rule("C9")
    assert (rule.params.factor, rule.params.min_change) == (5, 30)
    stricter = dataclasses.replace(
        form,
        rules=tuple(
            dataclasses.replace(r, params=dataclasses.replace(r.params, factor=3))
            if r.id == "C9"
            else r
            for r in form.rules
        ),
    )
    rep = report(BOTH[1], 2022, {NEW: 330})
    past = history(y2021={NEW: 100})
    assert c9(validate(rep, context=Context(history=past))) == []
    rep.form = stricter
    found = c9(validate(rep, context=Context(history=past)))
    assert found and "3.3倍（2021年100）" in found[0][1]
