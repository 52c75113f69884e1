"""Where the city report comes from, in a workbook beside it (never inside the report).

The coordinator checks the draft against this file and publishes the report alone: which units
are in the sums and why the others are not (by name, with how late each reported), every
number of the text with each unit's share, every sentence gathered from the units with the
units' own words, each unit's 信息处理费, and the rule that set the 成文日期.

    provenance.save("宜春市2021年政府信息公开工作年度报告（数据来源）.xlsx")
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from annual_report.campaign.lateness import late_label
from annual_report.campaign.registry import KIND_LABELS
from annual_report.errors import DocumentError
from annual_report.workbook.template import set_text

log = logging.getLogger(__name__)

FEE_LABELS = {
    "collected": "已收取",
    "none": "未收取",
    "unclear": "提及但未能识别金额",
    "silent": "未说明",
}


def lateness_text(days: int | None, received: bool) -> str:
    if not received:
        return "未报送"
    if days is None:
        return ""
    return late_label(days) or "按时报送"


@dataclass(frozen=True)
class UnitRecord:
    """One unit offered to the consolidation, as the coordinator reads it."""

    name: str
    kind: str
    included: bool
    reason: str  # why (not) included, in Chinese
    version: int | None = None
    received_at: datetime | None = None
    deadline: date | None = None
    days_late: int | None = None
    errors: int = 0
    warnings: int = 0


@dataclass(frozen=True)
class FigureRecord:
    number: int
    label: str
    value: str
    measure: str
    where: str
    note: str | None
    shares: tuple[tuple[str, str], ...]  # (unit name, value text)


@dataclass(frozen=True)
class SentenceRecord:
    """A sentence of the units' narratives and what became of it."""

    part: str
    written: str | None  # the city sentence it went into (None: not written)
    unit: str  # unit name
    original: str


@dataclass(frozen=True)
class FeeRecord:
    unit: str
    status: str
    amount_yuan: str
    cases: str
    excerpt: str


@dataclass(frozen=True)
class ComparisonRecord:
    """A headline figure this year against last year."""

    label: str
    unit: str
    last: str
    this: str
    change: str
    percent: str
    written: str  # 写入正文 / 未写入正文


@dataclass(frozen=True)
class ChartRecord:
    """A figure of the report, or (no number) one left out, with its source or the reason."""

    number: str  # 图1; "" when not drawn
    caption: str
    source: str


@dataclass(frozen=True)
class LeafRecord:
    """A leaf unit of the report (a unit's own report, or one inside an office's report) with
    the offices it came through and its share of the headline figures."""

    name: str
    kind: str
    through: str  # 宜春市人民政府 › 袁州区人民政府; "" when it reported here directly
    values: tuple[str, ...]  # in the order of LEAF_FIGURES


# The headline cells the provenance shows per leaf unit (every cell: the consolidated
# workbook's 基层单位明细, and ``nianbao report --drill CODE``).
LEAF_FIGURES: tuple[tuple[str, str], ...] = (
    ("requests.new_received.total", "本年新收申请"),
    ("requests.carried_from_last_year.total", "上年结转"),
    ("requests.handled_total.total", "办理结果总计"),
    ("requests.carried_to_next_year.total", "结转下年度"),
    ("review.total", "行政复议"),
    ("litigation_direct.total", "未经复议直接起诉"),
    ("litigation_after_review.total", "复议后起诉"),
    ("proactive.licensing.decisions", "行政许可"),
    ("proactive.penalties.decisions", "行政处罚"),
    ("proactive.admin_fees.amount_wan_yuan", "行政事业性收费（万元）"),
)


def leaf_records(consolidation: Any) -> list[LeafRecord]:
    """Every leaf unit of a consolidation that came through an office one level down (none:
    every unit reported here directly, 纳入与未纳入单位 says it all)."""
    if not getattr(consolidation, "chained", False):
        return []
    records = []
    for leaf in consolidation.leaves:
        values = []
        for code, _label in LEAF_FIGURES:
            value = leaf.values.get(code)
            values.append("" if value is None else format(value.normalize(), "f"))
        records.append(
            LeafRecord(
                leaf.name,
                KIND_LABELS.get(leaf.kind, leaf.kind),
                " › ".join(leaf.path_names),
                tuple(values),
            )
        )
    return records


