"""Pre-checks on a returned file before any spreadsheet library touches it.

Attachments come from outside, so :func:`inspect` looks at the bytes first: it tells the format
by content (magic bytes, zip members, OLE streams — never by the file name), refuses empty,
oversized, encrypted, corrupt and non-spreadsheet files, and guards the parsers against files
built to exhaust them:

* zip members are inflated here, streamed with a cap, from their raw compressed bytes — so a
  member that lies about its size, or a tiny zip that inflates to gigabytes, is caught before a
  parser sees it;
* every sheet is scanned for the extent of the cells that hold a value (python-calamine
  allocates a dense grid up to the last one: a value at XFD1048576 aborts the whole process);
* a shared-string table that declares an absurd count is refused (calamine pre-allocates it).

Every refusal is a :class:`~annual_report.errors.WorkbookError` with a stable ``kind`` slug, a
precise English ``reason`` and a Chinese ``reason_zh`` for the department. The checks are cheap
(about a millisecond for a 30 KB template); the isolated child process of
``sandbox.py`` remains the last line of defence for whatever they do not foresee.
"""

from __future__ import annotations

import hashlib
import html
import io
import logging
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

import msoffcrypto
import olefile

from .errors import WorkbookError

log = logging.getLogger(__name__)

FileKind = Literal["xlsx", "xlsm", "xls", "ods"]

# Limits. A filled template is ~10 KB zipped, ~100 KB inflated, ~60 rows × 20 columns.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_INFLATED_BYTES = 50 * 1024 * 1024  # any one member, and all members together
MAX_RATIO = 100  # inflated / compressed, for members bigger than RATIO_MIN_BYTES
RATIO_MIN_BYTES = 1024 * 1024
MAX_MEMBERS = 5000
MAX_ROWS = 2000
MAX_COLUMNS = 200
MAX_SHARED_STRINGS = 200_000

# Error kinds (stable slugs; the flows and the CLI branch on them).
EMPTY = "empty"
TOO_LARGE = "too-large"
NOT_A_WORKBOOK = "not-a-workbook"
CORRUPT = "corrupt"
ENCRYPTED = "encrypted"
BOMB = "decompression-bomb"
SHEET_TOO_LARGE = "sheet-too-large"

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_CHUNK = 64 * 1024

_ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"
_XLSM_MAIN = b"application/vnd.ms-excel.sheet.macroEnabled.main+xml"
_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_SHEET_REL_TYPES = ("/worksheet", "/macrosheet", "/dialogsheet", "/xlMacrosheet")


@dataclass(frozen=True)
class FileInfo:
    """What :func:`inspect` found: the format (by content), size, content hash."""

    kind: FileKind
    size: int
    sha256: str
    macros: bool = False  # a VBA project / Basic library is present (never executed)
    extents: dict[str, tuple[int, int]] = field(default_factory=dict)  # part → (rows, cols)


def _fail(kind: str, reason: str, reason_zh: str, path: Path | str) -> WorkbookError:
    return WorkbookError(reason, reason_zh, kind=kind, file=str(path))


_ZH_RESEND = "请使用下发的Excel模板填写，保存为.xlsx格式后重新发送。"
_ZH_SAVE_AS = "请在Excel或WPS中打开，用“另存为”保存为“Excel工作簿（.xlsx）”后重新发送。"


