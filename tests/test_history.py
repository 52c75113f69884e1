"""The store's history as DataFrames, year over year from the store, the day-by-day progress and
the export for analysts — on a real SQLite store."""

import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

from annual_report.campaign.registry import Department, Registry
from annual_report.campaign.templates import backfill_published
from annual_report.form.model import load_form
from annual_report.history.frames import (
    city_figures_by_year,
    city_year,
    events_frame,
    export,
    figures_frame,
    progress_by_day,
    submissions_frame,
    top_units,
    unit_history,
    unit_values,
    units_frame,
    values_frame,
    year_over_year,
)
from annual_report.report import Report
from annual_report.store import open_store
from annual_report.store.base import content_hash
from annual_report.text.importer import decode_text, import_text
from annual_report.validation import Issue, Validation

F2021 = load_form("gov-disclosure-2021")
F2019 = load_form("gov-disclosure-2019")
FEE = "proactive.admin_fees.amount_wan_yuan"
FIXTURES = Path(__file__).parent / "fixtures"


def utc(day: int, hour: int = 2, month: int = 1) -> datetime:
    return datetime(2022, month, day, hour, 0, tzinfo=UTC)


def registry() -> Registry:
    def dept(code, name, kind="department", **extra):
        return Department(
            code=code, name=name, kind=kind, email=f"{code.lower()}@yc.example", **extra
        )

    return Registry(
        city="宜春市",
        departments=(
            dept(
                "SZF",
                "宜春市人民政府",
                "government",
                can_make_rules=True,
                reports_for_government=True,
            ),
            dept("RSJ", "宜春市人力资源和社会保障局"),
            dept("ZRZYJ", "宜春市自然资源局"),
            dept("ZSS", "樟树市", "county", covers=("ZSLJZ",)),
            dept("ZSLJZ", "樟树市临江镇", "township"),
        ),
    )


def report(form, year, code, new, granted, fee=None) -> Report:
    """A consistent report: all applications handled, ``granted`` granted, the rest not held."""
    rep = Report(form=form, year=year, department=code, method="defined-names")
    for cell in form.cells:
        rep.set_raw(cell, "0")
    for col in ("natural_person", "total"):
        rep.set_raw(f"requests.new_received.{col}", str(new))
        rep.set_raw(f"requests.handled_total.{col}", str(new))
        rep.set_raw(f"requests.granted.{col}", str(granted))
        rep.set_raw(f"requests.unavailable.not_held.{col}", str(new - granted))
    if fee is not None:
        rep.set_raw(FEE, fee)
    return rep


def submit(store, campaign, rep, at, *, errors=0, warnings=0, status=None):
    issues = [Issue("R1", "error", (), (), "错") for _ in range(errors)]
    issues += [Issue("C5", "warning", (), (), "警") for _ in range(warnings)]
    data = f"{campaign}{rep.department}{at}{errors}".encode()
    return store.record_submission(
        campaign,
        sha256=content_hash(data),
        source="mail",
        department=rep.department,
        validation=Validation(rep, issues),
        received_at=at,
        status=status,
    )


def event(store, key, kind, code, at):
    store.begin_event("2021", key, kind=kind, department=code, at=at)
    store.finish_event("2021", key, at=at)


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "nianbao.db", clock=lambda: utc(4, 1))
    reg = registry()
    # last year, backfilled from published reports (2019 format for 2020)
    s.create_campaign("2020", 2020, registry=reg, at=utc(3, 1))
    for code, new, granted in (("RSJ", 100, 40), ("ZSS", 280, 90), ("ZRZYJ", 20, 5)):
        submit(s, "2020", report(F2019, 2020, code, new, granted), utc(3, 1), status="accepted")
    # this year's campaign, collected
    s.create_campaign("2021", 2021, deadline=date(2022, 1, 26), registry=reg, at=utc(4, 0))
    for code in reg.codes:
        event(s, f"invitation:{code}", "sent.invitation", code, utc(4, 1))
    submit(s, "2021", report(F2021, 2021, "RSJ", 120, 50, "72701.2578"), utc(6), errors=1)
    submit(s, "2021", report(F2021, 2021, "RSJ", 120, 50, "72701.2578"), utc(8))
    z = submit(s, "2021", report(F2021, 2021, "ZRZYJ", 30, 10), utc(7, 3), warnings=1)
    s.decide(z.id, "rejected", by="coordinator", note="说明不充分", at=utc(10))
    submit(s, "2021", report(F2021, 2021, "ZSLJZ", 40, 10), utc(9))
    submit(s, "2021", report(F2021, 2021, "ZSS", 300, 100, "0.5"), utc(27))
    for code in ("SZF", "ZSS"):
        event(s, f"reminder.deadline:{code}", "reminder.deadline", code, utc(26, 1))
    event(s, "escalation.overdue-1:SZF", "escalation.overdue", "SZF", utc(28, 1))
    yield s
    s.close()


