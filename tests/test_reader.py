"""The workbook reader: names first, labels when names are lost, raw text kept, money exact."""

from __future__ import annotations

import shutil
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from annual_report.form.layout import layout
from annual_report.form.model import Form, load_form
from annual_report.form.numbers import BLANK, DASH, FULL_WIDTH, PLUS_SIGN, UNIT_SUFFIX
from annual_report.workbook.intake import inspect
from annual_report.workbook.reader import cell_text, read_workbook
from annual_report.workbook.template import TemplateMeta, write_template

F2021 = "gov-disclosure-2021"
F2019 = "gov-disclosure-2019"
S2 = "二、主动公开政府信息情况"
S3 = "三、收到和处理政府信息公开申请情况"
S4 = "四、政府信息公开行政复议、行政诉讼情况"
NARRATIVE = {
    "narrative.overview": "本机关全年主动公开政府信息1234条，收到申请12件。",
    "narrative.problems": "主动公开的及时性有待提高。",
    "narrative.other_matters": "本机关无收取信息处理费情况。",
}


def distinct_values(form: Form) -> dict[str, Decimal]:
    """A different number in every cell, so a value read from the wrong cell shows."""
    values = {code: Decimal(i + 1) for i, code in enumerate(form.cells)}
    for code, cell in form.cells.items():
        if cell.type == "money":
            values[code] = Decimal("72701.2578")
        elif cell.type == "signed":
            values[code] = -values[code]
    return values


def meta_for(form: Form, year: int | None = None, **changes) -> TemplateMeta:
    fields = dict(
        form_id=form.id,
        report_year=year or form.first_year,
        department_code="ZS-RSJ",
        department_name="樟树市人社局",
        campaign_id=f"{year or form.first_year}-annual",
        token="k3J9-token",
    )
    fields.update(changes)
    return TemplateMeta(**fields)


def filled(tmp_path: Path, form_id: str = F2021, name: str = "filled.xlsx", **kw) -> Path:
    form = load_form(form_id)
    kw.setdefault("meta", meta_for(form))
    kw.setdefault("values", distinct_values(form))
    kw.setdefault("narrative", NARRATIVE)
    return write_template(tmp_path / name, form, **kw)


def without_names(path: Path, out: Path | None = None) -> Path:
    """The workbook with every defined name deleted (as after a copy into a new workbook)."""
    wb = openpyxl.load_workbook(path)
    for name in list(wb.defined_names):
        del wb.defined_names[name]
    out = out or path.with_name(path.stem + "-nonames.xlsx")
    wb.save(out)
    return out


def assert_values(report, form_id: str = F2021) -> None:
    form = load_form(form_id)
    expected = distinct_values(form)
    wrong = {c: report.value(c) for c in form.cells if report.value(c) != expected[c]}
    assert wrong == {}
    assert report.missing == []


# -- by defined names ---------------------------------------------------------------------------


def test_reads_by_defined_names(tmp_path):
    path = filled(tmp_path)
    report = read_workbook(path)
    assert report.method == "defined-names"
    assert report.form.id == F2021 and report.declared_form == F2021
    assert (report.year, report.department, report.campaign, report.token) == (
        2021,
        "ZS-RSJ",
        "2021-annual",
        "k3J9-token",
    )
    assert report.source == str(path)
    assert_values(report)
    lay = layout(load_form(F2021))
    entry = report.entries["requests.new_received.natural_person"]
    assert entry.cell == lay.ref("requests.new_received.natural_person") == f"'{S3}'!D7"
    expected = str(distinct_values(load_form(F2021))["requests.new_received.natural_person"])
    assert (entry.raw, entry.notes, entry.problem) == (expected, (), None)
    assert report.narrative == NARRATIVE
    assert report.label_notes == []


def test_metadata_sheet_identifies_the_file_whatever_its_name(tmp_path):
    path = filled(tmp_path, meta=meta_for(load_form(F2021), 2023, department_code="CITY-GAJ"))
    renamed = tmp_path / "sub dir" / "新建 Microsoft Excel 工作表 (2).xlsx"
    renamed.parent.mkdir()
    shutil.move(path, renamed)
    report = read_workbook(renamed)
    assert (report.department, report.year, report.campaign, report.token) == (
        "CITY-GAJ",
        2023,
        "2023-annual",
        "k3J9-token",
    )
    # without names, the _meta sheet's key/value rows still say it
    report = read_workbook(without_names(renamed))
    assert report.method == "labels"
    assert (report.department, report.year, report.token) == ("CITY-GAJ", 2023, "k3J9-token")


