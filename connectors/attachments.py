"""Parse a raw message the way Chinese mail clients really write them.

The stdlib ``email`` package (compat32 parser, which never raises on malformed headers) finds the
parts; names and subjects are decoded here because the usual decoders get the common cases wrong:

* RFC 2047 words inside quoted parameters (``name="=?gbk?B?...?="``, Outlook / Foxmail / QQ);
* RFC 2231 ``filename*=`` with or without continuations (Thunderbird, Apple Mail, yagmail);
* raw 8-bit UTF-8 or GBK bytes in headers (some webmail and mobile clients);
* ``gb2312`` / ``gbk`` labels on text that uses GBK-only characters (堃, 玥, 镕, ...): every
  GB label is decoded as GB18030, its superset.

File names are display text, never paths: directories, control and bidi characters are
removed. The kind of an attachment is detected from its bytes, not from its name. Attachments of
forwarded messages (``message/rfc822``) are found at any depth up to :data:`MAX_MIME_DEPTH`; a
message nested deeper is not parsed (its headers are, for the answer). ``.zip`` attachments are
opened with caps on the directory, members and sizes before a byte is kept: workbooks inside are
inflated as a stream up to the size a workbook may have and listed as attachments of their own;
nothing else is inflated, nothing is written anywhere.

Every attachment carries its *intent* (``report``: a workbook, or what was meant as one;
``document``: a PDF, a Word file, an archive; ``other``: images, signatures, calendar entries)
and, when the mail layer already knows it cannot be read (a broken transfer encoding, a locked
or oversized zip), its :class:`Problem` with a Chinese reason for the department.
"""

from __future__ import annotations

import binascii
import codecs
import dataclasses
import email
import email.feedparser
import email.message
import email.parser
import email.utils
import hashlib
import io
import logging
import quopri
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

from annual_report.workbook.intake import zip_directory

log = logging.getLogger(__name__)

WORKBOOK_KINDS = frozenset({"xlsx", "xlsm", "xlsb", "xls", "et", "ods", "encrypted"})
KIND_EXTENSIONS = {
    "xlsx": "xlsx",
    "xlsm": "xlsm",
    "xlsb": "xlsb",
    "xls": "xls",
    "et": "et",
    "ods": "ods",
    "encrypted": "bin",
    "zip": "zip",
    "docx": "docx",
    "doc": "doc",
    "pdf": "pdf",
    "rar": "rar",
    "7z": "7z",
    "msg": "msg",
    "tnef": "dat",
    "pptx": "pptx",
    "eml": "eml",
    "other": "bin",
}
_GB_ALIASES = {"gb2312", "gbk", "cp936", "x-gbk", "gb_2312-80", "euc-cn", "x-euc-cn", "csgb2312"}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_MIME_DEPTH = 64  # levels of multiparts and forwarded messages; a forward chain uses ~2 each
SPREADSHEET_EXTENSIONS = frozenset(
    {"xls", "xlsx", "xlsm", "xlsb", "xlt", "xltx", "xltm", "et", "ett", "ods", "ots", "fods", "csv"}
)
DOCUMENT_KINDS = frozenset({"pdf", "doc", "docx", "pptx", "rar", "7z", "msg", "tnef", "zip"})
_DOCUMENT_EXTENSIONS = frozenset({"pdf", "doc", "docx", "wps", "rtf", "ofd", "odt", "txt", "zip"})
_ARCHIVE_EXTENSIONS = frozenset({"zip", "rar", "7z", "gz", "tgz", "bz2", "xz", "tar", "cab", "arj"})
_KNOWN_ENCODINGS = frozenset(
    {"", "7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode", "uue"}
)
_NOT_A_REPORT = ("image/", "audio/", "video/", "text/calendar", "text/vcard", "text/x-vcard")
_SIGNATURES = ("application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp")

_ZH_SEND_XLSX = "请不要压缩，直接把填好的.xlsx文件作为附件发送。"


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 200
    max_member_bytes: int = 20 * 1024 * 1024  # a workbook's own limit (intake.MAX_FILE_BYTES)
    max_total_bytes: int = 40 * 1024 * 1024  # all members kept from one zip
    max_directory_bytes: int = 1024 * 1024  # the central directory, read before it is listed
    max_message_bytes: int = 64 * 1024 * 1024  # all members kept from all zips of a message


@dataclass(frozen=True)
class Problem:
    """Why a file (or a whole message) cannot be read, known before any workbook parser sees
    it: ``kind`` is a stable slug (the kinds of ``WorkbookError``), ``reason`` English for the
    coordinator, ``reason_zh`` for the department (what happened and what to do)."""

    kind: str
    reason: str
    reason_zh: str


