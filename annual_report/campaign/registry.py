"""The department registry: who reports to the city office, how to reach them, who covers whom.

``config/departments.yaml`` lists every reporting unit: departments, townships / streets, counties
(whose consolidated report already includes some of the units listed: ``covers``) and the city
government's own office. It is validated once, at load time, and every problem is reported
together in one :class:`~annual_report.errors.ConfigError`, each naming the entry (index and code)
and the field.

Offices chain (county → city → province): a unit with ``level`` is an office one level down whose
submission is its own approved consolidated report, carrying its unit breakdown; the file's
``office`` says who this office is to its superior (its code there and its level), written into
its approved workbook so that the workbook identifies itself one level up.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from annual_report.config import (
    EMAIL_RE,
    PHONE_RE,
    ConfigModel,
    ConfigProblem,
    Contact,
    EmailAddress,
    FieldProblems,
    Invalid,
    config_path,
    entry_label,
    raise_problems,
    read_yaml,
    validated,
)

__all__ = [
    "EMAIL_RE",
    "KINDS",
    "KIND_LABELS",
    "LEVELS",
    "LEVEL_LABELS",
    "PHONE_RE",
    "REGISTRY_FILE",
    "Contact",
    "Department",
    "Kind",
    "Level",
    "Office",
    "Registry",
    "cross_problems",
    "kind_problems",
    "load_registry",
    "parse_registry",
]

Kind = Literal["department", "township", "county", "city", "government"]
KINDS: tuple[str, ...] = ("department", "township", "county", "city", "government")
KIND_LABELS = {
    "department": "部门",
    "township": "乡镇（街道）",
    "county": "县（市、区）",
    "city": "设区的市",
    "government": "本级政府",
}

# The levels of offices that consolidate (the province is only ever the top).
Level = Literal["county", "city", "province"]
LEVELS: tuple[str, ...] = ("county", "city", "province")
LEVEL_LABELS = {"county": "县级", "city": "市级", "province": "省级"}

REGISTRY_FILE = "departments.yaml"

# Short ASCII: used in mail subject tags ("[年报-RSJ]") and file names.
CODE_RE = re.compile(r"^[A-Z][A-Z0-9_-]{1,15}$")


class Department(ConfigModel):
    """One reporting unit of the registry."""

    code: str
    name: str = Field(min_length=1)
    kind: Kind
    email: EmailAddress
    contact: Contact | None = None
    leader_email: EmailAddress | None = None
    covers: tuple[str, ...] = ()  # units a county's consolidated report already includes
    # an office one level down: its submission is its approved consolidated report, with the
    # breakdown of its units (county / city; equal to its kind)
    level: Literal["county", "city"] | None = None
    can_make_rules: bool = False  # 省级 / 设区的市 government: may report 规章 (C3)
    reports_for_government: bool = False  # the unit whose report is the government's own

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise Invalid("code", "应为文本")
        code = value.strip().upper()
        if not CODE_RE.match(code):
            raise Invalid(
                "code", f"{value!r} 不是简短的英文代码（2–16个字母、数字、“-”或“_”，以字母开头）"
            )
        return code

    @field_validator("covers", mode="before")
    @classmethod
    def _covers(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise Invalid("covers", "应为单位代码的列表")
        return tuple(str(v).strip().upper() for v in value)

    @model_validator(mode="after")
    def _kind_fields(self) -> Department:
        problems = kind_problems(self)
        if problems:
            raise FieldProblems(problems, "kind-field")
        return self

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def is_office(self) -> bool:
        """Whether the unit is an office one level down (its report carries its units)."""
        return self.level is not None


def kind_problems(dept: Department) -> list[tuple[str, str]]:
    """``(field, message)`` for fields that do not fit the unit's kind."""
    problems = []
    label = KIND_LABELS[dept.kind]
    if dept.covers and dept.kind not in ("county", "city"):
        problems.append(
            ("covers", f"只有县（市、区）的报告包含其他单位（或设区的市的），{label}不能填写此项")
        )
    if dept.level is not None and dept.level != dept.kind:
        problems.append(
            (
                "level",
                f"下一级办公室的级别应与其类别一致（类别为{label}，"
                f"级别为{LEVEL_LABELS[dept.level]}）",
            )
        )
    if dept.can_make_rules and dept.kind not in ("government", "city"):
        problems.append(
            ("can_make_rules", f"只有本级政府（省级、设区的市）制定规章，{label}不能填写此项")
        )
    if dept.reports_for_government and dept.kind != "government":
        problems.append(
            ("reports_for_government", f"只能是本级政府自己的单位，{label}不能填写此项")
        )
    return problems


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
    def label(self) -> str:
        return entry_label(self.index, self.code)


