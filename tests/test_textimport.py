"""The text importer on real published reports and one complete report in three layouts."""

from __future__ import annotations

import importlib.util
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from annual_report.form.model import load_form
from annual_report.form.numbers import BLANK, DASH, YUAN_TO_WAN
from annual_report.text.importer import TextImportError, decode_text, import_result, import_text
from annual_report.text.tokens import detect_layout, is_value, tokenize
from annual_report.validation import validate

TEXTS = Path(__file__).parent / "fixtures" / "text"
REQUEST_COLUMNS = (
    "natural_person",
    "commercial",
    "research",
    "social_welfare",
    "legal_service",
    "other_org",
    "total",
)


def read(name: str, **kwargs):
    return import_text((TEXTS / name).read_text(encoding="utf-8"), source=name, **kwargs)


def raw(report, code: str) -> str | None:
    entry = report.entries.get(code)
    return entry.raw if entry else None


def row_values(report, row: str) -> list[Decimal | None]:
    return [report.value(f"requests.{row}.{c}") for c in REQUEST_COLUMNS]


def notes_about(report, found: str) -> list[str]:
    return [n.message for n in report.label_notes if found in n.found]


# -- the seed: one cell per line, tab-indented, complete, hybrid section-2 headers ---------------
@pytest.fixture(scope="module")
def seed():
    return read("seed-zhangshu-rsj-2021.txt")


def test_seed_year_and_form(seed):
    assert seed.year == 2021
    assert seed.form.id == "gov-disclosure-2021"
    assert seed.declared_form == "gov-disclosure-2021"
    assert seed.method == "text"
    assert seed.source == "seed-zhangshu-rsj-2021.txt"
    assert seed.missing == []
    assert set(seed.entries) == set(seed.form.cells)  # all 200 cells read


def test_seed_section_2(seed):
    assert [raw(seed, f"proactive.rules.{c}") for c in ("issued", "repealed", "in_force")] == [
        "0",
        "0",
        "0",
    ]
    docs = [seed.value(f"proactive.normative_docs.{c}") for c in ("issued", "repealed", "in_force")]
    assert docs == [1, 0, 8]
    assert seed.entries["proactive.normative_docs.in_force"].cell == "第41行"
    assert seed.value("proactive.licensing.decisions") == 6
    assert seed.value("proactive.penalties.decisions") == 0
    assert seed.value("proactive.coercive_measures.decisions") == 0
    fee = seed.entries["proactive.admin_fees.amount_wan_yuan"]
    assert fee.raw == "11.28"
    assert fee.value == Decimal("11.28")
    assert fee.cell == "第68行"


def test_seed_aliases_are_noted(seed):
    (in_force,) = [n for n in seed.label_notes if n.found == "对外公开总数量"]
    assert in_force.codes == ("proactive.rules.in_force", "proactive.normative_docs.in_force")
    assert in_force.message == (
        "使用了2019年版列名“对外公开总数量”，其含义与“现行有效件数”不同，已按“现行有效件数”读取"
    )
    assert in_force.cells == ("第31行",)
    assert notes_about(seed, "规范性文件") == [
        "行名“规范性文件”与标准格式的“行政规范性文件”不一致，已按“行政规范性文件”读取"
    ]
    decisions = [n for n in seed.label_notes if n.found == "处理决定数量"]
    assert [n.codes for n in decisions] == [
        ("proactive.licensing.decisions",),
        ("proactive.penalties.decisions", "proactive.coercive_measures.decisions"),
    ]
    assert len(seed.label_notes) == 4


def test_seed_sections_3_and_4_are_all_zero(seed):
    requests = {c: e for c, e in seed.entries.items() if c.startswith("requests.")}
    assert len(requests) == 175
    assert {e.raw for e in requests.values()} == {"0"}
    # the row whose label starts with 四、 is a row, not the start of section 4
    assert seed.entries["requests.carried_to_next_year.natural_person"].cell == "第347行"
    assert seed.entries["requests.carried_to_next_year.total"].cell == "第353行"
    review = [c for c in seed.form.cells if c.startswith(("review.", "litigation_"))]
    assert len(review) == 15
    assert {raw(seed, c) for c in review} == {"0"}
    assert seed.entries["litigation_after_review.total"].cell == "第399行"


def test_seed_narratives(seed):
    overview = seed.narrative["narrative.overview"]
    assert overview.startswith("2021年，樟树市人社局以习近平新时代中国特色社会主义思想为指导")
    assert "我局全年共主动公开政府信息66条" in overview
    assert overview.endswith("实行“一日两监测，一周一更新”。")
    problems = seed.narrative["narrative.problems"]
    assert problems.startswith("2021年，人社局政府信息公开工作总体运行情况良好")
    assert "3、完善公开制度。" in problems
    other = seed.narrative["narrative.other_matters"]
    assert "本机关无收取信息处理费情况" in other
    assert other.startswith("2021年度，本机关无收取信息处理费情况。")


