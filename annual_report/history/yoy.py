"""Year over year: the headline figures of a report, this year against last year, in the words a
Chinese report uses ("较上年增加13件，增长3.5%", "较上年减少5件", "与上年持平").

Pure functions over value mappings (cell code → exact ``Decimal``), so the same code serves a
department's report, the city's consolidated sums and figures imported from published reports.
A headline figure is named once in :data:`FIGURES` (its label, unit and the cells it sums, as
patterns over the form's codes), which is what makes the 2019 and 2021 formats comparable.

Percentages are rounded half up to one decimal place (四舍五入), as statistical bulletins do
("增长3.0%"); a change from 0 has no percentage and is stated in units only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fnmatch import fnmatchcase
from typing import Literal

from annual_report.form.model import Form

__all__ = [
    "COMPARISON_HEADERS",
    "FIGURES",
    "PARAGRAPH_KEYS",
    "Change",
    "ComparisonRow",
    "Figure",
    "PhraseStyle",
    "cell_label",
    "change",
    "compare",
    "compare_figures",
    "comparison_rows",
    "fmt",
    "headline",
    "paragraph",
    "percent",
    "phrase",
    "share",
]

PhraseStyle = Literal["both", "count", "percent"]
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Figure:
    """A headline figure: the sum of the form's cells matching ``patterns``."""

    key: str
    label: str  # as a report names it: "予以公开", "行政复议"
    unit: str  # "件" or "万元"
    patterns: tuple[str, ...]  # fnmatch patterns over cell codes ("requests.withheld.*.total")
    group: str  # "requests", "outcomes", "review", "fees": how reports and charts group them

    def codes(self, form: Form) -> tuple[str, ...]:
        """The cells of ``form`` this figure sums (none when the form lacks it)."""
        key = (self.key, form.id, len(form.cells))
        found = _CODES.get(key)
        if found is None:
            found = tuple(c for c in form.cells if any(fnmatchcase(c, p) for p in self.patterns))
            _CODES[key] = found
        return found


_CODES: dict[tuple[str, str, int], tuple[str, ...]] = {}  # (figure, form) → its cells


_REQ, _OUT, _REV, _FEE = "requests", "outcomes", "review", "fees"
FIGURES: tuple[Figure, ...] = tuple(
    Figure(key, label, unit, tuple(patterns), group)
    for key, label, unit, group, *patterns in (
        ("new_received", "本年新收政府信息公开申请", "件", _REQ, "requests.new_received.total"),
        (
            "carried_from_last_year",
            "上年结转政府信息公开申请",
            "件",
            _REQ,
            "requests.carried_from_last_year.total",
        ),
        ("handled_total", "办理答复政府信息公开申请", "件", _REQ, "requests.handled_total.total"),
        ("granted", "予以公开", "件", _OUT, "requests.granted.total"),
        ("partially_granted", "部分公开", "件", _OUT, "requests.partially_granted.total"),
        ("withheld", "不予公开", "件", _OUT, "requests.withheld.*.total"),
        ("unavailable", "无法提供", "件", _OUT, "requests.unavailable.*.total"),
        ("not_processed", "不予处理", "件", _OUT, "requests.not_processed.*.total"),
        # 2019 format: one row （六）其他处理; 2021: its three items
        ("other", "其他处理", "件", _OUT, "requests.other.total", "requests.other.*.total"),
        (
            "carried_to_next_year",
            "结转下年度继续办理",
            "件",
            _REQ,
            "requests.carried_to_next_year.total",
        ),
        ("review", "政府信息公开行政复议", "件", _REV, "review.total"),
        ("review_corrected", "行政复议结果纠正", "件", _REV, "review.corrected"),
        (
            "litigation",
            "政府信息公开行政诉讼",
            "件",
            _REV,
            "litigation_direct.total",
            "litigation_after_review.total",
        ),
        (
            "litigation_corrected",
            "行政诉讼结果纠正",
            "件",
            _REV,
            "litigation_direct.corrected",
            "litigation_after_review.corrected",
        ),
        # 2021 format only (the 2019 format counts fee items, not amounts)
        ("admin_fees", "行政事业性收费金额", "万元", _FEE, "proactive.admin_fees.amount_wan_yuan"),
    )
)
FIGURE_BY_KEY: dict[str, Figure] = {f.key: f for f in FIGURES}
OUTCOMES: tuple[str, ...] = tuple(f.key for f in FIGURES if f.group == "outcomes")


