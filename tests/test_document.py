"""The reports as Word documents: the city draft and a department's report, reopened with
python-docx; then converted with LibreOffice to PDF and PNG to see the pages and the tables."""

from __future__ import annotations

import datetime
import importlib.util
import io
import itertools
import re
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_COLOR_INDEX
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from annual_report.consolidation import consolidate, consolidate_campaign
from annual_report.documents import layout as layout_mod
from annual_report.documents.drafting import short_name, value_text
from annual_report.documents.layout import (
    BODY_FONT,
    HEADING1_FONT,
    HEADING1_STYLE,
    HEADING2_FONT,
    HEADING2_STYLE,
    PLACEHOLDER_STYLE,
    TITLE_FONT,
    TITLE_STYLE,
    TYPE_WIDTH_MM,
    section_grid,
)
from annual_report.documents.report import (
    Draft,
    ReportContact,
    city_report,
    city_report_from_store,
    department_report,
    department_report_from_store,
    narrative_issues,
    parse_fee_statement,
    placeholders_in,
    to_pdf,
    unit_reports,
)
from annual_report.errors import DocumentError
from annual_report.form.model import load_form
from annual_report.store import open_store
from annual_report.store.base import Store, content_hash
from annual_report.text.importer import import_text

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("democity", FIXTURES / "document" / "democity.py")
democity = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(democity)  # type: ignore[union-attr]

FORM = load_form("gov-disclosure-2021")
NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
CONTACT = ReportContact(
    phone="0795-3991234",
    email="zwgk@yichun.example",
    address="宜春市宜阳大道1号",
    postcode="336000",
)
NEW = "requests.new_received.total"


@pytest.fixture(scope="module")
def consolidation():
    return consolidate(democity.units(), democity.registry(), FORM, year=democity.YEAR)


@pytest.fixture(scope="module")
def reports():
    return {u.code: u.report for u in democity.units()}


@pytest.fixture(scope="module")
def city(consolidation, reports, tmp_path_factory) -> tuple[Draft, Path]:
    draft = city_report(
        consolidation,
        city=democity.CITY,
        year=democity.YEAR,
        office=democity.OFFICE,
        contact=CONTACT,
        registry=democity.registry(),
        reports=reports,
        website="http://www.yichun.gov.cn",
        date=datetime.date(2022, 3, 20),
    )
    path = draft.save(tmp_path_factory.mktemp("city") / "city.docx")
    return draft, path


@pytest.fixture(scope="module")
def city_doc(city):
    return docx.Document(str(city[1]))


def body_text(doc) -> str:
    return "\n".join(p.text for p in doc.paragraphs)


def table_starting(doc, text: str):
    return next(t for t in doc.tables if t.cell(0, 0).text == text)


