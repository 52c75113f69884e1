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
forwarded messages (``message/rfc822``) are found; ``.zip`` attachments are opened with caps on
members and sizes, and the workbooks inside are listed as attachments of their own.
"""

from __future__ import annotations

import binascii
import codecs
import dataclasses
import email
import email.message
import email.utils
import hashlib
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

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
    "eml": "eml",
    "other": "bin",
}
_GB_ALIASES = {"gb2312", "gbk", "cp936", "x-gbk", "gb_2312-80", "euc-cn", "x-euc-cn", "csgb2312"}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAX_DEPTH = 4  # nested forwarded messages


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 200
    max_member_bytes: int = 50 * 1024 * 1024
    max_total_bytes: int = 200 * 1024 * 1024


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

    @property
    def workbooks(self) -> tuple[Attachment, ...]:
        return tuple(a for a in self.attachments if a.is_workbook)

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
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            names = set(zf.namelist())
            if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
                if "xl/workbook.bin" in names:
                    return "xlsb"
                types = _read_small(zf, "[Content_Types].xml")
                return "xlsm" if b"macroEnabled" in types else "xlsx"
            if "word/document.xml" in names:
                return "docx"
            if "mimetype" in names:
                mimetype = _read_small(zf, "mimetype")
                if mimetype.strip() == b"application/vnd.oasis.opendocument.spreadsheet":
                    return "ods"
                return "other"
            return "zip"
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
        return "other"


def _read_small(zf: zipfile.ZipFile, member: str, limit: int = 1 << 20) -> bytes:
    try:
        with zf.open(member) as fh:
            return fh.read(limit)
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
        return b""


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


def _zip_members(
    zip_att: Attachment, limits: ZipLimits, problems: list[str]
) -> tuple[list[Attachment], str]:
    found: list[Attachment] = []
    seen: list[str] = []
    try:
        zf = zipfile.ZipFile(io.BytesIO(zip_att.content))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        problems.append(f"zip {zip_att.name!r} cannot be opened: {exc}")
        return [], "cannot be opened"
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > limits.max_members:
            problems.append(
                f"zip {zip_att.name!r} has {len(infos)} members (cap {limits.max_members})"
            )
            return [], f"too many members ({len(infos)})"
        total = 0
        for info in infos:
            name = _member_name(info)
            if name.startswith("__MACOSX/") or sanitize_filename(name).startswith("._"):
                continue
            display = sanitize_filename(name) or "unnamed"
            seen.append(display)
            if info.flag_bits & 0x1:
                problems.append(f"zip {zip_att.name!r}: {display!r} is password-protected")
                continue
            if info.file_size > limits.max_member_bytes:
                problems.append(f"zip {zip_att.name!r}: {display!r} is too large")
                continue
            try:
                with zf.open(info) as fh:
                    data = fh.read(limits.max_member_bytes + 1)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
                problems.append(f"zip {zip_att.name!r}: {display!r} cannot be read: {exc}")
                continue
            total += len(data)
            if len(data) > limits.max_member_bytes or total > limits.max_total_bytes:
                problems.append(f"zip {zip_att.name!r}: uncompressed size over the cap")
                break
            kind = detect_kind(data, display)
            if kind not in WORKBOOK_KINDS:
                continue
            found.append(
                Attachment(
                    name=display,
                    content=data,
                    sha256=hashlib.sha256(data).hexdigest(),
                    kind=kind,
                    content_type="application/octet-stream",
                    forwarded=zip_att.forwarded,
                    container=zip_att.name,
                    note=f"extracted from zip {zip_att.name!r} (member {name!r})",
                )
            )
    return found, f"{len(seen)} member(s), {len(found)} workbook(s)"


# -- message structure -----------------------------------------------------------------------


def _leaves(
    part: email.message.Message, forwarded: bool, depth: int, problems: list[str]
) -> Iterator[tuple[email.message.Message, bool]]:
    ctype = part.get_content_type()
    if ctype == "message/rfc822" or (part.is_multipart() and ctype.startswith("message/")):
        payload = part.get_payload()
        if isinstance(payload, list):
            if depth >= _MAX_DEPTH:
                problems.append("forwarded messages nested too deep; inner ones skipped")
                return
            for sub in payload:
                yield from _leaves(sub, True, depth + 1, problems)
            return
    if part.is_multipart():
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            yield from _leaves(sub, forwarded, depth, problems)
        return
    yield part, forwarded


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
    return data


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
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            value = block.get("Final-Recipient") or block.get("Original-Recipient")
            if value and "@" in value:
                found.append(value.split(";", 1)[-1].strip().strip("<>").lower())
    return tuple(dict.fromkeys(found))


def parse_message(raw: bytes, *, zip_limits: ZipLimits | None = None) -> ParsedMessage:
    """Parse a raw message. Never raises for bad data: problems are listed on the result."""
    return _parse(raw, zip_limits or ZipLimits(), 0)


def _parse(raw: bytes, limits: ZipLimits, depth: int) -> ParsedMessage:
    problems: list[str] = []
    msg = email.message_from_bytes(raw)
    for defect in msg.defects:
        problems.append(f"message defect: {type(defect).__name__}")

    headers = tuple((k, decode_header_value(str(v))) for k, v in msg.raw_items())
    subject = decode_header_value(_first(msg, "Subject"))
    from_pairs = email.utils.getaddresses(_raw(msg, "From"))
    sender_name, sender = from_pairs[0] if from_pairs else ("", "")
    sender = sender.lower() if "@" in sender else None
    reply_to = _addresses(_raw(msg, "Reply-To"))

    text_plain: str | None = None
    text_html: str | None = None
    attachments: list[Attachment] = []
    for part, forwarded in _leaves(msg, depth > 0, depth, problems):
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
        content = _payload(part, problems)
        display = sanitize_filename(name)
        if ctype == "message/rfc822" or display.lower().endswith(".eml"):
            inner = _inner_message(content, limits, depth, problems)
            if inner is not None:
                attachments.extend(inner)
                continue
        kind = detect_kind(content, display)
        if not display:
            display = f"附件{len(attachments) + 1}.{KIND_EXTENSIONS.get(kind, 'bin')}"
        att = Attachment(
            name=display,
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            kind=kind,
            content_type=ctype,
            inline=disposition == "inline" or (disposition is None and not name),
            forwarded=forwarded,
        )
        if kind == "zip":
            members, summary = _zip_members(att, limits, problems)
            att = dataclasses.replace(att, note=f"zip: {summary}")
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
    )


_HEADER_LINE = re.compile(rb"^[!-9;-~]+:", re.M)


def _inner_message(
    content: bytes, limits: ZipLimits, depth: int, problems: list[str]
) -> list[Attachment] | None:
    """Attachments of a forwarded message that arrived as a leaf (.eml file, base64 rfc822).

    None when the content does not look like a message (then it is an ordinary attachment).
    """
    if not _HEADER_LINE.match(content[:1000]):
        return None
    if depth + 1 >= _MAX_DEPTH:
        problems.append("forwarded messages nested too deep; inner ones skipped")
        return []
    inner = _parse(content, limits, depth + 1)
    problems.extend(f"forwarded: {p}" for p in inner.problems)
    return [dataclasses.replace(a, forwarded=True) for a in inner.attachments]
