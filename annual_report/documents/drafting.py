"""Drafting the city report's narrative from the consolidated numbers, the way city reports read.

"全市共收到政府信息公开申请3525件，其中市政府349件、市各有关部门933件、沭阳县477件……" — every
number written is a :class:`Figure` that knows which table cells it sums and which units
contributed how much, so the provenance file can trace it. Labels come from the form (row and
column paths), so a new format changes the wording with it. What the numbers cannot say comes
from the units' own narratives (:mod:`annual_report.documents.narratives`: gathered, de-duplicated,
attributed); only what neither says (e.g. 工作考核、社会评议和责任追究结果 when no unit wrote of
it) is left as a marked placeholder for the coordinator.

Section 六 gathers the 信息处理费 the units report in their own section-6 text
(:func:`parse_fee_statement`: "收取信息处理费1200元", "共计3笔，金额450元", "未收取信息处理费").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Literal

from annual_report.consolidation import Consolidation, UnitOutcome
from annual_report.documents import narratives as nv
from annual_report.documents.layout import Span
from annual_report.form.model import Cell, Form
from annual_report.history import yoy
from annual_report.report import Report

# -- numbers ---------------------------------------------------------------------------------


def value_text(value: Decimal | None, cell_type: str = "count") -> str:
    """A value as printed: counts as integers, money exact (``72701.2578``), zero as ``0``."""
    if value is None:
        return ""
    if value == 0:
        return "0"
    if cell_type == "money":
        return format(value, "f")
    return format(value.quantize(Decimal(1)) if value == value.to_integral_value() else value, "f")


_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def written_text(raw: str | None, value: Decimal | None, cell_type: str) -> str:
    """A department's value as it wrote it when that is a plain number (``11.28``, ``0.50``),
    else the normalised value (``12件`` → ``12``, ``/`` → ``0``): never free text in a table."""
    if value is None:
        return ""
    text = (raw or "").strip()
    if _PLAIN_NUMBER.match(text):
        try:
            if Decimal(text) == value:
                return text.lstrip("+") if cell_type != "signed" else text
        except InvalidOperation:
            pass
    return value_text(value, cell_type)


_CN = "〇一二三四五六七八九十"


def chinese_count(n: int) -> str:
    """``6`` → ``六`` (1–99)."""
    if n <= 10:
        return _CN[n]
    tens, ones = divmod(n, 10)
    return (_CN[tens] if tens > 1 else "") + "十" + (_CN[ones] if ones else "")


# -- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contribution:
    unit: str  # unit code
    name: str
    value: Decimal


@dataclass(frozen=True)
class Figure:
    """A number the draft writes, with the cells it sums and each unit's share."""

    number: int
    label: str  # what the sentence says, e.g. "全市收到政府信息公开申请"
    value: Decimal
    measure: str  # 件 / 万元 / 元
    cell_type: str
    where: str  # which table cells (or which text) it comes from
    contributions: tuple[Contribution, ...]  # non-zero shares, largest first
    note: str | None = None

    @property
    def text(self) -> str:
        return value_text(self.value, self.cell_type)

    def to_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "label": self.label,
            "value": self.text,
            "unit": self.measure,
            "where": self.where,
            "contributions": [
                {"unit": c.unit, "name": c.name, "value": value_text(c.value, self.cell_type)}
                for c in self.contributions
            ],
            "note": self.note,
        }


def _part(section: int) -> str:
    return f"表{_CN[section]}"


def cell_place(cell: Cell) -> str:
    """``表三“一、本年新收政府信息公开申请数量”行“总计”列``"""
    return _part(cell.section) + cell.label


class FigureBook:
    """Makes figures from the consolidation and keeps them in the order the text uses them."""

    def __init__(self, consolidation: Consolidation, names: Mapping[str, str]) -> None:
        self.c = consolidation
        self.form = consolidation.form
        self.names = dict(names)
        self.figures: list[Figure] = []
        self._rules = set(consolidation.rules_codes) if consolidation.rules_from else set()

    def unit_value(self, unit: str, codes: Sequence[str]) -> Decimal:
        total = Decimal(0)
        for code in codes:
            if code in self._rules and unit != self.c.rules_from:
                continue  # 规章 are the government's own
            total += self.c.breakdown.get(code, {}).get(unit) or Decimal(0)
        return total

    def value(self, codes: Sequence[str], units: Collection[str] | None = None) -> Decimal:
        if units is None:
            return sum((self.c.values[c] for c in codes), Decimal(0))
        return sum((self.unit_value(u, codes) for u in units), Decimal(0))

    def cells(
        self,
        label: str,
        codes: Sequence[str],
        *,
        units: Collection[str] | None = None,
        where: str | None = None,
        note: str | None = None,
    ) -> Figure:
        """The sum of ``codes`` over all included units (or over ``units``)."""
        cell_type = self.form.cell(codes[0]).type
        included = [u.code for u in self.c.included] if units is None else list(units)
        shares = [(u, self.unit_value(u, codes)) for u in included]
        contributions = tuple(
            Contribution(u, self.names.get(u, u), v)
            for u, v in sorted(shares, key=lambda s: (-s[1], s[0]))
            if v
        )
        value = self.value(codes, units)
        if any(c in self._rules for c in codes):
            note = f"规章只取{self.names.get(self.c.rules_from or '', self.c.rules_from)}的数据"
        return self._add(
            label,
            value,
            "万元" if cell_type == "money" else "件",
            cell_type,
            where or self.where(codes),
            contributions,
            note,
        )

    def given(
        self,
        label: str,
        contributions: Iterable[Contribution],
        *,
        measure: str,
        where: str,
        cell_type: str = "count",
    ) -> Figure:
        """A figure summed from values read elsewhere (e.g. the units' section-6 text)."""
        shares = tuple(sorted((c for c in contributions if c.value), key=lambda c: -c.value))
        value = sum((c.value for c in shares), Decimal(0))
        return self._add(label, value, measure, cell_type, where, shares, None)

    def _add(
        self,
        label: str,
        value: Decimal,
        measure: str,
        cell_type: str,
        where: str,
        contributions: tuple[Contribution, ...],
        note: str | None,
    ) -> Figure:
        figure = Figure(
            len(self.figures) + 1, label, value, measure, cell_type, where, contributions, note
        )
        self.figures.append(figure)
        return figure

    def where(self, codes: Sequence[str]) -> str:
        cells = [self.form.cell(c) for c in codes]
        if len(cells) == 1:
            return cell_place(cells[0])
        if len(cells) <= 3:
            return "、".join(cell_place(c) for c in cells) + "之和"
        return f"{cell_place(cells[0])}等{len(cells)}个单元格之和"


