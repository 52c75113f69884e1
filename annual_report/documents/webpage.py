"""A department's report as a static web page for its 政府信息公开专栏.

The same content as the Word document (``document.department_report``): title, preamble, the
six sections, the three tables in the national layout with merged headers (``rowspan`` /
``colspan`` from the same :func:`~annual_report.documents.layout.section_grid` the .docx and the
Excel template use), the signature. One self-contained HTML file: ``lang="zh-CN"``, no scripts,
no external resources, every text escaped; print CSS for A4. The tables also carry
``border``/``cellpadding`` attributes, so a site editor that strips the stylesheet on paste
still shows ruled tables.

    page = department_page(report, department_name="宜春市公安局", year=2021)
    Path("公安局.html").write_text(page, encoding="utf-8")
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, select_autoescape

from annual_report.documents.drafting import written_text
from annual_report.documents.layout import Span, full_width, section_grid
from annual_report.documents.report import (
    TITLE_REST,
    ContactLike,
    ReportContact,
    _preamble,
    _split_signature,
    department_comparison,
    department_source,
    narrative_lines,
)
from annual_report.errors import DocumentError
from annual_report.form.model import Form, Section
from annual_report.report import Report
from annual_report.store.base import Store

if TYPE_CHECKING:
    from annual_report.history.frames import YearOverYear


@dataclass(frozen=True)
class HtmlCell:
    text: str
    header: bool
    rowspan: int
    colspan: int
    css: str  # "label" / "row" / "num" / "corner"


@dataclass(frozen=True)
class HtmlTable:
    header_rows: int
    rows: tuple[tuple[HtmlCell, ...], ...]
    widths: tuple[float, ...]  # per cent of the table width


def html_table(form: Form, section: Section, texts: Mapping[str, str]) -> HtmlTable:
    """A section's table as rows of cells with their spans (covered positions left out)."""
    grid = section_grid(form, section)
    starts: dict[tuple[int, int], HtmlCell] = {}
    covered: set[tuple[int, int]] = set()
    for r1, c1, r2, c2, text, role in grid.labels:
        css = "row" if role == "row" and c1 == c2 == grid.row_cols - 1 else role
        if role == "corner" and len(text) > 12:
            css = "corner long"
        starts[(r1, c1)] = HtmlCell(full_width(text), True, r2 - r1 + 1, c2 - c1 + 1, css)
        covered |= {(r, c) for r in range(r1, r2 + 1) for c in range(c1, c2 + 1)}
    for r1, c1, r2, c2, code in grid.values:
        starts[(r1, c1)] = HtmlCell(texts.get(code, ""), False, r2 - r1 + 1, c2 - c1 + 1, "num")
        covered |= {(r, c) for r in range(r1, r2 + 1) for c in range(c1, c2 + 1)}
    rows = []
    for r in range(grid.rows):
        row = []
        for c in range(grid.cols):
            if (r, c) in starts:
                row.append(starts[(r, c)])
            elif (r, c) not in covered:
                row.append(HtmlCell("", False, 1, 1, "num"))
        rows.append(tuple(row))
    # label columns narrow, the innermost row labels wide, data columns share the rest
    weights = [6.0] * grid.row_cols + [10.0] * (grid.cols - grid.row_cols)
    if grid.row_cols:
        weights[grid.row_cols - 1] = 30.0 if grid.row_cols > 1 else 22.0
    total = sum(weights)
    return HtmlTable(grid.header_rows, tuple(rows), tuple(100 * w / total for w in weights))


@dataclass(frozen=True)
class Block:
    kind: str  # "h2" / "h3" / "p" / "table"
    text: str = ""
    table: HtmlTable | None = None


_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="nianbao">
<title>{{ title }}</title>
<style>
.nianbao-report{max-width:46em;margin:2em auto;padding:0 1em;color:#000;background:#fff;
 font:16pt/1.8 "仿宋_GB2312","FangSong_GB2312","仿宋","FangSong","STFangsong","Noto Serif CJK SC",
 "Source Han Serif SC",serif;text-align:justify}
.nianbao-report h1{font:22pt/1.6 "方正小标宋简体","FZXiaoBiaoSong-B05S","华文中宋","STZhongsong",
 "SimSun","Noto Serif CJK SC",serif;font-weight:bold;text-align:center;margin:0 0 1em}
.nianbao-report h2{font:16pt/1.8 "黑体","SimHei","Noto Sans CJK SC","Source Han Sans SC",
 sans-serif;margin:.6em 0 0;text-indent:2em}
.nianbao-report h3{font:16pt/1.8 "楷体_GB2312","KaiTi_GB2312","楷体","KaiTi","STKaiti",
 "Noto Serif CJK SC",serif;margin:0;text-indent:2em;font-weight:normal}