def same(table, a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Both grid positions are one (merged) cell."""
    return table.cell(*a)._tc is table.cell(*b)._tc


# -- the city report: structure -----------------------------------------------------------------


def test_title_preamble_and_the_six_sections_in_order(city_doc):
    paragraphs = city_doc.paragraphs
    assert paragraphs[0].style.name == TITLE_STYLE
    assert paragraphs[0].text == "宜春市2021年政府信息公开工作年度报告"
    preamble = paragraphs[2].text
    for phrase in (
        "《中华人民共和国政府信息公开条例》",
        "（国办公开办函〔2021〕30号）",
        "由宜春市人民政府办公室根据宜春市各级行政机关政府信息公开工作年度报告汇总编制",
        "本报告由总体情况、主动公开政府信息情况、",
        "等六个部分组成",
        "自2021年1月1日起至2021年12月31日止",
        "“宜春市人民政府”门户网站（http://www.yichun.gov.cn）查阅或下载",
        "请与宜春市人民政府办公室联系（地址：宜春市宜阳大道1号；邮编：336000；"
        "电话：0795-3991234；电子邮箱：zwgk@yichun.example）",
    ):
        assert phrase in preamble
    headings = [p.text for p in paragraphs if p.style.name == HEADING1_STYLE]
    assert headings == [s.heading for s in FORM.sections]  # no appendix: provenance is a file
    parts = [p.text for p in paragraphs if p.style.name == HEADING2_STYLE]
    assert parts == [
        "（一）主动公开",
        "（二）依申请公开",
        "（三）政府信息管理",
        "（四）政府信息公开平台建设",
        "（五）监督保障",
    ]
    # tables 二, 三, 四 right after their headings
    body = city_doc.element.body
    for section in FORM.sections[1:4]:
        heading = next(p for p in paragraphs if p.text == section.heading)
        assert heading._p.getnext().tag == qn("w:tbl")
    assert body[-1].tag == qn("w:sectPr")


def test_table_three_has_the_national_layout_and_exact_values(city_doc, consolidation):
    table = table_starting(city_doc, NOTE)
    assert len(table.columns) == 10 and len(table.rows) == 3 + 25
    assert same(table, (0, 0), (2, 2))  # the 勾稽 note over three header rows and label columns
    assert table.cell(0, 3).text == "申请人情况" and same(table, (0, 3), (0, 9))
    assert table.cell(1, 3).text == "自然人" and same(table, (1, 3), (2, 3))
    assert table.cell(1, 4).text == "法人或其他组织" and same(table, (1, 4), (1, 8))
    assert [table.cell(2, c).text for c in range(4, 9)] == [
        "商业企业",
        "科研机构",
        "社会公益组织",
        "法律服务机构",
        "其他",
    ]
    assert table.cell(1, 9).text == "总计" and same(table, (1, 9), (2, 9))
    assert table.cell(3, 0).text == "一、本年新收政府信息公开申请数量" and same(
        table, (3, 0), (3, 2)
    )
    assert table.cell(5, 0).text == "三、本年度办理结果" and same(table, (5, 0), (26, 0))
    assert table.cell(7, 1).text == "（三）不予公开" and same(table, (7, 1), (14, 1))
    assert table.cell(7, 2).text == "1.属于国家秘密"
    assert table.cell(27, 0).text == "四、结转下年度继续办理"
    assert table.cell(3, 9).text == str(consolidation.values[NEW])
    grid = section_grid(FORM, FORM.section(3))
    for r1, c1, r2, c2, code in grid.values:
        assert (r1, c1) == (r2, c2)
        assert table.cell(r1, c1).text == value_text(consolidation.values[code]), code
    # header rows repeat on every page
    flags = [row._tr.trPr.find(qn("w:tblHeader")) is not None for row in table.rows]
    assert flags == [True] * 3 + [False] * 25


def test_tables_two_and_four_and_exact_money(city_doc, consolidation):
    two = table_starting(city_doc, "第二十条第（一）项")
    texts = [c.text for row in two.rows for c in row.cells]
    assert "本年收费金额（单位：万元）" in texts
    assert consolidation.values[democity.FEE] == democity.TOTAL_FEE
    assert "72701.2578" in texts
    assert two.cell(2, 1).text == "3"  # 规章 only from the government itself
    four = table_starting(city_doc, "行政复议")
    assert same(four, (0, 0), (0, 4)) and same(four, (0, 5), (0, 14))
    assert four.cell(1, 5).text == "未经复议直接起诉" and same(four, (1, 5), (1, 9))
    assert four.cell(1, 0).text == "结果维持" and same(four, (1, 0), (2, 0))
    assert four.cell(3, 4).text == str(consolidation.values["review.total"])
    assert "72701.2578万元" in body_text(city_doc)


def test_every_table_fills_the_type_area_exactly(city_doc):
    for table in city_doc.tables:
        grid = [int(c.get(qn("w:w"))) for c in table._tbl.tblGrid.findall(qn("w:gridCol"))]
        width = table._tbl.tblPr.find(qn("w:tblW"))
        assert int(width.get(qn("w:w"))) == sum(grid)
        assert abs(sum(grid) / 20 - TYPE_WIDTH_MM * 72 / 25.4) < 1  # points, within rounding
        assert table._tbl.tblPr.find(qn("w:tblLayout")).get(qn("w:type")) == "fixed"


# -- the city report: the drafted text ------------------------------------------------------------


def test_section_one_names_totals_units_and_outcomes(city_doc, consolidation):
    text = body_text(city_doc)
    b = consolidation.breakdown[NEW]
    departments = b["FGW"] + b["GAJ"] + b["ZRZYJ"]
    counties = sorted(((b["ZSS"], "樟树市"), (b["FCS"], "丰城市")), key=lambda vn: -vn[0])
    expected = (
        f"2021年，全市共收到政府信息公开申请{consolidation.values[NEW]}件，其中市政府{b['SZF']}件、"
        f"市各有关部门{departments}件、{counties[0][1]}{counties[0][0]}件、"
        f"{counties[1][1]}{counties[1][0]}件、温汤镇{b['WTZ']}件。"
    )
    assert expected in text
    top = max(("FGW", "GAJ", "ZRZYJ"), key=lambda c: b[c])
    name = short_name(democity.registry()[top].name, "department", "宜春市")
    assert f"市各有关部门中，申请量较多的是{name}{b[top]}件" in text
    granted = consolidation.values["requests.granted.total"]
    assert f"其中予以公开{granted}件，" in text
    carried = consolidation.values["requests.carried_to_next_year.total"]
    assert f"结转下年度继续办理{carried}件。" in text
    assert "宜春市人民政府制发规章3件，废止1件，现行有效规章42件" in text
    assert "XFJ" not in text and "信访局" not in text  # excluded unit
    assert "附件" not in text and "名单见" not in text  # nothing that is deleted before publishing
    assert "本报告汇总了市政府、3个市直部门、2个县（市、区）和1个乡镇（街道）共7个单位" in text


def test_placeholders_are_marked_and_listed(city_doc, city, consolidation, tmp_path):
    draft, path = city
    # the units wrote of everything but 政府信息管理's ... no: every part is drafted; only the
    # fee checks (a unit silent, one unclear) are left, and they are marked
    assert draft.placeholders == [
        "【待核实：以下单位第六部分未说明信息处理费收取情况：温汤镇人民政府】",
        next(p for p in draft.placeholders if p.startswith("【待核实：丰城市人民政府办公室")),
    ]
    for p in city_doc.paragraphs:
        for run in p.runs:
            if run.text.startswith("【待"):
                assert run.style.name == PLACEHOLDER_STYLE
    assert city_doc.styles[PLACEHOLDER_STYLE].font.highlight_color == WD_COLOR_INDEX.YELLOW
    assert placeholders_in(path) == draft.placeholders
    # without units' texts and without a date: what no data says is a placeholder
    bare = city_report(consolidation, city="宜春市", office=democity.OFFICE)
    assert "【待补充：成文日期】" in bare.placeholders
    assert "【待补充：工作考核、社会评议和责任追究结果情况】" in bare.placeholders
    assert "【待补充：存在的主要问题】" in bare.placeholders
    # an edited file: the coordinator filled some in, typed others over in plain style
    doc = docx.Document(str(path))
    for p in doc.paragraphs:
        if "温汤镇人民政府】" in p.text:
            for run in p.runs:
                run.text = run.text.replace("【待核实：以下单位第六部分未说明", "经核实，")
                run.text = run.text.replace("收取情况：温汤镇人民政府】", "温汤镇未收取。")
    doc.save(str(tmp_path / "edited.docx"))
    assert placeholders_in(tmp_path / "edited.docx") == draft.placeholders[1:]


def test_sections_one_five_six_gather_the_units_own_words(city_doc):
    text = body_text(city_doc)
    # the same point in several units' words, written once with who wrote it
    assert (
        "严格落实保密审查制度，坚持先审查后公开（市发展和改革委员会、市公安局等4个单位）。" in text
    )
    assert (
        "2021年，宜春市各级行政机关认真贯彻落实《中华人民共和国政府信息公开条例》，坚持以公开为"
        "常态、不公开为例外，扎实推进政府信息公开工作（市政府、市发展和改革委员会等4个单位）。"
    ) in text
    # one unit's own figures stay that unit's
    assert "市政府组织开展政务公开业务培训2次，培训人员300余人次。" in text
    # 工作考核 written by units: no placeholder for it
    assert "将政务公开工作纳入全市高质量发展综合考核，考核结果在全市通报（市政府）。" in text
    # the units' own counts of proactive disclosures, summed and traced
    assert "据6个单位年度报告所述，全年共主动公开政府信息15145条" in text
    # 五: problems and improvements enumerated, lead-ins dropped
    assert (
        "存在的主要问题：一是政策解读形式较为单一（市政府、市发展和改革委员会等4个单位）；" in text
    )
    assert "二是部分单位信息更新不够及时（市政府、市自然资源局）" in text
    assert "改进情况：一是丰富政策解读形式，提高解读质量（市政府）；" in text
    assert "存在的主要问题（" not in text and "以下工作" not in text
    # 六: other matters, without the nil lines and fee sentences
    assert "市政府共办理人大代表建议56件、政协提案87件，办理结果已全部公开。" in text
    assert "无其他需要报告的事项" not in text
    # application counts are the tables' (the units' own 999 is not repeated)
    assert "999" not in text
    # nothing of the units' self-reference survives
    for word in ("我局", "本机关", "市政府办公室共"):
        assert word not in text.split("六、其他需要报告的事项")[0] or word == "本机关"


def test_section_six_lists_the_fees_from_the_units_texts(city_doc, city):
    draft, _ = city
    assert {c: s.status for c, s in draft.fees.items()} == {
        "SZF": "collected",
        "FGW": "none",
        "GAJ": "collected",
        "ZRZYJ": "collected",
        "WTZ": "silent",
        "FCS": "unclear",
        "ZSS": "none",
        "XFJ": "collected",  # read, but the unit is not in the sums
    }
    total = sum(democity.COLLECTED.values())
    text = body_text(city_doc)
    assert (
        f"2021年，全市共有3个单位按照《政府信息公开信息处理费管理办法》收取信息处理费，金额合计{total}元"
        in text
    )
    table = table_starting(city_doc, "序号")
    rows = [[c.text for c in row.cells] for row in table.rows]
    assert rows == [
        ["序号", "单位", "笔数", "金额（元）"],
        ["1", "宜春市自然资源局", "", "1200"],
        ["2", "宜春市公安局", "3", "450"],
        ["3", "宜春市人民政府办公室", "1", "300"],
        ["", "合计", "", "1950"],
    ]
    assert "【待核实：以下单位第六部分未说明信息处理费收取情况：温汤镇人民政府】" in text
    assert "【待核实：丰城市人民政府办公室第六部分提及信息处理费，但未能识别金额" in text


def test_the_provenance_file_traces_units_figures_and_sentences(city, consolidation, tmp_path):
    import openpyxl

    draft, _ = city
    path = draft.save_provenance(tmp_path / "来源.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [
        "说明",
        "纳入与未纳入单位",
        "正文数字",
        "正文数字的分单位来源",
        "正文文字的来源",
        "信息处理费",
    ]
    units = {r[1]: r for r in wb["纳入与未纳入单位"].iter_rows(min_row=3, values_only=True)}
    assert units["宜春市信访局"][3] == "未纳入" and units["宜春市人民政府办公室"][3] == "纳入"
    assert units["宜春市人民政府办公室"][4] == "已纳入汇总"
    every = [str(v) for ws in wb for row in ws.iter_rows(values_only=True) for v in row if v]
    for code in ("SZF", "GAJ", "XFJ", "ZRZYJ"):  # unit names, never codes
        assert not any(v == code or f"（{code}）" in v for v in every)
    figures = {r[1]: r for r in wb["正文数字"].iter_rows(min_row=3, values_only=True)}
    assert len(figures) == len({f.label for f in draft.figures})
    received = figures["全市收到政府信息公开申请"]
    assert received[2] == f"{consolidation.values[NEW]}件"
    assert received[3] == "表三“一、本年新收政府信息公开申请数量”行“总计”列"
    shares = [r for r in wb["正文数字的分单位来源"].iter_rows(min_row=3, values_only=True)]
    b = consolidation.breakdown[NEW]
    mine = {r[2]: r[3] for r in shares if r[1] == "全市收到政府信息公开申请"}
    assert mine == {democity.registry()[c].name: str(b[c]) for c in b if b[c]}
    for figure in draft.figures:  # every share adds up to the number written
        assert sum((c.value for c in figure.contributions), Decimal(0)) == figure.value
    sentences = list(wb["正文文字的来源"].iter_rows(min_row=3, values_only=True))
    secrecy = [r for r in sentences if r[1] and r[1].startswith("严格落实保密审查制度")]
    assert {r[2] for r in secrecy} == {
        "宜春市发展和改革委员会",
        "宜春市公安局",
        "宜春市自然资源局",
        "温汤镇人民政府",
    }
    assert any("我局严格落实保密审查制度" in r[3] for r in secrecy)  # the unit's own words
    fees = {r[0]: r[1] for r in wb["信息处理费"].iter_rows(min_row=3, values_only=True)}
    assert fees["宜春市公安局"] == "已收取" and fees["温汤镇人民政府"] == "未说明"
    assert "宜春市信访局" not in fees


def test_lateness_in_days():
    from zoneinfo import ZoneInfo

    from annual_report.campaign.lateness import days_late
    from annual_report.documents.provenance import lateness_text

    at = datetime.datetime
    zone, utc = ZoneInfo("Asia/Shanghai"), ZoneInfo("UTC")
    deadline = datetime.date(2022, 1, 26)
    assert days_late(at(2022, 1, 26, 23, 59, tzinfo=zone), deadline, zone) == 0
    assert days_late(at(2022, 1, 26, 16, 30, tzinfo=utc), deadline, zone) == 1  # 00:30 next day
    assert days_late(at(2022, 1, 29, 9, 0, tzinfo=zone), deadline, zone) == 3
    assert lateness_text(3, True) == "逾期报送（3天）"
    assert lateness_text(0, True) == "按时报送" and lateness_text(None, False) == "未报送"


def test_c5_runs_on_the_draft_and_on_each_unit(city):
    draft, _ = city
    assert [i for i in draft.issues if i.unit is None] == []  # the draft agrees with its tables
    by_unit = [(i.unit, i.rule) for i in draft.issues]
    assert by_unit == [(democity.MISQUOTED, "C5")]
    issue = draft.issues[0]
    assert "999件" in issue.message and issue.text.startswith("温汤镇人民政府：")


def test_department_text_never_becomes_a_field(city):
    _, path = city
    with zipfile.ZipFile(path) as z:
        body = z.read("word/document.xml").decode()
        footers = [z.read(n).decode() for n in z.namelist() if n.startswith("word/footer")]
    assert "fldSimple" not in body.replace("&lt;w:fldSimple", "")
    assert "instrText" not in body and "fldChar" not in body
    assert "{ PAGE }" in body and "=SUM(A1)" in body and "&lt;w:fldSimple" in body
    instructions = [re.findall(r"<w:instrText[^>]*>([^<]*)<", f) for f in footers]
    assert sorted(i for f in instructions for i in f) == [" PAGE ", " PAGE "]


# -- page setup and fonts --------------------------------------------------------------------


def test_page_setup_follows_gb_t_9704(city_doc):
    section = city_doc.sections[0]

    def mm(length, expected):  # stored in twips: equal within rounding
        return abs(length - Mm(expected)) < Mm(0.05)

    assert mm(section.page_width, 210) and mm(section.page_height, 297)
    assert mm(section.top_margin, 37) and mm(section.left_margin, 28)
    assert mm(section.page_width - section.left_margin - section.right_margin, 156)
    assert mm(section.page_height - section.top_margin - section.bottom_margin, 225)
    grid = section._sectPr.find(qn("w:docGrid"))
    assert grid.get(qn("w:linePitch")) == "579"  # 28.95 pt: 22 lines in 225 mm
    styles = city_doc.styles
    body = styles["Normal"]
    assert body.font.size == Pt(16)
    assert body.paragraph_format.line_spacing == Pt(28.95)
    expected = {
        "Normal": (BODY_FONT, 16),
        TITLE_STYLE: (TITLE_FONT, 22),
        HEADING1_STYLE: (HEADING1_FONT, 16),
        HEADING2_STYLE: (HEADING2_FONT, 16),
    }
    for name, (font, size) in expected.items():
        style = styles[name]
        assert style.element.rPr.rFonts.get(qn("w:eastAsia")) == font, name
        assert style.font.size == Pt(size), name
    assert (BODY_FONT, HEADING1_FONT, HEADING2_FONT) == ("仿宋_GB2312", "黑体", "楷体_GB2312")
    assert TITLE_FONT == "方正小标宋简体"
    # page numbers: 4号 宋体 "— 1 —", odd pages right, even pages left
    assert city_doc.settings.odd_and_even_pages_header_footer
    odd, even = section.footer.paragraphs[0], section.even_page_footer.paragraphs[0]
    assert odd.alignment == 2 and even.alignment == 0  # RIGHT, LEFT
    assert odd.text == "— 1 —"
    run = odd.runs[0]
    assert run.font.size == Pt(14) and run._r.rPr.rFonts.get(qn("w:eastAsia")) == "宋体"


# -- other forms, the store, a department -----------------------------------------------------


def test_a_2019_format_city_report(tmp_path):
    form = load_form("gov-disclosure-2019")
    c = consolidate(democity.units(form.id, 2020), democity.registry(), form, year=2020)
    draft = city_report(c, city="宜春市", year=2020, office=democity.OFFICE)
    doc = docx.Document(str(draft.save(tmp_path / "city-2019.docx")))
    headings = [p.text for p in doc.paragraphs if p.style.name == HEADING1_STYLE]
    assert headings == [s.heading for s in form.sections]
    assert "（国办公开办函〔2019〕60号）" in doc.paragraphs[2].text
    assert "年度报告格式（试行）" in doc.paragraphs[2].text
    assert table_starting(doc, NOTE).cell(3, 9).text == str(c.values[NEW])
    assert "【待补充：信息处理费收取情况（未提供各单位第六部分原文，无法汇总）】" in body_text(doc)
    assert [i.unit for i in draft.issues] == []


def _store(tmp_path) -> Store:
    store = open_store(tmp_path / "state.db")
    store.create_campaign("2021", 2021, registry=democity.registry())
    for unit in democity.units():
        store.record_submission(
            "2021",
            sha256=content_hash(unit.code.encode()),
            source="cli",
            department=unit.code,
            validation=unit.validation,
            file_name=f"{unit.code}.xlsx",
        )
    return store


def test_the_city_report_from_the_store(tmp_path, consolidation):
    store = _store(tmp_path)
    draft = city_report_from_store(store, "2021", office=democity.OFFICE, contact=CONTACT)
    doc = docx.Document(str(draft.save(tmp_path / "store.docx")))
    assert doc.paragraphs[0].text == "宜春市2021年政府信息公开工作年度报告"
    assert table_starting(doc, NOTE).cell(3, 9).text == str(consolidation.values[NEW])
    assert "72701.2578" in [c.text for c in table_starting(doc, "第二十条第（一）项")._cells]
    assert {c for c, s in draft.fees.items() if s.status == "collected"} == {"SZF", "GAJ", "ZRZYJ"}
    assert [(i.unit, i.rule) for i in draft.issues] == [(democity.MISQUOTED, "C5")]
    stored = unit_reports(store, consolidate_campaign(store, "2021"))
    assert set(stored) == {"SZF", "FGW", "GAJ", "ZRZYJ", "WTZ", "ZSS", "FCS"}

    dept = department_report_from_store(store, "2021", "GAJ")
    doc = docx.Document(str(dept.save(tmp_path / "gaj.docx")))
    assert doc.paragraphs[0].text == "宜春市公安局\n2021年政府信息公开工作年度报告"
    with pytest.raises(DocumentError):
        department_report_from_store(store, "2021", "XFJ")  # rejected: nothing to publish


def test_a_department_report_from_a_real_published_text(tmp_path):
    seed = import_text((FIXTURES / "seed-zhangshu-rsj-2021.txt").read_text(encoding="utf-8"))
    draft = department_report(seed, department_name="樟树市人社局", contact=CONTACT)
    doc = docx.Document(str(draft.save(tmp_path / "seed.docx")))
    text = body_text(doc)
    # too long for one line of 2号: the organ's name on a line of its own
    assert doc.paragraphs[0].text == "樟树市人社局\n2021年政府信息公开工作年度报告"
    parts = [p.text for p in doc.paragraphs if p.style.name == HEADING2_STYLE]
    assert parts == [
        "主动公开情况",
        "依申请公开情况",
        "政府信息管理情况",
        "政府信息公开平台建设",
        "监督保障",
    ]
    assert "我局全年共主动公开政府信息66条" in text
    # the unit's own signature and date at the end of section 6 sign the document
    assert [p.text for p in doc.paragraphs[-2:]] == ["樟树市人社局", "2022年1月19日"]
    assert text.endswith("本机关无收取信息处理费情况。\n\n樟树市人社局\n2022年1月19日")
    two = table_starting(doc, "第二十条第（一）项")
    assert "11.28" in [c.text for c in two._cells]  # money as written
    assert table_starting(doc, NOTE).cell(3, 9).text == "0"
    assert draft.issues == []
    assert {c: s.status for c, s in draft.fees.items()} == {"樟树市人社局": "none"}


def test_a_department_narrative_stays_plain_text(tmp_path):
    values = democity.unit_values(FORM, "GAJ", 13, "0")
    rep = democity.report(FORM, values, "GAJ")
    rep.narrative = {
        "narrative.overview": (
            f"主动公开情况\n{democity.HOSTILE}\x0c\x01全年共收到政府信息公开申请3件。"
        ),
        "narrative.problems": '=HYPERLINK("http://x")',
        "narrative.other_matters": "",
    }
    draft = department_report(rep, department_name="宜春市公安局{ PAGE }", year=2021)
    path = draft.save(tmp_path / "hostile.docx")
    with zipfile.ZipFile(path) as z:
        body = z.read("word/document.xml").decode()
    assert "instrText" not in body and "fldChar" not in body
    assert "fldSimple" not in body.replace("&lt;w:fldSimple", "")
    assert "=HYPERLINK(&quot;http://x&quot;)" in body or '=HYPERLINK("http://x")' in body
    doc = docx.Document(str(path))
    assert doc.paragraphs[0].text.startswith("宜春市公安局{ PAGE }")
    assert "【待补充：其他需要报告的事项（单位未填写）】" in body_text(doc)
    new = values[NEW]
    assert [(i.rule, i.unit) for i in draft.issues] == ([] if new == 3 else [("C5", "GAJ")])
    assert narrative_issues(rep) == [] if new == 3 else len(narrative_issues(rep)) == 1


@pytest.mark.parametrize(
    ("text", "status", "amount", "cases"),
    [
        ("本机关收取信息处理费1200元。", "collected", "1200", None),
        ("2021年共收取信息处理费共计3笔，金额450元。", "collected", "450", 3),
        ("收取信息处理费2笔，合计1,250.50元；其中一笔1000.50元。", "collected", "1250.50", 2),
        ("本年度收取信息处理费0.12万元。", "collected", "1200.00", None),
        ("2021年度，本机关无收取信息处理费情况。", "none", "0", None),
        ("本机关未收取任何信息处理费。", "none", "0", None),
        ("本年度收取信息处理费0元。", "none", "0", None),
        ("对逾期未缴纳信息处理费的申请不再处理。", "unclear", None, None),
        ("收取信息处理费，分别为100元和200元。", "unclear", None, None),
        ("无其他需要报告的事项。", "silent", None, None),
        ("", "silent", None, None),
    ],
)
def test_fee_statements(text, status, amount, cases):
    statement = parse_fee_statement(text)
    assert statement.status == status
    assert statement.amount_yuan == (Decimal(amount) if amount is not None else None)
    assert statement.cases == cases


def test_short_names():
    assert short_name("宜春市教育局", "department", "宜春市") == "市教育局"
    assert short_name("樟树市人民政府办公室", "county", "宜春市") == "樟树市"
    assert short_name("温汤镇人民政府", "township", "宜春市") == "温汤镇"
    assert short_name("秀江街道办事处", "township", "宜春市") == "秀江街道"
    assert short_name("临潼区水务局", "department", "临潼区") == "区水务局"


def test_a_city_report_with_no_unit_in_the_sums(tmp_path):
    units = [u for u in democity.units() if u.code == "XFJ"]  # has errors
    c = consolidate(units, democity.registry(), FORM)
    with pytest.raises(DocumentError, match="year"):
        city_report(c, city="宜春市", office=democity.OFFICE)
    draft = city_report(c, city="宜春市", year=2021, office=democity.OFFICE, reports={})
    doc = docx.Document(io.BytesIO(draft.to_bytes()))
    text = body_text(doc)
    assert "本报告汇总了0个单位报送的年度报告数据" in text
    assert "2021年，全市未收到政府信息公开申请。" in text
    assert "全市未发生因政府信息公开工作被申请行政复议、提起行政诉讼的情况。" in text
    assert "2021年，全市各级行政机关均未收取政府信息公开信息处理费。" in text
    assert draft.issues == []


def test_to_pdf_without_libreoffice_is_a_clear_error(tmp_path, monkeypatch, city):
    monkeypatch.setattr(layout_mod.shutil, "which", lambda name: None)
    with pytest.raises(DocumentError, match="LibreOffice"):
        to_pdf(city[1], tmp_path)
    with pytest.raises(DocumentError, match="no such document"):
        to_pdf(tmp_path / "missing.docx", tmp_path)


# -- rendered by LibreOffice ------------------------------------------------------------------

A4 = (595.3, 841.9)
PT = 72 / 25.4
TYPE_LEFT, TYPE_RIGHT = 28 * PT, (210 - 26) * PT
HANGING = "，。、；：！？）》”’"


@pytest.fixture(scope="module")
def rendered(city, tmp_path_factory) -> dict[str, Path]:
    """The city draft and a long department report as PDF (skipped without LibreOffice Writer)."""
    out = tmp_path_factory.mktemp("pdf")
    values = democity.unit_values(FORM, "GAJ", 13, "0")
    rep = democity.report(FORM, values, "GAJ")
    rep.narrative = {
        "narrative.overview": "政府信息公开" * 300,  # pages of plain body text
        "narrative.problems": "无。",
        "narrative.other_matters": "本机关未收取信息处理费。",
    }
    dept = department_report(rep, department_name="宜春市公安局", year=2021).save(out / "dept.docx")
    try:
        return {"city": to_pdf(city[1], out), "dept": to_pdf(dept, out)}
    except DocumentError as exc:
        pytest.skip(f"LibreOffice cannot convert .docx here: {exc}")


def words(pdf: Path) -> list[tuple[int, float, float, float, float, str]]:
    """``(page, xMin, yMin, xMax, yMax, text)`` of every word (pdftotext -bbox)."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True, timeout=60
    ).stdout.decode()
    out = []
    for page, chunk in enumerate(html.split("<page ")[1:], 1):
        for m in re.finditer(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
            chunk,
        ):
            out.append((page, *map(float, m.groups()[:4]), m.group(5)))
    return out


def pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, timeout=60)
    return int(re.search(r"Pages:\s+(\d+)", info.stdout.decode()).group(1))


@pytest.mark.libreoffice
def test_the_pdf_pages_are_a4_and_nothing_is_cut(rendered):
    pdf = rendered["city"]
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True).stdout.decode()
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())
    assert abs(width - A4[0]) < 1 and abs(height - A4[1]) < 1
    found = words(pdf)
    assert pages(pdf) >= 4
    # only a closing punctuation mark may hang into the margin (CJK 标点悬挂, as in Word)
    outside = [
        w
        for w in found
        if w[1] < TYPE_LEFT - 1.5
        or (w[3] > TYPE_RIGHT + 1.5 and not (w[5][-1] in HANGING and w[3] <= TYPE_RIGHT + 16.5))
    ]
    assert outside == []
    # table 三's rightmost column label is on the page, inside the type area
    totals = [w for w in found if w[5] == "总计"]
    assert totals and all(w[1] > TYPE_LEFT and w[3] <= TYPE_RIGHT + 1.5 for w in totals)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True
    ).stdout.decode()
    assert "72701.2578" in text and "勾稽关系" in text
    for n in (1, 2):  # page numbers "— n —"
        page = subprocess.run(
            ["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],
            check=True,
            capture_output=True,
        ).stdout.decode()
        assert f"—{n}—" in re.sub(r"\s", "", page)


@pytest.mark.libreoffice
def test_body_pages_have_22_lines_of_28_characters(rendered):
    found = words(rendered["dept"])
    page2 = [w for w in found if w[0] == 2 and w[2] < 297 * PT - 30 * PT]  # above the footer
    lines = sorted({round(w[2], 1) for w in page2})
    assert len(lines) == 22
    pitches = [b - a for a, b in itertools.pairwise(lines)]
    assert all(abs(p - 28.95) < 0.3 for p in pitches)
    full = [w[5] for w in page2]
    assert {len(t) for t in full} == {28}  # every line of pure body text: 28 characters


@pytest.mark.libreoffice
def test_every_page_renders_to_png(rendered, tmp_path):
    pdf = rendered["city"]
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == pages(pdf)
    assert all(p.read_bytes().startswith(b"\x89PNG") and p.stat().st_size > 2000 for p in images)


# -- glyphs: Simplified Chinese, whatever the machine's locale ------------------------------------

_gspec = importlib.util.spec_from_file_location("glyphs", FIXTURES / "document" / "glyphs.py")
glyphs = importlib.util.module_from_spec(_gspec)  # type: ignore[arg-type]
sys.modules["glyphs"] = glyphs  # its dataclass looks itself up there
_gspec.loader.exec_module(glyphs)  # type: ignore[union-attr]


def test_every_run_says_zh_cn(city):
    _, path = city
    with zipfile.ZipFile(path) as z:
        body = z.read("word/document.xml").decode()
        styles = z.read("word/styles.xml").decode()
    runs = re.findall(r"<w:r>.*?</w:r>|<w:r .*?</w:r>", body, flags=re.S)
    texts = [r for r in runs if "<w:t" in r]
    assert texts and all('w:eastAsia="zh-CN"' in r for r in texts)
    defaults = re.search(r"<w:docDefaults>.*</w:docDefaults>", styles, flags=re.S).group(0)
    assert 'w:eastAsia="zh-CN"' in defaults


@pytest.mark.libreoffice
def test_the_pdf_draws_simplified_glyphs_even_under_a_japanese_locale(
    city, consolidation, tmp_path, monkeypatch
):
    """pdffonts names Debian's Noto CJK collections "jp" whatever face is used: the glyph ids
    tell. A Japanese locale makes LibreOffice draw untagged text (every .xlsx cell) with the
    JP glyphs; the conversion profile's zh-CN default and the runs' tags keep them SC."""
    if not glyphs.NOTO.joinpath("NotoSerifCJK-Regular.ttc").exists():
        pytest.skip("Debian's fonts-noto-cjk is not installed")
    from annual_report.consolidation import write_consolidation

    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    monkeypatch.setenv("LC_ALL", "ja_JP.UTF-8")
    _, path = city
    book = write_consolidation(consolidation, tmp_path / "city.xlsx", title="宜春市2021年")
    try:
        pdf = to_pdf(path, tmp_path)
        sheets = to_pdf(book, tmp_path)
    except DocumentError as exc:
        pytest.skip(f"LibreOffice cannot convert here: {exc}")
    text = body_text(docx.Document(str(path)))
    found = glyphs.glyph_regions(pdf, text)
    assert found.checked > 50 and found.sc == found.checked and found.jp == 0
    import openpyxl

    wb = openpyxl.load_workbook(book)
    cells = "".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value)
    found = glyphs.glyph_regions(sheets, cells)
    assert found.checked > 50 and found.sc == found.checked and found.jp == 0
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, check=True).stdout
    substituted = layout_mod.font_substitutions()
    for name in layout_mod.GB_FONTS:  # a missing GB font never reaches the PDF by its name
        if name in substituted:
            assert name.encode() not in fonts


