"""A department's template copied from its campaign's base is the workbook built for it.

``write_template`` copies (``annual_report/workbook/copies.py``); ``build_workbook`` is the
old way. Both are compared part by part (the saved XML, byte for byte, but for the file's own
timestamps) and, as a reader sees them, cell by cell through openpyxl.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import openpyxl
import pytest

from annual_report.errors import FormError
from annual_report.form.model import Form, load_form
from annual_report.workbook import copies
from annual_report.workbook.copies import template_copy
from annual_report.workbook.reader import read_workbook
from annual_report.workbook.template import TemplateMeta, build_workbook, write_template

FORM_IDS = ("gov-disclosure-2021", "gov-disclosure-2019")
WHEN = datetime(2022, 1, 4, 1, 2, 3, tzinfo=UTC)
CARRIED = "requests.carried_from_last_year."
_TIMES = re.compile(rb"(<dcterms:(?:created|modified)\b[^>]*>)[^<]*(</dcterms:)")


@pytest.fixture(params=FORM_IDS)
def form(request) -> Form:
    return load_form(request.param)


def _meta(form: Form, **changes: Any) -> TemplateMeta:
    fields: dict[str, Any] = dict(
        form_id=form.id,
        report_year=form.first_year,
        department_code="ZS-RSJ",
        department_name="樟树市人力资源和社会保障局",
        campaign_id=f"{form.first_year}",
        token="k3J9-token",
        deadline=date(form.first_year + 1, 1, 26),
        reply_to="gkb@example.gov.cn",
    )
    fields.update(changes)
    return TemplateMeta(**fields)


def _carried(form: Form, start: int = 0) -> dict[str, Decimal | int | None]:
    codes = [c for c in form.cells if c.startswith(CARRIED)]
    return {code: start + i for i, code in enumerate(codes)}


def _old_way(form: Form, meta: TemplateMeta, values) -> bytes:
    out = io.BytesIO()
    build_workbook(form, meta=meta, values=values, generated_at=WHEN).save(out)
    return out.getvalue()


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        parts = {name: z.read(name) for name in z.namelist()}
    parts["docProps/core.xml"] = _TIMES.sub(rb"\1T\2", parts["docProps/core.xml"])
    return parts


def _style(cell) -> tuple:
    return (
        repr(cell.font),
        repr(cell.fill),
        repr(cell.border),
        repr(cell.alignment),
        repr(cell.protection),
        cell.number_format,
        cell.quotePrefix,
    )


def snapshot(data: bytes) -> dict[str, Any]:
    """Everything a reader of the workbook sees, as plain data."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    seen: dict[str, Any] = {
        "sheets": wb.sheetnames,
        "names": {n: d.attr_text for n, d in wb.defined_names.items()},
        "lock_structure": wb.security.lockStructure if wb.security else None,
        "title": wb.properties.title,
        "creator": wb.properties.creator,
    }
    for ws in wb.worksheets:
        seen[ws.title] = {
            "state": ws.sheet_state,
            "cells": {
                c.coordinate: (c.value, c.data_type, _style(c))
                for row in ws.iter_rows()
                for c in row
            },
            "merged": sorted(str(r) for r in ws.merged_cells.ranges),
            "validations": sorted(
                repr((str(dv.sqref), dv.type, dv.operator, dv.formula1, dv.formula2))
                + repr((dv.prompt, dv.promptTitle, dv.error, dv.errorTitle, dv.allow_blank))
                for dv in ws.data_validations.dataValidation
            ),
            "conditional": sorted(
                (str(rng.sqref), tuple(r.formula), r.dxf.fill.fgColor.rgb if r.dxf else None)
                for rng in ws.conditional_formatting
                for r in rng.rules
            ),
            "protection": repr(ws.protection),
            "widths": {k: d.width for k, d in ws.column_dimensions.items()},
            "heights": {k: d.height for k, d in ws.row_dimensions.items()},
            "print": (ws.print_area, ws.print_title_rows, ws.page_setup.orientation),
            "freeze": ws.freeze_panes,
        }
    return seen