.nianbao-report p{margin:0;text-indent:2em}
.nianbao-report p.signature{text-align:right;text-indent:0;padding-right:2em}
.nianbao-report p.gap{height:1.8em}
.nianbao-report .todo{background:#ff0;font-weight:bold}
.nianbao-report table{width:100%;border-collapse:collapse;table-layout:fixed;margin:.5em 0 1em;
 font-size:10.5pt;line-height:1.4;text-align:center}
.nianbao-report th,.nianbao-report td{border:1px solid #000;padding:2px 3px;
 vertical-align:middle;font-weight:normal;word-break:break-all}
.nianbao-report th.row,.nianbao-report th.long{text-align:left}
.nianbao-report td.num{text-align:center;font-variant-numeric:tabular-nums}
@media print{
 @page{size:A4;margin:37mm 26mm 35mm 28mm}
 .nianbao-report{max-width:none;margin:0;padding:0}
 .nianbao-report thead{display:table-header-group}
 .nianbao-report tr,.nianbao-report h2,.nianbao-report h3{break-inside:avoid}
 .nianbao-report h2,.nianbao-report h3{break-after:avoid}
}
@media screen and (max-width:40em){.nianbao-report{font-size:12pt}
 .nianbao-report h1{font-size:16pt}.nianbao-report table{font-size:9pt}}
</style>
</head>
<body>
<article class="nianbao-report">
<h1>{{ title }}</h1>
{% for b in blocks -%}
{% if b.kind == "table" -%}
<table border="1" cellspacing="0" cellpadding="3">
<colgroup>{% for w in b.table.widths %}<col style="width:{{ '%.2f' % w }}%">{% endfor %}</colgroup>
{% for row in b.table.rows -%}
{% if loop.first and b.table.header_rows %}<thead>
{% elif loop.index0 == b.table.header_rows %}{% if b.table.header_rows %}</thead>
{% endif %}<tbody>
{% endif -%}
<tr>{% for c in row %}{% set tag = 'th' if c.header else 'td' %}<{{ tag }} class="{{ c.css }}"
{%- if c.rowspan > 1 %} rowspan="{{ c.rowspan }}"{% endif %}
{%- if c.colspan > 1 %} colspan="{{ c.colspan }}"{% endif %}>{{ c.text }}</{{ tag }}>
{%- endfor %}</tr>
{% endfor -%}
</tbody>
</table>
{% elif b.kind == "p" -%}
<p>{{ b.text }}</p>
{% elif b.kind == "todo" -%}
<p><span class="todo">{{ b.text }}</span></p>
{% elif b.kind == "signature" -%}
<p class="signature">{{ b.text }}</p>
{% elif b.kind == "gap" -%}
<p class="gap"></p>
{% else -%}
<{{ b.kind }}>{{ b.text }}</{{ b.kind }}>
{% endif -%}
{% endfor -%}
</article>
</body>
</html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_PAGE = _ENV.from_string(_TEMPLATE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain(text: str) -> str:
    return _CONTROL.sub("", text)


def _spans_text(spans: list[Span]) -> str:
    return "".join(s.shown for s in spans)


def department_page(
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
) -> str:
    """The department's report as one HTML page (see the module docstring); ``comparison``
    adds the unit's figures against its last year, as in the .docx."""
    form = report.form
    year = year or report.year
    if year is None:
        raise DocumentError("the report year is unknown: give year=", department=department_name)
    title = _plain(f"{department_name}{year}{TITLE_REST}")
    who = office or department_name
    blocks = [
        Block(
            "p",
            _plain(
                _spans_text(
                    _preamble(
                        form,
                        year=year,
                        compiled_by=who,
                        compiled_from="",
                        website=website,
                        site_name=site_name,
                        office=who,
                        contact=contact,
                    )
                )
            ),
        )
    ]
    texts = {}
    for code, spec in form.cells.items():
        entry = report.entries.get(code)
        texts[code] = written_text(entry.raw, entry.value, spec.type) if entry else ""
    last = max((s.number for s in form.sections if s.narrative), default=0)
    for section in form.sections:
        blocks.append(Block("h2", section.heading))
        if section.blocks:
            blocks.append(Block("table", table=html_table(form, section, texts)))
            continue
        text = report.narrative.get(section.narrative or "", "")
        if section.number == last:
            text, signed = _split_signature(text)
            date = date or signed
        added = department_comparison(comparison) if section.number == 1 else None
        blocks += _narrative_blocks(_plain(text), section, added)
    blocks.append(Block("gap"))
    blocks.append(Block("signature", _plain(department_name)))
    if date is not None:
        blocks.append(Block("signature", f"{date.year}年{date.month}月{date.day}日"))
    else:
        blocks.append(Block("todo", "【待补充：成文日期】"))
    return _PAGE.render(title=title, blocks=blocks)


def _narrative_blocks(
    text: str, section: Section, added: Mapping[str, str] | None = None
) -> list[Block]:
    kinds = {"heading": "h3", "text": "p", "missing": "todo"}
    return [
        Block(kinds[kind], f"【待补充：{line}】" if kind == "missing" else line)
        for kind, line in narrative_lines(text, section, added)
    ]


def department_page_from_store(
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
) -> str:
    """A department's page from its accepted submission (or ``submission_id``)."""
    source = department_source(
        store, campaign_id, code, submission_id=submission_id, contact=contact
    )
    return department_page(
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


def write_page(page: str, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise DocumentError(f"cannot write the page: {exc}", path=str(path)) from exc
    return path
