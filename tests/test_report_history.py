"""Year over year where people look, on a real district's published figures (上海市松江区 2024 and
2025, ``fixtures/history``): the 2024 report kept as the district's own published figures, the
2025 units' workbooks received through the real path (template, read, match, validate, store),
then the city report, its provenance file and the consolidated workbook, asserted to the digit
and looked at as pages."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sqlite3
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import docx
import openpyxl
import pytest
from docx.shared import Mm

from annual_report.campaign.submission import Origin, receive_workbook
from annual_report.campaign.templates import write_department_template
from annual_report.consolidation import (
    COMPARISON_SHEET,
    consolidate_campaign,
    write_consolidation,
)
from annual_report.documents.layout import TYPE_WIDTH_MM, soffice
from annual_report.documents.report import (
    city_report,
    city_report_from_store,
    department_report_from_store,
    to_pdf,
)
from annual_report.documents.webpage import department_page_from_store
from annual_report.history import frames as history
from annual_report.samples import fill_template
from annual_report.store import open_store
from annual_report.store.base import Store
from annual_report.store.sqlite import SQLiteStore

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("songjiang", FIXTURES / "history" / "songjiang.py")
sj = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(sj)  # type: ignore[union-attr]

TITLE = "上海市松江区2025年政府信息公开工作年度报告"
# The published 2025 figures against the published 2024 ones, as section 一（二） says them.
SENTENCE = (
    "与上年相比，办理答复政府信息公开申请1292件，较上年减少44件，下降3.3%；"
    "予以公开389件，较上年增加13件，增长3.5%；部分公开63件，较上年增加39件，增长162.5%；"
    "不予公开100件，较上年增加35件，增长53.8%；无法提供540件，较上年减少63件，下降10.4%；"
    "不予处理23件，较上年减少26件，下降53.1%；其他处理177件，较上年减少42件，下降19.2%；"
    "政府信息公开行政复议166件，较上年减少26件，下降13.5%；"
    "政府信息公开行政诉讼44件，较上年减少29件，下降39.7%。"
)
# figure key: (上年, 本年, 增减, 增减幅度)
SHEET = {
    "handled_total": (1336, 1292, -44, "-3.3"),
    "granted": (376, 389, 13, "3.5"),
    "partially_granted": (24, 63, 39, "162.5"),
    "withheld": (65, 100, 35, "53.8"),
    "unavailable": (603, 540, -63, "-10.4"),
    "not_processed": (49, 23, -26, "-53.1"),
    "other": (219, 177, -42, "-19.2"),
    "carried_to_next_year": (80, 58, -22, "-27.5"),
    "review": (192, 166, -26, "-13.5"),
    "litigation": (73, 44, -29, "-39.7"),
}


def _receive_2025(store: Store, tmp_path: Path) -> None:
    """Each unit's 2025 figures typed into its own template and received as a reply."""
    store.create_campaign("2025", 2025, registry=sj.registry(), deadline=date(2026, 1, 20))
    for i, (code, report) in enumerate(sj.unit_reports(2025).items()):
        template = write_department_template(
            store, store.registry("2025"), "2025", code, tmp_path / f"{code}-template.xlsx"
        )
        values = {c: e.value for c, e in report.entries.items()}
        reply = fill_template(template, tmp_path / f"{code}.xlsx", values)
        received = receive_workbook(
            store,
            "2025",
            reply,
            Origin(
                "cli",
                sender=f"{code.lower()}@songjiang.example",
                received_at=datetime(2026, 1, 10 + i, 2, tzinfo=UTC),
            ),
        )
        assert received.submission.department == code and received.validation.ok, code


@pytest.fixture(scope="module")
def songjiang(tmp_path_factory):
    """The store: 2024 as the district's own published report, 2025 as received."""
    tmp = tmp_path_factory.mktemp("songjiang")
    store = open_store(tmp / "nianbao.db")
    history.record_city_report(
        store,
        sj.registry(),
        sj.district_report(2024),
        text="上海市松江区2024年政府信息公开工作年度报告".encode(),
        source="text:songjiang-2024.txt",
    )
    _receive_2025(store, tmp)
    yield store, tmp
    store.close()


@pytest.fixture(scope="module")
def drafted(songjiang):
    store, tmp = songjiang
    draft = city_report_from_store(
        store, "2025", office=sj.OFFICE, city=sj.CITY, date=date(2026, 2, 12)
    )
    path = draft.save(tmp / "city.docx")
    draft.save_provenance(tmp / "city（数据来源）.xlsx")
    return draft, path


def _paragraphs(path: Path) -> list[str]:
    return [p.text for p in docx.Document(str(path)).paragraphs]


