"""The official-document look (GB/T 9704-2012 《党政机关公文格式》) and the form's tables in Word.

A4, type area 156 mm × 225 mm (top margin 37 mm, binding margin 28 mm), 22 lines of 28 characters;
title 2号 方正小标宋简体, body 3号 仿宋_GB2312, level-1 headings 3号 黑体, level-2 3号 楷体_GB2312,
page numbers 4号 宋体 "— 1 —" at the outer edge. The fonts are named with the East-Asian attribute
(``w:rFonts w:eastAsia``) because the offices' PCs have them; elsewhere they fall back.

Tables are drawn from the same :func:`~annual_report.form.layout.layout` the Excel template uses,
so the
merged headers come from the form's label paths, never from labels written here.

Text from departments only ever goes into plain runs (``w:t``): nothing here builds a field code
or a formula from it. The one field in a document is the footer's ``PAGE``, built from constants.
"""

from __future__ import annotations

import copy
import functools
import io
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docx import Document as new_document
from docx.document import Document
from docx.enum.section import WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_COLOR_INDEX, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.styles.style import BaseStyle, ParagraphStyle
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from annual_report.errors import DocumentError
from annual_report.form.layout import Label, layout, sheet_name
from annual_report.form.model import Form, Section

log = logging.getLogger(__name__)

# -- GB/T 9704-2012 --------------------------------------------------------------------------

PAGE_WIDTH_MM = 210
PAGE_HEIGHT_MM = 297
TOP_MM = 37
LEFT_MM = 28  # binding side
TYPE_WIDTH_MM = 156
TYPE_HEIGHT_MM = 225
RIGHT_MM = PAGE_WIDTH_MM - LEFT_MM - TYPE_WIDTH_MM  # 26
BOTTOM_MM = PAGE_HEIGHT_MM - TOP_MM - TYPE_HEIGHT_MM  # 35
LINES = 22
CHARS = 28

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING1_FONT = "黑体"
HEADING2_FONT = "楷体_GB2312"
PAGE_NUMBER_FONT = "宋体"
TABLE_FONT = "仿宋_GB2312"
LATIN_FONT = "Times New Roman"

TITLE_PT = 22.0  # 2号
BODY_PT = 16.0  # 3号
PAGE_NUMBER_PT = 14.0  # 4号
TABLE_PT = 10.5  # 5号

_MM_PT = 72 / 25.4
TYPE_WIDTH_PT = TYPE_WIDTH_MM * _MM_PT
# 22 lines in 225 mm: 28.98 pt; offices' templates round it to 28.95 pt (579 twips).
LINE_PITCH_TWIPS = 579
LINE_PITCH_PT = LINE_PITCH_TWIPS / 20
# 28 characters in 156 mm: a 3号 character is 16 pt, the grid's pitch 15.79 pt. Word's character
# grid (docGrid linesAndChars) squeezes the text onto that pitch, but LibreOffice gives every
# character that is wider than a grid cell two cells (14 a line). So the page keeps a line grid
# only, and the body text is condensed by a quarter point: 28 characters then fit in both.
CHAR_PITCH_PT = TYPE_WIDTH_PT / CHARS
CONDENSE_TWIPS = -5  # w:spacing in twentieths of a point: 16 − 0.25 = 15.75 pt a character
assert CHARS * (BODY_PT + CONDENSE_TWIPS / 20) <= TYPE_WIDTH_PT < (CHARS + 1) * CHAR_PITCH_PT

TABLE_LINE_PT = 14.0
CELL_MARGIN_MM = 0.8
CELL_MARGIN_PT = CELL_MARGIN_MM * _MM_PT
CELL_PAD_PT = 1.5  # above and below the text in a cell

# Style names (English ids; Word shows them as they are).
TITLE_STYLE = "NB Title"
BODY_STYLE = "Normal"
HEADING1_STYLE = "NB Heading 1"
HEADING2_STYLE = "NB Heading 2"
TABLE_STYLE = "NB Table Text"
SMALL_TABLE_STYLE = "NB Table Small"  # the appendix: 小五
SIGNATURE_STYLE = "NB Signature"
SMALL_STYLE = "NB Small"
PLACEHOLDER_STYLE = "NB Placeholder"

# A marked place the coordinator must fill in or check before publishing.
PLACEHOLDER_OPEN = "【"
PLACEHOLDER_CLOSE = "】"

# Characters XML 1.0 cannot hold (a pasted form feed would make the file unreadable).
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def plain(text: str) -> str:
    """Department text made safe for a ``w:t``: XML-illegal control characters dropped."""
    return _XML_ILLEGAL.sub("", text)


_FULL_WIDTH = str.maketrans({"(": "（", ")": "）", ":": "：", ";": "；", ",": "，", "?": "？"})