# -- the web samples (truncated) -----------------------------------------------------------------
def test_lg_2024_pipes():
    report = read("lg-qzfbm-2024.txt")
    assert (report.year, report.form.id, report.declared_form) == (
        2024,
        "gov-disclosure-2021",
        "gov-disclosure-2021",
    )
    assert [report.value(f"proactive.normative_docs.{c}") for c in ("issued", "repealed")] == [
        5,
        1,
    ]
    assert report.value("proactive.normative_docs.in_force") == 25
    assert report.value("proactive.admin_fees.amount_wan_yuan") == 0
    assert row_values(report, "new_received") == [58, 7, 0, 0, 1, 0, 66]
    assert row_values(report, "carried_from_last_year") == [2, 0, 0, 0, 0, 0, 2]
    assert row_values(report, "granted") == [2, 1, 0, 0, 0, 0, 3]
    assert row_values(report, "partially_granted") == [16, 1, 0, 0, 0, 0, 17]
    assert row_values(report, "withheld.internal_affairs") == [1, 0, 0, 0, 0, 0, 1]
    # the last row before the cut has six of its seven cells
    assert row_values(report, "withheld.enforcement_files") == [0, 0, 0, 0, 0, 0, None]
    assert row_values(report, "withheld.query_matters") == [None] * 7
    assert report.entries["requests.new_received.total"].cell == "第24行"
    assert [n.message for n in report.label_notes] == [
        "原文在“7.属于行政执法案卷”行中断，只有6个数值（应为7个），已按顺序读取前6列"
    ]
    assert report.missing == [
        "原文不完整：第35行起的内容未收录",
        "第三部分表格不完整：缺少“8.属于行政查询事项”等14行",
        "第三部分“7.属于行政执法案卷”行缺少“总计”列",
        "缺少第四部分“四、政府信息公开行政复议、行政诉讼情况”",
        "缺少第五部分“五、存在的主要问题及改进情况”",
        "缺少第六部分“六、其他需要报告的事项”",
    ]
    assert report.narrative["narrative.overview"].startswith(
        "本年报根据《中华人民共和国政府信息公开条例》"
    )


def test_liwan_2020_uses_the_2019_form():
    report = read("liwan-nanyuan-2020.txt")
    assert (report.year, report.form.id, report.declared_form) == (
        2020,
        "gov-disclosure-2019",
        "gov-disclosure-2019",
    )
    licensing = report.entries["proactive.licensing.items_change"]
    assert licensing.raw == "+19"
    assert licensing.value == 19
    assert report.value("proactive.licensing.items_last_year") == 21
    assert report.value("proactive.licensing.decisions") == 40
    rules = ("made", "published", "public_total")
    assert [report.value(f"proactive.rules.{c}") for c in rules] == [0, 0, 0]
    assert report.value("proactive.other_services.decisions") == 0
    assert raw(report, "proactive.admin_fees.items_change") == "0"
    assert report.value("proactive.procurement.projects") is None
    assert report.label_notes == []
    assert report.missing == [
        "原文不完整：第108行起的内容未收录",
        "第二部分表格不完整：缺少“政府集中采购”行",
        "缺少第三部分“三、收到和处理政府信息公开申请情况”",
        "缺少第四部分“四、政府信息公开行政复议、行政诉讼情况”",
        "缺少第五部分“五、存在的主要问题及改进情况”",
        "缺少第六部分“六、其他需要报告的事项”",
    ]
    assert report.narrative["narrative.overview"].startswith("2020年,我街道认真贯彻落实《条例》")


def test_lintong_2022_shows_2019_headers():
    report = read("lintong-qlbhj-2022.txt")
    assert (report.year, report.form.id) == (2022, "gov-disclosure-2021")
    assert report.declared_form == "gov-disclosure-2019"  # for R6
    # 本年新 制作数量 (split header, 2019 name) → 本年制发件数; 本年新公开数量 has no 2021 column
    assert report.value("proactive.rules.issued") == 0
    assert report.value("proactive.rules.repealed") is None
    assert report.value("proactive.normative_docs.in_force") == 0
    assert report.value("proactive.licensing.decisions") == 117
    assert report.value("proactive.penalties.decisions") == 2
    assert report.value("proactive.admin_fees.amount_wan_yuan") == 0
    assert notes_about(report, "制作数量") == [
        "使用了2019年版列名“本年新制作数量”，已按“本年制发件数”读取"
    ]
    assert notes_about(report, "公开数量") == [
        "“本年新 公开数量”是2019年版格式的列，本表格式（2021年版格式）没有此列，该列数值未读取"
    ]
    assert "第二部分“第二十条第（一）项”缺少“本年废止件数”列" in report.missing
    assert row_values(report, "withheld.security_stability") == [0] * 7
    assert row_values(report, "withheld.third_party_rights") == [0] * 6 + [None]


