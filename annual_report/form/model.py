"""Report forms as data.

A form (``definitions/*.yaml``) lists every cell of the national format with its canonical code, its
exact Chinese labels and its type, and declares the consistency rules over those codes. The
template writer, the reader, the validator and the merger are all driven by a :class:`Form`;
a new year's format is a new YAML file, not new code.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from annual_report.errors import FormError
from annual_report.form.rules import ForEach, RuleDef, parse_rules

__all__ = [
    "Alias",
    "Block",
    "Cell",
    "CellType",
    "Form",
    "Header",
    "Section",
    "common_prefix",
    "form_for_year",
    "form_ids",
    "forms",
    "load_form",
    "parse_form",
]

CellType = Literal["count", "signed", "money"]
CELL_TYPES: tuple[str, ...] = ("count", "signed", "money")

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Alias:
    """Another label seen in real files for the same header; ``warn`` when the meaning differs."""

    label: str
    warn: str | None = None


@dataclass(frozen=True)
class Header:
    """A row or a column of a block: its code part and its label path (outside in)."""

    code: str
    path: tuple[str, ...]
    aliases: tuple[Alias, ...] = ()
    type: CellType | None = None

    @property
    def label(self) -> str:
        return self.path[-1] if self.path else ""


@dataclass(frozen=True)
class Cell:
    """One input cell of the form."""

    code: str
    section: int
    block: int
    row: Header
    column: Header
    type: CellType
    unit: str | None
    row_label: str
    column_label: str

    @property
    def label(self) -> str:
        """How a clerk names the cell, e.g. ``“规章”行“本年制发件数”列``."""
        if self.row_label and self.column_label:
            return f"“{self.row_label}”行“{self.column_label}”列"
        return f"“{self.row_label or self.column_label}”"


@dataclass(frozen=True)
class Block:
    """A rectangular table: an optional caption row, column headers, row headers, cells."""

    section: int
    index: int
    caption: str | None
    corner: str | None
    type: CellType
    unit: str | None
    columns: tuple[Header, ...]
    rows: tuple[Header, ...]
    cells: tuple[Cell, ...]

    @property
    def header_depth(self) -> int:
        return max((len(c.path) for c in self.columns), default=1)

    @property
    def row_depth(self) -> int:
        return max((len(r.path) for r in self.rows), default=0)

    def cell_at(self, row: int, column: int) -> Cell:
        return self.cells[row * len(self.columns) + column]


@dataclass(frozen=True)
class Section:
    number: int
    heading: str
    aliases: tuple[str, ...] = ()
    sheet: str | None = None
    narrative: str | None = None
    parts: tuple[str, ...] = ()
    blocks: tuple[Block, ...] = ()

    @property
    def headings(self) -> tuple[str, ...]:
        return (self.heading, *self.aliases)


@dataclass(frozen=True)
class Form:
    id: str
    name: str
    notice: str
    first_year: int
    last_year: int | None
    sections: tuple[Section, ...]
    sets: dict[str, tuple[str, ...]]
    rules: tuple[RuleDef, ...]
    cells: dict[str, Cell]

    def covers(self, year: int) -> bool:
        return self.first_year <= year and (self.last_year is None or year <= self.last_year)

    def cell(self, code: str) -> Cell:
        try:
            return self.cells[code]
        except KeyError:
            raise FormError(f"form {self.id} has no cell {code!r}") from None

    def section(self, number: int) -> Section:
        for section in self.sections:
            if section.number == number:
                return section
        raise FormError(f"form {self.id} has no section {number}")

    @property
    def blocks(self) -> tuple[Block, ...]:
        return tuple(b for s in self.sections for b in s.blocks)

    @property
    def narrative_codes(self) -> tuple[str, ...]:
        return tuple(s.narrative for s in self.sections if s.narrative)

    def codes_of(self, check: str) -> tuple[str, ...]:
        """Every cell the rules running ``check`` name (e.g. C7's fee cells), in order."""
        codes: dict[str, None] = {}
        for rule in self.rules:
            if rule.check != check:
                continue
            for binding in self.bindings(rule):
                for templates in rule.params.code_templates().values():
                    codes.update(dict.fromkeys(self.expand_all(templates, binding)))
        return tuple(codes)

    def rule(self, rule_id: str) -> RuleDef:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise FormError(f"form {self.id} has no rule {rule_id}")

    # -- rule expansion -------------------------------------------------------------------
    def bindings(self, rule: RuleDef) -> list[dict[str, str]]:
        """Every assignment of the rule's ``for_each`` variables (one when there are none)."""
        for_each = rule.params.for_each if isinstance(rule.params, ForEach) else {}
        names = list(for_each)
        values = [self.sets[for_each[n]] for n in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]

    def expand(self, template: str, binding: dict[str, str]) -> list[str]:
        """Codes named by ``template``: ``{var}`` takes the binding, ``{set}`` expands to all."""
        text = _PLACEHOLDER.sub(
            lambda m: binding[m.group(1)] if m.group(1) in binding else m.group(0), template
        )
        set_names = _PLACEHOLDER.findall(text)
        if not set_names:
            return [text]
        codes = []
        pieces = _PLACEHOLDER.split(text)  # literal, name, literal, name, ..., literal
        for combo in itertools.product(*(self.sets[n] for n in set_names)):
            filled = list(pieces)
            filled[1::2] = combo
            codes.append("".join(filled))
        return codes

    def expand_all(self, templates: Sequence[str] | str, binding: dict[str, str]) -> list[str]:
        if isinstance(templates, str):
            templates = [templates]
        return [code for t in templates for code in self.expand(t, binding)]


# -- loading ------------------------------------------------------------------------------


def _aliases(raw: list[Any] | None) -> tuple[Alias, ...]:
    out = []
    for item in raw or []:
        if isinstance(item, str):
            out.append(Alias(item))
        else:
            out.append(Alias(item["label"], item.get("warn")))
    return tuple(out)


def _header(raw: dict[str, Any]) -> Header:
    return Header(
        code=str(raw.get("code", "")),
        path=tuple(raw.get("path") or ()),
        aliases=_aliases(raw.get("aliases")),
        type=raw.get("type"),
    )


def common_prefix(paths: Sequence[tuple[str, ...]]) -> int:
    """How many leading path elements all the paths share (e.g. ``申请人情况``)."""
    n = 0
    for parts in zip(*paths, strict=False):
        if len(set(parts)) != 1:
            break
        n += 1
    return n


def _strip_common_prefix(paths: list[tuple[str, ...]]) -> int:
    return common_prefix(paths) if len(paths) > 1 else 0


def _block(section: int, index: int, raw: dict[str, Any]) -> Block:
    columns = tuple(_header(c) for c in raw["columns"])
    rows = tuple(_header(r) for r in raw["rows"])
    block_type = raw.get("type", "count")
    unit = raw.get("unit")
    col_skip = _strip_common_prefix([c.path for c in columns])
    cells = []
    for row in rows:
        for col in columns:
            code = ".".join(p for p in (row.code, col.code) if p)
            cell_type = col.type or row.type or block_type
            if cell_type not in CELL_TYPES:
                raise FormError(f"cell {code}: unknown type {cell_type!r}")
            cells.append(
                Cell(
                    code=code,
                    section=section,
                    block=index,
                    row=row,
                    column=col,
                    type=cell_type,
                    unit=unit if cell_type == "money" else None,
                    row_label=" ".join(row.path[-2:]) if len(row.path) > 2 else " ".join(row.path),
                    column_label=" ".join(col.path[col_skip:]) if len(columns) > 1 else "",
                )
            )
    return Block(
        section=section,
        index=index,
        caption=raw.get("caption"),
        corner=raw.get("corner"),
        type=block_type,
        unit=unit,
        columns=columns,
        rows=rows,
        cells=tuple(cells),
    )


def parse_form(data: dict[str, Any]) -> Form:
    """Build a :class:`Form` from its YAML mapping, checking every code the rules name."""
    sections = []
    cells: dict[str, Cell] = {}
    for raw in data["sections"]:
        number = int(raw["number"])
        blocks = tuple(_block(number, i, b) for i, b in enumerate(raw.get("blocks") or ()))
        for block in blocks:
            for cell in block.cells:
                if cell.code in cells:
                    raise FormError(f"form {data['id']}: duplicate cell code {cell.code}")
                cells[cell.code] = cell
        sections.append(
            Section(
                number=number,
                heading=raw["heading"],
                aliases=tuple(raw.get("aliases") or ()),
                sheet=raw.get("sheet"),
                narrative=raw.get("narrative"),
                parts=tuple(raw.get("parts") or ()),
                blocks=blocks,
            )
        )
    sets = {name: tuple(values) for name, values in (data.get("sets") or {}).items()}
    rules = parse_rules(data.get("rules"), str(data["id"]))
    form = Form(
        id=data["id"],
        name=data["name"],
        notice=data["notice"],
        first_year=int(data["first_year"]),
        last_year=data.get("last_year"),
        sections=tuple(sections),
        sets=sets,
        rules=rules,
        cells=cells,
    )
    _check_rules(form)
    return form


def _check_rules(form: Form) -> None:
    """Every set a ``for_each`` names and every cell a rule's templates expand to exist."""
    problems = []
    for rule in form.rules:
        for_each = rule.params.for_each if isinstance(rule.params, ForEach) else {}
        unknown = {var: name for var, name in for_each.items() if name not in form.sets}
        for var, set_name in unknown.items():
            problems.append(f"{rule.id}: for_each {var} names unknown set {set_name!r}")
        if unknown:
            continue
        for binding in form.bindings(rule):
            for key, templates in rule.params.code_templates().items():
                for code in form.expand_all(templates, binding):
                    if code not in form.cells:
                        problems.append(f"{rule.id}.{key}: unknown cell {code}")
    if problems:
        raise FormError(f"form {form.id} is invalid: " + "; ".join(sorted(set(problems))))


@cache
def load_form(form_id: str) -> Form:
    """The packaged form ``form_id`` (e.g. ``gov-disclosure-2021``)."""
    path = resources.files(__package__).joinpath("definitions", f"{form_id}.yaml")
    if not path.is_file():
        raise FormError(f"no form definition {form_id!r}", known=", ".join(form_ids()))
    return parse_form(yaml.safe_load(path.read_text(encoding="utf-8")))


def form_ids() -> list[str]:
    folder = resources.files(__package__).joinpath("definitions")
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def forms() -> list[Form]:
    return [load_form(i) for i in form_ids()]


def form_for_year(year: int) -> Form:
    """The form a report for ``year`` must use (2019 format for 2019–2020, 2021 format after)."""
    matches = [f for f in forms() if f.covers(year)]
    if len(matches) != 1:
        raise FormError(f"no single form for report year {year}", matches=len(matches))
    return matches[0]