def full_width(label: str) -> str:
    """Official labels use full-width ``（）：；，``; a form typed with ASCII ones prints right."""
    return label.translate(_FULL_WIDTH)


# -- fonts and styles --------------------------------------------------------------------------


def _rpr(element: object) -> Any:  # an lxml element of python-docx's oxml
    return element.get_or_add_rPr()  # type: ignore[attr-defined]


# Schema order of the children we add (Word rejects out-of-order properties).
_PPR_ORDER = (  # noqa: SIM905
    "pStyle keepNext keepLines pageBreakBefore framePr widowControl numPr suppressLineNumbers "
    "pBdr shd tabs suppressAutoHyphens kinsoku wordWrap overflowPunct topLinePunct autoSpaceDE "
    "autoSpaceDN bidi adjustRightInd snapToGrid spacing ind contextualSpacing mirrorIndents "
    "suppressOverlap jc textDirection textAlignment textboxTightWrap outlineLvl divId cnfStyle "
    "rPr sectPr pPrChange"
).split()
_RPR_TAIL = (  # noqa: SIM905  (the run properties from w:spacing on)
    "spacing w kern position sz szCs highlight u effect bdr shd fitText vertAlign rtl cs em "
    "lang eastAsianLayout specVanish oMath"
).split()
_TBLPR_ORDER = (  # noqa: SIM905
    "tblStyle tblpPr tblOverlap bidiVisual tblStyleRowBandSize tblStyleColBandSize tblW jc "
    "tblCellSpacing tblInd tblBorders shd tblLayout tblCellMar tblLook tblCaption tblDescription"
).split()


def _put(parent: object, tag: str, order: tuple[str, ...] | list[str]) -> Any:
    """The child ``w:<tag>`` of ``parent``, created in its schema position if missing."""
    found = parent.find(qn(f"w:{tag}"))  # type: ignore[attr-defined]
    if found is not None:
        return found
    element = OxmlElement(f"w:{tag}")
    later = order[order.index(tag) + 1 :]
    for child in parent:  # type: ignore[attr-defined]
        if child.tag in {qn(f"w:{t}") for t in later}:
            child.addprevious(element)
            break
    else:
        parent.append(element)  # type: ignore[attr-defined]
    return element


def set_fonts(element: object, east_asia: str, latin: str = LATIN_FONT) -> None:
    """Name the fonts of a style's or a run's ``w:rPr``: python-docx only sets ``w:ascii`` and
    ``w:hAnsi``; Chinese text is drawn with ``w:eastAsia``."""
    fonts = _rpr(element).get_or_add_rFonts()
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    fonts.set(qn("w:ascii"), latin)
    fonts.set(qn("w:hAnsi"), latin)
    fonts.set(qn("w:cs"), latin)
    fonts.set(qn("w:eastAsia"), east_asia)


def _set_lang(element: object) -> None:
    """zh-CN for East-Asian text: LibreOffice then picks the simplified-Chinese glyphs."""
    lang = _put(_rpr(element), "lang", _RPR_TAIL)
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")


def _condense(style: BaseStyle, twips: int) -> None:
    """Character spacing (``w:spacing`` in the run properties), in twentieths of a point."""
    _put(style.element.get_or_add_rPr(), "spacing", _RPR_TAIL).set(qn("w:val"), str(twips))


def _snap_to_grid(style: BaseStyle, on: bool) -> None:
    snap = _put(style.element.get_or_add_pPr(), "snapToGrid", _PPR_ORDER)
    snap.set(qn("w:val"), "1" if on else "0")


def _outline(style: BaseStyle, level: int) -> None:
    outline = _put(style.element.get_or_add_pPr(), "outlineLvl", _PPR_ORDER)
    outline.set(qn("w:val"), str(level))


def _paragraph_style(
    doc: Document,
    name: str,
    font: str,
    size: float,
    *,
    bold: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = WD_ALIGN_PARAGRAPH.JUSTIFY,
    indent_chars: float = 0,
    line_pt: float = LINE_PITCH_PT,
    grid: bool = True,
    condense: int = 0,
) -> ParagraphStyle:
    styles = doc.styles
    style = (
        styles[name]
        if name in [s.name for s in styles]
        else styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    )
    if name != BODY_STYLE:
        style.base_style = styles[BODY_STYLE]
        style.quick_style = True
    style.font.size = Pt(size)
    style.font.bold = bold
    set_fonts(style.element, font)
    _set_lang(style.element)
    fmt = style.paragraph_format
    fmt.alignment = align
    _condense(style, condense)
    pitch = size + condense / 20
    fmt.first_line_indent = Pt(pitch * indent_chars) if indent_chars else Pt(0)
    fmt.left_indent = Pt(0)
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = Pt(line_pt)
    fmt.widow_control = True
    _snap_to_grid(style, grid)
    return style


