"""Consolidation: the city-level report as the exact cell-wise sum of the included units.

FORMAT.md §9. Only submissions without errors are summed; a unit sent twice counts once; a
county's consolidated report is never counted together with the units it already covers; 规章
come from the unit that reports for the government itself. Every unit offered ends up either
included or excluded with a Chinese reason, and the sums are checked again against the form's
total rules (R1–R4) so a discrepancy shows before the report is published.

The result does not depend on the order of the units (ties are broken on content).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from annual_report.campaign.registry import Registry
from annual_report.consolidation.model import Consolidation, Unit, UnitOutcome, rules_codes
from annual_report.consolidation.table import ValueTable
from annual_report.errors import FormError, WorkbookError
from annual_report.form.model import Form, form_for_year, load_form
from annual_report.form.rules import Sides
from annual_report.report import EntryPool
from annual_report.store.base import Store
from annual_report.store.records import Submission
from annual_report.validation import Context, Issue, Validation, validate
from annual_report.workbook.breakdown import Leaf, unit_identity

__all__ = ["CONSOLIDATION_RULE", "consolidate", "consolidate_campaign", "consolidate_files"]

log = logging.getLogger(__name__)

CONSOLIDATION_RULE = "H"  # issue prefix for consolidation notices (H1…)

Checked = tuple[Unit, Validation]  # a unit's submission and its validation


def consolidate(
    units: Sequence[Unit],
    registry: Registry | None,
    form: Form,
    *,
    year: int | None = None,
) -> Consolidation:
    """Sum the units' reports cell by cell (see the module docstring for the rules)."""
    eligible, refused = _one_submission_per_unit(units, registry, form)
    covered, coverage_notices = _covered_by_counties(eligible, registry)
    chained, chain_notices = _inside_offices(eligible, covered, registry)
    covered.update(chained)
    included, placed = _include(eligible, covered, registry)
    values, breakdown, table = _sum_cells(form, included)
    leaves, twice, twice_notices = _leaves_once(form, included, registry, table)
    for code, value in twice.items():  # a unit inside two offices' reports: counted once
        values[code] -= value
    rules_from, rules_values, rules_notices = _rules_of_the_government(
        form, included, breakdown, registry
    )
    values.update(rules_values)
    issues = [
        *coverage_notices,
        *chain_notices,
        *twice_notices,
        *_office_sum_issues(form, included),
        *rules_notices,
        *_total_issues(form, values),
    ]
    outcomes = sorted([*refused, *placed], key=_outcome_key)
    log.info("consolidated %d of %d units (form %s)", len(included), len(outcomes), form.id)
    return Consolidation(
        form=form,
        year=year if year is not None else _most_common_year(included),
        values=values,
        breakdown=breakdown,
        units=outcomes,
        issues=sorted(issues, key=lambda i: (i.rule, i.codes, i.message)),
        rules_from=rules_from,
        leaves=leaves,
    )


# -- 1. one submission per unit ---------------------------------------------------------------


def _one_submission_per_unit(
    units: Sequence[Unit], registry: Registry | None, form: Form
) -> tuple[dict[str, Checked], list[UnitOutcome]]:
    """Validate every submission and keep the best of each unit (the consolidation's form and
    no errors, newest, then content); the others, and a best one that cannot be summed (another
    form, errors), become outcomes with their reason."""
    groups: dict[str, list[Checked]] = defaultdict(list)
    for unit in units:
        groups[unit.code].append((unit, _validated(unit, registry)))
    eligible: dict[str, Checked] = {}
    refused: list[UnitOutcome] = []
    for code, group in groups.items():
        (best, best_v), *others = _best_first(group, form)
        which = f"第{best.version}版" if best.version else "另一份"
        for other, other_v in others:
            reason = f"重复报送：已采用同一单位的{which}报告"
            refused.append(_outcome(other, other_v, registry, "duplicate", reason))
        if best.report.form.id != form.id:
            reason = f"表格格式（{best.report.form.name}）与汇总格式（{form.name}）不一致"
            refused.append(_outcome(best, best_v, registry, "wrong_form", reason))
        elif best_v.errors:
            reason = f"有{len(best_v.errors)}处错误，未纳入汇总"
            refused.append(_outcome(best, best_v, registry, "errors", reason))
        else:
            eligible[code] = (best, best_v)
    return eligible, refused


