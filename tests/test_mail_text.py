from datetime import date, datetime

import jinja2
import pytest

from annual_report.campaign.kinds import MailKind
from annual_report.form.model import form_for_year
from annual_report.validation import Issue
from connectors.mailtext import (
    MailTexts,
    cn_date,
    parse_subject_tag,
    report_filename,
    subject_tag,
)

DEPT = {"name": "樟树市人力资源和社会保障局", "code": "RSJ"}
COMMON = {
    "campaign": "2021",
    "year": 2021,
    "department": DEPT,
    "today": date(2022, 1, 4),
    "deadline": date(2022, 1, 26),
}
ISSUES = [
    Issue(
        rule="R1",
        severity="error",
        codes=("requests.new_received.total",),
        cells=("'三、收到和处理政府信息公开申请情况'!D5", "D6"),
        message="本年新收政府信息公开申请数量（12）不等于各类申请人之和（11）。",
    ),
    {"rule": "C5", "cells": ["E9"], "message": "结转下年度继续办理数为负数<script>"},
]
RECEIVED = datetime(2022, 1, 5, 10, 12)
CONTEXT = {
    "invitation": {"attachment_name": "樟树市人社局-2021年政府信息公开工作年度报告.xlsx"},
    "receipt": {"file_name": "年报.xlsx", "received_at": RECEIVED, "version": 2},
    "accepted_with_warnings": {"file_name": "年报.xlsx", "received_at": RECEIVED, "issues": ISSUES},
    "rejected": {"file_name": "年报.xlsx", "received_at": RECEIVED, "issues": ISSUES},
    "unreadable": {"file_name": "年报.et", "reason": "文件设置了打开密码，无法读取。"},
    "no_workbook": {"file_names": ["说明.docx"]},
    "several_workbooks": {"file_names": ["年报（修改前）.xlsx", "年报（修改后）.xlsx"]},
    "reminder": {"stage": "before", "days_left": 3},
    "escalation": {
        "reason": "overdue",
        "days_overdue": 2,
        "rejections": 0,
        "progress": "已于1月4日下发填报模板，截至1月28日尚未报送",
        "state_label": "已发送",
    },
    "coordinator_notice": {"title": "有一封来信被隔离", "lines": ["发件人不在名录中"]},
    "held": {"file_name": "年报.xlsx", "reason": "表格属于其他单位，已转协调人核实。"},
    "duplicate": {
        "files": [
            {
                "name": "年报.xlsx",
                "own": True,
                "received_at": RECEIVED,
                "version": 1,
                "status": "已接收",
                "unreadable": None,
                "same_content": False,
            },
            {
                "name": "副本.xlsx",
                "own": False,
                "received_at": RECEIVED,
                "version": None,
                "status": "已接收",
                "unreadable": None,
                "same_content": True,
            },
            {
                "name": "空.xlsx",
                "own": False,
                "received_at": RECEIVED,
                "version": None,
                "status": "无法读取",
                "unreadable": "文件是空的（0字节）。",
                "same_content": False,
            },
        ]
    },
    "message_problem": {"reason": "邮件结构嵌套过深。", "subject_line": "回复：年报"},
}


@pytest.fixture(scope="module")
def texts():
    return MailTexts(
        defaults={
            "office": "樟树市人民政府办公室",
            "contact": {"name": "刘晓燕", "phone": "0795-3991234"},
        }
    )


def test_subject_tag_round_trip():
    assert subject_tag("2021", "RSJ") == "[年报2021-RSJ]"
    assert subject_tag("2021") == "[年报2021]"
    assert parse_subject_tag("[年报2021-RSJ] 关于报送的通知") == ("2021", "RSJ")
    with pytest.raises(ValueError):
        subject_tag("2021", "R]SJ")