def _defaults(doc: Document) -> None:
    """Document defaults: the body font, zh-CN, no space after paragraphs."""
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    fonts = rpr.find(qn("w:rFonts"))
    for key in list(fonts.attrib):
        del fonts.attrib[key]
    fonts.set(qn("w:ascii"), LATIN_FONT)
    fonts.set(qn("w:hAnsi"), LATIN_FONT)
    fonts.set(qn("w:cs"), LATIN_FONT)
    fonts.set(qn("w:eastAsia"), BODY_FONT)
    lang = rpr.find(qn("w:lang"))
    lang.set(qn("w:eastAsia"), "zh-CN")
    spacing = defaults.find(qn("w:pPrDefault")).find(qn("w:pPr")).find(qn("w:spacing"))
    spacing.set(qn("w:after"), "0")
    spacing.set(qn("w:line"), str(LINE_PITCH_TWIPS))
    spacing.set(qn("w:lineRule"), "exact")


def _styles(doc: Document) -> None:
    _defaults(doc)
    _paragraph_style(doc, BODY_STYLE, BODY_FONT, BODY_PT, indent_chars=2, condense=CONDENSE_TWIPS)
    title = _paragraph_style(
        doc,
        TITLE_STYLE,
        TITLE_FONT,
        TITLE_PT,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        line_pt=35.0,
        grid=False,
    )
    title.paragraph_format.keep_with_next = True
    _outline(title, 0)
    for name, font, level in (
        (HEADING1_STYLE, HEADING1_FONT, 1),
        (HEADING2_STYLE, HEADING2_FONT, 2),
    ):
        style = _paragraph_style(doc, name, font, BODY_PT, indent_chars=2, condense=CONDENSE_TWIPS)
        style.paragraph_format.keep_with_next = True
        _outline(style, level)
    _paragraph_style(
        doc, TABLE_STYLE, TABLE_FONT, TABLE_PT, align=None, line_pt=TABLE_LINE_PT, grid=False
    )
    _paragraph_style(doc, SMALL_TABLE_STYLE, TABLE_FONT, 9.0, align=None, line_pt=12.0, grid=False)
    _paragraph_style(doc, SMALL_STYLE, BODY_FONT, 12.0, indent_chars=0, line_pt=20.0, grid=False)
    signature = _paragraph_style(
        doc,
        SIGNATURE_STYLE,
        BODY_FONT,
        BODY_PT,
        align=WD_ALIGN_PARAGRAPH.RIGHT,
        condense=CONDENSE_TWIPS,
    )
    signature.paragraph_format.right_indent = Pt(BODY_PT * 2)
    mark = doc.styles.add_style(PLACEHOLDER_STYLE, WD_STYLE_TYPE.CHARACTER)
    mark.font.highlight_color = WD_COLOR_INDEX.YELLOW
    mark.font.bold = True


# -- page ------------------------------------------------------------------------------------


def _page_setup(doc: Document) -> None:
    section = doc.sections[0]
    section.start_type = WD_SECTION.NEW_PAGE
    section.page_width = Mm(PAGE_WIDTH_MM)
    section.page_height = Mm(PAGE_HEIGHT_MM)
    section.top_margin = Mm(TOP_MM)
    section.bottom_margin = Mm(BOTTOM_MM)
    section.left_margin = Mm(LEFT_MM)
    section.right_margin = Mm(RIGHT_MM)
    section.gutter = Mm(0)
    section.header_distance = Mm(15)
    # The page number's 一字线 sits 7 mm below the type area: footer text ≈ 5 mm tall.
    section.footer_distance = Mm(BOTTOM_MM - 7 - 5.5)
    sect = section._sectPr
    grid = sect.find(qn("w:docGrid"))
    if grid is None:
        grid = OxmlElement("w:docGrid")
        sect.append(grid)
    grid.set(qn("w:type"), "lines")
    grid.set(qn("w:linePitch"), str(LINE_PITCH_TWIPS))
    grid.attrib.pop(qn("w:charSpace"), None)
    _page_numbers(doc)


def _field(paragraph: Paragraph, instruction: str) -> None:
    """A field built from a constant instruction (only ``PAGE``; never department text)."""
    for kind, text in (("begin", None), ("instr", instruction), ("separate", None), ("end", None)):
        run = paragraph.add_run()
        if kind == "instr":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {text} "
            run._r.append(instr)
        else:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._r.append(char)
        if kind == "separate":
            result = paragraph.add_run("1")
            _page_number_font(result)
        _page_number_font(run)


