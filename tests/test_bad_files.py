"""Hostile and broken attachments: each is a clean WorkbookError with a Chinese reason, never a
traceback, and the next good file still reads (in-process pre-checks, isolated worker)."""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from docx import Document
from msoffcrypto.format.ooxml import OOXMLFile

from annual_report.errors import WorkbookError
from annual_report.form.model import load_form
from annual_report.workbook import intake
from annual_report.workbook.intake import inspect
from annual_report.workbook.sandbox import Sandbox, read_untrusted
from annual_report.workbook.template import TemplateMeta, write_template

FIXTURES = Path(__file__).parent / "fixtures" / "workbooks"
F2021 = "gov-disclosure-2021"
F2019 = "gov-disclosure-2019"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox() as box:
        yield box


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return template(tmp_path_factory.mktemp("good") / "good.xlsx")


def template(path: Path, form_id: str = F2021, year: int | None = None) -> Path:
    form = load_form(form_id)
    meta = TemplateMeta(form.id, year or form.first_year, "ZS-RSJ", "樟树市人社局", "c1", "tok")
    values = {code: i for i, code in enumerate(form.cells)}
    return write_template(path, form, meta=meta, values=values)


def assert_good_still_reads(sandbox: Sandbox, good: Path) -> None:
    report = sandbox.read(good)
    assert report.method == "defined-names"
    assert report.value("review.total") == Decimal(list(report.form.cells).index("review.total"))


def assert_refused(sandbox: Sandbox, path: Path, kind: str, words: str = "") -> WorkbookError:
    with pytest.raises(WorkbookError) as caught:
        sandbox.read(path)
    error = caught.value
    assert error.kind == kind, error
    assert words in error.message
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error.reason_zh)  # Chinese, for the clerk
    assert "Traceback" not in error.message + error.reason_zh
    assert error.context["file"] == str(path)
    return error


