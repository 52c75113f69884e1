"""Benchmark: read + validate one returned workbook, against openpyxl.load_workbook of it, and
the isolated read against the in-process one.

Run by hand: ``make bench`` (or ``.venv/bin/python bench/read_validate.py [rounds]``). Prints
medians. The operations are interleaved round by round (each round runs every one once, in a
rotating order), so a busy machine slows them alike and the ratios hold.
Targets: read + validate at least 10x faster than openpyxl's load of the same file (issue 2);
the isolated read within 2x of the in-process read (issue 12).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import openpyxl

from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, sample_narrative
from annual_report.validation import validate
from annual_report.workbook.intake import inspect
from annual_report.workbook.reader import read_workbook
from annual_report.workbook.sandbox import Sandbox
from annual_report.workbook.template import TemplateMeta, write_template

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def interleaved(ops: dict[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, float]:
    """Median milliseconds of each operation, run once per round in a rotating order."""
    names = list(ops)
    for name in names:
        ops[name]()  # warm up (imports, caches, the sandbox worker)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            start = time.perf_counter()
            ops[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main() -> None:
    form = form_for_year(2021)
    rng = random.Random(2021)
    values = consistent_values(form, rng, busy=0.6)
    meta = TemplateMeta(form.id, 2021, "RSJ", "宜春市人力资源和社会保障局", "2021", "0" * 16)
    with tempfile.TemporaryDirectory() as tmp, Sandbox() as sandbox:
        path = write_template(
            Path(tmp) / "rsj.xlsx",
            form,
            meta=meta,
            values=values,
            narrative=sample_narrative(2021, values, rng),
        )
        size = path.stat().st_size
        ms = interleaved(
            {
                "openpyxl.load_workbook": lambda: openpyxl.load_workbook(path),
                "openpyxl.load_workbook(read_only=True)": (
                    lambda: openpyxl.load_workbook(path, read_only=True).close()
                ),
                "read_workbook + validate (in process)": lambda: validate(read_workbook(path)),
                "read_untrusted + validate (isolated worker)": (
                    lambda: validate(sandbox.read(path))
                ),
                "  of which the pre-checks (inspect, in process)": lambda: inspect(path),
            }
        )
    load = ms["openpyxl.load_workbook"]
    print(f"workbook: 2021 form, {len(values)} cells filled, {size / 1024:.1f} KiB")
    print(f"{'operation':<50}{'median ms':>10}{'ratio':>8}")
    for name, value in ms.items():
        print(f"{name:<50}{value:>10.2f}{load / value:>7.1f}x")
    isolated = ms["read_untrusted + validate (isolated worker)"]
    in_process = ms["read_workbook + validate (in process)"]
    print(f"isolated / in process: {isolated / in_process:.2f}x (target ≤ 2x)")


if __name__ == "__main__":
    main()