@dataclass(frozen=True)
class Attachment:
    name: str  # decoded, sanitised display name; never use it as a path
    content: bytes = field(repr=False)
    sha256: str
    kind: str  # detected from the content: see KIND_EXTENSIONS
    content_type: str  # as declared by the sender
    inline: bool = False
    forwarded: bool = False  # found inside a forwarded message
    container: str | None = None  # name of the .zip it was extracted from
    note: str | None = None  # English, for the coordinator
    intent: str = "other"  # "report" | "document" | "other" (see the module doc)
    problem: Problem | None = None  # known unreadable (the bytes are what was received)

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def is_workbook(self) -> bool:
        return self.kind in WORKBOOK_KINDS

    @property
    def extension(self) -> str:
        return KIND_EXTENSIONS.get(self.kind, "bin")


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str | None
    subject: str
    sender: str | None  # From address, lower-case
    sender_name: str | None
    reply_to: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    date: datetime | None
    text: str  # the body as text (from text/plain, else from text/html)
    attachments: tuple[Attachment, ...]
    headers: tuple[tuple[str, str], ...] = ()  # decoded top-level headers, in order
    auto: str | None = None  # "auto-reply" | "bounce" | None: never answer these
    bounced_recipients: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # English notes for the coordinator
    refusal: Problem | None = None  # the message as a whole cannot be taken apart (too deep)

    @property
    def workbooks(self) -> tuple[Attachment, ...]:
        return tuple(a for a in self.attachments if a.is_workbook)

    @property
    def candidates(self) -> tuple[Attachment, ...]:
        """The files the sender meant as the report: every workbook and everything meant as one
        (a damaged .xlsx, a locked zip); without any, the documents sent instead (a PDF, a Word
        file); never images or signatures."""
        reports = tuple(a for a in self.attachments if a.intent == "report")
        return reports or tuple(a for a in self.attachments if a.intent == "document")

    @property
    def reply_text(self) -> str:
        """The text the sender wrote, without the quoted original."""
        return strip_quoted(self.text)

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers, nearest first (In-Reply-To, then References)."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids.extend(reversed(self.references))
        return tuple(dict.fromkeys(ids))

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)


# -- decoding --------------------------------------------------------------------------------


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    label = charset.strip().strip('"').lower().split("*", 1)[0]  # RFC 2231 language suffix
    if label in _GB_ALIASES or label.startswith("gb"):
        return "gb18030"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode with the declared charset (GB labels as GB18030), else UTF-8, else GB18030."""
    declared = _codec(charset)
    for codec in dict.fromkeys(c for c in (declared, "utf-8", "gb18030") if c):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode(declared or "utf-8", errors="replace")


def _unsurrogate(text: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogates: recover and decode them."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_bytes(text.encode("utf-8", errors="surrogateescape"))


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _b_decode(text: str) -> bytes:
    clean = re.sub(r"[^A-Za-z0-9+/]", "", text)
    clean += "=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error:
        return b""


def _q_decode(text: str) -> bytes:
    text = text.replace("_", " ")
    return re.sub(
        rb"=([0-9A-Fa-f]{2})",
        lambda m: bytes([int(m.group(1), 16)]),
        text.encode("latin-1", errors="replace"),
    )


def decode_header_value(value: str | None) -> str:
    """Decode an RFC 2047 header value tolerantly (also inside quotes and mid-word).

    Adjacent encoded words in one charset are joined before decoding, because clients split
    multi-byte characters across words.
    """
    if value is None:
        return ""
    text = str(value)
    pieces: list[tuple[bytes | str, str | None]] = []
    pos = 0
    last_encoded = False
    for m in _ENCODED_WORD.finditer(text):
        between = text[pos : m.start()]
        charset = m.group(1)
        data = _b_decode(m.group(3)) if m.group(2) in "bB" else _q_decode(m.group(3))
        joinable = last_encoded and (not between or between.isspace())
        if joinable and pieces and _codec(pieces[-1][1]) == _codec(charset):
            prev = pieces[-1][0]
            assert isinstance(prev, bytes)
            pieces[-1] = (prev + data, pieces[-1][1])
        else:
            if between and not joinable:
                pieces.append((between, None))
            pieces.append((data, charset))
        pos = m.end()
        last_encoded = True
    if pos < len(text):
        pieces.append((text[pos:], None))
    out = []
    for piece, charset in pieces:
        if isinstance(piece, bytes):
            out.append(decode_bytes(piece, charset))
        else:
            out.append(_unsurrogate(piece))
    return re.sub(r"[\r\n]+[ \t]*", " ", "".join(out)).strip()


_BIDI_AND_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def sanitize_filename(name: str | None, *, max_length: int = 180) -> str:
    """A display name from a sender's file name: no directories, control or bidi characters."""
    if not name:
        return ""
    text = unicodedata.normalize("NFC", name).replace("\\", "/")
    text = text.rsplit("/", 1)[-1]
    text = _BIDI_AND_CONTROL.sub("", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    if text in ("", ".", ".."):
        return ""
    if len(text) > max_length:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 8:
            text = stem[: max_length - len(ext) - 1] + "." + ext
        else:
            text = text[:max_length]
    return text


def _raw(part: email.message.Message, name: str) -> list[str]:
    """Header values as received (raw 8-bit bytes kept as surrogates, not replaced by U+FFFD)."""
    lower = name.lower()
    return [str(v) for k, v in part.raw_items() if k.lower() == lower]


def _first(part: email.message.Message, name: str) -> str | None:
    values = _raw(part, name)
    return values[0] if values else None


def _param(part: email.message.Message, name: str, header: str) -> str | None:
    """One parameter, decoded: RFC 2231 (preferred), RFC 2047 in quotes, or raw 8-bit."""
    value = _first(part, header)
    if value is None:
        return None
    holder = email.message.Message()
    holder[header] = _unsurrogate(value)
    try:
        params = holder.get_params(header=header, unquote=True) or []
    except Exception:  # malformed parameter syntax: treat as absent
        return None
    plain: str | None = None
    for key, value in params[1:]:
        if key.lower() != name:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded latin-1 text)
            charset, _language, text = value
            raw = str(text).encode("raw-unicode-escape")
            return decode_bytes(raw, charset or None)
        if plain is None:
            plain = decode_header_value(value)
    return plain