def inspect(path: str | Path) -> FileInfo:
    """Check ``path`` before it is parsed; raise :class:`WorkbookError` when it must not be."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _fail(
                TOO_LARGE,
                f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit",
                f"文件过大（{size / 1048576:.1f} MB），超过{MAX_FILE_BYTES // 1048576} MB的上限。"
                "请删除表格以外的图片和多余内容后重新发送。",
                path,
            )
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(
            NOT_A_WORKBOOK,
            f"cannot read the file: {exc.strerror or exc}",
            "无法读取该文件。" + _ZH_RESEND,
            path,
        ) from None
    if not data:
        raise _fail(
            EMPTY,
            "the file is empty (0 bytes)",
            "文件是空的（0字节），请重新添加附件后发送。",
            path,
        )
    sha = hashlib.sha256(data).hexdigest()
    if data.startswith(_ZIP_MAGICS):
        kind, macros, extents = _inspect_zip(data, path)
    elif data.startswith(_OLE_MAGIC):
        kind, macros, extents = _inspect_ole(data, path)
    else:
        raise _not_spreadsheet(data, path)
    return FileInfo(kind, len(data), sha, macros, extents)


# -- not a spreadsheet at all ------------------------------------------------------------------


def _not_spreadsheet(data: bytes, path: Path) -> WorkbookError:
    head = data[:2048]
    if head.startswith(b"%PDF"):
        return _fail(
            NOT_A_WORKBOOK,
            "a PDF document, not a workbook",
            "这是PDF文件，不是Excel表格，无法读取其中的数据。" + _ZH_RESEND,
            path,
        )
    if head.startswith(b"{\\rtf"):
        return _fail(
            NOT_A_WORKBOOK,
            "an RTF document, not a workbook",
            "这是RTF文档，不是Excel表格。" + _ZH_RESEND,
            path,
        )
    text = _as_text(head)
    if text is None:
        return _fail(
            NOT_A_WORKBOOK,
            "unknown binary format (no zip or OLE signature)",
            "无法识别的文件格式，不是Excel表格。" + _ZH_RESEND,
            path,
        )
    lowered = text.lstrip("\ufeff \r\n\t").lower()
    if "urn:schemas-microsoft-com:office:spreadsheet" in lowered:
        return _fail(
            NOT_A_WORKBOOK,
            "an XML Spreadsheet 2003 file, not a supported workbook",
            "这是“XML表格2003”格式的文件，不是标准的Excel工作簿。" + _ZH_SAVE_AS,
            path,
        )
    if lowered.startswith(("<!doctype html", "<html", "<table", "<?xml", "<meta")) or (
        "<html" in lowered[:512]
    ):
        return _fail(
            NOT_A_WORKBOOK,
            "an HTML/XML page (perhaps named .xls), not a workbook",
            "这是网页格式的文件（扩展名可能是.xls），不是真正的Excel工作簿。" + _ZH_SAVE_AS,
            path,
        )
    return _fail(
        NOT_A_WORKBOOK,
        "plain text (perhaps CSV), not a workbook",
        "这是纯文本文件（可能是CSV或文本），不是Excel表格。" + _ZH_RESEND,
        path,
    )


def _as_text(head: bytes) -> str | None:
    if b"\x00" in head.rstrip(b"\x00")[:1024] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    for encoding in ("utf-8", "utf-16", "gb18030"):
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError:
            continue
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
        if printable >= 0.9 * max(len(text), 1):
            return text
    return None


# -- zip containers: xlsx, xlsm, ods (and what only looks like them) ---------------------------


def _corrupt_zip(detail: str, path: Path) -> WorkbookError:
    return _fail(
        CORRUPT,
        f"damaged or truncated zip container: {detail}",
        "文件已损坏或不完整（可能在传输中被截断），无法打开。请重新保存后再发送一次。",
        path,
    )


def _bomb(detail: str, path: Path) -> WorkbookError:
    return _fail(
        BOMB,
        f"decompression bomb: {detail}",
        "文件内部结构异常（解压后的数据量远超一份报表），为安全起见已拒绝读取。" + _ZH_RESEND,
        path,
    )


def _inspect_zip(data: bytes, path: Path) -> tuple[FileKind, bool, dict[str, tuple[int, int]]]:
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _corrupt_zip(str(exc), path) from None
    if len(infos) > MAX_MEMBERS:
        raise _bomb(f"{len(infos)} zip members (limit {MAX_MEMBERS})", path)
    names = {i.filename for i in infos}
    if any(i.flag_bits & 0x1 for i in infos):
        raise _encrypted("zip members are encrypted", path)

    # What kind of document is it? Decided by members, not by the file name.
    if "xl/workbook.bin" in names:
        raise _fail(
            NOT_A_WORKBOOK,
            "an Excel binary workbook (.xlsb), which is not supported",
            "这是Excel二进制工作簿（.xlsb），系统不支持该格式。" + _ZH_SAVE_AS,
            path,
        )
    if "word/document.xml" in names:
        raise _fail(
            NOT_A_WORKBOOK,
            "a Word document (.docx), not a workbook",
            "这是Word文档，不是Excel表格。报告中的表格请填写在下发的Excel模板中，"
            "保存为.xlsx格式后发送。",
            path,
        )
    if "ppt/presentation.xml" in names:
        raise _fail(
            NOT_A_WORKBOOK,
            "a PowerPoint presentation, not a workbook",
            "这是PowerPoint演示文稿，不是Excel表格。" + _ZH_RESEND,
            path,
        )

    # Sizes as declared by the central directory: cheap first refusals.
    declared = sum(i.file_size for i in infos)
    for info in infos:
        if info.file_size > MAX_INFLATED_BYTES:
            raise _bomb(f"member {info.filename} declares {info.file_size:,} bytes", path)
        if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(
            info.compress_size, 1
        ):
            ratio = info.file_size / max(info.compress_size, 1)
            raise _bomb(
                f"member {info.filename} declares a {ratio:.0f}:1 compression ratio"
                f"  ({info.compress_size:,} → {info.file_size:,} bytes)",
                path,
            )
    if declared > MAX_INFLATED_BYTES:
        raise _bomb(f"members declare {declared:,} bytes in total", path)

    if "mimetype" in names or "content.xml" in names:
        kind: FileKind = "ods"
        mimetype = (
            _inflate(data, archive.getinfo("mimetype"), path, 1024)
            if ("mimetype" in names)
            else b""
        )
        if mimetype and not mimetype.strip().startswith(_ODS_MIME):
            raise _fail(
                NOT_A_WORKBOOK,
                f"an OpenDocument file of type {mimetype.strip().decode('ascii', 'replace')!r}, "
                "not a spreadsheet",
                "这是OpenDocument文档，但不是电子表格。" + _ZH_RESEND,
                path,
            )
        if "content.xml" not in names:
            raise _corrupt_zip("OpenDocument spreadsheet without content.xml", path)
        manifest = (
            _inflate(data, archive.getinfo("META-INF/manifest.xml"), path, 4 * 1024 * 1024)
            if "META-INF/manifest.xml" in names
            else b""
        )
        if b"encryption-data" in manifest:
            raise _encrypted("OpenDocument content is encrypted (manifest encryption-data)", path)
        macros = any(n.startswith(("Basic/", "Scripts/")) for n in names)
        sheet_parts = {"content.xml"}
    elif "xl/workbook.xml" in names or "[Content_Types].xml" in names:
        if "xl/workbook.xml" not in names:
            raise _fail(
                NOT_A_WORKBOOK,
                "an Office Open XML package without a workbook part",
                "这是Office文档，但不是Excel表格。" + _ZH_RESEND,
                path,
            )
        types = (
            _inflate(data, archive.getinfo("[Content_Types].xml"), path, 1024 * 1024)
            if ("[Content_Types].xml" in names)
            else b""
        )
        macros = any(n.lower().endswith("vbaproject.bin") for n in names)
        kind = "xlsm" if (macros or _XLSM_MAIN in types) else "xlsx"
        sheet_parts = _xlsx_sheet_parts(data, archive, names, path)
    else:
        raise _fail(
            NOT_A_WORKBOOK,
            "a zip archive that is not an Office or OpenDocument file",
            "这是一个压缩包，不是Excel表格。请不要压缩，直接把填好的.xlsx文件作为附件发送。",
            path,
        )

    # Inflate every member ourselves, capped, trusting no declared size; scan sheets as we go.
    total = 0
    extents: dict[str, tuple[int, int]] = {}
    for info in infos:
        if info.is_dir():
            continue
        keep = info.filename in sheet_parts or info.filename == "xl/sharedStrings.xml"
        content, size = _inflate_counted(data, info, path, MAX_INFLATED_BYTES - total, keep)
        total += size
        if not keep:
            continue
        if info.filename == "xl/sharedStrings.xml":
            _check_shared_strings(content, path)
        elif kind == "ods":
            for sheet, extent in _ods_extents(content).items():
                extents[sheet] = extent
                _check_extent(sheet, *extent, path)
        else:
            extent = _xlsx_extent(content)
            extents[info.filename] = extent
            if _too_large(*extent):  # name the sheet as the clerk sees it
                _check_extent(_xlsx_sheet_name(data, archive, info.filename), *extent, path)
    if macros:
        log.info("%s contains macros; they are never executed", path)
    return kind, macros, extents


def _xlsx_sheet_parts(data: bytes, archive, names: set[str], path: Path) -> set[str]:
    """Worksheet parts: the workbook's relationship targets plus the conventional folders."""
    parts = {
        n
        for n in names
        if n.startswith(("xl/worksheets/", "xl/macrosheets/", "xl/dialogsheets/"))
        and n.endswith(".xml")
    }
    rels = "xl/_rels/workbook.xml.rels"
    if rels in names:
        raw = _inflate(data, archive.getinfo(rels), path, 4 * 1024 * 1024)
        try:
            root = ElementTree.fromstring(raw)
        except ElementTree.ParseError as exc:
            raise _corrupt_zip(f"{rels}: {exc}", path) from None
        for rel in root.iter(f"{_REL_NS}Relationship"):
            if rel.get("Type", "").endswith(_SHEET_REL_TYPES):
                target = rel.get("Target", "")
                target = target.lstrip("/") if target.startswith("/") else "xl/" + target
                parts.add(_normalise_part(target))
    return parts


