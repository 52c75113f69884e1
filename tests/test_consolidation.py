"""Consolidation: exact sums, inclusion rules, order independence, the written workbook."""

import random
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annual_report.campaign.registry import Department, Registry
from annual_report.consolidation import (
    BREAKDOWN_SHEET,
    UNITS_SHEET,
    Unit,
    consolidate,
    write_consolidation,
)
from annual_report.form.model import Form, load_form
from annual_report.report import Report
from annual_report.validation import Issue, Validation

FORM = load_form("gov-disclosure-2021")
FEE = "proactive.admin_fees.amount_wan_yuan"
RULES = ("proactive.rules.issued", "proactive.rules.repealed", "proactive.rules.in_force")


def consistent_values(form: Form, rng: random.Random, scale: int = 20) -> dict[str, Decimal]:
    """Random values satisfying R1–R4 (2021 and 2019 section 3 and 4 alike)."""
    sets = form.sets
    values: dict[str, Decimal] = {}
    for code, cell in form.cells.items():
        if cell.section == 2:
            if cell.type == "money":
                values[code] = Decimal(rng.randrange(0, 10**8)).scaleb(-4)
            elif cell.type == "signed":
                values[code] = Decimal(rng.randrange(-scale, scale))
            else:
                values[code] = Decimal(rng.randrange(0, scale * 100))
    applicants = sets["applicant_columns"]
    outcomes = sets["outcome_rows"]
    for col in applicants:
        handled = Decimal(0)
        for row in outcomes:
            v = Decimal(rng.randrange(0, scale))
            values[f"requests.{row}.{col}"] = v
            handled += v
        values[f"requests.handled_total.{col}"] = handled
        carried_next = Decimal(rng.randrange(0, scale))
        carried_last = Decimal(rng.randrange(0, int(handled + carried_next) + 1))
        values[f"requests.carried_to_next_year.{col}"] = carried_next
        values[f"requests.carried_from_last_year.{col}"] = carried_last
        values[f"requests.new_received.{col}"] = handled + carried_next - carried_last
    for row in sets["request_rows"]:
        values[f"requests.{row}.total"] = sum(
            (values[f"requests.{row}.{c}"] for c in applicants), Decimal(0)
        )
    for group in sets["review_groups"]:
        parts = [Decimal(rng.randrange(0, 5)) for _ in range(4)]
        for suffix, v in zip(("upheld", "corrected", "other", "pending"), parts, strict=True):
            values[f"{group}.{suffix}"] = v
        values[f"{group}.total"] = sum(parts, Decimal(0))
    assert set(values) == set(form.cells)
    return values


def make_report(values: dict[str, Decimal], *, department=None, form=FORM, year=2021) -> Report:
    report = Report(form=form, year=year, department=department, method="defined-names")
    for code, value in values.items():
        report.set_raw(code, format(value, "f"))
    return report


def unit(code, seed=0, *, errors=0, warnings=0, kind="department", version=None, **overrides):
    values = consistent_values(FORM, random.Random(seed))
    values.update({k: Decimal(v) for k, v in overrides.items()})
    report = make_report(values, department=code)
    issues = [Issue("R1", "error", (), (), "错误") for _ in range(errors)]
    issues += [Issue("N1", "warning", (), (), "警告") for _ in range(warnings)]
    return Unit(code, f"单位{code}", report, Validation(report, issues), kind, version=version)


def registry() -> Registry:
    def dept(code, name, kind="department", **extra):
        return Department(code=code, name=name, kind=kind, email=f"{code}@yc.example", **extra)

    return Registry(
        city="宜春市",
        departments=(
            dept(
                "SZF",
                "宜春市人民政府办公室",
                "government",
                can_make_rules=True,
                reports_for_government=True,
            ),
            dept("RSJ", "宜春市人力资源和社会保障局"),
            dept("ZRZYJ", "宜春市自然资源局"),
            dept("WTZ", "温汤镇人民政府", "township"),
            dept("ZSS", "樟树市人民政府办公室", "county", covers=("ZSRSJ", "ZSLJZ")),
            dept("ZSRSJ", "樟树市人力资源和社会保障局"),
            dept("ZSLJZ", "樟树市临江镇人民政府", "township"),
        ),
    )