def _filename(part: email.message.Message) -> str | None:
    disposition = _param(part, "filename", "content-disposition")
    ctype_name = _param(part, "name", "content-type")
    if disposition and "\ufffd" in disposition and ctype_name and "\ufffd" not in ctype_name:
        return ctype_name
    return disposition or ctype_name


# -- content kinds ---------------------------------------------------------------------------


def detect_kind(content: bytes, name: str | None = None) -> str:
    """The kind of a file from its bytes; the name only tells an .et from an .xls."""
    lower = (name or "").lower()
    if content[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _zip_kind(content)
    if content[:8] == _OLE_MAGIC:
        return _ole_kind(content, lower)
    if content[:5] == b"%PDF-":
        return "pdf"
    if content[:6] == b"Rar!\x1a\x07":
        return "rar"
    if content[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if content[:4] == b"\x78\x9f\x3e\x22":
        return "tnef"
    return "other"


def _zip_kind(content: bytes) -> str:
    """Told by the member names of the central directory alone: nothing is inflated here (the
    isolated reader inspects what is a workbook)."""
    directory = zip_directory(content)
    if directory is None or directory[1] > ZipLimits.max_directory_bytes:
        return "other"
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            infos = {i.filename: i for i in zf.infolist()}
            if "xl/workbook.bin" in infos:
                return "xlsb"
            if "xl/workbook.xml" in infos:
                return (
                    "xlsm" if any(n.lower().endswith("vbaproject.bin") for n in infos) else "xlsx"
                )
            if "word/document.xml" in infos:
                return "docx"
            if "ppt/presentation.xml" in infos:
                return "pptx"
            mimetype = infos.get("mimetype")
            if mimetype is not None:  # stored, never compressed, by the OpenDocument spec
                if mimetype.compress_type != zipfile.ZIP_STORED or mimetype.file_size > 100:
                    return "other"
                with zf.open(mimetype) as fh:
                    if fh.read(100).strip() == b"application/vnd.oasis.opendocument.spreadsheet":
                        return "ods"
                return "other"
            return "zip"
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, struct.error):
        return "other"


def _ole_kind(content: bytes, lower_name: str) -> str:
    import olefile  # a dependency of msoffcrypto-tool

    try:
        with olefile.OleFileIO(io.BytesIO(content)) as ole:
            streams = {"/".join(entry).lower() for entry in ole.listdir(streams=True)}
    except Exception:  # olefile raises assorted errors on damaged files
        return "other"
    if {"encryptioninfo", "encryptedpackage"} <= streams:
        return "encrypted"
    if "workbook" in streams or "book" in streams:
        return "et" if lower_name.endswith((".et", ".ett")) else "xls"
    if "worddocument" in streams:
        return "doc"
    if any(s.startswith("__substg1.0_") for s in streams):
        return "msg"
    return "other"


# -- zip members -----------------------------------------------------------------------------


def _member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    return decode_bytes(raw)  # UTF-8 without the flag (macOS), else GBK (Windows 中文版)


def _zip_problem(kind: str, reason: str, reason_zh: str) -> Problem:
    return Problem(kind, reason, reason_zh)


def _zip_members(
    zip_att: Attachment, limits: ZipLimits, problems: list[str], spent: list[int]
) -> tuple[list[Attachment], str, Problem | None]:
    """The workbooks inside a zip, each inflated as a stream up to a workbook's size limit.

    Returns the members found (workbooks, and the workbooks that could not be taken out, with
    their problem), a summary for the note, and the zip's own problem when nothing could be
    taken out of it. Only the directory is read before the caps are known to hold.
    """
    label = zip_att.name
    directory = zip_directory(zip_att.content)
    if directory is None:
        problems.append(f"zip {label!r} cannot be opened: no end-of-directory record")
        return (
            [],
            "cannot be opened",
            _zip_problem(
                "corrupt",
                "damaged zip archive (no end-of-directory record)",
                "压缩包已损坏或不完整，无法打开。" + _ZH_SEND_XLSX,
            ),
        )
    count, directory_bytes = directory
    if count > limits.max_members or directory_bytes > limits.max_directory_bytes:
        problems.append(f"zip {label!r} has {count} members (cap {limits.max_members})")
        return (
            [],
            f"too many members ({count})",
            _zip_problem(
                "decompression-bomb",
                f"zip archive with {count:,} members (cap {limits.max_members})",
                f"压缩包中的文件过多（{count}个），为安全起见未解压。" + _ZH_SEND_XLSX,
            ),
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(zip_att.content))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        problems.append(f"zip {label!r} cannot be opened: {exc}")
        return (
            [],
            "cannot be opened",
            _zip_problem(
                "corrupt", f"damaged zip archive: {exc}", "压缩包已损坏，无法打开。" + _ZH_SEND_XLSX
            ),
        )
    found: list[Attachment] = []
    seen: list[str] = []
    nested: list[str] = []
    total = 0
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > limits.max_members:
            problems.append(f"zip {label!r} has {len(infos)} members (cap {limits.max_members})")
            return (
                [],
                f"too many members ({len(infos)})",
                _zip_problem(
                    "decompression-bomb",
                    f"zip archive with {len(infos):,} members (cap {limits.max_members})",
                    f"压缩包中的文件过多（{len(infos)}个），为安全起见未解压。" + _ZH_SEND_XLSX,
                ),
            )
        for info in infos:
            name = _member_name(info)
            if name.startswith("__MACOSX/") or sanitize_filename(name).startswith("._"):
                continue
            display = sanitize_filename(name) or "unnamed"
            seen.append(display)
            extension = display.rsplit(".", 1)[-1].lower() if "." in display else ""
            if extension in _ARCHIVE_EXTENSIONS:
                nested.append(display)
                continue
            if extension not in SPREADSHEET_EXTENSIONS:
                continue  # a PDF or a picture next to the workbook: listed, not taken out

            def unreadable(problem: Problem, note: str, display: str = display) -> None:
                problems.append(f"zip {label!r}: {display!r} {note}")
                found.append(_unextracted(zip_att, display, problem, note))

            if info.flag_bits & 0x1:
                unreadable(
                    Problem(
                        "encrypted",
                        f"member {display!r} of zip {label!r} is password-protected",
                        f"压缩包中的《{display}》设置了密码，系统无法解压。" + _ZH_SEND_XLSX,
                    ),
                    "is password-protected",
                )
                continue
            limit = min(
                limits.max_member_bytes,
                limits.max_total_bytes - total,
                limits.max_message_bytes - spent[0],
            )
            too_large = Problem(
                "too-large",
                f"member {display!r} of zip {label!r} inflates past {limit:,} bytes",
                f"压缩包中的《{display}》解压后超过{limits.max_member_bytes // 1048576 or 1} MB，"
                "为安全起见未解压。" + _ZH_SEND_XLSX,
            )
            if info.file_size > limit:
                unreadable(too_large, "is too large")
                continue
            data = _inflate_member(zf, info, limit)
            if isinstance(data, Problem):
                unreadable(data, "cannot be read")
                continue
            if data is None:
                unreadable(too_large, "inflates past the cap")
                continue
            total += len(data)
            spent[0] += len(data)
            found.append(
                Attachment(
                    name=display,
                    content=data,
                    sha256=hashlib.sha256(data).hexdigest(),
                    kind=detect_kind(data, display),
                    content_type="application/octet-stream",
                    forwarded=zip_att.forwarded,
                    container=label,
                    note=f"extracted from zip {label!r} (member {name!r})",
                    intent="report",
                )
            )
    summary = f"{len(seen)} member(s), {sum(1 for a in found if a.is_workbook)} workbook(s)"
    if found:
        return found, summary, None
    if nested:
        return (
            [],
            summary,
            _zip_problem(
                "nested-archive",
                f"zip archive holding further archives ({', '.join(nested[:5])}), not unpacked",
                "压缩包里还有压缩包（"
                + "、".join(nested[:5])
                + "），系统不逐层解压。"
                + _ZH_SEND_XLSX,
            ),
        )
    listing = "、".join(seen[:5]) + ("等" if len(seen) > 5 else "")
    return (
        [],
        summary,
        _zip_problem(
            "not-a-workbook",
            f"zip archive without a workbook ({len(seen)} members)",
            f"压缩包中没有Excel表格（{listing or '压缩包是空的'}）。"
            "请把填好的年度报告表格（.xlsx）直接作为附件发送。",
        ),
    )


def _unextracted(zip_att: Attachment, display: str, problem: Problem, note: str) -> Attachment:
    """A workbook of a zip that could not be taken out: its name and its problem, nothing of
    its bytes (a marker of the zip and the name stands in for them, so that each is recorded
    once)."""
    marker = f"{zip_att.sha256}:{display}".encode()
    return Attachment(
        name=display,
        content=marker,
        sha256=hashlib.sha256(marker).hexdigest(),
        kind="other",
        content_type="application/octet-stream",
        forwarded=zip_att.forwarded,
        container=zip_att.name,
        note=f"in zip {zip_att.name!r}, not extracted: {note}",
        intent="report",
        problem=problem,
    )


def _inflate_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int
) -> bytes | Problem | None:
    """A member's bytes, read as a stream: None past ``limit`` (nothing kept), a Problem when
    it cannot be read."""
    out: list[bytes] = []
    size = 0
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(64 * 1024):
                size += len(chunk)
                if size > limit:
                    return None
                out.append(chunk)
    except (
        zipfile.BadZipFile,
        OSError,
        ValueError,
        NotImplementedError,
        EOFError,
        zlib.error,
    ) as exc:
        return Problem(
            "corrupt",
            f"member {info.filename!r} cannot be read: {exc}",
            "压缩包已损坏，其中的表格无法解压。" + _ZH_SEND_XLSX,
        )
    return b"".join(out)