def test_year_argument_wins_over_metadata(tmp_path):
    report = read_workbook(filled(tmp_path), year=2022)
    assert report.year == 2022
    assert report.form.id == F2021


# -- by labels ----------------------------------------------------------------------------------


def test_reads_by_labels_when_every_name_is_gone(tmp_path):
    report = read_workbook(without_names(filled(tmp_path)))
    assert report.method == "labels"
    assert report.form.id == F2021 and report.declared_form == F2021
    assert_values(report)  # section 4's three 结果维持 columns told apart by their groups
    assert report.narrative == NARRATIVE
    lay = layout(load_form(F2021))
    for code in (
        "requests.new_received.natural_person",
        "review.upheld",
        "litigation_direct.total",
    ):
        assert report.entries[code].cell == lay.ref(code)


def test_row_inserted_above_section_3(tmp_path):
    src = filled(tmp_path)
    for keep_names in (True, False):
        wb = openpyxl.load_workbook(src)
        wb[S3].insert_rows(5, amount=2)  # openpyxl moves the cells but not the names
        if not keep_names:
            for name in list(wb.defined_names):
                del wb.defined_names[name]
        wb.save(tmp_path / "inserted.xlsx")
        report = read_workbook(tmp_path / "inserted.xlsx")
        # stale names are caught by their labels; sections 2 and 4 keep their correct names
        assert report.method == ("defined-names" if keep_names else "labels")
        assert_values(report)
        assert report.entries["requests.new_received.natural_person"].cell == f"'{S3}'!D9"


def _copy_values(
    src: openpyxl.Workbook,
    dst: openpyxl.Workbook,
    sheet: str,
    *,
    to: str,
    row_offset: int = 0,
    col_offset: int = 0,
    blank_cols_after: int | None = None,
    blank_cols: int = 0,
) -> None:
    """Paste a sheet's values (no names, no styles) somewhere else, like a clerk's copy."""
    target = dst[to] if to in dst.sheetnames else dst.create_sheet(to)
    for row in src[sheet].iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            col = cell.column + col_offset
            if blank_cols_after is not None and cell.column > blank_cols_after:
                col += blank_cols
            target.cell(cell.row + row_offset, col, cell.value)


def test_table_moved_to_another_sheet(tmp_path):
    src = openpyxl.load_workbook(filled(tmp_path))
    dst = openpyxl.Workbook()
    dst.active.title = "Sheet1"
    for sheet in src.sheetnames:
        if sheet == S3:
            continue
        _copy_values(src, dst, sheet, to=sheet)
    _copy_values(src, dst, S3, to="Sheet1", row_offset=5, col_offset=3)
    dst.save(tmp_path / "moved.xlsx")
    report = read_workbook(tmp_path / "moved.xlsx")
    assert report.method == "labels"
    assert_values(report)
    assert report.entries["requests.new_received.natural_person"].cell == "'Sheet1'!G12"
    assert report.department == "ZS-RSJ"  # _meta was copied along


def test_values_pasted_into_a_copy_with_extra_blank_columns(tmp_path):
    src = openpyxl.load_workbook(filled(tmp_path))
    dst = openpyxl.Workbook()
    dst.remove(dst.active)
    for sheet in src.sheetnames:
        if sheet == "_meta":
            continue  # a copy made by hand: no metadata either
        _copy_values(src, dst, sheet, to=sheet, blank_cols_after=1, blank_cols=2)
    dst.save(tmp_path / "pasted.xlsx")
    report = read_workbook(tmp_path / "pasted.xlsx", year=2021)
    assert report.method == "labels"
    assert (report.year, report.department, report.token) == (2021, None, None)
    assert_values(report)
    assert report.entries["requests.new_received.natural_person"].cell == f"'{S3}'!F7"