def zero_rules(**extra):
    return {**{c: 0 for c in RULES}, **extra}


# -- sums ---------------------------------------------------------------------------------------


def test_sums_are_exact_cell_by_cell():
    # 宿迁 2024 magnitudes: the fees sum to exactly 72701.2578 万元
    fees = ["8745.5329", "5095.1093", "58860.6156", "0.0000"]
    units = [
        unit(code, i, **{FEE: fee}, **zero_rules())
        for i, (code, fee) in enumerate(zip(("SZF", "RSJ", "ZRZYJ", "WTZ"), fees, strict=True))
    ]
    units[1] = unit(
        "RSJ", 1, **{FEE: fees[1], "proactive.licensing.decisions": 1573179}, **zero_rules()
    )
    result = consolidate(units, registry(), FORM)

    assert result.values[FEE] == Decimal("72701.2578")
    assert float(fees[0]) + float(fees[1]) + float(fees[2]) != 72701.2578  # why Decimal
    assert [u.code for u in result.included] == ["RSJ", "SZF", "WTZ", "ZRZYJ"]
    assert result.excluded == []
    for code in FORM.cells:
        if code in RULES:
            continue
        assert result.values[code] == sum(u.report.value(code) for u in units), code
        assert result.breakdown[code] == {u.code: u.report.value(code) for u in units}
    assert result.breakdown[FEE]["RSJ"] == Decimal("5095.1093")
    assert result.values["proactive.licensing.decisions"] >= 1573179
    assert [i for i in result.issues if i.severity == "error"] == []
    assert result.year == 2021
    top = result.contributors("proactive.licensing.decisions", 1)
    licensing = result.breakdown["proactive.licensing.decisions"]
    assert top == [("RSJ", "宜春市人力资源和社会保障局", licensing["RSJ"])]
    assert licensing["RSJ"] == max(licensing.values())

    data = result.to_dict()
    assert data["values"][FEE] == "72701.2578"
    assert data["breakdown"][FEE]["RSJ"] == "5095.1093"
    assert isinstance(data["values"]["requests.new_received.total"], int)


def test_recomputed_totals_are_compared_with_the_summed_totals():
    good = unit("RSJ", 1)
    # trusted as valid (no issues passed), but its 总计 column does not add up
    wrong = unit("ZRZYJ", 2)
    wrong.report.set_raw(
        "requests.new_received.total",
        str(wrong.report.value("requests.new_received.total") + 5),
    )
    result = consolidate([good, wrong], registry(), FORM)
    errors = [(i.rule, i.codes[0]) for i in result.issues if i.severity == "error"]
    assert ("R2", "requests.new_received.total") in errors
    r2 = next(i for i in result.issues if i.rule == "R2")
    assert "相差5" in r2.message and "汇总后" in r2.message
    assert ("R1", "requests.new_received.total") in errors  # 一+二 no longer equals 三+四


# -- inclusion ---------------------------------------------------------------------------------


def test_units_with_errors_and_duplicates_are_excluded_with_reasons():
    units = [
        unit("RSJ", 1, version=1),
        unit("RSJ", 2, version=2, warnings=1),
        unit("ZRZYJ", 3, errors=2),
        Unit(
            "WTZ",
            "温汤镇",
            make_report(
                consistent_values(load_form("gov-disclosure-2019"), random.Random(4)),
                form=load_form("gov-disclosure-2019"),
            ),
            None,
            "township",
        ),
    ]
    result = consolidate(units, registry(), FORM)
    outcome = {(u.code, u.version): u for u in result.units}
    assert outcome["RSJ", 2].included and outcome["RSJ", 2].reason == "已纳入（有1条警告）"
    assert not outcome["RSJ", 1].included and "重复报送" in outcome["RSJ", 1].reason
    assert "第2版" in outcome["RSJ", 1].reason
    assert outcome["ZRZYJ", None].reason == "有2处错误，未纳入汇总"
    assert "表格格式" in outcome["WTZ", None].reason
    assert result.values[FEE] == units[1].report.value(FEE)