def _page_number_font(run: object) -> None:
    run.font.size = Pt(PAGE_NUMBER_PT)  # type: ignore[attr-defined]
    set_fonts(run._r, PAGE_NUMBER_FONT, PAGE_NUMBER_FONT)  # type: ignore[attr-defined]
    _set_lang(run._r)  # type: ignore[attr-defined]


def _page_number_paragraph(paragraph: Paragraph, *, odd: bool) -> None:
    fmt = paragraph.paragraph_format
    fmt.first_line_indent = Pt(0)
    fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
    # 单页码居右空一字，双页码居左空一字
    fmt.alignment = WD_ALIGN_PARAGRAPH.RIGHT if odd else WD_ALIGN_PARAGRAPH.LEFT
    if odd:
        fmt.right_indent = Pt(PAGE_NUMBER_PT)
    else:
        fmt.left_indent = Pt(PAGE_NUMBER_PT)
    _page_number_font(paragraph.add_run("— "))
    _field(paragraph, "PAGE")
    _page_number_font(paragraph.add_run(" —"))


def _page_numbers(doc: Document) -> None:
    doc.settings.odd_and_even_pages_header_footer = True
    section = doc.sections[0]
    _page_number_paragraph(section.footer.paragraphs[0], odd=True)
    _page_number_paragraph(section.even_page_footer.paragraphs[0], odd=False)


@functools.lru_cache(maxsize=1)
def _blank_official() -> bytes:
    """The empty official document as a file: its styles and page are the same every time,
    and reading them back costs a fifth of writing them through python-docx."""
    doc = new_document()
    _styles(doc)
    _page_setup(doc)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def official_document(*, title: str, author: str | None = None) -> Document:
    """An empty document with the GB/T 9704 page, styles and page numbers."""
    doc = new_document(io.BytesIO(_blank_official()))
    props = doc.core_properties
    props.title = plain(title)
    props.author = plain(author or "")
    props.language = "zh-CN"
    props.comments = "nianbao"
    # The default template opens with no paragraphs; keep it that way.
    return doc


# -- text ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A piece of a paragraph: plain text, or a marked placeholder to fill in or check."""

    text: str
    placeholder: bool = False

    @property
    def shown(self) -> str:
        if self.placeholder:
            return f"{PLACEHOLDER_OPEN}{self.text}{PLACEHOLDER_CLOSE}"
        return self.text


def add_runs(paragraph: Paragraph, spans: Iterable[Span | str]) -> Paragraph:
    """Append text as plain runs (``w:t`` only: line breaks and tabs become spaces)."""
    for span in spans:
        if isinstance(span, str):
            span = Span(span)
        text = plain(span.shown).replace("\r", "").replace("\n", " ").replace("\t", " ")
        if not text:
            continue
        run = paragraph.add_run(text)
        _set_lang(run._r)  # on every run too: a paste into another document keeps it
        if span.placeholder:
            run._r.style = _style_id(PLACEHOLDER_STYLE)
            run.font.highlight_color = WD_COLOR_INDEX.YELLOW  # LibreOffice ignores it in styles
    return paragraph


def paragraph(doc: Document, spans: Iterable[Span | str], style: str = BODY_STYLE) -> Paragraph:
    para = doc.add_paragraph()
    if style != BODY_STYLE:  # Normal is the default: no pStyle
        _set_style(para, style)
    return add_runs(para, spans)


def page_break(doc: Document) -> None:
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


# -- tables ----------------------------------------------------------------------------------