def _validated(unit: Unit, registry: Registry | None) -> Validation:
    if unit.validation is not None:
        return unit.validation
    dept = registry.get(unit.code) if registry else None
    context = Context(
        organ_kind=dept.kind if dept else unit.kind,
        can_make_rules=dept.can_make_rules if dept else False,
    )
    return validate(unit.report, context=context)


def _best_first(group: list[Checked], form: Form) -> list[Checked]:
    if len(group) == 1:  # the content digest is only needed to break ties
        return group
    return sorted(
        group,
        key=lambda uv: (
            uv[0].report.form.id == form.id and not uv[1].errors,
            uv[0].version or 0,
            uv[0].submission_id or 0,
            _digest(uv[0], uv[1]),
        ),
        reverse=True,
    )


def _digest(unit: Unit, validation: Validation) -> str:
    """A content fingerprint: the last tie-breaker between two submissions of one unit."""
    h = hashlib.sha256()
    for code in sorted(unit.report.entries):
        entry = unit.report.entries[code]
        h.update(f"{code}\0{entry.raw}\0{entry.value}\n".encode())
    for code in sorted(unit.report.narrative):
        h.update(f"{code}\0{unit.report.narrative[code]}\n".encode())
    for issue in validation.issues:
        h.update(f"{issue.rule}\0{issue.severity}\0{issue.codes}\0{issue.message}\n".encode())
    h.update(f"{unit.name}\0{unit.kind}\0{unit.report.form.id}\0{unit.report.source}".encode())
    return h.hexdigest()


def _outcome(
    unit: Unit, v: Validation, registry: Registry | None, status: str, reason: str, **kw: Any
) -> UnitOutcome:
    """What became of ``unit``, under its registry name and kind where the registry knows it."""
    dept = registry.get(unit.code) if registry else None
    return UnitOutcome(
        code=unit.code,
        name=dept.name if dept else unit.name,
        kind=dept.kind if dept else unit.kind,
        included=status == "included",
        reason=reason,
        status=status,
        submission_id=unit.submission_id,
        version=unit.version,
        source=unit.report.source,
        errors=len(v.errors),
        warnings=len(v.warnings),
        level=unit.level,
        leaf_count=len(unit.leaves) if unit.leaves is not None else None,
        **kw,
    )


# -- 2. counties and the units they cover -----------------------------------------------------


def _covered_by_counties(
    eligible: Mapping[str, Checked], registry: Registry | None
) -> tuple[dict[str, str], list[Issue]]:
    """The units a summed county report already contains (unit code → county code), with the
    notices: a unit not in the registry (H1), units left out for their county (H2), a county
    missing so its units count on their own (H3)."""
    covered: dict[str, str] = {}
    notices: list[Issue] = []
    if registry is None:
        return covered, notices
    for code in sorted(eligible):
        dept = registry.get(code)
        if dept is None:
            unit = eligible[code][0]
            notices.append(_issue(1, f"“{unit.name}”（{code}）不在单位名录中，已按报送纳入汇总"))
            continue
        if dept.kind != "county" or not dept.covers:
            continue
        inside = [c for c in dept.covers if c in eligible]
        for c in inside:
            covered[c] = code
        if inside:
            names = "、".join(registry[c].name for c in inside)
            notices.append(
                _issue(
                    2,
                    f"{dept.name}的汇总报告已包含{names}，为避免重复计算，"
                    "这些单位单独报送的数据未再计入",
                )
            )
    for code in sorted(eligible):
        county = registry.covered_by(code)
        if county is not None and county.code not in eligible:
            notices.append(
                _issue(
                    3,
                    f"{county.name}的汇总报告未纳入，其所属的{registry[code].name}单独计入；"
                    f"{county.name}的数据不完整",
                )
            )
    return covered, notices


