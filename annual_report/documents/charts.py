"""Pictures for the report and the coordinator, as PNG bytes (matplotlib, no pyplot, no display).

Chinese text needs a CJK font, and the *Simplified* Chinese one: Debian's fonts-noto-cjk ships one
collection file (``NotoSansCJK-Regular.ttc``) whose first face is the Japanese design, so letting
matplotlib pick "a CJK font" draws 直, 说 or 骨 with Japanese glyphs. :func:`cjk_font` asks
fontconfig for the file *and face index* of Noto Sans CJK SC and makes matplotlib use exactly that
face; without it the charts refuse to draw (:class:`~annual_report.errors.DocumentError`) rather
than print boxes.

The chart functions take plain data (years → figures, unit names → values, the day-by-day frame
of :func:`annual_report.history.frames.progress_by_day`); ``*_png(store, …)`` at the end
read the store.
"""

from __future__ import annotations

import base64
import io
import logging
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from annual_report.errors import DocumentError
from annual_report.history.yoy import FIGURE_BY_KEY, OUTCOMES, fmt

log = logging.getLogger(__name__)

__all__ = [
    "CjkFont",
    "campaign_progress_png",
    "cjk_font",
    "markdown_image",
    "outcomes_chart",
    "outcomes_png",
    "progress_chart",
    "progress_markdown",
    "top_units_chart",
    "top_units_png",
]

FAMILY = "Noto Sans CJK SC"
DPI = 150
# Outcome colours: granted greens, refusals warm, the rest greys/blues (readable in print too).
OUTCOME_COLOURS = {
    "granted": "#2e7d32",
    "partially_granted": "#81c784",
    "withheld": "#e65100",
    "unavailable": "#90a4ae",
    "not_processed": "#5c6bc0",
    "other": "#bdbdbd",
}
PROGRESS_COLOURS = {
    "accepted": "#2e7d32",
    "pending": "#1e88e5",
    "rejected": "#e53935",
    "missing": "#bdbdbd",
}


@dataclass(frozen=True)
class CjkFont:
    path: str
    index: int  # face in the collection
    family: str  # the name matplotlib knows that face by


@cache
def cjk_font() -> CjkFont:
    """The Noto Sans CJK SC face: its file and index from fontconfig, registered in matplotlib."""
    path, index = _fontconfig_face(FAMILY)
    font_manager.fontManager.addfont(path)  # indexes every face of a .ttc (a no-op if known)
    for entry in font_manager.fontManager.ttflist:
        if entry.fname == path and entry.index == index:
            found = font_manager.findfont(
                font_manager.FontProperties(family=entry.name), fallback_to_default=False
            )
            if getattr(found, "face_index", 0) != index or str(found) != path:
                raise DocumentError(
                    "matplotlib does not resolve the Simplified Chinese face",
                    family=entry.name,
                    found=f"{found}#{getattr(found, 'face_index', 0)}",
                )
            return CjkFont(path, index, entry.name)
    raise DocumentError("matplotlib does not list the CJK face", path=path, index=index)