def test_a_duplicate_without_errors_wins_over_a_newer_one_with_errors():
    result = consolidate(
        [unit("RSJ", 1, version=1), unit("RSJ", 2, version=2, errors=1)], registry(), FORM
    )
    assert [(u.version, u.included) for u in result.units] == [(1, True), (2, False)]


def test_a_county_report_is_never_counted_with_its_own_units():
    units = [unit("ZSS", 1, kind="county"), unit("ZSRSJ", 2), unit("ZSLJZ", 3), unit("RSJ", 4)]
    result = consolidate(units, registry(), FORM)
    assert [u.code for u in result.included] == ["RSJ", "ZSS"]
    excluded = {u.code: u for u in result.excluded}
    assert excluded["ZSRSJ"].reason == "已包含在樟树市人民政府办公室的汇总报告中，不重复计算"
    assert excluded["ZSLJZ"].covered_by == "ZSS"
    notice = next(i for i in result.issues if i.rule == "H2")
    assert "樟树市人力资源和社会保障局" in notice.message and "樟树市临江镇" in notice.message
    total = "requests.new_received.total"
    assert result.values[total] == units[0].report.value(total) + units[3].report.value(total)

    # the county's report has errors: its units count on their own, with a warning
    units[0] = unit("ZSS", 1, kind="county", errors=1)
    result = consolidate(units, registry(), FORM)
    assert [u.code for u in result.included] == ["RSJ", "ZSLJZ", "ZSRSJ"]
    assert any(i.rule == "H3" and "数据不完整" in i.message for i in result.issues)


def test_rules_come_from_the_government_and_others_are_warned():
    units = [
        unit(
            "SZF", 1, **zero_rules(**{"proactive.rules.issued": 3, "proactive.rules.in_force": 40})
        ),
        unit("ZRZYJ", 2, **zero_rules(**{"proactive.rules.issued": 3})),
        unit("RSJ", 3, **zero_rules()),
    ]
    result = consolidate(units, registry(), FORM)
    assert result.rules_from == "SZF"
    assert result.values["proactive.rules.issued"] == 3
    assert result.values["proactive.rules.in_force"] == 40
    assert result.breakdown["proactive.rules.issued"]["ZRZYJ"] == 3  # the breakdown keeps it
    warning = next(i for i in result.issues if i.rule == "H4")
    assert warning.severity == "warning" and "宜春市自然资源局填报了规章" in warning.message
    assert warning.codes == RULES

    only_government = consolidate([units[0], units[2]], registry(), FORM)
    assert not [i for i in only_government.issues if i.rule in ("H4", "H5")]

    without = consolidate(units[1:], registry(), FORM)  # the government has not reported
    assert without.rules_from is None and without.values["proactive.rules.issued"] == 3
    assert any(i.rule == "H5" and "未纳入宜春市人民政府办公室" in i.message for i in without.issues)


def test_without_a_registry_units_are_summed_as_given():
    units = [unit("A", 1, **zero_rules()), unit("B", 2, **zero_rules())]
    result = consolidate(units, None, FORM)
    assert [u.code for u in result.included] == ["A", "B"]
    assert result.values[FEE] == units[0].report.value(FEE) + units[1].report.value(FEE)
    unknown = consolidate(units, registry(), FORM)
    assert [i.rule for i in unknown.issues] == ["H1", "H1"]


def test_units_without_a_validation_are_validated_here():
    values = consistent_values(FORM, random.Random(9))
    ok = Unit("RSJ", "人社局", make_report(values, department="RSJ"))
    values["requests.handled_total.total"] += 1
    broken = Unit("ZRZYJ", "自然资源局", make_report(values, department="ZRZYJ"))
    result = consolidate([ok, broken], registry(), FORM)
    assert [u.code for u in result.included] == ["RSJ"]
    assert "错误" in result.excluded[0].reason and result.excluded[0].errors >= 1


# -- order independence -------------------------------------------------------------------------

CODES = ["SZF", "RSJ", "ZRZYJ", "WTZ", "ZSS", "ZSRSJ", "ZSLJZ", "XX"]


specs = st.tuples(
    st.sampled_from(CODES),  # code
    st.integers(0, 10**6),  # seed of the values
    st.sampled_from([0, 0, 0, 1]),  # errors
    st.integers(0, 1),  # warnings
    st.sampled_from([None, 1, 2]),  # version
)


