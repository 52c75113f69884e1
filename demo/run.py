"""``nianbao demo``: the whole January campaign, end to end, on the built-in sample city.

A local post office (real SMTP on loopback, Maildirs on disk), about forty simulated
departments and a coordinator, and the real Prefect flows run day by day with ``as_of``
advancing through the campaign calendar: dispatch, replies on time and late and never, errors
and corrections, warnings answered with a 说明, a file from a personal mailbox assigned by the
coordinator, reminders, escalations, and the consolidation at the end.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from rich.console import Console

from annual_report.campaign.kinds import STATE_LABELS
from demo import city
from demo.clerks import Clerks
from demo.coordinator import Coordinator
from demo.postoffice import PostOffice

DEFAULT_DIR = Path("nianbao-demo")


@dataclass(frozen=True)
class DemoResult:
    workspace: Path
    config_dir: Path
    database: Path
    archive: Path
    workbook: Path | None
    states: dict[str, str]


def run_demo(
    workspace: Path = DEFAULT_DIR, *, report_year: int = 2021, console: Console | None = None
) -> DemoResult:
    """Play the campaign in ``workspace`` (emptied first) and return where everything is."""
    from flows import campaign as flows
    from office.settings import load_app_config

    console = console or Console()
    workspace = workspace.resolve()
    if workspace.exists():
        shutil.rmtree(workspace)
    with PostOffice(workspace / "mailboxes") as office:
        config_dir = city.write_config(
            workspace / "config",
            report_year=report_year,
            smtp_port=office.port,
            maildir=office.maildir(city.OFFICE),
            archive=workspace / "data" / "mail",
        )
        data_dir = str(workspace / "data")
        config = load_app_config(config_dir, data_dir)
        plan = config.plan
        clerks = Clerks(
            office, city.UNITS, year=report_year, office_address=city.OFFICE, deadline=plan.deadline
        )
        coordinator = Coordinator(city.COORDINATOR, office, clerks)
        console.print(
            f"[bold]{city.CITY} {report_year}年度政府信息公开工作年度报告收集（演示）[/bold]: "
            f"{len(city.UNITS)} units, templates out {plan.start}, deadline {plan.deadline}, "
            f"consolidation {plan.consolidation_day}"
        )
        day = plan.start
        while day <= plan.consolidation_day:
            morning = plan.at(day)
            flows.campaign(str(config_dir), morning, "auto", data_dir=data_dir)
            actions = clerks.act(day, datetime.combine(day, time(16, 30), tzinfo=plan.zone))
            if actions:
                flows.collect(str(config_dir), plan.at(day, time(17, 30)), data_dir=data_dir)
            actions += coordinator.act(config_dir, data_dir, plan.at(day, time(18, 0)))
            states = _states(config_dir, data_dir)
            counts = Counter(states.values())
            summary = "  ".join(f"{STATE_LABELS[k]} {n}" for k, n in sorted(counts.items()))
            console.print(f"{day}  {summary}")
            for action in actions:
                console.print(f"            {action}", style="dim")
            day += timedelta(days=1)
    out = config.output_dir
    finals = sorted(out.glob("*（定稿）.xlsx"))
    result = DemoResult(
        workspace=workspace,
        config_dir=config_dir,
        database=config.database,
        archive=config.mail.archive_dir,
        workbook=finals[-1] if finals else None,
        states=_states(config_dir, data_dir),
    )
    console.print()
    console.print(f"consolidated workbook: {result.workbook}")
    console.print(f"state database:        {result.database}")
    console.print(f"archived mail:         {result.archive}")
    console.print(f"every department's mailbox: {workspace / 'mailboxes'}")
    console.print(f"status now:            nianbao status --config {config_dir} --data {data_dir}")
    console.print("watch it in the UI:    nianbao demo --ui (a local Prefect server, left running)")
    return result


def _states(config_dir: Path, data_dir: str) -> dict[str, str]:
    from annual_report.campaign.states import department_states
    from annual_report.store import open_store
    from office.settings import load_app_config

    config = load_app_config(config_dir, data_dir)
    with open_store(config.database) as store:
        codes = list(config.registry.codes)
        due = config.plan.deadlines(codes)
        return {s.code: s.state for s in department_states(store, config.plan.id, due=due)}
