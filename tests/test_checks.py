"""The validator: its registry of checks, the docs, selected rules, and a real report (the seed)."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest
from checkkit import BOTH, F2019, F2021, FEE, FIXTURES, GOOD_NARRATIVE, report

from annual_report.errors import FormError
from annual_report.form.model import Form, form_ids, load_form
from annual_report.form.rules import CHECK_PARAMS, RuleDef
from annual_report.report import LabelNote, Report
from annual_report.validation import CHECKS, Context, validate

DOCS = Path(__file__).parent.parent / "docs" / "rules.md"


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
        "registry", "runner", "digest", "__init__",
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


def test_every_checks_parameters_are_documented():
    documented = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            for check in re.findall(r"`(\w+)`", cells[0]):
                documented[check] = set(re.findall(r"`(\w+)`", cells[1]))
    for check, kind in CHECK_PARAMS.items():
        assert documented.get(check) == {f.name for f in dataclasses.fields(kind)}, check


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
    assert validate(rep, rules="C3").flat() == chosen.flat()  # one id, not its letters


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
