"""The Chinese mail texts, the subject tag and the attachment file name.

The texts ship with the package (``connectors/templates/``): every kind of mail of
``annual_report/campaign/kinds.py`` is one template ``<kind>.txt.j2`` with a ``subject`` block and
the plain-text body; a ``<kind>.html.j2`` next to it, when present, gives an HTML alternative
(autoescaped). An office that wants its own wording for a kind puts that one file in its
``config/mail/`` (the override directory): its file wins, the other kinds keep the packaged text.
Its ``.txt.j2`` replaces the whole mail: the packaged HTML of that kind is not sent beside it
unless the office overrides the HTML too. :meth:`MailTexts.check` finds, when the configuration
loads, what would stop a mail mid-run: a kind without a template, an override that does not
compile or names a template that does not exist, a file that is no kind's.
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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from annual_report.campaign.kinds import MAIL_KINDS, Mail, MailKind
from annual_report.errors import ConfigProblem

# The packaged texts (package data).
PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"
_WEEKDAYS = "一二三四五六日"


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
    """Renders the mail texts: the packaged ones, each overridden by the file of the same name in
    ``overrides`` (an office's ``config/mail``) when there is one."""

    def __init__(
        self, overrides: str | Path | None = None, *, defaults: Mapping[str, Any] | None = None
    ) -> None:
        self.overrides = Path(overrides) if overrides else None
        self.defaults = dict(defaults or {})
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(PACKAGE_TEMPLATES)]
        if self.overrides is not None:
            loaders.insert(0, jinja2.FileSystemLoader(self.overrides))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
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
        """Texts signed with the settings' sender name and contact (a MailSettings), with its
        override directory."""
        return cls(
            settings.templates_dir,
            defaults={"office": settings.smtp.sender_name, "contact": settings.contact},
        )

    def _own(self, name: str) -> bool:
        return self.overrides is not None and (self.overrides / name).is_file()

    def _exists(self, name: str) -> bool:
        return self._own(name) or (PACKAGE_TEMPLATES / name).is_file()

    def _html(self, kind: Mail) -> str | None:
        """The HTML alternative of ``kind``, from where its text comes: an office that rewrote
        the text does not send the packaged HTML beside it."""
        text, html = kind.template, kind.html_template
        if self._own(text):
            return html if self._own(html) else None
        return html if (PACKAGE_TEMPLATES / html).is_file() else None

    def check(self, shown: Callable[[str], str] | None = None) -> list[ConfigProblem]:
        """Problems that would stop a mail going out, found before anything is sent. ``shown``
        names an override file for the coordinator (default: its full path)."""

        def show(name: str) -> str:
            if shown is not None:
                return shown(name)
            return str((self.overrides or PACKAGE_TEMPLATES) / name)

        problems: list[ConfigProblem] = []
        own = sorted(p.name for p in self.overrides.glob("*.j2")) if self.overrides else []
        kind_of = {n: k for k in MAIL_KINDS.values() for n in (k.template, k.html_template)}
        for name in own:
            kind = kind_of.get(name)
            if kind is None and not name.startswith("_"):
                problems.append(
                    ConfigProblem(
                        show(name),
                        "不是任何一种邮件的模板（文件名应为“邮件种类.txt.j2”，如 receipt.txt.j2；"
                        f"邮件种类：{'、'.join(MAIL_KINDS)}）",
                        code="template-unknown",
                        detail="not the template of a mail kind",
                    )
                )
                continue
            if kind is not None and name == kind.html_template and not self._own(kind.template):
                problems.append(
                    ConfigProblem(
                        show(name),
                        f"只替换了 HTML：请把 {kind.template} 也放在这里（一封邮件的文本和 HTML "
                        "一起替换）",
                        code="template-html-alone",
                        detail=f"an HTML override without {kind.template}",
                    )
                )
            problems.extend(self._compile(name, show(name)))
        for kind in MAIL_KINDS.values():
            if not self._exists(kind.template):
                problems.append(
                    ConfigProblem(
                        show(kind.template),
                        f"缺少“{kind.label}”（{kind.name}）的模板",
                        code="template-missing",
                        detail=f"missing: the template of {kind.name}",
                    )
                )
                continue
            if not self._own(kind.template):
                problems.extend(
                    self._compile(kind.template, str(PACKAGE_TEMPLATES / kind.template))
                )
            if any(p.file == show(kind.template) for p in problems):
                continue  # already refused
            try:
                blocks = self.env.get_template(kind.template).blocks
            except jinja2.TemplateError:
                continue  # reported by _compile
            if "subject" not in blocks:
                problems.append(
                    ConfigProblem(
                        show(kind.template),
                        "没有 {% block subject %}（邮件主题）",
                        code="template-subject",
                        detail="no subject block",
                    )
                )
        problems.sort(key=lambda p: p.file or "")
        return problems

    def _compile(self, name: str, shown: str) -> list[ConfigProblem]:
        """Problems of template ``name`` as it resolves: syntax, encoding, and templates it
        extends or includes that exist nowhere."""
        try:
            source, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
            self.env.get_template(name)
            names = jinja2.meta.find_referenced_templates(self.env.parse(source))
        except jinja2.TemplateSyntaxError as exc:
            return [
                ConfigProblem(
                    shown,
                    f"第{exc.lineno}行模板语法有误（{exc.message}）",
                    code="template-syntax",
                    detail=f"line {exc.lineno}: {exc.message}",
                )
            ]
        except UnicodeDecodeError:
            return [
                ConfigProblem(
                    shown,
                    "不是 UTF-8 编码的文本（请另存为 UTF-8）",
                    code="encoding",
                    detail="not UTF-8",
                )
            ]
        return [
            ConfigProblem(
                shown,
                f"引用的模板 {ref} 不存在",
                code="template-missing",
                detail=f"needs {ref}, not found",
            )
            for ref in names
            if ref is not None and not self._exists(ref)
        ]

    def kinds(self) -> list[str]:
        """The kinds of mail there is a text for."""
        return sorted(name for name, kind in MAIL_KINDS.items() if self._exists(kind.template))

    def render(self, kind: MailKind | str, **context: Any) -> RenderedMail:
        declared = MAIL_KINDS.get(str(kind))
        if declared is None:
            raise ValueError(
                f"no mail template for {str(kind)!r}: not a mail kind of "
                "annual_report/campaign/kinds.py"
            )
        kind = declared.name
        values: dict[str, Any] = {"contact": None, "today": date.today(), **self.defaults}
        values.update(context)
        _normalise(values)
        if "tag" not in values and "campaign" in values:
            code = _field(values.get("department"), "code")
            values["tag"] = subject_tag(str(values["campaign"]), code)
        try:
            text_template = self.env.get_template(declared.template)
        except jinja2.TemplateNotFound:
            raise ValueError(f"no mail template for {kind!r}") from None
        subject_block = text_template.blocks.get("subject")
        if subject_block is None:
            raise ValueError(f"{declared.template} has no subject block")
        subject = "".join(subject_block(text_template.new_context(values)))
        subject = re.sub(r"\s+", " ", subject).strip()
        text = _tidy(text_template.render(values))
        html_name = self._html(declared)
        html = None
        if html_name is not None:
            html = self.env.get_template(html_name).render(values).strip() + "\n"
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
