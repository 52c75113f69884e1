"""Benchmark: the documents a receipt carries — a department's report (.docx) and its web page.

Run by hand: ``.venv/bin/python bench/documents.py [rounds] [units]``. Prints medians per
document, for both form definitions (2019, 2021), from a report read back from a filled template
(what an accepted submission is); then what a receipt costs on a real SQLite store of ``units``
units (default 1,000): the department's source read from the store (its report, name, last
year), the .docx and the web page, as ``office.answers.department_documents`` makes them.
Target (issue 12): the receipt's department report ≤ 100 ms.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from annual_report.documents.report import ReportContact, department_report
from annual_report.documents.webpage import department_page
from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, sample_narrative
from annual_report.workbook.reader import read_workbook
from annual_report.workbook.template import TemplateMeta, write_template

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
UNITS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
CONTACT = ReportContact(phone="0795-3991234", email="zwgk@yichun.example")


def median_ms(fn, rounds: int = ROUNDS) -> float:
    fn()  # warm up (imports, per-form caches)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    print(f"{'document':<52}{'median ms':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for year in (2019, 2021):
            form = form_for_year(year)
            rng = random.Random(year)
            values = consistent_values(form, rng, busy=0.6)
            meta = TemplateMeta(
                form.id, year, "RSJ", "宜春市人力资源和社会保障局", str(year), "0" * 16
            )
            path = write_template(
                Path(tmp) / f"rsj-{year}.xlsx",
                form,
                meta=meta,
                values=values,
                narrative=sample_narrative(year, values, rng),
            )
            report = read_workbook(path)
            common = {
                "department_name": "宜春市人力资源和社会保障局",
                "year": year,
                "office": "宜春市人民政府办公室",
                "contact": CONTACT,
                "website": "http://www.yichun.gov.cn",
                "site_name": "宜春市人民政府门户网站",
            }
            docx_ms = median_ms(lambda r=report, c=common: department_report(r, **c).to_bytes())
            page_ms = median_ms(lambda r=report, c=common: department_page(r, **c))
            print(f"{f'department report .docx ({year} form)':<52}{docx_ms:>10.1f}")
            print(f"{f'department web page .html ({year} form)':<52}{page_ms:>10.1f}")
        receipt(Path(tmp))


def receipt(tmp: Path) -> None:
    """The documents of one receipt, from a store of ``UNITS`` units (bench/store.py's)."""
    from store import build  # bench/store.py: every unit with last year's report, half this year's

    from annual_report.documents.report import department_source

    store, _ = build(tmp / "nianbao.db", UNITS)
    accepted = store.accepted_submissions("2022")
    subs = iter(accepted * (ROUNDS // len(accepted) + 2))

    def one() -> None:
        sub = next(subs)
        source = department_source(store, "2022", sub.department, submission_id=sub.id)
        common = {
            "department_name": source.name,
            "year": source.year,
            "contact": source.contact,
            "comparison": source.comparison,
        }
        department_report(source.report, **common).to_bytes()
        department_page(source.report, **common)

    label = f"a receipt's documents, store of {UNITS:,} units"
    print(f"{label:<52}{median_ms(one):>10.1f}")
    store.close()


if __name__ == "__main__":
    main()