def _identity(name: str) -> str:
    """Who a unit is across offices: its full name (codes are each office's own), folded."""
    return unit_identity(name)


def _inside_offices(
    eligible: Mapping[str, Checked], covered: Mapping[str, str], registry: Registry | None
) -> tuple[dict[str, str], list[Issue]]:
    """Units that report here directly *and* are inside an office's report (found in its unit
    breakdown by name, whatever the registry's ``covers`` says): ``unit code → office code``,
    and a notice (H6) for each, so the coordinator sees it and the unit is counted once, in its
    office's report. An office whose units are all inside another office's report is treated
    the same way (a county reporting to the province directly and through its city)."""
    offices = {
        code: {_identity(leaf.name) for leaf in unit.own_leaves()}
        for code, (unit, _v) in eligible.items()
        if unit.leaves is not None and code not in covered
    }
    found: dict[str, str] = {}
    notices: list[Issue] = []
    if not offices:  # no office one level down: nobody is inside one
        return found, notices
    for code in sorted(eligible):
        if code in covered:
            continue
        unit = eligible[code][0]
        mine = {_identity(leaf.name) for leaf in unit.own_leaves()}
        for office in sorted(offices, key=lambda c: (-len(offices[c]), c)):
            if office == code or not mine or not mine <= offices[office]:
                continue
            if unit.leaves is not None and offices[office] == mine and office > code:
                continue  # two reports of the same units: keep the first by code
            found[code] = office
            office_name = _unit_name(office, eligible, registry)
            notices.append(
                _issue(
                    6,
                    f"{_unit_name(code, eligible, registry)}既单独报送，又包含在{office_name}"
                    f"的汇总报告中；为避免重复计算，只计入{office_name}汇总报告中的数据",
                )
            )
            break
    return found, notices


def _leaves_once(
    form: Form, included: Mapping[str, Checked], registry: Registry | None, table: ValueTable
) -> tuple[list[Leaf], dict[str, Decimal], list[Issue]]:
    """Every leaf unit of the included units, each once; the values of the leaves found a
    second time (inside two offices' reports: subtracted from the sums), and a notice (H7)
    naming them. A unit that is its own leaf has its values as a view of ``table``."""
    seen: dict[str, Leaf] = {}
    leaves: list[Leaf] = []
    twice: dict[str, Decimal] = defaultdict(Decimal)
    notices: list[Issue] = []
    rules = set(rules_codes(form))
    for code in sorted(included):
        unit = included[code][0]
        own: tuple[Leaf, ...]
        if unit.leaves is None:
            own = (Leaf(unit.code, unit.name, unit.kind, table.row(code)),)
        else:
            own = unit.own_leaves()
        for leaf in own:
            identity = _identity(leaf.name)
            first = seen.get(identity)
            if first is None:
                seen[identity] = leaf
                leaves.append(leaf)
                continue
            for cell, value in leaf.values.items():
                if value and cell in form.cells and cell not in rules:
                    twice[cell] += value
            where = "、".join(
                _unit_name(c, included, registry) for c in (first.path[:1] or (first.code,))
            )
            notices.append(
                _issue(
                    7,
                    f"{leaf.name}同时包含在{where}和{_unit_name(code, included, registry)}"
                    f"的汇总报告中；汇总只计入一次（取{where}报告中的数据），请与两地核实",
                )
            )
    leaves.sort(key=lambda leaf: leaf.path)  # this office's own units, then office by office
    return leaves, dict(twice), notices