def test_fuyuan_2022_traditional_characters():
    report = read("fuyuan-zrzyj-2022.txt")
    assert (report.year, report.form.id, report.declared_form) == (
        2022,
        "gov-disclosure-2021",
        "gov-disclosure-2021",
    )
    assert report.value("proactive.licensing.decisions") == 76
    assert report.value("proactive.penalties.decisions") == 2
    assert report.value("proactive.coercive_measures.decisions") == 0
    fee = report.entries["proactive.admin_fees.amount_wan_yuan"]
    assert (fee.raw, fee.value) == ("26.55", Decimal("26.55"))
    assert report.value("proactive.normative_docs.in_force") == 0
    assert row_values(report, "new_received") == [0] * 7
    assert row_values(report, "withheld.state_secret") == [0] * 7
    assert row_values(report, "withheld.prohibited_by_law") == [0] * 4 + [None] * 3
    # 規範/半角括号/“商業 企業” all match exactly; the page was cut inside a row
    assert [n.message for n in report.label_notes] == [
        "原文在“2.其他法律行政法规禁止公开”行中断，只有4个数值（应为7个），已按顺序读取前4列"
    ]
    assert report.missing[:3] == [
        "原文不完整：第30行起的内容未收录",
        "第三部分表格不完整：缺少“3.危及“三安全一稳定””等19行",
        "第三部分“2.其他法律行政法规禁止公开”行缺少“法律服务机构”等3列",
    ]
    assert report.narrative["narrative.overview"].startswith("2022年,抚远市自然资源局")


def test_xinjiu_2021_one_cell_per_line():
    report = read("xinjiu-zhen-2021.txt")
    assert (report.year, report.form.id) == (2021, "gov-disclosure-2021")  # 关于2021年度…
    assert notes_about(report, "现行有效件") == [
        "列名“现行有效件”与标准格式的“现行有效件数”不一致，已按“现行有效件数”读取"
    ]
    assert report.value("proactive.normative_docs.in_force") == 0
    assert report.value("proactive.admin_fees.amount_wan_yuan") == 0
    # 商业 / 企业 and 科研 / 机构 are headers split over two lines
    assert row_values(report, "new_received") == [0] * 7
    assert raw(report, "requests.carried_from_last_year.natural_person") == "0"  # was " 0"
    assert row_values(report, "granted") == [0] * 7
    assert row_values(report, "partially_granted") == [None] * 7  # label cut off, no values
    assert report.missing[1] == (
        "第三部分表格不完整：缺少“（二）部分公开（区分处理的，只计这一情形，不计其他情形）”等22行"
    )


@pytest.mark.parametrize(
    "name",
    [
        "lg-qzfbm-2024.txt",
        "liwan-nanyuan-2020.txt",
        "lintong-qlbhj-2022.txt",
        "fuyuan-zrzyj-2022.txt",
        "xinjiu-zhen-2021.txt",
    ],
)
def test_truncated_samples_say_what_is_missing(name):
    report = read(name)
    assert report.missing[0].startswith("原文不完整：第")
    assert "缺少第六部分“六、其他需要报告的事项”" in report.missing
    assert "narrative.other_matters" not in report.narrative
    assert report.entries  # what was read is kept


# -- one complete report in three layouts ------------------------------------------------------
@pytest.fixture(scope="module")
def complete():
    return {layout: read(f"complete-2023-{layout}.txt") for layout in ("lines", "pipes", "layout")}


def test_complete_report_values(complete):
    report = complete["lines"]
    assert (report.year, report.form.id, report.declared_form) == (
        2023,
        "gov-disclosure-2021",
        "gov-disclosure-2021",
    )
    assert set(report.entries) == set(report.form.cells)
    assert report.missing == []
    assert report.label_notes == []
    rules = report.entries["proactive.rules.issued"]
    assert (rules.raw, rules.value, rules.notes) == ("/", 0, (DASH,))
    assert [report.value(f"proactive.normative_docs.{c}") for c in ("issued", "repealed")] == [3, 1]
    assert report.value("proactive.normative_docs.in_force") == 12
    assert report.value("proactive.licensing.decisions") == 1523
    assert report.value("proactive.penalties.decisions") == 87
    assert report.value("proactive.coercive_measures.decisions") == 4
    assert report.value("proactive.admin_fees.amount_wan_yuan") == Decimal("3.56")
    assert row_values(report, "new_received") == [41, 9, 2, 1, 3, 2, 58]
    assert row_values(report, "carried_from_last_year") == [3, 1, 0, 0, 0, 0, 4]
    assert row_values(report, "granted") == [15, 4, 1, 1, 0, 1, 22]
    assert row_values(report, "partially_granted") == [6, 2, 0, 0, 1, 0, 9]
    assert row_values(report, "withheld.third_party_rights") == [2, 0, 0, 0, 1, 0, 3]
    assert row_values(report, "withheld.process_info") == [3, 0, 1, 0, 0, 0, 4]
    assert row_values(report, "unavailable.not_held") == [7, 1, 0, 0, 0, 0, 8]
    assert row_values(report, "not_processed.duplicate") == [1, 0, 0, 0, 1, 0, 2]
    assert row_values(report, "other.no_correction") == [0, 0, 0, 0, 0, 1, 1]
    assert row_values(report, "other.other") == [0, 1, 0, 0, 0, 0, 1]
    assert row_values(report, "handled_total") == [42, 9, 2, 1, 3, 2, 59]
    assert row_values(report, "carried_to_next_year") == [2, 1, 0, 0, 0, 0, 3]
    blank = report.entries["requests.withheld.state_secret.research"]
    assert (blank.raw, blank.value, blank.notes) == ("", 0, (BLANK,))
    review = [report.value(f"review.{c}") for c in ("upheld", "corrected", "other", "pending")]
    assert review == [1, 1, 0, 1]
    assert report.value("review.total") == 3
    assert report.value("litigation_direct.total") == 2
    assert report.value("litigation_after_review.upheld") == 1
    assert report.narrative["narrative.other_matters"].startswith(
        "本机关2023年度未收取信息处理费。"
    )