@pytest.mark.parametrize(
    "subject",
    [
        "Re: [年报2021-RSJ] 关于报送2021年政府信息公开工作年度报告的通知",
        "回复：[年报2021-RSJ] 关于报送",
        "答复: 转发: [年报2021-RSJ]",
        "转发:【年报2021-RSJ】",
        "回复：［年报２０２１－ＲＳＪ］请填报",  # full-width brackets, digits, dash, letters
        "RE: [ 年报 2021 - rsj ] 已填好",
        "Fwd: 〔年报2021—RSJ〕",
    ],
)
def test_parse_subject_tag_is_tolerant(subject):
    assert parse_subject_tag(subject) == ("2021", "RSJ")


def test_parse_subject_tag_misses_and_hyphenated_ids():
    assert parse_subject_tag("年报已填好") is None
    assert parse_subject_tag(None) is None
    assert parse_subject_tag("[年报2021]") is None  # a coordinator mail names no department
    assert parse_subject_tag("[年报2021-SL-JD]") == ("2021", "SL-JD")
    assert parse_subject_tag("[年报2021-b-RSJ]", campaigns=["2021", "2021-b"]) == ("2021-b", "RSJ")


def test_report_filename():
    assert (
        report_filename("樟树市人社局", 2021) == "樟树市人社局-2021年政府信息公开工作年度报告.xlsx"
    )
    assert report_filename('a/b:c*"d"', 2021, "xls") == "abcd-2021年政府信息公开工作年度报告.xls"


def test_cn_date():
    assert cn_date(date(2022, 1, 26)) == "2022年1月26日（星期三）"
    assert cn_date(datetime(2022, 1, 26, 9, 0), weekday=False) == "2022年1月26日"


def test_every_kind_has_a_template(texts):
    assert set(texts.kinds()) == {k.value for k in MailKind}


@pytest.mark.parametrize("kind", [k.value for k in MailKind])
def test_every_kind_renders(texts, kind):
    context = dict(COMMON, **CONTEXT[kind])
    if kind == "coordinator_notice":
        context.pop("department")
    mail = texts.render(kind, **context)
    tag = "[年报2021]" if kind == "coordinator_notice" else "[年报2021-RSJ]"
    assert mail.subject.startswith(tag + " ")
    assert parse_subject_tag(mail.subject) == (
        None if kind == "coordinator_notice" else ("2021", "RSJ")
    )
    assert "\n" not in mail.subject
    assert mail.text.endswith("\n") and "\n\n\n" not in mail.text
    assert "樟树市人民政府办公室" in mail.text
    assert "None" not in mail.text and "{{" not in mail.text


def test_a_duplicate_says_whether_the_bytes_or_only_the_content_are_the_same(texts):
    text = texts.render("duplicate", **COMMON, **CONTEXT["duplicate"]).text
    assert "《年报.xlsx》：与贵单位" in text and "第1版文件完全相同" in text
    assert "《副本.xlsx》：与其他单位此前报送的文件内容相同" in text


def test_invitation_says_what_when_how_and_whom(texts):
    mail = texts.render("invitation", **COMMON, **CONTEXT["invitation"])
    assert mail.subject == "[年报2021-RSJ] 关于报送2021年政府信息公开工作年度报告的通知"
    text = mail.text
    assert text.startswith("樟树市人力资源和社会保障局：\n")
    assert "《樟树市人社局-2021年政府信息公开工作年度报告.xlsx》" in text
    assert "请于2022年1月26日（星期三）前报送" in text
    assert "直接“回复”本邮件" in text and "不要修改工作表的名称" in text
    assert "刘晓燕（电话：0795-3991234）" in text


def test_rejected_lists_every_issue_with_cells_rule_and_numbers(texts):
    mail = texts.render("rejected", **COMMON, **CONTEXT["rejected"])
    assert "发现以下2处问题" in mail.text
    assert "1. 本年新收政府信息公开申请数量（12）不等于各类申请人之和（11）。" in mail.text
    assert "位置：'三、收到和处理政府信息公开申请情况'!D5、D6" in mail.text
    assert "规则：R1" in mail.text
    # The HTML alternative escapes what departments and rules wrote.
    assert mail.html is not None
    assert "&lt;script&gt;" in mail.html and "<script>" not in mail.html
    assert "<td>R1</td>" in mail.html


