"""Benchmark: read + validate one returned workbook, against openpyxl.load_workbook of it.

Run by hand: ``make bench`` (or ``.venv/bin/python bench/read_validate.py``). Prints medians.
Target (issue 2): read + validate at least 10x faster than openpyxl's load of the same file.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, sample_narrative
from annual_report.validation import validate
from annual_report.workbook.reader import read_workbook
from annual_report.workbook.sandbox import read_untrusted
from annual_report.workbook.template import TemplateMeta, write_template

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def median_ms(fn, rounds: int = ROUNDS) -> float:
    fn()  # warm up (imports, caches, the sandbox worker)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    form = form_for_year(2021)
    rng = random.Random(2021)
    values = consistent_values(form, rng, busy=0.6)
    meta = TemplateMeta(form.id, 2021, "RSJ", "宜春市人力资源和社会保障局", "2021", "0" * 16)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_template(
            Path(tmp) / "rsj.xlsx",
            form,
            meta=meta,
            values=values,
            narrative=sample_narrative(2021, values, rng),
        )
        size = path.stat().st_size
        load = median_ms(lambda: openpyxl.load_workbook(path))
        load_ro = median_ms(lambda: openpyxl.load_workbook(path, read_only=True).close())
        in_process = median_ms(lambda: validate(read_workbook(path)))
        isolated = median_ms(lambda: validate(read_untrusted(path)))
    print(f"workbook: 2021 form, {len(values)} cells filled, {size / 1024:.1f} KiB")
    print(f"{'operation':<48}{'median ms':>10}{'ratio':>8}")
    rows = [
        ("openpyxl.load_workbook", load),
        ("openpyxl.load_workbook(read_only=True)", load_ro),
        ("read_workbook + validate (in process)", in_process),
        ("read_untrusted + validate (isolated worker)", isolated),
    ]
    for name, ms in rows:
        print(f"{name:<48}{ms:>10.2f}{load / ms:>7.1f}x")


if __name__ == "__main__":
    main()
