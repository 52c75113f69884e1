"""Benchmark: one department's template, built by openpyxl against copied from the base.

Run by hand: ``make bench`` (or ``.venv/bin/python bench/template.py [UNITS]``, default 200).
For both forms (2019, 2021) it writes UNITS departments' templates to files the way dispatch
does (``write_template`` with the department's metadata and, for half of them, last year's
carried-over numbers), after building as many the old way (``build_workbook`` + save).
Target (issue 12): ≤ 20 ms a template.
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from annual_report.form.model import load_form
from annual_report.workbook.template import TemplateMeta, build_workbook, write_template

UNITS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
OLD_WAY = 30  # the old way is slow: fewer rounds


def metas(form_id: str, year: int, units: int) -> list[TemplateMeta]:
    return [
        TemplateMeta(
            form_id=form_id,
            report_year=year,
            department_code=f"U{i:04d}",
            department_name="宜春市" + "人力资源和社会保障局"[: 2 + i % 9] + f"{i}",
            campaign_id=str(year),
            token=f"{i:016x}",
            deadline=date(year + 1, 1, 26),
        )
        for i in range(units)
    ]


def main() -> None:
    print(f"{'form':<22}{'old way ms':>12}{'first copy ms':>15}{'copy ms':>10}{'max ms':>9}")
    for form_id, year in (("gov-disclosure-2021", 2021), ("gov-disclosure-2019", 2020)):
        form = load_form(form_id)
        carried = {
            code: Decimal(i % 7)
            for i, code in enumerate(form.cells)
            if code.startswith("requests.carried_from_last_year.")
        }
        units = metas(form_id, year, UNITS)
        old = []
        for meta in units[:OLD_WAY]:
            start = time.perf_counter()
            build_workbook(form, meta=meta, values=carried).save(io.BytesIO())
            old.append(time.perf_counter() - start)
        times = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, meta in enumerate(units):
                values = carried if i % 2 else {}
                start = time.perf_counter()
                write_template(
                    Path(tmp) / f"{meta.department_code}.xlsx", form, meta=meta, values=values
                )
                times.append(time.perf_counter() - start)
        first = max(times[:2])  # each of the two bases (with and without carried numbers)
        rest = sorted(times[2:])
        print(
            f"{form_id:<22}{statistics.median(old) * 1000:>12.1f}{first * 1000:>15.1f}"
            f"{statistics.median(rest) * 1000:>10.1f}{rest[-1] * 1000:>9.1f}"
        )
    print(f"({UNITS} templates a form; 'first copy' builds the campaign's base)")


if __name__ == "__main__":
    main()
