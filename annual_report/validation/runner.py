"""Run a form's rules over a report: every rule, or the ones the caller names."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from annual_report.errors import FormError
from annual_report.form.model import Form
from annual_report.form.rules import CHECK_PARAMS, RuleDef
from annual_report.report import Report
from annual_report.validation.model import Context, Inputs, Issue, Skip, Validation
from annual_report.validation.registry import CHECKS
from annual_report.validation.values import cell_refs

logger = logging.getLogger(__name__)


def validate(
    report: Report,
    *,
    previous: Report | None = None,
    context: Context | None = None,
    rules: Collection[str] | None = None,
) -> Validation:
    """Run the rules of ``report.form`` in the form's order; bad data gives issues, never
    exceptions.

    ``previous`` is the unit's report of last year (C1, C2, C7, C9) and ``context`` what the
    registry and the store know of the unit (C3, C7, C9); rules without their inputs are skipped
    (``Validation.skipped``). ``rules`` runs only the rules with these ids, e.g.
    ``validate(report, rules={"R1", "C3"})``; an id the form does not have is a
    :class:`~annual_report.errors.FormError`. A broken form (a check that does not exist) is a
    FormError too: it is the code's fault, not the department's.
    """
    if isinstance(rules, str):  # "R1" is one rule, not the rules "R" and "1"
        rules = (rules,)
    selected = _selected(report.form, rules)
    inputs = Inputs(report, previous, context or Context())
    validation = Validation(report, rules=None if rules is None else tuple(r.id for r in selected))
    for rule in selected:
        try:
            findings = list(CHECKS[rule.check](rule, rule.params, inputs))
        except Skip as skip:
            logger.debug("rule %s skipped: %s", rule.id, skip)
            validation.skipped[rule.id] = str(skip)
            continue
        for finding in findings:
            cells = finding.cells
            if cells is None:
                cells = cell_refs(report, finding.codes)
            validation.issues.append(
                Issue(rule.id, rule.severity, finding.codes, cells, finding.message)
            )
    return validation


def _selected(form: Form, rules: Collection[str] | None) -> Sequence[RuleDef]:
    """The form's rules to run, each checked to have its check and that check's parameters."""
    if rules is not None:
        missing = sorted(set(rules) - {r.id for r in form.rules})
        if missing:
            raise FormError(
                f"form {form.id} has no rule {', '.join(missing)}",
                rules=", ".join(r.id for r in form.rules),
            )
    chosen = [r for r in form.rules if rules is None or r.id in rules]
    unknown = sorted({f"{r.id}: {r.check}" for r in chosen if r.check not in CHECKS})
    if unknown:
        raise FormError(f"form {form.id} names unknown checks", checks="; ".join(unknown))
    mismatched = [
        f"{r.id}: {type(r.params).__name__}"
        for r in chosen
        if not isinstance(r.params, CHECK_PARAMS[r.check])
    ]
    if mismatched:  # a form built in code with parameters of another check
        raise FormError(f"form {form.id} gives rules the wrong parameters: {'; '.join(mismatched)}")
    return chosen
