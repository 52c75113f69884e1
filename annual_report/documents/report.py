"""The reports as Word documents: the city's consolidated report and each department's own.

Both follow the six-part national format (FORMAT.md §3) in the official-document look
(``document_layout``): title, the customary preamble, sections 一 to 六 with tables 二, 三, 四 drawn
from the form. The city report is a draft for the coordinator: section 一 is written from the
numbers and from the units' own narratives (``drafting``, ``narratives``), sections 五 and 六
likewise, section 六 gathers the 信息处理费 from the units' own texts; what neither says is a
marked placeholder (:func:`placeholders_in` finds what is left of them in an edited file). The
provenance (units in and out, every number's and sentence's sources) goes into a separate
workbook (``provenance``), never into the report. Rule C5 (narrative ↔ tables) runs on the draft
and on each unit's narrative; its findings come back in :attr:`Draft.issues` for the CLI.

    draft = city_report(consolidation, city="宜春市", year=2021, office="宜春市人民政府办公室",
                        contact=contact, reports=reports, date=date(2022, 3, 20))
    draft.save("report.docx"); draft.save_provenance("report（数据来源）.xlsx")
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from annual_report.campaign.lateness import days_late
from annual_report.campaign.registry import Registry
from annual_report.consolidation import Consolidation, UnitOutcome, consolidate_campaign
from annual_report.documents import provenance as prov
from annual_report.documents.drafting import (
    FEE_KEYS,
    REQUEST_KEYS,
    Drafter,
    FeeStatement,
    Figure,
    FigureBook,
    Paragraph,
    Part,
    chinese_count,
    gather,
    parse_fee_statement,
    placeholder,
    plain_text,
    value_text,
    written_text,
)
from annual_report.documents.layout import (
    _PPR_ORDER,
    BODY_STYLE,
    HEADING1_STYLE,
    HEADING2_STYLE,
    PLACEHOLDER_CLOSE,
    PLACEHOLDER_OPEN,
    PLACEHOLDER_STYLE,
    SIGNATURE_STYLE,
    TITLE_PT,
    TITLE_STYLE,
    TYPE_WIDTH_PT,
    Span,
    _put,
    _style_id,
    add_runs,
    form_table,
    official_document,
    paragraph,
    simple_table,
    table_gap,
    text_width,
    to_pdf,
    write_docx,
)
from annual_report.errors import DocumentError, NianbaoError
from annual_report.form.model import Form, Section
from annual_report.history import yoy
from annual_report.report import EntryPool, Report
from annual_report.store.base import Store
from annual_report.validation import Issue, validate

if TYPE_CHECKING:
    from annual_report.history.frames import YearOverYear

log = logging.getLogger(__name__)

TITLE_REST = "年政府信息公开工作年度报告"

__all__ = [
    "Draft",
    "DraftIssue",
    "ReportContact",
    "city_report",
    "city_report_from_store",
    "department_report",
    "department_report_from_store",
    "narrative_issues",
    "parse_fee_statement",
    "placeholders_in",
    "provenance_path",
    "report_date",
    "to_pdf",
    "unit_reports",
    "write_docx",
]


class ContactLike(Protocol):
    """Anything with ``phone`` and ``email`` (e.g. ``connectors.settings.Contact``); ``address``
    and ``postcode`` are printed too when the object has them."""

    @property
    def phone(self) -> str | None: ...

    @property
    def email(self) -> str | None: ...


@dataclass(frozen=True)
class ReportContact:
    """How the public reaches the office that compiled the report (the preamble's last line)."""

    phone: str | None = None
    email: str | None = None
    address: str | None = None
    postcode: str | None = None
    name: str | None = None  # a person; not printed (reports name the office)


@dataclass(frozen=True)
class DraftIssue:
    """A finding about the draft (``unit`` None) or about one unit's narrative."""

    unit: str | None
    unit_name: str
    rule: str
    severity: str
    codes: tuple[str, ...]
    message: str

    @property
    def text(self) -> str:
        return f"{self.unit_name}：{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "unit_name": self.unit_name,
            "rule": self.rule,
            "severity": self.severity,
            "codes": list(self.codes),
            "message": self.message,
        }


