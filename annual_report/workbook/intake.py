"""Pre-checks on a returned file before any spreadsheet library touches it.

Attachments come from outside, so :func:`inspect_bytes` looks at the bytes first: it tells the
format by content (magic bytes, zip members, OLE streams — never by the file name), refuses
empty, oversized, encrypted, corrupt and non-spreadsheet files, and guards the parsers against
files built to exhaust them:

* a zip's central directory is sized from its end record before :mod:`zipfile` lists it, and
  every member is inflated here, streamed with a cap, from its raw compressed bytes — a member
  that lies about its size, or a tiny zip that inflates to gigabytes, is caught before a parser
  sees it, and no member is ever held whole;
* every XML part is fed to expat as it inflates: a document type declaration (the vehicle of
  entity expansion and external entities) refuses the file, whatever part it is in;
* every worksheet is parsed (attribute-correct, namespaces resolved, streaming) for the extent of
  the cells that hold a value and their number (python-calamine allocates a dense grid up to the
  last one: a value at XFD1048576 aborts the whole process); caps on rows, columns and cells;
* a shared-string table that declares or holds an absurd count is refused.

Every refusal is a :class:`~annual_report.errors.WorkbookError` with a stable ``kind`` slug, a
precise English ``reason`` and a Chinese ``reason_zh`` for the department. The checks run inside
the isolated reader (``sandbox.py``), never in the collector's own process; the child's limits
remain the last line of defence for whatever they do not foresee. They cost about two
milliseconds for a 30 KB template.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from xml.parsers import expat

import msoffcrypto
import olefile

from annual_report.errors import WorkbookError

log = logging.getLogger(__name__)

FileKind = Literal["xlsx", "xlsm", "xls", "ods"]

# Limits. A filled template is ~10 KB zipped, ~100 KB inflated, ~60 rows × 20 columns.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_INFLATED_BYTES = 50 * 1024 * 1024  # any one member, and all members together
MAX_RATIO = 100  # inflated / compressed, for members bigger than RATIO_MIN_BYTES
RATIO_MIN_BYTES = 1024 * 1024
MAX_MEMBERS = 5000
MAX_DIRECTORY_BYTES = 4 * 1024 * 1024  # the zip's central directory (MAX_MEMBERS long names)
MAX_ROWS = 2000
MAX_COLUMNS = 200
MAX_CELLS = 100_000  # cells holding a value, per sheet (a template has about a thousand)
MAX_SHARED_STRINGS = 200_000
MAX_STRUCTURE_BYTES = 8 * 1024 * 1024  # workbook.xml, its relationships, content types
FAST_BYTES = 1024 * 1024  # members up to this size are inflated whole and checked at C speed

# Error kinds (stable slugs; the flows and the CLI branch on them).
EMPTY = "empty"
TOO_LARGE = "too-large"
NOT_A_WORKBOOK = "not-a-workbook"
CORRUPT = "corrupt"
ENCRYPTED = "encrypted"
BOMB = "decompression-bomb"
SHEET_TOO_LARGE = "sheet-too-large"
UNSAFE_XML = "unsafe-xml"

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_CHUNK = 64 * 1024

_ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"
_XLSM_MAIN = b"application/vnd.ms-excel.sheet.macroEnabled.main+xml"
_SHEET_REL_TYPES = ("/worksheet", "/macrosheet", "/dialogsheet", "/xlMacrosheet")


@dataclass(frozen=True)
class FileInfo:
    """What :func:`inspect` found: the format (by content), size, content hash."""

    kind: FileKind
    size: int
    sha256: str
    macros: bool = False  # a VBA project / Basic library is present (never executed)
    # part → (rows, cols) holding values (at most: a sheet within the caps may count its blanks)
    extents: dict[str, tuple[int, int]] = field(default_factory=dict)


def _fail(kind: str, reason: str, reason_zh: str, path: Path | str) -> WorkbookError:
    return WorkbookError(reason, reason_zh, kind=kind, file=str(path))


_ZH_RESEND = "请使用下发的Excel模板填写，保存为.xlsx格式后重新发送。"
_ZH_SAVE_AS = "请在Excel或WPS中打开，用“另存为”保存为“Excel工作簿（.xlsx）”后重新发送。"


def too_large(size: int, path: Path | str) -> WorkbookError:
    """The refusal of a file over :data:`MAX_FILE_BYTES` (also raised before reading it)."""
    return _fail(
        TOO_LARGE,
        f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit",
        f"文件过大（{size / 1048576:.1f} MB），超过{MAX_FILE_BYTES // 1048576} MB的上限。"
        "请删除表格以外的图片和多余内容后重新发送。",
        path,
    )


def inspect(path: str | Path) -> FileInfo:
    """Check the file at ``path`` before it is parsed; raise :class:`WorkbookError` when it must
    not be. The size is checked before a byte is read."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise too_large(size, path)
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(
            NOT_A_WORKBOOK,
            f"cannot read the file: {exc.strerror or exc}",
            "无法读取该文件。" + _ZH_RESEND,
            path,
        ) from None
    return inspect_bytes(data, path)


