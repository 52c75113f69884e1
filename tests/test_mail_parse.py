"""Parsing real-client messages (tests/fixtures/mail, see make_fixtures.py)."""

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from connectors.attachments import (
    ZipLimits,
    decode_header_value,
    detect_kind,
    html_to_text,
    parse_message,
    sanitize_filename,
    strip_quoted,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mail"
XLSX = (FIXTURES / "payload" / "report.xlsx").read_bytes()
XLS = (FIXTURES / "payload" / "report.xls").read_bytes()
DOCX = (FIXTURES / "payload" / "report.docx").read_bytes()


def parsed(name: str):
    return parse_message((FIXTURES / name).read_bytes())


@pytest.mark.parametrize(
    ("fixture", "sender", "subject", "names"),
    [
        (
            "outlook_gb2312.eml",
            "rsj@zhangshu.example",
            "答复: [年报2021-RSJ] 请填报2021年政府信息公开工作年度报告",
            ["樟树市人社局-2021年政府信息公开工作年度报告.xlsx"],
        ),
        (  # labelled gb2312, written in GBK: 玥 is not in GB2312
            "outlook_gb2312_gbk_chars.eml",
            "rsj@zhangshu.example",
            "答复: [年报2021-RSJ] 报送年报（王玥）",
            ["樟树市人社局-2021年报（填报人王玥）.xlsx"],
        ),
        (  # GBK words split in the middle of a character
            "foxmail_gbk.eml",
            "mzj@zhangshu.example",
            "回复: [年报2021-MZJ] 请填报2021年政府信息公开工作年度报告",
            ["樟树市民政局2021年度报告（定稿）.xlsx"],
        ),
        (  # RFC 2231 with continuations
            "thunderbird_rfc2231.eml",
            "jyj@zhangshu.example",
            "Re: [年报2021-JYJ] 请填报2021年政府信息公开工作年度报告",
            ["樟树市教育局-2021年政府信息公开工作年度报告（终稿）.xlsx"],
        ),
        (
            "qq_reply_quoting.eml",
            "10001@qq.example",
            "回复：[年报2021-WJW] 请填报2021年政府信息公开工作年度报告",
            ["樟树市卫健委年报.xlsx"],
        ),
        (  # unencoded UTF-8 and GBK bytes in the headers
            "raw_8bit_names.eml",
            "jtj@zhangshu.example",
            "回复：[年报2021-JTJ] 年报",
            ["樟树市交通局年报.xlsx", "交通局年报（玥）.xlsx"],
        ),
    ],
)
def test_names_and_subjects_of_real_clients(fixture, sender, subject, names):
    msg = parsed(fixture)
    assert msg.sender == sender
    assert msg.subject == subject
    assert [a.name for a in msg.attachments] == names
    for att in msg.attachments:
        assert att.content == XLSX
        assert att.sha256 == hashlib.sha256(XLSX).hexdigest()
        assert att.kind == "xlsx" and att.is_workbook
    assert msg.problems == ()


def test_outlook_headers_and_threading():
    msg = parsed("outlook_gb2312.eml")
    assert msg.sender_name == "樟树市人社局 李明"
    assert msg.message_id == "<000001d801f1$2b3c4d50$81a6e7f0$@zhangshu.example>"
    assert msg.in_reply_to == "<nianbao.2021.RSJ.invitation.3f9a1c@zhangshu.example>"
    assert msg.thread_ids == ("<nianbao.2021.RSJ.invitation.3f9a1c@zhangshu.example>",)
    assert msg.date.isoformat() == "2022-01-05T10:12:33+08:00"
    assert msg.text.startswith("您好：\n\n附件是我局2021年")
    assert msg.auto is None
    assert msg.header("x-mailer") == "Microsoft Outlook 16.0"


def test_the_workbook_inside_a_forwarded_message_is_found():
    msg = parsed("forwarded_rfc822.eml")
    assert msg.sender == "czj@zhangshu.example"
    assert msg.text == "转发给贵办，请查收。"  # the forwarder's words, not the inner message's
    [att] = msg.attachments
    assert att.name == "樟树市财政局2021年报.xlsx"
    assert att.forwarded and att.content == XLSX


def test_a_reply_quoting_the_whole_original():
    msg = parsed("qq_reply_quoting.eml")
    assert "原始邮件" in msg.text and "各单位" in msg.text
    assert msg.reply_text == "附件是我委的年报，请查收。"
    assert parsed("thunderbird_rfc2231.eml").reply_text == "已填好，请查收。"


def test_a_reply_without_attachment():
    msg = parsed("reply_no_attachment.eml")
    assert msg.attachments == () and msg.workbooks == ()
    assert msg.text == "您好，我局正在填报，预计1月12日前报送。"
    assert msg.subject == "回复：【年报２０２１－CZJ】请填报2021年政府信息公开工作年度报告"


def test_a_zip_is_opened_safely():
    msg = parsed("reply_zip.eml")
    zip_att, *members = msg.attachments
    assert zip_att.name == "年报.zip" and zip_att.kind == "zip" and not zip_att.is_workbook
    assert zip_att.note == "zip: 3 member(s), 2 workbook(s)"
    # GBK member names without the UTF-8 flag (Windows 中文版), directories and traversal removed
    assert [m.name for m in members] == ["樟树市卫健委-2021年报.xlsx", "evil.xlsx"]
    assert all(m.container == "年报.zip" and m.content == XLSX for m in members)
    assert "../../etc/cron.d/evil.xlsx" in members[1].note
    assert len(msg.workbooks) == 2


def test_docx_et_and_several_workbooks_are_told_apart():
    [docx] = parsed("reply_docx.eml").attachments
    assert (docx.name, docx.kind, docx.is_workbook) == (
        "樟树市统计局2021年政府信息公开工作年度报告.docx",
        "docx",
        False,
    )
    [et] = parsed("reply_et.eml").attachments
    assert (et.name, et.kind, et.is_workbook, et.content) == (
        "樟树市交通运输局年报.et",
        "et",
        True,
        XLS,
    )
    several = parsed("several_workbooks.eml")
    assert [(a.name, a.kind) for a in several.workbooks] == [
        ("年报（修改前）.xlsx", "xlsx"),
        ("年报（修改后）.xls", "xls"),
    ]


def test_auto_replies_and_bounces_are_recognised():
    auto = parsed("auto_reply.eml")
    assert auto.auto == "auto-reply"
    bounce = parsed("bounce.eml")
    assert bounce.auto == "bounce"
    assert bounce.bounced_recipients == ("nobody@zhangshu.example",)
    assert bounce.attachments == ()
    assert parsed("foxmail_gbk.eml").auto is None


def test_a_truncated_message_does_not_raise():
    msg = parsed("broken_truncated.eml")
    assert msg.subject == "[年报2021-GAJ] 年报"
    [att] = msg.attachments
    assert att.name == "report.xlsx" and att.kind == "other"  # not a readable workbook
    assert any("CloseBoundaryNotFound" in p for p in msg.problems)


@pytest.mark.parametrize(
    "raw",
    [b"", b"garbage without headers", b"Subject: =?utf-8?B?***?=\r\n\r\n", b"\xff\xfe\x00" * 50],
)
def test_junk_never_raises(raw):
    msg = parse_message(raw)
    assert msg.attachments == ()


def test_decode_header_value():
    assert decode_header_value("=?gb2312?B?yMvJ577W?=") == "人社局"
    assert decode_header_value("=?GB2312?B?x+u4vQ==?= =?utf-8?q?=E6=A8=9F?= x") == "请附樟 x"
    assert (
        decode_header_value("=?utf-8?B?5qif5qCR5biC?=\r\n =?utf-8?B?5Lq656S+5bGA?=")
        == "樟树市人社局"
    )
    assert decode_header_value("=?x-unknown?B?5qif?=") == "樟"  # unknown label: UTF-8 guess
    assert decode_header_value("=?utf-8?B?5qif5qCR5biC") == "=?utf-8?B?5qif5qCR5biC"  # unclosed
    assert decode_header_value(None) == ""


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("..\\..\\Windows\\年报.xlsx", "年报.xlsx"),
        ("/etc/passwd", "passwd"),
        ("年报\x00\x07.xlsx", "年报.xlsx"),
        ("报告\u202excod.xlsx", "报告xcod.xlsx"),  # right-to-left override
        ("  ..  ", ""),
        ("a" * 300 + ".xlsx", "a" * 175 + ".xlsx"),
    ],
)
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name) == expected