# the units' parameters (small, so hypothesis reports them readably) and a shuffled order
cases = st.lists(specs, min_size=1, max_size=7).flatmap(
    lambda xs: st.tuples(st.just(xs), st.permutations(range(len(xs))))
)


@settings(max_examples=60, deadline=None)
@given(case=cases)
def test_the_result_does_not_depend_on_the_order_of_the_units(case):
    params, order = case
    units = [
        unit(
            code,
            seed,
            errors=e,
            warnings=w,
            version=v,
            kind="county" if code == "ZSS" else "department",
        )
        for code, seed, e, w, v in params
    ]
    shuffled = [units[i] for i in order]
    first = consolidate(units, registry(), FORM)
    second = consolidate(shuffled, registry(), FORM)
    assert first.to_dict() == second.to_dict()
    assert first.values == second.values
    assert len(first.units) == len(units)


# -- the workbook -------------------------------------------------------------------------------


NEW_TOTAL_FIRST = "requests.new_received.natural_person"


def test_the_written_workbook(tmp_path):
    units = [
        unit("SZF", 1, **{FEE: "31000.1234"}),
        unit("RSJ", 2, **{FEE: "41701.1344"}, warnings=1),
        unit("ZRZYJ", 3, errors=1),
        unit("ZSS", 4, kind="county", **{FEE: "0"}),
        unit("ZSRSJ", 5),
    ]
    # a unit name that looks like a formula stays text
    evil = unit("XX", 6, **{FEE: "0"})
    units.append(Unit("XX", '=HYPERLINK("http://evil")', evil.report, evil.validation))
    result = consolidate(units, registry(), FORM)
    path = write_consolidation(
        result, tmp_path / "city.xlsx", title="宜春市2021年政府信息公开工作年度报告"
    )
    assert path.exists()

    wb = openpyxl.load_workbook(path)
    for code in (
        FEE,
        "requests.new_received.total",
        "review.total",
        "proactive.licensing.decisions",
    ):
        ((sheet, ref),) = list(wb.defined_names[code].destinations)
        cell = wb[sheet][ref.replace("$", "")]
        assert Decimal(str(cell.value)) == result.values[code], code
    fee_sheet, fee_ref = next(iter(wb.defined_names[FEE].destinations))
    assert Decimal(str(wb[fee_sheet][fee_ref.replace("$", "")].value)) == Decimal("72701.2578")

    assert BREAKDOWN_SHEET in wb.sheetnames and UNITS_SHEET in wb.sheetnames
    breakdown = wb[BREAKDOWN_SHEET]
    header = [c.value for c in breakdown[3]]
    included = [u.code for u in result.included]
    assert header[1:5] == ["表", "项目", "栏目", "汇总"]
    names = {u.code: u.name for u in result.included}
    assert header[5:] == [names[c].replace("宜春市", "市") for c in included]
    # codes only where machines look: the hidden column A and the hidden row 4
    assert breakdown.column_dimensions["A"].hidden and breakdown.row_dimensions[4].hidden
    assert [c.value for c in breakdown[4]][5:] == included
    visible = [
        str(c.value)
        for row in breakdown.iter_rows(min_row=1, min_col=2)
        for c in row
        if c.value is not None and c.row != 4
    ]
    assert not any(v.startswith(("requests.", "proactive.", "review.")) for v in visible)
    rows = {r[0]: r for r in breakdown.iter_rows(min_row=5, values_only=True)}
    assert len(rows) == len(FORM.cells)
    fee_row = rows[FEE]
    assert fee_row[2] == "行政事业性收费" and Decimal(str(fee_row[4])) == Decimal("72701.2578")
    assert [Decimal(str(v)) for v in fee_row[5:]] == [result.breakdown[FEE][c] for c in included]
    assert rows["requests.new_received.total"][4] == result.values["requests.new_received.total"]
    assert rows["requests.new_received.commercial"][3] == "商业企业"
    # the national row's label once, merged over its seven cells
    first = next(r for r in range(5, 300) if breakdown.cell(r, 1).value == NEW_TOTAL_FIRST)
    assert breakdown.cell(first, 3).value == "一、本年新收政府信息公开申请数量"
    assert f"C{first}:C{first + 6}" in {str(m) for m in breakdown.merged_cells.ranges}
    # prints: landscape, labels and unit names repeated, frozen on the first unit column
    assert breakdown.page_setup.orientation == "landscape"
    assert breakdown.print_title_rows == "$3:$4" and breakdown.print_title_cols == "$B:$E"
    assert breakdown.freeze_panes == "F5"

    sheet = wb[UNITS_SHEET]
    listed = {r[9]: r for r in sheet.iter_rows(min_row=4, max_col=10, values_only=True) if r[3]}
    assert sheet.column_dimensions["J"].hidden  # the unit codes: for machines
    assert listed["ZRZYJ"][3] == "未纳入" and "错误" in listed["ZRZYJ"][4]
    assert listed["ZSRSJ"][3] == "未纳入" and "樟树市" in listed["ZSRSJ"][4]
    assert listed["ZSS"][2] == "县（市、区）" and listed["SZF"][3] == "纳入"
    evil = next(
        c for row in sheet.iter_rows() for c in row if c.value and "HYPERLINK" in str(c.value)
    )
    assert evil.data_type == "s"
    evil_header = next(c for c in breakdown[3] if c.value and "HYPERLINK" in str(c.value))
    assert evil_header.data_type == "s"