def inspect_bytes(data: bytes, path: str | Path = "") -> FileInfo:
    """Check a file's bytes (``path`` names it in errors); see :func:`inspect`."""
    if len(data) > MAX_FILE_BYTES:
        raise too_large(len(data), path)
    if not data:
        raise _fail(
            EMPTY,
            "the file is empty (0 bytes)",
            "文件是空的（0字节），请重新添加附件后发送。",
            path,
        )
    sha = hashlib.sha256(data).hexdigest()
    if data.startswith(_ZIP_MAGICS):
        kind, macros, extents = _inspect_zip(data, Path(path))
    elif data.startswith(_OLE_MAGIC):
        kind, macros, extents = _inspect_ole(data, Path(path))
    else:
        raise _not_spreadsheet(data, Path(path))
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


_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"


def zip_directory(data: bytes) -> tuple[int, int] | None:
    """(member count, central-directory bytes) from a zip's end record; None without one.

    Read before :mod:`zipfile` lists the members, which costs memory for every entry the
    directory holds: a few megabytes of directory are a million members.
    """
    at = data.rfind(_EOCD, max(0, len(data) - (0xFFFF + 22)))
    if at < 0 or at + 22 > len(data):
        return None
    entries, size, offset = struct.unpack_from("<HLL", data, at + 10)
    if entries == 0xFFFF or size == 0xFFFFFFFF or offset == 0xFFFFFFFF:  # ZIP64
        locator = at - 20
        if locator >= 0 and data[locator : locator + 4] == _EOCD64_LOCATOR:
            (record,) = struct.unpack_from("<Q", data, locator + 8)
            if record + 56 <= len(data) and data[record : record + 4] == _EOCD64:
                entries, size = struct.unpack_from("<QQ", data, record + 32)
    return entries, size


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


def _unsafe_xml(part: str, path: Path) -> WorkbookError:
    return _fail(
        UNSAFE_XML,
        f"part {part} declares a document type (entity expansion / external entities)",
        "文件内部含有Excel文件不会有的XML声明（可能是恶意构造的文件），为安全起见已拒绝读取。"
        + _ZH_RESEND,
        path,
    )