@dataclass
class Draft:
    """A generated report: the Word document and what the coordinator should know about it."""

    document: Document
    title: str
    issues: list[DraftIssue] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    fees: dict[str, FeeStatement] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)  # texts to fill in or check
    provenance: prov.Provenance | None = None  # the city report's sources (a separate file)
    charts: list[str] = field(default_factory=list)  # the captions of the figures drawn
    notes: list[str] = field(default_factory=list)  # Chinese, for the coordinator

    def save(self, path: str | Path) -> Path:
        return write_docx(self.document, path)

    def save_provenance(self, path: str | Path) -> Path:
        if self.provenance is None:
            raise DocumentError("this document has no provenance file", title=self.title)
        return self.provenance.save(path)

    def to_bytes(self) -> bytes:
        """The .docx file's content (e.g. for a mail attachment)."""
        buffer = io.BytesIO()
        self.document.save(buffer)
        return buffer.getvalue()

    def close(self) -> None:
        """Free the Word document now; it cannot be saved afterwards. python-docx's package and
        its parts refer to each other (reference cycles): left alone, a department report's
        XML (~5 MB in memory) stays until the next full garbage collection, and a round of
        receipts piles up hundreds of them (issue 12)."""
        package = self.document.part.package
        for part in list(package.iter_parts()):
            part.__dict__.clear()
        package.__dict__.clear()
        self.document.__dict__.clear()  # it and its body refer to each other too


# -- C5 ------------------------------------------------------------------------------------------


def narrative_issues(report: Report) -> list[Issue]:
    """The form's narrative ↔ table rule (C5, ``narrative_numbers``) on ``report`` alone."""
    rules = [r.id for r in report.form.rules if r.check == "narrative_numbers"]
    return validate(report, rules=rules).issues


def _draft_issues(unit: str | None, name: str, report: Report) -> list[DraftIssue]:
    return [
        DraftIssue(unit, name, i.rule, i.severity, i.codes, i.message)
        for i in narrative_issues(report)
    ]


# -- shared parts ------------------------------------------------------------------------------


def _date_text(when: date | None) -> Span:
    if when is None:
        return placeholder("成文日期")
    return Span(f"{when.year}年{when.month}月{when.day}日")


def _heading_text(section: Section) -> str:
    return re.sub(r"^[一二三四五六七八九十]+、", "", section.heading)


def _preamble(
    form: Form,
    *,
    year: int,
    compiled_by: str,
    compiled_from: str,
    website: str | None,
    site_name: str | None,
    office: str,
    contact: ReportContact | ContactLike | None,
) -> list[Span]:
    trial = "（试行）" if "2019" in form.notice else ""
    parts = "、".join(_heading_text(s) for s in form.sections)
    spans = [
        Span(
            "本报告根据《中华人民共和国政府信息公开条例》（以下简称《条例》）和《国务院办公厅"
            f"政府信息与政务公开办公室关于印发〈中华人民共和国政府信息公开工作年度报告格式{trial}〉"
            f"的通知》（{form.notice}）要求，由{compiled_by}{compiled_from}编制。"
            f"本报告由{parts}等{chinese_count(len(form.sections))}个部分组成。"
            f"本报告所列数据的统计期限自{year}年1月1日起至{year}年12月31日止。本报告电子版可在"
        )
    ]
    if website:
        spans.append(Span(f"{site_name or '门户网站'}（{website}）查阅或下载。"))
    else:
        spans += [placeholder("网站名称和网址"), Span("查阅或下载。")]
    details = []
    for label, key in (("地址", "address"), ("邮编", "postcode"), ("电话", "phone")):
        value = getattr(contact, key, None) if contact is not None else None
        if value:
            details.append(f"{label}：{value}")
    email = getattr(contact, "email", None) if contact is not None else None
    if email:
        details.append(f"电子邮箱：{email}")
    spans.append(Span(f"如对本报告有任何疑问，请与{office}联系（"))
    if details:
        spans.append(Span("；".join(details)))
    else:
        spans.append(placeholder("联系地址、电话、电子邮箱"))
    spans.append(Span("）。"))
    return spans


def _empty_line(doc: Document) -> Any:
    """An empty body paragraph (what ``add_paragraph(style=BODY_STYLE)`` writes, an empty
    ``w:pPr`` included, without python-docx's scan of the styles for the name)."""
    para = doc.add_paragraph()
    para._p.get_or_add_pPr()
    return para


def _title(doc: Document, who: str, rest: str) -> None:
    """The title on one line when it fits, else the organ's name on a line of its own."""
    title = paragraph(doc, [who], TITLE_STYLE)
    if text_width(who + rest, TITLE_PT) > TYPE_WIDTH_PT:
        title.add_run().add_break()
    add_runs(title, [rest])
    _empty_line(doc)  # 标题下空一行


def _parts(doc: Document, parts: Sequence[Part]) -> None:
    for part in parts:
        if part.heading:
            paragraph(doc, [part.heading], HEADING2_STYLE)
        for spans in part.paragraphs:
            paragraph(doc, spans)


def _signature(doc: Document, who: str, when: date | None) -> None:
    _empty_line(doc).paragraph_format.keep_with_next = True
    paragraph(doc, [who], SIGNATURE_STYLE).paragraph_format.keep_with_next = True
    paragraph(doc, [_date_text(when)], SIGNATURE_STYLE)


