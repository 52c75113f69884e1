"""The store's history as pandas DataFrames: every campaign, unit, value, submission and event.

One place that reads the whole state database for analysis (the flows read it one department at
a time through :class:`~annual_report.store.base.Store`). It reads, except for one thing it keeps:
the city's own published report of a past year (:func:`record_city_report`, ``import-text
--backfill-city``), stored beside that year's campaign as the city-level figures of the year
(:func:`city_values`), since it is no unit's submission. It imports nothing from Prefect.

A unit's own years (:func:`unit_history`, :func:`unit_values`) are one indexed query, whatever
the number of units: validation runs it for every received workbook (C9).

Exactness: the ``value`` column holds :class:`decimal.Decimal` objects (object dtype), exactly as
stored (the store keeps decimal text), so money such as 72701.2578 万元 never passes through a
float. :func:`export` keeps it exact in CSV (decimal text) and Parquet (``decimal128``); in
.xlsx it is written as the same decimal text, which Excel reads as a number.

Times are shown in the campaign's time zone (``zone``, Asia/Shanghai by default): "on time"
means received on or before the deadline *day* there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd

from annual_report.campaign import states
from annual_report.campaign.registry import Registry
from annual_report.consolidation import Consolidation, Unit, consolidate
from annual_report.errors import ConfigError, NianbaoError, StoreError
from annual_report.form.model import Form, load_form
from annual_report.history.days import PROGRESS_LABELS, PROGRESS_STATES, progress_days
from annual_report.history.yoy import (
    FIGURES,
    Change,
    ComparisonRow,
    cell_label,
    compare,
    comparison_rows,
    headline,
)
from annual_report.report import Report
from annual_report.store.base import Store, content_hash
from annual_report.store.records import ACCEPTED, Campaign
from annual_report.store.rows import decimal_text, to_row
from annual_report.validation import Issue, Validation
from annual_report.workbook.template import set_number

if TYPE_CHECKING:
    from annual_report.campaign.registry import Department

log = logging.getLogger(__name__)

__all__ = [
    "CITY_RECORD",
    "EXPORT_FORMATS",
    "PROGRESS_LABELS",
    "PROGRESS_STATES",
    "CityFigures",
    "CityYear",
    "YearOverYear",
    "campaigns_frame",
    "city_figures_by_year",
    "city_record",
    "city_values",
    "city_year",
    "events_frame",
    "export",
    "figures_frame",
    "frames",
    "progress_by_day",
    "progress_frame",
    "record_city_report",
    "submissions_frame",
    "top_units",
    "unit_history",
    "unit_values",
    "units_frame",
    "values_frame",
    "year_over_year",
]

DEFAULT_ZONE = "Asia/Shanghai"
ExportFormat = Literal["xlsx", "csv", "parquet"]
EXCEL_ROWS = 1_048_576  # rows of one sheet, the header included
EXPORT_FORMATS: tuple[str, ...] = ("xlsx", "csv", "parquet")
Values = dict[str, Decimal]


def _zone(zone: ZoneInfo | str | None) -> ZoneInfo:
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone or DEFAULT_ZONE)


def _times(series: pd.Series, zone: ZoneInfo) -> pd.Series:
    """Stored UTC ISO text → tz-aware timestamps in the campaign's zone (NaT when empty)."""
    return pd.to_datetime(series, utc=True, format="ISO8601").dt.tz_convert(zone)


def _decimal(text: Any) -> Decimal | None:
    return Decimal(text) if isinstance(text, str) else None


# -- the frames ------------------------------------------------------------------------------


def _campaigns(store: Store) -> list[Campaign]:
    return sorted(store.campaigns(), key=lambda c: (c.report_year, c.id))


def _unit_names(store: Store, campaigns: Iterable[Campaign]) -> dict[tuple[str, str], Department]:
    """(campaign, code) → the unit as the campaign's snapshot has it (inactive units too)."""
    return {
        (c.id, d.code): d for c in campaigns for d in store.departments(c.id, active_only=False)
    }


