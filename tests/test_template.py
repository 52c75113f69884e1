"""The department template: layout, defined names, protection, checks (through LibreOffice)."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import tempfile
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from annual_report.errors import FormError
from annual_report.form.layout import META_KEYS, excel_name_problem, layout
from annual_report.form.model import Form, load_form, parse_form
from annual_report.workbook.template import (
    TemplateMeta,
    build_workbook,
    check_formula,
    default_title,
    write_template,
)

FORM_IDS = ("gov-disclosure-2021", "gov-disclosure-2019")
S3 = "三、收到和处理政府信息公开申请情况"


@pytest.fixture(params=FORM_IDS)
def form(request) -> Form:
    return load_form(request.param)


def _meta(form: Form, **changes) -> TemplateMeta:
    fields = dict(
        form_id=form.id,
        report_year=form.first_year,
        department_code="ZS-RSJ",
        department_name="樟树市人社局",
        campaign_id=f"{form.first_year}",
        token="k3J9-token",
        deadline=date(form.first_year + 1, 1, 26),
        reply_to="gkb@example.gov.cn",
    )
    fields.update(changes)
    return TemplateMeta(**fields)


def _value_at(wb: openpyxl.Workbook, name: str):
    dn = wb.defined_names[name]
    ((sheet, coord),) = list(dn.destinations)
    return wb[sheet][coord.replace("$", "")]


def _number(value) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


# -- layout ----------------------------------------------------------------------------------


def test_layout_public_api():
    lay = layout(load_form("gov-disclosure-2021"))
    assert lay.ref("requests.new_received.natural_person") == f"'{S3}'!D7"
    pos = lay.position("requests.carried_to_next_year.total")
    assert (pos.sheet, pos.row, pos.column) == (S3, 31, 10)
    assert lay.code_at(S3, 31, 10) == "requests.carried_to_next_year.total"
    assert lay.code_at(S3, 1, 1) is None
    # a one-column block's value is merged across the remaining width, as in the national form
    assert lay.area("proactive.licensing.decisions").coordinate == "B10:D10"
    assert lay.area("narrative.overview").ref == "'一、总体情况'!A4:J33"
    assert lay.sheet_names[0] == "填报说明"
    assert lay.sheet_names[-1] == "_meta"
    assert set(lay.meta) == set(META_KEYS)
    assert layout(load_form("gov-disclosure-2021")) is lay  # cached


def test_layout_places_checks_from_the_rules(form):
    lay = layout(form)
    by_rule: dict[str, list] = {}
    for check in lay.checks:
        by_rule.setdefault(check.rule, []).append(check)
    assert {r: len(c) for r, c in by_rule.items()} == {
        "R1": 7,
        "R2": len(form.sets["request_rows"]),
        "R3": 7,
        "R4": 3,
    }
    # R2: a column at the right, level with each row; R1/R3: a row under each column
    for check in by_rule["R2"]:
        assert check.area.min_row == lay.position(check.left[0]).row
        assert check.area.min_col == 11
    for check in by_rule["R1"] + by_rule["R3"]:
        assert check.area.min_col == lay.position(check.left[0]).column
        assert check.area.min_row > lay.position("requests.carried_to_next_year.total").row
    # R4: one merged cell under each group's five columns
    assert [c.area.coordinate for c in by_rule["R4"]] == ["A9:E9", "F9:J9", "K9:O9"]


def test_codes_are_legal_excel_names():
    codes = [
        c for fid in FORM_IDS for c in (*load_form(fid).cells, *load_form(fid).narrative_codes)
    ]
    codes += [f"meta.{k}" for k in META_KEYS]
    assert [c for c in codes if excel_name_problem(c)] == []
    for bad in ("A1", "xfd1048576", "R1C1", "r", "C", "RC2", "tbl.c1", "TRUE", "1abc", "a b", ""):
        assert excel_name_problem(bad), bad


def test_a_code_that_is_not_a_legal_name_is_refused():
    form = parse_form(
        {
            "id": "bad-form",
            "name": "bad",
            "notice": "none",
            "first_year": 2000,
            "sections": [
                {
                    "number": 2,
                    "heading": "二、测试",
                    "sheet": "二、测试",
                    "blocks": [
                        {
                            "columns": [{"code": "c1", "path": ["甲"]}],
                            "rows": [{"code": "tbl", "path": ["乙"]}],
                        }
                    ],
                }
            ],
        }
    )
    with pytest.raises(FormError, match="cell reference"):
        layout(form)


def test_layout_areas_never_overlap(form):
    lay = layout(form)
    areas = [lb.area for lb in lay.labels] + list(lay.inputs.values())
    areas += [c.area for c in lay.checks]
    for sheet in lay.sheets:
        taken: dict[tuple[int, int], object] = {}
        for area in (a for a in areas if a.sheet == sheet.name):
            for cell in area.cells():
                assert cell not in taken, (sheet.name, area.coordinate, taken[cell])
                taken[cell] = area.coordinate
                assert cell[0] <= sheet.height and cell[1] <= sheet.width


def _synthetic_form() -> Form:
    """Two blocks on one sheet and a rule across them: no national-form shape fits it."""
    return parse_form(
        {
            "id": "synthetic",
            "name": "合成",
            "notice": "无",
            "first_year": 2000,
            "sections": [
                {
                    "number": 2,
                    "heading": "二、合成",
                    "sheet": "二、合成",
                    "blocks": [
                        {
                            "caption": "甲",
                            "corner": "项目",
                            "columns": [{"code": "n", "path": ["数量"]}],
                            "rows": [{"code": "whole", "path": ["合计"]}],
                        },
                        {
                            "caption": "乙",
                            "corner": "项目",
                            "columns": [
                                {"code": "n", "path": ["数量"]},
                                {"code": "m", "path": ["金额"], "type": "money"},
                            ],
                            "rows": [
                                {"code": "part_a", "path": ["部分一"]},
                                {"code": "part_b", "path": ["部分二"]},
                            ],
                        },
                    ],
                },
                {"number": 6, "heading": "六、其他", "narrative": "narrative.other_matters"},
            ],
            "rules": [
                {
                    "id": "S1",
                    "check": "sum_equal",
                    "severity": "error",
                    "title": "合计等于各部分之和",
                    "left": ["whole.n"],
                    "right": ["part_a.n", "part_b.n"],
                }
            ],
        }
    )


def test_a_rule_across_blocks_gets_a_labelled_check_row(tmp_path):
    form = _synthetic_form()
    lay = layout(form)
    (check,) = lay.checks
    sheet = lay.sheet("二、合成")
    assert check.area.min_row == sheet.height and check.area.max_col == sheet.width
    label = next(lb for lb in sheet.labels if lb.role == "check")
    assert label.text.startswith("校验：合计等于各部分之和")
    assert check_formula(lay, check) == (
        '=IF(COUNT(B6,B9:B10)=0,"",IF(ROUND(SUM(B6)-SUM(B9:B10),4)=0,'
        'IF(COUNT(B6,B9:B10)<3,"✓ 有空白","✓"),"✗ 不相等："&SUM(B6)&"≠"&SUM(B9:B10)))'
    )
    wb = openpyxl.load_workbook(
        write_template(tmp_path / "s.xlsx", form, values={"part_a.m": Decimal("1.5")})
    )
    assert _value_at(wb, "part_a.m").value == 1.5
    assert wb["二、合成"][check.area.top_left.coordinate].value.startswith("=IF(")


def test_validation_texts_fit_excel_limits(form, tmp_path):
    wb = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", form))
    for ws in wb.worksheets:
        for dv in ws.data_validations.dataValidation:
            assert len(dv.prompt or "") <= 255 and len(dv.error or "") <= 255
            assert len(dv.promptTitle or "") <= 32 and len(dv.errorTitle or "") <= 32


# -- the workbook ----------------------------------------------------------------------------


def test_both_forms_produce_a_workbook(form, tmp_path):
    path = write_template(tmp_path / "t.xlsx", form, meta=_meta(form))
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(layout(form).sheet_names)
    assert wb.sheetnames[:2] == ["填报说明", "一、总体情况"]
    assert wb.sheetnames[-3:] == ["五、存在的主要问题及改进情况", "六、其他需要报告的事项", "_meta"]
    assert wb.active.title == "填报说明"
    assert wb.security.lockStructure
    # the title names the department and year
    assert wb[S3]["A1"].value == f"樟树市人社局{form.first_year}年政府信息公开工作年度报告"
    assert wb[S3]["A2"].value == "三、收到和处理政府信息公开申请情况"
    instructions = "\n".join(str(c.value) for c in wb["填报说明"]["B"] if c.value)
    assert "不要留空" in instructions and "0" in instructions
    assert "不要重命名" in instructions and "插入" in instructions
    assert (
        "gkb@example.gov.cn" in instructions and f"{form.first_year + 1}年1月26日" in instructions
    )
    assert "✓" in instructions and "✗" in instructions
    assert "本机关无收取信息处理费情况" in wb["六、其他需要报告的事项"]["A3"].value


def test_overview_prompts_list_the_2021_parts(tmp_path):
    form = load_form("gov-disclosure-2021")
    wb = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", form))
    prompt = wb["一、总体情况"]["A3"].value
    for part in ("主动公开", "依申请公开", "政府信息管理", "政府信息公开平台建设", "监督保障"):
        assert f"）{part}" in prompt


def test_every_code_has_one_defined_name_on_an_unlocked_validated_cell(form, tmp_path):
    wb = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", form, meta=_meta(form)))
    codes = [*form.cells, *form.narrative_codes]
    meta_names = [f"meta.{k}" for k in META_KEYS]
    assert sorted(wb.defined_names) == sorted(codes + meta_names)
    for ws in wb.worksheets:  # no sheet-scoped duplicates
        assert not set(ws.defined_names) & set(codes)
    targets = set()
    lay = layout(form)
    for code in codes:
        dests = list(wb.defined_names[code].destinations)
        assert len(dests) == 1, code
        sheet, coord = dests[0]
        assert ":" not in coord
        targets.add((sheet, coord))
        cell = wb[sheet][coord.replace("$", "")]
        assert cell.coordinate == lay.position(code).coordinate
        assert cell.protection.locked is False, code
        dv = [d for d in wb[sheet].data_validations.dataValidation if cell.coordinate in d.sqref]
        assert len(dv) == 1, code
        kind = "narrative" if code.startswith("narrative.") else form.cell(code).type
        expected = {
            "count": ("whole", "greaterThanOrEqual", "0"),
            "signed": ("whole", "between", "-1000000000"),
            "money": ("decimal", "greaterThanOrEqual", "0"),
            "narrative": ("textLength", "lessThanOrEqual", "32767"),
        }[kind]
        assert (dv[0].type, dv[0].operator, dv[0].formula1) == expected, code
        assert dv[0].showErrorMessage and dv[0].error and re.search(r"[\u4e00-\u9fff]", dv[0].error)
        assert dv[0].prompt
    assert len(targets) == len(codes)


def test_everything_but_inputs_is_locked_and_sheets_are_protected(form, tmp_path):
    wb = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", form))
    lay = layout(form)
    inputs = {(a.sheet, r, c) for a in lay.inputs.values() for r, c in a.cells()}
    for sheet in lay.sheets:
        ws = wb[sheet.name]
        assert ws.protection.sheet
        assert not ws.protection.formatColumns and not ws.protection.formatRows  # may widen
        assert ws.protection.insertRows  # inserting rows stays forbidden
        assert ws.protection.password is None
        for row in ws.iter_rows(min_row=1, max_row=sheet.height + 2, max_col=sheet.width + 2):
            for cell in row:
                expected = (sheet.name, cell.row, cell.column) not in inputs
                assert cell.protection.locked is expected, (sheet.name, cell.coordinate)


def _merged(ws, text: str) -> str:
    """The merged range (or single cell) whose top-left holds ``text``."""
    hits = [c for row in ws.iter_rows() for c in row if c.value == text]
    assert len(hits) == 1, (text, len(hits))
    for rng in ws.merged_cells.ranges:
        if rng.min_row == hits[0].row and rng.min_col == hits[0].column:
            return rng.coord
    return hits[0].coordinate


def test_labels_and_merges_are_those_of_the_national_form(form, tmp_path):
    wb = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", form))
    ws = wb[S3]
    corner = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
    assert _merged(ws, corner) == "A4:C6"
    assert _merged(ws, "申请人情况") == "D4:J4"
    assert _merged(ws, "自然人") == "D5:D6"
    assert _merged(ws, "法人或其他组织") == "E5:I5"
    assert _merged(ws, "总计") == "J5:J6"
    assert _merged(ws, "一、本年新收政府信息公开申请数量") == "A7:C7"
    outcomes = len(form.sets["outcome_rows"]) + 1  # the outcome rows and （七）总计
    assert _merged(ws, "三、本年度办理结果") == f"A9:A{9 + outcomes - 1}"
    assert _merged(ws, "（一）予以公开") == "B9:C9"
    assert _merged(ws, "（三）不予公开") == "B11:B18"
    assert _merged(ws, "1.属于国家秘密") == "C11"
    # every label of every table is in its sheet, verbatim
    for section in (s for s in form.sections if s.blocks):
        texts = {c.value for row in wb[section.sheet].iter_rows() for c in row}
        for block in section.blocks:
            for header in (*block.columns, *block.rows):
                assert set(header.path) <= texts
            assert block.caption in texts or block.caption is None
    s4 = wb["四、政府信息公开行政复议、行政诉讼情况"]
    assert _merged(s4, "行政复议") == "A4:E4"
    assert _merged(s4, "行政诉讼") == "F4:O4"
    assert _merged(s4, "未经复议直接起诉") == "F5:J5"
    s2 = wb["二、主动公开政府信息情况"]
    assert _merged(s2, "第二十条第（一）项") == "A4:D4"


def test_look_and_print_setup(form, tmp_path):
    wb = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", form))
    lay = layout(form)
    for sheet in lay.sheets:
        if sheet.kind not in ("table", "narrative"):
            continue
        ws = wb[sheet.name]
        assert int(ws.page_setup.paperSize) == 9  # A4
        assert ws.page_setup.orientation == "landscape"
        assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.print_area == f"'{sheet.name}'!$A$1:${_col(sheet.width)}${sheet.height}"
        assert ws["A1"].font.name == "宋体" and ws["A1"].font.b
    ws = wb[S3]
    assert ws.print_title_rows == "$4:$6"
    label = ws["A7"]
    assert label.font.name == "宋体" and label.font.sz == 11 and label.alignment.wrap_text
    assert label.border.left.style == "thin" and ws["D7"].border.bottom.style == "thin"
    assert ws["D4"].fill.fgColor.rgb.endswith("DDEBF7")
    assert ws.column_dimensions["C"].width >= 30  # the long （六） items fit in three lines


def _col(n: int) -> str:
    return openpyxl.utils.get_column_letter(n)


def test_meta_sheet_is_very_hidden_protected_and_named(form, tmp_path):
    meta = _meta(form)
    wb = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", form, meta=meta))
    ws = wb["_meta"]
    assert ws.sheet_state == "veryHidden"
    assert ws.protection.sheet
    rows = {r[0].value: r[1].value for r in ws.iter_rows(min_row=2) if r[0].value}
    assert rows["form_id"] == form.id
    assert rows["report_year"] == form.first_year
    assert rows["department_code"] == "ZS-RSJ"
    assert rows["department_name"] == "樟树市人社局"
    assert rows["campaign_id"] == str(form.first_year)
    assert rows["token"] == "k3J9-token"
    assert rows["generator"] == "nianbao"
    assert re.match(r"\d{4}-\d\d-\d\dT", rows["generated_at"])
    for key in META_KEYS:
        assert _value_at(wb, f"meta.{key}").value == rows[key]


def test_without_meta_the_merger_gets_a_plain_workbook(tmp_path):
    form = load_form("gov-disclosure-2021")
    wb = build_workbook(form, values={"requests.new_received.total": 3}, title="某市2021年汇总")
    assert not (wb.security and wb.security.lockStructure)
    assert wb[S3]["A1"].value == "某市2021年汇总"
    wb.create_sheet("分单位明细")  # the merger appends sheets
    wb.save(tmp_path / "city.xlsx")
    back = openpyxl.load_workbook(tmp_path / "city.xlsx")
    assert _value_at(back, "requests.new_received.total").value == 3
    assert _value_at(back, "meta.form_id").value == form.id
    assert _value_at(back, "meta.token").value is None
    assert default_title(None) == "政府信息公开工作年度报告"


def test_bad_arguments_are_refused():
    form = load_form("gov-disclosure-2021")
    with pytest.raises(FormError):
        build_workbook(form, values={"requests.other.total": 1})  # a 2019 code
    with pytest.raises(FormError):
        build_workbook(form, narrative={"narrative.nothing": "x"})
    with pytest.raises(FormError):
        build_workbook(form, meta=_meta(load_form("gov-disclosure-2019")))


def test_department_text_never_becomes_a_formula(tmp_path):
    form = load_form("gov-disclosure-2021")
    text = '=HYPERLINK("http://evil","点我")本机关无收取信息处理费情况'
    meta = _meta(form, department_name="=1+1局")
    path = write_template(
        tmp_path / "t.xlsx",
        form,
        meta=meta,
        narrative={"narrative.other_matters": text, "narrative.problems": "+1\r\n第二行\x0b"},
    )
    wb = openpyxl.load_workbook(path)
    cell = _value_at(wb, "narrative.other_matters")
    assert cell.value == text and cell.data_type == "s"
    assert _value_at(wb, "narrative.problems").value == "+1\n第二行"
    assert _value_at(wb, "meta.department_name").value == "=1+1局"
    assert wb[S3]["A1"].value == "=1+1局2021年政府信息公开工作年度报告"
    with zipfile.ZipFile(path) as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "HYPERLINK" in xml and "<f>HYPERLINK" not in xml and "<f>1+1" not in xml


def _sheet_xml(path: Path, sheet: str) -> str:
    """The XML of worksheet ``sheet`` (resolved through workbook.xml and its relationships)."""
    ns = {
        "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
        "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    }
    with zipfile.ZipFile(path) as z:
        book = ElementTree.fromstring(z.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        rid = next(
            s.get(f"{{{ns['r']}}}id")
            for s in book.iterfind("m:sheets/m:sheet", ns)
            if s.get("name") == sheet
        )
        target = next(r.get("Target") for r in rels if r.get("Id") == rid)
        return z.read("xl/" + target.removeprefix("/xl/")).decode()


def _cell_xml_value(path: Path, ref: tuple[str, str]) -> str:
    sheet, coord = ref
    match = re.search(
        rf'<c r="{coord}"[^>]*>(?:<f>.*?</f>)?<v>([^<]*)</v>', _sheet_xml(path, sheet)
    )
    assert match, coord
    return match.group(1)


def test_prefilled_values_are_exact_in_the_sheet_xml(tmp_path):
    form = load_form("gov-disclosure-2021")
    lay = layout(form)
    values = {
        "proactive.admin_fees.amount_wan_yuan": Decimal("72701.2578"),
        "requests.carried_from_last_year.natural_person": Decimal("3"),
        "requests.carried_from_last_year.total": 2676474,
        "proactive.licensing.decisions": 1573179,
    }
    path = write_template(tmp_path / "t.xlsx", form, meta=_meta(form), values=values)
    for code, text in [
        ("proactive.admin_fees.amount_wan_yuan", "72701.2578"),
        ("requests.carried_from_last_year.natural_person", "3"),
        ("requests.carried_from_last_year.total", "2676474"),
        ("proactive.licensing.decisions", "1573179"),
    ]:
        pos = lay.position(code)
        assert _cell_xml_value(path, (pos.sheet, pos.coordinate)) == text
    wb = openpyxl.load_workbook(path)
    for code, value in values.items():
        assert _number(_value_at(wb, code).value) == Decimal(value)
    assert _value_at(wb, "requests.new_received.total").value is None  # not pre-filled: blank
    instructions = "\n".join(str(c.value) for c in wb["填报说明"]["B"] if c.value)
    assert "“二、上年结转政府信息公开申请数量”" in instructions


@pytest.mark.parametrize("value", ["9.2", "0.1", "99999999.9999", "1E+2", "0.0000", "12.3400"])
def test_money_text_has_no_float_error(tmp_path, value):
    form = load_form("gov-disclosure-2021")
    code = "proactive.admin_fees.amount_wan_yuan"
    path = write_template(tmp_path / "t.xlsx", form, values={code: Decimal(value)})
    pos = layout(form).position(code)
    text = _cell_xml_value(path, (pos.sheet, pos.coordinate))
    assert Decimal(text) == Decimal(value) and "E" not in text
    assert text == format(Decimal(value), "f")


def test_check_formulas_are_derived_from_the_rules():
    form = load_form("gov-disclosure-2021")
    lay = layout(form)
    r2 = next(c for c in lay.checks if c.rule == "R2")
    assert check_formula(lay, r2) == (
        '=IF(COUNT(D7:J7)=0,"",IF(ROUND(SUM(J7)-SUM(D7:I7),4)=0,'
        'IF(COUNT(D7:J7)<7,"✓ 有空白","✓"),"✗ 不相等："&SUM(J7)&"≠"&SUM(D7:I7)))'
    )
    r3 = next(c for c in lay.checks if c.rule == "R3")
    assert "SUM(D9:D29)" in check_formula(lay, r3)


# -- round trip ------------------------------------------------------------------------------


def _fill(form: Form, rnd: random.Random, *, blanks: bool = True) -> dict:
    """Random values for every cell (drawn through Hypothesis, which biases them to edges)."""

    def one(cell_type: str):
        if cell_type == "money":
            return Decimal(rnd.randint(0, 10**12)).scaleb(-4)
        if cell_type == "signed":
            return rnd.randint(-(10**6), 10**6)
        return rnd.randint(0, 10**7)

    return {
        code: None if blanks and rnd.random() < 0.3 else one(cell.type)
        for code, cell in form.cells.items()
    }


def _differences(expected: dict, actual: dict) -> dict:
    return {c: (v, actual.get(c)) for c, v in expected.items() if actual.get(c) != v}


def _roundtrip(form: Form, values: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_template(Path(tmp) / "t.xlsx", form, values=values)
        wb = openpyxl.load_workbook(path)
        back = {code: _number(_value_at(wb, code).value) for code in form.cells}
    expected = {c: (None if v is None else Decimal(v)) for c, v in values.items()}
    assert not _differences(expected, back)


# Values come from a Hypothesis-driven Random rather than a drawn dict so that a failure
# prints one line, not a hundred, and its exception stays in view in CI's output. No shrinking:
# each example writes a workbook, and shrinking a hundred cells takes minutes; the failing
# cells are named by the assertion anyway.
_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@_SETTINGS
@given(rnd=st.randoms())
@pytest.mark.parametrize("form_id", FORM_IDS)
def test_values_round_trip_through_the_defined_names(form_id, rnd):
    form = load_form(form_id)
    _roundtrip(form, _fill(form, rnd))


@_SETTINGS
@given(rnd=st.randoms())
@pytest.mark.parametrize("form_id", FORM_IDS)
def test_values_round_trip_through_the_reader(form_id, rnd):
    """Every cell filled (the reader counts a blank as 0 with a note, by design)."""
    from annual_report.workbook.reader import read_workbook

    form = load_form(form_id)
    values = _fill(form, rnd, blanks=False)
    meta = _meta(form)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_template(Path(tmp) / "t.xlsx", form, meta=meta, values=values)
        report = read_workbook(path)
    assert report.method == "defined-names"
    assert (report.form.id, report.year, report.department, report.token) == (
        form.id,
        meta.report_year,
        meta.department_code,
        meta.token,
    )
    assert not _differences({c: Decimal(v) for c, v in values.items()}, report.values())


# -- LibreOffice -----------------------------------------------------------------------------


def consistent_values(form: Form, seed: int = 7) -> dict[str, int]:
    """A fill that satisfies every sum_equal rule (R1–R4) of the form."""
    rnd = random.Random(seed)
    values: dict[str, int] = {c: 0 for c in form.cells}
    applicants = form.sets["applicant_columns"]
    outcomes = form.sets["outcome_rows"]
    for col in applicants:
        for row in outcomes:
            values[f"requests.{row}.{col}"] = rnd.randint(0, 5)
        handled = sum(values[f"requests.{row}.{col}"] for row in outcomes)
        values[f"requests.handled_total.{col}"] = handled
        values[f"requests.carried_to_next_year.{col}"] = rnd.randint(0, 4)
        carried_from = rnd.randint(0, handled)
        values[f"requests.carried_from_last_year.{col}"] = carried_from
        values[f"requests.new_received.{col}"] = (
            handled + values[f"requests.carried_to_next_year.{col}"] - carried_from
        )
    for row in form.sets["request_rows"]:
        values[f"requests.{row}.total"] = sum(values[f"requests.{row}.{c}"] for c in applicants)
    for group in form.sets["review_groups"]:
        parts = [rnd.randint(0, 3) for _ in range(4)]
        for suffix, n in zip(("upheld", "corrected", "other", "pending"), parts, strict=True):
            values[f"{group}.{suffix}"] = n
        values[f"{group}.total"] = sum(parts)
    for code in form.cells:
        if code.startswith("proactive."):
            values[code] = rnd.randint(0, 50)
    return values


def _soffice_convert(files: list[Path], outdir: Path, home: Path) -> None:
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-"))
    try:
        env = dict(os.environ, HOME=str(home))
        subprocess.run(
            [
                "soffice",
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                "xlsx",
                "--outdir",
                str(outdir),
                *map(str, files),
            ],
            check=True,
            env=env,
            capture_output=True,
            timeout=180,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _fill_by_names(path: Path, values: dict) -> None:
    """Fill a template the way a clerk does: type into the named cells, nothing else."""
    wb = openpyxl.load_workbook(path)
    for code, value in values.items():
        _value_at(wb, code).value = value
    wb.save(path)


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed")
@pytest.mark.parametrize("form_id", FORM_IDS)
def test_check_cells_evaluate_in_libreoffice(form_id, tmp_path):
    form = load_form(form_id)
    lay = layout(form)
    good = consistent_values(form)
    bad = dict(good)
    bad["requests.granted.commercial"] += 1  # breaks R2 (row granted) and R3 (column commercial)
    bad["review.total"] += 1  # breaks R4 (group review)
    holey = {c: 0 for c in form.cells}
    holey["requests.withheld.state_secret.research"] = None  # one blank among zeros
    files = {
        "good": write_template(tmp_path / "good.xlsx", form, meta=_meta(form), values=good),
        "bad": write_template(tmp_path / "bad.xlsx", form, meta=_meta(form), values=bad),
        "holey": write_template(tmp_path / "holey.xlsx", form, values=holey),
        "typed": write_template(tmp_path / "typed.xlsx", form, meta=_meta(form)),
    }
    _fill_by_names(files["typed"], {"requests.new_received.natural_person": 3})
    out = tmp_path / "out"
    home = tmp_path / "home"
    home.mkdir()
    _soffice_convert(list(files.values()), out, home)

    def results(name: str) -> dict[tuple[str, tuple], str | None]:
        wb = openpyxl.load_workbook(out / f"{name}.xlsx", data_only=True)
        return {
            (c.rule, c.binding): wb[c.area.sheet][c.area.top_left.coordinate].value
            for c in lay.checks
        }

    assert set(results("good").values()) == {"✓"}

    bad_results = results("bad")
    failing = {key: text for key, text in bad_results.items() if text != "✓"}
    handled = good["requests.handled_total.commercial"]
    assert failing == {
        ("R2", (("row", "granted"),)): (
            f"✗ 不相等：{good['requests.granted.total']}≠{good['requests.granted.total'] + 1}"
        ),
        ("R3", (("col", "commercial"),)): f"✗ 不相等：{handled}≠{handled + 1}",
        ("R4", (("group", "review"),)): (
            f"✗ 不相等：{good['review.total'] + 1}≠{good['review.total']}"
        ),
    }

    holey_results = results("holey")
    with_blank = {
        key
        for key, c in zip(holey_results, lay.checks, strict=True)
        if "requests.withheld.state_secret.research" in c.codes
    }
    assert {k for k, v in holey_results.items() if v == "✓ 有空白"} == with_blank
    assert len(with_blank) == 2  # R2 of its row, R3 of its column
    assert {v for k, v in holey_results.items() if k not in with_blank} == {"✓"}

    typed = {k: v for k, v in results("typed").items() if v}  # nothing typed: blank
    assert typed == {
        ("R1", (("col", "natural_person"),)): "✗ 不相等：3≠0",
        ("R2", (("row", "new_received"),)): "✗ 不相等：0≠3",
    }

    # What LibreOffice keeps: names, values, protection; the very hidden sheet becomes hidden.
    wb = openpyxl.load_workbook(out / "good.xlsx")
    assert wb["_meta"].sheet_state in ("hidden", "veryHidden")
    assert _value_at(wb, "meta.token").value == "k3J9-token"
    assert set(form.cells) <= set(wb.defined_names)
    for code in ("requests.handled_total.total", "review.total"):
        assert _value_at(wb, code).value == good[code]
    assert wb[S3].protection.sheet
    assert _value_at(wb, "requests.new_received.total").protection.locked is False

    # ... and the reader still finds the metadata and every value.
    from annual_report.workbook.reader import read_workbook

    report = read_workbook(out / "good.xlsx")
    # LibreOffice writes <definedName function="false" ... name="...">; whichever road the reader
    # takes (names or labels), the values and the metadata must come back.
    assert report.method in ("defined-names", "labels")
    assert (report.token, report.department) == ("k3J9-token", "ZS-RSJ")
    assert report.values() == {c: Decimal(v) for c, v in good.items()}