# -- frames ------------------------------------------------------------------------------------


def test_values_frame_is_exact_and_labelled(store):
    df = values_frame(store)
    # accepted reports only: 3 of 2020, RSJ v2 + ZSLJZ + ZSS of 2021 (ZRZYJ was returned)
    per_unit = df.groupby(["report_year", "department"]).size()
    assert per_unit.to_dict() == {
        (2020, "RSJ"): len(F2019.cells),
        (2020, "ZRZYJ"): len(F2019.cells),
        (2020, "ZSS"): len(F2019.cells),
        (2021, "RSJ"): len(F2021.cells),
        (2021, "ZSLJZ"): len(F2021.cells),
        (2021, "ZSS"): len(F2021.cells),
    }
    fee = df[(df.department == "RSJ") & (df.code == FEE)].iloc[0]
    assert fee["value"] == Decimal("72701.2578") and isinstance(fee["value"], Decimal)
    assert fee["version"] == 2 and fee["department_name"] == "宜春市人力资源和社会保障局"
    assert fee["label"] == "第二十条第（八）项“行政事业性收费”行“本年收费金额（单位：万元）”列"
    assert fee["section"] == 2 and fee["form_id"] == "gov-disclosure-2021"
    assert df["value"].dtype == object
    assert values_frame(store, years=[2020], departments=["RSJ"]).shape[0] == len(F2019.cells)


def test_submissions_frame_times_against_the_deadline(store):
    df = submissions_frame(store, deadlines={"2021": {"ZSS": date(2022, 1, 28)}})
    df = df[df.campaign == "2021"].set_index(["department", "version"])
    assert str(df.loc[("RSJ", 1), "received_at"]) == "2022-01-06 10:00:00+08:00"
    assert df.loc[("RSJ", 1), "status"] == "rejected" and df.loc[("RSJ", 1), "errors"] == 1
    assert df.loc[("RSJ", 2), "days_late"] == -18 and bool(df.loc[("RSJ", 2), "on_time"])
    # ZSS arrived on the 27th, a day after the campaign's deadline but within its own
    assert df.loc[("ZSS", 1), "deadline"] == date(2022, 1, 28)
    assert df.loc[("ZSS", 1), "days_late"] == -1
    assert df.loc[("ZRZYJ", 1), "decided_by"] == "coordinator"
    plain = submissions_frame(store)
    zss = plain[(plain.campaign == "2021") & (plain.department == "ZSS")].iloc[0]
    assert zss["days_late"] == 1 and not zss["on_time"]


def test_units_frame_one_row_per_department_and_campaign(store):
    df = units_frame(store)
    now = df[df.campaign == "2021"].set_index("department")
    assert list(now.index) == ["SZF", "RSJ", "ZRZYJ", "ZSS", "ZSLJZ"]
    assert now.loc["RSJ", "versions"] == 2 and now.loc["RSJ", "rejections"] == 1
    assert now.loc["RSJ", "accepted_version"] == 2
    assert str(now.loc["RSJ", "invited_at"]) == "2022-01-04 09:00:00+08:00"
    assert str(now.loc["RSJ", "accepted_at"]) == "2022-01-08 10:00:00+08:00"
    assert now.loc["SZF", "state"] == "escalated" and now.loc["SZF", "versions"] == 0
    assert now.loc["SZF", "reminders"] == 1 and now.loc["SZF", "escalations"] == 1
    assert pd.isna(now.loc["SZF", "accepted_at"])
    assert now.loc["ZRZYJ", "state"] == "rejected"
    assert now.loc["ZSS", "days_late"] == 1


