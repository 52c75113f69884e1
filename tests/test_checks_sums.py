"""Sums (R1–R4, C4): every binding firing and not firing, on both forms, and the property."""

from __future__ import annotations

import random

import pytest
from checkkit import BOTH, F2021, GOOD_NARRATIVE, issues, report, request_row
from hypothesis import given, settings
from hypothesis import strategies as st

from annual_report.form.model import Form, load_form
from annual_report.report import Report
from annual_report.validation import Context, validate

# -- R1–R4 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("form_id", BOTH)
def test_r1_fires_with_the_four_numbers(form_id):
    values = {
        **request_row("new_received", natural_person=5),
        **request_row("carried_from_last_year", natural_person=1),
        **request_row("granted", natural_person=4),
        **request_row("handled_total", natural_person=4),
        **request_row("carried_to_next_year", natural_person=1),
    }
    validation = validate(report(form_id, values))
    assert validation.flat() == [
        ("R1", "error", "requests.new_received.natural_person"),
        ("R1", "error", "requests.new_received.total"),
    ]
    first = validation.issues[0]
    assert first.message == (
        "第三部分“自然人”列：一、本年新收（5）+ 二、上年结转（1）= 6，"
        "但（七）总计（4）+ 四、结转下年度继续办理（1）= 5，两者应相等。"
    )
    assert first.codes == (
        "requests.new_received.natural_person",
        "requests.carried_from_last_year.natural_person",
        "requests.handled_total.natural_person",
        "requests.carried_to_next_year.natural_person",
    )
    assert first.cells == tuple(f"'t'!{c}" for c in first.codes)
    assert "“总计”列" in validation.issues[1].message


@pytest.mark.parametrize("form_id", BOTH)
def test_r1_holds(form_id):
    values = {
        **request_row("new_received", natural_person=5, commercial=1),
        **request_row("carried_from_last_year", natural_person=1),
        **request_row("granted", natural_person=5),
        **request_row("partially_granted", commercial=1),
        **request_row("handled_total", natural_person=5, commercial=1),
        **request_row("carried_to_next_year", natural_person=1),
    }
    assert validate(report(form_id, values)).errors == []


@pytest.mark.parametrize("form_id", BOTH)
def test_r2_fires_when_total_is_not_the_applicant_sum(form_id):
    values = {
        **request_row("new_received", natural_person=3, commercial=1),
        **request_row("handled_total", natural_person=3, commercial=1),
        **request_row("granted", natural_person=3, commercial=1),
        "requests.granted.total": 5,
        "requests.handled_total.total": 5,
        "requests.new_received.total": 5,
    }
    validation = validate(report(form_id, values))
    assert [t for t in validation.flat() if t[0] == "R2"] == [
        ("R2", "error", "requests.new_received.total"),
        ("R2", "error", "requests.granted.total"),
        ("R2", "error", "requests.handled_total.total"),
    ]
    message = issues(validation, "R2")[0].message
    assert "“一、本年新收政府信息公开申请数量”行" in message
    assert "总计（5）" in message and "各项之和为4" in message
    assert "自然人（3）" in message and "商业企业（1）" in message
    assert issues(validation, "R2")[0].codes[0] == "requests.new_received.total"
    assert len(issues(validation, "R2")[0].codes) == 7
    assert not issues(validation, "R1") and not issues(validation, "R3")


@pytest.mark.parametrize("form_id", BOTH)
def test_r3_fires_when_handled_total_is_not_the_outcome_sum(form_id):
    other = "requests.other.other" if form_id == F2021 else "requests.other"
    values = {
        **request_row("new_received", natural_person=4),
        **request_row("granted", natural_person=2),
        **request_row(other.removeprefix("requests."), natural_person=1),
        **request_row("handled_total", natural_person=4),
    }
    validation = validate(report(form_id, values))
    assert [t for t in validation.flat() if t[0] == "R3"] == [
        ("R3", "error", "requests.handled_total.natural_person"),
        ("R3", "error", "requests.handled_total.total"),
    ]
    message = issues(validation, "R3")[0].message
    assert message.startswith("第三部分“自然人”列：（七）总计（4），但各项之和为3")
    assert "（一）予以公开（2）" in message
    assert "（七）总计等于各项办理结果之和" in message
    assert len(issues(validation, "R3")[0].codes) == 1 + len(
        load_form(form_id).sets["outcome_rows"]
    )
    assert not issues(validation, "R2")


@pytest.mark.parametrize("form_id", BOTH)
@pytest.mark.parametrize("group", ["review", "litigation_direct", "litigation_after_review"])
def test_r4_fires_per_group(form_id, group):
    validation = validate(report(form_id, {f"{group}.upheld": 2, f"{group}.pending": 1}))
    assert validation.flat() == [("R4", "error", f"{group}.total")]
    message = validation.issues[0].message
    assert "结果维持（2）+ 结果纠正（0）+ 其他结果（0）+ 尚未审结（1）= 3" in message
    assert "总计（0）" in message
    label = {
        "review": "“行政复议”",
        "litigation_direct": "“行政诉讼 未经复议直接起诉”",
        "litigation_after_review": "“行政诉讼 复议后起诉”",
    }[group]
    assert message.startswith(f"第四部分{label}：")
    fixed = report(form_id, {f"{group}.upheld": 2, f"{group}.pending": 1, f"{group}.total": 3})
    assert validate(fixed).issues == []


