"""The rules a form declares: which check each one runs, on which cells, with which parameters.

A rule in a form's YAML names a check and gives that check's parameters beside its own keys::

    - id: C9
      check: history_jump
      severity: warning
      title: 与本单位往年数据相比变化幅度异常
      factor: 5
      min_change: 30
      codes: [requests.new_received.total, ...]

Each check's parameters are a typed, frozen dataclass below (:data:`CHECK_PARAMS`): an unknown key,
a missing one or a wrong type is a :class:`~annual_report.errors.FormError` naming the form, the
rule and the key when the form loads, never a silent default when the rule runs. The checks
themselves are code (:mod:`annual_report.validation`); the form package knows their parameters
because the template writer and the merger read them too (``sum_equal``'s sides, C3's 规章 cells).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from annual_report.config import problems_of
from annual_report.errors import FormError

Severity = Literal["error", "warning"]
RULE_KEYS = ("id", "check", "severity", "title")  # a rule's own keys; the rest are parameters

_CONFIG = ConfigDict(extra="forbid")
_CODES = object()  # marks the fields that hold code templates (checked against the form's cells)


def _number(value: Any) -> Decimal:
    """YAML numbers only: ``5`` or ``0.5``, not ``"5"`` (a quoted number is a typo to show)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    return Decimal(str(value))


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


Number = Annotated[Decimal, BeforeValidator(_number)]
Count = Annotated[int, Field(strict=True, ge=0)]
# ``proactive.{kind}.issued``: ``{var}`` takes a ``for_each`` binding, ``{set}`` expands to all
CodeTemplate = Annotated[str, Field(min_length=1), _CODES]
CodeTemplates = Annotated[
    tuple[str, ...], BeforeValidator(_one_or_many), Field(min_length=1), _CODES
]


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class CheckParams:
    """Base of every check's parameters (none)."""

    def code_templates(self) -> dict[str, tuple[str, ...]]:
        """The parameters that name cells, each as a tuple of templates (``left``, ``codes`` …)."""
        out = {}
        for name, info in type(self).__pydantic_fields__.items():  # type: ignore[attr-defined]
            if _CODES in info.metadata:
                value = getattr(self, name)
                out[name] = (value,) if isinstance(value, str) else tuple(value)
        return out


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class NoParams(CheckParams):
    """A check that looks at the whole report (R5, R6, C5, N1, N2, A1)."""


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class ForEach(CheckParams):
    """A rule applied once per assignment of its ``for_each`` variables (variable → set name)."""

    for_each: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class Sides(ForEach):
    """``sum(left)`` against ``sum(right)`` (``sum_equal``: R1–R4; ``at_most``: C4)."""

    left: CodeTemplates
    right: CodeTemplates


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class EqualsPrevious(ForEach):
    """This year's ``current`` cell against last year's ``previous`` cell (C1)."""

    current: CodeTemplate
    previous: CodeTemplate


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class StockFlow(EqualsPrevious):
    """``current`` = last year's ``previous`` + ``plus`` − ``minus`` (C2)."""

    plus: CodeTemplates
    minus: CodeTemplates


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class CellList(CheckParams):
    """A check over a list of cells (C3: the 规章 cells; C6: 逾期未缴费)."""

    codes: CodeTemplates


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class FeeMagnitude(CellList):
    """C7: a fee in 万元 that looks typed in 元."""

    jump: Number = Decimal(10000)  # × last year's fee
    peer_factor: Number = Decimal(100)  # × the peers' median (without last year's)
    min_peers: Count = 5  # peers needed for a median
    department_ceiling: Number = Decimal(100000)  # 万元, for a department


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class HistoryJump(CellList):
    """C9: a figure ``factor`` times beyond the unit's history, by at least ``min_change``."""

    factor: Number = Decimal(5)
    min_change: Number = Decimal(30)


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class NarrativePresent(CheckParams):
    """C8: a narrative section shorter than ``min_chars`` (whitespace aside) is too short."""

    min_chars: Count = 20


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class TextLength(CheckParams):
    """T1: a narrative section longer than ``max_chars`` (one Excel cell holds 32,767)."""

    max_chars: Count = 32767