def _normalise_part(name: str) -> str:
    out: list[str] = []
    for piece in name.split("/"):
        if piece == "..":
            if out:
                out.pop()
        elif piece not in ("", "."):
            out.append(piece)
    return "/".join(out)


def _encrypted(detail: str, path: Path) -> WorkbookError:
    return _fail(
        ENCRYPTED,
        f"password-protected: {detail}",
        "文件设置了打开密码，系统无法读取。请在Excel或WPS中取消“打开密码”"
        "（文件→信息→保护工作簿→用密码进行加密，清空密码）后重新发送。",
        path,
    )


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def _raw_member(data: bytes, info, path: Path) -> memoryview:
    """The compressed bytes of a member, located through its local header."""
    offset = info.header_offset
    if offset + _LOCAL_HEADER.size > len(data):
        raise _corrupt_zip(f"member {info.filename} starts past the end of the file", path)
    fields = _LOCAL_HEADER.unpack_from(data, offset)
    if fields[0] != b"PK\x03\x04":
        raise _corrupt_zip(f"bad local header for {info.filename}", path)
    start = offset + _LOCAL_HEADER.size + fields[9] + fields[10]
    end = start + info.compress_size
    if end > len(data):
        raise _corrupt_zip(f"member {info.filename} is cut short", path)
    return memoryview(data)[start:end]


