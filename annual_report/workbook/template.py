"""The department template: an .xlsx in the national layout that a clerk fills in and mails back.

Everything is driven by the :class:`~annual_report.form.model.Form` and its layout (``layout.py``):
every
input cell carries a workbook-scoped defined name equal to its canonical code, input cells
are unlocked and validated, live check cells evaluate the form's ``sum_equal`` rules (R1–R4) as
the clerk types, and a very hidden ``_meta`` sheet identifies the file whatever its name.

The merger reuses :func:`build_workbook` for the consolidated report (``values`` and ``title``,
no ``meta``) and appends its own sheets.

What a LibreOffice re-save does (tested): formulas are computed, names, values, validation,
protection and merges survive; the ``_meta`` sheet becomes merely ``hidden`` (not very hidden),
and ``<definedName>`` elements gain attributes before ``name=`` (``function="false" hidden=…``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from copy import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.cell.cell import Cell as XlCell
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.protection import SheetProtection
from openpyxl.worksheet.worksheet import Worksheet

from annual_report.errors import FormError
from annual_report.form.cellref import quote_sheet
from annual_report.form.layout import (
    META_KEYS,
    Area,
    Check,
    Layout,
    Position,
    SheetLayout,
    layout,
    text_height,
)
from annual_report.form.model import CellType, Form

log = logging.getLogger(__name__)

GENERATOR = "nianbao"
FONT_NAME = "宋体"
MAX_CELL_TEXT = 32767  # Excel's limit for one cell
MONEY_PLACES = 4

_FONT = Font(name=FONT_NAME, size=11)
_BOLD = Font(name=FONT_NAME, size=11, bold=True)
_TITLE_FONT = Font(name=FONT_NAME, size=16, bold=True)
_HEADING_FONT = Font(name=FONT_NAME, size=13, bold=True)
_NOTE_FONT = Font(name=FONT_NAME, size=10, color="595959")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_CHECK_FILL = PatternFill("solid", fgColor="F2F2F2")
_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_UNLOCKED = Protection(locked=False)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_LEFT = Alignment(horizontal="left", vertical="center", wrap_text=True)
_LABEL = Alignment(horizontal="left", vertical="center", wrap_text=True, indent=1)
_TOP_LEFT = Alignment(horizontal="left", vertical="top", wrap_text=True)

_NUMBER_FORMATS: dict[str, str] = {"count": "0", "signed": "+0;-0;0", "money": "General"}
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")

OK_MARK = "✓"
BAD_MARK = "✗"
BLANKS_NOTE = "有空白"


@dataclass(frozen=True)
class TemplateMeta:
    """Who a template is for; stored on the ``_meta`` sheet so a returned file identifies itself.

    ``deadline`` and ``reply_to`` are only shown in the 填报说明 sheet.
    """

    form_id: str
    report_year: int
    department_code: str
    department_name: str
    campaign_id: str
    token: str
    deadline: date | None = None
    reply_to: str | None = None


def default_title(meta: TemplateMeta | None) -> str:
    """``樟树市人社局2021年政府信息公开工作年度报告`` (without meta: the bare report name)."""
    if meta is None:
        return "政府信息公开工作年度报告"
    return f"{meta.department_name}{meta.report_year}年政府信息公开工作年度报告"


def write_template(
    path: str | Path,
    form: Form,
    *,
    meta: TemplateMeta | None = None,
    values: Mapping[str, Decimal | int | None] | None = None,
    narrative: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Path:
    """Build the workbook (see :func:`build_workbook`), save it to ``path`` and return the path.

    A department's template (``meta``, its default title, no narrative) is a copy of its
    campaign's base workbook (``copies.py``): the same workbook, some 20 times faster.
    """
    path = Path(path)
    if meta is not None and not narrative and title in (None, default_title(meta)):
        from annual_report.workbook.copies import template_copy  # it builds on this module

        path.write_bytes(template_copy(form, meta, values))
        log.info("wrote template %s (form %s, copied)", path, form.id)
        return path
    workbook = build_workbook(form, meta=meta, values=values, narrative=narrative, title=title)
    workbook.save(path)
    log.info("wrote template %s (form %s)", path, form.id)
    return path


def build_workbook(
    form: Form,
    *,
    meta: TemplateMeta | None = None,
    values: Mapping[str, Decimal | int | None] | None = None,
    narrative: Mapping[str, str] | None = None,
    title: str | None = None,
    generated_at: datetime | None = None,
) -> Workbook:
    """The template of ``form`` as an openpyxl workbook.

    ``values`` pre-fill input cells by code (二、上年结转 from last year's
    四、结转下年度继续办理, or the merger's sums); ``narrative`` fills the narrative sections by
    code. Without ``meta`` the metadata sheet holds only the form id and generator, and the
    workbook structure is left unlocked (the merger appends sheets).

    ``generated_at`` (default: now) is recorded on the metadata sheet.

    Note: money cells hold their exact decimal text (openpyxl would write ``Decimal`` through a
    float, e.g. ``72701.25780000001``), so reading such a cell back from *this object* gives a
    ``str``; a saved and reloaded file gives a number.
    """
    when = generated_at or datetime.now(UTC)
    stamp = when.astimezone(UTC).isoformat(timespec="seconds")
    return _build_workbook(form, meta, values, narrative, title, stamp)


def _build_workbook(
    form: Form,
    meta: TemplateMeta | None,
    values: Mapping[str, Decimal | int | None] | None,
    narrative: Mapping[str, str] | None,
    title: str | None,
    stamp: str,
) -> Workbook:
    """:func:`build_workbook` with the metadata sheet's ``generated_at`` text given (the
    personalised copies build their base with a placeholder there)."""
    if meta is not None and meta.form_id != form.id:
        raise FormError("template metadata names another form", form=form.id, meta=meta.form_id)
    values = dict(values or {})
    narrative = dict(narrative or {})
    unknown = sorted(c for c in values if c not in form.cells)
    unknown += sorted(c for c in narrative if c not in form.narrative_codes)
    if unknown:
        raise FormError(f"form {form.id} has no cells {', '.join(unknown)}")

    lay = layout(form)
    title = title or default_title(meta)
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.creator = GENERATOR
    workbook.properties.title = title

    for sheet in lay.sheets:
        ws = workbook.create_sheet(sheet.name)
        if sheet.kind == "instructions":
            _draw_instructions(ws, form, lay, meta, title, prefilled=values)
        elif sheet.kind == "table":
            _draw_table(ws, form, lay, sheet, title)
        elif sheet.kind == "narrative":
            _draw_narrative(ws, form, lay, sheet, title)
        elif sheet.kind == "meta":
            _draw_meta(ws, lay, form, meta, stamp)
        _protect(ws)

    for code, value in values.items():
        if value is not None:
            ws = workbook[lay.position(code).sheet]
            set_number(ws[lay.position(code).coordinate], value, form.cell(code).type)
    for code, text in narrative.items():
        if text:
            pos = lay.position(code)
            set_text(workbook[pos.sheet][pos.coordinate], text)

    for code in (*form.cells, *form.narrative_codes):
        _define(workbook, code, lay.position(code))
    for key, pos in lay.meta.items():
        _define(workbook, lay.meta_name(key), pos)

    workbook.active = 0
    if meta is not None:
        # No password: protection guides the clerk (no renamed, added or unhidden sheets).
        workbook.security = WorkbookProtection(lockStructure=True)
    return workbook


# -- cells -----------------------------------------------------------------------------------


def _define(workbook: Workbook, name: str, pos: Position) -> None:
    workbook.defined_names[name] = DefinedName(
        name, attr_text=f"{quote_sheet(pos.sheet)}!{pos.absolute}"
    )


def set_text(cell: XlCell, text: str) -> None:
    """Store ``text`` as a string, never as a formula (department text can start with ``=``)."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if len(text) > MAX_CELL_TEXT:
        log.warning("text for %s cut to %d characters", cell.coordinate, MAX_CELL_TEXT)
        text = text[:MAX_CELL_TEXT]
    cell.value = text
    if cell.data_type != "s":  # openpyxl took a leading "=" for a formula
        cell.data_type = "s"
        cell.quotePrefix = True


