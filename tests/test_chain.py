"""Offices that chain, piece by piece: the registry's levels, an office's report written and
read back with its units, the checks on receipt (L1–L5), counting each unit once (H6–H8), the
store keeping an office's units, and the drill-down. The whole path over real mail and flows
is tests/test_levels.py."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from pydantic import ValidationError

from annual_report.campaign.registry import Department, Registry, parse_registry
from annual_report.consolidation import (
    OfficeIdentity,
    Unit,
    consolidate,
    drill_down,
    drill_text,
    office_issues,
    write_consolidation,
)
from annual_report.errors import ConfigError
from annual_report.form.model import load_form
from annual_report.report import Report
from annual_report.samples import consistent_values
from annual_report.store import open_store
from annual_report.validation import Validation
from annual_report.workbook.breakdown import LEAVES_SHEET, Leaf, unit_identity
from annual_report.workbook.reader import read_workbook

FORM = load_form("gov-disclosure-2021")
NEW = "requests.new_received.total"
FEE = "proactive.admin_fees.amount_wan_yuan"


def values(seed: str) -> dict[str, Decimal]:
    return consistent_values(FORM, random.Random(seed), busy=0.6)


def report(vals: dict[str, Decimal]) -> Report:
    r = Report(form=FORM, year=2021)
    for code, value in vals.items():
        r.set_raw(code, format(value, "f"))
    return r


def total(*reports: dict[str, Decimal]) -> dict[str, Decimal]:
    return {c: sum((r[c] for r in reports), Decimal(0)) for c in FORM.cells}


def office_unit(code: str, name: str, leaves: list[Leaf], level: str = "county") -> Unit:
    sums = total(*(leaf.values for leaf in leaves))  # type: ignore[arg-type]
    return Unit(code, name, report(sums), kind=level, leaves=tuple(leaves), level=level)


def leaf(code: str, name: str) -> Leaf:
    return Leaf(code, name, "department", values(name))  # type: ignore[arg-type]


def dept(code: str, name: str, kind: str = "department", **extra) -> Department:
    return Department(code=code, name=name, kind=kind, email=f"{code.lower()}@x.example", **extra)


# -- the registry -------------------------------------------------------------------------------


def test_the_registry_says_which_units_are_offices_and_who_this_office_is():
    registry = parse_registry(
        {
            "city": "宜春市",
            "office": {"code": "yc", "level": "city"},
            "departments": [
                {"code": "SZF", "name": "宜春市人民政府办公室", "kind": "government",
                 "email": "szf@yc.example", "can_make_rules": True},
                {"code": "YZQ", "name": "袁州区人民政府", "kind": "county", "level": "county",
                 "email": "zwgk@yz.example"},
            ],
        }
    )  # fmt: skip
    assert registry.office is not None and (registry.office.code, registry.office.level) == (
        "YC",
        "city",
    )
    assert [d.code for d in registry.offices] == ["YZQ"] and registry["YZQ"].is_office
    assert not registry["SZF"].is_office
    # a province's registry: a 设区的市 makes rules and its report may cover a county
    Registry(
        city="江西省",
        departments=(
            dept("YC", "宜春市人民政府", "city", level="city", can_make_rules=True, covers=("YZ",)),
            dept("YZ", "袁州区人民政府", "county", level="county"),
        ),
    )


def test_a_level_that_is_not_the_units_kind_is_refused():
    with pytest.raises(ValidationError, match="级别应与其类别一致"):
        dept("YZQ", "袁州区人民政府", "department", level="county")
    with pytest.raises(ConfigError, match="office"):
        parse_registry(
            {
                "city": "袁州区",
                "office": {"code": "YZQ", "level": "town"},
                "departments": [{"code": "JYJ", "name": "教育局", "kind": "department",
                                 "email": "jyj@yz.example"}],
            }
        )  # fmt: skip


# -- counting each unit once ----------------------------------------------------------------------


def test_a_unit_inside_an_office_report_and_reporting_directly_counts_once():
    inside = [leaf("JYJ", "袁州区教育局"), leaf("GAJ", "袁州区公安局")]
    county = office_unit("YZQ", "袁州区人民政府", inside)
    direct = Unit("YZJYJ", "袁州区教育局", report(values("袁州区教育局")))
    own = Unit("SJJ", "宜春市审计局", report(values("宜春市审计局")))
    result = consolidate([county, direct, own], None, FORM, year=2021)
    assert result.values == total(*(x.values for x in inside), values("宜春市审计局"))
    assert [i.rule for i in result.issues] == ["H6"]
    assert "袁州区教育局既单独报送，又包含在袁州区人民政府的汇总报告中" in result.issues[0].message
    outcome = next(u for u in result.units if u.code == "YZJYJ")
    assert (outcome.status, outcome.covered_by) == ("covered", "YZQ")
    assert [(x.name, x.path) for x in result.leaves] == [
        ("宜春市审计局", ()),
        ("袁州区教育局", ("YZQ",)),
        ("袁州区公安局", ("YZQ",)),
    ]
    assert sum(v for _x, v in result.drill(NEW)) == result.values[NEW]


def test_a_unit_inside_two_offices_reports_is_counted_once_and_named():
    shared = leaf("XZ", "某镇人民政府")
    a = office_unit("AAA", "甲县人民政府", [leaf("JYJ", "甲县教育局"), shared])
    b = office_unit("BBB", "乙县人民政府", [leaf("JYJ", "乙县教育局"), shared])
    result = consolidate([a, b], None, FORM, year=2021)
    names = ("甲县教育局", "乙县教育局", "某镇人民政府")
    assert result.values == total(*(values(n) for n in names))
    assert [i.rule for i in result.issues] == ["H7"]
    assert (
        "某镇人民政府同时包含在甲县人民政府和乙县人民政府的汇总报告中" in result.issues[0].message
    )
    assert sorted(x.name for x in result.leaves) == sorted(names)


def test_an_office_whose_sums_are_not_its_units_is_flagged():
    county = office_unit("YZQ", "袁州区人民政府", [leaf("JYJ", "袁州区教育局")])
    licensing = "proactive.licensing.decisions"  # no sum rule over it: R1–R4 still hold
    county.report.set_raw(licensing, format(county.report.value(licensing) + 7, "f"))
    result = consolidate([county], None, FORM, year=2021)
    assert [i.rule for i in result.issues] == ["H8"]
    assert "袁州区人民政府的汇总报告有1个栏目与其分单位明细之和不符" in result.issues[0].message


# -- an office's report, written and read back -------------------------------------------------


def county_workbook(path: Path) -> Path:
    units = [
        Unit(code, name, report(values(name)))
        for code, name in (
            ("JYJ", "袁州区教育局"),
            ("GAJ", "袁州区公安局"),
            ("CZJ", "袁州区财政局"),
        )
    ]
    result = consolidate(units, None, FORM, year=2021)
    identity = OfficeIdentity("YZQ", "袁州区人民政府", "county")
    return write_consolidation(result, path, title="袁州区2021年", office=identity)


COUNTY = dept("YZQ", "袁州区人民政府", "county", level="county")


def test_an_office_report_names_itself_and_carries_its_units(tmp_path):
    path = county_workbook(tmp_path / "county.xlsx")
    read = read_workbook(path, year=2021)
    assert read.department == "YZQ"
    office = read.office
    assert (office.code, office.level, office.problems) == ("YZQ", "county", [])
    assert sorted(x.name for x in office.leaves) == ["袁州区公安局", "袁州区教育局", "袁州区财政局"]
    assert (
        next(x for x in office.leaves if x.code == "JYJ").values[FEE] == values("袁州区教育局")[FEE]
    )
    assert office_issues(read, COUNTY) == []
    # written again another day: other bytes, the same content fingerprint
    again = read_workbook(county_workbook(tmp_path / "again.xlsx"), year=2021)
    assert again.office.declared_hash == office.declared_hash
    # a unit that is not an office in the registry: a plain report, said so
    plain = dept("YZQ", "袁州区人民政府", "county")
    assert [i.rule for i in office_issues(read, plain)] == ["L3"]
    # another level than the registry's
    city = dept("YZQ", "袁州区人民政府", "city", level="city")
    assert [(i.rule, i.severity) for i in office_issues(read, city)] == [("L3", "error")]


def test_an_office_report_carries_the_superiors_token_when_the_office_kept_it(tmp_path):
    units = [Unit("JYJ", "靖安县教育局", report(values("靖安县教育局")))]
    result = consolidate(units, None, FORM, year=2021)
    identity = OfficeIdentity("JAX", "靖安县人民政府", "county", "0123456789abcdef", "2021")
    path = write_consolidation(result, tmp_path / "jax.xlsx", title="靖安县", office=identity)
    read = read_workbook(path, year=2021)
    assert (read.department, read.token, read.campaign) == ("JAX", "0123456789abcdef", "2021")


def test_a_breakdown_edited_after_approval_is_an_error(tmp_path):
    path = county_workbook(tmp_path / "county.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book[LEAVES_SHEET]
    row = next(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, 1).value == NEW)
    sheet.cell(row, 6).value = (sheet.cell(row, 6).value or 0) + 5
    book.save(tmp_path / "edited.xlsx")
    read = read_workbook(tmp_path / "edited.xlsx", year=2021)
    issues = office_issues(read, COUNTY)
    assert [(i.rule, i.severity) for i in issues] == [("L1", "error")]
    assert "汇总表有1个栏目与分单位明细之和不符" in issues[0].message


def test_an_office_report_without_its_breakdown_is_a_warning(tmp_path):
    path = county_workbook(tmp_path / "county.xlsx")
    book = openpyxl.load_workbook(path)
    del book[LEAVES_SHEET]
    book.save(tmp_path / "no-units.xlsx")
    read = read_workbook(tmp_path / "no-units.xlsx", year=2021)
    assert [(i.rule, i.severity) for i in office_issues(read, COUNTY)] == [("L4", "error")]
    plain = read_workbook(tmp_path / "county.xlsx", year=2021)
    plain.office = None  # a county that does not run nianbao: its workbook has no units
    assert [(i.rule, i.severity) for i in office_issues(plain, COUNTY)] == [("L4", "warning")]


# -- the store keeps an office's units ----------------------------------------------------------


def test_the_store_keeps_an_office_report_and_finds_it_by_content(tmp_path):
    registry = Registry(city="宜春市", departments=(COUNTY,))
    units = [Leaf("JYJ", "袁州区教育局", "department", values("a"), ("XZ",), ("某镇",))]
    with open_store(tmp_path / "nianbao.db") as store:
        store.create_campaign("2021", 2021, city="宜春市", registry=registry)
        accepted = Validation(report(values("YZQ")))  # no issues: accepted
        sub = store.record_submission(
            "2021", sha256="f" * 64, source="cli", department="YZQ", validation=accepted
        )
        assert sub.status == "accepted"
        store.record_office(
            sub.id, office_code="YZQ", level="county", content_hash="h1", declared_hash="h1",
            leaves=units,
        )  # fmt: skip
        store.record_office(  # idempotent
            sub.id, office_code="YZQ", level="county", content_hash="h1", declared_hash="h1",
            leaves=units,
        )  # fmt: skip
        assert store.office_leaves(sub.id) == units
        assert store.office_record(sub.id)["leaf_count"] == 1
        assert store.office_by_content("2021", "YZQ", "h1").id == sub.id
        assert store.office_by_content("2021", "YZQ", "h2") is None
        # which accepted office reports hold a unit, by its folded name (full-width, spacing)
        assert store.offices_holding("2021", unit_identity("袁州区 教育局")) == ["YZQ"]
        assert store.offices_holding("2021", unit_identity("袁州区公安局")) == []
        assert store.registry("2021")["YZQ"].level == "county"


# -- the drill-down ------------------------------------------------------------------------------


def test_a_figure_drills_down_through_the_levels():
    county = office_unit("YZQ", "袁州区人民政府", [leaf("JYJ", "袁州区教育局")])
    city_leaves = [x.under("YZQ", "袁州区人民政府") for x in county.leaves] + [
        leaf("SJJ", "宜春市审计局")
    ]
    city = office_unit("YC", "宜春市人民政府", city_leaves, level="city")
    registry = Registry(
        city="江西省", departments=(dept("YC", "宜春市人民政府", "city", level="city"),)
    )
    result = consolidate([city], registry, FORM, year=2021)
    found = drill_down(result, NEW, registry)
    assert found.leaf_sum == found.value == result.values[NEW] > 0
    assert found.levels == (("city", 1), ("county", 1))
    text = drill_text(found)
    assert text[2] == "经由：市级汇总报告1份 → 县级汇总报告1份 → 本级"
    assert "经 宜春市人民政府（市级） › 袁州区人民政府（县级）" in [t.strip() for t in text]
    data = found.to_dict()
    assert {tuple(t["level"] for t in u["through"]) for u in data["units"]} <= {
        ("city",),
        ("city", "county"),
    }


def test_a_breakdown_value_that_is_not_a_plain_number_is_refused(tmp_path):
    path = county_workbook(tmp_path / "county.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book[LEAVES_SHEET]
    rows = {sheet.cell(r, 1).value: r for r in range(1, sheet.max_row + 1)}
    sheet.cell(rows[NEW], 6).value = "12件"
    sheet.cell(rows[FEE], 7).value = "NaN"
    book.save(tmp_path / "forged.xlsx")
    read = read_workbook(tmp_path / "forged.xlsx", year=2021)
    issues = office_issues(read, COUNTY)
    assert [(i.rule, i.severity) for i in issues] == [("L4", "error"), ("L4", "error")]
    assert "不是数字（12件）" in issues[0].message and "不是数字（NaN）" in issues[1].message


def test_the_superiors_template_of_another_unit_is_refused(tmp_path):
    from annual_report.workbook.template import TemplateMeta, write_template
    from office.consolidation import superior_template

    meta = TemplateMeta(FORM.id, 2021, "YZQ", "袁州区人民政府", "2021", "0123456789abcdef")
    write_template(tmp_path / "上级模板.xlsx", FORM, meta=meta)
    assert superior_template(tmp_path, "上级模板.xlsx", "YZQ") == ("0123456789abcdef", "2021")
    with pytest.raises(ConfigError) as refused:
        superior_template(tmp_path, "上级模板.xlsx", "JAX")
    assert refused.value.problems == [
        "departments.yaml office.template："
        "上级模板.xlsx 是上级发给YZQ的模板，不是发给本办公室（JAX）的"
    ]
    with pytest.raises(ConfigError, match="cannot be read"):
        superior_template(tmp_path, "没有.xlsx", "JAX")