# -- message structure -----------------------------------------------------------------------


def _leaves(
    root: email.message.Message, forwarded: bool, depth: int
) -> tuple[list[tuple[email.message.Message, bool]], bool]:
    """The leaf parts in order, with whether they sit in a forwarded message; and whether
    parts nested deeper than :data:`MAX_MIME_DEPTH` were left out. A walk with a stack of its
    own: no recursion, whatever the nesting."""
    leaves: list[tuple[email.message.Message, bool]] = []
    too_deep = False
    stack = [(root, forwarded, depth)]
    while stack:
        part, inside, level = stack.pop()
        if level > MAX_MIME_DEPTH:
            too_deep = True
            continue
        ctype = part.get_content_type()
        payload = part.get_payload()
        if ctype.startswith("message/") and _transfer_encoding(part) in _ENCODED:
            leaves.append((part, inside))  # an encoded forwarded message: read as a leaf
            continue
        if isinstance(payload, list) and (part.is_multipart() or ctype.startswith("message/")):
            message = ctype == "message/rfc822" or ctype.startswith("message/")
            stack.extend(
                (sub, inside or message, level + 1)
                for sub in reversed(payload)
                if isinstance(sub, email.message.Message)
            )
            continue
        leaves.append((part, inside))
    return leaves, too_deep