def test_events_frame(store):
    df = events_frame(store)
    assert (df.kind == "sent.invitation").sum() == 5
    szf = df[(df.department == "SZF") & (df.kind == "escalation.overdue")].iloc[0]
    assert str(szf["done_at"]) == "2022-01-28 09:00:00+08:00" and szf["status"] == "done"


# -- year over year from the store -----------------------------------------------------------


def test_city_year_consolidates_with_the_usual_rules(store):
    city = city_year(store, 2021)
    included = {u.code for u in city.consolidation.included}
    assert included == {"RSJ", "ZSS"}  # ZSLJZ is inside 樟树市's report; ZRZYJ was returned
    assert city.values["requests.new_received.total"] == 420
    assert city.values[FEE] == Decimal("72701.7578")
    assert city_year(store, 2019) is None


def test_city_year_over_year(store):
    yoy = year_over_year(store, 2021)
    assert yoy.has_last_year and (yoy.units_this, yoy.units_last) == (2, 3)
    assert yoy.change("new_received").phrase() == "较上年增加20件，增长5.0%"
    assert yoy.change("granted").sentence() == "予以公开150件，较上年增加15件，增长11.1%"
    assert yoy.change("admin_fees").last is None  # the 2019 format has no fee amount
    row = next(r for r in yoy.rows if r.code == "requests.new_received.total")
    assert (row.last, row.this, row.change) == (Decimal(400), Decimal(420), Decimal(20))
    figures = city_figures_by_year(store)
    assert sorted(figures) == [2020, 2021] and figures[2020]["new_received"] == 400


def test_department_year_over_year(store):
    yoy = year_over_year(store, 2021, "RSJ", cells=False)
    assert yoy.change("new_received").phrase() == "较上年增加20件，增长20.0%"
    assert [r.group for r in yoy.rows] == ["主要指标"] * len(yoy.rows)
    first = year_over_year(store, 2020, "RSJ")
    assert not first.has_last_year and "没有2019年度的数据" in first.notes[0]


def test_unit_history_and_values(store):
    history = unit_history(store, "RSJ", before=2022)
    assert sorted(history) == [2020, 2021]
    assert history[2021]["requests.new_received.total"] == 120
    assert unit_history(store, "RSJ", before=2021) == {2020: history[2020]}
    form, values = unit_values(store, "ZSS", 2021)
    assert form.id == "gov-disclosure-2021" and values[FEE] == Decimal("0.5")
    assert unit_values(store, "SZF", 2021) is None


def test_top_units(store):
    assert top_units(store, 2021) == [
        ("ZSS", "樟树市", Decimal(300)),
        ("RSJ", "宜春市人力资源和社会保障局", Decimal(120)),
    ]


def test_backfilled_published_report_is_last_year(tmp_path):
    """import-text --backfill stores last year's published report: this year compares with it."""
    reg = Registry(
        city="樟树市",
        departments=(
            Department(code="RSJ", name="樟树市人社局", kind="department", email="r@x.cn"),
        ),
    )
    with open_store(tmp_path / "db.sqlite") as s:
        text = (FIXTURES / "text" / "seed-zhangshu-rsj-2021.txt").read_bytes()
        published = import_text(decode_text(text), source="seed")
        backfill_published(s, reg, published, "RSJ", text=text, source="text:seed")
        this = {c: Decimal(0) for c in F2021.cells} | {FEE: Decimal("9.5")}
        yoy = year_over_year(s, 2022, "RSJ", this=this, form=F2021)
        assert yoy.change("admin_fees").phrase() == "较上年减少1.78万元，下降15.8%"
        assert yoy.change("new_received").phrase() == "与上年持平"


# -- the campaign day by day -------------------------------------------------------------------