def test_reminders_before_and_on_the_deadline(texts):
    before = texts.render("reminder", **COMMON, stage="before", days_left=3)
    due = texts.render("reminder", **COMMON, stage="deadline", days_left=0)
    assert "距今还有3天" in before.text
    assert "报送截止日" in due.subject and "今天（2022年1月26日（星期三））" in due.text


def test_escalation_goes_to_the_leader(texts):
    mail = texts.render(
        "escalation",
        **COMMON,
        reason="rejections",
        days_overdue=0,
        rejections=3,
        progress="已于1月4日下发填报模板，已报送3次，报送被退回3次，截至1月20日尚无核对通过的报告",
        state_label="已退回",
    )
    assert mail.text.startswith("樟树市人力资源和社会保障局负责同志：")
    assert "已报送3次，均未通过核对。" in mail.text
    assert "目前情况：已于1月4日下发填报模板，已报送3次，报送被退回3次" in mail.text


def test_an_escalation_says_what_the_unit_has_not_done_never_its_table_state(texts):
    mail = texts.render("escalation", **COMMON, **CONTEXT["escalation"])
    assert "现已逾期2天" in mail.text
    assert "目前情况：已于1月4日下发填报模板，截至1月28日尚未报送。" in mail.text
    assert "已发送" not in mail.text and "当前状态" not in mail.text


def test_many_issues_read_as_a_few_lines_with_the_full_list_attached(texts):
    """199 cells typed as 12件 are one line with the cells as ranges; the mail stays short."""
    from annual_report.validation.digest import digest

    sheet = "'三、收到和处理政府信息公开申请情况'"
    issues = [
        Issue(
            rule="N2",
            severity="warning",
            codes=("requests.new_received.total",),
            cells=(f"{sheet}!{col}{row}",),
            message=f"第三部分“一、本年新收”行“总计”列：“{row}件”已按{row}计算（去掉了单位），"
            "请直接填写数字。",
        )
        for col in "CDEFGHIJ"
        for row in range(5, 30)
    ][:199]
    found = digest(issues, form_for_year(2021))
    assert found.total == 199 and found.attach
    (line,) = found.findings
    assert line.message == "第三部分共199处数字后带有单位“件”，已按数字读取，请直接填写数字"
    assert line.cells == f"{sheet}!C5:I29、J5:J28"
    mail = texts.render(
        "accepted_with_warnings",
        **COMMON,
        file_name="年报.xlsx",
        received_at=RECEIVED,
        issues=[f.to_dict() for f in found.findings],
        issue_count=found.total,
        omitted=found.omitted,
        issue_list="问题清单.xlsx",
    )
    assert "请核实199处数据" in mail.subject
    assert "全部199处问题逐条列在附件《问题清单.xlsx》中" in mail.text
    assert len(mail.text.splitlines()) < 25


def test_a_long_list_is_capped_and_the_rest_counted(texts):
    from annual_report.validation.digest import LIST_LIMIT, digest

    issues = [
        Issue(
            rule=f"R{n % 4 + 1}", severity="error", codes=(), cells=(f"C{n}",), message=f"第{n}处"
        )
        for n in range(40)
    ]
    found = digest(issues)
    assert len(found.findings) == LIST_LIMIT and found.omitted == 40 - LIST_LIMIT
    mail = texts.render(
        "rejected", **COMMON, **CONTEXT["rejected"] | {"issues": found.findings},
        issue_count=40, omitted=found.omitted, issue_list="问题清单.xlsx",
    )  # fmt: skip
    assert "发现以下40处问题" in mail.text
    assert f"另有{40 - LIST_LIMIT}处问题未在此列出" in mail.text


def write_config(config):
    """A configuration directory with a mail.yaml and no mail/ (the packaged texts)."""
    config.mkdir(parents=True, exist_ok=True)
    (config / "mail.yaml").write_text(
        "smtp: {host: h, port: 25, security: none, sender: a@zhangshu.example, "
        "sender_name: 樟树市人民政府办公室}\ncoordinator: c@zhangshu.example\n",
        encoding="utf-8",
    )
    return config