def test_consolidating_returned_workbooks(tmp_path):
    from annual_report.consolidation import consolidate_files
    from annual_report.workbook.template import TemplateMeta, write_template

    sent = {}
    paths = []
    for i, code in enumerate(["SZF", "RSJ", "ZSS", "ZSRSJ"]):
        sent[code] = consistent_values(FORM, random.Random(i))
        meta = TemplateMeta(FORM.id, 2021, code, code, "2021", "token")
        paths.append(write_template(tmp_path / f"{i}.xlsx", FORM, meta=meta, values=sent[code]))
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook at all")
    result = consolidate_files([*paths, junk], registry=registry())
    assert (result.year, result.form.id) == (2021, FORM.id)
    assert [u.code for u in result.included] == ["RSJ", "SZF", "ZSS"]
    status = {u.code: u for u in result.units}
    assert status["ZSRSJ"].covered_by == "ZSS"
    assert status["junk"].reason.startswith("文件无法读取：") and not status["junk"].included
    assert status["RSJ"].name == "宜春市人力资源和社会保障局"
    total = "requests.new_received.total"
    assert result.values[total] == sum(sent[c][total] for c in ("SZF", "RSJ", "ZSS"))
    assert result.values[FEE] == sum(sent[c][FEE] for c in ("SZF", "RSJ", "ZSS"))
    assert result.values["proactive.rules.issued"] == sent["SZF"]["proactive.rules.issued"]


def test_consolidating_a_campaign_from_the_store(tmp_path):
    from annual_report.consolidation import consolidate_campaign
    from annual_report.store import open_store
    from annual_report.store.base import content_hash

    store = open_store(tmp_path / "state.db")
    store.create_campaign("2021", 2021, registry=registry())

    def send(code, seed, issues=(), **overrides):
        u = unit(code, seed, **overrides)
        v = Validation(u.report, list(issues))
        sub = store.record_submission(
            "2021",
            sha256=content_hash(f"{code}{seed}".encode()),
            source="cli",
            department=code,
            validation=v,
            file_name=f"{code}.xlsx",
        )
        return u, sub

    szf, _ = send("SZF", 1, **{FEE: "31000.1234"})
    send("RSJ", 2, [Issue("R1", "error", (), (), "错误")])  # v1 rejected
    rsj, _ = send("RSJ", 3, [Issue("N1", "warning", (), (), "警告")], **{FEE: "41701.1344"})
    _, returned = send("ZRZYJ", 4, [Issue("C1", "warning", (), (), "警告")])
    store.decide(returned.id, "rejected", by="coordinator", note="请核实上年结转")
    zss, _ = send("ZSS", 5, **{FEE: "0"})
    store.record_submission(
        "2021",
        sha256=content_hash(b"garbage"),
        source="cli",
        department="WTZ",
        failure="not a workbook",
    )
    store.close()

    result = consolidate_campaign(open_store(tmp_path / "state.db"), "2021")
    status = {u.code: u for u in result.units}
    assert {c: u.status for c, u in status.items()} == {
        "SZF": "included",
        "RSJ": "included",
        "ZRZYJ": "returned",
        "WTZ": "unreadable",
        "ZSS": "included",
        "ZSRSJ": "missing",
        "ZSLJZ": "missing",
    }
    assert status["RSJ"].version == 2 and status["RSJ"].warnings == 1
    assert status["ZRZYJ"].reason == "第1版已被退回：请核实上年结转"
    assert status["ZSRSJ"].reason == "未报送（其数据已包含在樟树市人民政府办公室的汇总报告中）"
    assert [u.code for u in result.missing] == ["ZSLJZ", "ZSRSJ"]
    assert result.values[FEE] == Decimal("72701.2578")
    total = "requests.new_received.total"
    assert result.values[total] == sum(u.report.value(total) for u in (szf, rsj, zss))
    assert result.year == 2021


