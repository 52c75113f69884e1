"""Deployments of the campaign flows with their schedules (cron in the campaign's time zone).

One office's deployments are named after the office (``dispatch/yichun``, ``collect/yichun`` …;
``$NIANBAO_OFFICE``), so that any number of offices share one Prefect server, each with its own
work pool. ``nianbao serve`` serves them itself; ``prefect.yaml`` declares the same for a
Prefect worker and calls :func:`campaign_schedule` when it is deployed, so the schedules always
come from the office's own ``campaign.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annual_report.campaign.plan import CampaignPlan
from annual_report.errors import ConfigError
from office.settings import CONFIG_ENV, OFFICE_ENV, check_office, load_app_config, office_id

# The deployments' name without $NIANBAO_OFFICE (one office alone on its server, `nianbao serve`)
SOLE_OFFICE = "nianbao"


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


def office_name() -> str:
    """The name of this office's deployments and work pool."""
    return office_id() or SOLE_OFFICE


def tags(plan: CampaignPlan, office: str) -> list[str]:
    return ["nianbao", f"office-{office}", f"campaign-{plan.id}"]


def campaign_schedule(
    config_dir: str, data_dir: str | None = None, office: str | None = None
) -> dict[str, str]:
    """prefect.yaml's build step: the office's configuration, checked, and what its deployments
    take from it (schedules, campaign id, absolute directories), for ``{{ campaign.… }}``.

    ``prefect deploy`` passes ``$NIANBAO_CONFIG``, ``$NIANBAO_DATA`` and ``$NIANBAO_OFFICE``; an
    unset one arrives as an empty string.
    """
    if not config_dir:
        raise ConfigError(f"set {CONFIG_ENV} to the office's configuration directory")
    if not office:
        raise ConfigError(f"set {OFFICE_ENV} to the office's short name (its work pool)")
    check_office(office)
    config = load_app_config(config_dir, data_dir or None)
    plan = config.plan
    values = {
        "office": office,
        "id": plan.id,
        "timezone": plan.timezone,
        "config_dir": str(config.config_dir),
        "data_dir": str(config.data_dir),
    }
    values.update({s.flow: s.cron for s in schedules(plan)})
    return values


def _parameters(config_dir: str, data_dir: str | None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"config_dir": str(Path(config_dir).resolve())}
    if data_dir:
        parameters["data_dir"] = str(Path(data_dir).resolve())
    return parameters


def deployments(config_dir: str, data_dir: str | None = None) -> list[Any]:
    from prefect.schedules import Cron

    from flows.campaign import FLOWS

    config = load_app_config(config_dir, data_dir)
    plan = config.plan
    office = office_name()
    return [
        FLOWS[s.flow].to_deployment(
            name=office,
            schedule=Cron(s.cron, timezone=plan.timezone),
            parameters=_parameters(config_dir, data_dir),
            description=s.description,
            tags=tags(plan, office),
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
    from flows.campaign import MANUAL_FLOWS

    config = load_app_config(config_dir, data_dir)
    office = office_name()
    return [
        flow.to_deployment(
            name=office,
            parameters=_parameters(config_dir, data_dir),
            description=MANUAL_DESCRIPTIONS[name],
            tags=tags(config.plan, office),
        )
        for name, flow in MANUAL_FLOWS.items()
    ]


# A run the coordinator starts in the UI (a resend, an assignment, a round by hand) waits for
# the runner's next query for due runs: every 2 s here instead of Prefect's 10 (one small query
# each time). PREFECT_RUNNER_POLL_FREQUENCY, when an operator sets it, still decides.
RUNNER_POLL_SECONDS = 2.0


def runner_poll_seconds() -> float | None:
    """How often ``nianbao serve`` asks for due runs (None: the Prefect setting an operator set)."""
    from prefect.settings import get_current_settings
    from prefect.settings.models.runner import RunnerSettings

    default = RunnerSettings.model_fields["poll_frequency"].default
    return RUNNER_POLL_SECONDS if get_current_settings().runner.poll_frequency == default else None


def serve_campaign(config_dir: str, data_dir: str | None = None) -> None:
    from prefect import serve

    # pause_on_shutdown=False: a restart of the server process must not pause the schedules.
    serve(
        *deployments(config_dir, data_dir),
        *manual_deployments(config_dir, data_dir),
        pause_on_shutdown=False,
        query_seconds=runner_poll_seconds(),
    )