def text_width(text: str, size: float) -> float:
    """Printed width of ``text`` in points (full-width characters one em, others half)."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else size * 0.55 for ch in text)


def _cell_width(tc: _Cell, twips: int) -> None:
    tcpr = tc._tc.get_or_add_tcPr()
    width = tcpr.find(qn("w:tcW"))
    if width is None:
        width = OxmlElement("w:tcW")
        tcpr.insert(0, width)
    width.set(qn("w:w"), str(twips))
    width.set(qn("w:type"), "dxa")


def _table_properties(table: Table, widths: list[float]) -> None:
    """Fixed layout, full type-area width, thin borders, tight cell margins."""
    tbl = table._tbl
    tblpr = tbl.tblPr
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for tag in ("tblW", "tblBorders", "tblCellMar", "tblInd"):
        old = tblpr.find(qn(f"w:{tag}"))
        if old is not None:
            tblpr.remove(old)
    width = _put(tblpr, "tblW", _TBLPR_ORDER)
    width.set(qn("w:w"), str(sum(round(w * 20) for w in widths)))
    width.set(qn("w:type"), "dxa")
    _put(tblpr, "tblLayout", _TBLPR_ORDER).set(qn("w:type"), "fixed")
    borders = _put(tblpr, "tblBorders", _TBLPR_ORDER)
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        edge = OxmlElement(f"w:{side}")
        edge.set(qn("w:val"), "single")
        edge.set(qn("w:sz"), "4")
        edge.set(qn("w:space"), "0")
        edge.set(qn("w:color"), "000000")
        borders.append(edge)
    margins = _put(tblpr, "tblCellMar", _TBLPR_ORDER)
    for side in ("top", "left", "bottom", "right"):  # schema order
        edge = OxmlElement(f"w:{side}")
        pad = CELL_MARGIN_PT if side in ("left", "right") else CELL_PAD_PT
        edge.set(qn("w:w"), str(round(pad * 20)))
        edge.set(qn("w:type"), "dxa")
        margins.append(edge)
    grid = tbl.tblGrid
    for col, w in zip(grid.findall(qn("w:gridCol")), widths, strict=True):
        col.set(qn("w:w"), str(round(w * 20)))


def _row_flags(table: Table, header_rows: int) -> None:
    """Header rows repeat on every page; no row is split across pages."""
    for i, row in enumerate(table.rows):
        trpr = row._tr.get_or_add_trPr()
        trpr.append(OxmlElement("w:cantSplit"))
        if i < header_rows:
            trpr.append(OxmlElement("w:tblHeader"))


def _style_id(name: str) -> str:
    """Our styles' ids are their names without spaces (python-docx's rule for added styles);
    setting ``pStyle`` directly spares python-docx's scan of every style per paragraph."""
    return name.replace(" ", "")


def _set_style(para: Paragraph, name: str) -> None:
    para._p.get_or_add_pPr().get_or_add_pStyle().val = _style_id(name)


def _fill(
    cell: _Cell,
    text: str,
    *,
    align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.CENTER,
    bold: bool = False,
    style: str = TABLE_STYLE,
) -> None:
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    para = cell.paragraphs[0]
    _set_style(para, style)
    para.paragraph_format.alignment = align
    add_runs(para, [text])
    if bold:
        for run in para.runs:
            run.bold = True


def simple_table(
    doc: Document,
    header: list[str],
    rows: list[list[str]],
    *,
    weights: list[float],
    align: list[WD_ALIGN_PARAGRAPH] | None = None,
    style: str = TABLE_STYLE,
) -> Table:
    """A plain bordered table across the type area (appendix, fee list); texts are plain runs."""
    total = sum(weights)
    widths = [TYPE_WIDTH_PT * w / total for w in weights]
    table = doc.add_table(rows=1 + len(rows), cols=len(header))
    _table_properties(table, widths)
    for r, texts in enumerate([header, *rows]):
        for c, text in enumerate(texts):
            cell = table.cell(r, c)
            _cell_width(cell, round(widths[c] * 20))
            how = WD_ALIGN_PARAGRAPH.CENTER if r == 0 or align is None else align[c]
            _fill(cell, text, align=how, bold=r == 0, style=style)
    _row_flags(table, 1)
    return table


@dataclass(frozen=True)
class _Grid:
    """A form section's table as a grid: label and value areas in 0-based table coordinates."""

    rows: int
    cols: int
    row_cols: int
    header_rows: int
    labels: tuple[tuple[int, int, int, int, str, str], ...]  # r1, c1, r2, c2, text, role
    values: tuple[tuple[int, int, int, int, str], ...]  # r1, c1, r2, c2, code


_TABLE_ROLES = ("caption", "corner", "column", "row")


def section_grid(form: Form, section: Section) -> _Grid:
    """The section's table as the Excel template lays it out, minus the live check cells."""
    sheet = layout(form).sheet(sheet_name(section))
    labels: list[Label] = [lb for lb in sheet.labels if lb.role in _TABLE_ROLES]
    codes = [c.code for b in section.blocks for c in b.cells]
    areas = [layout(form).area(code) for code in codes]
    top = min([*(lb.area.min_row for lb in labels), *(a.min_row for a in areas)])
    bottom = max([*(lb.area.max_row for lb in labels), *(a.max_row for a in areas)])
    right = max([*(lb.area.max_col for lb in labels), *(a.max_col for a in areas)])
    row_cols = max(b.row_depth for b in section.blocks)
    first_values = min(a.min_row for a in areas)
    header_rows = first_values - top if len(section.blocks) == 1 else 0
    return _Grid(
        rows=bottom - top + 1,
        cols=right,
        row_cols=row_cols,
        header_rows=header_rows,
        labels=tuple(
            (
                lb.area.min_row - top,
                lb.area.min_col - 1,
                lb.area.max_row - top,
                lb.area.max_col - 1,
                full_width(lb.text),
                lb.role,
            )
            for lb in labels
        ),
        values=tuple(
            (a.min_row - top, a.min_col - 1, a.max_row - top, a.max_col - 1, code)
            for code, a in zip(codes, areas, strict=True)
        ),
    )