def _tables(doc: Document, form: Form, section: Section, texts: Mapping[str, str]) -> None:
    paragraph(doc, [section.heading], HEADING1_STYLE)
    form_table(doc, form, section, texts)
    table_gap(doc)


def _placeholders(doc: Document) -> list[str]:
    """The texts of the placeholder runs, read from the XML: only runs with a character style
    are looked at (python-docx would resolve every run's style by scanning every style)."""
    style_id = _style_id(PLACEHOLDER_STYLE)
    found = []
    for rstyle in doc.element.body.iter(qn("w:rStyle")):
        r = rstyle.getparent().getparent()
        if rstyle.get(qn("w:val")) == style_id and r.tag == qn("w:r"):
            found.append("".join(t.text or "" for t in r.iter(qn("w:t"))))
    return found


def _all_paragraphs(doc: Document) -> list[Any]:
    out = list(doc.paragraphs)
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                out.extend(cell.paragraphs)
    return out


# -- the city report ---------------------------------------------------------------------------


def unit_reports(store: Store, consolidation: Consolidation) -> dict[str, Report]:
    """The included units' reports (with their narratives) from the store, by unit code; their
    entries shared through one pool (read-only: thousands of reports are held at once)."""
    pool = EntryPool()
    return {
        u.code: store.report_from_submission(u.submission_id, pool)
        for u in consolidation.included
        if u.submission_id is not None
    }


def city_report(
    consolidation: Consolidation,
    *,
    city: str,
    year: int | None = None,
    office: str,
    contact: ReportContact | ContactLike | None = None,
    registry: Registry | None = None,
    reports: Mapping[str, Report] | None = None,
    website: str | None = None,
    site_name: str | None = None,
    date: date | None = None,
    date_rule: str | None = None,
    units: Sequence[prov.UnitRecord] | None = None,
    zone: tzinfo | None = None,
    comparison: YearOverYear | None = None,
    earlier: Mapping[int, Mapping[str, Decimal | None]] | None = None,
    charts: bool = True,
) -> Draft:
    """The 本级人民政府 report drafted from ``consolidation``.

    ``reports`` (unit code → the unit's report, as consolidated) supply the units' narratives:
    sections 一, 五 and 六 gathered from them, the 信息处理费, C5 on each unit; without them
    those are placeholders. ``registry`` only supplies names for units the consolidation does
    not name. ``units`` (with submission times and lateness) and ``date_rule`` go into the
    provenance file (:attr:`Draft.provenance`); without ``date`` the 成文日期 is a placeholder.

    ``comparison`` (``history.year_over_year``) adds the change against last year to 一（一）
    and 一（二）; without last year nothing is said and the provenance file says why.
    ``earlier`` (the city's headline figures of earlier years, ``history.
    city_figures_by_year``) with this year's makes the over-the-years figure; with ``charts``
    section 三 shows it and the ten units with most applications, each only when it has
    something to show.
    """
    c = consolidation
    form = c.form
    year = year or c.year
    if year is None:
        raise DocumentError("the report year is unknown: give year=")
    title = f"{city}{year}{TITLE_REST}"
    names = {u.code: u.name for u in c.included}
    if registry is not None:
        for code in names:
            dept = registry.get(code)
            if dept is not None and names[code] == code:
                names[code] = dept.name
    fees = (
        {
            code: parse_fee_statement(r.narrative.get("narrative.other_matters"))
            for code, r in reports.items()
        }
        if reports is not None
        else None
    )
    book = FigureBook(c, names)
    parts = form.section(1).parts if any(s.number == 1 for s in form.sections) else ()
    gathered = gather(reports, c.included, city, parts) if reports is not None else None
    drafter = Drafter(c, city, year, book, fees, gathered)
    if comparison is not None and comparison.has_last_year:
        drafter.changes = comparison.changes
        drafter.last_year = comparison.source
        if comparison.units_this and 0 < comparison.units_last < comparison.units_this:
            drafter.comparison_check = (
                f"上年数据仅含{comparison.units_last}个单位（本年{comparison.units_this}个），"
                "与上年的比较需核实后保留或删除"
            )
    drawn: list[prov.ChartRecord] = []
    notes: list[str] = []

    doc = official_document(title=title, author=office)
    _title(doc, city, f"{year}{TITLE_REST}")
    paragraph(
        doc,
        _preamble(
            form,
            year=year,
            compiled_by=office,
            compiled_from=f"根据{city}各级行政机关政府信息公开工作年度报告汇总",
            website=website,
            site_name=site_name or f"“{city}人民政府”门户网站",
            office=office,
            contact=contact,
        ),
    )
    texts = {code: value_text(value, form.cells[code].type) for code, value in c.values.items()}
    narrative: dict[str, list[Paragraph]] = {}
    for section in form.sections:
        if section.blocks:
            _tables(doc, form, section, texts)
            if charts and section.number == 3:
                drawn, notes = _request_charts(doc, c, drafter, earlier or {}, year)
            continue
        paragraph(doc, [section.heading], HEADING1_STYLE)
        if section.narrative == "narrative.overview" or section.number == 1:
            written = drafter.overview()
        elif section.narrative == "narrative.other_matters":
            before, after = drafter.other_matters()
            _parts(doc, [Part(None, before)])
            rows = drafter.fee_rows()
            if rows and drafter.fee_figure is not None:
                _fee_table(doc, rows, drafter.fee_figure)
            _parts(doc, [Part(None, after)])
            narrative[section.narrative] = [*before, *after]
            continue
        else:
            written = drafter.problems()
        _parts(doc, written)
        narrative[section.narrative or f"section.{section.number}"] = [
            p
            for part in written
            for p in ([[Span(part.heading)]] if part.heading else []) + part.paragraphs
        ]
    _signature(doc, office, date)

    draft_report = c.report()
    draft_report.year = year
    for code, paragraphs in narrative.items():
        draft_report.narrative[code] = plain_text(paragraphs)
    issues = _draft_issues(None, title, draft_report)
    for code, report in sorted((reports or {}).items()):
        if code in names:
            issues += _draft_issues(code, names[code], report)
    provenance = prov.Provenance(
        title=title,
        date_rule=date_rule or (_date_text(date).text if date else "未给出，正文中待补充"),
        units=list(units) if units is not None else [_unit_record(u) for u in c.units],
        figures=[_figure_record(f, names) for f in book.figures],
        sentences=_sentence_records(gathered, names) if gathered else [],
        fees=prov.fee_records(fees or {}, names),
        zone=zone,
        comparison=_comparison_records(comparison, drafter),
        comparison_note=_comparison_note(comparison, year),
        charts=drawn,
        leaves=prov.leaf_records(c),  # units that came through offices one level down
    )
    log.info("drafted %s: %d figures, %d issues", title, len(book.figures), len(issues))
    return Draft(
        doc,
        title,
        issues,
        book.figures,
        dict(fees or {}),
        _placeholders(doc),
        provenance,
        charts=[f"{chart.number}　{chart.caption}" for chart in drawn if chart.number],
        notes=notes,
    )