def _inspect_zip(data: bytes, path: Path) -> tuple[FileKind, bool, dict[str, tuple[int, int]]]:
    import zipfile

    directory = zip_directory(data)
    if directory is None:
        raise _corrupt_zip("no end-of-central-directory record", path)
    count, directory_bytes = directory
    if count > MAX_MEMBERS or directory_bytes > MAX_DIRECTORY_BYTES:
        raise _bomb(
            f"the zip directory declares {count:,} members in {directory_bytes:,} bytes "
            f"(limit {MAX_MEMBERS} members)",
            path,
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
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

    scan = _ZipScan(data, path)
    by_name = {i.filename: i for i in infos}
    if "mimetype" in names or "content.xml" in names:
        kind: FileKind = "ods"
        mimetype = scan.part(by_name["mimetype"], cap=1024) if "mimetype" in names else b""
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
        manifest_name = "META-INF/manifest.xml"
        manifest = (
            scan.part(by_name[manifest_name], cap=MAX_STRUCTURE_BYTES)
            if manifest_name in names
            else b""
        )
        if b"encryption-data" in manifest:
            raise _encrypted("OpenDocument content is encrypted (manifest encryption-data)", path)
        macros = any(n.startswith(("Basic/", "Scripts/")) for n in names)
        handlers: dict[str, Callable[[], _Handler]] = {"content.xml": _OdsExtent}
        targets = _Relationships()
        workbook = b""
    elif "xl/workbook.xml" in names or "[Content_Types].xml" in names:
        if "xl/workbook.xml" not in names:
            raise _fail(
                NOT_A_WORKBOOK,
                "an Office Open XML package without a workbook part",
                "这是Office文档，但不是Excel表格。" + _ZH_RESEND,
                path,
            )
        types_name = "[Content_Types].xml"
        types = (
            scan.part(by_name[types_name], cap=MAX_STRUCTURE_BYTES) if types_name in names else b""
        )
        macros = any(n.lower().endswith("vbaproject.bin") for n in names)
        kind = "xlsx"
        if macros or _XLSM_MAIN in types:
            kind = "xlsm"
        rels_name = "xl/_rels/workbook.xml.rels"
        targets = _Relationships()
        if rels_name in names:
            scan.part(by_name[rels_name], targets, critical=True, cap=MAX_STRUCTURE_BYTES)
        workbook = scan.part(by_name["xl/workbook.xml"], critical=True, cap=MAX_STRUCTURE_BYTES)
        sheet_parts = {
            n
            for n in names
            if n.startswith(("xl/worksheets/", "xl/macrosheets/", "xl/dialogsheets/"))
            and n.endswith(".xml")
        } | set(targets.sheets.values())
        handlers = {part: _SheetExtent for part in sheet_parts}
        handlers["xl/sharedStrings.xml"] = _SharedStrings
    else:
        raise _fail(
            NOT_A_WORKBOOK,
            "a zip archive that is not an Office or OpenDocument file",
            "这是一个压缩包，不是Excel表格。请不要压缩，直接把填好的.xlsx文件作为附件发送。",
            path,
        )

    # Inflate every other member, capped, trusting no declared size; parse XML as it comes.
    extents: dict[str, tuple[int, int]] = {}
    for info in infos:
        if info.is_dir() or info.filename in scan.done:
            continue
        make = handlers.get(info.filename)
        handler = make() if make is not None else None
        try:
            scan.part(info, handler, critical=handler is not None)
        except _Refusal as refusal:
            if refusal.kind == SHEET_TOO_LARGE:
                sheet = refusal.sheet or _sheet_name(workbook, targets, info.filename)
                raise _sheet_too_large(
                    sheet, refusal.rows, refusal.cols, refusal.cells, path
                ) from None
            if refusal.kind == CORRUPT:
                raise _corrupt_zip(f"{info.filename}: {refusal.detail}", path) from None
            raise _bomb(refusal.detail, path) from None
        if isinstance(handler, _SheetExtent):
            extents[info.filename] = (handler.max_row, handler.max_col)
        elif isinstance(handler, _OdsExtent):
            extents.update(handler.extents)
    if macros:
        log.info("%s contains macros; they are never executed", path)
    return kind, macros, extents


def _sheet_name(workbook: bytes, targets: _Relationships, part: str) -> str:
    """The tab name of worksheet ``part``, for messages (the part name when it cannot be told)."""
    book = _WorkbookSheets()
    with contextlib.suppress(expat.ExpatError, _Doctype):
        _xml_parser(book).Parse(workbook, True)
    return next((name for rid, name in book.sheets if targets.all.get(rid) == part), part)


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


def _sheet_too_large(sheet: str, rows: int, cols: int, cells: int, path: Path) -> WorkbookError:
    many = f", {cells:,} cells" if cells > MAX_CELLS else ""
    return _fail(
        SHEET_TOO_LARGE,
        f"sheet {sheet!r} has values up to row {rows:,}, column {cols:,}{many} "
        f"(limit {MAX_ROWS:,} rows × {MAX_COLUMNS} columns, {MAX_CELLS:,} cells)",
        f"工作表“{sheet}”中有数据的区域过大（到第{rows}行、第{cols}列），远超报表所需的范围。"
        "请删除表格以外的多余内容（或把数据复制到下发的模板中）后重新发送。",
        path,
    )


# -- streaming members ---------------------------------------------------------------------------


class _Refusal(Exception):
    """Raised inside an expat handler to stop a part that went over a limit."""

    def __init__(self, kind: str, detail: str = "", **where: Any) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.sheet: str | None = where.get("sheet")
        self.rows: int = where.get("rows", 0)
        self.cols: int = where.get("cols", 0)
        self.cells: int = where.get("cells", 0)


class _Doctype(Exception):
    """A part declares a document type: entities may follow."""


class _Handler:
    """What an XML part is parsed for (element starts and ends, names as ``ns}local``)."""

    def fast(self, xml: bytes) -> bool:
        """Do the work at C speed over a whole, DTD-free, UTF-8 part if it can be done exactly;
        False sends the part through expat with :meth:`start` and :meth:`end`."""
        return False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        pass

    def end(self, name: str) -> None:
        pass


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


class _ZipScan:
    """Inflates members of one zip from their raw bytes, each once, with caps on every size."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.path = path
        self.total = 0  # bytes inflated so far, all members
        self.done: set[str] = set()

    def part(
        self,
        info: Any,
        handler: _Handler | None = None,
        *,
        critical: bool = False,
        cap: int = MAX_INFLATED_BYTES,
    ) -> bytes:
        """Inflate one member; check it if it is XML (by its name, or given a ``handler``).

        A document type declaration is refused in every XML part. ``critical`` parts (the ones
        a parser reads) must be well-formed, or the file is damaged; ``handler`` sees their
        elements. A member up to :data:`FAST_BYTES` is inflated whole and checked at C speed
        where it can be (returned); a bigger one is streamed through expat, never held
        (``b""`` is returned).
        """
        self.done.add(info.filename)
        xml = handler is not None or critical or info.filename.lower().endswith(_XML_SUFFIXES)
        if info.file_size > FAST_BYTES and cap > FAST_BYTES:
            self._stream(info, handler, critical, cap, xml)
            return b""
        content = self._whole(info, min(cap, FAST_BYTES))
        if not xml:
            return content
        if _utf8_like(content[:1024]):
            if _DTD.search(content):
                raise _unsafe_xml(info.filename, self.path)
            if handler is None or handler.fast(content):
                return content
        parser = _xml_parser(handler)
        self._feed(parser, content, info.filename, critical, final=True)
        return content

    def _whole(self, info: Any, cap: int) -> bytes:
        out: list[bytes] = []
        self._inflate(info, cap, out.append)
        return b"".join(out)

    def _stream(
        self, info: Any, handler: _Handler | None, critical: bool, cap: int, xml: bool
    ) -> None:
        parser = _xml_parser(handler) if xml else None

        def sink(piece: bytes) -> None:
            nonlocal parser
            if parser is not None:
                parser = self._feed(parser, piece, info.filename, critical)

        self._inflate(info, cap, sink)
        if parser is not None:
            self._feed(parser, b"", info.filename, critical, final=True)

    def _inflate(self, info: Any, cap: int, sink: Callable[[bytes], None]) -> None:
        """Inflate ``info`` chunk by chunk into ``sink``; check sizes (all members together
        too) and the CRC."""
        limit = min(cap, MAX_INFLATED_BYTES - self.total)
        crc = 0
        size = 0
        try:
            for piece in self._chunks(info):
                size += len(piece)
                if size > limit:
                    raise _bomb(
                        f"member {info.filename} inflates past {limit:,} bytes "
                        f"(declares {info.file_size:,}, {info.compress_size:,} compressed)",
                        self.path,
                    )
                crc = zlib.crc32(piece, crc)
                sink(piece)
        except zlib.error as exc:
            raise _corrupt_zip(f"member {info.filename}: {exc}", self.path) from None
        self.total += size
        if size != info.file_size:
            raise _corrupt_zip(
                f"member {info.filename} inflates to {size:,} bytes, declares {info.file_size:,}",
                self.path,
            )
        if crc != info.CRC:
            raise _corrupt_zip(f"member {info.filename} fails its CRC check", self.path)

    def _feed(
        self, parser: Any, piece: bytes, part: str, strict: bool, *, final: bool = False
    ) -> Any:
        """Feed expat; a parse error in a part that is not ``strict`` ends its checks (None)."""
        try:
            parser.Parse(piece, final)
        except _Doctype:
            raise _unsafe_xml(part, self.path) from None
        except expat.ExpatError as exc:
            if strict:
                raise _corrupt_zip(f"{part}: {exc}", self.path) from None
            log.info("%s: part %s is not well-formed XML (%s); not read", self.path, part, exc)
            return None
        return parser

    def _chunks(self, info: Any) -> Iterator[bytes]:
        raw = self._raw(info)
        if info.compress_type == 0:  # stored
            for start in range(0, len(raw), _CHUNK):
                yield bytes(raw[start : start + _CHUNK])
            return
        if info.compress_type != 8:
            raise _corrupt_zip(
                f"member {info.filename} uses unsupported compression method {info.compress_type}",
                self.path,
            )
        inflater = zlib.decompressobj(-15)
        for start in range(0, len(raw), _CHUNK):
            pending = bytes(raw[start : start + _CHUNK])
            while pending:
                piece = inflater.decompress(pending, _CHUNK)
                pending = inflater.unconsumed_tail
                if piece:
                    yield piece
                if inflater.eof:
                    return
        if not inflater.eof:
            raise _corrupt_zip(f"member {info.filename} ends mid-stream", self.path)

    def _raw(self, info: Any) -> memoryview:
        """The compressed bytes of a member, located through its local header."""
        data, offset = self.data, info.header_offset
        if offset + _LOCAL_HEADER.size > len(data):
            raise _corrupt_zip(f"member {info.filename} starts past the end of the file", self.path)
        fields = _LOCAL_HEADER.unpack_from(data, offset)
        if fields[0] != b"PK\x03\x04":
            raise _corrupt_zip(f"bad local header for {info.filename}", self.path)
        start = offset + _LOCAL_HEADER.size + fields[9] + fields[10]
        end = start + info.compress_size
        if end > len(data):
            raise _corrupt_zip(f"member {info.filename} is cut short", self.path)
        return memoryview(data)[start:end]


_XML_SUFFIXES = (".xml", ".rels")
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)""")