_ENCODED = ("base64", "quoted-printable")


def _transfer_encoding(part: email.message.Message) -> str:
    return str(part.get("Content-Transfer-Encoding", "")).strip().lower()


def _encoded_message(part: email.message.Message) -> bytes:
    """The bytes of a forwarded message sent base64- or QP-encoded (which the stdlib parser
    took for a message of its own and parsed as garbage): its text, decoded."""
    payload = part.get_payload()
    if isinstance(payload, list):
        text = "".join(
            m.as_string() if isinstance(m, email.message.Message) else m for m in payload
        )
    else:
        text = str(payload)
    if _transfer_encoding(part) == "quoted-printable":
        return quopri.decodestring(text.encode("ascii", "replace"))
    return _b_decode(text)


_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=\s]")


def _base64(payload: str) -> tuple[bytes, str | None]:
    """Decode a base64 body in one pass (whitespace skipped); when it is damaged, the damage and
    the body as it arrived (so that two damaged files are never taken for the same file)."""
    arrived = payload.encode("utf-8", "surrogateescape")
    if _NOT_BASE64.search(payload):
        return arrived, "invalid characters"
    try:
        return binascii.a2b_base64(payload), None
    except (binascii.Error, ValueError) as exc:
        return arrived, f"truncated or padded wrongly ({exc})"


def _walk(root: email.message.Message) -> Iterator[email.message.Message]:
    """Every part, depth first, without recursion (``Message.walk`` recurses)."""
    stack = [root]
    while stack:
        part = stack.pop()
        yield part
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, email.message.Message)]))


_BOUNDARY_OR_DELIMITER = re.compile(
    rb"""boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))"""
    rb"|^--([^\r\n]{1,200}?)(--)?[ \t]*\r?$"
    rb"|^content-type:[ \t]*message/",
    re.IGNORECASE | re.MULTILINE,
)


