from decimal import Decimal

import pytest

from annual_report.errors import FormError
from annual_report.form.model import form_for_year, load_form, parse_form


@pytest.mark.parametrize(
    ("year", "form_id", "cells"),
    [
        (2019, "gov-disclosure-2019", 198),
        (2020, "gov-disclosure-2019", 198),
        (2021, "gov-disclosure-2021", 200),
        (2025, "gov-disclosure-2021", 200),
    ],
)
def test_form_is_chosen_by_year(year, form_id, cells):
    form = form_for_year(year)
    assert form.id == form_id
    assert len(form.cells) == cells


def test_no_form_before_2019():
    with pytest.raises(FormError):
        form_for_year(2018)


def test_canonical_codes_of_format_section_7():
    form = load_form("gov-disclosure-2021")
    for code in (
        "proactive.rules.issued",
        "proactive.normative_docs.in_force",
        "proactive.licensing.decisions",
        "proactive.coercive_measures.decisions",
        "proactive.admin_fees.amount_wan_yuan",
        "requests.withheld.state_secret.commercial",
        "requests.other.fee_unpaid.total",
        "requests.carried_to_next_year.other_org",
        "review.total",
        "litigation_after_review.pending",
    ):
        assert code in form.cells
    assert form.cell("proactive.admin_fees.amount_wan_yuan").type == "money"
    assert form.cell("proactive.admin_fees.amount_wan_yuan").unit == "万元"
    assert len([c for c in form.cells if c.startswith("requests.")]) == 175
    assert form.narrative_codes == (
        "narrative.overview",
        "narrative.problems",
        "narrative.other_matters",
    )


def test_2019_form_differs_where_the_format_does():
    form = load_form("gov-disclosure-2019")
    assert "requests.other.total" in form.cells
    assert "requests.other.fee_unpaid.total" not in form.cells
    assert form.cell("proactive.licensing.items_change").type == "signed"
    assert form.cell("proactive.procurement.amount").type == "money"
    assert len([c for c in form.cells if c.startswith("requests.")]) == 161


def test_labels_are_exact_and_full_width():
    form = load_form("gov-disclosure-2021")
    block = form.section(3).blocks[0]
    assert block.corner == "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
    labels = [label for b in form.blocks for h in (*b.rows, *b.columns) for label in h.path]
    assert all("(" not in label and ":" not in label for label in labels)


def test_rules_expand_over_codes():
    form = load_form("gov-disclosure-2021")
    r3 = form.rule("R3")
    binding = form.bindings(r3)[0]
    assert binding == {"col": "natural_person"}
    right = form.expand_all(r3.params.right, binding)
    assert len(right) == 21
    assert right[0] == "requests.granted.natural_person"
    assert len(form.bindings(form.rule("R2"))) == 25


def test_a_rule_naming_an_unknown_cell_is_rejected():
    bad = {
        "id": "x",
        "name": "x",
        "notice": "x",
        "first_year": 2030,
        "sections": [
            {
                "number": 2,
                "heading": "二",
                "blocks": [{"columns": [{"code": "a", "path": ["A"]}], "rows": [{"code": "r"}]}],
            }
        ],
        "rules": [
            {
                "id": "R9",
                "check": "sum_equal",
                "severity": "error",
                "title": "t",
                "left": ["r.a"],
                "right": ["r.b"],
            }
        ],
    }
    with pytest.raises(FormError, match=r"unknown cell r\.b"):
        parse_form(bad)


def test_set_raw_parses_by_cell_type():
    from annual_report.report import Report

    report = Report(form=load_form("gov-disclosure-2021"))
    assert report.set_raw("proactive.admin_fees.amount_wan_yuan", "11.28").value == Decimal("11.28")
    entry = report.set_raw("requests.new_received.total", "12件")
    assert entry.value == 12 and entry.notes == ("unit-suffix",)
    assert report.to_dict()["values"]["proactive.admin_fees.amount_wan_yuan"] == "11.28"


def test_docs_codes_md_is_in_sync_with_the_forms():
    from pathlib import Path

    from annual_report.form.docs import codes_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "codes.md"
    assert doc.read_text(encoding="utf-8") == codes_markdown(), (
        "regenerate: python -m annual_report.form.docs > docs/codes.md"
    )


# -- typed rule parameters: a typo in the YAML fails when the form loads ---------------------


