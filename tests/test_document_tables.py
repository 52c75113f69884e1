"""The form's tables in Word, for both form definitions: the table copied from a per-layout
template is the table python-docx draws cell by cell, and a department's report read back holds
every label where the form puts it and every value as the unit wrote it."""

from __future__ import annotations

import random
from decimal import Decimal

import docx
import pytest
from docx.shared import Mm
from lxml import etree

from annual_report.documents import layout as layout_mod
from annual_report.documents.drafting import value_text, written_text
from annual_report.documents.layout import section_grid
from annual_report.documents.report import ReportContact, department_report
from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, sample_narrative
from annual_report.workbook.reader import read_workbook
from annual_report.workbook.template import TemplateMeta, write_template

YEARS = (2019, 2021)
CONTACT = ReportContact(phone="0795-3991234", email="zwgk@yichun.example")


def _texts(form, kind: str) -> dict[str, str]:
    values = consistent_values(form, random.Random(form.id), busy=0.6)
    texts = {code: value_text(v, form.cells[code].type) for code, v in values.items()}
    if kind == "wide":  # numbers wide enough to widen their columns
        return {code: str(int(Decimal(t or 0) * 10**9)) for code, t in texts.items()}
    if kind == "written":  # what clerks type: units, blanks, stray spaces, a form feed
        odd = ["12件", "", " 3 ", "4\t5\n6", "\x0c7", "/"]
        return {code: odd[i % len(odd)] for i, code in enumerate(texts)}
    return {} if kind == "empty" else texts


@pytest.mark.parametrize("kind", ["sample", "wide", "written", "empty"])
@pytest.mark.parametrize("year", YEARS)
def test_the_copied_table_is_the_table_drawn_cell_by_cell(year, kind):
    form = form_for_year(year)
    texts = _texts(form, kind)
    for section in (s for s in form.sections if s.blocks):
        copied, drawn = docx.Document(), docx.Document()
        layout_mod.form_table(copied, form, section, texts)
        grid = section_grid(form, section)
        widths = layout_mod._grid_widths(grid, texts, layout_mod.TABLE_PT)
        layout_mod._draw_table(drawn, grid, texts, widths)
        assert etree.tostring(copied.element.body) == etree.tostring(drawn.element.body)
    # twice in one document: the copies share nothing
    doc = docx.Document()
    section = next(s for s in form.sections if s.blocks)
    first = layout_mod.form_table(doc, form, section, texts)
    second = layout_mod.form_table(doc, form, section, {})
    assert first._tbl is not second._tbl
    for r1, c1, *_ in section_grid(form, section).values:
        assert second.cell(r1, c1).text == ""


@pytest.fixture(scope="module", params=YEARS)
def written(request, tmp_path_factory):
    """A filled template read back (an accepted submission), its report saved and reopened."""
    year = request.param
    form = form_for_year(year)
    rng = random.Random(year)
    values = consistent_values(form, rng, busy=0.6)
    meta = TemplateMeta(form.id, year, "RSJ", "宜春市人力资源和社会保障局", str(year), "0" * 16)
    tmp = tmp_path_factory.mktemp(f"dept{year}")
    path = write_template(
        tmp / "rsj.xlsx",
        form,
        meta=meta,
        values=values,
        narrative=sample_narrative(year, values, rng),
    )
    report = read_workbook(path)
    draft = department_report(
        report, department_name="宜春市人力资源和社会保障局", year=year, contact=CONTACT
    )
    doc = docx.Document(str(draft.save(tmp / "rsj.docx")))
    return form, report, draft, doc


def test_every_label_and_value_is_where_the_form_puts_it(written):
    form, report, _, doc = written
    sections = [s for s in form.sections if s.blocks]
    assert len(doc.tables) == len(sections) == 3
    filled = 0
    for table, section in zip(doc.tables, sections, strict=True):
        grid = section_grid(form, section)
        assert (len(table.rows), len(table.columns)) == (grid.rows, grid.cols)
        for r1, c1, r2, c2, text, _ in grid.labels:
            assert table.cell(r1, c1).text == text
            assert table.cell(r1, c1)._tc is table.cell(r2, c2)._tc  # merged as in Excel
        for r1, c1, r2, c2, code in grid.values:
            entry = report.entries[code]
            expected = written_text(entry.raw, entry.value, form.cells[code].type)
            assert table.cell(r1, c1).text == expected, code
            assert table.cell(r1, c1)._tc is table.cell(r2, c2)._tc
            filled += expected not in ("", "0")
        widths = [int(c.get(docx.oxml.ns.qn("w:w"))) for c in table._tbl.tblGrid]
        assert abs(sum(widths) - Mm(layout_mod.TYPE_WIDTH_MM).twips) <= len(widths)
        for row in table.rows:  # every cell as wide as the columns it spans
            col = 0
            for tc in row._tr.tc_lst:
                span = tc.grid_span
                assert tc.width.twips == sum(widths[col : col + span])
                col += span
    assert filled > 20  # a busy unit: the check saw real numbers


def test_the_report_reads_as_the_national_format(written):
    form, report, draft, doc = written
    paragraphs = [p.text for p in doc.paragraphs]
    title = f"宜春市人力资源和社会保障局{report.year}年政府信息公开工作年度报告"
    assert paragraphs[0].replace("\n", "") == title
    headings = [s.heading for s in form.sections]
    assert [p for p in paragraphs if p in headings] == headings
    assert paragraphs[-2:] == ["宜春市人力资源和社会保障局", "【待补充：成文日期】"]
    assert draft.placeholders == ["【待补充：网站名称和网址】", "【待补充：成文日期】"]