# -- the report command -------------------------------------------------------------------------


@pytest.fixture
def office(tmp_path):
    """The example configuration with every unit's report stored, some late."""
    import random
    import shutil
    from datetime import datetime as dt
    from zoneinfo import ZoneInfo

    from annual_report.campaign.registry import load_registry
    from annual_report.report import Report
    from annual_report.samples import consistent_values
    from annual_report.validation import Validation

    config = tmp_path / "config"
    shutil.copytree(Path(__file__).parents[1] / "config", config)
    registry = load_registry(config)
    store = open_store(tmp_path / "data" / "nianbao.db")
    store.create_campaign("2021", 2021, registry=registry, deadline=datetime.date(2022, 1, 26))
    texts = list(democity.OVERVIEWS.values())
    zone = ZoneInfo("Asia/Shanghai")
    for i, dept in enumerate(registry):
        values = consistent_values(FORM, random.Random(i))
        rep = Report(form=FORM, year=2021, department=dept.code, method="defined-names")
        for code, value in values.items():
            rep.set_raw(code, format(value, "f"))
        rep.narrative = {
            "narrative.overview": texts[i % len(texts)].replace("999", "3"),
            "narrative.problems": list(democity.PROBLEMS.values())[i % 7],
            "narrative.other_matters": "本机关未收取信息处理费。",
        }
        store.record_submission(
            "2021",
            sha256=content_hash(dept.code.encode()),
            source="cli",
            department=dept.code,
            validation=Validation(rep, []),
            file_name=f"{dept.code}.xlsx",
            received_at=dt(2022, 1, 20 + i % 10, 10, 0, tzinfo=zone),
        )
    store.close()
    return config, tmp_path / "data", registry