# -- this year against last, and the figures -----------------------------------------------


def _comparison_records(
    comparison: YearOverYear | None, drafter: Drafter
) -> list[prov.ComparisonRecord]:
    if comparison is None or not comparison.has_last_year:
        return []
    written = {c.key for c in drafter.changes if c.comparable}
    keys = set(yoy.PARAGRAPH_KEYS)
    return [
        prov.ComparisonRecord(
            label=c.label,
            unit=c.unit,
            last="" if c.last is None else yoy.fmt(c.last),
            this="" if c.this is None else yoy.fmt(c.this),
            change="" if c.diff is None else yoy.fmt(c.diff),
            percent="" if c.percent is None else str(c.percent),
            written="写入正文" if c.key in written and c.key in keys else "未写入正文",
        )
        for c in comparison.changes
        if c.this is not None or c.last is not None
    ]


def _comparison_note(comparison: YearOverYear | None, year: int) -> str:
    if comparison is None:
        return f"未与上年比较：没有读取{year - 1}年度的数据（报告不是从数据库生成的）"
    if not comparison.has_last_year:
        return "正文未与上年比较：" + "".join(comparison.notes)
    said = "、".join(
        c.label for c in comparison.changes if c.comparable and c.key in yoy.PARAGRAPH_KEYS
    )
    missing = [
        c.label
        for c in comparison.changes
        if c.key in yoy.PARAGRAPH_KEYS and not c.comparable and c.this is not None
    ]
    text = f"上年数据：{comparison.source}。正文与上年比较的项目：{said or '无'}"
    if missing:
        text += f"；上年数据中没有、未作比较的项目：{'、'.join(missing)}"
    return text + "。" + "".join(comparison.notes)


FIGURE_WIDTH_MM = 150  # within the type area's 156 mm
_FIGURE_INCHES = FIGURE_WIDTH_MM / 25.4
NEW_RECEIVED = "requests.new_received.total"


