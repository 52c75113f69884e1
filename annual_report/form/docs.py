"""Generate ``docs/codes.md`` from the form definitions: ``python -m annual_report.form.docs``."""

from __future__ import annotations

from annual_report.form.model import forms

TYPE_LABELS = {"count": "int ≥ 0", "signed": "signed int", "money": "decimal ≥ 0"}


def codes_markdown() -> str:
    lines = [
        "# Canonical cell codes",
        "",
        "Every input cell of the national formats: its code (FORMAT.md §7), its type and",
        "its labels. Files, JSON, the database and the tests speak these codes, and every",
        "template cell carries a workbook-scoped defined name equal to its code. Generated from",
        "`annual_report/form/definitions/*.yaml` by "
        "`python -m annual_report.form.docs > docs/codes.md`; a test",
        "keeps it in sync.",
    ]
    for form in forms():
        last = form.last_year or "onward"
        lines += [
            "",
            f"## {form.id}: {form.name}",
            "",
            f"Report years {form.first_year}–{last}; {len(form.cells)} cells; narrative sections "
            + ", ".join(f"`{c}`" for c in form.narrative_codes)
            + ".",
            "",
            "| code | type | section | row | column |",
            "|---|---|---|---|---|",
        ]
        for cell in form.cells.values():
            unit = f" ({cell.unit})" if cell.unit else ""
            lines.append(
                f"| `{cell.code}` | {TYPE_LABELS[cell.type]}{unit} | {cell.section} | "
                f"{cell.row_label or '—'} | {cell.column_label or cell.column.label} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(codes_markdown(), end="")