def campaigns_frame(store: Store, zone: ZoneInfo | str | None = None) -> pd.DataFrame:
    """One row per campaign: id, report year, form, deadline, city, created, status."""
    columns = ["id", "report_year", "form_id", "deadline", "city", "created_at", "status"]
    df = pd.DataFrame([to_row(c) for c in _campaigns(store)], columns=columns)
    df = df.rename(columns={"id": "campaign"})
    df["deadline"] = pd.to_datetime(df["deadline"]).dt.date
    df["created_at"] = _times(df["created_at"], _zone(zone))
    return df


_ACCEPTED_COLUMNS = ["id", "campaign", "report_year", "department", "version", "status"]
_ACCEPTED_COLUMNS += ["form_id", "method", "received_at"]


def _accepted(store: Store, years: Iterable[int] | None = None) -> pd.DataFrame:
    """Each department's accepted submission per report year (the latest one, across the
    campaigns of that year: a backfilled published report and a collected one alike)."""
    rows = [
        {**to_row(sub), "report_year": year}
        for year, subs in sorted(store.accepted_by_year(years).items())
        for sub in subs
    ]
    return pd.DataFrame(rows, columns=_ACCEPTED_COLUMNS)


def values_frame(
    store: Store,
    *,
    years: Iterable[int] | None = None,
    departments: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Values by unit × code × year: one row per cell of each department's accepted submission.

    Columns: report_year, campaign, department, department_name, kind, submission_id, version,
    status, form_id, section, code, label, value (``Decimal``, exact), raw (the text as typed),
    cell (where it was read). Narrative sections are left out (they are text, not values).
    """
    accepted = _accepted(store, years)
    if departments is not None:
        accepted = accepted[accepted["department"].isin(list(departments))]
    columns = [
        "report_year",
        "campaign",
        "department",
        "department_name",
        "kind",
        "submission_id",
        "version",
        "status",
        "form_id",
        "section",
        "code",
        "label",
        "value",
        "raw",
        "cell",
    ]
    if accepted.empty:
        return pd.DataFrame(columns=columns)
    accepted = accepted.copy()  # the unit's name and kind: per submission, not per value
    units = _unit_names(store, [c for c in store.campaigns() if c.id in set(accepted["campaign"])])
    found = [units.get(k) for k in zip(accepted["campaign"], accepted["department"], strict=True)]
    accepted["department_name"] = [d.name if d else None for d in found]
    accepted["kind"] = [d.kind if d else None for d in found]
    cells = pd.DataFrame(
        [
            (v.submission_id, v.code, v.value, v.raw, v.cell)
            for v in store.stored_values(accepted["id"].tolist())
            if not v.code.startswith("narrative.")
        ],
        columns=["submission_id", "code", "value", "raw", "cell"],
    )
    df = cells.merge(accepted, left_on="submission_id", right_on="id", how="inner")
    df["value"] = df["value"].astype(object)
    labels: dict[tuple[str, str], tuple[int | None, str]] = {}
    for form_id in df["form_id"].dropna().unique():
        form = load_form(form_id)
        for code, cell in form.cells.items():
            labels[(form_id, code)] = (cell.section, cell_label(form, code))
    keys = list(zip(df["form_id"], df["code"], strict=True))
    df["section"] = [labels.get(k, (None, ""))[0] for k in keys]
    df["label"] = [labels.get(k, (None, ""))[1] for k in keys]
    df = df[[c for c in columns if c in df.columns]]
    df = df.sort_values(["report_year", "department", "submission_id"], kind="stable")
    return df.reset_index(drop=True)


_SUBMISSION_COLUMNS = [
    "campaign",
    "report_year",
    "department",
    "department_name",
    "kind",
    "submission_id",
    "version",
    "status",
    "received_at",
    "campaign_deadline",
    "errors",
    "warnings",
    "form_id",
    "method",
    "source",
    "sender",
    "file_name",
    "message_id",
    "failure_kind",
    "failure_reason",
    "explanation",
    "decided_by",
    "decided_at",
    "decision_note",
    "suggested_department",
    "sha256",
]


def submissions_frame(
    store: Store,
    *,
    zone: ZoneInfo | str | None = None,
    deadlines: Mapping[str, Mapping[str, date]] | None = None,
) -> pd.DataFrame:
    """Every received file, every version: who, when, against which deadline, with what result.

    ``deadlines`` gives per-campaign, per-department deadlines (``plan.deadlines``) where they
    differ from the campaign's. Columns include received_at (zone), deadline, days_late
    (received day − deadline day; ≤ 0 is on time), status, errors and warnings, how it came
    (source, sender, file) and the coordinator's decision.
    """
    tz = _zone(zone)
    campaigns = _campaigns(store)
    units = _unit_names(store, campaigns)
    rows = []
    for campaign in campaigns:
        for sub in store.submissions(campaign.id):
            unit = units.get((campaign.id, sub.department or ""))
            rows.append(
                {
                    **to_row(sub),
                    "report_year": campaign.report_year,
                    "department_name": unit.name if unit else None,
                    "kind": unit.kind if unit else None,
                    "submission_id": sub.id,
                    "campaign_deadline": to_row(campaign)["deadline"],
                    "errors": sub.error_count,
                    "warnings": sub.warning_count,
                }
            )
    df = pd.DataFrame(rows, columns=_SUBMISSION_COLUMNS)
    df["received_at"] = _times(df["received_at"], tz)
    df["decided_at"] = _times(df["decided_at"], tz)
    df["deadline"] = [
        _deadline(deadlines, campaign, dept, fallback)
        for campaign, dept, fallback in zip(
            df["campaign"], df["department"], df["campaign_deadline"], strict=True
        )
    ]
    df["received_date"] = df["received_at"].dt.date
    df["days_late"] = [
        (r - d).days if isinstance(d, date) and isinstance(r, date) else None
        for r, d in zip(df["received_date"], df["deadline"], strict=True)
    ]
    df["days_late"] = df["days_late"].astype("Int64")
    df["on_time"] = (df["days_late"] <= 0).astype("boolean")
    df["on_time"] = df["on_time"].where(df["days_late"].notna(), pd.NA)
    return df.drop(columns="campaign_deadline")


def _deadline(
    deadlines: Mapping[str, Mapping[str, date]] | None,
    campaign: str,
    department: str | None,
    fallback: str | None,
) -> date | None:
    if deadlines and isinstance(department, str) and department in deadlines.get(campaign, {}):
        return deadlines[campaign][department]
    return date.fromisoformat(fallback) if isinstance(fallback, str) else None


def events_frame(store: Store, *, zone: ZoneInfo | str | None = None) -> pd.DataFrame:
    """Every step the flows took (mails sent, reminders, escalations, answers): kind, unit,
    status, attempts, when begun and done, and its detail as JSON text."""
    tz = _zone(zone)
    columns = ["campaign", "report_year", "key", "kind", "department", "status", "attempts"]
    columns += ["created_at", "done_at", "detail"]
    rows = [
        {**to_row(event), "report_year": campaign.report_year}
        for campaign in _campaigns(store)
        for event in store.events(campaign.id)
    ]
    df = pd.DataFrame(rows, columns=columns)
    df["created_at"] = _times(df["created_at"], tz)
    df["done_at"] = _times(df["done_at"], tz)
    return df


def units_frame(
    store: Store,
    *,
    zone: ZoneInfo | str | None = None,
    deadlines: Mapping[str, Mapping[str, date]] | None = None,
) -> pd.DataFrame:
    """One row per campaign × department: its state and its timing at a glance.

    invited_at (first invitation sent), first_received_at, accepted_at (when the accepted version
    arrived, or when the coordinator accepted it), versions, rejections, reminders, escalations,
    days_late of the accepted version (≤ 0 on time), state (as ``nianbao status`` shows it).
    """
    tz = _zone(zone)
    subs = submissions_frame(store, zone=tz, deadlines=deadlines)
    subs = subs[subs["department"].notna()]
    events = events_frame(store, zone=tz)
    events = events[events["department"].notna() & (events["status"] == "done")]
    subs_by = {key: group for key, group in subs.groupby(["campaign", "department"])}
    events_by = {key: group for key, group in events.groupby(["campaign", "department"])}
    no_subs, no_events = subs.iloc[0:0], events.iloc[0:0]
    rows = []
    for campaign in store.campaigns():
        due = (deadlines or {}).get(campaign.id)
        for st in states.department_states(store, campaign.id, due=due):
            mine = subs_by.get((campaign.id, st.code), no_subs)
            evs = events_by.get((campaign.id, st.code), no_events)
            invited = evs.loc[evs["kind"] == "sent.invitation", "done_at"]
            accepted = mine[mine["status"].isin(ACCEPTED)]
            last_ok = accepted.iloc[-1] if len(accepted) else None
            accepted_at = None
            if last_ok is not None:
                accepted_at = last_ok["received_at"]
                if pd.notna(last_ok["decided_at"]) and last_ok["decided_by"]:
                    accepted_at = last_ok["decided_at"]
            rows.append(
                {
                    "campaign": campaign.id,
                    "report_year": campaign.report_year,
                    "department": st.code,
                    "department_name": st.name,
                    "kind": st.kind,
                    "state": st.state,
                    "state_label": st.label,
                    "deadline": st.due,
                    "invited_at": invited.min() if len(invited) else pd.NaT,
                    "first_received_at": mine["received_at"].min() if len(mine) else pd.NaT,
                    "accepted_at": accepted_at if accepted_at is not None else pd.NaT,
                    "accepted_version": last_ok["version"] if last_ok is not None else None,
                    "days_late": last_ok["days_late"] if last_ok is not None else None,
                    "versions": len(mine),
                    "rejections": st.rejections,
                    "reminders": int(evs["kind"].str.startswith("reminder.").sum()),
                    "escalations": st.escalations,
                }
            )
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for column in ("invited_at", "first_received_at", "accepted_at"):
        df[column] = pd.to_datetime(df[column], utc=True).dt.tz_convert(tz)
    df["accepted_version"] = df["accepted_version"].astype("Int64")
    df["days_late"] = df["days_late"].astype("Int64")
    return df


def figures_frame(
    store: Store, *, city: bool = True, values: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The headline figures (``yoy.FIGURES``) per report year and unit, and (``city``) of the
    city's consolidated sums per year: one row each, one column per figure (``Decimal``).
    ``values``: the :func:`values_frame` when already at hand."""
    rows: list[dict[str, Any]] = []
    if values is None:
        values = values_frame(store)
    for (year, code, sub_id), group in values.groupby(
        ["report_year", "department", "submission_id"], sort=True
    ):
        first = group.iloc[0]
        form = load_form(first["form_id"])
        figures = headline(dict(zip(group["code"], group["value"], strict=True)), form)
        rows.append(
            {
                "report_year": year,
                "scope": "unit",
                "department": code,
                "department_name": first["department_name"],
                "submission_id": sub_id,
                **figures,
            }
        )
    if city:
        for year, figures in city_figures_by_year(store).items():
            rows.append(
                {
                    "report_year": year,
                    "scope": "city",
                    "department": None,
                    "department_name": "全市（汇总）",
                    "submission_id": None,
                    **figures,
                }
            )
    columns = ["report_year", "scope", "department", "department_name", "submission_id"]
    df = pd.DataFrame(rows, columns=columns + [f.key for f in FIGURES])
    for f in FIGURES:
        df[f.key] = df[f.key].astype(object)
    df["submission_id"] = df["submission_id"].astype("Int64")
    return df.sort_values(["report_year", "scope", "department"], na_position="first").reset_index(
        drop=True
    )


def frames(
    store: Store,
    *,
    zone: ZoneInfo | str | None = None,
    deadlines: Mapping[str, Mapping[str, date]] | None = None,
) -> dict[str, pd.DataFrame]:
    """All the history, by name: campaigns, units, submissions, events, values, figures."""
    values = values_frame(store)
    return {
        "campaigns": campaigns_frame(store, zone),
        "units": units_frame(store, zone=zone, deadlines=deadlines),
        "submissions": submissions_frame(store, zone=zone, deadlines=deadlines),
        "events": events_frame(store, zone=zone),
        "values": values,
        "figures": figures_frame(store, values=values),
    }


# -- one unit, the city, year over year ------------------------------------------------------


def _unit_years(store: Store, code: str, first: int, last: int) -> dict[int, tuple[str, Values]]:
    """Department ``code``'s accepted values of the report years ``first``..``last``, by year,
    with their form id: one query, whatever the number of units (``Store.unit_years``;
    per-message validation calls this)."""
    return store.unit_years(code, first, last)


def unit_values(store: Store, code: str, year: int) -> tuple[Form, Values] | None:
    """Department ``code``'s accepted values of report year ``year`` with their form, or None."""
    found = _unit_years(store, code, year, year).get(year)
    return (load_form(found[0]), found[1]) if found else None


def unit_history(
    store: Store, code: str, *, before: int, years: int = 5
) -> dict[int, dict[str, Decimal]]:
    """Department ``code``'s accepted values of the ``years`` report years before ``before``,
    by year (years without an accepted report are absent): the plausibility rule's history
    (``Context(history=...)``). One query, bounded by the unit's own reports."""
    found = _unit_years(store, code, before - years, before - 1)
    return {year: values for year, (_, values) in sorted(found.items())}


@dataclass
class CityYear:
    """The city's consolidated figures of one report year, from the units' accepted reports."""

    year: int
    form: Form
    consolidation: Consolidation
    campaigns: tuple[str, ...]

    @property
    def values(self) -> Values:
        return self.consolidation.values

    @property
    def units(self) -> int:
        return len(self.consolidation.included)


def city_year(store: Store, year: int) -> CityYear | None:
    """Consolidate report year ``year`` from the store: each department's latest accepted
    report of that year (collected or backfilled from a published text), summed with the usual
    rules (a county's consolidated report replaces its units, 规章 from the government's unit).
    ``None`` when no unit has an accepted report of that year."""
    campaigns = [c for c in store.campaigns() if c.report_year == year]
    if not campaigns:
        return None
    accepted = store.accepted_by_year([year]).get(year, [])
    if not accepted:
        return None
    # the registry of the year's latest campaign, completed by the units of the others
    latest = max(campaigns, key=lambda c: (c.created_at, c.id))
    registry = store.registry(latest.id)
    known = set(registry.codes)
    extra = []
    for campaign in campaigns:
        for dept in store.departments(campaign.id, active_only=False):
            if dept.code not in known:
                known.add(dept.code)
                extra.append(dept)
    if extra:
        registry = Registry(city=registry.city, departments=(*registry.departments, *extra))
    units = []
    for sub in accepted:
        code = sub.department or ""
        report = store.report_from_submission(sub.id)
        issues = [
            Issue(i.rule, i.severity, i.codes, i.cells, i.message)  # type: ignore[arg-type]
            for i in store.issues(sub.id)
        ]
        unit = registry.get(code)
        units.append(
            Unit(
                code,
                unit.name if unit else code,
                report,
                Validation(report, issues),
                unit.kind if unit else "department",
                submission_id=sub.id,
                version=sub.version,
            )
        )
    form = load_form(latest.form_id)
    try:
        result = consolidate(units, registry, form, year=year)
    except NianbaoError as exc:
        raise StoreError(f"cannot consolidate report year {year}: {exc}") from exc
    return CityYear(year, form, result, tuple(c.id for c in campaigns))


# -- the city's own published report of a past year -----------------------------------------

CITY_RECORD = "city.published"  # campaign state: the city's own report of that year, as published


@dataclass(frozen=True)
class CityFigures:
    """The city's values of one report year and where they come from."""

    year: int
    form: Form
    values: Values
    units: int  # units summed; 0 for the city's own published report
    source: Literal["published", "units"]
    detail: str  # Chinese, for the provenance file


def record_city_report(
    store: Store, registry: Registry, report: Report, *, text: bytes, source: str
) -> str:
    """Keep the city's own consolidated report of a past year, as published (read by the text
    importer), as that year's city-level figures: the 上年 of the next report and a year of
    the charts, for an office whose units' reports of that year are not in the store. Stored
    beside the year's campaign (created if need be), not as a unit's report: it is nobody's
    submission and no unit's history. Re-importing replaces it. Returns the campaign id."""
    if report.year is None:
        raise ConfigError("the text does not say its report year: give --year")
    values = {c: decimal_text(e.value) for c, e in report.entries.items() if e.value is not None}
    if not values:
        raise ConfigError("no table value was read from the text: nothing to keep")
    campaign_id = store.ensure_campaign(str(report.year), report.year, registry=registry)
    store.set_state(
        campaign_id,
        CITY_RECORD,
        {
            "year": report.year,
            "form_id": report.form.id,
            "values": values,
            "sha256": content_hash(text),
            "source": source,
            "city": registry.city,
        },
    )
    log.info("kept the city's published report of %s (%d values)", report.year, len(values))
    return campaign_id


def city_record(store: Store, year: int) -> CityFigures | None:
    """The city's own published report of ``year`` kept by :func:`record_city_report`."""
    for campaign in store.campaigns():
        if campaign.report_year != year:
            continue
        record = store.get_state(campaign.id, CITY_RECORD)
        if isinstance(record, dict) and record.get("values"):
            name = str(record.get("source") or "").rpartition(":")[2] or "原文"
            return CityFigures(
                year=year,
                form=load_form(record["form_id"]),
                values={c: Decimal(v) for c, v in record["values"].items()},
                units=0,
                source="published",
                detail=f"{year}年度全{_level(record.get('city'))}已发布的年度报告（{name}）",
            )
    return None


def _level(city: str | None) -> str:
    return city[-1] if city and city[-1] in "市区县旗州盟" else "市"


def city_values(store: Store, year: int) -> CityFigures | None:
    """The city's figures of ``year``: its own published report when one was kept (what the
    public read: a report compares with it), else the sum of the units' accepted reports."""
    published = city_record(store, year)
    if published is not None:
        return published
    city = city_year(store, year)
    if city is None or not city.units:
        return None
    return CityFigures(
        year=year,
        form=city.form,
        values=city.values,
        units=city.units,
        source="units",
        detail=f"{year}年度{city.units}个单位已接收的年度报告汇总",
    )


def city_figures_by_year(
    store: Store, years: Iterable[int] | None = None
) -> dict[int, dict[str, Decimal | None]]:
    """The city's headline figures (``yoy.FIGURES``) for every report year in the store (or
    ``years``), from :func:`city_values`."""
    wanted = sorted({c.report_year for c in store.campaigns()})
    if years is not None:
        wanted = [y for y in wanted if y in set(years)]
    out = {}
    for year in wanted:
        city = city_values(store, year)
        if city is not None:
            out[year] = headline(city.values, city.form)
    return out


@dataclass
class YearOverYear:
    """This year against last year for the city (``department`` None) or one department."""

    year: int
    department: str | None
    changes: list[Change]
    rows: list[ComparisonRow]
    units_this: int = 0  # how many units this year's (city) figures cover
    units_last: int = 0  # 0 when last year's are the city's published report
    has_last_year: bool = False
    notes: list[str] = field(default_factory=list)  # Chinese, for the coordinator
    source: str = ""  # Chinese: where last year's figures come from

    def change(self, key: str) -> Change:
        for c in self.changes:
            if c.key == key:
                return c
        raise KeyError(key)

    @property
    def comparable(self) -> list[Change]:
        return [c for c in self.changes if c.comparable]


def year_over_year(
    store: Store,
    year: int,
    department: str | None = None,
    *,
    this: Mapping[str, Decimal] | None = None,
    form: Form | None = None,
    units: int | None = None,
    cells: bool = True,
) -> YearOverYear:
    """Report year ``year`` against ``year - 1`` from the store's history (collected campaigns,
    ``import-text --backfill`` of units and ``--backfill-city`` of the city's own report
    alike): the city's figures (:func:`city_values`), or ``department``'s own report. Pass
    ``this``/``form`` (and ``units``, how many units they sum) when this year's values are at
    hand (the consolidation the report is drafted from) so they are not computed twice."""
    notes: list[str] = []
    units_this, units_last, source = units or 0, 0, ""
    if department is None:
        if this is None:
            current = city_values(store, year)
            if current is not None:
                this, form, units_this = current.values, current.form, current.units
        previous = city_values(store, year - 1)
        last, last_form = (previous.values, previous.form) if previous else (None, None)
        if previous is not None:
            units_last, source = previous.units, previous.detail
            if previous.source == "units" and units_this and units_last < units_this:
                notes.append(
                    f"上年数据仅含{units_last}个单位（本年{units_this}个），同比数字只供参考。"
                )
        how = (
            "import-text --backfill-city 导入上年已发布的全市报告，或 --backfill 导入各单位上年报告"
        )
    else:
        if this is None:
            found = unit_values(store, department, year)
            if found is not None:
                form, this = found
        found_last = unit_values(store, department, year - 1)
        last_form, last = found_last if found_last else (None, None)
        if last is not None:
            source = f"本单位{year - 1}年度已接收的年度报告"
        how = "import-text --backfill 导入本单位上年报告"
    if this is None or form is None:
        raise StoreError("no accepted report for that year", year=year, department=department)
    if last is None:
        notes.append(f"没有{year - 1}年度的数据，未与上年比较（可用 {how}）。")
    return YearOverYear(
        year=year,
        department=department,
        changes=compare(this, last, form, last_form),
        rows=comparison_rows(this, last, form, last_form, cells=cells),
        units_this=units_this,
        units_last=units_last,
        has_last_year=last is not None,
        notes=notes,
        source=source,
    )


def top_units(
    store: Store, year: int, *, code: str = "requests.new_received.total", n: int = 10
) -> list[tuple[str, str, Decimal]]:
    """The ``n`` units contributing most to ``code`` in the city's sums of ``year``:
    ``(code, name, value)``, largest first (units inside a county's report are not listed twice)."""
    city = city_year(store, year)
    return city.consolidation.contributors(code, n) if city else []


# -- the campaign day by day -----------------------------------------------------------------


def progress_by_day(
    store: Store,
    campaign_id: str,
    *,
    zone: ZoneInfo | str | None = None,
    as_of: datetime | None = None,
    start: date | None = None,
) -> pd.DataFrame:
    """The campaign day by day (:func:`annual_report.history.days.progress_days`) as a frame:
    at the end of each day, how many active departments had an accepted report, a rejected one
    (their latest version), one waiting for review, or nothing. Columns: day, accepted,
    rejected, pending, missing, total."""
    rows = progress_days(store, campaign_id, zone=_zone(zone), as_of=as_of, start=start)
    return progress_frame(rows)


def progress_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows of :func:`~annual_report.history.days.progress_days` as the frame of
    :func:`progress_by_day`."""
    return pd.DataFrame(list(rows), columns=["day", *PROGRESS_STATES, "total"])


# -- export ----------------------------------------------------------------------------------


def export(
    store: Store,
    directory: str | Path,
    fmt: ExportFormat = "xlsx",
    *,
    zone: ZoneInfo | str | None = None,
    deadlines: Mapping[str, Mapping[str, date]] | None = None,
) -> list[Path]:
    """Write every frame of :func:`frames` into ``directory`` for analysts.

    ``xlsx``: one workbook ``nianbao-history.xlsx`` with a sheet per frame (times in the
    campaign's zone, without the offset Excel cannot store). ``csv``: one UTF-8 file per frame
    (with a BOM so that Excel opens the Chinese right; decimal text). ``parquet``: one file per
    frame (values as ``decimal128``, times with their zone).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(EXPORT_FORMATS)}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    data = frames(store, zone=zone, deadlines=deadlines)
    paths: list[Path] = []
    if fmt == "xlsx":
        too_big = [n for n, df in data.items() if len(df) >= EXCEL_ROWS]
        if too_big:
            raise NianbaoError(
                f"too many rows for one Excel sheet ({', '.join(too_big)}): "
                "export as csv or parquet"
            )
        path = out / "nianbao-history.xlsx"
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            for name, df in data.items():
                _for_excel(df).to_excel(writer, sheet_name=name, index=False)
                _exact_decimals(writer.sheets[name], df)
                _fit_columns(writer.sheets[name], df)
        paths.append(path)
    elif fmt == "csv":
        for name, df in data.items():
            path = out / f"{name}.csv"
            _for_csv(df).to_csv(path, index=False, encoding="utf-8-sig")
            paths.append(path)
    else:
        for name, df in data.items():
            path = out / f"{name}.parquet"
            _for_parquet(df).to_parquet(path, index=False, engine="pyarrow")
            paths.append(path)
    log.info("exported %s frames as %s to %s", len(data), fmt, out)
    return paths


def _tz_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if isinstance(df[c].dtype, pd.DatetimeTZDtype)]