def test_sum_rules_skip_bindings_with_missing_cells():
    form = load_form(F2021)
    rep = Report(form, year=2021)
    rep.set_raw("review.upheld", "1")  # a truncated source: section 4 half read
    validation = validate(rep)
    assert validation.issues == []
    assert "R1" in validation.skipped and "R4" in validation.skipped
    rep.set_raw("review.total", "1")
    for code in ("review.corrected", "review.other", "review.pending"):
        rep.set_raw(code, "")
    assert [t[0] for t in validate(rep).flat()] == ["N1"]
    rep.set_raw("review.total", "2")
    assert validate(rep).flat()[0] == ("R4", "error", "review.total")


def test_blank_cells_count_as_zero_in_sums():
    rep = report(F2021, {"review.upheld": "3", "review.corrected": "", "review.total": "3"})
    assert [t[0] for t in validate(rep).flat()] == ["N1"]


# -- the property: consistent reports pass, one perturbed cell fires exactly its bindings ----


def consistent_values(form: Form, draw: random.Random | list[int]) -> dict[str, int]:
    """Random parts, totals computed: a report R1–R4 accept."""
    numbers = iter(draw) if isinstance(draw, list) else None

    def n() -> int:
        if numbers is not None:
            return next(numbers)
        assert isinstance(draw, random.Random)
        return draw.choice((0, 0, 0, 1, 2, 3, 7, 12, 250))

    applicants = form.sets["applicant_columns"]
    values: dict[str, int] = {}
    for col in applicants:
        handled = 0
        for row in form.sets["outcome_rows"]:
            values[f"requests.{row}.{col}"] = v = n()
            handled += v
        values[f"requests.handled_total.{col}"] = handled
        values[f"requests.carried_to_next_year.{col}"] = nxt = n()
        values[f"requests.carried_from_last_year.{col}"] = carried = min(n(), handled + nxt)
        values[f"requests.new_received.{col}"] = handled + nxt - carried
    for row in form.sets["request_rows"]:
        values[f"requests.{row}.total"] = sum(values[f"requests.{row}.{c}"] for c in applicants)
    for group in form.sets["review_groups"]:
        parts = [n() for _ in range(4)]
        for part, v in zip(("upheld", "corrected", "other", "pending"), parts, strict=True):
            values[f"{group}.{part}"] = v
        values[f"{group}.total"] = sum(parts)
    return values


SUM_CELLS = {
    form_id: sorted(
        {
            code
            for rule in load_form(form_id).rules
            if rule.check == "sum_equal"
            for b in load_form(form_id).bindings(rule)
            for key in ("left", "right")
            for code in load_form(form_id).expand_all(getattr(rule.params, key), b)
        }
    )
    for form_id in BOTH
}
DRAWS = 6 * 21 + 6 * 2 + 12


@pytest.mark.parametrize("form_id", BOTH)
def test_random_consistent_reports_have_no_errors(form_id):
    rng = random.Random(20240126)
    for _ in range(20):
        values = consistent_values(load_form(form_id), rng)
        values[
            "proactive.normative_docs.issued" if form_id == F2021 else "proactive.rules.made"
        ] = 0
        validation = validate(report(form_id, values, narrative=dict(GOOD_NARRATIVE)))
        assert validation.errors == []


@settings(max_examples=60, deadline=None)
@given(
    form_id=st.sampled_from(BOTH),
    numbers=st.lists(st.integers(0, 40), min_size=DRAWS, max_size=DRAWS),
    pick=st.integers(0, 10_000),
    delta=st.integers(1, 9),
)
def test_one_perturbed_cell_fires_exactly_its_bindings(form_id, numbers, pick, delta):
    form = load_form(form_id)
    values = consistent_values(form, numbers)
    assert not [i for i in validate(report(form_id, values)).errors]
    code = SUM_CELLS[form_id][pick % len(SUM_CELLS[form_id])]
    values[code] += delta
    expected = set()
    for rule in form.rules:
        if rule.check != "sum_equal":
            continue
        for binding in form.bindings(rule):
            left = form.expand_all(rule.params.left, binding)
            right = form.expand_all(rule.params.right, binding)
            if code in left or code in right:
                expected.add((rule.id, rule.severity, left[0]))
    validation = validate(report(form_id, values))
    assert set(validation.flat()) == expected
    assert len(validation.issues) == len(expected)
    assert all(code in issue.codes for issue in validation.issues)


# -- C4 --------------------------------------------------------------------------------------


def test_c4_issued_exceeds_in_force_plus_repealed():
    values = {
        "proactive.rules.issued": 5,
        "proactive.rules.in_force": 2,
        "proactive.rules.repealed": 1,
    }
    validation = validate(report(F2021, values), context=Context(can_make_rules=True))
    assert validation.flat() == [("C4", "warning", "proactive.rules.issued")]
    assert validation.issues[0].message == (
        "第二部分“规章”行：本年制发件数（5）应不大于"
        "现行有效件数（2）+ 本年废止件数（1）= 3，请核对。"
    )
    values["proactive.rules.in_force"] = 4
    assert validate(report(F2021, values), context=Context(can_make_rules=True)).issues == []
