import logging
from pathlib import Path

import pytest
import yaml

from annual_report.errors import ConfigError
from connectors.settings import load_mail_settings, parse_mail_settings

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = {
    "smtp": {
        "host": "smtp.zhangshu.example",
        "port": 465,
        "user": "nianbao@zhangshu.example",
        "sender": "nianbao@zhangshu.example",
        "sender_name": "樟树市人民政府办公室",
    },
    "coordinator": "zwgk@zhangshu.example",
}


def test_the_example_config_loads_and_resolves_paths():
    settings = load_mail_settings(ROOT / "config")
    assert settings.smtp.security == "ssl"
    assert settings.imap is not None and settings.imap.processed_flag == "$NianbaoProcessed"
    assert settings.archive_dir == ROOT / "nianbao-data" / "mail"
    assert settings.templates_dir is None  # no config/mail: the packaged mail texts
    assert settings.contact is not None and settings.contact.name


def test_defaults():
    settings = parse_mail_settings(MINIMAL)
    assert settings.smtp.timeout == 30
    assert settings.smtp.retries == 3
    assert settings.imap is None
    assert settings.smtp.sender_domain == "zhangshu.example"


def test_every_problem_is_reported_at_once():
    data = {
        "smtp": {
            "host": "",
            "port": 70000,
            "security": "tls",
            "sender": "not-an-address",
            "sender_name": "樟树市人民政府办公室",
            "sendr": "typo",
            "password": "hunter2",
        },
        "imap": {"host": "imap.x", "port": 993, "user": "u", "processed_flag": "bad flag"},
        "coordinator": "nobody",
    }
    with pytest.raises(ConfigError) as info:
        parse_mail_settings(data, source="mail.yaml")
    assert [(p.field, p.code) for p in info.value.details] == [
        ("smtp.password", "secret"),
        ("smtp.host", "string_too_short"),
        ("smtp.port", "less_than_equal"),
        ("smtp.security", "literal_error"),
        ("smtp.sender", "email"),
        ("smtp.sendr", "extra_forbidden"),
        ("imap.processed_flag", "imap-flag"),
        ("coordinator", "email"),
    ]
    assert info.value.problems[:5] == [
        "mail.yaml smtp.password：密码不能写在配置文件里：请设置环境变量（见 .env.example）"
        "或使用 Prefect Secret",
        "mail.yaml smtp.host：不能为空",
        "mail.yaml smtp.port：不能大于65535",
        "mail.yaml smtp.security：应为以下之一：'ssl'、'starttls'、'none'",
        "mail.yaml smtp.sender：不是有效的邮件地址（not-an-address）",
    ]
    assert "hunter2" not in str(info.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found") as info:
        load_mail_settings(tmp_path)
    assert info.value.problems == ["mail.yaml：找不到此文件"]
    (tmp_path / "mail.yaml").write_text("smtp: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line") as info:
        load_mail_settings(tmp_path)
    assert info.value.details[0].code == "yaml"


def test_passwords_come_from_the_environment_or_the_caller(monkeypatch):
    settings = parse_mail_settings(MINIMAL)
    monkeypatch.delenv("NIANBAO_SMTP_PASSWORD", raising=False)
    assert settings.smtp_password() is None
    monkeypatch.setenv("NIANBAO_SMTP_PASSWORD", "from-env-7")
    assert settings.smtp_password() == "from-env-7"
    assert settings.smtp_password(env={"NIANBAO_SMTP_PASSWORD": "other"}) == "other"
    held = settings.with_passwords(smtp="from-secret-block-9")
    assert held.smtp_password() == "from-secret-block-9"  # beats the environment
    assert settings.imap_password() is None  # no imap section


def test_a_held_password_never_shows(caplog):
    settings = parse_mail_settings(MINIMAL).with_passwords(smtp="Sup3r-Secret")
    logging.getLogger("test").warning("settings: %s / %r", settings, settings)
    shown = [str(settings), repr(settings), str(settings.model_dump()), caplog.text]
    shown.append(yaml.safe_dump(settings.model_dump(mode="json"), allow_unicode=True))
    assert all("Sup3r-Secret" not in text for text in shown)


def test_phone_numbers_read_as_numbers_are_kept_as_text():
    data = {**MINIMAL, "contact": {"name": "刘晓燕", "phone": 13800138000}}
    assert parse_mail_settings(data).contact.phone == "13800138000"


def test_one_contact_model_and_one_address_check_for_every_file():
    """The registry's clerks and the office's contact are the same model, checked the same."""
    from annual_report.campaign.registry import Department
    from annual_report.config import Contact

    data = {**MINIMAL, "contact": {"name": "刘晓燕", "phone": "电话", "email": "zwgk@@x"}}
    with pytest.raises(ConfigError) as info:
        parse_mail_settings(data)
    assert [(p.field, p.code) for p in info.value.details] == [
        ("contact.phone", "phone"),
        ("contact.email", "email"),
    ]
    dept = Department(
        code="RSJ",
        name="人社局",
        kind="department",
        email="rsj@city.example",
        contact={"name": "李明", "phone": "0795-1234567"},
    )
    assert isinstance(dept.contact, Contact)
    assert isinstance(parse_mail_settings({**MINIMAL, "contact": {"name": "刘"}}).contact, Contact)