def test_the_texts_are_package_data_and_complete():
    from annual_report.campaign.kinds import MAIL_KINDS
    from connectors.mailtext import PACKAGE_TEMPLATES

    assert PACKAGE_TEMPLATES.parent.name == "connectors" and PACKAGE_TEMPLATES.is_dir()
    assert MailTexts().check() == []
    assert {k.value for k in MailKind} == set(MAIL_KINDS)
    assert all((PACKAGE_TEMPLATES / kind.template).is_file() for kind in MAIL_KINDS.values())


def test_the_texts_go_into_the_installed_package():
    """Every packaged text is package data of ``connectors`` (pip install . and the image)."""
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    from connectors.mailtext import PACKAGE_TEMPLATES

    root = Path(__file__).resolve().parents[1]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["connectors"]
    files = [
        p.relative_to(PACKAGE_TEMPLATES.parent).as_posix() for p in PACKAGE_TEMPLATES.iterdir()
    ]
    assert files and all(any(fnmatch(f, pattern) for pattern in patterns) for f in files)
    assert not (root / "config" / "mail").exists() or not list(
        (root / "config" / "mail").glob("*.j2")
    )


def test_a_configuration_without_mail_texts_uses_the_packaged_ones(tmp_path):
    from connectors.settings import load_mail_settings

    settings = load_mail_settings(write_config(tmp_path / "config"))
    assert settings.templates_dir is None
    mail = MailTexts.from_settings(settings).render("receipt", **COMMON, **CONTEXT["receipt"])
    assert "已收到" in mail.subject


def test_an_office_overrides_one_text_and_keeps_the_others(tmp_path):
    from connectors.settings import load_mail_settings

    config = write_config(tmp_path / "config")
    (config / "mail").mkdir()
    (config / "mail" / "rejected.txt.j2").write_text(
        '{% extends "_base.txt.j2" %}\n'
        "{% block subject %}{{ tag }} 请修改后重新报送{% endblock %}\n"
        "{% block body %}本市的说法：共{{ issues|length }}处问题。{% endblock %}\n",
        encoding="utf-8",
    )
    settings = load_mail_settings(config)
    assert settings.templates_dir == (config / "mail").resolve()
    texts = MailTexts.from_settings(settings)
    mine = texts.render("rejected", **COMMON, **CONTEXT["rejected"])
    assert mine.subject == "[年报2021-RSJ] 请修改后重新报送"
    assert "本市的说法：共2处问题。" in mine.text and "樟树市人民政府办公室" in mine.text
    # its text replaces the whole mail: the packaged HTML of the kind does not go beside it
    assert mine.html is None
    packaged = texts.render("accepted_with_warnings", **COMMON, **CONTEXT["accepted_with_warnings"])
    assert packaged.html is not None and "本市的说法" not in packaged.text


def test_a_broken_override_is_refused_at_load_naming_the_file(tmp_path):
    from annual_report.errors import ConfigError
    from connectors.settings import load_mail_settings

    config = write_config(tmp_path / "config")
    mail = config / "mail"
    mail.mkdir()
    (mail / "receipt.txt.j2").write_text("{% block subject %}{{ x {% endblock %}")
    (mail / "reciept.txt.j2").write_text("{% block subject %}x{% endblock %}")  # a typo
    (mail / "rejected.html.j2").write_text("<p>只有 HTML</p>")
    (mail / "reminder.txt.j2").write_text('{% extends "_mine.txt.j2" %}')
    (mail / "escalation.txt.j2").write_text("督办，但没有主题")
    (mail / "README.md").write_text("not a template: ignored")
    with pytest.raises(ConfigError) as info:
        load_mail_settings(config)
    assert [(p.file, p.code) for p in info.value.details] == [
        ("mail/escalation.txt.j2", "template-subject"),
        ("mail/receipt.txt.j2", "template-syntax"),
        ("mail/reciept.txt.j2", "template-unknown"),
        ("mail/rejected.html.j2", "template-html-alone"),
        ("mail/reminder.txt.j2", "template-missing"),
    ]
    text = "\n".join(info.value.problems)
    assert "mail/receipt.txt.j2：第1行模板语法有误" in text
    assert "mail/reminder.txt.j2：引用的模板 _mine.txt.j2 不存在" in text
    assert "mail/escalation.txt.j2：没有 {% block subject %}（邮件主题）" in text