def _request_charts(
    doc: Document,
    c: Consolidation,
    drafter: Drafter,
    earlier: Mapping[int, Mapping[str, Decimal | None]],
    year: int,
) -> tuple[list[prov.ChartRecord], list[str]]:
    """Section 三's figures: the city's applications by outcome over the years (when there is
    more than this year) and the ten units with most new applications (when at least two
    units had any). Returns the figures drawn (and, numberless, those left out and why) and
    what the coordinator must know: a figure that could not be drawn (no CJK font)."""
    from annual_report.documents import charts as ch

    whole = drafter.whole
    by_year = {y: f for y, f in earlier.items() if y < year and f.get("handled_total") is not None}
    by_year[year] = yoy.headline(c.values, c.form)
    wanted: list[tuple[str, str, Any]] = []
    drawn: list[prov.ChartRecord] = []
    if len(by_year) == 1:
        drawn.append(prov.ChartRecord("", "历年办理结果图", f"未画：只有{year}年度的数据"))
    else:
        years = sorted(by_year)[-5:]
        kept = {y: by_year[y] for y in years}
        wanted.append(
            (
                f"{years[0]}—{years[-1]}年{whole}政府信息公开申请办理结果",
                f"{year}年为本报告的汇总数据；"
                + "、".join(f"{y}年" for y in years if y != year)
                + f"取自数据库中该年度的{whole}数据（导入的已发布报告，或各单位已接收报告的汇总，"
                "与“与上年比较”所用相同）",
                lambda: ch.outcomes_chart(kept, title=None, size=(_FIGURE_INCHES, 3.3)),
            )
        )
    top = [
        (drafter.short(code), value) for code, _, value in c.contributors(NEW_RECEIVED, 10) if value
    ]
    if len(top) < 2:
        drawn.append(prov.ChartRecord("", "申请量最多的单位图", "未画：有新收申请的单位不足两个"))
    else:
        wanted.append(
            (
                f"{year}年新收政府信息公开申请最多的{len(top)}个单位",
                f"各单位表三“本年新收政府信息公开申请数量”的“总计”列（共{len(c.included)}个单位）",
                lambda: ch.top_units_chart(
                    top, title=None, size=(_FIGURE_INCHES, 0.3 * len(top) + 0.6)
                ),
            )
        )
    notes: list[str] = []
    for caption, source, draw in wanted:
        try:
            png = draw()
        except NianbaoError as exc:
            log.warning("figure not drawn (%s): %s", caption, exc)
            notes.append(f"图“{caption}”未能生成：{exc}")
            drawn.append(prov.ChartRecord("", caption, f"未能生成：{exc}"))
            continue
        number = sum(1 for d in drawn if d.number) + 1
        _figure(doc, png, f"图{number}　{caption}")
        drawn.append(prov.ChartRecord(f"图{number}", caption, source))
    return drawn, notes


def _figure(doc: Document, png: bytes, caption: str) -> None:
    """A picture as wide as ``FIGURE_WIDTH_MM``, centred, on one page with its caption below.
    The body's exact line pitch would clip an inline picture: its paragraph is single-spaced
    and off the grid."""
    para = doc.add_paragraph()
    _put(para._p.get_or_add_pPr(), "snapToGrid", _PPR_ORDER).set(qn("w:val"), "0")
    fmt = para.paragraph_format
    fmt.alignment = WD_ALIGN_PARAGRAPH.CENTER
    fmt.first_line_indent = Pt(0)
    fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
    fmt.keep_with_next = True
    para.add_run().add_picture(io.BytesIO(png), width=Mm(FIGURE_WIDTH_MM))
    title = paragraph(doc, [caption])
    title.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.first_line_indent = Pt(0)
    table_gap(doc)


def _unit_record(
    u: UnitOutcome,
    received_at: datetime | None = None,
    deadline: date | None = None,
    zone: tzinfo | None = None,
) -> prov.UnitRecord:
    """A consolidation outcome for the provenance file: the reason without the codes."""
    reason = "已纳入汇总" if u.included else u.reason
    late = None
    if received_at is not None and deadline is not None:
        late = days_late(received_at, deadline, zone or ZoneInfo(DEFAULT_ZONE))
    return prov.UnitRecord(
        name=u.name,
        kind=u.kind,
        included=u.included,
        reason=reason,
        version=u.version,
        received_at=received_at,
        deadline=deadline,
        days_late=late,
        errors=u.errors,
        warnings=u.warnings,
    )


def _figure_record(fig: Figure, names: Mapping[str, str]) -> prov.FigureRecord:
    shares = tuple(
        (names.get(x.unit, x.name), value_text(x.value, fig.cell_type)) for x in fig.contributions
    )
    return prov.FigureRecord(
        fig.number, fig.label, fig.text, fig.measure, fig.where, fig.note, shares
    )


_TOPIC_NAMES = {"总体": "一、总体情况", "问题": "五、存在的主要问题", "改进": "五、改进情况"}
_TOPIC_NAMES["其他"] = "六、其他需要报告的事项"