@pytest.mark.parametrize("layout", ["pipes", "layout"])
def test_three_layouts_give_identical_values(complete, layout):
    lines, other = complete["lines"], complete[layout]
    assert other.year == 2023
    assert other.missing == []
    assert other.label_notes == []
    assert {c: e.raw for c, e in other.entries.items()} == {
        c: e.raw for c, e in lines.entries.items()
    }
    assert other.values() == lines.values()
    for code, text in lines.narrative.items():
        assert "".join(other.narrative[code].split()) == "".join(text.split())


def test_layout_blank_cell_is_placed_by_position(complete):
    """The printed row ``0 0 _ 0 0 0 0`` has six numbers: the gap is the 科研机构 cell."""
    report = complete["layout"]
    blank = report.entries["requests.withheld.state_secret.research"]
    assert (blank.raw, blank.value) == ("", 0)
    assert report.value("requests.withheld.state_secret.social_welfare") == 0
    assert report.value("requests.withheld.state_secret.total") == 0


def test_short_row_without_cell_markers_is_not_shifted(complete):
    """One cell per line with nothing marking empty cells: a row of six values for seven columns
    cannot be placed, and is reported rather than shifted."""
    text = (TEXTS / "complete-2023-lines.txt").read_text(encoding="utf-8")
    out = []
    for line in text.split("\n"):
        if line.startswith("\t"):
            if line.strip():
                out += [line.strip(), ""]  # drop the tab and the empty cells
        else:
            out.append(line)
    report = import_text("\n".join(out))
    assert row_values(report, "withheld.state_secret") == [None] * 7
    assert [n.message for n in report.label_notes] == [
        "“1.属于国家秘密”行只有6个数值（应为7个），无法确定各数值所在的列，未读取：0、0、0、0、0、0"
    ]
    assert report.missing == ["第三部分表格不完整：缺少“1.属于国家秘密”行"]
    # every other value is where it belongs, including the rows around the 四、 trap
    assert row_values(report, "withheld.prohibited_by_law") == [1, 0, 0, 0, 0, 0, 1]
    assert row_values(report, "carried_to_next_year") == [2, 1, 0, 0, 0, 0, 3]
    assert report.value("review.total") == 3
    assert report.value("litigation_after_review.total") == 1


def test_markdown_tables_and_a_numbered_sub_heading_in_section_1(complete):
    """``二、主动公开工作情况`` inside section 1 does not start section 2; markdown pipes read."""
    text = (TEXTS / "complete-2023-pipes.txt").read_text(encoding="utf-8")
    out = []
    for line in text.split("\n"):
        if "|" not in line:
            out.append(line)
            continue
        cells = [c.strip() for c in line.rstrip().rstrip("|").split("|")]
        out.append("| " + " | ".join(cells) + " |")
        if line.startswith(("信息内容", "行政复议")):
            out.append("|" + "---|" * len(cells))
    text = "\n".join(out).replace("主动公开\n全年通过", "二、主动公开工作情况\n全年通过")
    text = text.replace("行政许可 |", "行政许可： |")
    report = import_text(text)
    assert report.missing == []
    assert report.label_notes == []
    assert report.values() == complete["lines"].values()
    assert "二、主动公开工作情况\n全年通过门户网站" in report.narrative["narrative.overview"]


def test_row_with_more_values_than_columns_in_one_cell_per_line_text():
    """A lost row label leaves its values after the previous row's: neither row is guessed."""
    text = (TEXTS / "xinjiu-zhen-2021.txt").read_text(encoding="utf-8")
    text = text.replace("二、上年结转政府信息公开申请数量\n", "")
    report = import_text(text)
    assert row_values(report, "new_received") == [None] * 7
    assert row_values(report, "carried_from_last_year") == [None] * 7
    assert row_values(report, "granted") == [0] * 7
    assert [n.message for n in report.label_notes if n.found.startswith("一、")] == [
        "“一、本年新收政府信息公开申请数量”行的数值（14个）多于列数（7个），"
        "无法确定哪些属于本行，未读取：0、0、0、0、0、0、0、0、0、0、0、0、0、0"
    ]


# -- web tables captured a cell at a time, blank lines, traditional characters -----------------
def _pipe_cells(line: str) -> list[str]:
    parts = [c.strip() for c in line.rstrip().split("|")]
    return parts[:-1] if parts[-1] == "" else parts