def _office_sum_issues(form: Form, included: Mapping[str, Checked]) -> list[Issue]:
    """An office's report whose figures are not the sums of its own unit breakdown (H8): the
    file was edited after it was approved, or its breakdown is incomplete."""
    issues = []
    skip = set(rules_codes(form))  # 规章 are the government's own, not a sum
    for code in sorted(included):
        unit = included[code][0]
        if unit.leaves is None:
            continue
        wrong = office_mismatches(form, unit.report, unit.leaves, skip)
        if wrong:
            first = wrong[0]
            issues.append(
                _issue(
                    8,
                    f"{unit.name}的汇总报告有{len(wrong)}个栏目与其分单位明细之和不符"
                    f"（如{form.cell(first[0]).label}：报告为{_number(first[1])}，"
                    f"明细之和为{_number(first[2])}）",
                    [c for c, _a, _b in wrong],
                )
            )
    return issues


def office_mismatches(
    form: Form, report: Any, leaves: Sequence[Leaf], skip: Iterable[str] = ()
) -> list[tuple[str, Decimal, Decimal]]:
    """``(cell, the report's figure, the sum of its leaves)`` where they differ."""
    skip = set(skip)
    wrong = []
    for cell in form.cells:
        if cell in skip:
            continue
        total = sum((leaf.values.get(cell) or Decimal(0) for leaf in leaves), Decimal(0))
        reported = report.value(cell) or Decimal(0)
        if reported != total:
            wrong.append((cell, reported, total))
    return wrong


def _include(
    eligible: Mapping[str, Checked], covered: Mapping[str, str], registry: Registry | None
) -> tuple[dict[str, Checked], list[UnitOutcome]]:
    """The units summed, and an outcome for each eligible unit (included, or covered)."""
    included: dict[str, Checked] = {}
    placed: list[UnitOutcome] = []
    for code, (unit, v) in eligible.items():
        if code in covered:
            county = registry.get(covered[code]) if registry else None
            county_name = county.name if county else eligible[covered[code]][0].name
            reason = f"已包含在{county_name}的汇总报告中，不重复计算"
            placed.append(_outcome(unit, v, registry, "covered", reason, covered_by=covered[code]))
        else:
            reason = f"已纳入（有{len(v.warnings)}条警告）" if v.warnings else "已纳入"
            placed.append(_outcome(unit, v, registry, "included", reason))
            included[code] = (unit, v)
    return included, placed


def _issue(number: int, message: str, codes: Iterable[str] = ()) -> Issue:
    return Issue(f"{CONSOLIDATION_RULE}{number}", "warning", tuple(codes), (), message)


# -- 3. exact sums ----------------------------------------------------------------------------


def _sum_cells(
    form: Form, included: Mapping[str, Checked]
) -> tuple[dict[str, Decimal], dict[str, Mapping[str, Decimal | None]], ValueTable]:
    """Every cell's exact sum over the included units, and each unit's value (by unit code):
    read-only views of one table of the units' values (:mod:`.table`), which is returned too."""
    table = ValueTable(form.cells, ((code, included[code][0].report) for code in sorted(included)))
    breakdown: dict[str, Mapping[str, Decimal | None]] = {}
    values: dict[str, Decimal] = {}
    with localcontext() as ctx:
        ctx.prec = 60  # far beyond any report: sums stay exact
        for code in form.cells:
            column = table.column(code)
            total = Decimal(0)
            for value in column.values_in_order():
                if value is not None:
                    total += value
            breakdown[code] = column
            values[code] = total
    return values, breakdown, table


# -- 4. 规章 are the government's own ---------------------------------------------------------


def _rules_of_the_government(
    form: Form,
    included: Mapping[str, Checked],
    breakdown: Mapping[str, Mapping[str, Decimal | None]],
    registry: Registry | None,
) -> tuple[str | None, dict[str, Decimal], list[Issue]]:
    """``(the unit whose 规章 are taken, the 规章 values to use instead of the sums, notices)``:
    规章 are made in the government's name, so only its unit's count when it is included (H4
    names the other units that reported some); without it the sums stand (H5)."""
    codes = [c for c in rules_codes(form) if c in form.cells]
    reporting = [c for c in sorted(included) if any(breakdown[r][c] for r in codes)]
    government = registry.government if registry else None
    if government is not None and government.code in included:
        own = {r: breakdown[r][government.code] or Decimal(0) for r in codes}
        others = [c for c in reporting if c != government.code]
        if not others:
            return government.code, own, []
        names = "、".join(_unit_name(c, included, registry) for c in others)
        message = (
            f"{names}填报了规章；规章以人民政府名义制定，汇总只取{government.name}的数据，"
            "请核实是否重复填报"
        )
        return government.code, own, [_issue(4, message, codes)]
    if not reporting:
        return None, {}, []
    names = "、".join(_unit_name(c, included, registry) for c in reporting)
    missing = f"未纳入{government.name}的报告，" if government is not None else ""
    message = f"{missing}规章按{names}填报数相加；规章以人民政府名义制定，请核实是否重复"
    return None, {}, [_issue(5, message, codes)]