def mime_depth(raw: bytes, stop: int | None = None) -> int:
    """How deeply ``raw`` nests its parts, estimated from above in one pass over the bytes
    (boundaries open until their closing delimiter, plus every forwarded-message part): the
    stdlib parser recurses once per level, so a message is measured before it is parsed. The
    pass ends as soon as the estimate exceeds ``stop``."""
    open_: list[bytes] = []
    where: dict[bytes, int] = {}  # an open boundary → its place in open_
    deepest = messages = 0
    for match in _BOUNDARY_OR_DELIMITER.finditer(raw):
        declared = match.group(1) or match.group(2)
        if declared is not None:
            if declared not in where:
                where[declared] = len(open_)
                open_.append(declared)
                deepest = max(deepest, len(open_))
        elif match.group(3) is not None:
            at = where.get(match.group(3)) if match.group(4) else None
            if at is not None:
                for closed in open_[at:]:
                    del where[closed]
                del open_[at:]
        else:
            messages += 1
        if stop is not None and deepest + messages > stop:
            break
    return deepest + messages


def _payload(part: email.message.Message, problems: list[str]) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # broken transfer encoding
        problems.append(f"a {part.get_content_type()} part cannot be decoded: {exc}")
        return b""
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode("utf-8", errors="surrogateescape")
    return data if isinstance(data, bytes) else b""


def _text_of(part: email.message.Message, problems: list[str]) -> str:
    return decode_bytes(_payload(part, problems), part.get_content_charset())


class _HtmlText(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("p", "div", "tr", "table"):
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append("\t")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; be safe anyway
        return re.sub(r"<[^>]+>", " ", html)
    text = "".join(parser.out).replace("\xa0", " ")
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_QUOTE_MARKERS = [
    re.compile(r"^\s*-{2,}\s*原始邮件\s*-{2,}\s*$"),
    re.compile(r"^\s*-{2,}\s*(Original Message|Forwarded message|转发邮件信息|转发的邮件)", re.I),
    re.compile(r"^\s*在\s*.{2,120}写道\s*[:：]\s*$"),
    re.compile(r"^\s*On .{2,200} wrote:\s*$"),
    re.compile(r"^\s*\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日.{0,120}写道\s*[:：]\s*$"),
]
_HEADER_BLOCK = re.compile(r"^\s*(发件人|From)\s*[:：]")
_HEADER_NEXT = re.compile(r"^\s*(发送时间|时间|日期|Sent|Date|收件人|To)\s*[:：]")


def strip_quoted(text: str) -> str:
    """Cut a reply at the quoted original (QQ / Foxmail / Outlook / Thunderbird markers)."""
    lines = text.splitlines()
    kept: list[str] = []
    for i, line in enumerate(lines):
        if any(p.match(line) for p in _QUOTE_MARKERS):
            break
        if _HEADER_BLOCK.match(line) and any(_HEADER_NEXT.match(n) for n in lines[i + 1 : i + 4]):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


_ID = re.compile(r"<[^<>\s]+>")


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(_ID.findall(value or ""))


def _addresses(values: list[str]) -> tuple[str, ...]:
    return tuple(addr.lower() for _, addr in email.utils.getaddresses(values) if "@" in addr)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_AUTO_SUBJECT = re.compile(
    r"^\s*(自动回复|自动答复|Automatic reply|Auto[- ]?Reply|Out of Office|外出|休假)", re.I
)
_BOUNCE_SUBJECT = re.compile(
    r"(退信|Undeliver|Delivery Status Notification|Returned mail|Mail delivery failed|投递失败)",
    re.I,
)


def _auto_kind(msg: email.message.Message, subject: str, sender: str | None) -> str | None:
    if msg.get_content_type() == "multipart/report":
        return "bounce"
    local = (sender or "").split("@", 1)[0]
    if local in ("mailer-daemon", "postmaster") or _BOUNCE_SUBJECT.search(subject):
        return "bounce"
    auto_submitted = (msg.get("Auto-Submitted") or "no").strip().lower()
    precedence = (msg.get("Precedence") or "").strip().lower()
    if (
        auto_submitted != "no"
        or msg.get("X-Autoreply")
        or msg.get("X-Autorespond")
        or precedence in ("auto_reply", "bulk", "junk")
        or _AUTO_SUBJECT.match(subject)
    ):
        return "auto-reply"
    return None


def _bounced(msg: email.message.Message) -> tuple[str, ...]:
    found: list[str] = []
    for part in _walk(msg):
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, email.message.Message):
                continue
            value = block.get("Final-Recipient") or block.get("Original-Recipient")
            if value and "@" in value:
                found.append(value.split(";", 1)[-1].strip().strip("<>").lower())
    return tuple(dict.fromkeys(found))