def test_the_report_command_writes_the_draft_its_provenance_and_checks(office, tmp_path):
    import openpyxl
    from typer.testing import CliRunner

    from flows.cli import app

    config, data, registry = office
    runner = CliRunner()
    out = tmp_path / "out" / "city.docx"
    args = ["--config", str(config), "--data", str(data)]
    result = runner.invoke(app, ["report", "--docx", str(out), *args])
    assert result.exit_code == 0, result.output
    source = out.with_name("city（数据来源）.xlsx")
    assert out.exists() and source.exists()
    assert f"已写入 {source}" in result.output.replace("\n", "")
    # the date: not approved yet, the draft's day; the rule is in the provenance file
    wb = openpyxl.load_workbook(source)
    about = {r[0]: r[1] for r in wb["说明"].iter_rows(min_row=3, values_only=True)}
    assert "汇总结果尚未批准" in about["成文日期"]
    units = {r[1]: r for r in wb["纳入与未纳入单位"].iter_rows(min_row=3, values_only=True)}
    assert set(units) == {d.name for d in registry}
    late = {name: r[8] for name, r in units.items()}
    # SLJD's deadline is 28 January (the plan's override), the others' 26 January
    for i, dept in enumerate(registry):
        day = 20 + i % 10
        due = 28 if dept.code == "SLJD" else 26
        expected = f"逾期报送（{day - due}天）" if day > due else "按时报送"
        assert late[dept.name] == expected, dept.code
    # a fresh draft's placeholders, then the edited file's
    result = runner.invoke(app, ["report", "--check", *args])
    placeholders = placeholders_in(out)
    assert result.exit_code == (1 if placeholders else 0)
    doc = docx.Document(str(out))
    for p in doc.paragraphs:
        for run in p.runs:
            if run.text.startswith("【待"):
                run.text = "（已由协调人填写）"
    doc.save(str(out))
    result = runner.invoke(app, ["report", "--check", "--docx", str(out), *args])
    assert result.exit_code == 0 and "没有待补充或待核实的内容" in result.output
    doc.paragraphs[-1].add_run("【待补充：成文日期】")
    doc.save(str(out))
    result = runner.invoke(app, ["report", "--check", "--docx", str(out), *args])
    assert result.exit_code == 1 and "【待补充：成文日期】" in result.output
    # approved: the approval's day is the 成文日期
    store = open_store(data / "nianbao.db")
    store.set_state("2021", "consolidation.approved", {"at": "2022-02-05T10:00:00+08:00"})
    store.close()
    result = runner.invoke(app, ["report", "--docx", str(out), *args])
    assert result.exit_code == 0, result.output
    assert docx.Document(str(out)).paragraphs[-1].text == "2022年2月5日"
    # a department's page
    page = tmp_path / "fgw.html"
    result = runner.invoke(app, ["report", "--department", "fgw", "--html", str(page), *args])
    assert result.exit_code == 0, result.output
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not page.with_suffix(".docx").exists()
    result = runner.invoke(app, ["report", "--html", str(page), *args])
    assert result.exit_code == 2 and "--department" in result.output