def headline(values: Mapping[str, Decimal | None], form: Form) -> dict[str, Decimal | None]:
    """Every figure of :data:`FIGURES` from a report's values.

    A figure is ``None`` when the form has none of its cells (行政事业性收费金额 in the 2019
    format) or when any of its cells has no value (a published text that left a row out): a
    partial sum would compare wrongly with last year's full one.
    """
    out: dict[str, Decimal | None] = {}
    for figure in FIGURES:
        codes = figure.codes(form)
        parts = [p for c in codes if (p := values.get(c)) is not None]
        if not codes or len(parts) < len(codes):
            out[figure.key] = None
        else:
            out[figure.key] = sum(parts, Decimal(0))
    return out


# -- numbers in words ------------------------------------------------------------------------


def fmt(value: Decimal) -> str:
    """A number as a report prints it: no exponent, no trailing zeros (``72701.2578``, ``12``)."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def percent(part: Decimal, whole: Decimal, places: int = 1) -> Decimal | None:
    """``part / whole`` in percent, rounded half up to ``places`` places (四舍五入);
    ``None`` when ``whole`` is 0."""
    if whole == 0:
        return None
    return (part * HUNDRED / whole).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def share(part: Decimal, whole: Decimal, places: int = 1) -> str:
    """A share as reports write it: ``占30.1%`` (empty when ``whole`` is 0)."""
    p = percent(part, whole, places)
    return "" if p is None else f"占{p}%"


def phrase(
    this: Decimal | None,
    last: Decimal | None,
    unit: str = "件",
    *,
    style: PhraseStyle = "both",
    against: str = "上年",
) -> str:
    """The change from ``last`` to ``this`` in words; empty when either is unknown.

    ``both``: 较上年增加13件，增长3.5% · ``count``: 较上年增加13件 · ``percent``: 较上年增长3.5%
    (from 0 there is no percentage: 较上年增加5件). Equal: 与上年持平.
    """
    if this is None or last is None:
        return ""
    diff = this - last
    if diff == 0:
        return f"与{against}持平"
    more = diff > 0
    count = f"{'增加' if more else '减少'}{fmt(abs(diff))}{unit}"
    pct = percent(abs(diff), last) if last > 0 else None
    rate = f"{'增长' if more else '下降'}{pct}%" if pct is not None else None
    if style == "count" or rate is None:
        return f"较{against}{count}"
    if style == "percent":
        return f"较{against}{rate}"
    return f"较{against}{count}，{rate}"


@dataclass(frozen=True)
class Change:
    """One figure this year against last year."""

    key: str
    label: str
    unit: str
    this: Decimal | None
    last: Decimal | None

    @property
    def comparable(self) -> bool:
        return self.this is not None and self.last is not None

    @property
    def diff(self) -> Decimal | None:
        return self.this - self.last if self.comparable else None  # type: ignore[operator]

    @property
    def percent(self) -> Decimal | None:
        """Signed change in percent of last year (one place); ``None`` from 0 or unknown."""
        if not self.comparable or not self.last or self.last < 0:
            return None
        p = percent(abs(self.diff), self.last)  # type: ignore[arg-type]
        return -p if p is not None and self.diff < 0 else p  # type: ignore[operator]

    @property
    def direction(self) -> Literal["up", "down", "same"] | None:
        if not self.comparable:
            return None
        return "up" if self.diff > 0 else "down" if self.diff < 0 else "same"  # type: ignore[operator]

    def phrase(self, style: PhraseStyle = "both") -> str:
        """``较上年增加13件，增长3.5%`` (see :func:`phrase`)."""
        return phrase(self.this, self.last, self.unit, style=style)

    def sentence(self, style: PhraseStyle = "both") -> str:
        """``予以公开389件，较上年增加13件，增长3.5%`` (without the change when not comparable)."""
        if self.this is None:
            return ""
        said = self.phrase(style)
        return f"{self.label}{fmt(self.this)}{self.unit}" + (f"，{said}" if said else "")


def change(key: str, this: Decimal | None, last: Decimal | None) -> Change:
    """A :class:`Change` of the figure ``key`` of :data:`FIGURES`."""
    figure = FIGURE_BY_KEY[key]
    return Change(figure.key, figure.label, figure.unit, this, last)


def compare(
    this: Mapping[str, Decimal | None],
    last: Mapping[str, Decimal | None] | None,
    form: Form,
    last_form: Form | None = None,
    *,
    keys: Iterable[str] | None = None,
) -> list[Change]:
    """The headline figures of two years' cell values (``last`` may be in the other format,
    or ``None`` when there is no last year)."""
    before = headline(last, last_form or form) if last is not None else {}
    return compare_figures(headline(this, form), before, keys=keys)


def compare_figures(
    this: Mapping[str, Decimal | None],
    last: Mapping[str, Decimal | None],
    *,
    keys: Iterable[str] | None = None,
) -> list[Change]:
    """Two years' headline figures (figure key → value, e.g. from :func:`headline` or taken
    from published reports), one :class:`Change` per figure of :data:`FIGURES` (or ``keys``)."""
    wanted = list(keys) if keys is not None else [f.key for f in FIGURES]
    return [change(k, this.get(k), last.get(k)) for k in wanted]


# -- the 上年/本年/增减 sheet ----------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonRow:
    """One row of a 上年/本年/增减 table."""

    group: str  # "主要指标" or the section heading of the cell
    label: str
    code: str  # a figure key (主要指标) or a cell code
    unit: str
    last: Decimal | None
    this: Decimal | None

    @property
    def change(self) -> Decimal | None:
        return None if self.this is None or self.last is None else self.this - self.last

    @property
    def percent(self) -> Decimal | None:
        c = Change(self.code, self.label, self.unit, self.this, self.last)
        return c.percent

    @property
    def note(self) -> str:
        return phrase(self.this, self.last, self.unit)


HEADLINE_GROUP = "主要指标"


def cell_label(form: Form, code: str) -> str:
    """A cell's full name, caption included: ``第二十条第（八）项“行政事业性收费”行“…”列``."""
    cell = form.cell(code)
    block = next(b for b in form.section(cell.section).blocks if b.index == cell.block)
    label = cell.label
    if not cell.column_label and cell.row_label and cell.column.label:
        label = f"“{cell.row_label}”行“{cell.column.label}”列"
    return f"{block.caption or ''}{label}"


