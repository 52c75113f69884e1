"""Files re-saved by LibreOffice (as .xlsx, .xls and .ods) read back to the same values and
metadata — by their defined names when LibreOffice kept them, by their labels otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from annual_report.form.layout import layout
from annual_report.form.model import load_form
from annual_report.workbook.intake import inspect
from annual_report.workbook.sandbox import Sandbox
from annual_report.workbook.template import TemplateMeta, write_template

pytestmark = [
    pytest.mark.libreoffice,
    pytest.mark.skipif(
        shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed"
    ),
]

FORMATS = ("xlsx", "xls", "ods")
NARRATIVE = {
    "narrative.overview": "本机关全年主动公开政府信息1234条。\n收到政府信息公开申请12件。",
    "narrative.problems": "主动公开的及时性有待提高。",
    "narrative.other_matters": "本机关无收取信息处理费情况。",
}
TYPED = {  # what a clerk types instead of numbers, kept as raw text through the re-save
    "requests.new_received.natural_person": "12件",
    "requests.new_received.commercial": "/",
}


def expected_values(form_id: str) -> dict[str, Decimal]:
    form = load_form(form_id)
    values = {code: Decimal(i + 1) for i, code in enumerate(form.cells)}
    for code, cell in form.cells.items():
        if cell.type == "money":
            values[code] = Decimal("72701.2578")
        elif cell.type == "signed":
            values[code] = -values[code]
    return values


def _source(folder: Path, name: str, form_id: str, *, names: bool) -> Path:
    form = load_form(form_id)
    meta = TemplateMeta(form.id, form.first_year, "ZS-RSJ", "樟树市人社局", f"c{form.id}", "tk-9")
    path = write_template(
        folder / f"{name}.xlsx",
        form,
        meta=meta,
        values=expected_values(form_id),
        narrative=NARRATIVE,
    )
    wb = openpyxl.load_workbook(path)
    lay = layout(form)
    for code, text in TYPED.items():
        pos = lay.position(code)
        wb[pos.sheet].cell(pos.row, pos.column).value = text
    if not names:
        for defined in list(wb.defined_names):
            del wb.defined_names[defined]
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Three sources, each converted to three formats (one soffice call per format)."""
    root = tmp_path_factory.mktemp("lo")
    src = root / "src"
    src.mkdir()
    sources = {
        "named-2021": _source(src, "named-2021", "gov-disclosure-2021", names=True),
        "named-2019": _source(src, "named-2019", "gov-disclosure-2019", names=True),
        "nameless-2021": _source(src, "nameless-2021", "gov-disclosure-2021", names=False),
    }
    home = root / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    for fmt in FORMATS:
        subprocess.run(
            [
                "soffice",
                f"-env:UserInstallation=file://{root}/lo-profile",
                "--headless",
                "--convert-to",
                fmt,
                "--outdir",
                str(root / fmt),
                *map(str, sources.values()),
            ],
            check=True,
            env=env,
            capture_output=True,
            timeout=300,
        )
    return {(name, fmt): root / fmt / f"{name}.{fmt}" for name in sources for fmt in FORMATS}


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox() as box:
        yield box


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("name", "form_id", "method"),
    [
        ("named-2021", "gov-disclosure-2021", "defined-names"),
        ("named-2019", "gov-disclosure-2019", "defined-names"),
        ("nameless-2021", "gov-disclosure-2021", "labels"),
    ],
)
def test_resaved_file_reads_back_the_same(converted, sandbox, name, form_id, method, fmt):
    path = converted[(name, fmt)]
    assert inspect(path).kind == fmt
    report = sandbox.read(path)
    assert report.method == method
    assert (report.form.id, report.declared_form) == (form_id, form_id)
    assert (report.year, report.department, report.campaign, report.token) == (
        load_form(form_id).first_year,
        "ZS-RSJ",
        f"c{form_id}",
        "tk-9",
    )
    expected = expected_values(form_id)
    expected.update({"requests.new_received.natural_person": Decimal(12)})
    expected.update({"requests.new_received.commercial": Decimal(0)})
    assert report.values() == expected
    assert report.missing == []
    for code, text in TYPED.items():
        assert report.entries[code].raw == text
    money = "proactive.admin_fees.amount_wan_yuan"
    if money in report.entries:
        assert report.entries[money].raw == "72701.2578"
    assert report.narrative == NARRATIVE
    assert report.entries["review.total"].cell == layout(report.form).ref("review.total")