def count(figure: Figure) -> str:
    """``349件`` / ``72701.2578万元``"""
    return f"{figure.text}{figure.measure}"


# -- units -----------------------------------------------------------------------------------

LEVEL_CHARS = "市区县旗州盟"
_GOV_SUFFIXES = ("人民政府办公室", "人民政府办公厅", "政府办公室", "人民政府", "政府办", "办事处")


def level_of(city: str) -> str:
    """``宜春市`` → ``市`` (``全市``, ``市政府``); ``临潼区`` → ``区``."""
    return city[-1] if city and city[-1] in LEVEL_CHARS else "市"


def short_name(name: str, kind: str, city: str) -> str:
    """How a city report names a unit: ``宜春市教育局`` → ``市教育局``, ``樟树市人民政府办公室``
    → ``樟树市``, ``温汤镇人民政府`` → ``温汤镇``, ``上海市松江区泗泾镇人民政府`` in
    ``上海市松江区`` → ``泗泾镇``."""
    if kind in ("county", "township"):
        for suffix in _GOV_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix) + 1:
                name = name[: -len(suffix)]
                break
        if city and name.startswith(city) and len(name) > len(city) + 1:
            name = name[len(city) :]  # the city's own township: its name is enough
        return name
    if city and name.startswith(city) and len(name) > len(city):
        return level_of(city) + name[len(city) :]
    return name


@dataclass(frozen=True)
class Group:
    """A line of the "其中……" breakdown: one unit, or a collective (市各有关部门)."""

    label: str
    units: tuple[str, ...]
    collective: bool
    order: int  # government, departments, counties, townships


def unit_groups(units: Sequence[UnitOutcome], city: str) -> list[Group]:
    level = level_of(city)
    by_kind: dict[str, list[UnitOutcome]] = {}
    for unit in units:
        by_kind.setdefault(unit.kind, []).append(unit)
    groups: list[Group] = []
    governments = by_kind.get("government", [])
    for unit in governments:
        label = f"{level}政府" if len(governments) == 1 else short_name(unit.name, unit.kind, city)
        groups.append(Group(label, (unit.code,), False, 0))
    collective = (("department", f"{level}各有关部门", 1), ("township", "各乡镇（街道）", 3))
    for kind, label, order in collective:
        members = by_kind.get(kind, [])
        if len(members) == 1:
            unit = members[0]
            groups.append(Group(short_name(unit.name, kind, city), (unit.code,), False, order))
        elif members:
            groups.append(Group(label, tuple(u.code for u in members), True, order))
    for unit in by_kind.get("county", []):
        groups.append(Group(short_name(unit.name, unit.kind, city), (unit.code,), False, 2))
    known = {"government", "department", "township", "county"}
    for kind, members in by_kind.items():
        if kind not in known:
            for unit in members:
                groups.append(Group(short_name(unit.name, kind, city), (unit.code,), False, 4))
    return groups


# -- the fee statements (section 6 of each unit) ---------------------------------------------

FeeStatus = Literal["collected", "none", "unclear", "silent"]
_FEE = "信息处理费"
_AMOUNT = re.compile(
    r"(?P<marker>共计|合计|总计|共|金额|计)?\s*(?:为|约)?\s*"
    r"(?P<n>\d[\d,，]*(?:\.\d+)?)\s*(?P<unit>万元|元)"
)
_CASES = re.compile(r"(?P<n>\d+)\s*(?:笔|次|宗)")
_CASES_LOOSE = re.compile(r"(?P<n>\d+)\s*件")
_NONE = re.compile(
    r"(?:无|未|没有|不存在|不涉及|均未|并未)[^，,。；;]{0,10}(?:收取|收费|产生|发生)"
    r"|(?:收取|收费)[^，,。；;]{0,12}(?:为零|为0(?![\d.])|0元|零元|无)"
)
_SENTENCE = re.compile(r"[^。；;\n]+")