# -- a department's web page --------------------------------------------------------------------


def _seed_page() -> str:
    from annual_report.documents.webpage import department_page

    seed = import_text((FIXTURES / "seed-zhangshu-rsj-2021.txt").read_text(encoding="utf-8"))
    return department_page(
        seed, department_name="樟树市人社局", contact=CONTACT, website="http://www.zhangshu.gov.cn"
    )


def test_the_web_page_has_the_national_tables_and_nothing_active():
    from html.parser import HTMLParser

    page = _seed_page()
    assert page.startswith('<!DOCTYPE html>\n<html lang="zh-CN">')
    assert "<script" not in page and "javascript:" not in page
    assert not re.search(r"\son[a-z]+\s*=", page)  # no event handlers
    assert "@media print" in page and "@page{size:A4" in page

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables: list[list[list[tuple[str, dict]]]] = []
            self.text = None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append([])
            elif tag == "tr":
                self.tables[-1].append([])
            elif tag in ("td", "th"):
                self.tables[-1][-1].append(["", dict(attrs)])
                self.text = self.tables[-1][-1][-1]

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.text = None

        def handle_data(self, data):
            if self.text is not None:
                self.text[0] += data

    parser = Cells()
    parser.feed(page)
    assert len(parser.tables) == 3
    three = parser.tables[1]
    assert three[0][0][0] == NOTE and three[0][0][1] == {
        "class": "corner long",
        "rowspan": "3",
        "colspan": "3",
    }
    assert [c[0] for c in three[0]] == [NOTE, "申请人情况"] and three[0][1][1]["colspan"] == "7"
    assert three[1][1][0] == "法人或其他组织" and three[1][1][1]["colspan"] == "5"
    # every row spans the table's 10 columns (rowspans counted), as the .docx grid does
    grid = section_grid(FORM, FORM.section(3))
    taken = [[False] * grid.cols for _ in range(grid.rows)]
    for r, row in enumerate(three):
        c = 0
        for _, attrs in row:
            while taken[r][c]:
                c += 1
            for dr in range(int(attrs.get("rowspan", 1))):
                for dc in range(int(attrs.get("colspan", 1))):
                    taken[r + dr][c + dc] = True
    assert all(all(row) for row in taken) and len(three) == grid.rows
    assert "<thead>" in page and "<tbody>" in page