def test_section_one_compares_with_the_published_last_year_to_the_digit(drafted):
    draft, path = drafted
    texts = _paragraphs(path)
    assert SENTENCE in texts
    # where it belongs: in 一（二）依申请公开, before 一（三）
    at = texts.index(SENTENCE)
    assert texts.index("（二）依申请公开") < at < texts.index("（三）政府信息管理")
    # 2024 does not publish 新收 apart from 上年结转, nor 主动公开's fees: not compared, not said
    assert "本年新收政府信息公开申请1270件，较上年" not in "".join(texts)
    assert "行政事业性收费金额" not in "".join(texts)
    assert not [t for t in draft.placeholders if "上年" in t]  # nothing to check or fill


def test_the_numbers_of_the_comparison_are_traced(drafted, songjiang):
    _, tmp = songjiang
    draft, _ = drafted
    traced = {f.label: f for f in draft.figures if f.label.endswith("（与上年比较）")}
    granted = traced["予以公开（与上年比较）"]
    assert (
        granted.text == "389"
        and granted.where == "表三“三、本年度办理结果 （一）予以公开”行“总计”列"
    )
    assert granted.note.startswith(
        "上年376件（2024年度全区已发布的年度报告（songjiang-2024.txt））"
    )
    assert {c.unit for c in granted.contributions} == {code for code, *_ in sj.UNITS}
    wb = openpyxl.load_workbook(tmp / "city（数据来源）.xlsx")
    about = {r[0]: r[1] for r in wb["说明"].iter_rows(min_row=3, values_only=True)}
    assert about["与上年比较"].startswith(
        "上年数据：2024年度全区已发布的年度报告（songjiang-2024.txt）。正文与上年比较的项目："
        "办理答复政府信息公开申请、予以公开、"
    )
    missing = "上年数据中没有、未作比较的项目：本年新收政府信息公开申请、行政事业性收费金额。"
    assert about["与上年比较"].endswith(missing)
    rows = {r[0]: r for r in wb["与上年比较"].iter_rows(min_row=3, values_only=True)}
    assert rows["予以公开"] == ("予以公开", "件", "376", "389", "13", "3.5", "写入正文")
    assert rows["结转下年度继续办理"][2:] == ("80", "58", "-22", "-27.5", "未写入正文")
    assert about["图1"].startswith(
        "2024—2025年全区政府信息公开申请办理结果。2025年为本报告的汇总数据；2024年取自数据库"
    )


def test_the_workbook_sheet_to_the_digit(songjiang):
    store, tmp = songjiang
    c = consolidate_campaign(store, "2025")
    comparison = history.year_over_year(
        store, 2025, this=c.values, form=c.form, units=len(c.included)
    )
    path = write_consolidation(c, tmp / "city.xlsx", title=TITLE, comparison=comparison)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames.index(COMPARISON_SHEET) == wb.sheetnames.index("分单位明细") - 1
    ws = wb[COMPARISON_SHEET]
    assert ws["A1"].value == f"{TITLE}——与上年比较"
    assert ws["A2"].value.startswith("上年（2024年）数据：2024年度全区已发布的年度报告")
    assert [ws.cell(3, c).value for c in range(1, 9)] == [
        "表",
        "项目",
        "栏目",
        "上年\n（2024年）",
        "本年\n（2025年）",
        "增减",
        "增减幅度\n（%）",
        "说明",
    ]
    by_code = {row[8].value: row for row in ws.iter_rows(min_row=4) if row[8].value is not None}
    for key, (last, this, change, pct) in SHEET.items():
        row = by_code[key]
        assert (row[3].value, row[4].value, row[5].value) == (last, this, change), key
        assert str(row[6].value) == pct, key  # stored as its decimal text
    assert by_code["granted"][7].value == "较上年增加13件，增长3.5%"
    # 新收: this year only (not published for 2024); every cell of the form follows
    assert (by_code["new_received"][3].value, by_code["new_received"][4].value) == (None, 1270)
    cell = by_code["requests.withheld.process_info.total"]
    assert (cell[3].value, cell[4].value, cell[5].value) == (65, 100, 35)
    assert ws.cell(cell[0].row, 3).value == "总计"
    # codes only where machines look; printable
    assert ws.column_dimensions["I"].hidden
    assert ws.page_setup.orientation == "landscape" and ws.print_title_rows == "$3:$3"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1