def _utf8_like(head: bytes) -> bool:
    """Is this XML in UTF-8 (or ASCII), so that byte patterns see its markup as it is?"""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        return False
    head = head.removeprefix(b"\xef\xbb\xbf")
    if head.startswith(b"<?xml"):
        declared = _ENCODING.search(head, 0, head.find(b"?>") % 1024)
        if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
            return False
    return True


def _refuse_doctype(*_args: Any) -> None:
    raise _Doctype


def _xml_parser(handler: _Handler | None) -> Any:
    """An expat parser that refuses any DTD and calls ``handler`` for elements."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    if handler is not None:
        parser.StartElementHandler = handler.start
        parser.EndElementHandler = handler.end
    return parser


def _local(name: str) -> str:
    return name[name.rfind("}") + 1 :]


class _Relationships(_Handler):
    """``xl/_rels/workbook.xml.rels``: relationship id → part, and which parts are sheets."""

    def __init__(self) -> None:
        self.all: dict[str, str] = {}
        self.sheets: dict[str, str] = {}

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if _local(name) != "Relationship":
            return
        target = attrs.get("Target", "")
        target = target.lstrip("/") if target.startswith("/") else "xl/" + target
        part = _normalise_part(target)
        rid = attrs.get("Id", "")
        self.all[rid] = part
        if attrs.get("Type", "").endswith(_SHEET_REL_TYPES):
            self.sheets[rid] = part


class _WorkbookSheets(_Handler):
    """``xl/workbook.xml``: the tab names with their relationship ids."""

    def __init__(self) -> None:
        self.sheets: list[tuple[str, str]] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if _local(name) != "sheet":
            return
        rid = next((v for k, v in attrs.items() if _local(k) == "id" and k != "sheetId"), "")
        self.sheets.append((rid, attrs.get("name", "")))


_REF = re.compile(r"([A-Za-z]{0,4})([0-9]{0,9})")


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


class _SheetExtent(_Handler):
    """The last row and column of a worksheet's cells that hold a value, and how many (or, on
    the fast path, of all its cells, when even those are within the caps: see :meth:`fast`).

    A cell holds a value when it has a ``v`` or an inline string ``is`` (python-calamine skips
    the rest: styled blanks, ``<v></v>``, formulas without a cached value). A cell or row without
    ``r`` follows the previous one.
    """

    def __init__(self) -> None:
        self.row = self.col = 0
        self.max_row = self.max_col = 0
        self.cells = 0
        self.cell: tuple[int, int] | None = None  # inside a <c>, not yet counted

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name[name.rfind("}") + 1 :]
        if local == "c":
            ref = attrs.get("r")
            if ref:
                match = _REF.fullmatch(ref.strip())
                if match is None or not (match.group(1) or match.group(2)):
                    raise _Refusal(CORRUPT, f"cell reference {ref[:20]!r} is not valid")
                letters, digits = match.groups()
                self.col = _column_number(letters) if letters else self.col + 1
                if digits:
                    self.row = int(digits)
            else:
                self.col += 1
            self.cell = (self.row, self.col)
        elif local == "row":
            ref = attrs.get("r", "").strip()
            self.row = int(ref) if ref.isdigit() and len(ref) <= 9 else self.row + 1
            self.col = 0
        elif self.cell is not None and local in ("v", "is"):
            row, col = self.cell
            self.cell = None
            self.cells += 1
            if row > self.max_row:
                self.max_row = row
            if col > self.max_col:
                self.max_col = col
            if self.max_row > MAX_ROWS or self.max_col > MAX_COLUMNS or self.cells > MAX_CELLS:
                raise _Refusal(
                    SHEET_TOO_LARGE, rows=self.max_row, cols=self.max_col, cells=self.cells
                )

    def end(self, name: str) -> None:
        if name.endswith("}c") or name == "c":
            self.cell = None

    def fast(self, xml: bytes) -> bool:
        """The extent at C speed when every cell is written as Excel, WPS, LibreOffice and
        openpyxl write them (unprefixed, ``r`` first, upper-case, double quotes); False (nothing
        done) otherwise.

        First every cell's address alone: when no cell at all, valued or not, lies beyond the
        caps, none can be refused, and the extent is that bound (styled blanks included). Only
        a sheet with cells beyond the caps is told apart cell by cell: ``xml`` must be
        well-formed, then no ``<`` occurs in attribute values and a start tag is matched exactly,
        whatever its other attributes hold (``/>`` too). ``<c …/>`` and ``<c …></c>`` hold
        nothing; any other cell counts as holding a value (one with only a formula too: erring
        on the safe side)."""
        refs = _CELL_REF.findall(xml)
        if len(refs) != xml.count(b"<c ") or _OTHER_CELL.search(xml):
            return False
        if refs:
            columns, numbers = zip(*refs, strict=True)
            max_row = max(map(int, set(numbers)))
            max_col = _column_number(max(set(columns), key=lambda c: (len(c), c)).decode())
            if max_row <= MAX_ROWS and max_col <= MAX_COLUMNS and len(refs) <= MAX_CELLS:
                self.max_row, self.max_col, self.cells = max_row, max_col, len(refs)
                return True
        cells = _CANONICAL_CELL.findall(xml)
        if len(cells) != len(refs):
            return False
        valued = [(letters, row) for letters, row, closed, empty in cells if not closed + empty]
        if valued:
            rows = max(map(int, {row for _, row in valued}))
            widest = max({letters for letters, _ in valued}, key=lambda c: (len(c), c))
            self.max_row, self.max_col = rows, _column_number(widest.decode())
            self.cells = len(valued)
        if self.max_row > MAX_ROWS or self.max_col > MAX_COLUMNS or self.cells > MAX_CELLS:
            raise _Refusal(SHEET_TOO_LARGE, rows=self.max_row, cols=self.max_col, cells=self.cells)
        return True


# Start tags of cells, for the fast path over well-formed XML: every one (prefixed or not), and
# the canonical ones with their attributes matched by the XML grammar.
_OTHER_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:c[\s/>]|c[\t\r\n/>])")
_ATTRIBUTES = rb"""(?:\s+[^\s=<>/"']+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*\s*"""
_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"')
_CANONICAL_CELL = re.compile(
    rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"' + _ATTRIBUTES + rb"(/?)>(</c>)?"
)


class _SharedStrings(_Handler):
    """The shared-string table: its declared counts and its real one."""

    def __init__(self) -> None:
        self.count = 0

    def fast(self, xml: bytes) -> bool:
        if _OTHER_STRING.search(xml) or b"<sst" not in xml[:4096]:
            return False  # prefixed or unusual markup: parse it
        for declared in _DECLARED_COUNT.findall(xml, 0, 4096):
            if len(declared) > 9 or int(declared) > MAX_SHARED_STRINGS:
                raise _Refusal(
                    BOMB,
                    f"shared-string table declares {int(declared):,} strings "
                    f"(limit {MAX_SHARED_STRINGS:,})",
                )
        self.count = xml.count(b"<si>") + xml.count(b"<si ")
        if self.count > MAX_SHARED_STRINGS:
            raise _Refusal(BOMB, f"shared strings: over {MAX_SHARED_STRINGS:,} entries")
        return True

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "si":
            self.count += 1
            if self.count > MAX_SHARED_STRINGS:
                raise _Refusal(BOMB, f"shared strings: over {MAX_SHARED_STRINGS:,} entries")
        elif local == "sst":
            for attr in ("uniqueCount", "count"):
                raw = attrs.get(attr, "").strip()
                if raw.isdigit() and (len(raw) > 9 or int(raw) > MAX_SHARED_STRINGS):
                    raise _Refusal(
                        BOMB,
                        f"shared-string table declares {int(raw):,} strings "
                        f"(limit {MAX_SHARED_STRINGS:,})",
                    )


_OTHER_STRING = re.compile(rb"<(?:[A-Za-z_][\w.-]*:si[\s/>]|si[\t\r\n/])")
_DECLARED_COUNT = re.compile(rb"""\b(?:uniqueCount|count)\s*=\s*["']\s*([0-9]+)""")


_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_ODS_CELLS = (_TABLE_NS + "table-cell", _TABLE_NS + "covered-table-cell")


def _repeat(attrs: dict[str, str], name: str) -> int:
    raw = attrs.get(_TABLE_NS + name, "1").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 9 else 1


class _OdsExtent(_Handler):
    """Per table: the last row and column holding a value, counting repeated rows and cells.

    LibreOffice writes a million repeated *empty* rows at the end of every sheet; those are
    harmless. A repeated cell or row *with a value* is expanded by the parser, so it counts.
    """

    def __init__(self) -> None:
        self.extents: dict[str, tuple[int, int]] = {}
        self.name = ""
        self.row = self.col = self.max_row = self.max_col = 0
        self.cells = 0
        self.row_repeat = 1
        self.row_cells = 0  # valued cells of this row (before repetition)
        self.span = 0
        self.cell: tuple[int, bool] | None = None  # (first column, has a value type)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == _TABLE_NS + "table":
            self.name = attrs.get(_TABLE_NS + "name", f"#{len(self.extents)}")
            self.row = self.col = self.max_row = self.max_col = self.cells = 0
        elif name == _TABLE_NS + "table-row":
            self.row_repeat = _repeat(attrs, "number-rows-repeated")
            self.col = 0
            self.row_cells = 0
        elif name in _ODS_CELLS:
            self.span = _repeat(attrs, "number-columns-repeated")
            self.cell = (self.col, _OFFICE_NS + "value-type" in attrs)
            self.col += self.span
        elif self.cell is not None:  # a child (text:p …): the cell has content
            self.cell = (self.cell[0], True)

    def end(self, name: str) -> None:
        if name in _ODS_CELLS and self.cell is not None:
            first, valued = self.cell
            self.cell = None
            if valued:
                self.max_col = max(self.max_col, first + self.span)
                self.row_cells += self.span
        elif name == _TABLE_NS + "table-row":
            if self.row_cells:
                self.max_row = max(self.max_row, self.row + self.row_repeat)
                self.cells += self.row_cells * self.row_repeat
            self.row += self.row_repeat
            self._check()
        elif name == _TABLE_NS + "table":
            self.extents[self.name] = (self.max_row, self.max_col)

    def _check(self) -> None:
        if self.max_row > MAX_ROWS or self.max_col > MAX_COLUMNS or self.cells > MAX_CELLS:
            raise _Refusal(
                SHEET_TOO_LARGE,
                sheet=self.name,
                rows=self.max_row,
                cols=self.max_col,
                cells=self.cells,
            )


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
        extents, cells = _xls_extents(biff)
        for sheet, (rows, cols) in extents.items():
            if rows > MAX_ROWS or cols > MAX_COLUMNS or cells.get(sheet, 0) > MAX_CELLS:
                raise _sheet_too_large(sheet, rows, cols, cells.get(sheet, 0), path)
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


def _xls_extents(biff: bytes) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    """Per sheet substream: (last row, last column) holding a value, 1-based; and how many
    cells hold one."""
    extents: dict[str, tuple[int, int]] = {}
    counts: dict[str, int] = {}
    unpack = struct.unpack_from
    pos, end = 0, len(biff)
    depth = 0
    index = -1
    max_row = max_col = cells = 0
    names: list[str] = []
    while pos + 4 <= end:
        rtype, length = unpack("<HH", biff, pos)
        body = pos + 4
        pos = body + length
        if rtype == _BIFF_BOF:
            depth += 1
            if depth == 1:
                index += 1
                max_row = max_col = cells = 0
        elif rtype == _BIFF_EOF:
            if depth == 1 and index > 0:
                name = names[index - 1] if index - 1 < len(names) else f"#{index}"
                extents[name] = (max_row, max_col)
                counts[name] = cells
            depth = max(depth - 1, 0)
        elif rtype == _BIFF_BOUNDSHEET and depth == 1 and index == 0:
            names.append(_boundsheet_name(biff[body:pos], len(names)))
        elif rtype in _BIFF_VALUE and length >= 4:
            row, col = unpack("<HH", biff, body)
            max_row, max_col = max(max_row, row + 1), max(max_col, col + 1)
            cells += 1
        elif rtype == _BIFF_MULRK and length >= 6:
            row, first = unpack("<HH", biff, body)
            (last,) = unpack("<H", biff, body + length - 2)
            max_row, max_col = max(max_row, row + 1), max(max_col, last + 1)
            cells += max(last - first + 1, 1)
    return extents, counts