def as_cell_lines(text: str) -> str:
    """Every cell on its own line ending in " |", runs of empty cells as one line of pipes."""
    out: list[str] = []
    for line in text.split("\n"):
        if "|" not in line:
            out.append(line)
            continue
        empties = 0
        for cell in _pipe_cells(line):
            if not cell:
                empties += 1
                continue
            if empties:
                out.append("|" * empties)
                empties = 0
            out.append(f"{cell} |")
        if empties:
            out.append("|" * empties)
    return "\n".join(out)


def as_cell_then_pipe(text: str) -> str:
    """Every cell on its own line and a "|" line after it (an empty cell: the "|" alone)."""
    out: list[str] = []
    for line in text.split("\n"):
        if "|" not in line:
            out.append(line)
            continue
        for cell in _pipe_cells(line):
            out += [cell, "|"] if cell else ["|"]
    return "\n".join(out)


@pytest.mark.parametrize("convert", [as_cell_lines, as_cell_then_pipe])
def test_web_tables_captured_a_cell_at_a_time(complete, convert):
    """Rows are found by their labels; a "|" ends a cell; "|||" are empty cells."""
    text = convert((TEXTS / "complete-2023-pipes.txt").read_text(encoding="utf-8"))
    assert "规章 |\n/ |\n/ |\n/ |" in text or "规章\n|\n/\n|\n/\n|\n/\n|" in text
    layout = detect_layout(text.split("\n")[15:60])
    assert layout == "cells"
    report = import_text(text)
    assert report.missing == []
    assert report.label_notes == []
    assert {c: e.raw for c, e in report.entries.items()} == {
        c: e.raw for c, e in complete["lines"].entries.items()
    }


def test_a_table_copied_from_a_web_page_as_tab_separated_rows(complete):
    """Copying a web table gives a row per line, cells between tabs (empty ones too)."""
    rows = []
    for line in (TEXTS / "complete-2023-pipes.txt").read_text(encoding="utf-8").split("\n"):
        rows.append("\t".join(_pipe_cells(line)) if "|" in line else line)
    text = "\n".join(rows)
    assert "1.属于国家秘密\t0\t0\t\t0" in text
    assert detect_layout(text.split("\n")[15:60]) == "tsv"
    report = import_text(text)
    assert (report.missing, report.label_notes) == ([], [])
    assert {c: e.raw for c, e in report.entries.items()} == {
        c: e.raw for c, e in complete["lines"].entries.items()
    }


def test_real_cell_per_line_capture_with_separator_lines():
    """A real page: ``|||`` after captions, bare ``|`` for the empty cells of section 3."""
    report = read("qu-tjj-2023.txt")
    assert [raw(report, f"proactive.rules.{c}") for c in ("issued", "repealed", "in_force")] == [
        "/",
        "/",
        "/",
    ]
    assert report.value("proactive.admin_fees.amount_wan_yuan") == 0
    assert [raw(report, f"requests.new_received.{c}") for c in REQUEST_COLUMNS] == [""] * 6 + ["0"]
    assert [raw(report, f"requests.granted.{c}") for c in REQUEST_COLUMNS] == [""] * 7
    assert report.label_notes == []


def as_paragraphs(text: str) -> str:
    """One cell per line with a blank line after each: an empty cell is one more blank line."""
    out: list[str] = []
    for line in text.split("\n"):
        if line.startswith("\t"):
            out += [line.strip(), ""] if line.strip() else [""]
        elif line.strip():
            out += [line, ""]
    return "\n".join(out)


def test_blank_line_separated_cells_show_empty_cells(complete):
    text = as_paragraphs((TEXTS / "complete-2023-lines.txt").read_text(encoding="utf-8"))
    assert "1.属于国家秘密\n\n0\n\n0\n\n\n0" in text  # the blank 科研机构 cell
    report = import_text(text)
    assert report.label_notes == []
    assert report.missing == []
    assert report.values() == complete["lines"].values()
    blank = report.entries["requests.withheld.state_secret.research"]
    assert (blank.raw, blank.value, blank.notes) == ("", 0, (BLANK,))


def test_a_missing_middle_cell_is_never_filled_by_position(complete):
    """A web row that lost a cell: its values are refused with a warning naming the row, not
    shifted left into the wrong columns; every other row is read."""
    text = (TEXTS / "complete-2023-pipes.txt").read_text(encoding="utf-8")
    short = "4.保护第三方合法权益 | 2 | 0 | 0 | 1 | 0 | 3 | ||"
    assert "4.保护第三方合法权益 | 2 | 0 | 0 | 0 | 1 | 0 | 3 | ||" in text
    text = text.replace("4.保护第三方合法权益 | 2 | 0 | 0 | 0 | 1 | 0 | 3 | ||", short)
    text = text.replace("行政许可 | 1523 | ||", "行政许可 |")  # an empty row: nothing to place
    report = import_text(text)
    assert row_values(report, "withheld.third_party_rights") == [None] * 7
    assert report.value("proactive.licensing.decisions") is None
    assert [n.message for n in report.label_notes] == [
        "“4.保护第三方合法权益”行只有6个数值（应为7个），无法确定各数值所在的列，"
        "未读取：2、0、0、1、0、3"
    ]
    assert report.label_notes[0].cells == ("第41行",)
    expected = {
        c: v
        for c, v in complete["lines"].values().items()
        if not c.startswith("requests.withheld.third_party_rights.")
        and c != "proactive.licensing.decisions"
    }
    assert {c: v for c, v in report.values().items() if c in expected} == expected


