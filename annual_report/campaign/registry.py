"""The department registry: who reports to the city office, how to reach them, who covers whom.

``config/departments.yaml`` lists every reporting unit: departments, townships / streets, counties
(whose consolidated report already includes some of the units listed: ``covers``) and the city
government's own office. It is validated once, at load time, and every problem is reported
together in one :class:`~annual_report.errors.ConfigError`, each naming the entry (index and code)
and the field.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from annual_report.errors import ConfigError

Kind = Literal["department", "township", "county", "government"]
KINDS: tuple[str, ...] = ("department", "township", "county", "government")
KIND_LABELS = {
    "department": "部门",
    "township": "乡镇（街道）",
    "county": "县（市、区）",
    "government": "本级政府",
}

REGISTRY_FILE = "departments.yaml"

# Short ASCII: used in mail subject tags ("[年报-RSJ]") and file names.
CODE_RE = re.compile(r"^[A-Z][A-Z0-9_-]{1,15}$")
# Deliberately plain: government addresses are ASCII; this catches typos, not every RFC corner.
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
)
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-－—]{4,24}(转[0-9]{1,6})?$")


def _check_email(value: str) -> str:
    value = value.strip()
    if not EMAIL_RE.match(value):
        raise ValueError(f"{value!r} is not a valid e-mail address")
    return value


class Contact(BaseModel):
    """The clerk who fills in the report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    phone: str | None = None

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()  # YAML may read an unquoted number
        if not PHONE_RE.match(text):
            raise ValueError(f"{text!r} is not a phone number")
        return text


class Department(BaseModel):
    """One reporting unit of the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str = Field(min_length=1)
    kind: Kind
    email: str
    contact: Contact | None = None
    leader_email: str | None = None
    covers: tuple[str, ...] = ()  # units a county's consolidated report already includes
    can_make_rules: bool = False  # 省级 / 设区的市 government: may report 规章 (C3)
    reports_for_government: bool = False  # the unit whose report is the government's own

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        code = value.strip().upper()
        if not CODE_RE.match(code):
            raise ValueError(
                f"{value!r} is not a short ASCII code (2–16 letters, digits, '-' or '_', "
                "starting with a letter)"
            )
        return code

    @field_validator("covers", mode="before")
    @classmethod
    def _covers(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        return tuple(str(v).strip().upper() for v in value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _check_email(value)

    @field_validator("leader_email")
    @classmethod
    def _leader_email(cls, value: str | None) -> str | None:
        return None if value is None else _check_email(value)

    @model_validator(mode="after")
    def _kind_fields(self) -> Department:
        problems = kind_problems(self)
        if problems:
            raise ValueError("; ".join(f"{field}: {message}" for field, message in problems))
        return self

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


def kind_problems(dept: Department) -> list[tuple[str, str]]:
    """``(field, message)`` for fields that do not fit the unit's kind."""
    problems = []
    if dept.covers and dept.kind != "county":
        problems.append(("covers", f"only a county's report covers other units, not a {dept.kind}"))
    if dept.can_make_rules and dept.kind != "government":
        problems.append(
            ("can_make_rules", f"only a government (省级/设区的市) makes 规章, not a {dept.kind}")
        )
    if dept.reports_for_government and dept.kind != "government":
        problems.append(
            ("reports_for_government", f"only the government's own office, not a {dept.kind}")
        )
    return problems


def _where(index: int, code: str | None) -> str:
    return f"departments[{index}] ({code})" if code else f"departments[{index}]"


@dataclass(frozen=True)
class _Entry:
    """What the cross-entry checks need of an entry, read leniently even from an invalid one."""

    index: int
    code: str | None
    email: str | None
    kind: str | None
    covers: tuple[str, ...]
    reports_for_government: bool

    @classmethod
    def of(cls, index: int, dept: Department) -> _Entry:
        return cls(
            index, dept.code, dept.email, dept.kind, dept.covers, dept.reports_for_government
        )

    @classmethod
    def raw(cls, index: int, raw: dict[str, Any]) -> _Entry:
        def text(key: str) -> str | None:
            value = raw.get(key)
            return value.strip() if isinstance(value, str) and value.strip() else None

        code = text("code")
        covers = raw.get("covers") or ()
        covers = (covers,) if isinstance(covers, str) else covers
        covers = covers if isinstance(covers, list | tuple) else ()
        return cls(
            index,
            code.upper() if code else None,
            text("email"),
            text("kind"),
            tuple(str(c).strip().upper() for c in covers)
            if isinstance(covers, list | tuple)
            else (),
            raw.get("reports_for_government") is True,
        )

    @property
    def where(self) -> str:
        return _where(self.index, self.code)