def test_section_three_has_the_figures_sized_for_the_type_area(drafted):
    draft, path = drafted
    assert draft.charts == [
        "图1　2024—2025年全区政府信息公开申请办理结果",
        "图2　2025年新收政府信息公开申请最多的8个单位",
    ]
    doc = docx.Document(str(path))
    shapes = doc.inline_shapes
    assert len(shapes) == 2
    for shape in shapes:
        assert shape.width <= Mm(TYPE_WIDTH_MM) and shape.height <= Mm(120)
    texts = _paragraphs(path)
    third, fourth = (
        texts.index("三、收到和处理政府信息公开申请情况"),
        texts.index("四、政府信息公开行政复议、行政诉讼情况"),
    )
    assert third < texts.index(draft.charts[0]) < texts.index(draft.charts[1]) < fourth
    # each picture stays with its caption
    body = [p for p in doc.paragraphs if p.runs and p._p.xpath(".//pic:pic")]
    assert all(p.paragraph_format.keep_with_next for p in body)


def test_no_last_year_says_nothing_and_the_provenance_says_why(tmp_path):
    with open_store(tmp_path / "nianbao.db") as store:
        _receive_2025(store, tmp_path)
        draft = city_report_from_store(
            store, "2025", office=sj.OFFICE, city=sj.CITY, date=date(2026, 2, 12)
        )
        draft.save_provenance(tmp_path / "p.xlsx")
        path = draft.save(tmp_path / "city.docx")
        dept = department_report_from_store(store, "2025", "RSJ").save(tmp_path / "rsj.docx")
    text = "".join(_paragraphs(path))
    assert "上年" not in text.replace("上年结转", "")
    assert not [t for t in draft.placeholders if "上年" in t]
    assert draft.charts == ["图1　2025年新收政府信息公开申请最多的8个单位"]
    about = {
        r[0]: r[1]
        for r in openpyxl.load_workbook(tmp_path / "p.xlsx")["说明"].iter_rows(
            min_row=3, values_only=True
        )
    }
    assert about["与上年比较"] == (
        "正文未与上年比较：没有2024年度的数据，未与上年比较（可用 import-text --backfill-city "
        "导入上年已发布的全市报告，或 --backfill 导入各单位上年报告）。"
    )
    assert about["图（未画）"] == "历年办理结果图。未画：只有2025年度的数据"
    assert "较上年" not in "".join(_paragraphs(dept))


def _copy(store: SQLiteStore, path: Path) -> Store:
    """A test's own copy of the module's store (SQLite's backup: WAL content included)."""
    with sqlite3.connect(path) as target:
        store.db.conn.backup(target)
    return open_store(path)


DEPARTMENT_SENTENCE = (
    "与上年相比，本年新收政府信息公开申请254件，较上年增加10件，增长4.1%；"
    "办理答复政府信息公开申请259件，较上年增加10件，增长4.0%；"
    "予以公开78件，较上年增加10件，增长14.7%；部分公开13件，与上年持平；不予公开20件，与上年持平；"
    "无法提供108件，与上年持平；不予处理4件，与上年持平；其他处理36件，与上年持平；"
    "政府信息公开行政复议33件，与上年持平；政府信息公开行政诉讼9件，与上年持平。"
)


def test_a_department_compares_with_its_own_last_year(songjiang, tmp_path):
    """A unit whose 2024 report is stored (backfilled from its published text): its .docx and
    its page say the change at the end of its own 依申请公开 part; the others say nothing."""
    from annual_report.campaign.templates import backfill_published

    store = _copy(songjiang[0], tmp_path / "nianbao.db")
    last = sj.unit_reports(2025)["GHZY"]  # 2024: ten applications fewer, all of them granted
    last.year = 2024
    for row in ("new_received", "handled_total", "granted"):
        for column in ("natural_person", "total"):
            code = f"requests.{row}.{column}"
            last.set_raw(code, str(int(last.entries[code].value) - 10))
    backfill_published(store, sj.registry(), last, "GHZY", text=b"2024", source="text:g.txt")
    template = write_department_template(
        store, store.registry("2025"), "2025", "GHZY", tmp_path / "template.xlsx"
    )
    overview = (
        "（一）主动公开情况\n全年主动公开政府信息512条。\n"
        "（二）依申请公开情况\n严格按照法定时限答复。\n（三）政府信息管理\n落实保密审查。"
    )
    values = {c: e.value for c, e in sj.unit_reports(2025)["GHZY"].entries.items()}
    reply = fill_template(
        template, tmp_path / "GHZY-2.xlsx", values, {"narrative.overview": overview}
    )
    got = receive_workbook(store, "2025", reply, Origin("cli", sender="ghzy@songjiang.example"))
    assert got.submission.version == 2 and got.validation.ok
    try:
        texts = _paragraphs(
            department_report_from_store(store, "2025", "GHZY").save(tmp_path / "g.docx")
        )
        page = department_page_from_store(store, "2025", "GHZY")
        others = _paragraphs(
            department_report_from_store(store, "2025", "RSJ").save(tmp_path / "r.docx")
        )
    finally:
        store.close()
    at = texts.index(DEPARTMENT_SENTENCE)
    assert texts[at - 1 : at + 2] == [
        "严格按照法定时限答复。",
        DEPARTMENT_SENTENCE,
        "（三）政府信息管理",
    ]
    fees = texts.index("与上年相比，行政事业性收费金额0万元，与上年持平。")
    assert texts[fees - 1] == "全年主动公开政府信息512条。"  # the end of its 主动公开 part
    assert f"<p>{DEPARTMENT_SENTENCE}</p>\n<h3>（三）政府信息管理</h3>" in page
    assert "较上年" not in "".join(others)


