"""Consolidation at province scale does not hold what grows with the number of units (issue 12):
the workbook's unit cells are made as the sheet is written (the same file, byte for byte), and a
consolidation from the store holds a tuple per unit, not every report as read. Memory is
measured with tracemalloc (allocations, not time), against bounds far from both sides."""

from __future__ import annotations

import gc
import hashlib
import io
import pickle
import random
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font, NamedStyle

from annual_report.campaign.registry import Department, Registry
from annual_report.consolidation import (
    Unit,
    consolidate,
    consolidate_campaign,
    write_consolidation,
)
from annual_report.form.model import load_form
from annual_report.report import Entry, EntryPool, Report
from annual_report.samples import consistent_values
from annual_report.store import open_store
from annual_report.validation import Validation, validate
from annual_report.workbook.streaming import LazyCells, save

FORM = load_form("gov-disclosure-2021")
SMALL, LARGE = 30, 300


def _departments(n: int) -> tuple[Department, ...]:
    return tuple(
        Department(code=f"D{i:04d}", name=f"宜春市单位{i}", kind="department", email=f"d{i}@x.cn")
        for i in range(n)
    )


def _report(seed: int) -> Report:
    report = Report(form=FORM, year=2021, method="defined-names")
    for code, value in consistent_values(FORM, random.Random(seed), busy=0.5).items():
        report.set_raw(code, format(value, "f"))
    return report


def _peak(fn: Callable[[], object]) -> int:
    """The most memory ``fn`` had allocated at once (bytes, tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}  # its time


# -- the streamed cells ---------------------------------------------------------------------------


def _book(lazy: bool) -> tuple[Workbook, dict]:
    """A sheet with cells of its own (a title, labels, a merged range) and a block of styled
    numbers: in the sheet, or made as the sheet is written (rows beyond its own too)."""
    wb = Workbook()
    wb.add_named_style(NamedStyle("n", font=Font(bold=True), number_format="0.00"))
    ws = wb.active
    ws["A1"] = "标题"
    ws.merge_cells("A1:C1")
    for r in range(2, 6):
        ws.cell(r, 1, f"行{r}")
    ws.row_dimensions[3].height = 20

    def cells(r: int):
        for col in range(2, 5):
            cell = Cell(ws, row=r, column=col)
            cell.value = r * 10 + col if col != 3 else None
            cell.style = "n"
            yield cell

    block = LazyCells(range(2, 9), range(2, 5), cells)  # rows 6–8: no cell of the sheet's own
    if lazy:
        return wb, {ws: block}
    for r in block.rows:
        for made in cells(r):
            target = ws.cell(r, made.column)
            target.value, target.style = made.value, "n"
    return wb, {}


def test_cells_made_as_the_sheet_is_written_give_the_same_file(tmp_path):
    plain, _ = _book(lazy=False)
    plain.save(tmp_path / "plain.xlsx")
    streamed, more = _book(lazy=True)
    save(streamed, tmp_path / "streamed.xlsx", more)
    assert _parts(tmp_path / "streamed.xlsx") == _parts(tmp_path / "plain.xlsx")
    assert not streamed.active._cells.keys() & {(8, 4), (2, 2)}  # never held by the sheet


def test_writing_a_consolidation_does_not_hold_the_units_cells(tmp_path):
    """分单位明细 has ~190 cells a unit: held by openpyxl, ~80 KB a unit (measured before)."""

    def peak(n: int) -> int:
        departments = _departments(n)
        units = []
        for i, d in enumerate(departments):
            report = _report(i)
            units.append(Unit(d.code, d.name, report, Validation(report, []), d.kind))
        registry = Registry(city="宜春市", departments=departments)
        result = consolidate(units, registry, FORM, year=2021)
        del units
        return _peak(lambda: write_consolidation(result, tmp_path / f"{n}.xlsx", title="宜春市"))

    per_unit = (peak(LARGE) - peak(SMALL)) / (LARGE - SMALL)
    assert per_unit < 8_000  # ~0.6 KB after; ~83 KB before


def test_consolidating_from_the_store_holds_a_tuple_per_unit(tmp_path):
    """Every unit's report as read (an entry object per cell) was ~90 KB a unit; the entries
    are now shared between the units' reports and the merger keeps one tuple per unit."""

    def peak(n: int) -> int:
        departments = _departments(n)
        store = open_store(tmp_path / f"{n}.db")
        store.create_campaign(
            "2021", 2021, registry=Registry(city="宜春市", departments=departments)
        )
        for i, d in enumerate(departments):
            store.record_submission(
                "2021",
                sha256=hashlib.sha256(d.code.encode()).hexdigest(),
                source="cli",
                department=d.code,
                validation=validate(_report(i)),
                file_name=f"{d.code}.xlsx",
            )
        try:
            return _peak(lambda: consolidate_campaign(store, "2021"))
        finally:
            store.close()

    per_unit = (peak(LARGE) - peak(SMALL)) / (LARGE - SMALL)
    assert per_unit < 20_000  # ~10 KB (random values: few shared); ~89 KB before