def _cross_problems(entries: Sequence[_Entry]) -> list[tuple[int, str]]:
    """``(index, problem)`` between entries: duplicates, dangling or conflicting ``covers``."""
    problems: list[tuple[int, str]] = []
    first_code: dict[str, _Entry] = {}
    first_email: dict[str, _Entry] = {}
    for e in entries:
        if e.code and e.code in first_code:
            problems.append((e.index, f"{e.where}.code: duplicate of {first_code[e.code].where}"))
        elif e.code:
            first_code[e.code] = e
        email = e.email.lower() if e.email else None
        if email and email in first_email:
            problems.append(
                (
                    e.index,
                    f"{e.where}.email: {email} is also the address of {first_email[email].where}",
                )
            )
        elif email:
            first_email[email] = e
    covered_by: dict[str, list[str]] = defaultdict(list)
    for e in entries:
        for covered in e.covers:
            target = first_code.get(covered)
            if covered == e.code:
                problems.append((e.index, f"{e.where}.covers: a unit cannot cover itself"))
            elif target is None:
                problems.append((e.index, f"{e.where}.covers: unknown code {covered}"))
            elif target.kind in ("county", "government"):
                problems.append(
                    (
                        e.index,
                        f"{e.where}.covers: {covered} is a {target.kind}, "
                        "a county covers only departments and townships",
                    )
                )
            elif e.code not in covered_by[covered]:
                covered_by[covered].append(e.code or f"departments[{e.index}]")
    for covered, counties in covered_by.items():
        if len(counties) > 1:
            target = first_code[covered]
            problems.append(
                (
                    target.index,
                    f"{target.where}: covered by several counties ({', '.join(counties)})",
                )
            )
    government = [e for e in entries if e.reports_for_government]
    for e in government[1:]:
        problems.append(
            (e.index, f"{e.where}.reports_for_government: already set on {government[0].where}")
        )
    return problems


def cross_problems(departments: Sequence[Department]) -> list[str]:
    """Problems between valid entries (duplicates, ``covers``), in file order."""
    found = _cross_problems([_Entry.of(i, d) for i, d in enumerate(departments)])
    return [message for _, message in sorted(found, key=lambda p: p[0])]


class Registry(BaseModel):
    """The city and its reporting units; lookups by code and by e-mail address."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    city: str = Field(min_length=1)
    departments: tuple[Department, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Registry:
        problems = cross_problems(self.departments)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    _by_code: dict[str, Department] = PrivateAttr(default_factory=dict)
    _by_email: dict[str, Department] = PrivateAttr(default_factory=dict)
    _covered_by: dict[str, Department] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._by_code = {d.code: d for d in self.departments}
        self._by_email = {d.email.lower(): d for d in self.departments}
        self._covered_by = {c: d for d in self.departments for c in d.covers}

    def __iter__(self) -> Iterator[Department]:  # type: ignore[override]
        return iter(self.departments)

    def __len__(self) -> int:
        return len(self.departments)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code.strip().upper() in self._by_code

    def __getitem__(self, code: str) -> Department:
        dept = self.get(code)
        if dept is None:
            raise KeyError(code)
        return dept

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.departments)

    def get(self, code: str | None) -> Department | None:
        """The unit with ``code`` (case-insensitive), or ``None``."""
        if not code:
            return None
        return self._by_code.get(code.strip().upper())

    def by_email(self, address: str | None) -> Department | None:
        """The unit whose address this is (case-insensitive; ``"Name <addr>"`` accepted)."""
        if not address:
            return None
        _, addr = parseaddr(address)
        return self._by_email.get((addr or address).strip().lower())

    def covered_by(self, code: str) -> Department | None:
        """The county whose consolidated report already includes unit ``code``."""
        return self._covered_by.get(code.strip().upper())

    @property
    def government(self) -> Department | None:
        """The unit reporting for the government itself (its 规章 are the city's)."""
        return next((d for d in self.departments if d.reports_for_government), None)


def _format_error(where: str, error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if error.get("type") == "missing":
        message = "required"
    elif error.get("type") == "extra_forbidden":
        message = "unknown field"
    return f"{where}.{loc}: {message}" if loc else f"{where}: {message}"


def parse_registry(data: Any, *, source: str | None = None) -> Registry:
    """Validate a registry mapping (the YAML document), reporting every problem at once."""
    if not isinstance(data, dict):
        raise ConfigError("registry must be a mapping with 'city' and 'departments'", file=source)
    problems: list[str] = []
    for key in sorted(set(data) - {"city", "departments"}):
        problems.append(f"{key}: unknown field")
    city = data.get("city")
    if not isinstance(city, str) or not city.strip():
        problems.append("city: required (the city's name, e.g. 宜春市)")
    raw_entries = data.get("departments")
    if not isinstance(raw_entries, list) or not raw_entries:
        problems.append("departments: required, a non-empty list")
        raw_entries = []
    found: list[tuple[int, str]] = []
    valid: list[Department] = []
    entries: list[_Entry] = []
    for i, raw in enumerate(raw_entries):
        if not isinstance(raw, dict):
            found.append((i, f"{_where(i, None)}: must be a mapping"))
            continue
        entries.append(_Entry.raw(i, raw))
        where = entries[-1].where
        try:
            valid.append(Department.model_validate(raw))
        except ValidationError as exc:
            for error in exc.errors():
                if error.get("loc") == () and error.get("type") == "value_error":
                    # kind/field mismatches: one problem per field
                    for part in str(error["msg"]).removeprefix("Value error, ").split("; "):
                        found.append((i, f"{where}.{part}"))
                else:
                    found.append((i, _format_error(where, error)))
    found.extend(_cross_problems(entries))
    problems.extend(message for _, message in sorted(found, key=lambda p: p[0]))
    if problems:
        raise ConfigError(
            f"the department registry has {len(problems)} problem(s)", problems, file=source
        )
    return Registry(city=city.strip(), departments=tuple(valid))


def load_registry(path: str | Path) -> Registry:
    """Read and validate ``config/departments.yaml`` (``path`` is the file or its directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / REGISTRY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("department registry not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the department registry: {exc}", file=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"the department registry is not valid YAML{where}", file=str(path)
        ) from None
    return parse_registry(data, source=str(path))
