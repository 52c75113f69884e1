"""An office's consolidated report received one level up: is it what it says it is?

The file's ``_meta`` sheet names the office and its level and carries the fingerprint of the
content; its 基层单位明细 holds the leaf units. Received as a unit's submission, it is validated
like any report (R1–R6 over its sums) and, because it is an office's, checked here: the units'
sums are its figures (L1), the file was not edited after approval (L2), it is the report of
the office the registry lists (L3), and it carries its breakdown (L4). These become issues of
the submission, answered to the office like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from annual_report.campaign.registry import LEVEL_LABELS, Department, Registry
from annual_report.consolidation.merge import office_mismatches
from annual_report.consolidation.model import Consolidation, rules_codes
from annual_report.report import Report, json_number
from annual_report.store.base import Store
from annual_report.store.records import ACCEPTED, Submission
from annual_report.validation import Issue
from annual_report.workbook.breakdown import Leaf, content_hash, unit_identity

__all__ = [
    "Drill",
    "DrillRow",
    "Through",
    "drill_down",
    "drill_text",
    "office_digest",
    "office_issues",
    "reported_twice",
]


def office_digest(report: Report) -> str | None:
    """The fingerprint of an office's report recomputed from what was read (never the one the
    file claims): the same report sent again in another file has the same one."""
    office = report.office
    if office is None:
        return None
    values = {code: report.value(code) for code in report.form.cells}
    return content_hash(report.form.id, report.year, values, office.leaves)


def office_issues(report: Report, department: Department) -> list[Issue]:
    """What is wrong with ``report`` as the report of office ``department`` (Chinese, for the
    office that sent it and the coordinator)."""
    office = report.office
    if not department.is_office:
        if office is None:
            return []
        return [
            _issue(
                "L3",
                "warning",
                f"文件是{office.name or '某下级办公室'}的汇总报告（含分单位明细），但名录中"
                f"{department.name}不是下一级办公室：按单位报告接收，其下属单位不单独核对",
            )
        ]
    level = LEVEL_LABELS.get(department.level or "", department.level or "")
    if office is None:
        return [
            _issue(
                "L4",
                "warning",
                f"未附分单位明细：请报送本级汇总系统生成的{level}汇总报告（“（定稿）”工作簿），"
                "上级才能核对是否重复计算并追溯到基层单位",
            )
        ]
    issues = [_issue("L4", "error", f"分单位明细无法读取：{p}") for p in office.problems]
    if office.level != department.level:
        issues.append(
            _issue(
                "L3",
                "error",
                f"文件自称是{LEVEL_LABELS.get(office.level, office.level)}汇总报告，"
                f"名录中{department.name}为{level}",
            )
        )
    if office.code and office.code != department.code:
        issues.append(
            _issue(
                "L3",
                "error",
                f"文件自称是{office.name or office.code}（代码{office.code}）的汇总报告，"
                f"不是{department.name}（{department.code}）的",
            )
        )
    if office.problems:  # the units could not all be read: their sums say nothing
        return issues
    form = report.form
    wrong = office_mismatches(form, report, office.leaves, rules_codes(form))
    if wrong:
        cell, reported, total = wrong[0]
        issues.append(
            _issue(
                "L1",
                "error",
                f"汇总表有{len(wrong)}个栏目与分单位明细之和不符（如{form.cell(cell).label}："
                f"汇总表为{_text(reported)}，各单位之和为{_text(total)}），请重新汇总后报送",
                [c for c, _a, _b in wrong],
            )
        )
    digest = office_digest(report)
    if office.declared_hash and digest != office.declared_hash and not wrong:
        issues.append(
            _issue(
                "L2",
                "warning",
                "汇总报告在定稿后被修改过（内容与定稿时的校验值不符），请确认报送的是批准的定稿",
            )
        )
    return issues


def _issue(rule: str, severity: str, message: str, codes: list[str] | None = None) -> Issue:
    return Issue(rule, severity, tuple(codes or ()), (), message)  # type: ignore[arg-type]


def _text(value: object) -> str:
    return format(value, "f")


def reported_twice(
    store: Store, campaign_id: str, registry: Registry, department: Department, report: Report
) -> list[Issue]:
    """A unit reporting here directly that is also inside an office's report (L5), seen from
    whichever of the two arrives second: the unit is told its figures are already in its
    office's report, the office that its breakdown holds a unit that reported directly. Both
    are counted once (the office's figures), and the coordinator sees it at consolidation (H6).
    Bounded per message: the office's own units against the registry in memory, or one
    indexed query for the unit's name."""
    if department.is_office and report.office is not None:
        inside = {unit_identity(leaf.name) for leaf in report.office.leaves}
        twice = [
            d
            for d in registry
            if d.code != department.code
            and not d.is_office
            and unit_identity(d.name) in inside
            and _accepted(store.latest_submission(campaign_id, d.code))
        ]
        if not twice:
            return []
        names = "、".join(d.name for d in twice)
        return [
            _issue(
                "L5",
                "warning",
                f"分单位明细中的{names}也直接向本级报送了报告；本级汇总只计入一次"
                "（取本汇总报告中的数据），请核实该单位是否应由本级直接管理",
            )
        ]
    holders = [
        registry[code]
        for code in store.offices_holding(campaign_id, unit_identity(department.name))
        if code != department.code and code in registry and registry[code].is_office
    ]
    if not holders:
        return []
    office = holders[0]
    return [
        _issue(
            "L5",
            "warning",
            f"本单位的数据已包含在{office.name}报送的汇总报告中；本级汇总只计入一次"
            f"（取{office.name}汇总报告中的数据），本报告不再重复计算",
        )
    ]


def _accepted(sub: Submission | None) -> bool:
    return sub is not None and sub.status in ACCEPTED


# -- a figure down to the units it came from ----------------------------------------------------


@dataclass(frozen=True)
class Through:
    """An office a figure came through: its code, name and level."""

    code: str
    name: str
    level: str | None

    @property
    def label(self) -> str:
        level = LEVEL_LABELS.get(self.level or "")
        return f"{self.name}（{level}）" if level else self.name


@dataclass(frozen=True)
class DrillRow:
    leaf: Leaf
    value: Decimal
    through: tuple[Through, ...]  # outermost first


@dataclass(frozen=True)
class Drill:
    """One figure of the consolidated report, down to the leaf units that contributed it."""

    code: str
    label: str
    value: Decimal
    cell_type: str
    rows: tuple[DrillRow, ...]  # non-zero contributions, largest first
    leaves: int  # leaf units in the report
    levels: tuple[tuple[str, int], ...]  # (level, offices of it the figure came through)
    rules_only_from: str | None = None  # 规章: only this unit's are taken

    @property
    def leaf_sum(self) -> Decimal:
        return sum((row.value for row in self.rows), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "label": self.label,
            "value": json_number(self.value, self.cell_type),
            "leaf_sum": json_number(self.leaf_sum, self.cell_type),
            "leaves": self.leaves,
            "levels": [
                {"level": level, "label": LEVEL_LABELS.get(level, level), "offices": n}
                for level, n in self.levels
            ],
            "rules_only_from": self.rules_only_from,
            "units": [
                {
                    "code": row.leaf.code,
                    "name": row.leaf.name,
                    "kind": row.leaf.kind,
                    "value": json_number(row.value, self.cell_type),
                    "through": [
                        {"code": t.code, "name": t.name, "level": t.level} for t in row.through
                    ],
                }
                for row in self.rows
            ],
        }


def drill_down(result: Consolidation, code: str, registry: Registry | None = None) -> Drill:
    """Figure ``code`` of ``result`` and the leaf units behind it, each with the offices (and
    their levels) it came through: a unit's own report, a county's report inside a city's …"""
    form = result.form
    spec = form.cell(code)
    rows = []
    counted: dict[str, set[str]] = {}
    for leaf, value in result.drill(code):
        through = _through(leaf, registry)
        rows.append(DrillRow(leaf, value, through))
        for i, t in enumerate(through):  # an office by its path: codes are each office's own
            counted.setdefault(t.level or "", set()).add("/".join(leaf.path[: i + 1]))
    order = {level: i for i, level in enumerate(("province", "city", "county", ""))}
    levels = tuple(
        (level, len(codes)) for level, codes in sorted(counted.items(), key=lambda x: order[x[0]])
    )
    rules = result.rules_from if code in rules_codes(form) and result.rules_from else None
    return Drill(
        code=code,
        label=spec.label,
        value=result.values[code],
        cell_type=spec.type,
        rows=tuple(rows),
        leaves=len(result.leaves),
        levels=levels,
        rules_only_from=rules,
    )


def _through(leaf: Leaf, registry: Registry | None) -> tuple[Through, ...]:
    """The offices of ``leaf.path`` with their levels: the first is a unit of this office's
    registry (its ``level``), each next one a level below."""
    if not leaf.path:
        return ()
    first = registry.get(leaf.path[0]) if registry else None
    top = first.level if first is not None else None
    ladder = ("province", "city", "county")
    start = ladder.index(top) if top in ladder else None
    out = []
    for i, (code, name) in enumerate(zip(leaf.path, leaf.path_names, strict=True)):
        level = ladder[start + i] if start is not None and start + i < len(ladder) else None
        out.append(Through(code, name, level))
    return tuple(out)


def drill_text(drill: Drill) -> list[str]:
    """The drill-down as the coordinator reads it (Chinese, 80 columns)."""
    total_text = json_number(drill.value, drill.cell_type)
    lines = [f"{drill.label}：{total_text}", f"栏目代码：{drill.code}"]
    if drill.levels and drill.levels[0][0]:
        steps = [
            f"{LEVEL_LABELS.get(level, level)}汇总报告{n}份" for level, n in drill.levels if level
        ]
        lines.append(f"经由：{' → '.join(steps)} → 本级")
    else:
        lines.append("经由：各单位直接报送本级")
    lines.append(
        f"来源基层单位：{len(drill.rows)}个（报告共含基层单位{drill.leaves}个，其余为0或未填）"
    )
    for row in drill.rows:  # the offices on a line of their own: 80 columns hold it
        value = f"{json_number(row.value, drill.cell_type)!s:>10}"
        lines.append(f"  {value}  {row.leaf.name}" + ("" if row.through else "（直接报送）"))
        if row.through:
            lines.append(f"  {'':>10}  经 {' › '.join(t.label for t in row.through)}")
    total = json_number(drill.leaf_sum, drill.cell_type)
    if drill.rules_only_from:
        lines.append(
            f"合计 {total}；规章以人民政府名义制定，汇总数只取{drill.rules_only_from}的数据"
        )
    elif drill.leaf_sum == drill.value:
        lines.append(f"合计 {total}，与汇总数一致")
    else:
        lines.append(f"合计 {total}，与汇总数 {total_text} 不一致：请核对汇总提示")
    return lines