def _unit_name(code: str, included: Mapping[str, Checked], registry: Registry | None) -> str:
    dept = registry.get(code) if registry else None
    if dept is not None:
        return dept.name
    return included[code][0].name if code in included else code


# -- 5. the sums against the form's totals ----------------------------------------------------


def _total_issues(form: Form, values: dict[str, Decimal]) -> list[Issue]:
    """The form's error-level sum rules (R1–R4) over the sums: recomputed totals vs summed ones."""
    issues = []
    for rule in form.rules:
        if rule.check != "sum_equal" or rule.severity != "error":
            continue
        sides = rule.params_as(Sides)
        for binding in form.bindings(rule):
            left = form.expand_all(sides.left, binding)
            right = form.expand_all(sides.right, binding)
            a = sum((values[c] for c in left), Decimal(0))
            b = sum((values[c] for c in right), Decimal(0))
            if a == b:
                continue
            if len(left) == 1:
                message = (
                    f"汇总后{form.cell(left[0]).label}为{_number(a)}，"
                    f"由各项相加为{_number(b)}，相差{_number(a - b)}（{rule.title}）"
                )
            else:
                message = f"汇总后“{rule.title}”不成立：{_number(a)}≠{_number(b)}"
            issues.append(Issue(rule.id, "error", (*left, *right), (), message))
    return issues


def _number(value: Decimal) -> str:
    return format(value, "f")


# -- the result -------------------------------------------------------------------------------


def _most_common_year(included: Mapping[str, Checked]) -> int | None:
    """The report year most included units give (the later on a tie)."""
    years = Counter(unit.report.year for unit, _ in included.values() if unit.report.year)
    return max(years, key=lambda y: (years[y], y)) if years else None


def _outcome_key(u: UnitOutcome) -> tuple[Any, ...]:
    """Units by code, the included one first; every field breaks ties (order independence)."""
    return (
        u.code,
        not u.included,
        u.version or 0,
        u.submission_id or 0,
        u.reason,
        u.status,
        u.source or "",
        u.errors,
        u.warnings,
        u.covered_by or "",
        u.name,
        u.kind,
    )


# -- files ----------------------------------------------------------------------------------


def consolidate_files(
    paths: Sequence[str | Path],
    *,
    registry: Registry | None = None,
    year: int | None = None,
) -> Consolidation:
    """Read workbooks (isolated), validate them and consolidate; unreadable files are excluded."""
    from annual_report.workbook.sandbox import read_untrusted

    units: list[Unit] = []
    unreadable: list[UnitOutcome] = []
    for path in paths:
        path = Path(path)
        try:
            report = read_untrusted(path, year=year)
        except WorkbookError as exc:
            log.warning("cannot read %s: %s", path, exc)
            unreadable.append(
                UnitOutcome(
                    code=path.stem,
                    name=path.name,
                    kind="department",
                    included=False,
                    reason=f"文件无法读取：{exc.reason_zh}",
                    status="unreadable",
                    source=str(path),
                )
            )
            continue
        dept = registry.get(report.department) if registry else None
        code = dept.code if dept else (report.department or path.stem)
        office = report.office
        units.append(
            Unit(
                code=code,
                name=dept.name if dept else (office.name if office else None) or path.stem,
                report=report,
                kind=dept.kind if dept else "department",
                leaves=tuple(office.leaves) if office is not None else None,
                level=office.level if office is not None else None,
            )
        )
    form = _choose_form(units, year)
    result = consolidate(units, registry, form, year=year)
    result.units = sorted([*result.units, *unreadable], key=_outcome_key)
    return result