def rezip(src: Path, dst: Path, replace=None, add=None, drop=()) -> Path:
    """A copy of the zip ``src`` with members replaced, added or dropped."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = zin.read(item.filename)
            if item.filename in replace:
                data = replace[item.filename](data)
            zout.writestr(item.filename, data)
        for name, data in add.items():
            zout.writestr(name, data)
    return dst


S3_PART = "xl/worksheets/sheet4.xml"  # 三、收到和处理政府信息公开申请情况 (the 4th sheet)


def before_sheet_data_end(extra: bytes):
    return lambda xml: xml.replace(b"</sheetData>", extra + b"</sheetData>")


# -- the files -------------------------------------------------------------------------------------


def make_empty(tmp: Path, good: Path) -> Path:
    (tmp / "empty.xlsx").write_bytes(b"")
    return tmp / "empty.xlsx"


def make_truncated(tmp: Path, good: Path) -> Path:
    data = good.read_bytes()
    (tmp / "truncated.xlsx").write_bytes(data[: len(data) // 2])
    return tmp / "truncated.xlsx"


def make_damaged_member(tmp: Path, good: Path) -> Path:
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo(S3_PART)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 100, start + 140):
        data[i] ^= 0x5A
    (tmp / "damaged.xlsx").write_bytes(bytes(data))
    return tmp / "damaged.xlsx"


def make_docx(tmp: Path, good: Path) -> Path:
    doc = Document()
    doc.add_paragraph("樟树市人社局2021年政府信息公开工作年度报告")
    doc.save(tmp / "report.xlsx")  # a Word file with a spreadsheet's name
    return tmp / "report.xlsx"


def make_pdf(tmp: Path, good: Path) -> Path:
    (tmp / "report.xls").write_bytes(b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n")
    return tmp / "report.xls"


def make_csv(tmp: Path, good: Path) -> Path:
    (tmp / "report.xlsx").write_text("项目,自然人,总计\n本年新收,3,3\n", encoding="utf-8")
    return tmp / "report.xlsx"


def make_html_xls(tmp: Path, good: Path) -> Path:
    (tmp / "export.xls").write_text(
        "<html><head><meta charset='utf-8'></head><body><table><tr><td>规章</td><td>0</td>"
        "</tr></table></body></html>",
        encoding="utf-8",
    )
    return tmp / "export.xls"


def make_plain_zip(tmp: Path, good: Path) -> Path:
    with zipfile.ZipFile(tmp / "attachments.xlsx", "w") as archive:
        archive.writestr("年报.txt", "见附件")
    return tmp / "attachments.xlsx"


def make_xlsb(tmp: Path, good: Path) -> Path:
    return rezip(good, tmp / "binary.xlsb", add={"xl/workbook.bin": b"\x83\x01\x00"})


def make_et(tmp: Path, good: Path) -> Path:
    """An OLE file without a workbook stream, like a WPS .et file calamine cannot read."""
    out = io.BytesIO()
    with good.open("rb") as f:
        OOXMLFile(f).encrypt("secret", out)
    data = out.getvalue()
    for old, new in (
        ("EncryptionInfo", "WpsTableInfo00"),
        ("EncryptedPackage", "ETSheetContent01"),
    ):
        data = data.replace(old.encode("utf-16-le"), new.encode("utf-16-le"))
    (tmp / "report.et").write_bytes(data)
    return tmp / "report.et"


def make_encrypted_xlsx(tmp: Path, good: Path) -> Path:
    with good.open("rb") as f, (tmp / "locked.xlsx").open("wb") as out:
        OOXMLFile(f).encrypt("secret", out)
    return tmp / "locked.xlsx"


def make_encrypted_xls(tmp: Path, good: Path) -> Path:
    """The fixture .xls with its WRITEACCESS record turned into FILEPASS (RC4), as Excel writes
    a password-protected .xls (the header is all msoffcrypto and calamine look at first)."""
    data = bytearray((FIXTURES / "tiny.xls").read_bytes())
    writeaccess = struct.pack("<HH", 0x005C, 112)
    assert data.count(writeaccess) == 1
    at = data.find(writeaccess)
    data[at : at + 6] = struct.pack("<HHH", 0x002F, 112, 0x0001)  # FILEPASS, RC4
    (tmp / "locked.xls").write_bytes(bytes(data))
    return tmp / "locked.xls"


def make_far_xls(tmp: Path, good: Path) -> Path:
    data = bytearray((FIXTURES / "tiny.xls").read_bytes())
    number = struct.pack("<HH", 0x027E, 10)  # RK record (the 3 in B1): row, column, xf, RK
    assert data.count(number) == 1
    struct.pack_into("<H", data, data.find(number) + 4, 60000)
    (tmp / "far.xls").write_bytes(bytes(data))
    return tmp / "far.xls"


def make_too_large(tmp: Path, good: Path) -> Path:
    with (tmp / "huge.xlsx").open("wb") as f:
        f.write(good.read_bytes())
        f.truncate(intake.MAX_FILE_BYTES + 1)
    return tmp / "huge.xlsx"


def make_bomb_declared(tmp: Path, good: Path) -> Path:
    """A sheet padded with whitespace: 60 MB of XML in a few tens of KB."""
    pad = b" " * (60 * 1024 * 1024)
    return rezip(good, tmp / "bomb.xlsx", replace={S3_PART: before_sheet_data_end(pad)})


def make_bomb_ratio(tmp: Path, good: Path) -> Path:
    pad = b" " * (5 * 1024 * 1024)  # under the size limits, but 1000:1
    return rezip(good, tmp / "bomb-ratio.xlsx", replace={S3_PART: before_sheet_data_end(pad)})


def make_bomb_lying(tmp: Path, good: Path) -> Path:
    """A member that declares 8 KB but inflates to 60 MB (sizes patched in both headers)."""
    path = rezip(
        good,
        tmp / "bomb-lying.xlsx",
        replace={S3_PART: before_sheet_data_end(b" " * (60 * 1024 * 1024))},
    )
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(S3_PART)
    struct.pack_into("<L", data, info.header_offset + 22, 8192)  # local header
    central = data.find(b"PK\x01\x02")
    while central >= 0:  # this member's central directory entry, found by its name
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len] == S3_PART.encode():
            struct.pack_into("<L", data, central + 24, 8192)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(S3_PART).file_size == 8192
    return path


def make_bomb_sum(tmp: Path, good: Path) -> Path:
    """Members of moderate ratio (< 100) that together inflate past the limit."""
    rnd = random.Random(1)
    member = b"".join(rnd.randbytes(120) + b"\0" * 6000 for _ in range(1000))  # ~6 MB
    compressed = len(zipfile._get_compressor(zipfile.ZIP_DEFLATED).compress(member))
    assert len(member) / compressed < intake.MAX_RATIO
    return rezip(
        good, tmp / "bomb-sum.xlsx", add={f"xl/media/image{i}.bin": member for i in range(9)}
    )


def make_many_members(tmp: Path, good: Path) -> Path:
    return rezip(
        good, tmp / "members.xlsx", add={f"xl/x/{i}.xml": b"" for i in range(intake.MAX_MEMBERS)}
    )


def make_shared_strings_bomb(tmp: Path, good: Path) -> Path:
    sst = (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main" count="4000000000" uniqueCount="4000000000"><si><t>a</t></si>'
        b"</sst>"
    )
    return rezip(good, tmp / "sst.xlsx", add={"xl/sharedStrings.xml": sst})


def make_far_cell(tmp: Path, good: Path) -> Path:
    """An empty string at XFD1048576 under a <dimension> that says nothing of it: calamine
    would try to allocate the whole sheet (512 GiB) and abort the process."""
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t></t></is></c></row>'
    return rezip(good, tmp / "far.xlsx", replace={S3_PART: before_sheet_data_end(far)})


def make_far_unaddressed(tmp: Path, good: Path) -> Path:
    """Cells without ``r`` attributes: their position follows from their order."""
    far = b'<row r="5000">' + b"<c><v>1</v></c>" * 300 + b"</row>"
    return rezip(good, tmp / "far2.xlsx", replace={S3_PART: before_sheet_data_end(far)})


ODS_MANIFEST = (
    b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
    b'"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    b'<manifest:file-entry manifest:full-path="/" manifest:media-type='
    b'"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
    b'manifest:full-path="content.xml" manifest:media-type="text/xml"/>%s</manifest:manifest>'
)


def ods(path: Path, rows: bytes, manifest_extra: bytes = b"") -> Path:
    content = (
        b'<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        b'<office:body><office:spreadsheet><table:table table:name="Sheet1">'
        b"<table:table-column/>" + rows + b"</table:table></office:spreadsheet></office:body>"
        b"</office:document-content>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), b"application/vnd.oasis.opendocument.spreadsheet"
        )
        archive.writestr("content.xml", content)
        archive.writestr("META-INF/manifest.xml", ODS_MANIFEST % manifest_extra)
    return path


def make_ods_repeated(tmp: Path, good: Path) -> Path:
    """One short row repeated a million times, each with a value repeated 1024 times."""
    row = (
        b'<table:table-row table:number-rows-repeated="1048576"><table:table-cell '
        b'table:number-columns-repeated="1024" office:value-type="float" office:value="1">'
        b"<text:p>1</text:p></table:table-cell></table:table-row>"
    )
    return ods(tmp / "repeated.ods", row)


def make_ods_encrypted(tmp: Path, good: Path) -> Path:
    extra = (
        b'<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml">'
        b'<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"/>'
        b"</manifest:file-entry>"
    )
    return ods(tmp / "locked.ods", b"<table:table-row><table:table-cell/></table:table-row>", extra)


def make_not_a_report(tmp: Path, good: Path) -> Path:
    shutil.copy(FIXTURES / "tiny.xls", tmp / "other.xls")  # a real .xls, but not our form
    return tmp / "other.xls"


BAD_FILES = {
    "empty": (make_empty, "empty", "empty"),
    "truncated zip": (make_truncated, "corrupt", "truncated"),
    "damaged member": (make_damaged_member, "corrupt", "damaged"),
    "docx": (make_docx, "not-a-workbook", "Word"),
    "pdf": (make_pdf, "not-a-workbook", "PDF"),
    "csv text": (make_csv, "not-a-workbook", "plain text"),
    "html named .xls": (make_html_xls, "not-a-workbook", "HTML"),
    "plain zip": (make_plain_zip, "not-a-workbook", "zip archive"),
    "xlsb": (make_xlsb, "not-a-workbook", "xlsb"),
    "wps et": (make_et, "not-a-workbook", "OLE compound file"),
    "encrypted xlsx": (make_encrypted_xlsx, "encrypted", "Office Open XML"),
    "encrypted xls": (make_encrypted_xls, "encrypted", "FILEPASS"),
    "encrypted ods": (make_ods_encrypted, "encrypted", "OpenDocument"),
    "too large": (make_too_large, "too-large", "limit"),
    "bomb": (make_bomb_declared, "decompression-bomb", "declares"),
    "bomb by ratio": (make_bomb_ratio, "decompression-bomb", "ratio"),
    "bomb lying about its size": (make_bomb_lying, "decompression-bomb", "inflates past"),
    "bomb by total": (make_bomb_sum, "decompression-bomb", "in total"),
    "too many members": (make_many_members, "decompression-bomb", "members"),
    "shared strings": (make_shared_strings_bomb, "decompression-bomb", "shared-string"),
    "value at XFD1048576": (
        make_far_cell,
        "sheet-too-large",
        "'三、收到和处理政府信息公开申请情况' has values up to row 1,048,576, column 16,384",
    ),
    "xls value far down": (make_far_xls, "sheet-too-large", "'Sheet1' has values up to row 60,001"),
    "cells without addresses": (make_far_unaddressed, "sheet-too-large", "5,000"),
    "ods repeated cells": (make_ods_repeated, "sheet-too-large", "1,048,576"),
    "not a report": (make_not_a_report, "not-a-report", "no report table"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_refused_cleanly(case, sandbox, good, tmp_path):
    make, kind, words = BAD_FILES[case]
    path = make(tmp_path, good)
    error = assert_refused(sandbox, path, kind, words)
    if kind != "not-a-report":  # refused before any parser saw it
        with pytest.raises(WorkbookError):
            inspect(path)
    assert error.reason_zh.endswith("。")
    assert not any(ch in error.reason_zh for ch in ",;:()")  # full-width punctuation only
    assert_good_still_reads(sandbox, good)


def test_wrong_form_version_is_readable_and_says_so(sandbox, tmp_path):
    path = template(tmp_path / "old.xlsx", F2019, year=2022)
    report = sandbox.read(path, year=2022)
    assert (report.year, report.form.id, report.declared_form) == (2022, F2019, F2019)
    from annual_report.validation import validate

    flat = validate(report).flat()
    assert any(rule == "R6" and severity == "error" for rule, severity, _ in flat)


def test_read_untrusted_uses_one_shared_worker(good):
    first = read_untrusted(good)
    second = read_untrusted(good, year=2021, form_id=F2021)
    assert first.values() == second.values()
    assert first.department == "ZS-RSJ" and first.source == str(good)


# -- the worker dies ------------------------------------------------------------------------


def test_worker_abort_becomes_crashed_and_the_next_file_reads(good):
    with Sandbox() as box:
        box.read(good)
        with pytest.raises(WorkbookError) as caught:
            box._call(("abort",), "boom.xlsx")  # test hook: dies as calamine does on OOM
        assert caught.value.kind == "crashed"
        assert "SIGABRT" in caught.value.message
        assert "资源上限" in caught.value.reason_zh
        assert_good_still_reads(box, good)
        assert box.starts == 2


def make_string_amplifier(tmp: Path, good: Path) -> Path:
    """Every pre-check passes (the cell cap, 500 × 200, and one shared string), but each cell
    is a copy of a 4,000-character string once read: 400 MB, over the worker's memory."""
    rows = []
    for r in range(1, intake.MAX_CELLS // intake.MAX_COLUMNS + 1):
        cells = "".join(f'<c r="{_col(c)}{r}" t="s"><v>0</v></c>' for c in range(200))
        rows.append(f'<row r="{r}">{cells}</row>')
    sst = (
        '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
        f'spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>{"年报" * 2000}</t></si></sst>'
    )
    return rezip(
        good,
        tmp / "amplifier.xlsx",
        replace={S3_PART: _with_rows("".join(rows))},
        add={"xl/sharedStrings.xml": sst.encode()},
    )


def test_worker_out_of_memory_becomes_crashed(good, tmp_path):
    """Within every cap of the pre-checks, a file can still need more memory than the worker
    has: its allocation fails and the worker dies; the next file reads in a fresh one."""
    amplifier = make_string_amplifier(tmp_path, good)
    inspect(amplifier)  # legal as far as the pre-checks go
    with Sandbox() as box:
        box.read(good)
        with pytest.raises(WorkbookError) as caught:
            box.read(amplifier)
        assert caught.value.kind == "crashed"
        assert_good_still_reads(box, good)


def _with_rows(rows: str):
    return lambda xml: (
        xml.split(b"<sheetData>")[0]
        + f"<sheetData>{rows}</sheetData>".encode()
        + (xml.split(b"</sheetData>")[1])
    )


def _col(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def test_worker_that_hangs_is_killed(good):
    with Sandbox(timeout=1.0) as box:
        box.read(good)
        with pytest.raises(WorkbookError) as caught:
            box._call(("sleep", 30), "slow.xlsx")  # test hook: a parse that never ends
        assert caught.value.kind == "timeout"
        assert "超时" in caught.value.reason_zh
        assert_good_still_reads(box, good)


def test_cli_reports_a_bad_file_in_one_line(good, tmp_path):
    path = make_far_cell(tmp_path, good)
    result = subprocess.run(
        [sys.executable, "-c", "from flows.cli import main; main()", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, COLUMNS="200"),
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "row 1,048,576" in result.stderr


# -- nianbao validate: an exit code and one line for every input ------------------------------


def make_huge_number(tmp: Path, good: Path) -> Path:
    """A count cell holding a 200,000-digit number, written into the sheet XML as text."""

    def swap(xml: bytes) -> bytes:
        cell = re.search(rb'<c r="(D7)"[^>]*>(<v>[^<]*</v>)</c>', xml)
        assert cell, "the template's D7"
        digits = b"9" * 200_000
        return xml.replace(
            cell.group(0), b'<c r="D7" t="inlineStr"><is><t>' + digits + b"</t></is></c>"
        )

    return rezip(good, tmp / "huge-number.xlsx", replace={S3_PART: swap})


def test_validate_answers_every_file_with_an_exit_code_and_at_most_one_line(good, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    inputs = []
    for name, (make, _kind, _words) in BAD_FILES.items():
        folder = tmp_path / re.sub(r"\W+", "-", name)
        folder.mkdir()
        inputs.append((make(folder, good), 2))
    inputs += [
        (make_huge_number(tmp_path, good), 1),
        (good, 1),  # readable; its made-up values break the sums
        (tmp_path, 2),  # a directory
        (tmp_path / "missing.xlsx", 2),
        (tmp_path / "[bold]年报[/].xlsx", 2),  # markup in the name, not a file
    ]
    garbage = tmp_path / "report.txt"
    garbage.write_bytes(bytes(range(256)) * 100)
    inputs.append((garbage, 2))  # a "published text" with no report in it
    runner = CliRunner()
    for path, code in inputs:
        for extra in ([], ["--json"]):
            result = runner.invoke(app, ["validate", str(path), *extra])
            assert not isinstance(result.exception, Exception) or isinstance(
                result.exception, SystemExit
            ), (path, result.exception)
            assert result.exit_code == code, (path, result.stderr)
            assert "Traceback" not in result.stdout + result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == (1 if code == 2 else 0), (path, lines)
            if extra:
                json.loads(result.stdout)  # JSON whatever the file (an error is JSON too)
    result = runner.invoke(app, ["validate", str(make_huge_number(tmp_path, good)), "--json"])
    r5 = [i for i in json.loads(result.stdout)["issues"] if i["rule"] == "R5"]
    assert len(r5) == 1 and "“9999999999999999…”（共200,000位）" in r5[0]["message"]
    assert len(r5[0]["message"]) < 200


def test_a_styled_blank_far_away_is_no_refusal_but_a_hidden_value_is(sandbox, good, tmp_path):
    """Past the caps, the pre-check tells cells apart: a styled blank at XFD1048576 holds
    nothing (the file reads), a value behind a quoted ``/>`` in its start tag still counts."""
    blank = b'<row r="1048576"><c r="XFD1048576" s="1"/></row>'
    styled = rezip(good, tmp_path / "blank.xlsx", replace={S3_PART: before_sheet_data_end(blank)})
    rows, cols = inspect(styled).extents[S3_PART]  # the valued cells' extent
    assert rows <= intake.MAX_ROWS and cols <= intake.MAX_COLUMNS
    assert sandbox.read(styled).method == "defined-names"
    hidden = b'<row r="1048576"><c r="XFD1048576" x="/>" t="inlineStr"><is><t>1</t></is></c></row>'
    path = rezip(good, tmp_path / "hidden.xlsx", replace={S3_PART: before_sheet_data_end(hidden)})
    assert_refused(sandbox, path, "sheet-too-large", "up to row 1,048,576, column 16,384")
    assert_good_still_reads(sandbox, good)
