"""Mail settings (``config/mail.yaml``), validated once at load time into typed objects.

Passwords never live in the file: ``smtp_password()`` / ``imap_password()`` read environment
variables (``NIANBAO_SMTP_PASSWORD`` / ``NIANBAO_IMAP_PASSWORD`` unless ``password_env`` names
others), and the flows layer may hand one over from a Prefect Secret block instead
(``settings.with_passwords(...)`` or the connectors' ``password=`` parameter). A password held in
memory is a ``SecretStr``: ``repr`` and ``str`` of the settings show ``**********``.

The mail texts are checked here too, when the settings load: the packaged ones and the office's
overrides in ``config/mail/`` (``templates_dir``), so a kind without a template or an override
that does not compile stops the configuration before anything is sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from annual_report.config import (
    ConfigModel,
    ConfigProblem,
    Contact,
    EmailAddress,
    Invalid,
    config_path,
    raise_problems,
    read_yaml,
    validated,
)
from annual_report.errors import ConfigError

__all__ = [
    "MAIL_FILE",
    "OVERRIDES_DIR",
    "Contact",
    "ImapSettings",
    "MailSettings",
    "SmtpSettings",
    "check_templates",
    "load_mail_settings",
    "parse_mail_settings",
]

MAIL_FILE = "mail.yaml"
OVERRIDES_DIR = "mail"  # config/mail: the office's own mail texts, when it has any
Security = Literal["ssl", "starttls", "none"]

_SECRET_KEYS = {"password", "pass", "passwd", "secret"}


class SmtpSettings(ConfigModel):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    security: Security = "ssl"
    user: str | None = None  # login; None: a relay without authentication
    sender: EmailAddress  # the From address
    sender_name: str = Field(min_length=1)  # e.g. 樟树市人民政府办公室
    reply_to: EmailAddress | None = None
    timeout: float = Field(default=30, gt=0)
    rate_per_minute: float | None = Field(default=20, gt=0)  # None: no limit
    retries: int = Field(default=3, ge=0, le=10)
    backoff_seconds: float = Field(default=2, ge=0)  # first back-off; doubles per retry
    # The most one run spends on failed attempts and back-off before it gives up: an
    # unreachable server fails the run in seconds; what was not sent goes with the next run.
    retry_budget_seconds: float = Field(default=30, gt=0, le=600)
    verify_tls: bool = True  # False only for an intranet server with a self-signed certificate
    password_env: str = "NIANBAO_SMTP_PASSWORD"
    password: SecretStr | None = Field(default=None, exclude=True, repr=False)

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2]

    def resolve_password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The password held in memory, else the one in the environment variable."""
        return _password(self.password, self.password_env, env)


