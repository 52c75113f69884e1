"""The names ``annual_report.validation.core`` had before validation became a package.

Kept so that code written against the old path still imports while the parallel branches of
issue 11 merge; import from :mod:`annual_report.validation` instead. Nothing in the package
imports this module (no cycle: it only re-exports).
"""

from annual_report.validation.model import (
    SKIP_REASONS_ZH,
    Context,
    Issue,
    Severity,
    Validation,
)
from annual_report.validation.runner import validate

__all__ = ["SKIP_REASONS_ZH", "Context", "Issue", "Severity", "Validation", "validate"]