def _grid_widths(grid: _Grid, texts: Mapping[str, str], size: float) -> list[float]:
    """Column widths (pt) that fill the type area: row-group columns narrow, data
    columns wide enough for their numbers and their headers in three lines, the innermost row
    labels in as few lines as that leaves room for, the rest shared by the data columns."""
    pad = 2 * CELL_MARGIN_PT + 2
    widths = [0.0] * grid.cols
    for c in range(grid.row_cols - 1):
        # the outer group ("三、本年度办理结果") two characters wide; inner ones ("（三）不予公开")
        # wide enough for two lines, so the numbering bracket is not broken up
        chars = 2
        if c:
            most = max(
                (
                    len(t)
                    for _, c1, _, c2, t, role in grid.labels
                    if role == "row" and c1 == c2 == c
                ),
                default=2,
            )
            chars = min(4, max(2, math.ceil(most / 2)))
        widths[c] = chars * size + pad
    data = range(grid.row_cols, grid.cols)
    need: dict[int, float] = {c: 2 * size + pad for c in data}
    for _, c1, _, c2, code in grid.values:
        if c1 == c2:
            need[c1] = max(need[c1], text_width(texts.get(code, ""), size) + pad)
    for _, c1, _, c2, text, role in grid.labels:
        if role == "column" and c1 == c2:
            lines = 1 if len(text) <= 3 else 3  # "自然人" on one line, "社会公益组织" on three
            need[c1] = max(need[c1], text_width(text, size) / lines + pad)
    for c in data:
        widths[c] = need[c]
    if grid.row_cols:
        last = grid.row_cols - 1
        longest = max(
            (
                text_width(t, size)
                for _, c1, _, c2, t, role in grid.labels
                if role == "row" and c1 == c2 == last
            ),
            default=4 * size,
        )
        room = TYPE_WIDTH_PT - sum(widths)
        widths[last] = max(room, 4 * size + pad)
        for lines in (1, 2, 3, 4):  # as few lines as leave the data columns their minimum
            if longest / lines + pad <= room:
                widths[last] = longest / lines + pad
                break
    spare = TYPE_WIDTH_PT - sum(widths)
    if spare > 0 and len(data):
        for c in data:
            widths[c] += spare / len(data)
    elif spare < 0:  # too many columns: shrink everything in proportion
        scale = TYPE_WIDTH_PT / sum(widths)
        widths = [w * scale for w in widths]
    return widths


def _draw_table(doc: Document, grid: _Grid, texts: Mapping[str, str], widths: list[float]) -> Table:
    """The section's table built cell by cell through python-docx: the reference drawing, and
    how :func:`form_table`'s template is made (slow: python-docx finds a cell, merges and
    writes in time that grows with the table)."""
    table = doc.add_table(rows=grid.rows, cols=grid.cols)
    _table_properties(table, widths)
    for row in table.rows:
        for c, cell in enumerate(row.cells):
            _cell_width(cell, round(widths[c] * 20))
    cells: list[tuple[int, int, int, int, Callable[[_Cell], None]]] = []
    for r1, c1, r2, c2, text, role in grid.labels:
        if role == "row" and c2 == grid.row_cols - 1 and c1 == c2:
            how = WD_ALIGN_PARAGRAPH.LEFT
        else:
            how = WD_ALIGN_PARAGRAPH.CENTER
        if role == "corner" and len(text) > 12:
            how = WD_ALIGN_PARAGRAPH.LEFT

        def put(cell: _Cell, text: str = text, how: WD_ALIGN_PARAGRAPH = how) -> None:
            _fill(cell, text, align=how)

        cells.append((r1, c1, r2, c2, put))
    for r1, c1, r2, c2, code in grid.values:

        def put_value(cell: _Cell, code: str = code) -> None:
            _fill(cell, texts.get(code, ""))

        cells.append((r1, c1, r2, c2, put_value))
    for r1, c1, r2, c2, _fn in cells:  # merge everything first, then write
        if (r1, c1) != (r2, c2):
            table.cell(r1, c1).merge(table.cell(r2, c2))
    grid_cells = table._cells  # once: python-docx rebuilds this list on every table.cell()
    for r1, c1, _, _, write in cells:
        write(grid_cells[r1 * grid.cols + c1])
    for p in table._tbl.iter(qn("w:p")):  # cells no label covers (none in the national forms)
        ppr = p.find(qn("w:pPr"))
        if ppr is None or ppr.find(qn("w:pStyle")) is None:
            _set_style(Paragraph(p, table), TABLE_STYLE)
    _row_flags(table, grid.header_rows)
    return table


