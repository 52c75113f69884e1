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