def test_a_text_that_ends_inside_a_row_reads_its_first_cells_and_says_so(complete):
    """Cut without a marker: the last row's values are its first cells (left to right)."""
    text = (TEXTS / "complete-2023-pipes.txt").read_text(encoding="utf-8")
    end = text.index("2.没有现成信息需要另行制作 | 2 | 1 | 0")
    text = text[: end + len("2.没有现成信息需要另行制作 | 2 | 1 | 0")]
    report = import_text(text)
    assert row_values(report, "unavailable.needs_creation") == [2, 1, 0, None, None, None, None]
    assert row_values(report, "unavailable.not_held") == [7, 1, 0, 0, 0, 0, 8]
    assert [n.message for n in report.label_notes] == [
        "原文在“2.没有现成信息需要另行制作”行中断，只有3个数值（应为7个），已按顺序读取前3列"
    ]


def test_a_number_cut_by_the_truncation_is_not_read():
    """``1`` may be the start of ``12``: before a truncation marker it is not read."""
    text = (TEXTS / "complete-2023-pipes.txt").read_text(encoding="utf-8")
    end = text.index("2.没有现成信息需要另行制作 | 2 | 1")
    text = text[: end + len("2.没有现成信息需要另行制作 | 2 | 1")]
    report = import_text(text + "\n[... the rest of the published page is not included ...]\n")
    assert row_values(report, "unavailable.needs_creation") == [2] + [None] * 6
    assert [n.message for n in report.label_notes] == [
        "原文在第47行中断，末尾的“1”可能不完整，未读取",
        "原文在“2.没有现成信息需要另行制作”行中断，只有1个数值（应为7个），已按顺序读取前1列",
    ]


def test_a_report_in_traditional_characters_imports(complete):
    """Converted by machine with Taiwan phrases (規範性檔案 for 规范性文件) and pinyin notes."""
    import opencc

    text = (TEXTS / "complete-2023-pipes.txt").read_text(encoding="utf-8")
    traditional = opencc.OpenCC("s2twp").convert(text)
    assert "行政規範性檔案" in traditional and "收到和處理政府資訊公開申請情況" in traditional
    traditional = traditional.replace("處理", "處(chǔ)理").replace("機關", "機(jī)關")
    report = import_text(traditional)
    assert report.year == 2023
    assert report.missing == []
    assert report.label_notes == []
    assert report.values() == complete["lines"].values()
    assert report.narrative["narrative.other_matters"].startswith("本机关2023年度未收取信息处理费")


def test_real_traditional_report_without_section_headings():
    """Tables found by their first caption; labels with explanations in brackets."""
    report = read("wuhan-sthjj-2020.txt")
    assert (report.year, report.form.id) == (2020, "gov-disclosure-2019")
    assert [report.value(f"proactive.normative_docs.{c}") for c in ("made", "published")] == [2, 2]
    assert report.value("proactive.normative_docs.public_total") == 19
    other = ("items_last_year", "items_change", "decisions")
    assert [report.value(f"proactive.other_services.{c}") for c in other] == [117, 0, 165]
    assert raw(report, "proactive.coercive_measures.decisions") == "-"
    (note,) = report.label_notes
    assert note.message.startswith("未能识别的行名“其他主动公开档案(含以本单位")
    assert note.message.endswith("”，其数值未读取：186、86、255")


# -- amounts in 元 and 万元 --------------------------------------------------------------------
def test_procurement_amount_in_yuan_is_converted_to_wan_yuan():
    report = read("old-format-2022-pipes.txt", form=load_form("gov-disclosure-2019"))
    amount = report.entries["proactive.procurement.amount"]
    assert (amount.raw, amount.value) == ("79000.1元", Decimal("7.90001"))
    assert amount.notes == (YUAN_TO_WAN,)
    issues = validate(report).issues
    (n2,) = [i for i in issues if i.rule == "N2" and i.codes == ("proactive.procurement.amount",)]
    assert "“79000.1元”已按7.90001计算（金额以元填写，已换算为万元）" in n2.message
    assert not [i for i in issues if i.rule == "R5"]


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        ("采购总金额", "251000元", Decimal("25.1")),
        ("采购总金额(万元)", "25.1", Decimal("25.1")),
        ("采购总金额（万元）", "25.1万元", Decimal("25.1")),
        ("采购总金额（元）", "251000", Decimal("25.1")),
        ("采购总金额(单位:元)", "251,000.00", Decimal("25.1")),
    ],
)
def test_amount_unit_from_the_header_or_the_value(header, value, expected):
    text = (TEXTS / "old-format-2022-pipes.txt").read_text(encoding="utf-8")
    text = text.replace("采购总金额 |", f"{header} |").replace("79000.1元", value)
    report = import_text(text, form=load_form("gov-disclosure-2019"))
    assert report.value("proactive.procurement.amount") == expected
    assert not [n for n in report.label_notes if "采购" in n.found]


