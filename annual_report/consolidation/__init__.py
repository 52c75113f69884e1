"""Consolidation: the city-level report as the exact sum of the accepted units' reports.

:mod:`.model` (Unit, UnitOutcome, Consolidation), :mod:`.merge` (:func:`consolidate` and its
named steps; from files or from the store) and :mod:`.workbook` (the consolidated workbook)::

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
from annual_report.consolidation.workbook import (
    BREAKDOWN_SHEET,
    COMPARISON_SHEET,
    UNITS_PER_PAGE,
    UNITS_SHEET,
    write_consolidation,
)

__all__ = [
    "BREAKDOWN_SHEET",
    "COMPARISON_SHEET",
    "CONSOLIDATION_RULE",
    "UNITS_PER_PAGE",
    "UNITS_SHEET",
    "Consolidation",
    "Unit",
    "UnitOutcome",
    "consolidate",
    "consolidate_campaign",
    "consolidate_files",
    "rules_codes",
    "write_consolidation",
]
