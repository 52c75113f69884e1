"""The campaign day by day, as the coordinator's progress chart: drawn only when the days
changed since it was last published (each version is ~70 KB in the UI's database)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from annual_report.history.days import progress_days
from office.runtime import Runtime

PUBLISHED = "progress-chart"  # the store's note of the days last published (their hash)


@dataclass(frozen=True)
class Chart:
    markdown: str  # the picture inline (no URL the browser must reach) and the counts
    digest: str  # of the days it shows


def progress_chart(rt: Runtime, as_of: datetime, server: str | None = "") -> Chart | None:
    """The chart at ``as_of``, or None when the days are those last published to ``server``
    (the Prefect API's URL; None — a temporary server that keeps nothing — always draws)."""
    days = progress_days(rt.store, rt.campaign_id, zone=rt.config.plan.zone, as_of=as_of)
    digest = hashlib.sha256(json.dumps(days, default=str).encode()).hexdigest()
    if server is not None and rt.store.get_state(rt.campaign_id, PUBLISHED) == _note(
        digest, server
    ):
        return None
    # matplotlib and pandas: only when there is a chart to draw (a round that changed nothing
    # imports neither)
    from annual_report.documents import charts
    from annual_report.history.frames import progress_frame

    frame = progress_frame(days)
    return Chart(charts.progress_markdown(rt.store, rt.campaign_id, days=frame), digest)


def chart_published(rt: Runtime, chart: Chart, server: str | None = "") -> None:
    """Remember the chart's days, so an unchanged chart is not published again."""
    if server is not None:
        rt.store.set_state(rt.campaign_id, PUBLISHED, _note(chart.digest, server))


def _note(digest: str, server: str) -> str:
    return f"{digest}@{server}" if server else digest  # "": as before (no server named)
