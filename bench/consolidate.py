"""Benchmark: consolidate 1,000 returned workbooks (read isolated + validate + merge + write).

Run by hand: ``make bench`` (or ``.venv/bin/python bench/consolidate.py [N]``). The workbooks are
generated once into ``var/bench/`` (about 2 minutes for 1,000) and reused on later runs.
Target (issue 2): 1,000 workbooks under 30 s on the 2-core machine.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from annual_report.consolidation import consolidate, consolidate_files, write_consolidation
from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values
from annual_report.workbook.template import TemplateMeta, write_template

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
CACHE = Path("var/bench/workbooks")


def workbooks(count: int) -> list[Path]:
    form = form_for_year(2021)
    rng = random.Random(1000)
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = CACHE / f"unit-{i:04d}.xlsx"
        if not path.exists():
            meta = TemplateMeta(form.id, 2021, f"U{i:04d}", f"单位{i:04d}", "2021", f"{i:016x}")
            write_template(path, form, meta=meta, values=consistent_values(form, rng))
        paths.append(path)
    return paths


def main() -> None:
    start = time.perf_counter()
    paths = workbooks(COUNT)
    print(f"{COUNT} workbooks ready in {time.perf_counter() - start:.1f} s (generation, not timed)")

    start = time.perf_counter()
    result = consolidate_files(paths, year=2021)
    read_merge = time.perf_counter() - start
    units = [u for u in result.units if u.included]

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_consolidation(
            result, Path(tmp) / "city.xlsx", title="基准测试市2021年政府信息公开工作年度报告"
        )
        write = time.perf_counter() - start

    # The merge alone, on reports already read (what the consolidate flow does from the store).
    from annual_report.consolidation import Unit
    from annual_report.workbook.sandbox import read_untrusted

    reports = [Unit(code=p.stem, name=p.stem, report=read_untrusted(p)) for p in paths[:200]]
    start = time.perf_counter()
    consolidate(reports, None, form_for_year(2021), year=2021)
    merge_200 = time.perf_counter() - start

    total = read_merge + write
    print(f"included {len(units)} of {COUNT}")
    per_book = read_merge / COUNT * 1000
    print(f"read (isolated) + validate + merge: {read_merge:6.1f} s  ({per_book:.1f} ms/workbook)")
    print(f"write the consolidated workbook:    {write:6.1f} s")
    print(f"total:                              {total:6.1f} s  (target < 30 s)")
    print(f"merge alone, 200 read reports:      {merge_200 * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
