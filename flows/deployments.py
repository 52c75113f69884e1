"""Deployments of the campaign flows with their schedules (cron in the campaign's time zone).

``nianbao serve`` serves these; ``prefect.yaml`` declares the same for a Prefect worker, and a
test keeps the two in step with ``config/campaign.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annual_report.plan import CampaignPlan

from .settings import load_app_config


@dataclass(frozen=True)
class Schedule:
    flow: str
    cron: str
    description: str


def months(plan: CampaignPlan) -> str:
    """The months the campaign runs in, for cron (e.g. ``1,2``)."""
    first, last = plan.start, plan.last_day
    span = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        span.append(month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return ",".join(str(m) for m in sorted(set(span)))


def schedules(plan: CampaignPlan) -> list[Schedule]:
    at = plan.send_at
    start, day = plan.start, plan.consolidation_day
    return [
        Schedule(
            "dispatch",
            f"{at.minute} {at.hour} {start.day} {start.month} *",
            "send the templates on the campaign's start day",
        ),
        Schedule(
            "collect",
            f"*/{plan.collect_every_minutes} * * {months(plan)} *",
            "read the mailbox and answer, during the campaign",
        ),
        Schedule(
            "remind",
            f"{at.minute} {at.hour} * {months(plan)} *",
            "reminders and escalations, daily",
        ),
        Schedule(
            "consolidate",
            f"{at.minute} {at.hour} {day.day} {day.month} *",
            "consolidate after the deadline (waits for the coordinator's approval)",
        ),
    ]


def deployments(config_dir: str, data_dir: str | None = None) -> list[Any]:
    from prefect.schedules import Cron

    from .campaign import FLOWS

    config = load_app_config(config_dir, data_dir)
    plan = config.plan
    parameters: dict[str, Any] = {"config_dir": str(Path(config_dir).resolve())}
    if data_dir:
        parameters["data_dir"] = str(Path(data_dir).resolve())
    return [
        FLOWS[s.flow].to_deployment(
            name=f"{s.flow}-{plan.id}",
            schedule=Cron(s.cron, timezone=plan.timezone),
            parameters=parameters,
            description=s.description,
            tags=["nianbao", f"campaign-{plan.id}"],
        )
        for s in schedules(plan)
    ]


MANUAL_DESCRIPTIONS = {
    "campaign": "the whole January run at the given time; run by hand",
    "assign": "give a quarantined file its department (number from the notice, unit code)",
    "resend": "let the next run send a mail a crash left uncertain (key from the summary)",
}


def manual_deployments(config_dir: str, data_dir: str | None = None) -> list[Any]:
    """Deployments without a schedule, for the coordinator's "Custom run" in the UI."""
    from .campaign import MANUAL_FLOWS

    config = load_app_config(config_dir, data_dir)
    parameters: dict[str, Any] = {"config_dir": str(Path(config_dir).resolve())}
    if data_dir:
        parameters["data_dir"] = str(Path(data_dir).resolve())
    return [
        flow.to_deployment(
            name=f"{name}-{config.plan.id}",
            parameters=parameters,
            description=MANUAL_DESCRIPTIONS[name],
            tags=["nianbao", f"campaign-{config.plan.id}"],
        )
        for name, flow in MANUAL_FLOWS.items()
    ]


def serve_campaign(config_dir: str, data_dir: str | None = None) -> None:
    from prefect import serve

    # pause_on_shutdown=False: a restart of the server process must not pause the schedules.
    serve(
        *deployments(config_dir, data_dir),
        *manual_deployments(config_dir, data_dir),
        pause_on_shutdown=False,
    )