def test_fee_column_in_yuan_is_converted():
    text = (TEXTS / "complete-2023-pipes.txt").read_text(encoding="utf-8")
    text = text.replace("本年收费金额（单位：万元）", "本年收费金额（单位：元）")
    text = text.replace("行政事业性收费 | 3.56 |", "行政事业性收费 | 35600 |")
    fee = import_text(text).entries["proactive.admin_fees.amount_wan_yuan"]
    assert (fee.raw, fee.value, fee.notes) == ("35600", Decimal("3.56"), (YUAN_TO_WAN,))


# -- a 2022 report whose tables are wholly in the 2019 format ----------------------------------
def test_old_format_tables_in_a_2022_report():
    report = read("old-format-2022-pipes.txt")
    assert (report.year, report.form.id, report.declared_form) == (
        2022,
        "gov-disclosure-2021",
        "gov-disclosure-2019",
    )
    assert report.value("proactive.licensing.decisions") == 30
    assert report.value("proactive.normative_docs.issued") == 2  # 本年新制作数量, with a warning
    assert report.value("proactive.normative_docs.in_force") == 9  # 对外公开总数量, with a warning
    assert report.value("proactive.admin_fees.amount_wan_yuan") is None
    messages = [n.message for n in report.label_notes]
    assert (
        "“其他对外管理服务事项”是2019年版格式的行，本表格式（2021年版格式）没有此行，"
        "其数值未读取：4、+1、7"
    ) in messages
    assert (
        "“政府集中采购”是2019年版格式的行，本表格式（2021年版格式）没有此行，"
        "其数值未读取：3、79000.1元"
    ) in messages
    assert (
        "“（六）其他处理”按2019年版格式填为一行，2021年版格式中该项分为3行，"
        "其数值未读取：0、1、0、0、0、0、1"
    ) in messages
    assert (
        "“上一年项目数量”是2019年版格式的列，本表格式（2021年版格式）没有此列，该列数值未读取"
    ) in messages
    assert report.missing == [
        "第二部分表格不完整：缺少“行政事业性收费”行",
        "第二部分“第二十条第（一）项”缺少“本年废止件数”列",
        "第三部分表格不完整："
        "缺少“1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请”等3行",
    ]
    assert row_values(report, "handled_total") == [5, 2, 0, 0, 1, 0, 8]
    assert report.value("review.corrected") == 1


def test_old_format_tables_read_with_the_form_they_use():
    report = read("old-format-2022-pipes.txt", form=load_form("gov-disclosure-2019"))
    assert (report.year, report.form.id, report.declared_form) == (
        2022,
        "gov-disclosure-2019",
        "gov-disclosure-2019",
    )
    assert set(report.entries) == set(report.form.cells)
    assert report.missing == []
    change = report.entries["proactive.licensing.items_change"]
    assert (change.raw, change.value) == ("-2", -2)
    assert raw(report, "proactive.other_services.items_change") == "+1"
    amount = report.entries["proactive.procurement.amount"]
    assert (amount.raw, amount.value) == ("79000.1元", Decimal("7.90001"))  # 元 → 万元
    assert row_values(report, "other") == [0, 1, 0, 0, 0, 0, 1]
    assert [n.found for n in report.label_notes] == ["四、结转下一年度继续办理"]


# -- year, errors, JSON ------------------------------------------------------------------------
def test_year_given_overrides_the_text():
    report = read("seed-zhangshu-rsj-2021.txt", year=2020)
    assert (report.year, report.form.id) == (2020, "gov-disclosure-2019")
    assert report.declared_form == "gov-disclosure-2021"  # the tables show the 2021 format


def test_year_from_statistical_period_and_unknown_year():
    body = "一、总体情况\n本报告所列数据统计期限为2023年1月1日至2023年12月31日。\n"
    assert import_text(body).year == 2023
    assert import_text(body).missing[0] == "缺少第二部分“二、主动公开政府信息情况”"
    forced = import_text(body.replace("2023", "20XX"), form=load_form("gov-disclosure-2019"))
    assert (forced.year, forced.form.id) == (None, "gov-disclosure-2019")
    assert forced.missing[0] == "未能从原文确定报告年度"
    report = import_text("一、总体情况\n本机关认真落实条例。\n六、其他需要报告的事项\n无。\n")
    assert report.year is None
    assert report.form.id == "gov-disclosure-2021"
    assert report.missing[0] == "未能从原文确定报告年度"
    assert report.narrative == {
        "narrative.overview": "本机关认真落实条例。",
        "narrative.other_matters": "无。",
    }


