"""Consolidation: the city-level report as the exact sum of the accepted units' reports.

:mod:`.model` (Unit, UnitOutcome, Consolidation), :mod:`.merge` (:func:`consolidate` and its
named steps; from files or from the store), :mod:`.workbook` (the consolidated workbook) and
:mod:`.offices` (an office's report one level up: its checks, the drill-down)::

    from annual_report.consolidation import consolidate_campaign, write_consolidation

    result = consolidate_campaign(store, "2024")
    write_consolidation(result, "汇总.xlsx", title="宜春市2024年政府信息公开工作年度报告")
"""

from annual_report.consolidation.merge import (
    CONSOLIDATION_RULE,
    consolidate,
    consolidate_campaign,
    consolidate_files,
)
from annual_report.consolidation.model import Consolidation, Unit, UnitOutcome, rules_codes
from annual_report.consolidation.offices import (
    Drill,
    drill_down,
    drill_text,
    office_digest,
    office_issues,
    reported_twice,
)
from annual_report.consolidation.workbook import (
    BREAKDOWN_SHEET,
    COMPARISON_SHEET,
    UNITS_PER_PAGE,
    UNITS_SHEET,
    OfficeIdentity,
    office_hash,
    write_consolidation,
)

__all__ = [
    "BREAKDOWN_SHEET",
    "COMPARISON_SHEET",
    "CONSOLIDATION_RULE",
    "UNITS_PER_PAGE",
    "UNITS_SHEET",
    "Consolidation",
    "Drill",
    "OfficeIdentity",
    "Unit",
    "UnitOutcome",
    "consolidate",
    "consolidate_campaign",
    "consolidate_files",
    "drill_down",
    "drill_text",
    "office_digest",
    "office_hash",
    "office_issues",
    "reported_twice",
    "rules_codes",
    "write_consolidation",
]