def test_detect_kind_by_content_not_name():
    assert detect_kind(XLSX, "x.pdf") == "xlsx"
    assert detect_kind(XLS, "x.xlsx") == "xls"
    assert detect_kind(XLS, "x.et") == "et"
    assert detect_kind(DOCX, "x.xlsx") == "docx"
    assert detect_kind(b"%PDF-1.7 ...") == "pdf"
    assert detect_kind(b"Rar!\x1a\x07\x01\x00") == "rar"
    assert detect_kind(b"PK\x03\x04 truncated") == "other"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "x")
    assert detect_kind(buf.getvalue()) == "zip"


def test_zip_caps():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(5):
            zf.writestr(f"{i}.xlsx", XLSX)
        zf.writestr("bomb.xlsx", b"\0" * 3_000_000)
    raw = (
        b"Subject: z\r\nMIME-Version: 1.0\r\nContent-Type: application/zip; name=a.zip\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + __import__("base64").encodebytes(buf.getvalue())
    )
    few = parse_message(raw, zip_limits=ZipLimits(max_members=3))
    assert few.workbooks == () and "6 members (cap 3)" in few.problems[0]
    small = parse_message(raw, zip_limits=ZipLimits(max_member_bytes=1_000_000))
    assert len(small.workbooks) == 5
    assert any("'bomb.xlsx' is too large" in p for p in small.problems)