@dataclass(frozen=True)
class _TableTemplate:
    """A section's table drawn once with its labels and empty value cells: ``columns`` is each
    ``w:tc``'s first grid column and span (document order), ``values`` the ``w:tc`` index of
    each value cell's code."""

    tbl: Any
    columns: tuple[tuple[int, int], ...]
    values: tuple[tuple[int, str], ...]


@functools.lru_cache(maxsize=64)
def _table_template(grid: _Grid) -> _TableTemplate:
    table = _draw_table(new_document(), grid, {}, [TYPE_WIDTH_PT / grid.cols] * grid.cols)
    tbl = table._tbl
    tbl.getparent().remove(tbl)
    columns: list[tuple[int, int]] = []
    at: dict[tuple[int, int], int] = {}
    for r, tr in enumerate(tbl.iterchildren(qn("w:tr"))):
        col = 0
        for tc in tr.iterchildren(qn("w:tc")):
            at[(r, col)] = len(columns)
            columns.append((col, tc.grid_span))
            col += tc.grid_span
    values = tuple((at[(r1, c1)], code) for r1, c1, _, _, code in grid.values)
    return _TableTemplate(tbl, tuple(columns), values)


_COPYING = threading.Lock()  # lxml trees are copied from one thread at a time
_VALUE_RUNS: dict[str, Any] = {}  # a value's text → its run, as add_runs writes it


def _value_run(text: str) -> Any:
    """The ``w:r`` :func:`add_runs` writes for ``text`` (None when it writes none)."""
    if text in _VALUE_RUNS:
        return _VALUE_RUNS[text]
    scratch = OxmlElement("w:p")
    add_runs(Paragraph(scratch, None), [text])  # type: ignore[arg-type]
    run = scratch[0] if len(scratch) else None
    if len(_VALUE_RUNS) > 4096:  # numbers repeat; free text in a value cell is rare
        _VALUE_RUNS.clear()
    _VALUE_RUNS[text] = run
    return run


def form_table(
    doc: Document,
    form: Form,
    section: Section,
    texts: Mapping[str, str],
    *,
    size: float = TABLE_PT,
) -> Table:
    """A section's table in the national layout: merged headers from the form's label paths,
    ``texts`` (code → exact value text) in the value cells.

    The table is :func:`_draw_table`'s, made once per layout and copied: only the widths
    (which follow the values' lengths) and the value runs are written per document."""
    grid = section_grid(form, section)
    twips = [round(w * 20) for w in _grid_widths(grid, texts, size)]
    template = _table_template(grid)
    with _COPYING:
        tbl = copy.deepcopy(template.tbl)
        runs = [(i, _value_run(texts.get(code, ""))) for i, code in template.values]
        runs = [(i, copy.deepcopy(run)) for i, run in runs if run is not None]
    tbl.tblPr.find(qn("w:tblW")).set(qn("w:w"), str(sum(twips)))
    for col, w in zip(tbl.tblGrid.findall(qn("w:gridCol")), twips, strict=True):
        col.set(qn("w:w"), str(w))
    tcs = list(tbl.iter(qn("w:tc")))
    for tc, (col, span) in zip(tcs, template.columns, strict=True):
        tc.tcPr.find(qn("w:tcW")).set(qn("w:w"), str(sum(twips[col : col + span])))
    for i, run in runs:
        tcs[i].find(qn("w:p")).append(run)
    doc.element.body._insert_tbl(tbl)
    return Table(tbl, doc._body)


def table_gap(doc: Document) -> None:
    """A small empty line after a table (tables otherwise run into the next heading)."""
    paragraph(doc, [], SMALL_STYLE)  # pStyle set directly: no scan of the styles


# -- files -----------------------------------------------------------------------------------