# -- the workbook as printed -----------------------------------------------------------------------

_DEPARTMENTS = ("教育局", "人力资源和社会保障局", "发展和改革委员会", "公安局", "自然资源局")


def _city(n: int):
    """A city of ``n`` units (the government and departments) and its consolidation."""
    from annual_report.samples import consistent_values

    depts = [
        Department(
            code="SZF",
            name="宜春市人民政府办公室",
            kind="government",
            email="szf@yc.example",
            can_make_rules=True,
            reports_for_government=True,
        )
    ]
    depts += [
        Department(
            code=f"D{i:04d}",
            name=f"宜春市{_DEPARTMENTS[i % 5]}{i // 5 or ''}",
            kind="department",
            email=f"d{i}@yc.example",
        )
        for i in range(n - 1)
    ]
    units = []
    for i, d in enumerate(depts):
        values = consistent_values(FORM, random.Random(i), busy=0.5)
        rep = Report(form=FORM, year=2021, department=d.code, method="defined-names")
        for code, value in values.items():
            rep.set_raw(code, format(value, "f"))
        units.append(Unit(d.code, d.name, rep, Validation(rep, []), d.kind))
    return consolidate(units, Registry(city="宜春市", departments=tuple(depts)), FORM, year=2021)


def test_a_thousand_units_stay_usable(tmp_path):
    """One column per unit, bands of 20 units a printed page wide, labels frozen and repeated."""
    result = _city(1000)
    path = write_consolidation(result, tmp_path / "big.xlsx", title="宜春市2021年")
    wb = openpyxl.load_workbook(path)
    sheet = wb[BREAKDOWN_SHEET]
    assert sheet.max_column == 5 + 1000 and sheet.max_row == 4 + len(FORM.cells)
    assert sheet.freeze_panes == "F5" and sheet.print_title_cols == "$B:$E"
    assert sheet.page_setup.fitToWidth == 50 and sheet.page_setup.fitToHeight <= 5
    assert [b.id for b in sheet.col_breaks.brk][:3] == [25, 45, 65]
    assert wb[UNITS_SHEET].max_row >= 1003


@pytest.mark.libreoffice
def test_forty_units_print_in_about_fifteen_pages(tmp_path):
    """Converted by LibreOffice: the whole workbook in about 15 landscape A4 pages (was 126)."""
    import re
    import subprocess

    from annual_report.documents.layout import to_pdf
    from annual_report.errors import DocumentError

    path = write_consolidation(_city(40), tmp_path / "city.xlsx", title="宜春市2021年")
    try:
        pdf = to_pdf(path, tmp_path)
    except DocumentError as exc:
        pytest.skip(f"LibreOffice cannot convert here: {exc}")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True).stdout.decode()
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 12 <= pages <= 17
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True).stdout
    text = text.decode()
    assert "分单位明细" in text and "纳入与未纳入单位" in text
    assert "requests." not in text and "proactive." not in text  # no codes on paper
    assert "一、本年新收政府信息公开申请数量" in re.sub(r"\s", "", text)