def test_progress_by_day(store):
    df = progress_by_day(store, "2021", as_of=utc(28)).set_index("day")
    assert df.index[0] == date(2022, 1, 4) and df.index[-1] == date(2022, 1, 28)

    def on(day):
        row = df.loc[date(2022, 1, day)]
        return row["accepted"], row["rejected"], row["pending"], row["missing"]

    assert on(4) == (0, 0, 0, 5)
    assert on(6) == (0, 1, 0, 4)  # RSJ's first version had errors
    assert on(7) == (1, 1, 0, 3)  # ZRZYJ accepted with warnings…
    assert on(8) == (2, 0, 0, 3)  # RSJ corrected
    assert on(9) == (3, 0, 0, 2)
    assert on(10) == (2, 1, 0, 2)  # …and returned by the coordinator on the 10th
    assert on(27) == (3, 1, 0, 1)  # 樟树市 late; 市政府 never
    assert (df["total"] == 5).all()


def _days_counted_one_by_one(store, campaign_id, zone, start, end):
    """The days as counted before (every department on every day): the reference."""
    from datetime import timedelta

    from annual_report.history.days import state_at

    departments = [d.code for d in store.departments(campaign_id)]
    subs = sorted(
        (s for s in store.submissions(campaign_id) if s.department in set(departments)),
        key=lambda s: (s.received_at, s.id),
    )
    rows, day = [], start
    while day <= end:
        cutoff = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        counts = dict.fromkeys(("accepted", "rejected", "pending", "missing"), 0)
        for code in departments:
            seen = [s for s in subs if s.department == code and s.received_at < cutoff]
            counts[state_at(seen[-1], cutoff) if seen else "missing"] += 1
        rows.append({"day": day, **counts, "total": len(departments)})
        day += timedelta(days=1)
    return rows


def test_progress_days_are_those_counted_day_by_day(store):
    """The days come from each department's own changes (not days × departments): the same
    counts as checking every department on every day, whatever the range asked for."""
    from zoneinfo import ZoneInfo

    from annual_report.history.days import progress_days

    zone = ZoneInfo("Asia/Shanghai")
    for as_of, start in (
        (utc(28), None),
        (utc(10, 15), None),  # a moment late in the day, after midnight in the campaign's zone
        (utc(9), date(2022, 1, 7)),
        (utc(5), date(2022, 1, 6)),  # ends before it starts: one day
        (utc(20, month=2), date(2021, 12, 30)),
    ):
        days = progress_days(store, "2021", zone=zone, as_of=as_of, start=start)
        first = start or date(2022, 1, 4)  # the first invitation
        end = max(as_of.astimezone(zone).date(), first)
        assert days == _days_counted_one_by_one(store, "2021", zone, first, end), (as_of, start)
        assert days[0]["day"] == first and days[-1]["day"] == end


# -- export ----------------------------------------------------------------------------------


def test_export_parquet_keeps_money_exact(store, tmp_path):
    paths = export(store, tmp_path / "pq", "parquet")
    assert sorted(p.name for p in paths) == [
        "campaigns.parquet",
        "events.parquet",
        "figures.parquet",
        "submissions.parquet",
        "units.parquet",
        "values.parquet",
    ]
    table = pq.read_table(tmp_path / "pq" / "values.parquet")
    assert str(table.schema.field("value").type).startswith("decimal128(")
    df = table.to_pandas()
    assert Decimal("72701.2578") in set(df.loc[df.code == FEE, "value"])
    units = pq.read_table(tmp_path / "pq" / "units.parquet")
    assert str(units.schema.field("accepted_at").type).endswith(", tz=Asia/Shanghai]")
    figures = pd.read_parquet(tmp_path / "pq" / "figures.parquet")
    city = figures[(figures.scope == "city") & (figures.report_year == 2021)].iloc[0]
    assert city["admin_fees"] == Decimal("72701.7578")


