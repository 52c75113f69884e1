"""Benchmark: the store's share of taking one message, at a small and a large city.

Run by hand: ``.venv/bin/python bench/store.py [N ...]`` (default 100 and 2000 units). For each
size it builds a real SQLite store (every unit invited and with an accepted report of last
year; half of them with an accepted report this year), then times the store calls the intake
of one returned workbook makes — the registry (three times, as the use cases ask), the token,
the thread by Message-ID, last year's report (C1), the unit's years (C9), the other units'
fees (C7), recording the message, the file and the answer — over fresh messages. Per-message
store work should stay flat as the city grows; the fees query returns one row per accepted
unit by nature (the median needs them all).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from annual_report.campaign.registry import Department, Registry
from annual_report.form.model import form_for_year
from annual_report.report import Report
from annual_report.samples import consistent_values
from annual_report.store import open_store
from annual_report.store.base import Store, content_hash
from annual_report.validation import Validation

SIZES = [int(a) for a in sys.argv[1:]] or [100, 2000]
MESSAGES = 50
FEES = ["proactive.admin_fees.amount_wan_yuan"]
T0 = datetime(2023, 1, 4, 1, tzinfo=UTC)


def report(year: int, code: str, rng: random.Random) -> Report:
    form = form_for_year(year)
    rep = Report(form=form, year=year, department=code, method="defined-names")
    for cell, value in consistent_values(form, rng).items():
        rep.set_raw(cell, format(value, "f"))
    return rep


def build(path: Path, units: int) -> tuple[Store, Registry]:
    rng = random.Random(12)
    registry = Registry(
        city="示例市",
        departments=tuple(
            Department(code=f"U{i:04d}", name=f"单位{i:04d}", kind="department", email=f"u{i}@x.cn")
            for i in range(units)
        ),
    )
    store = open_store(path)
    for year in (2021, 2022):
        campaign = str(year)
        store.create_campaign(campaign, year, deadline=date(year + 1, 1, 26), registry=registry)
        for i, dept in enumerate(registry):
            if year == 2022:
                key = f"invitation:{dept.code}"
                store.begin_event(campaign, key, kind="sent.invitation", department=dept.code)
                store.finish_event(campaign, key, detail={"message_id": f"<inv{i}@x.cn>"})
                if i % 2:
                    continue
            store.record_submission(
                campaign,
                sha256=content_hash(f"{year}:{dept.code}".encode()),
                source="bench",
                department=dept.code,
                validation=Validation(report(year, dept.code, rng), []),
                received_at=T0 - timedelta(days=365 * (2022 - year)),
            )
    return store, registry


def one_message(store: Store, n: int, code: str, rep: Report) -> None:
    campaign = "2022"
    for _ in range(3):
        store.registry(campaign)
    store.department_for_token(campaign, store.department_token(campaign, code))
    store.event_by_message_id(campaign, f"<inv{n}@x.cn>")
    store.record_message(campaign, f"bench:{n}", sha256=content_hash(b"m%d" % n), outcome="x")
    store.previous_year_report(campaign, code)
    store.unit_years(code, 2017, 2021)
    store.accepted_values(campaign, FEES)
    sub = store.record_submission(
        campaign,
        sha256=content_hash(b"f%d" % n),
        source="bench",
        department=code,
        validation=Validation(rep, []),
    )
    key = f"answer:{sub.id}"
    store.begin_event(campaign, key, kind="answer.accepted", department=code)
    store.finish_event(campaign, key, detail={"message_id": f"<a{n}@x.cn>"})


def main() -> None:
    rng = random.Random(3)
    print(f"{'units':>6} {'build':>8} {'per message (median)':>22} {'p90':>8}")
    for units in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            store, registry = build(Path(tmp) / "nianbao.db", units)
            built = time.perf_counter() - started
            codes = [d.code for i, d in enumerate(registry) if i % 2]  # not yet reported
            times = []
            for n in range(MESSAGES):
                code = codes[n % len(codes)]
                rep = report(2022, code, rng)
                started = time.perf_counter()
                one_message(store, n, code, rep)
                times.append(time.perf_counter() - started)
            store.close()
        p90 = statistics.quantiles(times, n=10)[-1]
        median = statistics.median(times)
        print(f"{units:>6} {built:>7.1f}s {median * 1000:>20.1f}ms {p90 * 1000:>6.1f}ms")


if __name__ == "__main__":
    main()