@dataclass(frozen=True)
class FeeStatement:
    """What one unit's section 6 says about the 信息处理费."""

    status: FeeStatus
    amount_yuan: Decimal | None = None
    cases: int | None = None
    excerpt: str = ""  # the sentence(s) read


def _amount(match: re.Match[str]) -> Decimal:
    value = Decimal(match.group("n").replace(",", "").replace("，", ""))
    if match.group("unit") == "万元":  # 0.0300万元 is 300元, not 300.0000元
        value = (value * 10000).normalize()
        return value.quantize(Decimal(1)) if value == value.to_integral_value() else value
    return value


def parse_fee_statement(text: str | None) -> FeeStatement:
    """Read the 信息处理费 out of a section-6 text: collected (amount in 元, cases when stated),
    explicitly none, mentioned but unreadable, or not mentioned at all."""
    text = text or ""
    sentences = [s.strip() for s in _SENTENCE.findall(text) if _FEE in s]
    if not sentences:
        return FeeStatement("silent")
    excerpt = "。".join(sentences)
    amounts: list[tuple[Decimal, bool]] = []
    cases: int | None = None
    negated = False
    for sentence in sentences:
        found = [(_amount(m), bool(m.group("marker"))) for m in _AMOUNT.finditer(sentence)]
        amounts.extend(found)
        if _NONE.search(sentence) and not any(v for v, _ in found):
            negated = True
        for pattern in (_CASES, _CASES_LOOSE):
            match = pattern.search(sentence)
            if match and cases is None:
                cases = int(match.group("n"))
                break
    positive = [(v, marked) for v, marked in amounts if v > 0]
    if positive:
        marked = [v for v, m in positive if m]
        distinct = {v for v, _ in positive}
        if marked:
            total = max(marked)
        elif len(distinct) == 1:
            total = positive[0][0]
        else:  # several amounts, none said to be the total: a person must read it
            return FeeStatement("unclear", None, cases, excerpt)
        return FeeStatement("collected", total, cases, excerpt)
    if negated or amounts:  # "收取信息处理费0元" is none too
        return FeeStatement("none", Decimal(0), 0 if cases == 0 else None, excerpt)
    return FeeStatement("unclear", None, cases, excerpt)


# -- the city narrative ----------------------------------------------------------------------

Paragraph = list[Span]


@dataclass
class Part:
    """A part of a narrative section: an optional （一） heading and its paragraphs. ``key``
    names it (``主动公开``, ``总体``, ``问题`` …) so a later writer can add a paragraph to it."""

    heading: str | None
    paragraphs: list[Paragraph] = field(default_factory=list)
    key: str | None = None


# -- the units' narratives -------------------------------------------------------------------

POINTS_PER_PART = 6  # city sentences gathered into one part
SPECIFIC_PER_PART = 2  # of which about one unit's own figures
_ORDER = {"government": 0, "department": 1, "county": 2, "township": 3}


def writers_for(units: Sequence[UnitOutcome], city: str) -> dict[str, nv.Writer]:
    """How each unit is named in attributions (``市教育局``) and the names it may use for
    itself (``宜春市教育局``, ``教育局``)."""
    level = level_of(city)
    governments = [u for u in units if u.kind == "government"]
    out = {}
    for u in units:
        label = short_name(u.name, u.kind, city)
        if u.kind == "government" and len(governments) == 1:
            label = f"{level}政府"
        names = {u.name, short_name(u.name, u.kind, city)}
        if city and u.name.startswith(city) and len(u.name) > len(city) + 1:
            names.add(u.name[len(city) :])  # 教育局
        if u.kind == "government":  # the office writes for the government in many ways
            names |= {f"{level}政府办公室", f"{level}政府办", f"{level}人民政府", f"{level}政府"}
        out[u.code] = nv.Writer(u.code, label, tuple(sorted(names)), _ORDER.get(u.kind, 4))
    return out


@dataclass
class Gathered:
    """The included units' narratives as statements and grouped points, by topic."""

    writers: dict[str, nv.Writer]
    statements: list[nv.Statement]
    points: dict[str, list[nv.Point]]  # topic → points, most shared first
    written: list[nv.Point] = field(default_factory=list)  # in the order the draft uses them

    def take(self, topic: str, limit: int = POINTS_PER_PART) -> list[nv.Point]:
        """The points the draft writes for ``topic`` (recorded for the provenance file)."""
        chosen, specific = [], 0
        for point in self.points.get(topic, []):
            if not self.sentence(point) or all(nv.only_count(s) for s in point.statements):
                continue  # only figures, which differ by unit, or counts summed elsewhere
            rep = point.representative or point.statements[0]
            if rep.specific and len(point.units) == 1:
                if specific >= SPECIFIC_PER_PART:
                    continue
                specific += 1
            chosen.append(point)
            if len(chosen) >= limit:
                break
        self.written.extend(chosen)
        return chosen

    def sentence(self, point: nv.Point) -> str:
        return nv.city_sentence(point, self.writers)