def test_a_partial_last_year_is_marked_for_checking(songjiang):
    """Last year summed from fewer units than this year: the comparison is written but marked
    【待核实】, so `report --check` keeps it from being published unread."""
    store, _ = songjiang
    c = consolidate_campaign(store, "2025")
    comparison = history.year_over_year(
        store, 2025, this=c.values, form=c.form, units=len(c.included)
    )
    comparison.units_last = 3  # as if 2024 were the sum of three units' reports
    draft = city_report(c, city=sj.CITY, year=2025, office=sj.OFFICE, comparison=comparison)
    assert (
        "【待核实：上年数据仅含3个单位（本年8个），与上年的比较需核实后保留或删除】"
        in draft.placeholders
    )


@pytest.mark.libreoffice
def test_the_pages_with_the_figures(drafted, songjiang, tmp_path):
    """The report as LibreOffice prints it: the two figures are drawn in the type area, on a page
    of section 三, with their captions; the comparison sheet prints a page wide."""
    if soffice() is None:
        pytest.skip("LibreOffice is not installed")
    path = drafted[1]
    pdf = to_pdf(path, tmp_path)
    listing = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    rows = [line.split() for line in listing.splitlines()[2:] if line.strip()]
    images = [row for row in rows if row[2] == "image"]  # (their transparency is an "smask")
    assert len(images) == 2
    assert all(int(row[12]) >= 145 for row in images)  # x-ppi: drawn at 150 dpi, sharp in print
    xml = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = xml.split("<page ")[1:]
    found = [i for i, page in enumerate(pages) if page.count(">图</word>") == 2]  # a word a 字
    assert found, "the captions are on a page"
    left_mm = min(float(x) for x in re.findall(r'xMin="([\d.]+)"', pages[found[0]])) * 25.4 / 72
    assert left_mm >= 27  # nothing left of the type area (28 mm)
    png = tmp_path / "page"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "50",
            "-png",
            "-f",
            str(found[0] + 1),
            "-l",
            str(found[0] + 1),
            str(pdf),
            str(png),
        ],
        check=True,
    )
    assert list(tmp_path.glob("page*.png"))
    store = songjiang[0]
    c = consolidate_campaign(store, "2025")
    comparison = history.year_over_year(store, 2025, this=c.values, form=c.form)
    book = write_consolidation(c, tmp_path / "city.xlsx", title=TITLE, comparison=comparison)
    text = subprocess.run(
        ["pdftotext", "-layout", str(to_pdf(book, tmp_path)), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sheet_pages = re.findall(r"与上年比较 第 (\d+) 页，共 (\d+) 页", text)
    assert 3 <= len(sheet_pages) <= 7  # 205 rows, a page wide
    assert "办理答复政府信息公开申请" in text and "较上年减少44件，下降3.3%" in text


def test_import_text_backfill_city(tmp_path):
    """`nianbao import-text FILE --backfill-city` keeps a published report as the city's own
    figures of its year: the next year's report compares with it."""
    from typer.testing import CliRunner

    from flows.cli import app

    config = tmp_path / "config"
    shutil.copytree(Path(__file__).parents[1] / "config", config)
    text = FIXTURES / "text" / "complete-2023-pipes.txt"
    args = ["--config", str(config), "--data", str(tmp_path / "data")]
    runner = CliRunner()
    both = runner.invoke(
        app, ["import-text", str(text), "--backfill", "RSJ", "--backfill-city", *args]
    )
    assert both.exit_code == 2 and "give one" in both.output
    result = runner.invoke(app, ["import-text", str(text), "--backfill-city", *args])
    assert result.exit_code == 0, result.output
    assert "已保存为宜春市2023年度已发布报告的全市数据" in result.output.replace("\n", "")
    with open_store(tmp_path / "data" / "nianbao.db") as store:
        city = history.city_values(store, 2023)
        assert city.source == "published"
        assert city.values["requests.new_received.total"] == 58
        assert city.values["proactive.admin_fees.amount_wan_yuan"] == Decimal("3.56")
        assert store.accepted_submissions("2023") == []  # nobody's submission