@dataclass
class Provenance:
    title: str
    date_rule: str
    units: list[UnitRecord] = field(default_factory=list)
    figures: list[FigureRecord] = field(default_factory=list)
    sentences: list[SentenceRecord] = field(default_factory=list)
    fees: list[FeeRecord] = field(default_factory=list)
    zone: tzinfo | None = None
    comparison: list[ComparisonRecord] = field(default_factory=list)
    comparison_note: str = ""  # where last year's figures come from, or why none is compared
    charts: list[ChartRecord] = field(default_factory=list)
    leaves: list[LeafRecord] = field(default_factory=list)  # through offices one level down

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        workbook = self.workbook()
        try:
            workbook.save(path)
        except OSError as exc:
            raise DocumentError(f"cannot write the provenance file: {exc}", path=str(path)) from exc
        log.info("wrote provenance %s", path)
        return path

    def workbook(self) -> Workbook:
        wb = Workbook()
        wb.properties.language = "zh-CN"
        wb.properties.title = f"{self.title}（数据来源）"
        _about(wb.active, self)
        _units(wb.create_sheet("纳入与未纳入单位"), self)
        _figures(wb.create_sheet("正文数字"), self)
        _shares(wb.create_sheet("正文数字的分单位来源"), self)
        _sentences(wb.create_sheet("正文文字的来源"), self)
        _fees(wb.create_sheet("信息处理费"), self)
        if self.comparison:
            _comparison(wb.create_sheet("与上年比较"), self)
        if self.leaves:
            _leaves(wb.create_sheet("基层单位来源"), self)
        return wb


# -- sheets ---------------------------------------------------------------------------------

_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FONT = Font(name="宋体", size=10)
_BOLD = Font(name="宋体", size=10, bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_GREY = PatternFill("solid", fgColor="F2F2F2")
_WRAP = Alignment(vertical="top", wrap_text=True)


def _table(
    ws: Worksheet,
    title: str,
    headers: Sequence[str],
    widths: Sequence[float],
    rows: Sequence[Sequence[object]],
    *,
    grey: Sequence[bool] = (),
) -> None:
    """A titled, bordered table that prints landscape, one page wide, headers repeated."""
    ws.cell(1, 1).value = title
    ws.cell(1, 1).font = Font(name="宋体", size=13, bold=True)
    for col, (label, width) in enumerate(zip(headers, widths, strict=True), 1):
        cell = ws.cell(2, col)
        cell.value = label
        cell.font, cell.fill, cell.border = _BOLD, _HEAD_FILL, _BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(col)].width = width
    for r, row in enumerate(rows, 3):
        shade = grey[r - 3] if r - 3 < len(grey) else False
        for col, value in enumerate(row, 1):
            cell = ws.cell(r, col)
            if isinstance(value, str):
                set_text(cell, value)  # text from departments: never a formula
            else:
                cell.value = value
            cell.font, cell.border, cell.alignment = _FONT, _BORDER, _WRAP
            if shade:
                cell.fill = _GREY
    ws.freeze_panes = "A3"
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_options.horizontalCentered = True
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


def _about(ws: Worksheet, p: Provenance) -> None:
    ws.title = "说明"
    included = sum(u.included for u in p.units)
    late = sum(1 for u in p.units if u.days_late)
    rows = [
        ("报告", p.title),
        ("用途", "核对报告正文的数字和文字来源；本文件不随报告发布。"),
        ("成文日期", p.date_rule),
        ("纳入汇总的单位", f"{included}个"),
        ("未纳入汇总的单位", f"{len(p.units) - included}个"),
        ("逾期报送的单位", f"{late}个"),
        ("正文数字", f"{len(p.figures)}个，分单位来源见“正文数字的分单位来源”"),
        (
            "正文文字",
            f"{sum(1 for s in p.sentences if s.written)}句单位原文写入了正文，"
            "见“正文文字的来源”；未写入的原文也列出，可供补充",
        ),
        ("表格数字", "表格各单元格的分单位数值见汇总工作簿的“分单位明细”工作表"),
    ]
    if p.comparison_note:
        rows.append(("与上年比较", p.comparison_note))
    for chart in p.charts:  # numberless: left out, and why
        rows.append((chart.number or "图（未画）", f"{chart.caption}。{chart.source}"))
    _table(ws, f"{p.title}——数据来源", ["项目", "内容"], [18, 90], rows)