def _inflate(data: bytes, info, path: Path, cap: int) -> bytes:
    content, _ = _inflate_counted(data, info, path, cap, True)
    return content


def _inflate_counted(data: bytes, info, path: Path, cap: int, keep: bool) -> tuple[bytes, int]:
    """Inflate one member from its raw bytes with an output cap; check size and CRC.

    Returns (content if ``keep`` else b"", inflated size). Exceeding ``cap`` is a bomb whatever
    the member declares; inflating to more (or less) than declared is corruption.
    """
    raw = _raw_member(data, info, path)
    out: list[bytes] = []
    crc = 0
    size = 0
    if info.compress_type == 0:  # stored
        chunk = bytes(raw)
        size = len(chunk)
        if size > cap:
            raise _bomb(f"member {info.filename} holds {size:,} bytes", path)
        crc = zlib.crc32(chunk)
        if keep:
            out.append(chunk)
    elif info.compress_type == 8:  # deflate
        inflater = zlib.decompressobj(-15)
        try:
            for start in range(0, len(raw), _CHUNK):
                pending = bytes(raw[start : start + _CHUNK])
                while pending:
                    piece = inflater.decompress(pending, _CHUNK)
                    pending = inflater.unconsumed_tail
                    size += len(piece)
                    if size > cap:
                        raise _bomb(
                            f"member {info.filename} inflates past {cap:,} bytes "
                            f"(declares {info.file_size:,}, {info.compress_size:,} compressed)",
                            path,
                        )
                    crc = zlib.crc32(piece, crc)
                    if keep:
                        out.append(piece)
                    if inflater.eof:
                        break
                if inflater.eof:
                    break
        except zlib.error as exc:
            raise _corrupt_zip(f"member {info.filename}: {exc}", path) from None
        if not inflater.eof:
            raise _corrupt_zip(f"member {info.filename} ends mid-stream", path)
    else:
        raise _corrupt_zip(
            f"member {info.filename} uses unsupported compression method {info.compress_type}",
            path,
        )
    if size != info.file_size:
        raise _corrupt_zip(
            f"member {info.filename} inflates to {size:,} bytes, declares {info.file_size:,}", path
        )
    if crc != info.CRC:
        raise _corrupt_zip(f"member {info.filename} fails its CRC check", path)
    return b"".join(out), size


