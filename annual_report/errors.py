"""The one exception tree of nianbao.

Bad *data* is never an exception: validation returns a report of issues. These are for real
failures: a file that cannot be read at all, a broken configuration, a mail server that is down.
Every error carries the context an operator needs (file, department, Message-ID).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class NianbaoError(Exception):
    """Base of every error nianbao raises on purpose."""

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        if not self.context:
            return self.message
        details = ", ".join(f"{k}={v}" for k, v in self.context.items())
        return f"{self.message} ({details})"


@dataclass(frozen=True)
class ConfigProblem:
    """One problem of the configuration, as data: which file, which entry, which field, what.

    ``str()`` is the Chinese line the coordinator reads (``departments.yaml 第3项（RSJ）email：
    不是有效的邮件地址（rsj@@city）``); ``code`` is a stable slug (pydantic's error type or ours:
    ``missing``, ``duplicate``, ``not-found``, ``template-syntax`` …) and ``detail`` the original
    English text, for logs and tests. Built by :mod:`annual_report.config`.
    """

    file: str | None  # as the office names it: departments.yaml, mail/receipt.txt.j2
    message: str  # Chinese
    field: str | None = None  # the key path inside the file or entry: email, smtp.port
    entry: str | None = None  # the list item: 第3项（RSJ）
    code: str = "invalid"
    detail: str | None = None

    def __str__(self) -> str:
        place = " ".join(p for p in (self.file, f"{self.entry or ''}{self.field or ''}") if p)
        return f"{place}：{self.message}" if place else self.message


class ConfigError(NianbaoError):
    """Configuration (registry, campaign, mail settings, mail texts) is invalid; lists every
    problem: ``problems`` the Chinese lines, ``details`` the same as :class:`ConfigProblem`."""

    def __init__(
        self,
        message: str,
        problems: Sequence[ConfigProblem | str] | None = None,
        **context: object,
    ):
        super().__init__(message, **context)
        self.details: list[ConfigProblem] = [
            p if isinstance(p, ConfigProblem) else ConfigProblem(None, p) for p in problems or ()
        ]
        self.problems: list[str] = [str(p) for p in self.details]

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class FormError(NianbaoError):
    """A form definition is malformed, or no form exists for a report year."""


class WorkbookError(NianbaoError):
    """A file cannot be read as a report at all.

    ``reason`` is a precise one-line English reason for the coordinator; ``reason_zh`` is the
    explanation sent to the department.
    """

    def __init__(self, reason: str, reason_zh: str, *, kind: str, **context: object) -> None:
        super().__init__(reason, **context)
        self.reason_zh = reason_zh
        self.kind = kind  # stable slug: "empty", "not-a-workbook", "encrypted", "too-large", ...


class DocumentError(NianbaoError):
    """A report document cannot be written or converted (e.g. LibreOffice is missing)."""


class StoreError(NianbaoError):
    """The state database cannot be opened or migrated."""


class ConnectorError(NianbaoError):
    """A connector (mail in/out, files) failed."""


class MailSendError(ConnectorError):
    """Sending mail failed. ``permanent`` is true for errors a retry cannot fix (bad address)."""

    def __init__(self, message: str, *, permanent: bool = False, **context: object) -> None:
        super().__init__(message, **context)
        self.permanent = permanent


class MailFetchError(ConnectorError):
    """Reading the mailbox failed. ``permanent`` is true for errors a retry cannot fix: the
    configuration is wrong (no such host or folder, not a Maildir, no or wrong password)."""

    def __init__(self, message: str, *, permanent: bool = False, **context: object) -> None:
        super().__init__(message, **context)
        self.permanent = permanent


def permanent(exc: BaseException) -> bool:
    """Whether retrying cannot help: a configuration error, or a connector's failure marked
    permanent (a wrong host, folder or password; a refused address). Retries are for
    outages, not for settings only the coordinator can correct."""
    return isinstance(exc, ConfigError) or bool(getattr(exc, "permanent", False))
