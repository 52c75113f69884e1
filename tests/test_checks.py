"""The validator's checks: every rule firing and not firing, on both forms where it exists."""

from __future__ import annotations

import dataclasses
import random
import re
import typing
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annual_report.errors import FormError
from annual_report.form.model import Form, RuleDef, form_ids, load_form
from annual_report.form.rules import CHECK_PARAMS
from annual_report.report import Entry, LabelNote, Report
from annual_report.validation import CHECKS, Context, Validation, validate
from annual_report.validation.narrative import chinese_int

F2019 = "gov-disclosure-2019"
F2021 = "gov-disclosure-2021"
BOTH = [F2019, F2021]
YEAR = {F2019: 2020, F2021: 2021}
FIXTURES = Path(__file__).parent / "fixtures"
DOCS = Path(__file__).parent.parent / "docs" / "rules.md"

# A narrative that passes C5 and C8 (numbers added per test where needed).
GOOD_NARRATIVE = {
    "narrative.overview": "本机关认真贯彻落实《中华人民共和国政府信息公开条例》，"
    "主动公开政府信息，依法办理政府信息公开申请。",
    "narrative.problems": "存在的主要问题是政策解读不够深入，下一步将加强培训，完善制度。",
    "narrative.other_matters": "本机关无收取信息处理费情况。",
}


def report(form_id: str, values: dict[str, object] | None = None, **kw: object) -> Report:
    """A report of ``form_id`` with every cell ``0`` except ``values`` (raw text)."""
    form = load_form(form_id)
    rep = Report(form, year=kw.pop("year", YEAR[form_id]), **kw)  # type: ignore[arg-type]
    for code in form.cells:
        rep.set_raw(code, "0", cell=f"X{len(rep.entries) + 1}")
    for code, raw in (values or {}).items():
        rep.set_raw(code, None if raw is None else str(raw), cell=f"'t'!{code}")
    return rep


def issues(validation: Validation, rule: str) -> list:
    return [i for i in validation.issues if i.rule == rule]


def request_row(row: str, **by_column: int) -> dict[str, int]:
    """One section-3 row: the given applicant columns and a matching 总计."""
    values = {f"requests.{row}.{col}": n for col, n in by_column.items()}
    values[f"requests.{row}.total"] = sum(by_column.values())
    return values


# -- registry and docs -----------------------------------------------------------------------


def test_every_check_named_in_the_forms_exists():
    for form_id in form_ids():
        for rule in load_form(form_id).rules:
            assert rule.check in CHECKS, f"{form_id} {rule.id}: {rule.check}"


def test_every_registered_check_is_used():
    used = {rule.check for form_id in form_ids() for rule in load_form(form_id).rules}
    assert set(CHECKS) == used


def test_every_check_takes_the_parameters_the_form_declares_for_it():
    assert set(CHECKS) == set(CHECK_PARAMS)
    for name, check in CHECKS.items():
        hints = typing.get_type_hints(check)
        assert hints["params"] is CHECK_PARAMS[name], name


def test_the_package_has_no_import_cycle():
    """Each module of annual_report.validation imports only modules listed before it."""
    import ast

    package = Path(__file__).parent.parent / "annual_report" / "validation"
    order = [
        "model", "values", "wording", "sums", "reading", "history", "rule_making", "narrative",
        "registry", "runner", "digest", "core", "__init__",
    ]  # fmt: skip
    assert sorted(order) == sorted(p.stem for p in package.glob("*.py"))
    for index, name in enumerate(order):
        tree = ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "annual_report.validation":
                    imported |= {alias.name for alias in node.names}
                elif node.module.startswith("annual_report.validation."):
                    imported.add(node.module.rsplit(".", 1)[1])
        assert imported <= set(order[:index]), f"{name} imports {imported - set(order[:index])}"


def test_every_rule_is_documented_with_its_severity_and_title():
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and re.fullmatch(r"[A-Z]\d+", cells[0]):
            rows[cells[0]] = cells
    for form_id in form_ids():
        for rule in load_form(form_id).rules:
            assert rule.id in rows, f"{rule.id} missing from docs/rules.md"
            assert rows[rule.id][1] == rule.severity
            assert rows[rule.id][2] == f"`{rule.check}`"
            assert rule.title in rows[rule.id]


def test_unknown_check_is_a_form_error():
    form = load_form(F2021)
    broken: Form = dataclasses.replace(
        form, rules=(*form.rules, RuleDef("X1", "no_such_check", "error", "不存在"))
    )
    with pytest.raises(FormError, match="unknown checks"):
        validate(Report(broken, year=2021))


def test_rule_ids_and_severities_come_from_the_yaml():
    form = load_form(F2021)
    renamed = dataclasses.replace(
        form,
        rules=tuple(
            dataclasses.replace(r, id="Z" + r.id, severity="warning") if r.id == "R4" else r
            for r in form.rules
        ),
    )
    rep = report(F2021, {"review.upheld": 1})
    rep.form = renamed
    assert validate(rep).flat() == [("ZR4", "warning", "review.total")]