def test_export_csv_is_decimal_text(store, tmp_path):
    export(store, tmp_path / "csv", "csv")
    raw = (tmp_path / "csv" / "values.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens the Chinese right
    df = pd.read_csv(tmp_path / "csv" / "values.csv", dtype=str)
    assert "72701.2578" in set(df.loc[df.code == FEE, "value"])
    subs = pd.read_csv(tmp_path / "csv" / "submissions.csv", dtype=str)
    assert "2022-01-06 10:00:00+08:00" in set(subs["received_at"])


def test_export_xlsx(store, tmp_path):
    [path] = export(store, tmp_path / "x", "xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["campaigns", "units", "submissions", "events", "values", "figures"]
    ws = wb["values"]
    header = [c.value for c in ws[1]]
    code, value = header.index("code"), header.index("value")
    fees = [row[value].value for row in ws.iter_rows(min_row=2) if row[code].value == FEE]
    assert 72701.2578 in fees
    with zipfile.ZipFile(path) as z:  # written as the exact decimal text
        names = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert any(b"<v>72701.2578</v>" in z.read(n) for n in names)
    units = wb["units"]
    header = [c.value for c in units[1]]
    assert "accepted_at" in header and units.freeze_panes == "A2"


def test_figures_frame(store):
    df = figures_frame(store)
    rsj = df[(df.scope == "unit") & (df.department == "RSJ")].set_index("report_year")
    assert rsj.loc[2021, "new_received"] == 120 and rsj.loc[2020, "granted"] == 40
    assert df[df.scope == "city"]["report_year"].tolist() == [2020, 2021]
    with pytest.raises(ValueError, match="one of xlsx, csv, parquet"):
        export(None, "x", "json")  # type: ignore[arg-type]


def test_stored_history_feeds_the_plausibility_rule(store):
    """C9 with the unit's stored years: 1000 applications after 100 (2020) and 120 (2021)."""
    from annual_report.validation import Context, validate

    rep = report(F2021, 2022, "RSJ", 1000, 50)
    context = Context(history=unit_history(store, "RSJ", before=2022))
    found = [i for i in validate(rep, context=context).issues if i.rule == "C9"]
    assert {i.codes[0] for i in found} == {
        "requests.new_received.total",
        "requests.handled_total.total",
    }
    assert "（2020年100、2021年120）" in found[0].message


def test_pictures_from_the_store(store, tmp_path):
    from PIL import Image

    from annual_report.documents.charts import campaign_progress_png, outcomes_png, top_units_png

    pictures = {
        "outcomes": outcomes_png(store, city="宜春市"),
        "top": top_units_png(store, 2021),
        "progress": campaign_progress_png(store, "2021", as_of=utc(28)),
    }
    for name, png in pictures.items():
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.size[0] >= 1200, name
    assert top_units_png(store, 2019) is None


def test_progress_markdown_for_the_coordinator(store, monkeypatch):
    from annual_report.documents import charts

    text = charts.progress_markdown(store, "2021", as_of=utc(28))
    assert text.startswith(
        "# 报送进度\n\n截至1月28日：已接收3个、待审核0个、已退回1个、未报送1个（共5个单位）。"
    )
    assert "![报送进度图](data:image/png;base64,iVBORw0KGgo" in text
    # the same state draws the same bytes: the flows publish a new version only on a change
    assert charts.progress_markdown(store, "2021", as_of=utc(28)) == text

    def no_font():
        raise charts.DocumentError("the font Noto Sans CJK SC is not installed")

    monkeypatch.setattr(charts, "cjk_font", no_font)
    text = charts.progress_markdown(store, "2021", as_of=utc(28))
    assert "进度图未能生成（请系统管理员查看运行日志）：the font Noto Sans CJK SC" in text
    assert "data:image" not in text


# -- the city's own published report; C9 in the pipeline; the cost per unit --------------------


def test_the_citys_published_report_is_last_year_and_wins(store):
    """Kept with record_city_report (import-text --backfill-city): the city's figures of 2020
    are the published ones, not the sum of the three units stored for 2020."""
    from annual_report.errors import ConfigError
    from annual_report.history.frames import city_record, city_values, record_city_report

    published = report(F2019, 2020, None, 500, 210)
    campaign = record_city_report(
        store, registry(), published, text=b"2020 city", source="text:宜春市2020.txt"
    )
    assert campaign == "2020"
    city = city_values(store, 2020)
    assert (city.source, city.units) == ("published", 0)
    assert city.detail == "2020年度全市已发布的年度报告（宜春市2020.txt）"
    assert city.values["requests.new_received.total"] == 500
    yoy = year_over_year(store, 2021)
    assert yoy.source == city.detail and yoy.units_last == 0 and not yoy.notes
    assert yoy.change("new_received").phrase() == "较上年减少80件，下降16.0%"
    assert city_figures_by_year(store)[2020]["granted"] == 210
    # re-importing replaces it; an empty text keeps nothing
    record_city_report(
        store, registry(), report(F2019, 2020, None, 450, 200), text=b"v2", source="x"
    )
    assert city_record(store, 2020).values["requests.new_received.total"] == 450
    empty = Report(form=F2019, year=2020)
    with pytest.raises(ConfigError, match="nothing to keep"):
        record_city_report(store, registry(), empty, text=b"", source="x")
    assert city_record(store, 2019) is None


def test_c9_in_the_pipeline_sees_every_stored_year(store):
    """validate_for_department (what the collect flow and assign run) gives C9 the unit's
    stored years: 1000 applications after 100 (2020) and 120 (2021)."""
    from annual_report.campaign.submission import validate_for_department

    store.create_campaign("2022", 2022, registry=registry())
    rep = report(F2021, 2022, "RSJ", 1000, 50)
    found = validate_for_department(store, "2022", rep, registry()["RSJ"])
    c9 = [i for i in found.issues if i.rule == "C9"]
    assert c9 and "（2020年100、2021年120）" in c9[0].message
    first = validate_for_department(
        store, "2022", report(F2021, 2022, "SZF", 9, 1), registry()["SZF"]
    )
    assert first.skipped["C9"] == "no earlier year of this unit"


def test_the_validate_commands_context_has_the_history(store):
    from annual_report.campaign.context import context_for

    ctx = context_for(report(F2021, 2022, "RSJ", 1000, 50), registry=registry(), store=store)
    assert sorted(ctx.context.history) == [2020, 2021]


def test_a_units_history_is_one_indexed_query(store):
    """C9's history costs one query that finds the unit's submissions through the (campaign,
    department) index: per-message work does not grow with the number of units."""
    from annual_report.store.records import ACCEPTED
    from annual_report.store.sqlite import UNIT_SQL

    sql = UNIT_SQL.format(marks=", ".join("?" * len(ACCEPTED)))
    plan = " | ".join(
        row[3]
        for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}", ["RSJ", 2017, 2021, *ACCEPTED])
    )
    assert "(campaign=? AND department=?)" in plan and "SCAN s" not in plan, plan
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        unit_history(store, "RSJ", before=2022)
    finally:
        store.db.conn.set_trace_callback(None)
    assert len(statements) == 1, statements


def test_the_reports_compare_across_the_two_formats(store):
    """2020 in the 2019 format, 2021 in the 2021 format: the city report and a department's
    report and page compare what both formats have (not the fee: 2019 counts no amount)."""
    from annual_report.documents.report import city_report_from_store, department_report_from_store
    from annual_report.documents.webpage import department_page_from_store

    draft = city_report_from_store(store, "2021", office="宜春市人民政府办公室")
    said = [p.text for p in draft.document.paragraphs if p.text.startswith("与上年相比")]
    assert said == [
        "与上年相比，本年新收政府信息公开申请420件，较上年增加20件，增长5.0%；"
        "办理答复政府信息公开申请420件，较上年增加20件，增长5.0%；"
        "予以公开150件，较上年增加15件，增长11.1%；部分公开0件，与上年持平；"
        "不予公开0件，与上年持平；无法提供270件，较上年增加5件，增长1.9%；"
        "不予处理0件，与上年持平；其他处理0件，与上年持平；"
        "政府信息公开行政复议0件，与上年持平；政府信息公开行政诉讼0件，与上年持平。"
    ]
    assert draft.provenance.comparison_note.startswith(
        "上年数据：2020年度3个单位已接收的年度报告汇总。"
    )
    # 2020 summed three units, 2021 two: fewer units last year would be marked, more is not
    assert not [t for t in draft.placeholders if "上年数据仅含" in t]
    assert draft.charts == [
        "图1　2020—2021年全市政府信息公开申请办理结果",
        "图2　2021年新收政府信息公开申请最多的2个单位",
    ]
    dept = department_report_from_store(store, "2021", "RSJ")
    texts = [p.text for p in dept.document.paragraphs]
    assert any(
        t.startswith("与上年相比，本年新收政府信息公开申请120件，较上年增加20件，增长20.0%；")
        for t in texts
    )
    assert "行政事业性收费金额" not in "".join(texts)
    assert "与上年相比，本年新收政府信息公开申请120件" in department_page_from_store(
        store, "2021", "RSJ"
    )
