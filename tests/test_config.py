"""One loader for every configuration file (annual_report/config.py): all problems of all files
gathered, each naming its file, entry and field in Chinese, and kept as data."""

import shutil
from pathlib import Path

import pytest

from annual_report.config import ConfigProblem, entry_label, read_yaml
from annual_report.errors import ConfigError
from office.settings import load_app_config

ROOT = Path(__file__).resolve().parents[1]


def test_a_problem_reads_as_one_chinese_line():
    assert str(
        ConfigProblem("departments.yaml", "不是有效的邮件地址", "email", "第3项（RSJ）")
    ) == ("departments.yaml 第3项（RSJ）email：不是有效的邮件地址")
    assert str(ConfigProblem("mail.yaml", "不能大于65535", "smtp.port")) == (
        "mail.yaml smtp.port：不能大于65535"
    )
    assert str(ConfigProblem("campaign.yaml", "文件是空的")) == "campaign.yaml：文件是空的"
    assert entry_label(2, "RSJ") == "第3项（RSJ）" and entry_label(0) == "第1项"


def test_every_problem_of_every_file_is_gathered(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)

    def edit(name, old, new):
        path = config / name
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    edit("departments.yaml", "fgw@yichun.example", "fgw@@yichun")
    edit("departments.yaml", "kind: department", "kind: bureau")
    edit("campaign.yaml", "collect_every_minutes: 30", "collect_every_minutes: 45")
    edit("mail.yaml", "port: 465", "port: 70000")
    (config / "mail").mkdir()
    (config / "mail" / "receipt.txt.j2").write_text("{% block subject %}{{ x {% endblock %}")

    with pytest.raises(ConfigError) as caught:
        load_app_config(config, tmp_path / "data")
    assert [(p.file, p.entry, p.field, p.code) for p in caught.value.details] == [
        ("departments.yaml", "第2项（FGW）", "kind", "literal_error"),
        ("departments.yaml", "第2项（FGW）", "email", "email"),
        ("campaign.yaml", None, "collect_every_minutes", "inconsistent"),
        ("mail.yaml", None, "smtp.port", "less_than_equal"),
        ("mail/receipt.txt.j2", None, None, "template-syntax"),
    ]
    assert caught.value.problems[:2] == [
        "departments.yaml 第2项（FGW）kind：应为以下之一：'department'、'township'、'county'、"
        "'city'、'government'",
        "departments.yaml 第2项（FGW）email：不是有效的邮件地址（fgw@@yichun）",
    ]
    assert str(caught.value).startswith("the configuration: 5 problem(s)")


def test_problems_between_files(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    with (config / "campaign.yaml").open("a", encoding="utf-8") as f:
        f.write("overrides:\n  NOPE: {exempt: true}\n")
    with pytest.raises(ConfigError) as caught:
        load_app_config(config, tmp_path / "data")
    assert caught.value.problems == [
        "campaign.yaml overrides.NOPE：单位名录（departments.yaml）中没有这个单位"
    ]


def test_a_file_that_is_not_text_or_not_there(tmp_path):
    (tmp_path / "departments.yaml").write_bytes("city: 宜春市\n".encode("gbk"))
    with pytest.raises(ConfigError) as caught:
        read_yaml(tmp_path / "departments.yaml")
    assert caught.value.problems == ["departments.yaml：不是 UTF-8 编码的文本（请另存为 UTF-8）"]
    with pytest.raises(ConfigError) as caught:
        load_app_config(tmp_path / "nowhere")
    assert caught.value.details[0].code == "not-found"
    assert caught.value.problems[0].endswith("nowhere：配置目录不存在")
