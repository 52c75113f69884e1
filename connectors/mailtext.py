"""The Chinese mail texts (``config/mail/*.j2``), the subject tag and the attachment file name.

Every kind of mail is one template ``<kind>.txt.j2`` with a ``subject`` block and the plain-text
body; a ``<kind>.html.j2`` next to it, when present, gives an HTML alternative (autoescaped).
Templates run with ``StrictUndefined``: a missing variable is an error, never an empty hole in a
letter to a department.

Context every template gets (the caller passes what it knows; ``MailTexts(defaults=...)`` holds
the settings-wide ones):

``campaign``    campaign id (``"2021"``), for the subject tag
``year``        report year (int)
``department``  an object or mapping with ``name`` and ``code`` (a registry Department works)
``office``      the sender's display name (樟树市人民政府办公室)
``contact``     whom to call: ``name``, ``phone``, ``email`` (or None)
``today``       date of the letter (default: today)
``tag``         added here: ``[年报2021-RSJ]``

and per kind (see each template's header comment): ``deadline``, ``attachment_name``,
``file_name``, ``issues`` (objects or mappings with ``rule``, ``cells``, ``message``), ``reason``,
``file_names``, ``stage``, ``days_left``, ``days_overdue``, ``rejections``, ``title``, ``lines``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import jinja2

from annual_report.campaign.kinds import MAIL_KINDS

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "config" / "mail"
_WEEKDAYS = "一二三四五六日"


# The mail kinds are declared once, in annual_report/campaign/kinds.py; this enum is made from them.
MailKind = StrEnum("MailKind", {name.upper(): name for name in MAIL_KINDS})


@dataclass(frozen=True)
class RenderedMail:
    kind: str
    subject: str
    text: str
    html: str | None = None


# -- subject tag -----------------------------------------------------------------------------

TAG_WORD = "年报"
_TAG = re.compile(
    r"[\[【〔]\s*" + TAG_WORD + r"\s*([A-Za-z0-9_-]+?)\s*-\s*([A-Za-z][A-Za-z0-9_-]*)\s*[\]】〕]"
)
_DASHES = str.maketrans({"－": "-", "—": "-", "–": "-", "‐": "-", "‑": "-", "﹣": "-"})


def subject_tag(campaign: str, code: str | None = None) -> str:
    """``[年报2021-RSJ]``; without a code (mail to the coordinator) ``[年报2021]``."""
    for value in (campaign, code or "x"):
        if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
            raise ValueError(f"{value!r} cannot go into a subject tag")
    return f"[{TAG_WORD}{campaign}-{code}]" if code else f"[{TAG_WORD}{campaign}]"


def parse_subject_tag(
    subject: str | None, campaigns: Iterable[str] | None = None
) -> tuple[str, str] | None:
    """``(campaign, code)`` from a subject with a tag, else None.

    Tolerant of reply / forward prefixes (``Re:``, ``回复：``, ``转发:``, ...: the tag is searched
    anywhere), full-width brackets, digits and dashes, and spaces inside the tag. Campaign ids
    may contain ``-``: pass the known ``campaigns`` to split such tags right; without them the
    tag is split at its first dash. Codes are returned upper-case, as the registry spells them.
    """
    if not subject:
        return None
    text = unicodedata.normalize("NFKC", subject).translate(_DASHES)
    match = _TAG.search(text)
    if match is None:
        return None
    whole = f"{match.group(1)}-{match.group(2)}"
    for campaign in sorted(campaigns or (), key=len, reverse=True):
        if whole.lower().startswith(campaign.lower() + "-") and len(whole) > len(campaign) + 1:
            return campaign, whole[len(campaign) + 1 :].upper()
    return match.group(1), match.group(2).upper()


# -- file names ------------------------------------------------------------------------------

_BAD_FILE_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def report_filename(department_name: str, year: int, extension: str = "xlsx") -> str:
    """``樟树市人社局-2021年政府信息公开工作年度报告.xlsx`` (safe on Windows)."""
    name = _BAD_FILE_CHARS.sub("", department_name).strip(" .") or "单位"
    return f"{name}-{year}年政府信息公开工作年度报告.{extension}"


# -- rendering -------------------------------------------------------------------------------


def cn_date(value: date | datetime | None, weekday: bool = True) -> str:
    """2022年1月26日（星期三）."""
    if value is None:
        return ""
    day = value.date() if isinstance(value, datetime) else value
    text = f"{day.year}年{day.month}月{day.day}日"
    return text + f"（星期{_WEEKDAYS[day.weekday()]}）" if weekday else text


def cn_datetime(value: datetime | None) -> str:
    """2022年1月5日 10:12."""
    if value is None:
        return ""
    return f"{cn_date(value, weekday=False)} {value:%H:%M}"


def _cells(value: Any) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        return value
    return "、".join(str(v) for v in value)


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


class MailTexts:
    """Renders the mail texts of ``templates_dir`` (default: the project's ``config/mail``)."""

    def __init__(
        self, templates_dir: str | Path | None = None, *, defaults: Mapping[str, Any] | None = None
    ) -> None:
        self.templates_dir = Path(templates_dir) if templates_dir else DEFAULT_TEMPLATES
        self.defaults = dict(defaults or {})
        self.env = jinja2.Environment(
            # An office's own texts first; a kind its copy of config/mail predates falls back
            # to the project's text rather than leaving a mail unsent.
            loader=jinja2.ChoiceLoader(
                [
                    jinja2.FileSystemLoader(self.templates_dir),
                    jinja2.FileSystemLoader(DEFAULT_TEMPLATES),
                ]
            ),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "html.j2"), default_for_string=False
            ),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(cn_date=cn_date, cn_datetime=cn_datetime, cells=_cells)

    @classmethod
    def from_settings(cls, settings: Any) -> MailTexts:
        """Texts signed with the settings' sender name and contact (a MailSettings)."""
        return cls(
            settings.templates_dir,
            defaults={"office": settings.smtp.sender_name, "contact": settings.contact},
        )

    def check(self) -> list[str]:
        """Problems that would stop a mail going out, found before anything is sent: a template
        of a declared mail kind missing from ``templates_dir``, or one that does not compile."""
        problems = []
        for kind in MAIL_KINDS.values():
            path = self.templates_dir / kind.template
            if not path.is_file():
                problems.append(f"{path}: missing (the template of {kind.name}: {kind.label})")
                continue
            names = [kind.template]
            if (self.templates_dir / f"{kind.name}.html.j2").is_file():
                names.append(f"{kind.name}.html.j2")
            for name in names:
                try:
                    template = self.env.get_template(name)
                except jinja2.TemplateSyntaxError as exc:
                    where = exc.filename or str(self.templates_dir / name)
                    problems.append(f"{where}, line {exc.lineno}: {exc.message}")
                except jinja2.TemplateNotFound as exc:  # an include or base that is missing
                    problems.append(f"{self.templates_dir / name}: needs {exc.name}, not found")
                else:
                    if name.endswith(".txt.j2") and "subject" not in template.blocks:
                        problems.append(f"{self.templates_dir / name}: no subject block")
        return problems

    def kinds(self) -> list[str]:
        return sorted(
            p.name.removesuffix(".txt.j2")
            for p in self.templates_dir.glob("*.txt.j2")
            if not p.name.startswith("_")
        )

    def render(self, kind: MailKind | str, **context: Any) -> RenderedMail:
        kind = str(kind)
        values: dict[str, Any] = {"contact": None, "today": date.today(), **self.defaults}
        values.update(context)
        _normalise(values)
        if "tag" not in values and "campaign" in values:
            code = _field(values.get("department"), "code")
            values["tag"] = subject_tag(str(values["campaign"]), code)
        try:
            text_template = self.env.get_template(f"{kind}.txt.j2")
        except jinja2.TemplateNotFound:
            raise ValueError(f"no mail template for {kind!r} in {self.templates_dir}") from None
        subject_block = text_template.blocks.get("subject")
        if subject_block is None:
            raise ValueError(f"{kind}.txt.j2 has no subject block")
        subject = "".join(subject_block(text_template.new_context(values)))
        subject = re.sub(r"\s+", " ", subject).strip()
        text = _tidy(text_template.render(values))
        html = None
        if (self.templates_dir / f"{kind}.html.j2").is_file():
            html = self.env.get_template(f"{kind}.html.j2").render(values).strip() + "\n"
        return RenderedMail(kind=kind, subject=subject, text=text, html=html)


def _normalise(values: dict[str, Any]) -> None:
    """Objects or mappings → plain dicts with every key the templates test."""
    if values.get("department") is not None:
        dept = values["department"]
        values["department"] = {"name": _field(dept, "name"), "code": _field(dept, "code")}
    if values.get("contact") is not None:
        contact = values["contact"]
        values["contact"] = {k: _field(contact, k) for k in ("name", "phone", "email")}
    if values.get("issues") is not None:
        values["issues"] = [
            {
                "rule": _field(issue, "rule") or "",
                "severity": _field(issue, "severity") or "",
                "cells": _cells_value(_field(issue, "cells")),
                "count": _field(issue, "count") or 1,
                "message": _field(issue, "message") or "",
            }
            for issue in values["issues"]
        ]


def _cells_value(value: Any) -> Any:
    """A digest's cells are already one compressed string; an issue's are a list."""
    if isinstance(value, str):
        return value
    return list(value or ())


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"
