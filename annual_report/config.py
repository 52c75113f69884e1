"""Reading an office's configuration: a YAML file into a typed model, every problem gathered.

Each YAML file of ``config/`` (``departments.yaml``, ``campaign.yaml``, ``mail.yaml``) is read
with :func:`read_yaml` and validated into its pydantic model with :func:`validated` /
:func:`parse_model`; each problem becomes a :class:`~annual_report.errors.ConfigProblem` naming
the file, the entry and the field, with a Chinese message for the coordinator
(``departments.yaml 第3项（RSJ）email：不是有效的邮件地址（rsj@@city）``) beside a stable code
(pydantic's error type or ours) and the English detail. A loader raises one
:class:`~annual_report.errors.ConfigError` with every problem of its file (the mail texts'
problems come the same way, from ``connectors.mailtext``); ``office.settings.load_app_config``
gathers every file's.

The field types the files share are here too: one e-mail address check, one phone number check,
one :class:`Contact`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from annual_report.errors import ConfigError, ConfigProblem

__all__ = [
    "EMAIL_RE",
    "PHONE_RE",
    "ConfigError",
    "ConfigModel",
    "ConfigProblem",
    "Contact",
    "EmailAddress",
    "FieldProblems",
    "Invalid",
    "Phone",
    "cached_document",
    "check_email",
    "config_path",
    "entry_label",
    "parse_model",
    "problems_of",
    "raise_problems",
    "read_yaml",
    "validated",
]

M = TypeVar("M", bound=BaseModel)


class ConfigModel(BaseModel):
    """A part of a configuration file: an unknown key is an error (a typo never falls back to a
    default), and the loaded value does not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- shared field types ----------------------------------------------------------------------

# Deliberately plain: government addresses are ASCII; this catches typos, not every RFC corner.
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
)
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-－—]{4,24}(转[0-9]{1,6})?$")