def exact_number_text(value: Decimal | int | float) -> str:
    """The plain decimal text a number is stored as (``Decimal('1E+2')`` → ``100``)."""
    if isinstance(value, bool):
        raise FormError(f"not a number: {value!r}")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise FormError(f"not a finite number: {value!r}")
    text = format(number, "f")
    if text.startswith("-") and number == 0:
        text = text[1:]
    return text


def set_number(cell: XlCell, value: Decimal | int | float, cell_type: CellType) -> None:
    """Store a number exactly: integral counts as ints, anything else as its plain decimal text
    in ``<v>`` (openpyxl alone writes ``Decimal('72701.2578')`` as ``72701.25780000001``)."""
    text = exact_number_text(value)
    number = Decimal(text)
    if cell_type != "money" and number == number.to_integral_value():
        cell.value = int(number)
        return
    # openpyxl formats Decimal with "%.16g" (through a float): store the exact text instead.
    assert _PLAIN_NUMBER.match(text), text
    cell.value = number
    cell._value = text  # data_type stays "n": written as <v>text</v>
    if cell_type != "money":
        log.warning("non-integral value %s in count cell %s", text, cell.coordinate)


def _style(
    ws: Worksheet,
    area: Area,
    *,
    font: Font = _FONT,
    alignment: Alignment = _CENTER,
    fill: PatternFill | None = None,
    border: bool = True,
    locked: bool = True,
    number_format: str | None = None,
) -> XlCell:
    """Merge ``area`` (if needed), give every cell in it the same style, return the top-left
    cell (every cell: Excel takes a merged area's borders and protection from all of them)."""
    top = ws.cell(area.min_row, area.min_col)
    top.font = font
    top.alignment = alignment
    if fill is not None:
        top.fill = fill
    if border:
        top.border = _BORDER
    if not locked:
        top.protection = _UNLOCKED
    if number_format is not None:
        top.number_format = number_format
    if area.is_merged:
        ws.merge_cells(area.coordinate)
        for row, col in area.cells():
            if (row, col) != (area.min_row, area.min_col):
                ws.cell(row, col)._style = copy(top._style)  # far faster than per-attribute
    return top