def test_the_consolidation_shows_the_units_values_as_dictionaries_did():
    departments = _departments(3)
    reports = [_report(i) for i in range(3)]
    fee = "proactive.admin_fees.amount_wan_yuan"
    del reports[2].entries[fee]  # a cell the unit's report has no entry for
    units = [
        Unit(d.code, d.name, r, Validation(r, []), d.kind)
        for d, r in zip(departments, reports, strict=True)
    ]
    result = consolidate(units, Registry(city="宜春市", departments=departments), FORM, year=2021)
    code = "requests.new_received.total"
    assert dict(result.breakdown[code]) == {
        d.code: r.value(code) for d, r in zip(departments, reports, strict=True)
    }
    assert list(result.breakdown[code]) == ["D0000", "D0001", "D0002"]
    leaf = result.leaves[1]
    assert dict(leaf.values) == {c: e.value for c, e in reports[1].entries.items()}
    assert leaf.values == {c: e.value for c, e in reports[1].entries.items()}
    with pytest.raises(KeyError):
        leaf.values["no.such.cell"]
    assert result.breakdown[fee]["D0002"] is None and fee not in result.leaves[2].values
    assert len(result.leaves[2].values) == len(FORM.cells) - 1
    again = pickle.loads(pickle.dumps(result))  # e.g. a task's result kept by Prefect
    assert again.to_dict() == result.to_dict()
    assert dict(again.leaves[2].values) == dict(result.leaves[2].values)
    assert again.breakdown[fee]["D0002"] is None


def test_reports_read_through_a_pool_share_their_entries_read_only():
    pool = EntryPool()
    one = pool.entries([Entry("a", "1", None), Entry("b", "2.50", None)])
    two = pool.entries([Entry("a", "1", None), Entry("b", "2.5", None)])
    assert one["a"] is two["a"] and one["b"] is not two["b"]  # same text, same entry
    assert list(one) == ["a", "b"] and dict(one) == {"a": one["a"], "b": one["b"]}
    with pytest.raises(TypeError):
        one["c"] = Entry("c", "3", None)


def test_a_closed_draft_is_freed_without_waiting_for_the_garbage_collector():
    """A receipt's department report: python-docx's package, parts and document refer to each
    other; closed, the document's XML goes as soon as the draft does (no collection needed)."""
    import weakref

    from annual_report.documents.report import department_report

    draft = department_report(_report(1), department_name="宜春市公安局", year=2021)
    content = draft.to_bytes()
    trees = [weakref.ref(draft.document.element), weakref.ref(draft.document.styles.element)]
    gc.disable()
    try:
        draft.close()
        del draft
        assert [tree() for tree in trees] == [None, None]
    finally:
        gc.enable()
    assert zipfile.ZipFile(io.BytesIO(content)).testzip() is None  # the bytes were whole


def test_the_states_of_thousands_of_units_do_not_read_the_events_details(tmp_path):
    """Each round derives every unit's state from its events; their details (JSON, often a
    mail's whole record) are not decoded for it: ~8 KB a unit before, at 5,000 units 32 MB."""
    from annual_report.campaign.states import department_states

    detail = {"message_id": "<x@yc.example>", "recipients": ["a@x.cn"], "note": "说明" * 500}

    def peak(n: int) -> int:
        departments = _departments(n)
        store = open_store(tmp_path / f"states-{n}.db")
        store.create_campaign(
            "2021", 2021, registry=Registry(city="宜春市", departments=departments)
        )
        for d in departments:
            for kind in ("sent.invitation", "reminder.1"):
                key = f"{kind}:{d.code}"
                store.begin_event("2021", key, kind=kind, department=d.code)
                store.finish_event("2021", key, detail=detail)
        try:
            return _peak(lambda: department_states(store, "2021"))
        finally:
            store.close()

    per_unit = (peak(LARGE) - peak(SMALL)) / (LARGE - SMALL)
    assert per_unit < 3_000  # ~1 KB (the state itself); 12 KB with the details decoded