def parse_message(raw: bytes, *, zip_limits: ZipLimits | None = None) -> ParsedMessage:
    """Parse a raw message. Never raises for bad data: problems are listed on the result, and a
    message nested too deeply to take apart has its headers parsed and ``refusal`` set."""
    return _parse(raw, zip_limits or ZipLimits(), 0, [0])


def _feed(raw: bytes) -> email.message.Message:
    """The stdlib parser fed in chunks: given the whole message at once it splits it into lines
    all at once (nine times the message in memory at its peak; in chunks, under four)."""
    parser = email.feedparser.BytesFeedParser()
    for start in range(0, len(raw), 1 << 16):
        parser.feed(raw[start : start + (1 << 16)])
    return parser.close()


def _too_deep(levels: int | None) -> Problem:
    deep = f"{levels} levels deep" if levels else "nested too deeply"
    return Problem(
        "too-deep",
        f"MIME structure {deep} (limit {MAX_MIME_DEPTH})",
        f"邮件结构嵌套过深（超过{MAX_MIME_DEPTH}层，多次转发或附件套附件），系统无法从中取出附件。"
        "请新建一封邮件，把年度报告表格直接作为附件发送（不要转发）。",
    )


def _parse(raw: bytes, limits: ZipLimits, depth: int, spent: list[int]) -> ParsedMessage:
    """``spent``: bytes taken out of zips so far, for this message and the ones it forwards."""
    problems: list[str] = []
    refusal: Problem | None = None
    levels = mime_depth(raw, stop=MAX_MIME_DEPTH - depth)
    msg = None
    if depth + levels <= MAX_MIME_DEPTH:
        try:
            msg = _feed(raw)
            leaves, skipped = _leaves(msg, depth > 0, depth)
        except RecursionError:  # the estimate is from above, but never rely on one
            msg = None
    if msg is None:
        refusal = _too_deep(levels)
        problems.append(refusal.reason)
        msg = email.parser.BytesParser().parsebytes(raw, headersonly=True)
        leaves, skipped = [], False
    elif skipped:
        refusal = _too_deep(None)
        problems.append(refusal.reason + "; the parts below were not read")
    for defect in msg.defects:
        problems.append(f"message defect: {type(defect).__name__}")

    headers = tuple((k, decode_header_value(str(v))) for k, v in msg.raw_items())
    subject = decode_header_value(_first(msg, "Subject"))
    from_pairs = email.utils.getaddresses(_raw(msg, "From"))
    sender_name, address = from_pairs[0] if from_pairs else ("", "")
    sender = address.lower() if _ADDRESS.fullmatch(address) else None
    reply_to = _addresses(_raw(msg, "Reply-To"))

    text_plain: str | None = None
    text_html: str | None = None
    attachments: list[Attachment] = []
    for part, forwarded in leaves:
        ctype = part.get_content_type()
        name = _filename(part)
        disposition = part.get_content_disposition()
        if ctype in ("text/plain", "text/html") and not name and disposition != "attachment":
            if forwarded:
                continue  # the forwarded message's own text is not the sender's
            if ctype == "text/plain" and text_plain is None:
                text_plain = _text_of(part, problems)
            elif ctype == "text/html" and text_html is None:
                text_html = _text_of(part, problems)
            continue
        if ctype in ("message/delivery-status", "text/rfc822-headers") and not name:
            continue
        content, damaged = _attachment_payload(part, problems)
        display = sanitize_filename(name)
        if damaged is None and (ctype == "message/rfc822" or display.lower().endswith(".eml")):
            inner = _inner_message(content, limits, depth, problems, spent)
            if inner is not None:
                if isinstance(inner, Problem):
                    refusal = refusal or inner
                else:
                    attachments.extend(inner)
                continue
        kind = detect_kind(content, display) if damaged is None else "other"
        if not display:
            display = f"附件{len(attachments) + 1}.{KIND_EXTENSIONS.get(kind, 'bin')}"
        inline = disposition == "inline" or (disposition is None and not name)
        att = Attachment(
            name=display,
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            kind=kind,
            content_type=ctype,
            inline=inline,
            forwarded=forwarded,
            intent=_intent(kind, display, ctype, inline),
            problem=damaged,
        )
        if kind == "zip":
            members, summary, trouble = _zip_members(att, limits, problems, spent)
            att = dataclasses.replace(
                att,
                note=f"zip: {summary}",
                intent="other" if members else _zip_intent(trouble),
                problem=trouble,
            )
            attachments.append(att)
            attachments.extend(members)
            continue
        if kind in ("tnef", "msg"):
            problems.append(f"{display!r} is an Outlook {kind} container; not opened")
        attachments.append(att)

    text = text_plain if text_plain is not None else html_to_text(text_html or "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return ParsedMessage(
        message_id=(_ids(_first(msg, "Message-ID")) or (None,))[0],
        subject=subject,
        sender=sender,
        sender_name=decode_header_value(sender_name) or None,
        reply_to=reply_to[0] if reply_to else None,
        to=_addresses(_raw(msg, "To")),
        cc=_addresses(_raw(msg, "Cc")),
        in_reply_to=(_ids(_first(msg, "In-Reply-To")) or (None,))[0],
        references=_ids(" ".join(_raw(msg, "References"))),
        date=_date(_first(msg, "Date")),
        text=text,
        attachments=tuple(attachments),
        headers=headers,
        auto=_auto_kind(msg, subject, sender),
        bounced_recipients=_bounced(msg),
        problems=tuple(problems),
        refusal=refusal,
    )