def test_whole_report_pasted_onto_one_sheet(tmp_path):
    """Sections stacked on one sheet, as many departments lay out their own workbook: the
    three 总计 headers (section 3 and section 4's groups) must not be confused."""
    src = openpyxl.load_workbook(filled(tmp_path))
    dst = openpyxl.Workbook()
    dst.active.title = "年报"
    offset = 0
    for sheet in src.sheetnames:
        if sheet in ("填报说明", "_meta"):
            continue
        _copy_values(src, dst, sheet, to="年报", row_offset=offset)
        offset += src[sheet].max_row + 2
    dst.save(tmp_path / "one-sheet.xlsx")
    report = read_workbook(tmp_path / "one-sheet.xlsx", year=2021)
    assert report.method == "labels"
    assert_values(report)
    assert report.narrative == NARRATIVE


def test_aliases_are_read_and_noted(tmp_path):
    path = without_names(filled(tmp_path))
    wb = openpyxl.load_workbook(path)
    ws = wb[S2]
    replaced = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value == "本年制发件数":
                cell.value, replaced["issued"] = "本年新制作数量", cell.coordinate
            elif cell.value == "行政规范性文件":
                cell.value, replaced["normative"] = "规范性文件", cell.coordinate
            elif cell.value == "本年处理决定数量" and "decisions" not in replaced:
                cell.value, replaced["decisions"] = "处理决定数量", cell.coordinate
    wb.save(path)
    report = read_workbook(path)
    assert_values(report)
    notes = {n.found: n for n in report.label_notes}
    assert set(notes) == {"本年新制作数量", "规范性文件", "处理决定数量"}
    issued = notes["本年新制作数量"]
    assert issued.codes == ("proactive.rules.issued", "proactive.normative_docs.issued")
    assert "2019年版列名" in issued.message  # the YAML's warn text
    assert issued.cells == (f"'{S2}'!{replaced['issued']}",)
    assert notes["规范性文件"].codes == (
        "proactive.normative_docs.issued",
        "proactive.normative_docs.repealed",
        "proactive.normative_docs.in_force",
    )
    assert notes["处理决定数量"].codes == ("proactive.licensing.decisions",)


def test_missing_rows_are_reported_not_guessed(tmp_path):
    path = without_names(filled(tmp_path))
    wb = openpyxl.load_workbook(path)
    ws = wb[S3]
    for row in ws.iter_rows():
        for cell in row:
            if cell.value == "1.属于国家秘密":
                cell.value = "（此行已删除）"
    wb.save(path)
    report = read_workbook(path)
    codes = [
        f"requests.withheld.state_secret.{c}" for c in load_form(F2021).sets["request_columns"]
    ]
    assert report.missing == codes
    assert all(report.value(c) is None for c in codes)
    (note,) = [n for n in report.label_notes if n.codes == tuple(codes)]
    assert "未找到" in note.message and "国家秘密" in note.message


# -- raw text and numbers -------------------------------------------------------------------------


def _fill(path: Path, cells: dict[str, object]) -> None:
    wb = openpyxl.load_workbook(path)
    lay = layout(load_form(F2021))
    for code, value in cells.items():
        pos = lay.position(code)
        wb[pos.sheet].cell(pos.row, pos.column).value = value
    wb.save(path)


def test_raw_text_is_kept_with_notes(tmp_path):
    path = filled(tmp_path)
    _fill(
        path,
        {
            "requests.new_received.natural_person": "12件",
            "requests.new_received.commercial": "/",
            "requests.new_received.research": None,
            "requests.new_received.social_welfare": "１２",
            "requests.new_received.legal_service": "+19",
            "requests.new_received.other_org": "三件",
        },
    )
    for report in (read_workbook(path), read_workbook(without_names(path))):
        e = report.entries
        got = {
            k: (e[f"requests.new_received.{k}"].raw, e[f"requests.new_received.{k}"].value)
            for k in ("natural_person", "commercial", "research", "social_welfare", "legal_service")
        }
        assert got == {
            "natural_person": ("12件", Decimal(12)),
            "commercial": ("/", Decimal(0)),
            "research": (None, Decimal(0)),
            "social_welfare": ("１２", Decimal(12)),
            "legal_service": ("+19", Decimal(19)),
        }
        assert e["requests.new_received.natural_person"].notes == (UNIT_SUFFIX,)
        assert e["requests.new_received.commercial"].notes == (DASH,)
        assert e["requests.new_received.research"].notes == (BLANK,)
        assert e["requests.new_received.social_welfare"].notes == (FULL_WIDTH,)
        assert e["requests.new_received.legal_service"].notes == (PLUS_SIGN,)
        other = e["requests.new_received.other_org"]
        assert (other.raw, other.value) == ("三件", None) and "不是数字" in other.problem
        assert report.to_dict()["raw"]["requests.new_received.commercial"] == "/"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (72701.2578, "72701.2578"),
        (0.3, "0.3"),
        (0.1 + 0.2, "0.3"),  # float noise, as a formula leaves it: Excel shows 0.3
        (1.1 + 2.2, "3.3"),
        (0.0001, "0.0001"),
        (1573179, "1573179"),
        (2676474.0, "2676474"),
        (Decimal("12345678.1234"), "12345678.1234"),
    ],
)
def test_money_is_exact(tmp_path, typed, expected):
    path = filled(tmp_path)
    _fill(path, {"proactive.admin_fees.amount_wan_yuan": typed})
    report = read_workbook(path)
    entry = report.entries["proactive.admin_fees.amount_wan_yuan"]
    assert entry.raw == expected
    assert entry.value == Decimal(expected)
    assert report.to_dict()["values"]["proactive.admin_fees.amount_wan_yuan"] == expected