def test_html_to_text_and_strip_quoted():
    assert html_to_text("<p>您好：</p><div>附件&nbsp;请查收<br>谢谢</div><style>p{}</style>") == (
        "您好：\n\n附件 请查收\n谢谢"
    )
    text = "好的\n\n-----Original Message-----\nFrom: x"
    assert strip_quoted(text) == "好的"
    outlook_cn = "已改\n\n发件人: 樟树市人民政府办公室\n发送时间: 2022年1月4日 9:00\n主题: x"
    assert strip_quoted(outlook_cn) == "已改"
    assert (
        strip_quoted("第1项：确无申请\n> 原文\n第2项：已更正") == "第1项：确无申请\n第2项：已更正"
    )


# -- hostile structure: measured before parsed, answered, never raised --------------------------


def _nested(depth: int, leaf: bytes) -> bytes:
    head = b"From: a@b.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    head += b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\n'
    body = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(1, depth)
    )
    tail = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + body + leaf + b"\r\n" + tail


def _xlsx_part(payload: bytes, encoding: bytes = b"base64") -> bytes:
    return (
        b'Content-Type: application/octet-stream; name="r.xlsx"\r\n'
        b'Content-Disposition: attachment; filename="r.xlsx"\r\n'
        b"Content-Transfer-Encoding: " + encoding + b"\r\n\r\n" + payload
    )


@pytest.mark.parametrize(("depth", "found"), [(20, True), (64, True), (65, False), (3000, False)])
def test_deep_nesting_is_found_up_to_the_limit_and_refused_beyond_it(depth, found):
    import base64

    from connectors.attachments import MAX_MIME_DEPTH, mime_depth

    raw = _nested(depth, _xlsx_part(base64.encodebytes(XLSX)))
    assert mime_depth(raw) == depth or mime_depth(raw) > MAX_MIME_DEPTH
    msg = parse_message(raw)
    assert msg.subject == "deep" and msg.sender == "a@b.example"  # headers, whatever the depth
    assert bool(msg.workbooks) is found
    assert (msg.refusal is None) is found
    if not found:
        assert msg.refusal.kind == "too-deep" and "嵌套过深" in msg.refusal.reason_zh