class ImapSettings(ConfigModel):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    security: Security = "ssl"
    user: str = Field(min_length=1)
    folder: str = "INBOX"
    # After a message is archived and recorded: set this flag (a keyword such as
    # $NianbaoProcessed, or \Seen; None: no flag) and/or move it to processed_folder. Never deleted.
    processed_flag: str | None = "$NianbaoProcessed"
    processed_folder: str | None = None
    since: date | None = None  # ignore older messages (e.g. the campaign's start)
    timeout: float = Field(default=30, gt=0)
    bulk: int = Field(default=50, ge=2)  # messages per FETCH command
    verify_tls: bool = True
    password_env: str = "NIANBAO_IMAP_PASSWORD"
    password: SecretStr | None = Field(default=None, exclude=True, repr=False)

    @field_validator("processed_flag")
    @classmethod
    def _flag(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if value.startswith("\\"):
            if value not in ("\\Seen", "\\Flagged", "\\Answered"):
                raise Invalid(
                    "imap-flag", f"{value!r} 不可用：只能是 \\Seen、\\Flagged、\\Answered 或关键字"
                )
        elif not value or any(c in value for c in ' (){%*"\\]') or not value.isascii():
            raise Invalid("imap-flag", f"{value!r} 不是 IMAP 关键字（如 $NianbaoProcessed）")
        return value

    def resolve_password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The password held in memory, else the one in the environment variable."""
        return _password(self.password, self.password_env, env)


class MailSettings(ConfigModel):
    smtp: SmtpSettings
    imap: ImapSettings | None = None
    maildir: Path | None = None  # a local Maildir to read instead of / besides IMAP
    drop_dir: Path | None = None  # workbooks / .eml files received another way
    coordinator: EmailAddress  # address of the coordinator (notices, quarantine)
    contact: Contact | None = None
    archive_dir: Path = Path("nianbao-data/mail")
    # The office's own mail texts, each overriding the packaged one of the same name; default:
    # config/mail beside this file when there is one, else none (the packaged texts only).
    templates_dir: Path | None = None

    def smtp_password(self, env: Mapping[str, str] | None = None) -> str | None:
        return self.smtp.resolve_password(env)

    def imap_password(self, env: Mapping[str, str] | None = None) -> str | None:
        return None if self.imap is None else self.imap.resolve_password(env)

    def with_passwords(self, *, smtp: str | None = None, imap: str | None = None) -> MailSettings:
        """A copy holding passwords given by the caller (e.g. from a Prefect Secret block)."""
        update: dict[str, Any] = {}
        if smtp is not None:
            update["smtp"] = self.smtp.model_copy(update={"password": SecretStr(smtp)})
        if imap is not None and self.imap is not None:
            update["imap"] = self.imap.model_copy(update={"password": SecretStr(imap)})
        return self.model_copy(update=update)


def _password(held: SecretStr | None, var: str, env: Mapping[str, str] | None) -> str | None:
    if held is not None:
        return held.get_secret_value()
    value = (os.environ if env is None else env).get(var)
    return value or None


def _secret_keys(data: Any, where: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if str(key).lower() in _SECRET_KEYS:
                found.append(path)
            found.extend(_secret_keys(value, path))
    return found


def parse_mail_settings(
    data: Any, *, source: str | None = None, base_dir: Path | None = None
) -> MailSettings:
    """Validate the YAML mapping, reporting every problem at once in one ConfigError.

    Relative paths (archive_dir, maildir, drop_dir, templates_dir) are resolved against
    ``base_dir`` (the project directory, i.e. the parent of ``config/``) when given.
    """
    file = Path(source).name if source else MAIL_FILE
    problems = [
        ConfigProblem(
            file,
            "密码不能写在配置文件里：请设置环境变量（见 .env.example）或使用 Prefect Secret",
            field,
            code="secret",
            detail="passwords do not belong in config files",
        )
        for field in _secret_keys(data)
    ]
    settings, wrong = validated(MailSettings, _without_secrets(data), file=file)
    raise_problems(problems + wrong, source=source)
    assert settings is not None
    if base_dir is not None:
        settings = settings.model_copy(update=_resolved_paths(settings, base_dir))
    return settings


def _without_secrets(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: _without_secrets(v) for k, v in data.items() if str(k).lower() not in _SECRET_KEYS
        }
    return data


def _resolved_paths(settings: MailSettings, base: Path) -> dict[str, Path]:
    update: dict[str, Path] = {}
    for name in ("archive_dir", "maildir", "drop_dir", "templates_dir"):
        value = getattr(settings, name)
        if value is not None and not value.is_absolute():
            update[name] = base / value
    return update


def load_mail_settings(path: str | Path) -> MailSettings:
    """Read ``config/mail.yaml`` (``path`` is the file or the config directory) and check the
    mail texts; one ConfigError lists the problems of both.

    Relative paths in the file are taken relative to the config directory's parent (the project
    directory), so ``archive_dir: data/mail`` means ``<project>/data/mail``.
    """
    path = config_path(path, MAIL_FILE)
    config_dir = path.resolve().parent
    problems: list[ConfigProblem] = []
    settings: MailSettings | None = None
    try:
        settings = parse_mail_settings(
            read_yaml(path), source=str(path), base_dir=config_dir.parent
        )
    except ConfigError as exc:
        problems.extend(exc.details)
    if settings is not None and settings.templates_dir is None:
        default = config_dir / OVERRIDES_DIR
        if default.is_dir():
            settings = settings.model_copy(update={"templates_dir": default})
    overrides = settings.templates_dir if settings is not None else config_dir / OVERRIDES_DIR
    problems.extend(template_problems(overrides, config_dir, explicit=settings is not None))
    raise_problems(problems, source=path)
    assert settings is not None
    return settings


def template_problems(
    overrides: Path | None, config_dir: Path | None = None, *, explicit: bool = True
) -> list[ConfigProblem]:
    """What is wrong with the mail texts: the packaged ones and the overrides in ``overrides``
    (named relative to ``config_dir``, e.g. ``mail/receipt.txt.j2``). A missing directory is a
    problem only when ``explicit`` (mail.yaml named it)."""
    from connectors.mailtext import MailTexts

    if overrides is not None and not overrides.is_dir():
        if not explicit:
            overrides = None
        else:
            return [
                ConfigProblem(
                    MAIL_FILE,
                    f"目录不存在（{overrides}）",
                    "templates_dir",
                    code="not-found",
                    detail=f"the mail templates directory {overrides} does not exist",
                )
            ]
    return MailTexts(overrides).check(shown=_shown(overrides, config_dir))


def _shown(overrides: Path | None, config_dir: Path | None) -> Callable[[str], str]:
    def show(name: str) -> str:
        if overrides is None:
            return f"{OVERRIDES_DIR}/{name}"  # where the office could add it
        if config_dir is not None and overrides.resolve().is_relative_to(config_dir.resolve()):
            return (overrides.resolve() / name).relative_to(config_dir.resolve()).as_posix()
        return str(overrides / name)

    return show


def check_templates(settings: MailSettings, *, source: str | None = None) -> None:
    """Every mail kind has its template, packaged or overridden in ``settings.templates_dir``,
    and every override compiles: a city learns it here, before anything is sent."""
    raise_problems(template_problems(settings.templates_dir), source=source)