_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9.-]{1,253}")


def _intent(kind: str, name: str, content_type: str, inline: bool) -> str:
    """What the sender meant an attachment as (see the module doc)."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    lowered = content_type.lower()
    if kind in WORKBOOK_KINDS or extension in SPREADSHEET_EXTENSIONS:
        return "report"
    if "excel" in lowered or "spreadsheet" in lowered or lowered in ("text/csv",):
        return "report"
    if kind in DOCUMENT_KINDS or extension in _DOCUMENT_EXTENSIONS | _ARCHIVE_EXTENSIONS:
        return "document"
    if inline or lowered.startswith(_NOT_A_REPORT) or lowered.startswith(_SIGNATURES):
        return "other"
    if extension in ("ics", "vcf", "p7s", "asc", "sig", "htm", "html"):
        return "other"
    return "document"  # a named file of another kind, attached on purpose


def _zip_intent(problem: Problem | None) -> str:
    """A zip nothing could be taken out of: meant as the report when it was locked, broken or
    oversized; a zip of other files is a document."""
    return "document" if problem is None or problem.kind == "not-a-workbook" else "report"


def _attachment_payload(
    part: email.message.Message, problems: list[str]
) -> tuple[bytes, Problem | None]:
    """An attachment's bytes and, when its transfer encoding is unknown or broken, why it
    cannot be trusted (the bytes are then what arrived, for the record)."""
    encoding = _transfer_encoding(part)
    if part.get_content_type().startswith("message/") and encoding in _ENCODED:
        return _encoded_message(part), None
    if encoding not in _KNOWN_ENCODINGS:
        raw = part.get_payload(decode=False)
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        problems.append(f"an attachment uses the unknown transfer encoding {encoding[:40]!r}")
        return data, Problem(
            "bad-encoding",
            f"unknown content transfer encoding {encoding[:40]!r}",
            f"附件的传输编码（{encoding[:40]}）无法识别，系统无法还原文件。"
            "请用常用的邮箱客户端（或网页邮箱）重新添加附件后发送。",
        )
    payload = part.get_payload()
    if encoding == "base64" and isinstance(payload, str):
        data, damage = _base64(payload)  # no copies of the lines: attachments are the big part
    else:
        before = len(part.defects)
        data = _payload(part, problems)
        found = [d for d in part.defects[before:] if "Base64" in type(d).__name__]
        damage = ", ".join(type(d).__name__ for d in found) or None
    if damage:
        problems.append(f"an attachment's base64 is broken: {damage}")
        return data, Problem(
            "bad-encoding",
            f"the attachment's base64 encoding is broken ({damage})",
            "附件在传输中损坏（编码错误，可能被截断），系统无法还原文件。请重新添加附件后再发送一次。",
        )
    return data, None


_HEADER_LINE = re.compile(rb"^[!-9;-~]+:", re.M)


def _inner_message(
    content: bytes, limits: ZipLimits, depth: int, problems: list[str], spent: list[int]
) -> list[Attachment] | Problem | None:
    """Attachments of a forwarded message that arrived as a leaf (.eml file, base64 rfc822).

    None when the content does not look like a message (then it is an ordinary attachment); a
    Problem when it is nested too deeply to take apart.
    """
    if not _HEADER_LINE.match(content[:1000]):
        return None
    inner = _parse(content, limits, depth + 1, spent)
    problems.extend(f"forwarded: {p}" for p in inner.problems)
    if inner.refusal is not None and not inner.attachments:
        return inner.refusal
    return [dataclasses.replace(a, forwarded=True) for a in inner.attachments]


def find_attachment(raw: bytes, sha256: str) -> bytes | None:
    """The bytes of the attachment (or zip member) with this content hash in a raw message, as
    the archive keeps it: how a file is read again (the coordinator assigns it) without ever
    having been written out on its own."""
    for attachment in parse_message(raw).attachments:
        if attachment.sha256 == sha256 and attachment.problem is None:
            return attachment.content
    return None