def test_a_kind_without_a_template_anywhere_is_refused_at_load(tmp_path, monkeypatch):
    """A kind declared in the table whose template is neither packaged nor overridden: the
    configuration does not load, naming where the file belongs."""
    from annual_report.campaign.kinds import MAIL_KINDS
    from annual_report.campaign.kinds import Mail as Kind
    from annual_report.errors import ConfigError
    from connectors.settings import load_mail_settings

    monkeypatch.setitem(MAIL_KINDS, "thanks", Kind("thanks", "感谢信", "单位"))
    config = write_config(tmp_path / "config")
    with pytest.raises(ConfigError) as info:
        load_mail_settings(config)
    assert info.value.problems == ["mail/thanks.txt.j2：缺少“感谢信”（thanks）的模板"]
    (config / "mail").mkdir()
    (config / "mail" / "thanks.txt.j2").write_text(
        '{% extends "_base.txt.j2" %}{% block subject %}{{ tag }} 谢谢{% endblock %}'
    )
    texts = MailTexts.from_settings(load_mail_settings(config))
    assert texts.render("thanks", **COMMON).subject == "[年报2021-RSJ] 谢谢"


def test_a_templates_dir_that_does_not_exist_is_refused(tmp_path):
    from annual_report.errors import ConfigError
    from connectors.settings import load_mail_settings

    config = write_config(tmp_path / "config")
    with (config / "mail.yaml").open("a", encoding="utf-8") as f:
        f.write("templates_dir: config/mein-mail\n")
    with pytest.raises(ConfigError) as info:
        load_mail_settings(config)
    assert [(p.file, p.field, p.code) for p in info.value.details] == [
        ("mail.yaml", "templates_dir", "not-found")
    ]


def test_a_missing_variable_is_an_error_not_a_hole(texts):
    with pytest.raises(jinja2.UndefinedError):
        texts.render("invitation", **COMMON)  # no attachment_name
    with pytest.raises(ValueError, match="no mail template"):
        texts.render("thank_you_note", **COMMON)


def test_registry_objects_work_as_context(texts):
    from annual_report.campaign.registry import Department

    dept = Department.model_validate(
        {
            "code": "RSJ",
            "name": "樟树市人力资源和社会保障局",
            "kind": "department",
            "email": "rsj@zhangshu.example",
            "contact": {"name": "李明", "phone": "0795-1234567"},
        }
    )
    mail = texts.render("receipt", **dict(COMMON, department=dept), **CONTEXT["receipt"])
    assert mail.text.startswith("樟树市人力资源和社会保障局：")
    assert "（第2次报送）" in mail.text


def test_from_settings_signs_with_the_sender_name():
    from connectors.settings import parse_mail_settings

    settings = parse_mail_settings(
        {
            "smtp": {"host": "h", "port": 25, "security": "none", "sender": "a@zhangshu.example",
                     "sender_name": "樟树市人民政府办公室"},
            "coordinator": "c@zhangshu.example",
            "contact": {"name": "刘晓燕", "email": "zwgk@zhangshu.example"},
        }
    )  # fmt: skip
    mail = MailTexts.from_settings(settings).render("no_workbook", **COMMON, file_names=[])
    assert "樟树市人民政府办公室\n2022年1月4日" in mail.text
    assert "刘晓燕（邮箱：zwgk@zhangshu.example）" in mail.text
    assert "收到的附件" not in mail.text