def _for_excel(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for column in _tz_columns(df):
        df[column] = df[column].dt.tz_localize(None)  # wall-clock time of the zone
    return df


def _exact_decimals(ws: Any, df: pd.DataFrame) -> None:
    """openpyxl writes a Decimal through a float (72701.25780000001): write its exact text."""
    for index, column in enumerate(df.columns, start=1):
        if df[column].dtype != object:
            continue
        for row, value in enumerate(df[column], start=2):
            if isinstance(value, Decimal):
                set_number(ws.cell(row=row, column=index), value, "money")


def _for_csv(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for column in df.columns:
        if df[column].dtype == object:
            df[column] = df[column].map(lambda v: format(v, "f") if isinstance(v, Decimal) else v)
    return df


def _for_parquet(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for column in df.columns:
        if df[column].dtype != object:
            continue
        kinds = {type(v) for v in df[column] if v is not None and not pd.isna(v)}
        if kinds <= {Decimal}:
            continue  # pyarrow infers decimal128 with the widest scale: exact
        if kinds <= {date}:
            df[column] = pd.to_datetime(df[column]).dt.date
        elif kinds - {str}:
            df[column] = df[column].map(
                lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
            )
    return df


def _fit_columns(ws: Any, df: pd.DataFrame) -> None:
    """Readable column widths (CJK characters count double) and a frozen header row."""
    ws.freeze_panes = "A2"
    for index, column in enumerate(df.columns, start=1):
        sample = [str(column), *(str(v) for v in df[column].head(200) if v is not None)]
        width = max(sum(2 if ord(ch) > 0x2E80 else 1 for ch in text) for text in sample)
        ws.column_dimensions[ws.cell(row=1, column=index).column_letter].width = min(
            max(width + 2, 8), 60
        )
