"""Benchmark: the history of a city of 1,000 units over three report years, from a real SQLite
store: the DataFrames, year over year, the progress chart, and the export in each format.

Run by hand: ``.venv/bin/python bench/history.py [N]``. Builds the store in a temporary
directory (each unit: one accepted report per year, a rejected first version in the last year,
an invitation and a reminder), then times what a coordinator or analyst runs.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from annual_report.campaign.registry import Department, Registry
from annual_report.documents import charts
from annual_report.form.model import form_for_year
from annual_report.history import frames as history
from annual_report.report import Report
from annual_report.samples import consistent_values
from annual_report.store import open_store
from annual_report.store.base import Store, content_hash
from annual_report.validation import Issue, Validation

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
YEARS = (2021, 2022, 2023)


def build(path: Path) -> Store:
    rng = random.Random(14)
    registry = Registry(
        city="示例市",
        departments=tuple(
            Department(code=f"U{i:04d}", name=f"单位{i:04d}", kind="department", email=f"u{i}@x.cn")
            for i in range(COUNT)
        ),
    )
    store = open_store(path)
    for year in YEARS:
        campaign = str(year)
        start = datetime(year + 1, 1, 4, 1, tzinfo=UTC)
        store.create_campaign(campaign, year, deadline=date(year + 1, 1, 26), registry=registry)
        form = form_for_year(year)
        for i, dept in enumerate(registry):
            store.begin_event(
                campaign,
                f"invitation:{dept.code}",
                kind="sent.invitation",
                department=dept.code,
                at=start,
            )
            store.finish_event(campaign, f"invitation:{dept.code}", at=start)
            report = Report(form=form, year=year, department=dept.code, method="defined-names")
            for code, value in consistent_values(form, rng).items():
                report.set_raw(code, format(value, "f"))
            when = start + timedelta(hours=rng.randrange(24 * 28))
            if year == YEARS[-1] and i % 5 == 0:
                bad = Validation(report, [Issue("R1", "error", (), (), "错")])
                store.record_submission(
                    campaign,
                    sha256=content_hash(f"{year}{i}x".encode()),
                    source="mail",
                    department=dept.code,
                    validation=bad,
                    received_at=when - timedelta(days=2),
                )
            store.record_submission(
                campaign,
                sha256=content_hash(f"{year}{i}".encode()),
                source="mail",
                department=dept.code,
                validation=Validation(report, []),
                received_at=when,
            )
    return store


def timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label:<48} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        store = build(Path(tmp) / "nianbao.db")
        print(
            f"{COUNT} units × {len(YEARS)} years stored in {time.perf_counter() - start:.1f} s"
            " (setup, not timed)"
        )
        last = YEARS[-1]
        values = timed("values_frame (all years)", lambda: history.values_frame(store))
        print(f"  {len(values):,} value rows")
        timed("submissions_frame", lambda: history.submissions_frame(store))
        timed("units_frame", lambda: history.units_frame(store))
        timed(
            "city year over year (consolidates 2 years)",
            lambda: history.year_over_year(store, last),
        )
        timed("one department year over year", lambda: history.year_over_year(store, last, "U0001"))
        timed("progress chart (PNG)", lambda: charts.campaign_progress_png(store, str(last)))
        timed("outcomes chart (consolidates 3 years)", lambda: charts.outcomes_png(store))
        for fmt in ("parquet", "csv", "xlsx"):
            try:
                timed(f"export {fmt}", lambda f=fmt: history.export(store, Path(tmp) / f, f))
            except Exception as exc:  # xlsx refuses more rows than a sheet holds
                print(f"export {fmt}: {exc}")
        store.close()


if __name__ == "__main__":
    main()