def packaged_yaml(form_id: str = "gov-disclosure-2021") -> dict:
    """The packaged YAML of ``form_id`` as data, to break one rule and parse it again."""
    from importlib import resources

    import yaml

    folder = resources.files("annual_report.form").joinpath("definitions")
    return yaml.safe_load(folder.joinpath(f"{form_id}.yaml").read_text(encoding="utf-8"))


def with_rule(data: dict, rule_id: str, **changes: object) -> dict:
    for rule in data["rules"]:
        if rule["id"] == rule_id:
            for key, value in changes.items():
                if value is None:
                    del rule[key]
                else:
                    rule[key] = value
    return data


def test_rule_parameters_are_typed():
    from annual_report.form.rules import FeeMagnitude, HistoryJump, Sides

    form = load_form("gov-disclosure-2021")
    c9 = form.rule("C9").params_as(HistoryJump)
    assert (c9.factor, c9.min_change) == (Decimal(5), Decimal(30))
    assert c9.codes[0] == "requests.new_received.total"
    c7 = form.rule("C7").params_as(FeeMagnitude)  # defaults where the YAML says nothing
    assert (c7.jump, c7.min_peers, c7.department_ceiling) == (10000, 5, 100000)
    assert form.rule("R1").params_as(Sides).for_each == {"col": "request_columns"}
    with pytest.raises(FormError, match="no Sides parameters"):
        form.rule("C9").params_as(Sides)
    assert form.codes_of("fee_magnitude") == ("proactive.admin_fees.amount_wan_yuan",)


def test_an_unknown_rule_parameter_is_a_form_error_naming_form_rule_and_key():
    data = with_rule(packaged_yaml(), "C9", factr=3)  # a typo of factor
    with pytest.raises(FormError) as raised:
        parse_form(data)
    message = str(raised.value)
    assert "gov-disclosure-2021" in message
    assert "rule C9 (history_jump)" in message
    assert "'factr' is not a parameter of history_jump" in message
    assert "factor" in message  # the parameters it has


def test_a_rule_parameter_of_the_wrong_type_is_a_form_error():
    cases = {
        "factor": ("five", "'factor': must be a number"),
        "min_change": ("30", "'min_change': must be a number"),  # quoted: a typo to show
        "codes": ({"a": 1}, "'codes'"),
    }
    for key, (value, expected) in cases.items():
        data = with_rule(packaged_yaml(), "C9", **{key: value})
        with pytest.raises(FormError, match="rule C9 \\(history_jump\\)") as raised:
            parse_form(data)
        assert expected in str(raised.value), key
    data = with_rule(packaged_yaml(), "C8", min_chars=True)
    with pytest.raises(FormError, match="rule C8 \\(narrative_present\\): 'min_chars'"):
        parse_form(data)
    data = with_rule(packaged_yaml("gov-disclosure-2019"), "T1", max_chars=-1)
    with pytest.raises(FormError, match="gov-disclosure-2019: rule T1 \\(text_length\\)"):
        parse_form(data)


def test_a_missing_parameter_or_an_unknown_check_is_a_form_error_at_load():
    data = with_rule(packaged_yaml(), "R1", right=None)
    with pytest.raises(FormError, match="rule R1 \\(sum_equal\\): 'right' is missing"):
        parse_form(data)
    data = with_rule(packaged_yaml(), "C3", check="rule_making")
    with pytest.raises(FormError, match="rule C3 \\(rule_making\\): unknown check 'rule_making'"):
        parse_form(data)
    data = with_rule(packaged_yaml(), "N1", severity="fatal")
    with pytest.raises(FormError, match="rule N1 \\(blank_as_zero\\): 'severity' is 'fatal'"):
        parse_form(data)


def test_every_broken_rule_is_listed_at_once():
    data = with_rule(packaged_yaml(), "C9", factr=3)
    data = with_rule(data, "R2", lefft=["requests.{row}.total"])
    with pytest.raises(FormError) as raised:
        parse_form(data)
    assert "rule R2 (sum_equal): 'lefft'" in str(raised.value)
    assert "rule C9 (history_jump): 'factr'" in str(raised.value)


def test_a_check_without_parameters_refuses_any():
    data = with_rule(packaged_yaml(), "C5", codes=["review.total"])
    with pytest.raises(FormError, match="'codes' is not a parameter of narrative_numbers"):
        parse_form(data)