def _fontconfig_face(family: str) -> tuple[str, int]:
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        raise DocumentError(
            "fontconfig (fc-match) is missing: install fontconfig and fonts-noto-cjk"
        )
    out = subprocess.run(
        [fc_match, "-f", "%{file}|%{index}|%{family}", f"{family}:lang=zh-cn"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    path, _, rest = out.partition("|")
    index, _, families = rest.partition("|")
    if family not in families.split(","):
        raise DocumentError(
            f"the font {family} is not installed (Debian: fonts-noto-cjk)", matched=out or "-"
        )
    return path, int(index or 0)


@contextmanager
def _style() -> Iterator[None]:
    font = cjk_font()
    with matplotlib.rc_context(
        {
            "font.family": [font.family],
            "axes.unicode_minus": False,  # the CJK face has no U+2212
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 13,
            "axes.titleweight": "bold",
            "font.size": 10,
        }
    ):
        yield


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _num(value: Decimal | int | float | None) -> float:
    return float(value or 0)  # drawing only: the figures themselves stay Decimal


def markdown_image(png: bytes, alt: str) -> str:
    """The PNG inline in Markdown (``![alt](data:image/png;base64,…)``): the Prefect UI renders
    it wherever the browser is, with no file server and no URL to reach."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


# -- the charts ------------------------------------------------------------------------------


def outcomes_chart(
    by_year: Mapping[int, Mapping[str, Decimal | None]],
    *,
    title: str | None = "政府信息公开申请办理结果",
    size: tuple[float, float] = (8, 4.8),
) -> bytes:
    """The city's applications by outcome over the years: stacked bars of the six outcomes per
    year (their sum is （七）总计), with the year's new applications as a line. ``title``
    None: none in the picture (a document's caption says it); ``size`` in inches, drawn at
    that size so that the text keeps its points."""
    years = sorted(by_year)
    if not years:
        raise ValueError("no year to draw")
    with _style():
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.add_subplot()
        x = list(range(len(years)))
        bottom = [0.0] * len(years)
        for key in OUTCOMES:
            heights = [_num(by_year[y].get(key)) for y in years]
            ax.bar(
                x,
                heights,
                bottom=bottom,
                width=0.6,
                label=FIGURE_BY_KEY[key].label,
                color=OUTCOME_COLOURS[key],
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        for xi, total in zip(x, bottom, strict=True):
            if total:
                ax.annotate(
                    f"办理{total:.0f}",
                    (xi, total),
                    xytext=(0, -4),
                    textcoords="offset points",
                    ha="center",
                    va="top",
                    fontsize=9,
                    color="#212121",
                )
        new = [by_year[y].get("new_received") for y in years]
        if any(v is not None for v in new):  # a year without it (a cut text): no point there
            shown = [(xi, _num(v)) for xi, v in zip(x, new, strict=True) if v is not None]
            ax.plot(
                [p[0] for p in shown],
                [p[1] for p in shown],
                color="#212121",
                marker="o",
                linewidth=1.5,
                label="本年新收申请",
            )
            for xi, value in shown:  # beside the bar: clear of the bar's own 办理 label
                ax.annotate(
                    f"新收{value:.0f}",
                    (xi + 0.31, value),
                    xytext=(2, 0),
                    textcoords="offset points",
                    ha="left",
                    va="center",
                    fontsize=9,
                )
        ax.set_xticks(x, [f"{y}年" for y in years])
        ax.set_xlim(-0.6, len(years) - 0.4)
        ax.set_title("单位：件", loc="left", fontsize=9, fontweight="normal")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, max(max(bottom), max(_num(v) for v in new)) * 1.15 or 1)
        if title:
            ax.set_title(title)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4, frameon=False)
        ax.grid(axis="y", color="#eeeeee")
        ax.set_axisbelow(True)
        return _png(fig)


def top_units_chart(
    rows: Sequence[tuple[str, Decimal]],
    *,
    title: str | None,
    unit: str = "件",
    size: tuple[float, float] | None = None,
) -> bytes:
    """Horizontal bars of ``(unit name, value)``, largest on top (the ten units with most
    applications). ``title`` None: none in the picture; ``size`` in inches."""
    if not rows:
        raise ValueError("no unit to draw")
    rows = sorted(rows, key=lambda r: r[1], reverse=True)
    with _style():
        fig = Figure(figsize=size or (8, 0.45 * len(rows) + 1.4), layout="constrained")
        ax = fig.add_subplot()
        names = [name for name, _ in rows][::-1]
        values = [_num(v) for _, v in rows][::-1]
        bars = ax.barh(names, values, color="#1e88e5", height=0.6)
        for bar, (_, value) in zip(bars, rows[::-1], strict=True):
            ax.annotate(
                f"{fmt(value)}{unit}",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
        ax.set_xlim(0, max(values) * 1.18 or 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if title:
            ax.set_title(title)
        ax.grid(axis="x", color="#eeeeee")
        ax.set_axisbelow(True)
        return _png(fig)


def progress_chart(days: Any, *, title: str = "报送进度", deadline: date | None = None) -> bytes:
    """The campaign day by day (the frame of ``history.progress_by_day``): stacked bars of the
    units accepted / waiting for review / rejected / not yet reported at the end of each day."""
    from annual_report.history.frames import PROGRESS_LABELS

    if len(days) == 0:
        raise ValueError("no day to draw")
    dates = list(days["day"])
    with _style():
        fig = Figure(figsize=(9, 4.6), layout="constrained")
        ax = fig.add_subplot()
        x = list(range(len(dates)))
        bottom = [0] * len(dates)
        last = days.iloc[-1]
        for state in ("accepted", "pending", "rejected", "missing"):
            heights = [int(v) for v in days[state]]
            ax.bar(
                x,
                heights,
                bottom=bottom,
                width=0.8,
                color=PROGRESS_COLOURS[state],
                label=f"{PROGRESS_LABELS[state]}（{int(last[state])}）",
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        step = max(1, len(dates) // 12)
        ax.set_xticks(x[::step], [f"{d.month}月{d.day}日" for d in dates[::step]])
        if deadline is not None and dates[0] <= deadline <= dates[-1]:
            at = dates.index(deadline)
            ax.axvline(at + 0.5, color="#212121", linestyle="--", linewidth=1)
            ax.annotate(
                "截止日",
                (at + 0.5, max(bottom)),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=9,
            )
        ax.set_ylabel("单位数")
        ax.set_ylim(0, max(bottom) * 1.05 or 1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4, frameon=False)
        return _png(fig)


# -- from the store --------------------------------------------------------------------------


def outcomes_png(store: Any, *, city: str | None = None, years: int = 5) -> bytes | None:
    """The city's outcomes over its last ``years`` report years in the store (None: no year)."""
    from annual_report.history.frames import city_figures_by_year

    by_year = city_figures_by_year(store)
    by_year = {y: f for y, f in by_year.items() if f.get("handled_total") is not None}
    if not by_year:
        return None
    kept = dict(sorted(by_year.items())[-years:])
    name = city or ""
    return outcomes_chart(
        kept, title=f"{name}政府信息公开申请办理结果（{min(kept)}—{max(kept)}年）"
    )


def top_units_png(store: Any, year: int, *, n: int = 10) -> bytes | None:
    """The ``n`` units with most new applications in ``year`` (None: nobody had any)."""
    from annual_report.history.frames import top_units

    rows = [(name, value) for _, name, value in top_units(store, year, n=n) if value]
    if not rows:
        return None
    return top_units_chart(rows, title=f"{year}年新收政府信息公开申请最多的{len(rows)}个单位")


def campaign_progress_png(
    store: Any,
    campaign_id: str,
    *,
    zone: Any = None,
    as_of: datetime | None = None,
    deadline: date | None = None,
    title: str | None = None,
) -> bytes:
    """The campaign's progress day by day, as the coordinator sees it in the UI."""
    from annual_report.history.frames import progress_by_day

    days = progress_by_day(store, campaign_id, zone=zone, as_of=as_of)
    total = int(days["total"].iloc[-1]) if len(days) else 0
    campaign = store.campaign(campaign_id)
    return progress_chart(
        days,
        title=title or f"{campaign.report_year}年度报告报送进度（共{total}个单位）",
        deadline=deadline or campaign.deadline,
    )


def progress_markdown(
    store: Any,
    campaign_id: str,
    *,
    zone: Any = None,
    as_of: datetime | None = None,
    deadline: date | None = None,
    days: Any = None,
) -> str:
    """The coordinator's progress picture as a Markdown artifact: the chart inline (a data URI,
    which the Prefect UI shows wherever the browser is) and the latest counts in words. ``days``:
    the frame of ``history.progress_by_day`` when already at hand. A chart that cannot be drawn
    (no CJK font, …) says so in the artifact and never stops the run."""
    from annual_report.history.frames import PROGRESS_LABELS, progress_by_day

    lines = ["# 报送进度", ""]
    try:
        if days is None:
            days = progress_by_day(store, campaign_id, zone=zone, as_of=as_of)
        last = days.iloc[-1]
        counts = "、".join(
            f"{PROGRESS_LABELS[s]}{int(last[s])}个"
            for s in ("accepted", "pending", "rejected", "missing")
        )
        day = last["day"]
        lines += [f"截至{day.month}月{day.day}日：{counts}（共{int(last['total'])}个单位）。", ""]
        campaign = store.campaign(campaign_id)
        png = progress_chart(
            days,
            title=f"{campaign.report_year}年度报告报送进度（共{int(last['total'])}个单位）",
            deadline=deadline or campaign.deadline,
        )
    except Exception as exc:  # a picture must never stop the status from being published
        log.warning("progress chart not drawn: %s", exc, exc_info=True)
        lines.append(f"进度图未能生成（请系统管理员查看运行日志）：{exc}")
    else:
        lines.append(markdown_image(png, "报送进度图"))
    return "\n".join(lines) + "\n"
