"""Findings a person reads to the end: validation issues digested for a mail.

A workbook typed with ``12件`` in every cell gives 199 issues of one rule; a mail listing them one
by one is not read. Here issues of the same rule in the same part of the form become one line
(``第三部分共199处数字后带有单位“件”，已按数字读取``), their cells compressed to ranges
(``D5:J20``), and the list is capped: what does not fit is in the full list, a sheet attached to
the mail (:func:`issues_workbook`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from annual_report.form.model import Form

_CN_NUMERALS = "〇一二三四五六七八九十"
GROUP_FROM = 4  # this many issues of one rule in one part become one line
LIST_LIMIT = 15  # lines in a mail; the rest are in the attached list
MESSAGE_LIMIT = 300  # characters of one line (a message can quote a whole cell)
ATTACH_FROM = 16  # issues from which the full list is attached

# N2's message says how the text was read (reading.text_as_number); each reads as a phrase.
_TEXT_AS_NUMBER = re.compile(r"“(?P<raw>[^“”]*)”已按(?P<value>.+?)计算（(?P<how>[^）]*)）")
_HOW = {
    "去掉了单位": "数字后带有单位",
    "全角数字": "使用了全角数字",
    "去掉了“+”号": "数字前带有“+”号",
    "去掉了小数点后的0": "整数写成了小数",
    "去掉了千位分隔符": "数字中带有千位分隔符",
}
_NUMBER_PART = re.compile(r"^[\s+\-0-9０-９.,，．]+")


@dataclass(frozen=True)
class Finding:
    """One line of a mail: one issue, or several of one rule in one part of the form."""

    rule: str
    severity: str
    message: str
    cells: str  # compressed: ``'三、…'!D5:D20、F7``
    count: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "cells": self.cells,
            "count": self.count,
        }


@dataclass(frozen=True)
class Digest:
    findings: tuple[Finding, ...]  # at most LIST_LIMIT
    total: int  # the issues they stand for
    omitted: int  # issues not shown in the lines (they are in the full list)
    attach: bool  # whether the mail carries the full list

    @property
    def shown(self) -> int:
        return self.total - self.omitted


def _get(issue: Any, name: str) -> Any:
    return issue.get(name) if isinstance(issue, Mapping) else getattr(issue, name, None)


def _part(form: Form | None, codes: Sequence[str]) -> str | None:
    if form is None:
        return None
    sections = {form.cells[c].section for c in codes if c in form.cells}
    if len(sections) != 1:
        return None
    (section,) = sections
    return f"第{_CN_NUMERALS[section]}部分" if section < len(_CN_NUMERALS) else None


def _clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def digest(
    issues: Iterable[Any],
    form: Form | None = None,
    *,
    limit: int = LIST_LIMIT,
    group_from: int = GROUP_FROM,
) -> Digest:
    """The lines a mail shows for ``issues`` (objects or mappings with rule, severity, codes,
    cells, message), in their order; rule titles and parts of the form come from ``form``."""
    issues = list(issues)
    titles = {r.id: r.title for r in form.rules} if form else {}
    groups: dict[tuple[str, str | None], list[Any]] = {}
    order: list[tuple[str, str | None]] = []
    for issue in issues:
        key = (_get(issue, "rule") or "", _part(form, _get(issue, "codes") or ()))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(issue)
    findings: list[Finding] = []
    for rule, part in order:
        members = groups[(rule, part)]
        if len(members) < group_from or part is None:
            findings += [_single(i) for i in members]
        else:
            findings += _grouped(rule, part, members, titles.get(rule))
    shown = findings[:limit]
    omitted = sum(f.count for f in findings[limit:])
    return Digest(tuple(shown), len(issues), omitted, len(issues) >= ATTACH_FROM or omitted > 0)


def _single(issue: Any) -> Finding:
    return Finding(
        rule=_get(issue, "rule") or "",
        severity=_get(issue, "severity") or "",
        message=_clip(_get(issue, "message") or ""),
        cells=compress_cells(_get(issue, "cells") or ()),
    )


def _grouped(rule: str, part: str, members: list[Any], title: str | None) -> list[Finding]:
    severity = _get(members[0], "severity") or ""
    cells = [c for i in members for c in (_get(i, "cells") or ())]
    # Text read as numbers (N2): one line per way it was read, naming the units found.
    by_how: dict[str, list[str]] = {}
    for issue in members:
        match = _TEXT_AS_NUMBER.search(_get(issue, "message") or "")
        if match is None:
            by_how = {}
            break
        by_how.setdefault(match["how"], []).append(match["raw"])
    if by_how:
        lines = []
        for how, raws in by_how.items():
            what = _HOW.get(how.split("，")[0], f"单元格文本（{how}）")
            if how.startswith("去掉了单位"):
                units = Counter(_NUMBER_PART.sub("", r) or r for r in raws)
                what += "“" + "”“".join(u for u, _ in units.most_common(5)) + "”"
            lines.append(f"{part}共{len(raws)}处{what}，已按数字读取，请直接填写数字")
        if len(lines) == 1:
            return [Finding(rule, severity, lines[0], compress_cells(cells), len(members))]
        return [
            Finding(rule, severity, "；".join(lines), compress_cells(cells), len(members)),
        ]
    example = _clip(_get(members[0], "message") or "", 120)
    what = title or "同类问题"
    return [
        Finding(
            rule,
            severity,
            f"{part}共{len(members)}处：{what}（如：{example}）",
            compress_cells(cells),
            len(members),
        )
    ]


# -- cell references ----------------------------------------------------------------------

_REF = re.compile(r"^(?:(?P<sheet>'(?:[^']|'')+'|[^!]+)!)?\$?(?P<col>[A-Z]{1,3})\$?(?P<row>\d+)$")


def _col_number(col: str) -> int:
    n = 0
    for ch in col:
        n = n * 26 + ord(ch) - 64
    return n


def _col_name(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def compress_cells(cells: Iterable[str] | str) -> str:
    """``'三、…'!D5``, ``D6`` … ``D20``, ``E5`` … → ``'三、…'!D5:E20``: per sheet, runs of rows
    in a column, columns with the same run merged into rectangles. A reference without a sheet
    belongs to the sheet of the one before it. Anything not a cell reference is kept as it is."""
    if isinstance(cells, str):
        return cells
    sheets: dict[str, set[tuple[int, int]]] = {}
    other: list[str] = []
    sheet = ""
    for ref in cells:
        match = _REF.match(str(ref).strip())
        if match is None:
            other.append(str(ref))
            continue
        if match["sheet"]:
            sheet = match["sheet"]
        sheets.setdefault(sheet, set()).add((_col_number(match["col"]), int(match["row"])))
    parts = []
    for name, points in sheets.items():
        ranges = "、".join(_rectangles(points))
        parts.append(f"{name}!{ranges}" if name else ranges)
    return "、".join(parts + list(dict.fromkeys(other)))


def _runs(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """``[5, 6, 7, 9]`` → ``[(5, 7), (9, 9)]``."""
    runs: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if runs and runs[-1][1] == n - 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _rectangles(points: set[tuple[int, int]]) -> list[str]:
    by_rows: dict[tuple[int, int], list[int]] = {}  # (first row, last row) → columns
    for col in sorted({c for c, _ in points}):
        for run in _runs(r for c, r in points if c == col):
            by_rows.setdefault(run, []).append(col)
    out = []
    for (first, last), cols in sorted(by_rows.items(), key=lambda kv: (kv[1][0], kv[0][0])):
        for start, end in _runs(cols):
            a, b = f"{_col_name(start)}{first}", f"{_col_name(end)}{last}"
            out.append(a if a == b else f"{a}:{b}")
    return out


# -- the full list ------------------------------------------------------------------------


def issues_workbook(issues: Iterable[Any], *, title: str) -> bytes:
    """Every issue on its own row (序号, 级别, 规则, 位置, 问题), as an .xlsx to attach."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "问题清单"
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=12)
    sheet.append(["序号", "级别", "规则", "位置", "问题"])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    severity = {"error": "错误", "warning": "警告"}
    for n, issue in enumerate(issues, 1):
        cells = _get(issue, "cells") or ()
        sheet.append(
            [
                n,
                severity.get(_get(issue, "severity") or "", _get(issue, "severity") or ""),
                _get(issue, "rule") or "",
                compress_cells(cells),
                _clip(_get(issue, "message") or "", 2000),
            ]
        )
    for column, width in zip("ABCDE", (6, 6, 6, 40, 90), strict=True):
        sheet.column_dimensions[column].width = width
    for row in sheet.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A3"
    sheet.print_title_rows = "2:2"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