# -- sheets ----------------------------------------------------------------------------------


def _sheet_frame(
    ws: Worksheet, sheet: SheetLayout, title: str, note: str | None, note_font: Font = _NOTE_FONT
) -> None:
    for i, width in enumerate(sheet.column_widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    for row, height in sheet.row_heights:
        ws.row_dimensions[row].height = height
    if sheet.title is not None:
        set_text(_style(ws, sheet.title, font=_TITLE_FONT, border=False), title)
    if sheet.note is not None and note:
        cell = _style(ws, sheet.note, font=note_font, alignment=_LEFT, border=False)
        set_text(cell, note)
        width = sum(sheet.column_widths[sheet.note.min_col - 1 : sheet.note.max_col])
        ws.row_dimensions[sheet.note.min_row].height = text_height(note, width)
    ws.sheet_view.showGridLines = False
    _print_setup(ws, sheet)


def _print_setup(ws: Worksheet, sheet: SheetLayout) -> None:
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    # A table on one page (section 3 at about 65 %) reads better than one split mid-table.
    ws.page_setup.fitToHeight = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    ws.print_area = sheet.print_area.coordinate
    if sheet.print_title_rows:
        first, last = sheet.print_title_rows
        ws.print_title_rows = f"{first}:{last}"
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


def _protect(ws: Worksheet) -> None:
    # No password: protection guides (no inserted rows, no typing over labels), it is not security.
    ws.protection = SheetProtection(
        sheet=True,
        formatColumns=False,  # clerks may widen columns and rows
        formatRows=False,
        selectLockedCells=False,
        selectUnlockedCells=False,
    )


def _validation(cell_type: CellType, unit: str | None) -> DataValidation:
    if cell_type == "money":
        unit_text = f"（单位：{unit}）" if unit else ""
        return DataValidation(
            type="decimal",
            operator="greaterThanOrEqual",
            formula1="0",
            allow_blank=True,
            showInputMessage=True,
            showErrorMessage=True,
            promptTitle="请填写金额",
            prompt=f"请填写金额{unit_text}，为0或正数，最多保留{MONEY_PLACES}位小数；"
            "没有的请填0，不要留空，不要填写单位或文字。",
            errorTitle="金额格式不正确",
            error=f"请填写0或正数{unit_text}，最多保留{MONEY_PLACES}位小数，不要填写单位或文字。",
        )
    if cell_type == "signed":
        return DataValidation(
            type="whole",
            operator="between",
            formula1="-1000000000",
            formula2="1000000000",
            allow_blank=True,
            showInputMessage=True,
            showErrorMessage=True,
            promptTitle="请填写整数",
            prompt="请填写整数：增加填正数，减少填负数（如-2），没有变化请填0。",
            errorTitle="数字格式不正确",
            error="请填写整数，增加填正数，减少填负数，不要填写文字。",
        )
    return DataValidation(
        type="whole",
        operator="greaterThanOrEqual",
        formula1="0",
        allow_blank=True,
        showInputMessage=True,
        showErrorMessage=True,
        promptTitle="请填写数量",
        prompt="请填写0或正整数。没有发生的请填0，不要留空，不要填写“/”“-”“无”等符号。",
        errorTitle="数量格式不正确",
        error="请填写0或正整数，不要填写小数、负数、文字或符号。",
    )


def _draw_table(ws: Worksheet, form: Form, lay: Layout, sheet: SheetLayout, title: str) -> None:
    checks = [c for c in lay.checks if c.area.sheet == sheet.name]
    note = "填写说明：白色单元格为填写区，没有发生的事项请填0，不要留空。"
    if checks:
        note += "表格下方和右侧的“校验”单元格会随填写自动核对，显示“✗”时请核对修改。"
    _sheet_frame(ws, sheet, title, note)
    # Table cells that are neither label, input nor check (e.g. the check column beside the
    # check rows) are grey, so that white means "type here".
    used = {(r, c) for lb in sheet.labels for r, c in lb.area.cells()}
    used |= {(r, c) for code in lay.codes_on(sheet.name) for r, c in lay.area(code).cells()}
    used |= {(r, c) for check in checks for r, c in check.area.cells()}
    for table in sheet.borders:
        for row, col in table.cells():
            ws.cell(row, col).border = _BORDER
            if (row, col) not in used:
                ws.cell(row, col).fill = _CHECK_FILL
    for label in sheet.labels:
        if label.role == "heading":
            set_text(_style(ws, label.area, font=_HEADING_FONT, border=False), label.text)
        elif label.role == "row":
            # Group labels (merged down) centred; item labels left-aligned as in the national form.
            align = _CENTER if label.area.max_row > label.area.min_row else _LABEL
            set_text(_style(ws, label.area, alignment=align), label.text)
        elif label.role == "check":
            set_text(_style(ws, label.area, font=_BOLD, fill=_CHECK_FILL), label.text)
        else:  # caption, corner, column headers
            font = _BOLD if label.role in ("caption", "column") else _FONT
            set_text(_style(ws, label.area, font=font, fill=_HEADER_FILL), label.text)

    validations: dict[tuple[str, str | None], DataValidation] = {}
    for code in lay.codes_on(sheet.name):
        spec = form.cell(code)
        area = lay.area(code)
        cell = _style(ws, area, locked=False, number_format=_NUMBER_FORMATS[spec.type])
        key = (spec.type, spec.unit)
        if key not in validations:
            validations[key] = _validation(spec.type, spec.unit)
            ws.add_data_validation(validations[key])
        validations[key].add(cell.coordinate)

    for check in checks:
        cell = _style(ws, check.area, font=_BOLD, fill=_CHECK_FILL)
        cell.value = check_formula(lay, check)
        _check_colours(ws, check.area)

    first_input = lay.codes_on(sheet.name)[0]
    start = lay.position(first_input).coordinate
    if sheet.print_title_rows:
        ws.freeze_panes = ws.cell(sheet.print_title_rows[1] + 1, lay.position(first_input).column)
    ws.sheet_view.selection[0].activeCell = start
    ws.sheet_view.selection[0].sqref = start


def _draw_narrative(ws: Worksheet, form: Form, lay: Layout, sheet: SheetLayout, title: str) -> None:
    section = form.section(sheet.section or 0)
    assert section.narrative is not None
    prompt = narrative_prompt(section.narrative, section.parts)
    _sheet_frame(ws, sheet, title, prompt, note_font=_FONT)
    for label in sheet.labels:
        set_text(_style(ws, label.area, font=_HEADING_FONT, border=False), label.text)
    area = lay.area(section.narrative)
    cell = _style(ws, area, alignment=_TOP_LEFT, locked=False)
    dv = DataValidation(
        type="textLength",
        operator="lessThanOrEqual",
        formula1=str(MAX_CELL_TEXT),
        allow_blank=True,
        showInputMessage=True,
        showErrorMessage=True,
        promptTitle="请填写正文",
        prompt="请在此处填写或粘贴本部分正文（可从Word中复制后粘贴）。",
        errorTitle="内容过长",
        error=f"一个单元格最多容纳{MAX_CELL_TEXT}个字符，请精简后再填写。",
    )
    ws.add_data_validation(dv)
    dv.add(cell.coordinate)
    ws.sheet_view.selection[0].activeCell = cell.coordinate
    ws.sheet_view.selection[0].sqref = cell.coordinate


def narrative_prompt(code: str, parts: tuple[str, ...] = ()) -> str:
    """What the clerk is asked to write in a narrative section (Chinese)."""
    if code == "narrative.overview":
        if parts:
            count = _CN_NUMBERS[len(parts) - 1]
            items = "".join(f"\n（{_CN_NUMBERS[i]}）{p}" for i, p in enumerate(parts))
            head = f"请按以下{count}个方面分别叙述本年度政府信息公开工作情况：{items}\n"
        else:
            head = "请概述本年度政府信息公开工作总体情况。"
        return head + "文中所述数字（如申请件数、结转件数、行政复议和行政诉讼件数）请与表格一致。"
    if code == "narrative.problems":
        return "请如实写明本年度政府信息公开工作存在的主要问题和改进情况，以及下一步工作打算。"
    if code == "narrative.other_matters":
        return (
            "请说明依据《政府信息公开信息处理费管理办法》（国办函〔2020〕109号）收取信息处理费的"
            "情况（件数和金额，单位：元）；没有收取的，请写明“本机关无收取信息处理费情况”。"
            "其他需要报告的事项也请在此填写。"
        )
    return "请在下方白色区域填写本部分正文。"


_CN_NUMBERS = "一二三四五六七八九十"


def _draw_meta(
    ws: Worksheet, lay: Layout, form: Form, meta: TemplateMeta | None, stamp: str
) -> None:
    values: dict[str, str | int | None] = {
        "form_id": form.id,
        "generator": GENERATOR,
        "generated_at": stamp,
    }
    if meta is not None:
        values.update(
            report_year=meta.report_year,
            department_code=meta.department_code,
            department_name=meta.department_name,
            campaign_id=meta.campaign_id,
            token=meta.token,
        )
    sheet = lay.sheet(ws.title)
    for i, width in enumerate(sheet.column_widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws["A1"], ws["B1"] = "key", "value"
    for key in META_KEYS:
        pos = lay.meta[key]
        set_text(ws.cell(pos.row, pos.column - 1), key)
        value = values.get(key)
        if isinstance(value, int):
            ws.cell(pos.row, pos.column).value = value
        elif value is not None:
            set_text(ws.cell(pos.row, pos.column), value)
    ws.sheet_state = "veryHidden"


def _draw_instructions(
    ws: Worksheet,
    form: Form,
    lay: Layout,
    meta: TemplateMeta | None,
    title: str,
    prefilled: Mapping[str, object],
) -> None:
    ws.column_dimensions["A"].width = 4
    ws.column_dimensions["B"].width = 110
    ws.sheet_view.showGridLines = False
    paragraphs = instructions(form, lay, meta, title, prefilled)
    set_text(_style(ws, Area(ws.title, 1, 1, 1, 2), font=_TITLE_FONT, border=False), "填报说明")
    ws.row_dimensions[1].height = 30
    set_text(_style(ws, Area(ws.title, 2, 1, 2, 2), font=_BOLD, border=False), title)
    ws.row_dimensions[2].height = 22
    row = 3
    for number, text in paragraphs:
        if number:
            _style(
                ws, Area(ws.title, row, 1, row, 1), alignment=_TOP_LEFT, border=False
            ).value = number
        set_text(
            _style(ws, Area(ws.title, row, 2, row, 2), alignment=_TOP_LEFT, border=False), text
        )
        ws.row_dimensions[row].height = text_height(text, 110) + 2
        row += 1
    sheet = lay.sheet(ws.title)
    _print_setup(ws, sheet)
    ws.print_area = f"A1:B{row - 1}"
    ws.page_setup.orientation = "portrait"


def instructions(
    form: Form,
    lay: Layout,
    meta: TemplateMeta | None,
    title: str,
    prefilled: Mapping[str, object],
) -> list[tuple[str, str]]:
    """The paragraphs of the 填报说明 sheet: (number, text)."""
    sheets = "、".join(f"“{s.name}”" for s in lay.sheets if s.kind in ("table", "narrative"))
    who = f"{meta.department_name}：" if meta else ""
    money_units = sorted({c.unit for c in form.cells.values() if c.type == "money" and c.unit})
    units = f"（{'、'.join(money_units)}）" if money_units else ""
    when = (
        f"请于{meta.deadline.year}年{meta.deadline.month}月{meta.deadline.day}日前"
        if meta and meta.deadline
        else "请在通知规定的时限内"
    )
    reply = f"回复至{meta.reply_to}" if meta and meta.reply_to else "回复发来本表格的邮件"
    out: list[tuple[str, str]] = [
        (
            "",
            f"{who}您好！本表格用于填报《{title}》，表格格式为{form.name}。感谢您的配合与支持。",
        ),
        (
            "1.",
            f"本文件共有以下工作表：{sheets}。表格部分请只在白色单元格中填写数字，"
            "表头等其他单元格已锁定；正文部分请在各工作表的白色大框内填写或粘贴文字。",
        ),
        (
            "2.",
            "空白不等于0：没有发生的事项请填写数字0，不要留空，也不要填写“/”“-”“—”“无”等符号。"
            "留空的单元格将被视为未填写，系统会提示您核对。数量请填写整数；"
            f"金额请按表头所示单位{units}填写，最多保留{MONEY_PLACES}位小数，不要带单位或文字。",
        ),
        (
            "3.",
            "请不要重命名、删除或新增工作表，不要插入或删除行、列，不要合并或拆分单元格，"
            "也不要把其他文件的表格整体复制粘贴进来（如需粘贴数字，请使用“选择性粘贴—数值”）。"
            "工作表已设保护但没有密码，只为防止误操作；您可以调整列宽和行高以便查看。",
        ),
    ]
    titles = "；".join(f"“{r.title}”" for r in form.rules if r.check == "sum_equal")
    if lay.checks:
        out.append(
            (
                "4.",
                f"表格下方和右侧的灰色“校验”单元格会随您的填写自动核对勾稽关系（{titles}）："
                "显示绿色“✓”表示相符；显示红色“✗ 不相等：甲≠乙”表示不相符，请核对修改；"
                "显示黄色“✓ 有空白”表示相符但还有单元格未填写，请补填0。"
                "发送前请确认所有校验均为“✓”。",
            )
        )
    out.append(
        (
            f"{len(out)}.",
            "第六部分“其他需要报告的事项”须说明信息处理费的收取情况；没有收取的，"
            "请写明“本机关无收取信息处理费情况”。正文中引用的数字请与表格一致。",
        )
    )
    filled = [form.cell(c) for c, v in prefilled.items() if c in form.cells and v is not None]
    rows = sorted({c.row_label or form.section(c.section).heading for c in filled})
    if rows and meta is not None:
        which = "以下行" + "、".join(f"“{r}”" for r in rows) if len(rows) <= 3 else "部分单元格"
        out.append(
            (
                f"{len(out)}.",
                f"{which}已根据贵单位上年度报告预先填写，请逐项核对。如有变化（例如机构改革），"
                "请直接修改，并在第六部分说明原因。",
            )
        )
    out.append(
        (
            f"{len(out)}.",
            f"{when}填写完毕并保存（请保持.xlsx格式，文件名可以修改），作为邮件附件{reply}。"
            "收到后系统会自动核对并回复结果；如需修改，请在原文件上修改后重新发送。",
        )
    )
    if meta is not None:
        out.append(
            (
                "",
                f"本表格专为{meta.department_name}生成（编号{meta.department_code}），"
                "请勿转给其他单位使用。如有疑问，请回复邮件联系。",
            )
        )
    return out


# -- checks ----------------------------------------------------------------------------------


def _runs(positions: list[Position], sheet: str) -> list[str]:
    """References for ``positions``, consecutive cells joined into ranges (fewest pieces)."""

    def build(vertical: bool) -> list[str]:
        key = (
            (lambda p: (p.sheet, p.column, p.row))
            if vertical
            else (lambda p: (p.sheet, p.row, p.column))
        )
        ordered = sorted(set(positions), key=key)
        pieces: list[list[Position]] = []
        for p in ordered:
            if pieces:
                last = pieces[-1][-1]
                same_line = last.sheet == p.sheet and (
                    (vertical and last.column == p.column and last.row + 1 == p.row)
                    or (not vertical and last.row == p.row and last.column + 1 == p.column)
                )
                if same_line:
                    pieces[-1].append(p)
                    continue
            pieces.append([p])
        refs = []
        for piece in pieces:
            a, b = piece[0], piece[-1]
            text = a.coordinate if a == b else f"{a.coordinate}:{b.coordinate}"
            refs.append(text if a.sheet == sheet else f"{quote_sheet(a.sheet)}!{text}")
        return refs

    vertical, horizontal = build(True), build(False)
    return vertical if len(vertical) <= len(horizontal) else horizontal


def check_formula(lay: Layout, check: Check) -> str:
    """The Excel formula of a live check cell.

    Blank when nothing is typed yet; ``✓`` when the sums agree and every cell is filled;
    ``✓ 有空白`` when they agree but cells are still blank; ``✗ 不相等：a≠b`` otherwise.
    """
    sheet = check.area.sheet
    left = ",".join(_runs([lay.position(c) for c in check.left], sheet))
    right = ",".join(_runs([lay.position(c) for c in check.right], sheet))
    every = ",".join(_runs([lay.position(c) for c in check.codes], sheet))
    n = len(check.codes)
    return (
        f'=IF(COUNT({every})=0,"",IF(ROUND(SUM({left})-SUM({right}),{MONEY_PLACES})=0,'
        f'IF(COUNT({every})<{n},"{OK_MARK} {BLANKS_NOTE}","{OK_MARK}"),'
        f'"{BAD_MARK} 不相等："&SUM({left})&"≠"&SUM({right})))'
    )


def _check_colours(ws: Worksheet, area: Area) -> None:
    cell = area.top_left.coordinate
    rules = (
        (f'LEFT({cell},1)="{BAD_MARK}"', "FFC7CE", "9C0006"),
        (f'ISNUMBER(SEARCH("{BLANKS_NOTE}",{cell}))', "FFEB9C", "9C5700"),
        (f'LEFT({cell},1)="{OK_MARK}"', "C6EFCE", "006100"),
    )
    for formula, fill, colour in rules:
        ws.conditional_formatting.add(
            area.coordinate,
            FormulaRule(
                formula=[formula],
                stopIfTrue=True,
                fill=PatternFill("solid", fgColor=fill, bgColor=fill),
                font=Font(color=colour, bold=True),
            ),
        )