def test_saved_pages_in_gb18030_or_with_a_bom_decode():
    text = (TEXTS / "seed-zhangshu-rsj-2021.txt").read_text(encoding="utf-8")
    assert decode_text(text.encode("gb18030")) == text
    assert decode_text(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    report = import_text(decode_text(text.encode("gb18030")))
    assert report.value("proactive.admin_fees.amount_wan_yuan") == Decimal("11.28")


def test_text_without_any_section_is_an_error():
    with pytest.raises(TextImportError):
        import_text("这不是政府信息公开工作年度报告。\n四、结转下年度继续办理\n")
    with pytest.raises(TextImportError):
        import_text("")


def test_import_result_json(complete):
    result = import_result(complete["pipes"])
    text = json.dumps(result, ensure_ascii=False)
    back = json.loads(text)
    assert back["form"] == "gov-disclosure-2021"
    assert back["year"] == 2023
    assert back["declared_form"] == "gov-disclosure-2021"
    assert back["values"]["proactive.admin_fees.amount_wan_yuan"] == "3.56"
    assert back["values"]["requests.new_received.total"] == 58
    assert back["raw"]["proactive.rules.issued"] == "/"
    assert back["narrative"]["narrative.other_matters"].startswith("本机关2023年度未收取信息处理费")
    assert back["missing"] == []
    assert back["label_notes"] == []
    lintong = import_result(read("lintong-qlbhj-2022.txt"))
    assert lintong["values"]["proactive.rules.repealed"] is None
    assert lintong["missing"][0] == "原文不完整：第32行起的内容未收录"
    assert {n["found"] for n in lintong["label_notes"]} >= {"本年新 制作数量", "本年新 公开数量"}


# -- tokens ---------------------------------------------------------------------------------------
def test_value_tokens():
    for text in ("0", "+19", "-2", "11.28", "12件", "79000.1元", "1,234", "１２", "/", "—", "无"):
        assert is_value(text), text
    for text in ("1.属于国家秘密", "1.", "规章", "第二十条第（一）项", "", "本年新 制作数量"):
        assert not is_value(text), text


def test_layouts_are_detected():
    assert detect_layout(["规章 | 0 | 0 | 0 |", "行政规范性文件 | 5 | 1 | 25 |"]) == "pipes"
    assert detect_layout(["\t规章", "\t0", "", "\t规范性文件", "\t1"]) == "tabbed"
    assert detect_layout(["规章", "", "0", "", "0"]) == "lines"
    assert detect_layout(["规章 |", "0 |", "|", "|||", "行政规范性文件 |"]) == "cells"
    assert detect_layout(["规章", "|", "0", "|", "0", "|"]) == "cells"
    assert detect_layout(["规章\t0\t\t0", "行政规范性文件\t5\t1\t25"]) == "tsv"
    printed = ["   规章      /     /    /", "  行政规范性文件   3    1   12", "  行政许可   1523"]
    assert detect_layout(printed) == "layout"


def test_tokens_keep_empty_cells_only_where_they_are_explicit():
    pipes = tokenize([(1, "规章 |  | 0 | 0 |"), (2, "行政许可 | 6 | ||")], "pipes")
    assert [(t.text, t.kind) for t in pipes] == [
        ("规章", "label"),
        ("", "empty"),
        ("0", "value"),
        ("0", "value"),
        ("行政许可", "label"),
        ("6", "value"),
        ("", "empty"),
        ("", "empty"),
    ]
    printed = tokenize([(5, "  1.属于国家秘密    0    0         0  0 0")], "layout")
    assert [(t.text, t.x) for t in printed] == [
        ("1.属于国家秘密", 2),
        ("0", 14),
        ("0", 19),
        ("0", 29),
        ("0", 32),
        ("0", 34),
    ]
    assert {t.line for t in printed} == {5}


# -- the layout fixture is what LibreOffice and pdftotext really produce -----------------------
def _make_fixtures():
    spec = importlib.util.spec_from_file_location("make_fixtures", TEXTS / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.libreoffice
@pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("pdftotext") is None,
    reason="LibreOffice (soffice) or poppler-utils (pdftotext) not installed",
)
@pytest.mark.parametrize(
    ("narrow", "labels", "values"),
    [
        (False, "center", "center"),  # the committed complete-2023-layout.txt
        (False, "center", "top"),  # values printed a line above their labels
        (False, "bottom", "top"),
        (True, "top", "top"),  # wrapped headers push the values down, staggered
        (True, "bottom", "center"),
    ],
)
def test_printed_pdf_reads_like_the_one_cell_per_line_text(
    complete, tmp_path, narrow, labels, values
):
    """Printed portrait or landscape, cells aligned top, centre or bottom: same values."""
    make = _make_fixtures()
    book = tmp_path / "report.xlsx"
    make.build_workbook(book, narrow=narrow, labels=labels, values=values)
    text = make.pdf_to_layout_text(book, tmp_path)
    report = import_text(text)
    assert report.missing == []
    assert report.label_notes == []
    lines = complete["lines"]
    assert {c: e.raw for c, e in report.entries.items()} == {
        c: e.raw for c, e in lines.entries.items()
    }