def _check_shared_strings(content: bytes, path: Path) -> None:
    head = content[:4096]
    for attr in (rb'uniqueCount="(\d+)"', rb'count="(\d+)"'):
        match = re.search(attr, head)
        if match and int(match.group(1)) > MAX_SHARED_STRINGS:
            raise _bomb(
                f"shared-string table declares {int(match.group(1)):,} strings "
                f"(limit {MAX_SHARED_STRINGS:,})",
                path,
            )


def _too_large(rows: int, cols: int) -> bool:
    return rows > MAX_ROWS or cols > MAX_COLUMNS


def _check_extent(sheet: str, rows: int, cols: int, path: Path) -> None:
    if _too_large(rows, cols):
        raise _fail(
            SHEET_TOO_LARGE,
            f"sheet {sheet!r} has values up to row {rows:,}, column {cols:,} "
            f"(limit {MAX_ROWS:,} rows × {MAX_COLUMNS} columns)",
            f"工作表“{sheet}”中有数据的区域过大（到第{rows}行、第{cols}列），远超报表所需的范围。"
            "请删除表格以外的多余内容（或把数据复制到下发的模板中）后重新发送。",
            path,
        )


_SHEET_ELEMENT = re.compile(rb"<(?:\w+:)?sheet\b[^>]*>")
_XML_NAME = re.compile(rb'\bname="([^"]*)"')
_XML_RID = re.compile(rb'\br:id="([^"]*)"')


def _xlsx_sheet_name(data: bytes, archive, part: str) -> str:
    """The tab name of worksheet ``part`` (for messages; the part name if it cannot be told)."""
    try:
        targets = {}
        root = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        for rel in root.iter(f"{_REL_NS}Relationship"):
            target = rel.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else "xl/" + target
            targets[rel.get("Id", "")] = _normalise_part(target)
        for element in _SHEET_ELEMENT.findall(archive.read("xl/workbook.xml")):
            rid, name = _XML_RID.search(element), _XML_NAME.search(element)
            if rid and name and targets.get(rid.group(1).decode()) == part:
                return html.unescape(name.group(1).decode("utf-8", "replace"))
    except (KeyError, ElementTree.ParseError, ValueError, OSError):
        pass
    return part


# Cells in sheet XML. A self-closing <c …/> holds no value (a styled blank) and costs nothing.
_VALUED_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"[^>]*(?<!/)>')
_UNADDRESSED_CELL = re.compile(rb'<(?:\w+:c\b|c[>/]|c\s(?!r="))')  # prefixed, or no r first
_TAG = re.compile(rb"<(/?)(?:\w+:)?(row|c)(?=[\s/>])([^>]*?)(/?)>")
_R_ATTR = re.compile(rb'\br="([A-Z]{0,3})([0-9]*)"')


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _xlsx_extent(xml: bytes) -> tuple[int, int]:
    """(last row, last column) holding a value, 1-based; (0, 0) for an empty sheet.

    The ``<dimension>`` element is not trusted: it can claim A1 over a value at XFD1048576.
    """
    if _UNADDRESSED_CELL.search(xml) is None:
        # Every cell starts with its address (Excel, LibreOffice, WPS, openpyxl): C-speed path.
        refs = _VALUED_CELL.findall(xml)
        if not refs:
            return 0, 0
        letters, rows = zip(*refs, strict=True)
        widest = max(set(letters), key=lambda c: (len(c), c))
        return max(map(int, rows)), _column_number(widest)
    return _xlsx_extent_sequential(xml)