def comparison_rows(
    this: Mapping[str, Decimal | None],
    last: Mapping[str, Decimal | None] | None,
    form: Form,
    last_form: Form | None = None,
    *,
    cells: bool = True,
) -> list[ComparisonRow]:
    """The rows of a 上年/本年/增减 sheet: the headline figures, then (``cells``) every table
    cell of this year's form, with last year's value where last year's form has the cell."""
    rows = [
        ComparisonRow(HEADLINE_GROUP, c.label, c.key, c.unit, c.last, c.this)
        for c in compare(this, last, form, last_form)
        if c.this is not None or c.last is not None
    ]
    if not cells:
        return rows
    before_form = last_form or form
    for section in form.sections:
        for block in section.blocks:
            for cell in block.cells:
                before = None
                if last is not None and cell.code in before_form.cells:
                    before = last.get(cell.code)
                rows.append(
                    ComparisonRow(
                        section.heading,
                        cell_label(form, cell.code),
                        cell.code,
                        cell.unit or ("" if cell.type == "money" else "件"),
                        before,
                        this.get(cell.code),
                    )
                )
    return rows


# -- sentences for section 一 ----------------------------------------------------------------

PARAGRAPH_KEYS: tuple[str, ...] = (
    "new_received",
    "handled_total",
    "granted",
    "partially_granted",
    "withheld",
    "unavailable",
    "not_processed",
    "other",
    "review",
    "litigation",
    "admin_fees",
)
COMPARISON_HEADERS: tuple[str, ...] = ("项目", "上年", "本年", "增减", "增减幅度（%）", "说明")


def paragraph(
    changes: Iterable[Change],
    *,
    keys: Iterable[str] = PARAGRAPH_KEYS,
    lead: str = "与上年相比，",
    style: PhraseStyle = "both",
) -> str:
    """The comparable figures as one sentence for section 一, in ``keys`` order:
    ``与上年相比，本年新收政府信息公开申请1270件，较上年增加…；予以公开389件，较上年增加13件，
    增长3.5%；…。`` Empty when nothing is comparable (no last year)."""
    by_key = {c.key: c for c in changes}
    parts = [by_key[k].sentence(style) for k in keys if k in by_key and by_key[k].comparable]
    return f"{lead}{'；'.join(parts)}。" if parts else ""