def test_broken_and_unknown_transfer_encodings_are_problems_not_guesses():
    broken = parse_message(_nested(1, _xlsx_part(b"UEsDBBQ***not base64!!\r\n")))
    [att] = broken.attachments
    assert att.problem.kind == "bad-encoding" and "编码错误" in att.problem.reason_zh
    assert att.intent == "report" and broken.candidates == (att,)
    unknown = parse_message(_nested(1, _xlsx_part(b"H4sIAAAA\r\n", encoding=b"x-gzip64")))
    assert unknown.attachments[0].problem.kind == "bad-encoding"
    assert "x-gzip64" in unknown.attachments[0].problem.reason


def test_a_base64_forwarded_message_is_read_as_the_message_it_is():
    from email.message import EmailMessage
    from email.policy import SMTP

    inner = EmailMessage()
    inner["From"] = "rsj@zhangshu.example"
    inner.set_content("见附件")
    inner.add_attachment(XLSX, maintype="application", subtype="octet-stream", filename="年报.xlsx")
    raw = inner.as_bytes(policy=SMTP)
    for _ in range(3):  # forwarded three times, each time as a base64 message/rfc822
        outer = EmailMessage()
        outer["From"] = "rsj@zhangshu.example"
        outer.set_content("转发")
        outer.add_attachment(raw, maintype="message", subtype="rfc822", filename="fw.eml")
        raw = outer.as_bytes(policy=SMTP)
    [att] = parse_message(raw).workbooks
    assert att.content == XLSX and att.forwarded


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _with_zip(data: bytes) -> bytes:
    import base64

    return _nested(
        1,
        b'Content-Type: application/zip; name="a.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(data),
    )


def test_a_zip_nothing_can_be_taken_out_of_says_why():
    nested = parse_message(_with_zip(_zip({"inner.zip": _zip({"r.xlsx": XLSX})})))
    assert nested.candidates[0].problem.kind == "nested-archive"
    pdfs = parse_message(_with_zip(_zip({"scan.pdf": b"%PDF-1.7"})))
    assert pdfs.candidates[0].problem.kind == "not-a-workbook"
    assert (
        pdfs.candidates[0].intent == "document"
        and "scan.pdf" in pdfs.candidates[0].problem.reason_zh
    )


def test_zip_members_never_exceed_the_messages_budget():
    data = _zip({f"{i}.xlsx": XLSX for i in range(4)})
    msg = parse_message(_with_zip(data), zip_limits=ZipLimits(max_message_bytes=2 * len(XLSX)))
    kept = [a for a in msg.attachments if a.container and a.problem is None]
    held = [a for a in msg.attachments if a.container and a.problem is not None]
    assert len(kept) == 2 and len(held) == 2
    assert all(a.problem.kind == "too-large" and len(a.content) < 200 for a in held)


def test_what_was_meant_as_the_report():
    from email.message import EmailMessage
    from email.policy import SMTP

    def mail(*files):
        msg = EmailMessage()
        msg["From"] = "a@b.example"
        msg.set_content("见附件")
        for name, data, kind in files:
            main, sub = kind.split("/")
            msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
        return parse_message(msg.as_bytes(policy=SMTP))

    png = ("盖章页.png", b"\x89PNG\r\n\x1a\n", "image/png")
    pdf = ("年报.pdf", b"%PDF-1.7", "application/pdf")
    damaged = ("年报.xlsx", b"PK\x03\x04 cut", "application/octet-stream")
    assert mail(png).candidates == ()  # a photo is never taken for the report
    assert [a.name for a in mail(png, pdf).candidates] == ["年报.pdf"]  # instead of it
    assert [a.name for a in mail(pdf, damaged).candidates] == ["年报.xlsx"]  # meant as it


def test_an_attachment_is_found_again_in_its_message_by_its_hash():
    from connectors.attachments import find_attachment

    raw = _with_zip(_zip({"r.xlsx": XLSX}))
    assert find_attachment(raw, hashlib.sha256(XLSX).hexdigest()) == XLSX
    assert find_attachment(raw, "0" * 64) is None


def test_a_sender_address_with_a_line_break_is_no_address():
    raw = b"From: =?utf-8?b?eA==?= <a@b.example\r\n Bcc: c@d.example>\r\nSubject: x\r\n\r\nhi\r\n"
    assert parse_message(raw).sender in (None, "a@b.example")