def _xlsx_extent_sequential(xml: bytes) -> tuple[int, int]:
    """Cells without ``r`` follow the previous one: walk rows and cells in order."""
    row = col = 0
    max_row = max_col = 0
    for match in _TAG.finditer(xml):
        closing, tag, attrs, self_closing = match.groups()
        if closing:
            continue
        ref = _R_ATTR.search(attrs)
        if tag == b"row":
            row = int(ref.group(2)) if ref and ref.group(2) else row + 1
            col = 0
            continue
        if ref and ref.group(1):
            col = _column_number(ref.group(1))
            if ref.group(2):
                row = int(ref.group(2))
        else:
            col += 1
        if not self_closing:
            max_row, max_col = max(max_row, row), max(max_col, col)
    return max_row, max_col


_ODS_TAG = re.compile(
    rb"<(/?)table:(table|table-row|table-cell|covered-table-cell)(?=[\s/>])([^>]*?)(/?)>"
)
_ODS_NAME = re.compile(rb'table:name="([^"]*)"')
_ODS_ROWS_REPEATED = re.compile(rb'table:number-rows-repeated="(\d+)"')
_ODS_COLS_REPEATED = re.compile(rb'table:number-columns-repeated="(\d+)"')


def _ods_extents(xml: bytes) -> dict[str, tuple[int, int]]:
    """Per table: (last row, last column) holding a value, counting repeated rows and cells.

    LibreOffice writes a million repeated *empty* rows at the end of every sheet; those are
    harmless. A repeated cell or row *with a value* is expanded by the parser, so it counts.
    """
    extents: dict[str, tuple[int, int]] = {}
    name = ""
    row = col = max_row = max_col = 0
    row_repeat = 1
    row_has_value = False
    for match in _ODS_TAG.finditer(xml):
        closing, tag, attrs, self_closing = match.groups()
        if tag == b"table":
            if closing:
                extents[name] = (max_row, max_col)
            elif not self_closing:
                found = _ODS_NAME.search(attrs)
                name = found.group(1).decode("utf-8", "replace") if found else f"#{len(extents)}"
                row = col = max_row = max_col = 0
            continue
        if tag == b"table-row":
            if not closing:
                repeated = _ODS_ROWS_REPEATED.search(attrs)
                row_repeat = int(repeated.group(1)) if repeated else 1
                col = 0
                row_has_value = False
            if closing or self_closing:
                if row_has_value:
                    max_row = max(max_row, row + row_repeat)
                row += row_repeat
                row_has_value = False
            continue
        if closing:
            continue
        repeated = _ODS_COLS_REPEATED.search(attrs)
        span = int(repeated.group(1)) if repeated else 1
        if b"office:value-type=" in attrs or not self_closing:
            max_col = max(max_col, col + span)
            row_has_value = True
        col += span
    return extents


# -- OLE containers: xls, encrypted OOXML, and other legacy documents ---------------------------


