"""Mail settings (``config/mail.yaml``), validated once at load time into typed objects.

Passwords never live in the file: ``smtp_password()`` / ``imap_password()`` read environment
variables (``NIANBAO_SMTP_PASSWORD`` / ``NIANBAO_IMAP_PASSWORD`` unless ``password_env`` names
others), and the flows layer may hand one over from a Prefect Secret block instead
(``settings.with_passwords(...)`` or the connectors' ``password=`` parameter). A password held in
memory is a ``SecretStr``: ``repr`` and ``str`` of the settings show ``**********``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from annual_report.errors import ConfigError

MAIL_FILE = "mail.yaml"
Security = Literal["ssl", "starttls", "none"]

_SECRET_KEYS = {"password", "pass", "passwd", "secret"}


def _check_address(value: str) -> str:
    value = value.strip()
    local, _, domain = value.rpartition("@")
    if not local or not domain or any(c.isspace() for c in value) or "@" in domain:
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpSettings(_Model):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    security: Security = "ssl"
    user: str | None = None  # login; None: a relay without authentication
    sender: str  # the From address
    sender_name: str = Field(min_length=1)  # e.g. 樟树市人民政府办公室
    reply_to: str | None = None
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

    @field_validator("sender", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else _check_address(value)

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2]

    def resolve_password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The password held in memory, else the one in the environment variable."""
        return _password(self.password, self.password_env, env)


class ImapSettings(_Model):
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
                raise ValueError(f"{value!r}: only \\Seen, \\Flagged or \\Answered, or a keyword")
        elif not value or any(c in value for c in ' (){%*"\\]') or not value.isascii():
            raise ValueError(f"{value!r} is not an IMAP keyword")
        return value

    def resolve_password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The password held in memory, else the one in the environment variable."""
        return _password(self.password, self.password_env, env)


class Contact(_Model):
    """Whom departments call with questions (printed in every mail)."""

    name: str = Field(min_length=1)
    phone: str | None = None
    email: str | None = None

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value  # YAML reads 07953991234 as int


class MailSettings(_Model):
    smtp: SmtpSettings
    imap: ImapSettings | None = None
    maildir: Path | None = None  # a local Maildir to read instead of / besides IMAP
    drop_dir: Path | None = None  # workbooks / .eml files received another way
    coordinator: str  # address of the coordinator (notices, quarantine)
    contact: Contact | None = None
    archive_dir: Path = Path("nianbao-data/mail")
    templates_dir: Path | None = None  # default: config/mail next to this file

    @field_validator("coordinator")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_address(value)

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


def _format_error(error: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "missing":
        message = "required"
    elif error.get("type") == "extra_forbidden":
        message = "unknown field"
    return f"{loc}: {message}" if loc else message


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
    if not isinstance(data, dict):
        raise ConfigError(
            "mail settings must be a mapping with 'smtp' and 'coordinator'", file=source
        )
    problems = [
        f"{path}: passwords do not belong in config files; set the environment variable "
        "(see .env.example) or use a Prefect Secret block"
        for path in _secret_keys(data)
    ]
    clean = _without_secrets(data)
    settings: MailSettings | None = None
    try:
        settings = MailSettings.model_validate(clean)
    except ValidationError as exc:
        problems.extend(_format_error(e) for e in exc.errors())
    if problems:
        raise ConfigError(
            f"the mail settings have {len(problems)} problem(s)", problems, file=source
        )
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
    """Read ``config/mail.yaml`` (``path`` is the file or the config directory).

    Relative paths in the file are taken relative to the config directory's parent (the project
    directory), so ``archive_dir: data/mail`` means ``<project>/data/mail``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MAIL_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("mail settings not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the mail settings: {exc}", file=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"the mail settings are not valid YAML{where}", file=str(path)) from None
    settings = parse_mail_settings(data, source=str(path), base_dir=path.resolve().parent.parent)
    if settings.templates_dir is None:
        settings = settings.model_copy(update={"templates_dir": path.resolve().parent / "mail"})
    check_templates(settings, source=str(path))
    return settings


def check_templates(settings: MailSettings, *, source: str | None = None) -> None:
    """Every mail kind has its template in ``templates_dir`` and each compiles: a city that
    copied ``config/mail`` from an older version learns it here, before anything is sent."""
    from connectors.mailtext import MailTexts

    assert settings.templates_dir is not None
    if not settings.templates_dir.is_dir():
        raise ConfigError(
            f"the mail templates directory {settings.templates_dir} does not exist", file=source
        )
    problems = MailTexts(settings.templates_dir).check()
    if problems:
        raise ConfigError(
            f"the mail templates have {len(problems)} problem(s)", problems, file=source
        )