def test_the_web_page_escapes_department_text():
    from annual_report.documents.webpage import department_page

    values = democity.unit_values(FORM, "GAJ", 13, "0")
    rep = democity.report(FORM, values, "GAJ")
    rep.narrative = {
        "narrative.overview": '<script>alert(1)</script><img src=x onerror="alert(2)">\x0c',
        "narrative.problems": "无。",
        "narrative.other_matters": "本机关未收取信息处理费。",
    }
    page = department_page(rep, department_name="宜春市公安局<b>", year=2021)
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "宜春市公安局&lt;b&gt;" in page
    assert "\x0c" not in page


@pytest.mark.libreoffice
def test_the_web_page_in_headless_chromium(tmp_path):
    """Rendered by Chromium: a screenshot that is not blank, and printed on A4 pages."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (scripts/setup.sh --screenshots)")
    page = tmp_path / "page.html"
    page.write_text(_seed_page(), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--lang=zh-CN"]
    flags += [f"--user-data-dir={tmp_path / 'profile'}", "--no-first-run"]
    shot, pdf = tmp_path / "page.png", tmp_path / "page.pdf"
    run = [chromium, *flags, "--window-size=1000,1400", f"--screenshot={shot}", page.as_uri()]
    subprocess.run(run, capture_output=True, timeout=120, check=False)
    run = [chromium, *flags, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()]
    subprocess.run(run, capture_output=True, timeout=120, check=False)
    if not shot.exists() or not pdf.exists():
        pytest.skip("Chromium could not render here")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True).stdout.decode()
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())
    assert abs(width - A4[0]) < 2 and abs(height - A4[1]) < 2
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True).stdout
    squeezed = re.sub(r"\s", "", text.decode())
    assert "樟树市人社局2021年政府信息公开工作年度报告" in squeezed and "勾稽关系" in squeezed
    assert "本机关无收取信息处理费情况" in squeezed