NAMES = (
    "樟树市人力资源和社会保障局",
    "R&D <研究> 中心 \"甲\" 'A'",  # XML-special characters
    "樟树市" + "长" * 400,  # the 填报说明 rows grow
    "𠮷野家𫝀镇人民政府",  # outside the BMP
    "甲\n乙",  # a newline: two lines in the 填报说明
)


@pytest.mark.parametrize("name", NAMES)
def test_a_copy_is_the_workbook_built_the_old_way(form, name):
    meta = _meta(form, department_name=name, department_code="Z&X", token="t<0>k")
    values = _carried(form, start=3)
    copied = template_copy(form, meta, values, generated_at=WHEN)
    old = _old_way(form, meta, values)
    assert _parts(copied) == _parts(old)
    assert snapshot(copied) == snapshot(old)


def test_departments_share_a_base_and_differ_only_in_their_own(form):
    values = _carried(form)
    first = _meta(form, department_code="A", department_name="甲局", token="ta")
    second = _meta(form, department_code="B", department_name="乙局乙局", token="tb")
    a = template_copy(form, first, values, generated_at=WHEN)
    b = template_copy(form, second, _carried(form, start=7), generated_at=WHEN)
    assert snapshot(a) == snapshot(_old_way(form, first, values))
    assert snapshot(b) == snapshot(_old_way(form, second, _carried(form, start=7)))
    assert len([k for k in copies._BASES if k[0] == id(form)]) >= 1
    meta_sheet = openpyxl.load_workbook(io.BytesIO(b))["_meta"]
    rows = {meta_sheet.cell(r, 1).value: meta_sheet.cell(r, 2).value for r in range(2, 10)}
    assert rows == {
        "form_id": form.id,
        "report_year": form.first_year,
        "department_code": "B",
        "department_name": "乙局乙局",
        "campaign_id": str(form.first_year),
        "token": "tb",
        "generator": "nianbao",
        "generated_at": "2022-01-04T01:02:03+00:00",
    }


@pytest.mark.parametrize(
    "values",
    [
        {},  # a department without last year's report
        "one cell",
        "every cell",
    ],
)
def test_any_prefilled_cells_and_numbers(form, values):
    if values == "one cell":
        values = {next(iter(form.cells)): 5}
    elif values == "every cell":
        values = {}
        for i, (code, cell) in enumerate(form.cells.items()):
            if cell.type == "money":
                values[code] = Decimal("72701.2578")
            else:
                values[code] = -i if cell.type == "signed" else i
    meta = _meta(form)
    copied = template_copy(form, meta, values, generated_at=WHEN)
    assert _parts(copied) == _parts(_old_way(form, meta, values))


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("http://x")',  # openpyxl would take it for a formula: quoted instead
        " 前后有空格 ",
        "\ue000私用区",
    ],
)
def test_text_a_copy_cannot_hold_is_built_the_old_way(name):
    form = load_form("gov-disclosure-2021")
    meta = _meta(form, department_name=name)
    assert not copies.copy_possible(meta)
    values = _carried(form)
    assert _parts(template_copy(form, meta, values, generated_at=WHEN)) == _parts(
        _old_way(form, meta, values)
    )


def test_a_written_copy_reads_back(tmp_path, form):
    meta = _meta(form, department_code="CITY-GAJ", token="tok-77")
    values = _carried(form, start=1)
    path = write_template(tmp_path / "t.xlsx", form, meta=meta, values=values)
    report = read_workbook(path)
    assert report.method == "defined-names"
    assert (report.department, report.year, report.campaign, report.token) == (
        "CITY-GAJ",
        form.first_year,
        str(form.first_year),
        "tok-77",
    )
    assert {c: report.value(c) for c in values} == {c: Decimal(v) for c, v in values.items()}


def test_the_same_checks_as_the_old_way(form):
    other = load_form(next(f for f in FORM_IDS if f != form.id))
    with pytest.raises(FormError, match="another form"):
        template_copy(form, _meta(other))
    with pytest.raises(FormError, match="has no cells"):
        template_copy(form, _meta(form), {"no.such.cell": 1})
    with pytest.raises(FormError, match="not a number"):
        template_copy(form, _meta(form), {next(iter(form.cells)): True})
