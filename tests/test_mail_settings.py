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
    assert settings.templates_dir == ROOT / "config" / "mail"
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
    problems = info.value.problems
    joined = "\n".join(problems)
    for where in (
        "smtp.password: passwords do not belong in config files",
        "smtp.host",
        "smtp.port",
        "smtp.security",
        "smtp.sender:",
        "smtp.sendr: unknown field",
        "imap.processed_flag",
        "coordinator",
    ):
        assert where in joined, where
    assert len(problems) == 8
    assert "hunter2" not in str(info.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_mail_settings(tmp_path)
    (tmp_path / "mail.yaml").write_text("smtp: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_mail_settings(tmp_path)


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