# Every check a form may name, with its parameters. A new check is a line here, its parameters
# above, and its code in annual_report.validation (a test keeps the two lists equal).
CHECK_PARAMS: Mapping[str, type[CheckParams]] = {
    "sum_equal": Sides,
    "at_most": Sides,
    "cell_types": NoParams,
    "form_matches_year": NoParams,
    "equals_previous": EqualsPrevious,
    "stock_flow": StockFlow,
    "rule_making_organ": CellList,
    "fee_statement": CellList,
    "fee_magnitude": FeeMagnitude,
    "history_jump": HistoryJump,
    "narrative_numbers": NoParams,
    "narrative_present": NarrativePresent,
    "text_length": TextLength,
    "blank_as_zero": NoParams,
    "text_as_number": NoParams,
    "label_alias": NoParams,
}

P = TypeVar("P", bound=CheckParams)


@dataclasses.dataclass(frozen=True)
class RuleDef:
    """A consistency rule: a check (code: :mod:`annual_report.validation`) bound to cells."""

    id: str
    check: str
    severity: Severity
    title: str
    params: CheckParams = dataclasses.field(default_factory=NoParams)

    def params_as(self, kind: type[P]) -> P:
        """The parameters as ``kind`` (e.g. :class:`Sides` for a ``sum_equal`` rule)."""
        if not isinstance(self.params, kind):
            raise FormError(
                f"rule {self.id} ({self.check}) has no {kind.__name__} parameters",
                params=type(self.params).__name__,
            )
        return self.params


_SEVERITY: TypeAdapter[Severity] = TypeAdapter(Severity)


def parse_rules(raw_rules: Any, form_id: str) -> tuple[RuleDef, ...]:
    """A form's ``rules:``; every problem of every rule in one :class:`FormError`, each naming
    the form, the rule and the key (``form x: rule C9 (history_jump): 'factr' is not …``)."""
    rules, problems = [], []
    for index, raw in enumerate(raw_rules or ()):
        rule, rule_problems = _parse_rule(raw)
        if rule_problems:
            name = raw.get("id") if isinstance(raw, dict) else None
            where = f"rule {name or f'#{index + 1}'}"
            if isinstance(raw, dict) and isinstance(raw.get("check"), str):
                where += f" ({raw['check']})"
            problems += [f"{where}: {p}" for p in rule_problems]
        elif rule is not None:
            rules.append(rule)
    if problems:
        raise FormError(f"form {form_id}: " + "; ".join(problems))
    return tuple(rules)


def _parse_rule(raw: Any) -> tuple[RuleDef | None, list[str]]:
    if not isinstance(raw, dict):
        return None, [f"a rule is a mapping, not {type(raw).__name__}"]
    problems = [f"'{key}' is missing" for key in RULE_KEYS if key not in raw]
    problems += [
        f"'{key}' must be text" for key in RULE_KEYS if key in raw and not isinstance(raw[key], str)
    ]
    if problems:
        return None, problems
    check = raw["check"]
    if check not in CHECK_PARAMS:
        return None, [f"unknown check '{check}' (known: {', '.join(sorted(CHECK_PARAMS))})"]
    severity: Severity = "error"
    try:
        severity = _SEVERITY.validate_python(raw["severity"])
    except ValidationError:
        problems.append(f"'severity' is {raw['severity']!r}, not error or warning")
    kind = CHECK_PARAMS[check]
    params: CheckParams = NoParams()
    given = {k: v for k, v in raw.items() if k not in RULE_KEYS}
    try:
        params = TypeAdapter(kind).validate_python(given)
    except ValidationError as exc:
        problems += _param_problems(exc, check, kind, given)
    if problems:
        return None, problems
    return RuleDef(raw["id"], check, severity, raw["title"], params), []


def _param_problems(
    exc: ValidationError, check: str, kind: type[CheckParams], given: Mapping[str, Any]
) -> list[str]:
    """pydantic's errors, read by the one formatter (:func:`annual_report.config.problems_of`),
    as lines naming the key: ``'factr' is not a parameter of …``."""
    out = []
    for problem in problems_of(exc, file=None):
        key = problem.field or "?"
        got = given.get(re.split(r"[.\[]", key)[0])
        if problem.code == "unexpected_keyword_argument":
            allowed = ", ".join(f.name for f in dataclasses.fields(kind)) or "none"
            out.append(f"'{key}' is not a parameter of {check} (its parameters: {allowed})")
        elif problem.code == "missing":
            out.append(f"'{key}' is missing")
        elif problem.code == "tuple_type":
            out.append(f"'{key}': should be a list of cell codes (got {got!r})")
        else:
            out.append(f"'{key}': {problem.detail} (got {got!r})")
    return out