def write_docx(document: Document, path: str | Path) -> Path:
    """Save ``document`` to ``path`` (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        document.save(str(path))
    except OSError as exc:
        raise DocumentError(f"cannot write the document: {exc}", path=str(path)) from exc
    log.info("wrote %s", path)
    return path


# Where the offices' fonts are missing (as on a Debian server), LibreOffice's replacement table
# draws the Song/FangSong faces with a serif CJK font and 黑体 with a sans one instead of one
# fallback for all. Only fonts fontconfig does not know are replaced.
FONT_FALLBACKS = {
    TITLE_FONT: "Noto Serif CJK SC",
    BODY_FONT: "Noto Serif CJK SC",
    HEADING2_FONT: "Noto Serif CJK SC",
    PAGE_NUMBER_FONT: "Noto Serif CJK SC",
    HEADING1_FONT: "Noto Sans CJK SC",
}
GB_FONTS = (TITLE_FONT, BODY_FONT, HEADING1_FONT, HEADING2_FONT)

# Text that says nothing of its language (every cell of an .xlsx: nothing openpyxl can write
# changes that, neither a GB2312 charset nor the core language) is drawn in the profile's
# default Asian language, which follows the machine's locale: under ja_JP the Noto CJK
# collection's Japanese glyphs. The conversion profile says zh-CN.
CJK_LOCALE = "zh-CN"


def _missing_fonts(names: Iterable[str]) -> list[str]:
    """The fonts fontconfig does not have (none when fc-list is not there to ask)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    missing = []
    for name in names:
        try:
            found = subprocess.run(
                [fc_list, f":family={name}", "family"], capture_output=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return []
        if not found:
            missing.append(name)
    return missing


def font_substitutions() -> dict[str, str]:
    """The GB fonts the documents name that this machine lacks, and what the PDF uses instead
    (``{"仿宋_GB2312": "Noto Serif CJK SC", …}``; empty when all are installed)."""
    missing = set(_missing_fonts(GB_FONTS))
    return {name: FONT_FALLBACKS[name] for name in GB_FONTS if name in missing}


def _profile_settings(profile: Path) -> None:
    """A fresh LibreOffice profile: zh-CN as the default Asian language, and the font
    replacement table for the missing fonts."""
    missing = _missing_fonts(FONT_FALLBACKS)
    pairs = "".join(
        f'<node oor:name="nb{i}" oor:op="replace">'
        '<prop oor:name="Always" oor:op="fuse"><value>true</value></prop>'
        '<prop oor:name="OnScreenOnly" oor:op="fuse"><value>false</value></prop>'
        f'<prop oor:name="ReplaceFont" oor:op="fuse"><value>{name}</value></prop>'
        f'<prop oor:name="SubstituteFont" oor:op="fuse"><value>{fallback}</value></prop>'
        "</node>"
        for i, (name, fallback) in enumerate(FONT_FALLBACKS.items())
        if name in missing
    )
    user = profile / "user"
    user.mkdir(parents=True, exist_ok=True)
    (user / "registrymodifications.xcu").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        '<item oor:path="/org.openoffice.Office.Linguistic/General">'
        f'<prop oor:name="DefaultLocale_CJK" oor:op="fuse"><value>{CJK_LOCALE}</value></prop>'
        "</item>\n"
        '<item oor:path="/org.openoffice.Office.Common/Font/Substitution">'
        '<prop oor:name="Replacement" oor:op="fuse"><value>true</value></prop></item>\n'
        '<item oor:path="/org.openoffice.Office.Common/Font/Substitution/FontPairs">'
        f"{pairs}</item>\n"
        "</oor:items>\n",
        encoding="utf-8",
    )


_PDF_FILTERS = {".docx": "pdf:writer_pdf_Export", ".xlsx": "pdf:calc_pdf_Export"}


def soffice() -> str | None:
    """The LibreOffice binary, if installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_pdf(
    docx_path: str | Path, out_dir: str | Path | None = None, *, timeout: float = 180
) -> Path:
    """Convert a .docx (or an .xlsx) to PDF with LibreOffice (headless, a private profile per
    call so parallel conversions do not collide). Needs LibreOffice Writer (Debian:
    libreoffice-writer-nogui), and Calc for a workbook."""
    source = Path(docx_path)
    if not source.is_file():
        raise DocumentError("no such document", path=str(source))
    binary = soffice()
    if binary is None:
        raise DocumentError(
            "LibreOffice (soffice) is not installed: cannot make a PDF",
            hint="apt-get install libreoffice-writer-nogui",
        )
    out = Path(out_dir) if out_dir is not None else source.parent
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{source.stem}.pdf"
    profile = Path(tempfile.mkdtemp(prefix="nianbao-lo-"))
    try:
        _profile_settings(profile)
        env = {**os.environ, "HOME": str(profile)}
        command = [
            binary,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            _PDF_FILTERS.get(source.suffix.lower(), "pdf"),
            "--outdir",
            str(out),
            str(source),
        ]
        started = target.stat().st_mtime_ns if target.exists() else None
        try:
            result = subprocess.run(
                command, env=env, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise DocumentError(
                "LibreOffice did not finish the PDF in time", path=str(source), timeout=timeout
            ) from None
        done = target.exists() and target.stat().st_mtime_ns != started
        if result.returncode != 0 or not done:
            said = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
            raise DocumentError(
                "LibreOffice could not convert the document to PDF "
                "(is LibreOffice Writer installed? Debian: libreoffice-writer-nogui)",
                path=str(source),
                soffice=said[-300:] or None,
            )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    log.info("converted %s to %s", source, target)
    return target