def gather(
    reports: Mapping[str, Report], units: Sequence[UnitOutcome], city: str, parts: Sequence[str]
) -> Gathered:
    """Sections 一, 五 and 六 of the included units, split, cleaned and grouped."""
    writers = writers_for(units, city)
    statements: list[nv.Statement] = []
    for code in sorted(writers, key=lambda c: (writers[c].order, c)):
        report = reports.get(code)
        if report is None:
            continue
        writer = writers[code]
        text = report.narrative
        statements += nv.overview_statements(text.get("narrative.overview") or "", writer, parts)
        statements += nv.problem_statements(text.get("narrative.problems") or "", writer)
        statements += nv.other_statements(text.get("narrative.other_matters") or "", writer)
    by_topic: dict[str, list[nv.Statement]] = {}
    for statement in statements:
        by_topic.setdefault(statement.topic, []).append(statement)
    points = {
        topic: nv.ranked(nv.group(items, writers), writers) for topic, items in by_topic.items()
    }
    return Gathered(writers, statements, points)


# the headline figures section 一 compares with last year: the applications in 依申请公开, the
# fees in 主动公开 (yoy.PARAGRAPH_KEYS split by part)
FEE_KEYS: tuple[str, ...] = ("admin_fees",)
REQUEST_KEYS: tuple[str, ...] = tuple(k for k in yoy.PARAGRAPH_KEYS if k not in FEE_KEYS)


def placeholder(text: str) -> Span:
    return Span(f"待补充：{text}", placeholder=True)


def check_mark(text: str) -> Span:
    return Span(f"待核实：{text}", placeholder=True)


def plain_text(paragraphs: Iterable[Paragraph]) -> str:
    return "\n".join("".join(s.shown for s in p) for p in paragraphs)


def _strip_number(label: str) -> str:
    """``（三）不予公开`` → ``不予公开``; ``1.属于国家秘密`` → ``属于国家秘密``;
    ``（二）部分公开（区分处理的，…）`` → ``部分公开``."""
    label = re.sub(r"^（[一二三四五六七八九十]+）", "", label)
    label = re.sub(r"^[一二三四五六七八九十]+、", "", label)
    label = re.sub(r"^\d+[.．、]", "", label)
    label = re.sub(r"（[^（）]*）$", "", label)
    return label


def _listing(items: Sequence[tuple[str, Figure]], sep: str = "、") -> str:
    return sep.join(f"{label}{count(f)}" for label, f in items)