def _when(moment: datetime | None, zone: tzinfo | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(zone) if zone is not None else moment
    return local.strftime("%Y-%m-%d %H:%M")


def _units(ws: Worksheet, p: Provenance) -> None:
    headers = [
        "序号",
        "单位",
        "类别",
        "是否纳入",
        "说明",
        "版本",
        "报送时间",
        "截止日期",
        "报送情况",
    ]
    headers += ["错误", "警告"]
    rows = []
    ordered = [*(u for u in p.units if u.included), *(u for u in p.units if not u.included)]
    for i, u in enumerate(ordered, 1):
        rows.append(
            [
                i,
                u.name,
                KIND_LABELS.get(u.kind, u.kind),
                "纳入" if u.included else "未纳入",
                u.reason,
                f"第{u.version}版" if u.version else "",
                _when(u.received_at, p.zone),
                u.deadline.isoformat() if u.deadline else "",
                lateness_text(u.days_late, u.received_at is not None),
                u.errors,
                u.warnings,
            ]
        )
    widths = [5, 24, 10, 7, 30, 6, 14, 10, 13, 5, 5]
    _table(
        ws, "纳入与未纳入汇总的单位", headers, widths, rows, grey=[not u.included for u in ordered]
    )


def _figures(ws: Worksheet, p: Provenance) -> None:
    rows = [
        [
            f.number,
            f.label,
            f"{f.value}{f.measure}",
            f.where,
            len(f.shares),
            "、".join(f"{name}{value}" for name, value in f.shares[:5])
            + ("等" if len(f.shares) > 5 else ""),
            f.note or "",
        ]
        for f in p.figures
    ]
    headers = ["序号", "正文数字", "数值", "来自", "来源单位数", "主要来源单位", "说明"]
    _table(ws, "正文中的数字", headers, [6, 30, 16, 40, 8, 50, 24], rows)


def _shares(ws: Worksheet, p: Provenance) -> None:
    rows = [
        [f.number, f.label, name, value, f.measure] for f in p.figures for name, value in f.shares
    ]
    headers = ["序号", "正文数字", "单位", "数值", "计量"]
    _table(ws, "正文数字的分单位来源（非零）", headers, [6, 34, 34, 14, 8], rows)


def _sentences(ws: Worksheet, p: Provenance) -> None:
    rows = [[s.part, s.written or "（未写入正文）", s.unit, s.original] for s in p.sentences]
    headers = ["部分", "正文中的句子", "单位", "单位原文"]
    _table(
        ws,
        "正文文字的来源（各单位原文）",
        headers,
        [10, 45, 18, 50],
        rows,
        grey=[s.written is None for s in p.sentences],
    )


def _fees(ws: Worksheet, p: Provenance) -> None:
    rows = [
        [f.unit, FEE_LABELS.get(f.status, f.status), f.amount_yuan, f.cases, f.excerpt]
        for f in p.fees
    ]
    headers = ["单位", "情况", "金额（元）", "笔数", "单位第六部分原文"]
    _table(ws, "各单位的信息处理费", headers, [30, 16, 12, 8, 80], rows)


def _comparison(ws: Worksheet, p: Provenance) -> None:
    rows = [[c.label, c.unit, c.last, c.this, c.change, c.percent, c.written] for c in p.comparison]
    headers = ["项目", "计量", "上年", "本年", "增减", "增减幅度（%）", "正文"]
    _table(ws, "主要指标与上年比较", headers, [30, 6, 12, 12, 12, 12, 12], rows)


def _leaves(ws: Worksheet, p: Provenance) -> None:
    rows = [
        [i, r.name, r.kind, r.through or "直接报送", *r.values] for i, r in enumerate(p.leaves, 1)
    ]
    headers = ["序号", "基层单位", "类别", "经由（下级汇总报告）", *(lb for _c, lb in LEAF_FIGURES)]
    widths = [6, 30, 10, 36, *([10] * len(LEAF_FIGURES))]
    _table(
        ws,
        "基层单位来源（经下级汇总报告报送的单位；全部栏目见汇总工作簿的“基层单位明细”）",
        headers,
        widths,
        rows,
    )


def fee_records(fees: Mapping[str, object], names: Mapping[str, str]) -> list[FeeRecord]:
    """Fee statements (``drafting.FeeStatement``) of the included units, by unit name."""
    out = []
    for code, s in fees.items():
        if code not in names:
            continue
        amount = getattr(s, "amount_yuan", None)
        cases = getattr(s, "cases", None)
        out.append(
            FeeRecord(
                names[code],
                getattr(s, "status", ""),
                "" if amount is None else format(amount, "f"),
                "" if cases is None else str(cases),
                getattr(s, "excerpt", ""),
            )
        )
    return sorted(out, key=lambda f: (f.status != "collected", f.unit))