class Invalid(ValueError):
    """Raised by a field validator: the Chinese message for the coordinator and a stable
    ``code`` for logs and tests (pydantic would call every such error ``value_error``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_email(value: str) -> str:
    """``value`` stripped, or :class:`Invalid` when it is not an e-mail address."""
    value = value.strip()
    if not EMAIL_RE.match(value):
        raise Invalid("email", f"不是有效的邮件地址（{value}）")
    return value


def _phone(value: Any) -> Any:
    if value is None:
        return None
    text = str(value).strip()  # YAML reads an unquoted 13800138000 as a number
    if not PHONE_RE.match(text):
        raise Invalid("phone", f"不是电话号码（{text}）")
    return text


EmailAddress = Annotated[str, AfterValidator(check_email)]
Phone = Annotated[str, BeforeValidator(_phone)]


class Contact(ConfigModel):
    """Whom to call: a department's clerk (``departments.yaml``), or the office's contact printed
    in every mail (``mail.yaml``)."""

    name: str = Field(min_length=1)
    phone: Phone | None = None
    email: EmailAddress | None = None


class FieldProblems(ValueError):
    """Raised by a model validator that finds several problems at once, each on its own field
    (``[("deadline", "早于开始日期 start")]``): each becomes its own :class:`ConfigProblem`."""

    def __init__(self, problems: Sequence[tuple[str, str]], code: str = "inconsistent") -> None:
        super().__init__("；".join(f"{field}：{message}" for field, message in problems))
        self.items = list(problems)
        self.code = code


# -- pydantic's errors in Chinese -------------------------------------------------------------


def _expected(ctx: Mapping[str, Any]) -> str:
    return re.sub(r", | or ", "、", str(ctx.get("expected", "")))


def _length(ctx: Mapping[str, Any], one: str, many: str) -> str:
    n = ctx.get("min_length", 1)
    return one if n == 1 else many.format(n=n)


_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda c: "缺少此项（必填）",
    "extra_forbidden": lambda c: "未知的键（是否写错了键名？）",
    "string_type": lambda c: "应为文本",
    "string_too_short": lambda c: _length(c, "不能为空", "至少{n}个字"),
    "string_too_long": lambda c: f"最多{c.get('max_length')}个字",
    "string_pattern_mismatch": lambda c: f"格式不符（应符合 {c.get('pattern')}）",
    "int_type": lambda c: "应为整数",
    "int_parsing": lambda c: "应为整数",
    "int_from_float": lambda c: "应为整数",
    "float_type": lambda c: "应为数字",
    "float_parsing": lambda c: "应为数字",
    "bool_type": lambda c: "应为 true 或 false",
    "bool_parsing": lambda c: "应为 true 或 false",
    "greater_than": lambda c: f"应大于{c.get('gt')}",
    "greater_than_equal": lambda c: f"不能小于{c.get('ge')}",
    "less_than": lambda c: f"应小于{c.get('lt')}",
    "less_than_equal": lambda c: f"不能大于{c.get('le')}",
    "literal_error": lambda c: f"应为以下之一：{_expected(c)}",
    "enum": lambda c: f"应为以下之一：{_expected(c)}",
    "date_type": lambda c: "不是有效的日期（应写作 2022-01-04）",
    "date_parsing": lambda c: "不是有效的日期（应写作 2022-01-04）",
    "date_from_datetime_parsing": lambda c: "不是有效的日期（应写作 2022-01-04）",
    "date_from_datetime_inexact": lambda c: "应为日期，不带时刻（如 2022-01-04）",
    "time_type": lambda c: "不是有效的时刻（应写作 09:00）",
    "time_parsing": lambda c: "不是有效的时刻（应写作 09:00）",
    "datetime_type": lambda c: "不是有效的日期和时刻（应写作 2022-01-04T09:00）",
    "datetime_parsing": lambda c: "不是有效的日期和时刻（应写作 2022-01-04T09:00）",
    "list_type": lambda c: "应为列表",
    "tuple_type": lambda c: "应为列表",
    "set_type": lambda c: "应为列表",
    "too_short": lambda c: _length(c, "至少要有1项", "至少要有{n}项"),
    "too_long": lambda c: f"最多{c.get('max_length')}项",
    "dict_type": lambda c: "应为映射（键: 值）",
    "model_type": lambda c: "应为映射（键: 值）",
    "model_attributes_type": lambda c: "应为映射（键: 值）",
    "path_type": lambda c: "应为路径",
}


def entry_label(index: int, code: str | None = None) -> str:
    """A list item as a coordinator counts it: ``第3项（RSJ）`` for ``departments[2]``."""
    return f"第{index + 1}项（{code}）" if code else f"第{index + 1}项"


def _path(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def problems_of(
    exc: ValidationError, *, file: str | None, entry: str | None = None
) -> list[ConfigProblem]:
    """pydantic's errors as problems of ``file`` (and ``entry``), each with its field path."""
    found = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        kind = str(error.get("type", "invalid"))
        detail = str(error.get("msg", "")).removeprefix("Value error, ")
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblems):
            for field, message in cause.items:
                where = _path((*loc, field))
                found.append(ConfigProblem(file, message, where, entry, cause.code, message))
            continue
        if kind in ("value_error", "assertion_error"):
            message = str(cause) if cause is not None else detail
            kind = getattr(cause, "code", kind)
        else:
            translate = _MESSAGES.get(kind)
            message = translate(error.get("ctx") or {}) if translate else f"无效（{detail}）"
        found.append(ConfigProblem(file, message, _path(loc) or None, entry, kind, detail))
    return found


def validated(
    model: type[M], data: Any, *, file: str | None, entry: str | None = None
) -> tuple[M | None, list[ConfigProblem]]:
    """``data`` as ``model``, or None and every problem found."""
    if data is None and entry is None:
        return None, [ConfigProblem(file, "文件是空的", code="empty", detail="the file is empty")]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, problems_of(exc, file=file, entry=entry)


def raise_problems(
    problems: Sequence[ConfigProblem],
    *,
    source: str | Path | None = None,
    what: str | None = None,
) -> None:
    """One ConfigError with every problem, if there is any; ``what`` names what has them
    (default: the files they name)."""
    if problems:
        files = list(dict.fromkeys(p.file for p in problems if p.file))
        what = what or (", ".join(files) if files else "the configuration")
        only = problems[0].detail if len(problems) == 1 else None
        raise ConfigError(
            f"{what}: {only or f'{len(problems)} problem(s)'}",
            list(problems),
            file=None if source is None else str(source),
        )