# -- from the store ---------------------------------------------------------------------------


def consolidate_campaign(store: Store, campaign_id: str) -> Consolidation:
    """Consolidate a campaign from the store: each department's accepted submission is summed;
    every other active department is listed with why it is not (未报送, errors, returned, …)."""
    campaign = store.campaign(campaign_id)
    registry = store.registry(campaign_id)
    form = load_form(campaign.form_id)
    units: list[Unit] = []
    others: list[UnitOutcome] = []
    accepted_by_code = {s.department: s for s in store.accepted_submissions(campaign_id)}
    missing = []
    pool = EntryPool()  # thousands of reports held at once: their entries shared, read-only
    for dept in registry:
        accepted = accepted_by_code.get(dept.code)
        if accepted is not None:
            report = store.report_from_submission(accepted.id, pool, narrative=False)
            issues = [
                Issue(i.rule, i.severity, i.codes, i.cells, i.message)  # type: ignore[arg-type]
                for i in store.issues(accepted.id)
            ]
            office = store.office_record(accepted.id) if dept.is_office else None
            units.append(
                Unit(
                    dept.code,
                    dept.name,
                    report,
                    Validation(report, issues),
                    dept.kind,
                    submission_id=accepted.id,
                    version=accepted.version,
                    leaves=tuple(store.office_leaves(accepted.id)) if office else None,
                    level=dept.level if office else None,
                )
            )
        else:
            missing.append(dept)
    result = consolidate(units, registry, form, year=campaign.report_year)
    included = {u.code for u in result.included}
    for dept in missing:
        latest = store.latest_submission(campaign_id, dept.code)
        status, reason = _not_accepted(latest)
        county = registry.covered_by(dept.code)
        if county is not None and county.code in included:
            reason += f"（其数据已包含在{county.name}的汇总报告中）"
        others.append(
            UnitOutcome(
                code=dept.code,
                name=dept.name,
                kind=dept.kind,
                included=False,
                reason=reason,
                status=status,
                submission_id=latest.id if latest else None,
                version=latest.version if latest else None,
                source=latest.archived_path or latest.file_name if latest else None,
                errors=latest.error_count if latest else 0,
                warnings=latest.warning_count if latest else 0,
            )
        )
    result.units = sorted([*result.units, *others], key=_outcome_key)
    return result


def _not_accepted(latest: Submission | None) -> tuple[str, str]:
    """``(status, Chinese reason)`` of a department without an accepted submission."""
    if latest is None:
        return "missing", "未报送"
    version = f"第{latest.version}版" if latest.version else "报送的"
    if latest.status == "unreadable":
        why = latest.failure_reason_zh or latest.failure_reason or ""
        return "unreadable", f"{version}文件无法读取：{why}"
    if latest.status == "rejected" and latest.error_count:
        return "errors", f"{version}有{latest.error_count}处错误，未纳入汇总"
    if latest.status == "rejected":
        note = f"：{latest.decision_note}" if latest.decision_note else ""
        return "returned", f"{version}已被退回{note}"
    return "pending", f"{version}尚未审核"


def _choose_form(units: Sequence[Unit], year: int | None) -> Form:
    """The form of the given year, else of the reports' most common year, else their form."""
    if year is not None:
        return form_for_year(year)
    years = Counter(u.report.year for u in units if u.report.year)
    if years:
        return form_for_year(max(years, key=lambda y: (years[y], y)))
    forms = Counter(u.report.form.id for u in units)
    if not forms:
        raise FormError("no readable report says its year: give the report year")
    best = max(forms, key=lambda f: (forms[f], f))
    return next(u.report.form for u in units if u.report.form.id == best)