def _sentence_records(gathered: Any, names: Mapping[str, str]) -> list[prov.SentenceRecord]:
    """Every gathered statement with the city sentence it went into (written ones first)."""
    written = {id(p): gathered.sentence(p) for p in gathered.written}
    out = []
    for rank, point in enumerate(
        [*gathered.written, *(p for ps in gathered.points.values() for p in ps)]
    ):
        if rank >= len(gathered.written) and id(point) in written:
            continue
        sentence = written.get(id(point))
        part = _TOPIC_NAMES.get(point.topic, f"一、{point.topic}")
        for statement in point.statements:
            out.append(
                prov.SentenceRecord(
                    part, sentence, names.get(statement.unit, statement.unit), statement.original
                )
            )
    return out


def _fee_table(doc: Document, rows: list[tuple[str, str, FeeStatement]], total: Figure) -> None:
    cases = [s.cases for _, _, s in rows]
    body = [
        [str(i), name, "" if s.cases is None else str(s.cases), value_text(s.amount_yuan, "money")]
        for i, (_, name, s) in enumerate(rows, 1)
    ]
    body.append(
        [
            "",
            "合计",
            str(sum(n or 0 for n in cases)) if all(n is not None for n in cases) else "",
            total.text,
        ]
    )
    simple_table(
        doc,
        ["序号", "单位", "笔数", "金额（元）"],
        body,
        weights=[1, 6, 1.5, 2.5],
        align=[
            WD_ALIGN_PARAGRAPH.CENTER,
            WD_ALIGN_PARAGRAPH.LEFT,
            WD_ALIGN_PARAGRAPH.CENTER,
            WD_ALIGN_PARAGRAPH.RIGHT,
        ],
    )
    table_gap(doc)


DEFAULT_ZONE = "Asia/Shanghai"
APPROVAL_STATE = "consolidation.approved"  # set by the consolidate flow: {"at": ISO time}


def report_date(
    store: Store, campaign_id: str, *, zone: tzinfo | None = None, today: date | None = None
) -> tuple[date, str]:
    """The 成文日期 and the rule that chose it: the day the coordinator approved the
    consolidation; before approval, the day the draft is made (a draft is dated when written;
    the approved report takes the approval's date)."""
    zone = zone or ZoneInfo(DEFAULT_ZONE)
    approved = store.get_state(campaign_id, APPROVAL_STATE)
    if isinstance(approved, dict) and approved.get("at"):
        when = datetime.fromisoformat(approved["at"]).astimezone(zone).date()
        return when, f"{_date_text(when).text}：协调人批准汇总结果的日期"
    day = today or datetime.now(zone).date()
    return (
        day,
        f"{_date_text(day).text}：汇总结果尚未批准，取生成草稿的日期（批准后重新生成即取批准日期）",
    )


def provenance_path(report: str | Path) -> Path:
    """Where the provenance workbook of ``report.docx`` goes: ``report（数据来源）.xlsx``."""
    report = Path(report)
    return report.with_name(f"{report.stem}（数据来源）.xlsx")


def city_report_from_store(
    store: Store,
    campaign_id: str,
    *,
    office: str,
    contact: ReportContact | ContactLike | None = None,
    city: str | None = None,
    website: str | None = None,
    site_name: str | None = None,
    date: date | None = None,
    deadlines: Mapping[str, date] | None = None,
    zone: tzinfo | None = None,
    today: date | None = None,
) -> Draft:
    """Consolidate a campaign from the store and draft the city report from it. ``deadlines``
    (unit code → its deadline, the plan's) date each unit's lateness; without them the
    campaign's deadline does. Without ``date`` the rule of :func:`report_date` sets it. Last
    year and the earlier years come from the store's history (``history``)."""
    from annual_report.history import frames as history

    consolidation = consolidate_campaign(store, campaign_id)
    campaign = store.campaign(campaign_id)
    registry = store.registry(campaign_id)
    zone = zone or ZoneInfo(DEFAULT_ZONE)
    if date is None:
        date, rule = report_date(store, campaign_id, zone=zone, today=today)
    else:
        rule = f"{_date_text(date).text}：给定的日期"
    records = []
    for u in consolidation.units:
        received = store.submission(u.submission_id).received_at if u.submission_id else None
        deadline = (deadlines or {}).get(u.code) or campaign.deadline
        records.append(_unit_record(u, received, deadline, zone))
    return city_report(
        consolidation,
        city=city or campaign.city or registry.city,
        year=campaign.report_year,
        office=office,
        contact=contact,
        registry=registry,
        reports=unit_reports(store, consolidation),
        website=website,
        site_name=site_name,
        date=date,
        date_rule=rule,
        units=records,
        zone=zone,
        comparison=history.year_over_year(
            store,
            campaign.report_year,
            this=consolidation.values,
            form=consolidation.form,
            units=len(consolidation.included),
            cells=False,
        ),
        earlier=history.city_figures_by_year(
            store, years=range(campaign.report_year - 4, campaign.report_year)
        ),
    )