def test_cell_text():
    assert cell_text(None) is None and cell_text("") is None
    assert cell_text(100.0) == "100"
    assert cell_text(-3.0) == "-3"
    assert cell_text(1e20) == "100000000000000000000"
    assert cell_text(0.30000000000000004) == "0.3"
    assert cell_text(11.28) == "11.28"
    assert cell_text(True) == "TRUE"
    assert cell_text(" 12 ") == " 12 "


# -- forms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form_id", [F2019, F2021])
@pytest.mark.parametrize("names", [True, False])
def test_2019_and_2021_forms(tmp_path, form_id, names):
    path = filled(tmp_path, form_id)
    if not names:
        path = without_names(path)
    report = read_workbook(path)
    assert report.form.id == report.declared_form == form_id
    assert report.method == ("defined-names" if names else "labels")
    assert_values(report, form_id)


@pytest.mark.parametrize("names", [True, False])
def test_2019_form_in_a_2022_report(tmp_path, names):
    form = load_form(F2019)
    path = filled(tmp_path, F2019, meta=meta_for(form, 2022))
    if not names:
        path = without_names(path)
    report = read_workbook(path, year=2022)
    assert report.year == 2022
    assert report.declared_form == F2019
    assert report.form.id == F2019  # read by the layout it has; R6 flags the mismatch
    assert_values(report, F2019)


def test_2019_table_pasted_without_metadata_for_2022(tmp_path):
    src = openpyxl.load_workbook(filled(tmp_path, F2019))
    dst = openpyxl.Workbook()
    dst.remove(dst.active)
    for sheet in src.sheetnames:
        if sheet != "_meta":
            _copy_values(src, dst, sheet, to=sheet)
    dst.save(tmp_path / "old.xlsx")
    report = read_workbook(tmp_path / "old.xlsx", year=2022)
    assert (report.year, report.declared_form, report.form.id) == (2022, F2019, F2019)
    assert_values(report, F2019)


def test_form_id_argument_forces_the_form(tmp_path):
    report = read_workbook(filled(tmp_path), form_id=F2021, year=2020)
    assert report.form.id == F2021
    assert report.year == 2020


# -- formats ----------------------------------------------------------------------------------


def test_xlsm_reads_and_macros_never_run(tmp_path):
    src = filled(tmp_path)
    dst = tmp_path / "with-macros.xlsm"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                ).replace(
                    b"</Types>",
                    b'<Default Extension="bin" '
                    b'ContentType="application/vnd.ms-office.vbaProject"/></Types>',
                )
            zout.writestr(item, data)
        zout.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 not really a VBA project")
    info = inspect(dst)
    assert (info.kind, info.macros) == ("xlsm", True)
    report = read_workbook(dst)
    assert report.method == "defined-names"
    assert_values(report)


def test_inspect_reports_format_by_content_not_name(tmp_path):
    path = filled(tmp_path)
    disguised = tmp_path / "report.ods"
    shutil.copy(path, disguised)
    info = inspect(disguised)
    assert (info.kind, info.macros, info.size) == ("xlsx", False, path.stat().st_size)
    assert len(info.sha256) == 64
    assert read_workbook(disguised).method == "defined-names"