def parse_model(model: type[M], data: Any, *, file: str, source: str | Path | None = None) -> M:
    """``data`` (a YAML document) as ``model``; a ConfigError with every problem otherwise."""
    value, problems = validated(model, data, file=file)
    raise_problems(problems, source=source)
    assert value is not None
    return value


# -- files -----------------------------------------------------------------------------------


def config_path(path: str | Path, name: str) -> Path:
    """The file ``name`` when ``path`` is the configuration directory, else ``path`` itself."""
    path = Path(path)
    return path / name if path.is_dir() else path


def _fail(path: Path, file: str, message: str, code: str, detail: str) -> NoReturn:
    raise_problems([ConfigProblem(file, message, code=code, detail=detail)], source=path)
    raise AssertionError("unreachable")


# yaml.safe_load with libyaml's parser when PyYAML has it (10× the pure-Python one)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(
    path: str | Path, *, file: str | None = None, cache_dir: str | Path | None = None
) -> Any:
    """The YAML document in ``path`` (``None`` for an empty file); a ConfigError naming the file
    (as ``file``, default its name) when it is missing, unreadable or not YAML.

    ``cache_dir``: keep the parsed document there as JSON, keyed by the text's content hash
    (:func:`cached_document`): a 5,000-unit registry is parsed in 0.4 s, read back in 10 ms.
    Only the parsing is cached; the caller still validates what it gets."""
    path = Path(path)
    file = file or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        _fail(path, file, "找不到此文件", "not-found", "not found")
    except UnicodeDecodeError:
        _fail(path, file, "不是 UTF-8 编码的文本（请另存为 UTF-8）", "encoding", "not UTF-8")
    except OSError as exc:
        _fail(path, file, f"无法读取（{exc.strerror}）", "unreadable", f"unreadable: {exc}")
    if cache_dir is not None:
        return cached_document(text, Path(cache_dir) / f"{path.name}.json", path, file)
    return _parse_yaml(text, path, file)


def _parse_yaml(text: str, path: Path, file: str) -> Any:
    try:
        return yaml.load(text, Loader=_LOADER)  # libyaml: a 5,000-unit registry in 0.4 s
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"第{mark.line + 1}行" if mark is not None else ""
        at = f" at line {mark.line + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        _fail(
            path,
            file,
            f"{line}不是有效的 YAML（{reason}；请检查缩进、冒号和括号）",
            "yaml",
            f"not valid YAML{at}: {reason}",
        )


def _document_key(text: str) -> str:
    """What a cached document stands for: the text and the parser that read it."""
    parser = f"{yaml.__version__}:{_LOADER.__name__}"
    return hashlib.sha256(f"{parser}\n{text}".encode()).hexdigest()


def cached_document(text: str, cache: Path, path: Path, file: str) -> Any:
    """The YAML document of ``text``, from ``cache`` (a JSON file) when it holds the document
    of exactly this text, else parsed and, when JSON keeps it exactly (no dates, no non-text
    keys), written there for the next run.

    JSON, not pickle: reading the cache runs no code, and what it holds is what the file says
    (the configuration files hold no secrets: passwords come from the environment or Prefect
    blocks). A cache that cannot be read or written is ignored: the file is parsed."""
    key = _document_key(text)
    try:
        with cache.open(encoding="utf-8") as f:
            held = json.load(f)
        if isinstance(held, dict) and held.get("key") == key and "document" in held:
            return held["document"]
    except (OSError, ValueError):
        pass
    document = _parse_yaml(text, path, file)
    try:
        encoded = json.dumps({"key": key, "document": document}, ensure_ascii=False)
    except (TypeError, ValueError):
        return document  # dates and the like: JSON would not give them back
    if json.loads(encoded)["document"] != document:
        return document  # e.g. numbers as keys: not cached
    try:
        cache.parent.mkdir(exist_ok=True)  # inside the data directory, not creating it
        fd, partial = tempfile.mkstemp(prefix=f".{cache.name}.", dir=cache.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(encoded)
            os.replace(partial, cache)  # readers see the old cache or the new one, whole
        finally:
            Path(partial).unlink(missing_ok=True)
    except OSError:
        pass
    return document