def _inspect_ole(data: bytes, path: Path) -> tuple[FileKind, bool, dict[str, tuple[int, int]]]:
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
        streams = {"/".join(entry) for entry in ole.listdir(streams=True, storages=True)}
    except Exception as exc:  # olefile raises a variety of errors on damaged containers
        raise _fail(
            CORRUPT,
            f"damaged OLE compound file: {exc}",
            "文件已损坏或不完整（可能在传输中被截断），无法打开。请重新保存后再发送一次。",
            path,
        ) from None
    lowered = {s.lower() for s in streams}
    # msoffcrypto tells an encrypted OOXML package (an OLE file with EncryptionInfo) and an
    # encrypted .xls (a FILEPASS record) from a plain .xls.
    office_format = None
    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        office_format = office.format
        encrypted = office_format == "ooxml" or office.is_encrypted()
    except Exception:  # not a format msoffcrypto knows (a WPS .et, BIFF5), or damaged
        encrypted = "encryptioninfo" in lowered
    if encrypted:
        what = {
            "ooxml": "an encrypted Office Open XML package (EncryptionInfo stream)",
            "xls97": "an encrypted .xls workbook (FILEPASS record)",
        }.get(office_format or "", f"an encrypted {office_format or 'OLE'} document")
        raise _encrypted(what, path)
    if "workbook" in lowered or "book" in lowered:
        stream = "Workbook" if "workbook" in lowered else "Book"
        try:
            biff = ole.openstream(stream).read()
        except Exception as exc:
            raise _fail(
                CORRUPT,
                f"cannot read the {stream} stream: {exc}",
                "文件已损坏，无法打开。请重新保存后再发送一次。",
                path,
            ) from None
        extents = _xls_extents(biff)
        for sheet, extent in extents.items():
            _check_extent(sheet, *extent, path)
        macros = any(s.startswith(("_vba_project_cur", "_vba_project")) for s in lowered)
        return "xls", macros, extents
    if "worddocument" in lowered:
        raise _fail(
            NOT_A_WORKBOOK,
            "a Word 97-2003 document (.doc), not a workbook",
            "这是Word文档，不是Excel表格。报告中的表格请填写在下发的Excel模板中，"
            "保存为.xlsx格式后发送。",
            path,
        )
    if "powerpoint document" in lowered:
        raise _fail(
            NOT_A_WORKBOOK,
            "a PowerPoint 97-2003 presentation, not a workbook",
            "这是PowerPoint演示文稿，不是Excel表格。" + _ZH_RESEND,
            path,
        )
    raise _fail(
        NOT_A_WORKBOOK,
        "an OLE compound file without a workbook stream (e.g. a WPS .et file): "
        + ", ".join(sorted("".join(ch for ch in s if ch.isprintable()) for s in streams)[:6]),
        "无法识别的文件格式（可能是WPS表格专用的.et格式）。" + _ZH_SAVE_AS,
        path,
    )


# BIFF records that carry a value at (row, column): NUMBER, RK, LABELSST, LABEL, FORMULA,
# BOOLERR, RSTRING; MULRK carries a run. BLANK/MULBLANK (styled blanks) are skipped.
_BIFF_VALUE = frozenset({0x0203, 0x027E, 0x00FD, 0x0204, 0x0006, 0x0406, 0x0205, 0x00D6})
_BIFF_MULRK = 0x00BD
_BIFF_BOF = 0x0809
_BIFF_EOF = 0x000A
_BIFF_BOUNDSHEET = 0x0085


def _boundsheet_name(body: bytes, index: int) -> str:
    """A BIFF8 BOUNDSHEET record's sheet name (``#n`` when it cannot be decoded)."""
    try:
        count, flags = body[6], body[7]
        raw = body[8 : 8 + count * (2 if flags & 1 else 1)]
        return raw.decode("utf-16-le" if flags & 1 else "latin-1")
    except (IndexError, UnicodeDecodeError):
        return f"#{index + 1}"


def _xls_extents(biff: bytes) -> dict[str, tuple[int, int]]:
    """Per sheet substream: (last row, last column) holding a value, 1-based."""
    extents: dict[str, tuple[int, int]] = {}
    unpack = struct.unpack_from
    pos, end = 0, len(biff)
    depth = 0
    index = -1
    max_row = max_col = 0
    names: list[str] = []
    while pos + 4 <= end:
        rtype, length = unpack("<HH", biff, pos)
        body = pos + 4
        pos = body + length
        if rtype == _BIFF_BOF:
            depth += 1
            if depth == 1:
                index += 1
                max_row = max_col = 0
        elif rtype == _BIFF_EOF:
            if depth == 1 and index > 0:
                name = names[index - 1] if index - 1 < len(names) else f"#{index}"
                extents[name] = (max_row, max_col)
            depth = max(depth - 1, 0)
        elif rtype == _BIFF_BOUNDSHEET and depth == 1 and index == 0:
            names.append(_boundsheet_name(biff[body:pos], len(names)))
        elif rtype in _BIFF_VALUE and length >= 4:
            row, col = unpack("<HH", biff, body)
            max_row, max_col = max(max_row, row + 1), max(max_col, col + 1)
        elif rtype == _BIFF_MULRK and length >= 6:
            row, _ = unpack("<HH", biff, body)
            (last,) = unpack("<H", biff, body + length - 2)
            max_row, max_col = max(max_row, row + 1), max(max_col, last + 1)
    return extents