def _cross_problems(
    entries: Sequence[_Entry], file: str = REGISTRY_FILE
) -> list[tuple[int, ConfigProblem]]:
    """``(index, problem)`` between entries: duplicates, dangling or conflicting ``covers``."""
    problems: list[tuple[int, ConfigProblem]] = []

    def add(e: _Entry, field: str | None, message: str, code: str) -> None:
        problems.append((e.index, ConfigProblem(file, message, field, e.label, code)))

    first_code: dict[str, _Entry] = {}
    first_email: dict[str, _Entry] = {}
    for e in entries:
        if e.code and e.code in first_code:
            add(e, "code", f"与{first_code[e.code].label}重复", "duplicate")
        elif e.code:
            first_code[e.code] = e
        email = e.email.lower() if e.email else None
        if email and email in first_email:
            add(e, "email", f"{email} 也是{first_email[email].label}的地址", "duplicate")
        elif email:
            first_email[email] = e
    covered_by: dict[str, list[str]] = defaultdict(list)
    for e in entries:
        for covered in e.covers:
            target = first_code.get(covered)
            if covered == e.code:
                add(e, "covers", "不能包含本单位自己", "covers-itself")
            elif target is None:
                add(e, "covers", f"名录中没有代码为 {covered} 的单位", "unknown-code")
            elif target.kind in ("government", "city") or (
                target.kind == "county" and e.kind != "city"
            ):
                add(
                    e,
                    "covers",
                    f"{covered} 是{KIND_LABELS[target.kind]}，县的报告只包含部门和乡镇（街道）"
                    "（设区的市的报告还可包含县）",
                    "covers-kind",
                )
            elif e.code not in covered_by[covered]:
                covered_by[covered].append(e.code or entry_label(e.index))
    for covered, counties in covered_by.items():
        if len(counties) > 1:
            add(
                first_code[covered],
                None,
                f"同时被多个县的报告包含（{'、'.join(counties)}）",
                "covered-twice",
            )
    government = [e for e in entries if e.reports_for_government]
    for e in government[1:]:
        add(
            e,
            "reports_for_government",
            f"{government[0].label}已经设置，只能有一个单位",
            "duplicate",
        )
    return problems


def cross_problems(departments: Sequence[Department]) -> list[str]:
    """Problems between valid entries (duplicates, ``covers``), in file order."""
    found = _cross_problems([_Entry.of(i, d) for i, d in enumerate(departments)])
    return [str(problem) for _, problem in sorted(found, key=lambda p: p[0])]


class Office(ConfigModel):
    """This office as its superior knows it: its code in the superior's registry and its level.
    Written on the ``_meta`` sheet of its approved workbook, so the workbook is recognised as
    this office's report one level up."""

    code: str
    level: Level
    name: str | None = None  # as the superior's registry names it (default: the place's 人民政府)
    # the template the superior sent this office (path, relative to config/): its token goes
    # into the approved workbook, which then identifies itself like a filled template
    template: str | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        return Department._code(value)


def _share_fields_sets(models: Iterable[BaseModel]) -> None:
    """Let models given the same fields share one set of their names: pydantic keeps a set per
    instance (~0.7 KB, most of what a unit of a 5,000-unit registry costs). Safe because the
    models are frozen: nothing adds to the set after validation."""
    shared: dict[frozenset[str], set[str]] = {}
    for model in models:
        assert model.model_config.get("frozen"), "only a frozen model's set never changes"
        fields = model.__pydantic_fields_set__
        one = shared.setdefault(frozenset(fields), fields)
        if one is not fields:
            object.__setattr__(model, "__pydantic_fields_set__", one)


class Registry(ConfigModel):
    """The city and its reporting units; lookups by code and by e-mail address."""

    city: str = Field(min_length=1)
    departments: tuple[Department, ...] = ()
    office: Office | None = None  # this office one level up (None: the top, or not chained)

    @model_validator(mode="after")
    def _consistent(self) -> Registry:
        problems = cross_problems(self.departments)
        if problems:
            raise ValueError("；".join(problems))
        return self

    _by_code: dict[str, Department] = PrivateAttr(default_factory=dict)
    _by_email: dict[str, Department] = PrivateAttr(default_factory=dict)
    _covered_by: dict[str, Department] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        _share_fields_sets([*self.departments, *(d.contact for d in self.departments if d.contact)])
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

    @property
    def offices(self) -> tuple[Department, ...]:
        """The units that are offices one level down (their reports carry their units)."""
        return tuple(d for d in self.departments if d.level is not None)

    def covered_by(self, code: str) -> Department | None:
        """The county whose consolidated report already includes unit ``code``."""
        return self._covered_by.get(code.strip().upper())

    @property
    def government(self) -> Department | None:
        """The unit reporting for the government itself (its 规章 are the city's)."""
        return next((d for d in self.departments if d.reports_for_government), None)


class _RegistryFile(ConfigModel):
    """The file's top level; its entries are validated one by one (each problem names its
    entry), and against each other."""

    model_config = ConfigDict(str_strip_whitespace=True)

    city: str = Field(min_length=1)
    departments: list[Any] = Field(min_length=1)
    office: Office | None = None


def parse_registry(data: Any, *, source: str | None = None) -> Registry:
    """Validate a registry mapping (the YAML document), reporting every problem at once."""
    file = Path(source).name if source else REGISTRY_FILE
    head, problems = validated(_RegistryFile, data, file=file)
    raw_entries = data.get("departments") if isinstance(data, dict) else None
    raw_entries = raw_entries if isinstance(raw_entries, list) else []
    found: list[tuple[int, ConfigProblem]] = []
    valid: list[Department] = []
    entries: list[_Entry] = []
    for i, raw in enumerate(raw_entries):
        if not isinstance(raw, dict):
            message = "应为映射（code、name、kind、email …）"
            found.append((i, ConfigProblem(file, message, None, entry_label(i), "model_type")))
            continue
        entries.append(_Entry.raw(i, raw))
        dept, wrong = validated(Department, raw, file=file, entry=entries[-1].label)
        found.extend((i, problem) for problem in wrong)
        if dept is not None:
            valid.append(dept)
    found.extend(_cross_problems(entries, file))
    problems.extend(problem for _, problem in sorted(found, key=lambda p: p[0]))
    raise_problems(problems, source=source)
    assert head is not None
    return Registry(city=head.city.strip(), departments=tuple(valid), office=head.office)


def load_registry(path: str | Path, *, cache_dir: str | Path | None = None) -> Registry:
    """Read and validate ``config/departments.yaml`` (``path`` is the file or its directory);
    ``cache_dir``: where its parsed document is kept between runs (validated every time)."""
    path = config_path(path, REGISTRY_FILE)
    return parse_registry(read_yaml(path, cache_dir=cache_dir), source=str(path))