_MARK = re.compile(
    re.escape(PLACEHOLDER_OPEN)
    + r"(?:待补充|待核实)[：:][^"
    + re.escape(PLACEHOLDER_CLOSE)
    + r"]*"
    + re.escape(PLACEHOLDER_CLOSE)
)


def placeholders_in(path: str | Path) -> list[str]:
    """The placeholders still in a (possibly edited) report: ``【待补充：…】`` and
    ``【待核实：…】`` wherever they are (body, tables), whatever their style now."""
    import docx

    try:
        doc = docx.Document(str(path))
    except Exception as exc:  # python-docx raises several kinds for a file that is not .docx
        raise DocumentError(f"cannot read the document: {exc}", path=str(path)) from exc
    found = []
    for p in _all_paragraphs(doc):
        found += _MARK.findall(p.text)
    return found


# -- a department's report ---------------------------------------------------------------------

_PART_HEADING = re.compile(
    r"^(?:（[一二三四五六七八九十]+）|[一二三四五六七八九十]+、|\d+[.．、])?\s*(?P<name>\S{2,16})$"
)


def _department_paragraphs(
    doc: Document, text: str, section: Section, added: Mapping[str, str] | None = None
) -> None:
    """A unit's narrative as it wrote it: one paragraph a line, its part titles as headings;
    ``added`` paragraphs go at the end of their part (see :func:`narrative_lines`)."""
    for kind, line in narrative_lines(text, section, added):
        if kind == "missing":
            paragraph(doc, [placeholder(line)])
        else:
            paragraph(doc, [line], HEADING2_STYLE if kind == "heading" else BODY_STYLE)


