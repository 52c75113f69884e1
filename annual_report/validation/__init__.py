"""Validation: run a form's rules over a report and return the issues found (never raise).

Each rule of a form (``form/definitions/*.yaml``) names a check and gives its typed parameters
(:mod:`annual_report.form.rules`); the check, code in the module of its family, turns the rule's
cells into :class:`Issue` objects with a Chinese message for the department and the codes and
Excel cells for the coordinator::

    from annual_report.validation import Context, validate

    validation = validate(report, previous=last_year, context=Context(can_make_rules=True))
    validation.ok, validation.errors, validation.skipped
    validate(report, rules={"R1", "C3"})  # only these rules

The package: :mod:`.model` (what validation speaks: Issue, Validation, Context, Inputs, Finding,
Skip), :mod:`.runner` (:func:`validate`), :mod:`.registry` (the checks by name), the families of
checks (:mod:`.sums` R1–R4 C4, :mod:`.reading` R5 R6 N1 N2 A1, :mod:`.history` C1 C2 C7 C9,
:mod:`.rule_making` C3, :mod:`.narrative` C5 C6 C8 T1) and their shared helpers (:mod:`.values`,
:mod:`.wording`); :mod:`.digest` words the issues for a mail.
"""

from annual_report.validation.model import (
    SKIP_REASONS_ZH,
    Context,
    Finding,
    Inputs,
    Issue,
    Severity,
    Skip,
    Validation,
)
from annual_report.validation.registry import CHECKS, Check
from annual_report.validation.runner import validate

__all__ = [
    "CHECKS",
    "SKIP_REASONS_ZH",
    "Check",
    "Context",
    "Finding",
    "Inputs",
    "Issue",
    "Severity",
    "Skip",
    "Validation",
    "validate",
]