def test_selected_rules_run_alone():
    values = {"review.upheld": 1, "proactive.rules.issued": 2, "proactive.rules.in_force": 2}
    rep = report(F2021, values)  # R4 (an error) and C3 (a warning) fire; C8 and C5 skip
    everything = validate(rep)
    assert {"R4", "C3"} <= {i.rule for i in everything.issues}
    assert everything.rules is None
    chosen = validate(rep, rules={"C3", "R1"})
    assert {i.rule for i in chosen.issues} == {"C3"}
    assert chosen.rules == ("R1", "C3")  # in the form's order
    assert chosen.ok  # R4's error was not looked for
    only_c5 = validate(rep, rules=["C5"])
    assert (only_c5.issues, only_c5.skipped) == ([], {"C5": "no narrative"})
    assert validate(rep, rules=()).issues == []


def test_selecting_a_rule_the_form_does_not_have_is_a_form_error():
    with pytest.raises(FormError, match="form gov-disclosure-2019 has no rule C7") as raised:
        validate(report(F2019), rules={"R1", "C7"})
    assert "R1" in str(raised.value)  # the rules it has


def test_a_rule_built_with_another_checks_parameters_is_a_form_error():
    form = load_form(F2021)
    broken: Form = dataclasses.replace(
        form,
        rules=tuple(
            dataclasses.replace(r, params=form.rule("C3").params) if r.id == "R1" else r
            for r in form.rules
        ),
    )
    with pytest.raises(FormError, match="R1: CellList"):
        validate(Report(broken, year=2021))


@pytest.mark.parametrize("form_id", BOTH)
def test_all_zero_report_has_no_issues(form_id):
    validation = validate(report(form_id, narrative=dict(GOOD_NARRATIVE)))
    assert validation.issues == []
    history_rules = {"C1", "C2", "C9"}  # no previous report, no earlier year
    assert set(validation.skipped) == (history_rules & {r.id for r in load_form(form_id).rules})


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


# -- C3, C4 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form_id", "code"), [(F2019, "proactive.rules.made"), (F2021, "proactive.rules.issued")]
)
def test_c3_rules_from_an_organ_that_cannot_make_them(form_id, code):
    values = {code: 1}
    if form_id == F2021:
        values["proactive.rules.in_force"] = 1
    validation = validate(report(form_id, values))
    assert validation.flat() == [("C3", "warning", code)]
    label = load_form(form_id).cell(code).column_label
    assert validation.issues[0].message.startswith(f"第二部分“规章”行填写了非零数字：{label}（1）")
    assert "省级和设区的市人民政府" in validation.issues[0].message
    rep = report(form_id, values)
    assert validate(rep, context=Context(can_make_rules=True)).issues == []


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


# -- C6, C7, C8 ------------------------------------------------------------------------------


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


FEE = "proactive.admin_fees.amount_wan_yuan"


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


# -- the seed: 樟树市人社局 2021 ------------------------------------------------------------


def seed_narrative() -> dict[str, str]:
    text = (FIXTURES / "seed-zhangshu-rsj-2021.txt").read_text(encoding="utf-8")

    def between(start: str, end: str) -> str:
        begin = text.index(start) + len(start)
        return text[begin : text.index(end, begin)].strip()

    return {
        "narrative.overview": between("\n一、总体情况\n", "\n二、行政机关主动公开政府信息情况"),
        "narrative.problems": between(
            "\n五、存在的主要问题及改进情况\n", "\n六、其他需要报告的事项"
        ),
        "narrative.other_matters": between("\n六、其他需要报告的事项\n", "\n樟树市人社局\n"),
    }


def test_seed_validates_with_only_the_header_warning():
    form = load_form(F2021)
    values = {
        "proactive.rules.issued": "0",
        "proactive.rules.repealed": "0",
        "proactive.rules.in_force": "0",
        "proactive.normative_docs.issued": "1",
        "proactive.normative_docs.repealed": "0",
        "proactive.normative_docs.in_force": "8",
        "proactive.licensing.decisions": "6",
        "proactive.penalties.decisions": "0",
        "proactive.coercive_measures.decisions": "0",
        FEE: "11.28",
    }
    rep = report(F2021, values, narrative=seed_narrative())
    assert "收到0件依申请公开件" in rep.narrative["narrative.overview"]
    assert rep.narrative["narrative.other_matters"] == "2021年度，本机关无收取信息处理费情况。"
    # what the text importer records for the 2019 header 对外公开总数量 (its business, not ours)
    alias = next(
        a
        for a in form.cell("proactive.rules.in_force").column.aliases
        if a.label == "对外公开总数量"
    )
    rep.label_notes.append(
        LabelNote(
            codes=("proactive.rules.in_force", "proactive.normative_docs.in_force"),
            found="对外公开总数量",
            message=alias.warn or "",
        )
    )
    validation = validate(rep, context=Context(organ_kind="department"))
    assert validation.ok
    assert validation.flat() == [("A1", "warning", "proactive.rules.in_force")]
    assert "对外公开总数量" in validation.issues[0].message
    assert set(validation.skipped) == {"C1", "C2", "C9"}