def narrative_lines(
    text: str, section: Section, added: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """A unit's narrative section as ``(kind, text)``: ``heading`` (a part title),
    ``text``, or ``missing`` (nothing written). ``added`` (part name → paragraph) are written
    at the end of that part, or at the end of the section when the unit has no such part."""
    headings = set(section.headings)
    lines = [line.strip() for line in (text or "").splitlines()]
    lines = [line for line in lines if line and line not in headings]  # the heading repeated
    pending = {part: para for part, para in (added or {}).items() if para}
    out: list[tuple[str, str]] = []
    if not lines:
        out.append(("missing", f"{_heading_text(section)}（单位未填写）"))
    current = None
    for line in lines:
        name = part_name(line, section)
        if name is not None:
            if current is not None and current in pending:
                out.append(("text", pending.pop(current)))
            current = name
            out.append(("heading", line))
        else:
            out.append(("text", line))
    if current in pending:
        out.append(("text", pending.pop(current)))
    out += [("text", para) for part, para in pending.items()]
    return out


def part_name(line: str, section: Section) -> str | None:
    """The part of the section a line of a unit's narrative is the title of (``主动公开情况``,
    ``（一）依申请公开`` → ``依申请公开``), or None."""
    match = _PART_HEADING.match(line)
    name = match.group("name") if match else None
    if not name:
        return None
    for part in section.parts:
        if name in (part, f"{part}情况") or name.removesuffix("情况") == part:
            return part
    return None


def part_heading(line: str, section: Section) -> bool:
    """Whether a line of a unit's narrative is one of the section's part titles."""
    return part_name(line, section) is not None


def department_comparison(comparison: YearOverYear | None) -> dict[str, str]:
    """A unit's own figures against its last year, by the part of section 一 they belong to:
    ``依申请公开`` (applications, outcomes, reviews, lawsuits), ``主动公开`` (fees). Empty
    without last year: nothing is said."""
    if comparison is None or not comparison.has_last_year:
        return {}
    out = {}
    for part, keys in (("主动公开", FEE_KEYS), ("依申请公开", REQUEST_KEYS)):
        text = yoy.paragraph(comparison.changes, keys=keys)
        if text:
            out[part] = text
    return out


_DATE_LINE = re.compile(r"^(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日$")


def _split_signature(text: str) -> tuple[str, date | None]:
    """A narrative that ends with the unit's own signature and date (as published reports do):
    the text without them, and the date (the document signs itself)."""
    lines = text.rstrip().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return text, None
    match = _DATE_LINE.match(lines[-1].strip())
    if match is None:
        return text, None
    try:
        when = date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return text, None
    lines.pop()
    while lines and not lines[-1].strip():
        lines.pop()
    signer = lines[-1].strip() if lines else ""
    if signer and len(signer) <= 30 and not re.search(r"[。，；：,;:]", signer):
        lines.pop()  # the signing organ's name
    return "\n".join(lines), when


def department_report(
    report: Report,
    *,
    department_name: str,
    year: int | None = None,
    office: str | None = None,
    contact: ReportContact | ContactLike | None = None,
    website: str | None = None,
    site_name: str | None = None,
    date: date | None = None,
    comparison: YearOverYear | None = None,
) -> Draft:
    """A unit's own publishable report from its (accepted) submission: its narrative as written,
    its tables with its values as written (plain numbers only: ``12件`` prints ``12``), and
    (``comparison``: ``history.year_over_year`` of the unit) its headline figures against its
    last year at the end of 一（一）and 一（二）."""
    form = report.form
    year = year or report.year
    if year is None:
        raise DocumentError("the report year is unknown: give year=", department=department_name)
    title = f"{department_name}{year}{TITLE_REST}"
    doc = official_document(title=title, author=department_name)
    _title(doc, department_name, f"{year}{TITLE_REST}")
    who = office or department_name
    paragraph(
        doc,
        _preamble(
            form,
            year=year,
            compiled_by=who,
            compiled_from="",
            website=website,
            site_name=site_name,
            office=who,
            contact=contact,
        ),
    )
    texts = {}
    for code, spec in form.cells.items():
        entry = report.entries.get(code)
        texts[code] = written_text(entry.raw, entry.value, spec.type) if entry else ""
    last = max((s.number for s in form.sections if s.narrative), default=0)
    for section in form.sections:
        if section.blocks:
            _tables(doc, form, section, texts)
            continue
        paragraph(doc, [section.heading], HEADING1_STYLE)
        text = report.narrative.get(section.narrative or "", "")
        if section.number == last:
            text, signed = _split_signature(text)
            date = date or signed
        added = department_comparison(comparison) if section.number == 1 else None
        _department_paragraphs(doc, text, section, added)
    _signature(doc, department_name, date)
    issues = _draft_issues(report.department, department_name, report)
    fee = parse_fee_statement(report.narrative.get("narrative.other_matters"))
    fees = {report.department or department_name: fee}
    return Draft(doc, title, issues, [], fees, _placeholders(doc))


@dataclass(frozen=True)
class DepartmentSource:
    """What a department's publishable report is made of, read once from the store."""

    report: Report
    name: str
    year: int
    contact: ReportContact | ContactLike | None
    comparison: YearOverYear | None = None  # the unit against its own last year


def department_source(
    store: Store,
    campaign_id: str,
    code: str,
    *,
    submission_id: int | None = None,
    contact: ReportContact | ContactLike | None = None,
) -> DepartmentSource:
    """A department's accepted submission (or ``submission_id``, e.g. the one a receipt
    answers) with its name and the contact printed in its preamble."""
    if submission_id is None:
        accepted = [s for s in store.accepted_submissions(campaign_id) if s.department == code]
        if not accepted:
            raise DocumentError(
                "the department has no accepted submission", campaign=campaign_id, department=code
            )
        submission_id = accepted[0].id
    submission = store.submission(submission_id)
    if submission.department != code or submission.campaign != campaign_id:
        raise DocumentError(
            "the submission is not this department's",
            campaign=campaign_id,
            department=code,
            submission=submission_id,
        )
    from annual_report.history.frames import year_over_year

    report = store.report_from_submission(submission_id)
    dept = store.registry(campaign_id).get(code)
    name = dept.name if dept else code
    if contact is None and dept is not None and dept.contact is not None:
        contact = ReportContact(phone=dept.contact.phone, name=dept.contact.name)
    year = store.campaign(campaign_id).report_year
    values = {c: e.value for c, e in report.entries.items() if e.value is not None}
    comparison = year_over_year(store, year, code, this=values, form=report.form, cells=False)
    return DepartmentSource(report, name, year, contact, comparison)


def department_report_from_store(
    store: Store,
    campaign_id: str,
    code: str,
    *,
    submission_id: int | None = None,
    office: str | None = None,
    contact: ReportContact | ContactLike | None = None,
    website: str | None = None,
    site_name: str | None = None,
    date: date | None = None,
) -> Draft:
    """A department's report from its accepted submission (or from ``submission_id``, e.g. the
    one a receipt mail answers)."""
    source = department_source(
        store, campaign_id, code, submission_id=submission_id, contact=contact
    )
    return department_report(
        source.report,
        department_name=source.name,
        year=source.year,
        office=office,
        contact=source.contact,
        website=website,
        site_name=site_name,
        date=date,
        comparison=source.comparison,
    )