@dataclass
class Drafter:
    """Writes sections 一, 五 and 六 of the city report from a consolidation."""

    c: Consolidation
    city: str
    year: int
    book: FigureBook
    fees: Mapping[str, FeeStatement] | None  # unit code → statement; None: texts not given
    gathered: Gathered | None = None  # the units' narratives; None: texts not given
    top: int = 3
    fee_figure: Figure | None = None  # set by other_matters when a fee was collected
    # this year against last (``yoy.compare``); empty: no last year, nothing is said
    changes: Sequence[yoy.Change] = ()
    last_year: str = ""  # where last year's figures come from (for the provenance file)
    comparison_check: str | None = None  # a doubt about last year's figures, to be checked

    @property
    def form(self) -> Form:
        return self.c.form

    @property
    def whole(self) -> str:
        return f"全{level_of(self.city)}"

    def has(self, *codes: str) -> bool:
        return all(c in self.form.cells for c in codes)

    # -- 一、总体情况 ---------------------------------------------------------------------------

    def overview(self) -> list[Part]:
        intro = Part(None, [self._intro()], key=nv.INTRO)
        writers = {
            "主动公开": self.proactive,
            "依申请公开": self.requests,
            "政府信息管理": lambda: self._gathered_part(
                "政府信息管理", "政府信息管理工作情况（如公开属性认定、保密审查、政策文件清理等）"
            ),
            "政府信息公开平台建设": lambda: self._gathered_part(
                "政府信息公开平台建设", "政府网站、政务新媒体、政务公开专区等平台建设情况"
            ),
            "监督保障": self.oversight,
        }
        parts = [intro]
        if not self.form.section(1).parts:  # a form without named parts: numbers, then texts
            paragraphs = [*self.proactive(), *self.requests()]
            for topic in self._topics_without_parts():
                paragraphs += self._points_paragraphs(topic)
            parts.append(Part(None, paragraphs, key="数据"))
            if not self._mentions_assessment():
                parts.append(Part(None, self._assessment([]), key="监督保障"))
            return parts
        for i, name in enumerate(self.form.section(1).parts):
            heading = f"（{_CN[i + 1]}）{name}"
            writer = writers.get(name)
            paragraphs = writer() if writer else self._gathered_part(name, f"{name}情况")
            parts.append(Part(heading, paragraphs, key=name))
        return parts

    # -- the units' own words ----------------------------------------------------------------

    def _points_paragraphs(self, topic: str) -> list[Paragraph]:
        """One paragraph of the city sentences gathered for ``topic`` (none when no unit
        wrote of it)."""
        if self.gathered is None:
            return []
        points = self.gathered.take(topic)
        if not points:
            return []
        return [[Span("".join(self.gathered.sentence(p) + "。" for p in points))]]

    def _gathered_part(self, topic: str, missing: str) -> list[Paragraph]:
        return self._points_paragraphs(topic) or [[placeholder(missing)]]

    def _topics_without_parts(self) -> list[str]:
        if self.gathered is None:
            return []
        skip = {nv.INTRO, nv.PROBLEMS, nv.IMPROVEMENTS, nv.OTHER}
        return [t for t in nv.PART_KEYWORDS if t in self.gathered.points and t not in skip]

    def _mentions_assessment(self) -> bool:
        if self.gathered is None:
            return False
        return any(
            any(w in s.text for w in nv.ASSESSMENT_WORDS)
            for s in self.gathered.statements
            if s.topic not in (nv.PROBLEMS, nv.IMPROVEMENTS)
        )

    def _assessment(self, written: Sequence[nv.Point]) -> list[Paragraph]:
        """The placeholder for 工作考核、社会评议和责任追究结果 unless a written point says it."""
        said = any(
            any(w in (p.representative or p.statements[0]).text for w in nv.ASSESSMENT_WORDS)
            for p in written
        )
        return [] if said else [[placeholder("工作考核、社会评议和责任追究结果情况")]]

    def oversight(self) -> list[Paragraph]:
        """监督保障: what the units wrote; the assessment results if none of it says them."""
        if self.gathered is None:
            return self._assessment([])
        points = self.gathered.points.get("监督保障", [])
        # a unit's sentence on 考核/评议/责任追究 is written first, whatever its rank
        assessed = [
            p for p in points if any(w in p.statements[0].text for w in nv.ASSESSMENT_WORDS)
        ]
        if assessed:
            rest = [p for p in points if p not in assessed[:1]]
            self.gathered.points["监督保障"] = [assessed[0], *rest]
        before = len(self.gathered.written)
        paragraphs = self._points_paragraphs("监督保障")
        written = self.gathered.written[before:]
        return paragraphs + self._assessment(written)

    def _intro(self) -> Paragraph:
        spans = [
            Span(
                f"{self.year}年，{self.city}各级行政机关认真贯彻落实《中华人民共和国政府信息"
                "公开条例》"
            )
        ]
        points = self.gathered.take(nv.INTRO, limit=2) if self.gathered else []
        points = [p for p in points if len(p.units) > 1]
        if points:  # the units' own opening ("认真贯彻落实……") with the city as its subject
            spans = [Span(f"{self.year}年，{self.city}各级行政机关")]
            spans += [Span(self.gathered.sentence(p) + "。") for p in points]  # type: ignore[union-attr]
        else:
            spans.append(Span("，扎实推进政府信息公开工作。"))
        spans.append(Span(f"本报告汇总了{self._who()}报送的年度报告数据。"))
        return spans

    def _who(self) -> str:
        """``市政府、25个市直部门、8个县（市、区）和5个乡镇（街道）共39个单位``"""
        counts = Counter(u.kind for u in self.c.included)
        level = level_of(self.city)
        pieces = []
        if counts.get("government"):
            n = counts["government"]
            pieces.append(f"{level}政府" if n == 1 else f"{n}个本级政府")
        for kind, label in (
            ("department", f"{level}直部门"),
            ("county", "县（市、区）"),
            ("township", "乡镇（街道）"),
        ):
            if counts.get(kind):
                pieces.append(f"{counts[kind]}个{label}")
        others = sum(n for k, n in counts.items() if k not in _ORDER)
        if others:
            pieces.append(f"{others}个其他单位")
        total = len(self.c.included)
        if not pieces:
            return f"{total}个单位"
        listed = pieces[0] if len(pieces) == 1 else "、".join(pieces[:-1]) + "和" + pieces[-1]
        return f"{listed}共{total}个单位"

    def _named_top(self, label: str, codes: Sequence[str], what: str) -> list[Span]:
        """``行政许可决定较多的是市行政审批局1200件、……`` when several units contribute."""
        book = self.book
        units = [u.code for u in self.c.included]
        shares = [(u, book.unit_value(u, codes)) for u in units]
        shares = [s for s in shares if s[1]]
        if len(shares) < 2:
            return []
        shares.sort(key=lambda s: (-s[1], s[0]))
        named = []
        for unit, _ in shares[: self.top]:
            name = self.short(unit)
            named.append((name, book.cells(f"{name}{label}", codes, units=[unit])))
        return [Span(f"{what}较多的是{_listing(named)}。")]

    def short(self, unit: str) -> str:
        """The unit as the "其中……" breakdown names it (the government: ``市政府``)."""
        for group in unit_groups(self.c.included, self.city):
            if group.units == (unit,):
                return group.label
        outcome = next(u for u in self.c.included if u.code == unit)
        return short_name(outcome.name, outcome.kind, self.city)

    def proactive(self) -> list[Paragraph]:
        book, y, whole = self.book, self.year, self.whole
        paragraphs: list[Paragraph] = []
        if self.has(
            "proactive.rules.issued",
            "proactive.normative_docs.in_force",
            "proactive.licensing.decisions",
        ):
            f = {
                key: book.cells(label, [code])
                for key, label, code in (
                    ("ri", "制发规章", "proactive.rules.issued"),
                    ("rr", "废止规章", "proactive.rules.repealed"),
                    ("rf", "现行有效规章", "proactive.rules.in_force"),
                    ("ni", f"{whole}制发行政规范性文件", "proactive.normative_docs.issued"),
                    ("nr", f"{whole}废止行政规范性文件", "proactive.normative_docs.repealed"),
                    ("nf", f"{whole}现行有效行政规范性文件", "proactive.normative_docs.in_force"),
                )
            }
            paragraphs.append(
                [
                    Span(
                        f"{y}年，{self.city}人民政府制发规章{count(f['ri'])}，废止{count(f['rr'])}，"
                        f"现行有效规章{count(f['rf'])}；{whole}各级行政机关制发行政规范性文件"
                        f"{count(f['ni'])}，废止{count(f['nr'])}，现行有效{count(f['nf'])}。"
                    )
                ]
            )
            decisions = [
                ("行政许可", "proactive.licensing.decisions"),
                ("行政处罚", "proactive.penalties.decisions"),
                ("行政强制", "proactive.coercive_measures.decisions"),
            ]
            figs = [(k, book.cells(f"{whole}{k}处理决定", [code])) for k, code in decisions]
            text = "、".join(f"{k}决定{count(fig)}" for k, fig in figs)
            spans = [Span(f"全年{whole}作出{text}")]
            if self.has("proactive.admin_fees.amount_wan_yuan"):
                fee = book.cells(f"{whole}行政事业性收费", ["proactive.admin_fees.amount_wan_yuan"])
                spans.append(Span(f"，收取行政事业性收费{count(fee)}"))
            spans.append(Span("。"))
            for k, code in decisions[:2]:
                spans += self._named_top(f"{k}处理决定", [code], f"{k}决定")
            paragraphs.append(spans)
        else:
            paragraphs.append(self._generic_section(2))
        if self.gathered is not None:
            paragraphs += self._proactive_count()
        paragraphs += self._against_last_year(FEE_KEYS)
        return paragraphs + self._gathered_part(
            "主动公开", "主动公开工作的重点领域信息公开、政策解读、回应关切等情况"
        )

    def _proactive_count(self) -> list[Paragraph]:
        """ "各单位报告主动公开政府信息N条" from the units' own texts (a figure with its units)."""
        assert self.gathered is not None
        counts = nv.proactive_count(self.gathered.statements)
        if not counts:
            return []
        names = {u.code: u.name for u in self.c.included}
        fig = self.book.given(
            "各单位报告主动公开政府信息",
            [Contribution(c, names.get(c, c), Decimal(n)) for c, n in counts.items()],
            measure="条",
            where="各单位年度报告第一部分所述主动公开政府信息条数",
        )
        if len(counts) == 1:
            (code,) = counts
            who = self.gathered.writers[code].label if code in self.gathered.writers else code
            return [[Span(f"{who}报告全年主动公开政府信息{fig.text}条。")]]
        return [
            [
                Span(
                    f"据{len(counts)}个单位年度报告所述，全年共主动公开政府信息{fig.text}条"
                    f"{nv.attribution(list(counts), self.gathered.writers)}。"
                )
            ]
        ]

    def _generic_section(self, number: int) -> Paragraph:
        """Any form: "第二十条第（一）项：规章本年新制作数量3件，……" from the blocks' labels."""
        book = self.book
        pieces = []
        for block in self.form.section(number).blocks:
            items = []
            for cell in block.cells:
                label = f"{cell.row.label}{cell.column.label}"
                fig = book.cells(label, [cell.code])
                measure = "万元" if cell.type == "money" and cell.unit == "万元" else ""
                items.append(f"{label}{fig.text}{measure}")
            head = f"{block.caption}：" if block.caption else ""
            pieces.append(head + "，".join(items))
        return [Span(f"{self.year}年，{self.whole}" + "；".join(pieces) + "。")]

    def _applicants(self) -> list[tuple[str, list[str]]]:
        """Applicant groups from the form's column paths: ``自然人``, ``法人或其他组织`` → codes."""
        columns = [self.form.cell(f"requests.new_received.{c}") for c in self._applicant_codes()]
        groups: dict[str, list[str]] = {}
        for cell in columns:
            path = cell.column.path
            key = path[1] if len(path) > 2 else path[-1]
            groups.setdefault(key, []).append(cell.column.code)
        return list(groups.items())

    def _applicant_codes(self) -> list[str]:
        return list(self.form.sets.get("applicant_columns", ()))

    def requests(self) -> list[Paragraph]:
        book, whole = self.book, self.whole
        new_code = "requests.new_received.total"
        if not self.has(new_code, "requests.handled_total.total"):
            return [self._generic_section(3), *self._against_last_year(REQUEST_KEYS)]
        paragraphs: list[Paragraph] = []
        new = book.cells(f"{whole}收到政府信息公开申请", [new_code])
        if new.value:
            spans = [Span(f"{self.year}年，{whole}共收到政府信息公开申请{count(new)}")]
            groups = unit_groups(self.c.included, self.city)
            shares = []
            for group in groups:
                value = book.value([new_code], group.units)
                if value:
                    shares.append((group, value))
            shares.sort(key=lambda gv: (gv[0].order, -gv[1] if gv[0].order == 2 else 0))
            if len(shares) > 1 or (shares and shares[0][0].collective):
                listed = [
                    (
                        g.label,
                        book.cells(f"{g.label}收到政府信息公开申请", [new_code], units=g.units),
                    )
                    for g, _ in shares
                ]
                spans.append(Span(f"，其中{_listing(listed)}"))
            spans.append(Span("。"))
            for group, _ in shares:
                if group.collective:
                    spans += self._top_in(group, new_code)
        else:
            spans = [Span(f"{self.year}年，{whole}未收到政府信息公开申请。")]
        carried = book.cells("上年结转政府信息公开申请", ["requests.carried_from_last_year.total"])
        spans.append(Span(f"另有上年结转政府信息公开申请{count(carried)}。"))
        paragraphs.append(spans)
        if new.value:
            paragraphs.append(self._by_applicant())
        paragraphs.append(self._outcomes())
        paragraphs.append(self._reviews())
        paragraphs += self._against_last_year(REQUEST_KEYS)
        return paragraphs + self._points_paragraphs("依申请公开")

    def _against_last_year(self, keys: Sequence[str]) -> list[Paragraph]:
        """``与上年相比，本年新收政府信息公开申请1270件，较上年……`` for the headline figures
        ``keys`` that both years have; nothing at all without last year. Each number is a
        figure of the book (its cells and units this year, last year's value in its note)."""
        by_key = {c.key: c for c in self.changes if c.comparable}
        wanted = [by_key[k] for k in keys if k in by_key]
        if not wanted:
            return []
        for change in wanted:
            codes = yoy.FIGURE_BY_KEY[change.key].codes(self.form)
            self.book.cells(
                f"{change.label}（与上年比较）",
                list(codes),
                note=f"上年{yoy.fmt(change.last)}{change.unit}（{self.last_year}）；"  # type: ignore[arg-type]
                f"{change.phrase()}",
            )
        spans = [Span(yoy.paragraph(wanted, keys=keys))]
        if self.comparison_check:
            spans.append(check_mark(self.comparison_check))
        return [spans]

    def _top_in(self, group: Group, code: str) -> list[Span]:
        shares = [(u, self.book.unit_value(u, [code])) for u in group.units]
        shares = sorted((s for s in shares if s[1]), key=lambda s: (-s[1], s[0]))
        if len(shares) < 2:
            return []
        named = []
        for unit, _ in shares[: self.top]:
            name = self.short(unit)
            named.append(
                (name, self.book.cells(f"{name}收到政府信息公开申请", [code], units=[unit]))
            )
        return [Span(f"{group.label}中，申请量较多的是{_listing(named)}。")]

    def _by_applicant(self) -> Paragraph:
        book = self.book
        items = []
        for label, columns in self._applicants():
            codes = [f"requests.new_received.{c}" for c in columns]
            fig = book.cells(f"{label}提出的申请", codes)
            text = f"{label}提出申请{count(fig)}"
            if len(columns) > 1 and fig.value:
                parts = []
                for column in columns:
                    code = f"requests.new_received.{column}"
                    part = book.cells(f"{self.form.cell(code).column.label}提出的申请", [code])
                    if part.value:
                        parts.append((self.form.cell(code).column.label, part))
                text += f"（其中{_listing(parts)}）"
            items.append(text)
        return [Span("从申请主体看，" + "，".join(items) + "。")]

    def _outcome_groups(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Outcome groups by the form's row paths: ``不予公开`` → its numbered items and rows."""
        groups: dict[str, list[tuple[str, str]]] = {}
        for row in self.form.sets.get("outcome_rows", ()):
            path = self.form.cell(f"requests.{row}.total").row.path
            key = _strip_number(path[1] if len(path) > 1 else path[-1])
            item = _strip_number(path[2]) if len(path) > 2 else ""
            groups.setdefault(key, []).append((item, row))
        return list(groups.items())

    def _outcomes(self) -> Paragraph:
        book, whole = self.book, self.whole
        handled = book.cells(f"{whole}办理完毕的申请", ["requests.handled_total.total"])
        items = []
        for label, rows in self._outcome_groups():
            codes = [f"requests.{row}.total" for _, row in rows]
            fig = book.cells(label, codes)
            text = f"{label}{count(fig)}"
            subs = []
            if len(rows) > 1 and fig.value:
                for item, row in rows:
                    code = f"requests.{row}.total"
                    part = book.cells(f"{label}：{item}", [code])
                    if part.value:
                        subs.append((item, part))
                text += f"（{_listing(subs)}）"
            items.append(text)
        carried = book.cells("结转下年度继续办理", ["requests.carried_to_next_year.total"])
        return [
            Span(
                f"从办理结果看，{whole}本年度共办理完毕政府信息公开申请{count(handled)}，其中"
                + "，".join(items)
                + f"；结转下年度继续办理{count(carried)}。"
            )
        ]

    def _reviews(self) -> Paragraph:
        book, whole = self.book, self.whole
        if not self.has("review.total", "litigation_direct.total"):
            return self._generic_section(4)
        suffixes = ("upheld", "corrected", "other", "pending")

        def detail(group: str) -> str:
            parts = []
            for suffix in suffixes:
                code = f"{group}.{suffix}"
                label = self.form.cell(code).column.label
                fig = book.cells(f"{self.form.cell(code).column_label}", [code])
                if fig.value:
                    parts.append((label, fig))
            return f"，其中{_listing(parts)}" if parts else ""

        review = book.cells("因政府信息公开被申请行政复议", ["review.total"])
        groups = ("litigation_direct", "litigation_after_review")
        lawsuits = book.cells("因政府信息公开被提起行政诉讼", [f"{g}.total" for g in groups])
        if not review.value and not lawsuits.value:
            return [Span(f"{whole}未发生因政府信息公开工作被申请行政复议、提起行政诉讼的情况。")]
        spans = [
            Span(f"{whole}因政府信息公开工作被申请行政复议{count(review)}{detail('review')}；")
        ]
        kinds = []
        for group in groups:
            label = self.form.cell(f"{group}.total").column.path[-2]
            fig = book.cells(label, [f"{group}.total"])
            if fig.value:
                kinds.append(f"{label}{count(fig)}{detail(group)}")
        text = f"被提起行政诉讼{count(lawsuits)}"
        if kinds:
            text += "（" + "；".join(kinds) + "）"
        spans.append(Span(text + "。"))
        return spans

    # -- 五、六 --------------------------------------------------------------------------------

    def problems(self) -> list[Part]:
        """Section 五 from the units' own problems and improvements, enumerated."""
        parts = []
        for topic, lead, missing in (
            (nv.PROBLEMS, "存在的主要问题：", "存在的主要问题"),
            (nv.IMPROVEMENTS, "改进情况：", "改进情况"),
        ):
            points = self.gathered.take(topic) if self.gathered else []
            if not points:
                parts.append(Part(None, [[placeholder(missing)]], key=topic))
                continue
            sentences = [self.gathered.sentence(p) for p in points]  # type: ignore[union-attr]
            if topic == nv.IMPROVEMENTS:  # "将丰富解读形式" under "改进情况：" reads "丰富…"
                sentences = [re.sub(r"^将", "", t) for t in sentences]
            items = (
                [f"{chinese_count(i)}是{t}" for i, t in enumerate(sentences, 1)]
                if len(sentences) > 1
                else sentences
            )
            parts.append(Part(None, [[Span(lead + "；".join(items) + "。")]], key=topic))
        return parts

    def fee_rows(self) -> list[tuple[str, str, FeeStatement]]:
        """``(unit code, name, statement)`` of the units that collected a fee, largest first."""
        if self.fees is None:
            return []
        names = {u.code: u.name for u in self.c.included}
        rows = [
            (code, names.get(code, code), s)
            for code, s in self.fees.items()
            if s.status == "collected" and code in names
        ]
        rows.sort(key=lambda r: (-(r[2].amount_yuan or 0), r[0]))
        return rows

    def other_matters(self) -> tuple[list[Paragraph], list[Paragraph]]:
        """Section 六: the paragraphs before the fee table (see :meth:`fee_rows`) and after it."""
        whole, y = self.whole, self.year
        if self.fees is None:
            return [
                [placeholder("信息处理费收取情况（未提供各单位第六部分原文，无法汇总）")],
                [placeholder("其他需要报告的事项")],
            ], []
        names = {u.code: u.name for u in self.c.included}
        statements = {c: s for c, s in self.fees.items() if c in names}
        collected = self.fee_rows()
        paragraphs: list[Paragraph] = []
        if collected:
            fig = self.book.given(
                f"{whole}收取信息处理费",
                [Contribution(c, n, s.amount_yuan or Decimal(0)) for c, n, s in collected],
                measure="元",
                cell_type="money",
                where="各单位年度报告第六部分所述信息处理费",
            )
            self.fee_figure = fig
            cases = [s.cases for _, _, s in collected]
            spans = [
                Span(
                    f"{y}年，{whole}共有{len(collected)}个单位按照《政府信息公开"
                    "信息处理费管理办法》收取信息处理费"
                )
            ]
            if all(n is not None for n in cases):
                spans.append(Span(f"共计{sum(n or 0 for n in cases)}笔，"))
            else:
                spans.append(Span("，"))
            spans.append(Span(f"金额合计{fig.text}元，具体如下表。"))
            paragraphs.append(spans)
        else:
            paragraphs.append([Span(f"{y}年，{whole}各级行政机关均未收取政府信息公开信息处理费。")])
        after: list[Paragraph] = []
        silent = sorted(c for c, s in statements.items() if s.status == "silent")
        missing = sorted(c for c in names if c not in statements)
        unclear = sorted(c for c, s in statements.items() if s.status == "unclear")
        if silent or missing:
            listed = "、".join(names[c] for c in [*silent, *missing])
            after.append([check_mark(f"以下单位第六部分未说明信息处理费收取情况：{listed}")])
        for code in unclear:
            excerpt = statements[code].excerpt
            after.append(
                [
                    check_mark(
                        f"{names[code]}第六部分提及信息处理费，但未能识别金额，原文：“{excerpt}”"
                    )
                ]
            )
        after += self._points_paragraphs(nv.OTHER)
        return paragraphs, after
