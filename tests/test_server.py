"""The real deployment, run for real (issue 13): Debian's PostgreSQL, ``prefect server start`` on
it, ``prefect.yaml`` deployed for two offices — the county 袁州区 and its city 宜春市 — each with
its own work pool, data directory, mailbox and process worker, and a small campaign the workers
run: dispatch, collect, consolidate, the consolidation approved through the API the way the UI's
form does it. Helpers: tests/serverkit.py.

Everything runs as docker/compose.yaml, compose.worker.yaml (the city) and compose.county.yaml
(the county) say: the same commands, the same environment (image ENV, env_file, environment),
the same work pool and deployment names; only host names, ports and container paths are
translated to this machine (serverkit.Site), and each worker polls every 2 s instead of 10 s
(PREFECT_WORKER_QUERY_SECONDS) to keep the module short. The one-off commands (work pool,
deploy) are the ones docs/deploy.md gives.

The module fixture plays the campaign once; the tests read what the server, the mail server
and the offices' data directories hold. It also measures what one office's campaign leaves on
the server (docs/scale.md): set NIANBAO_SERVER_FIGURES=path.json to keep the figures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import yaml
from flowkit import XLSX, filled_workbook, report_values
from serverkit import (
    ROOT,
    Process,
    Site,
    api,
    base_env,
    compose_service,
    database_figures,
    free_port,
    image_env,
    image_workdir,
    office_figures,
    postgres_bindir,
    postgres_cluster,
    run,
    settled,
    start,
    volume_paths,
    wait_for_run,
    wait_http,
)

from connectors.attachments import ParsedMessage, parse_message

# the module fixture plays the whole campaign inside the first test's time limit
pytestmark = [pytest.mark.mail, pytest.mark.timeout(900)]

YEAR = 2021
ZONE = ZoneInfo("Asia/Shanghai")
DEPLOY_DOC = ROOT / "docs" / "deploy.md"


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str
    flavour: str = "good"  # what its clerk sends back (flowkit.report_values)


@dataclass(frozen=True)
class OfficeSpec:
    """One office: its compose service, its registry and calendar. The county consolidates
    before the city, so that (issue 13, points 1-2) its approved report can later be a
    submission to the city's campaign; for now each runs its own."""

    office: str  # NIANBAO_OFFICE: work pool and deployment name (compose's default)
    service: str
    files: tuple[str, ...]
    config_variable: str  # the compose variable naming its configuration on the host
    volume: str  # its named data volume
    env_file_template: str
    place: str
    domain: str
    units: tuple[Unit, ...]
    deadline: date
    consolidate_on: date
    start: date = date(2022, 1, 4)

    @property
    def sender(self) -> str:
        return f"zwgk@{self.domain}"

    def address(self, code: str) -> str:
        return f"{code.lower().replace('-', '.')}@{self.domain}"


COUNTY = OfficeSpec(
    office="yuanzhou",
    service="county",
    files=("compose.yaml", "compose.county.yaml"),
    config_variable="NIANBAO_COUNTY_CONFIG",
    volume="county-data",
    env_file_template=".env.county.example",
    place="袁州区",
    domain="yuanzhou.example",
    units=(
        Unit("QZF", "袁州区人民政府办公室", "government"),
        Unit("JYJ", "袁州区教育局", "department"),
        Unit("CZJ", "袁州区财政局", "department"),
        Unit("Z-CH", "袁州区慈化镇人民政府", "township"),
    ),
    deadline=date(2022, 1, 12),
    consolidate_on=date(2022, 1, 14),
)
CITY = OfficeSpec(
    office="yichun",
    service="app",
    files=("compose.yaml", "compose.worker.yaml"),
    config_variable="NIANBAO_HOST_CONFIG",
    volume="nianbao-data",
    env_file_template=".env.example",
    place="宜春市",
    domain="yichun.example",
    units=(
        Unit("SZF", "宜春市人民政府办公室", "government"),
        Unit("FGW", "宜春市发展和改革委员会", "department", flavour="error"),
        Unit("JYJ", "宜春市教育局", "department"),
        Unit("GAJ", "宜春市公安局", "department"),
    ),
    deadline=date(2022, 1, 20),
    consolidate_on=date(2022, 1, 24),
)
# By hand, for docs/scale.md: NIANBAO_SERVER_UNITS=100 adds that many units to each office,
# NIANBAO_SERVER_IDLE_RUNS=20 runs that many collects with nothing new (default 1)
EXTRA_UNITS = int(os.environ.get("NIANBAO_SERVER_UNITS") or 0)
IDLE_RUNS = int(os.environ.get("NIANBAO_SERVER_IDLE_RUNS") or 1)
if EXTRA_UNITS:
    COUNTY, CITY = (
        replace(
            spec,
            units=spec.units
            + tuple(
                Unit(f"D{n:03d}", f"{spec.place}第{n}号单位", "department")
                for n in range(1, EXTRA_UNITS + 1)
            ),
        )
        for spec in (COUNTY, CITY)
    )
OFFICES = (COUNTY, CITY)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


# -- configuration ---------------------------------------------------------------------------


def write_config(spec: OfficeSpec, config: Path, smtp: Any, dovecot: Any, folder: str) -> None:
    from demo.city import packaged_mail_texts

    departments = []
    for i, unit in enumerate(spec.units):
        entry: dict[str, Any] = {
            "code": unit.code,
            "name": unit.name,
            "kind": unit.kind,
            "email": spec.address(unit.code),
            "contact": {"name": "王芳", "phone": f"0795-32{i:05d}"},
            "leader_email": f"leader.{spec.address(unit.code)}",
        }
        if unit.kind == "government":
            entry["reports_for_government"] = True
            entry["can_make_rules"] = spec.office == CITY.office  # 设区的市 only
        departments.append(entry)
    files = {
        "departments.yaml": {"city": spec.place, "departments": departments},
        "campaign.yaml": {
            "id": str(YEAR),
            "report_year": YEAR,
            "start": spec.start.isoformat(),
            "deadline": spec.deadline.isoformat(),
            "consolidate_on": spec.consolidate_on.isoformat(),
            "timezone": "Asia/Shanghai",
            "send_at": "09:00",
            "collect_every_minutes": 30 if spec.office == CITY.office else 20,
            # the city sends each department its publishable report with the receipt
            "attach_report_to_receipt": spec.office == CITY.office,
        },
        # passwords: NIANBAO_SMTP_PASSWORD / NIANBAO_IMAP_PASSWORD from the worker's env_file
        "mail.yaml": {
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "security": "none",
                "user": smtp.user,
                "sender": spec.sender,
                "sender_name": f"{spec.place}人民政府办公室",
                "timeout": 10,
                "rate_per_minute": None,
                "retries": 1,
                "backoff_seconds": 0.05,
            },
            "imap": {
                "host": dovecot.host,
                "port": dovecot.port,
                "security": "none",
                "user": dovecot.user,
                "folder": folder,
                "timeout": 10,
            },
            "coordinator": f"coordinator@{spec.domain}",
            "contact": {"name": "周敏", "phone": "0795-3200001", "email": spec.sender},
            "archive_dir": "nianbao-data/mail",  # beside config/, as in the image: the volume
        },
    }
    config.mkdir(parents=True)
    for name, data in files.items():
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        (config / name).write_text(text, encoding="utf-8")
    shutil.copytree(packaged_mail_texts(), config / "mail")


def reply(spec: OfficeSpec, unit: Unit, invitation: ParsedMessage, when: datetime) -> bytes:
    """The clerk's answer: the template it received, filled in, in the invitation's thread."""
    msg = EmailMessage()
    msg["From"] = f"{unit.name} <{spec.address(unit.code)}>"
    msg["To"] = spec.sender
    msg["Subject"] = f"回复：{invitation.subject}"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<{unit.code.lower()}.{when:%Y%m%d%H%M}@{spec.domain}>"  # one a unit
    msg["In-Reply-To"] = msg["References"] = invitation.message_id
    msg.set_content("您好，我单位年度报告见附件，请审核。")
    workbook = filled_workbook(template_of_parsed(invitation), unit.code, unit.flavour)
    name = f"{unit.name}{YEAR}年政府信息公开工作年度报告.xlsx"
    msg.add_attachment(workbook, maintype=XLSX[0], subtype=XLSX[1], filename=name)
    return msg.as_bytes(policy=SMTP)


def template_of_parsed(invitation: ParsedMessage) -> bytes:
    (book,) = invitation.workbooks
    return book.content


# -- the deployment --------------------------------------------------------------------------


@dataclass
class OfficeRun:
    spec: OfficeSpec
    config_dir: Path
    data_dir: Path
    folder: str
    env: dict[str, str]  # the worker's environment, as its container would have it
    commands: list[list[str]] = field(default_factory=list)  # what was run for it, in order
    worker: Process | None = None
    runs: dict[str, Any] = field(default_factory=dict)  # step → final FlowRun
    paused: list[dict[str, Any]] = field(default_factory=list)  # what the approval form showed
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def output_dir(self) -> Path:
        return self.data_dir / "out" / str(YEAR)


@dataclass
class Played:
    api_url: str
    pg: Any
    server: Process
    site: Site
    offices: dict[str, OfficeRun]
    mails: list[Sent]
    figures: dict[str, Any]

    def mails_of(self, spec: OfficeSpec, kind: str | None = None) -> list[ParsedMessage]:
        return [
            m.parsed
            for m in self.mails
            if m.parsed.sender == spec.sender
            and (kind is None or m.parsed.header("X-Nianbao-Kind") == kind)
        ]

    def take_mails(self, smtp: Any) -> None:
        for envelope in smtp.messages[len(self.mails) :]:
            self.mails.append(Sent(parse_message(envelope.raw), len(envelope.raw), envelope.login))


@dataclass(frozen=True)
class Sent:
    parsed: ParsedMessage
    size: int  # bytes on the wire
    login: str | None  # the SMTP user the worker logged in as


def approve_as_the_ui_does(api_url: str, run: Any) -> dict[str, Any]:
    """What the UI does with a paused run that waits for input: read the form's schema and
    description by the keys the paused state names, fill in the form's defaults (the
    coordinator ticks nothing), approve, and resume the run with that input."""
    keyset = run.state.state_details.run_input_keyset
    assert keyset, f"{run.name} is paused without a form"
    schema = api(api_url, f"/flow_runs/{run.id}/input/{keyset['schema']}")
    description = api(api_url, f"/flow_runs/{run.id}/input/{keyset['description']}")
    values = {
        name: prop["default"]
        for name, prop in schema["properties"].items()
        if "default" in prop and name != "description"
    }
    if "approve" in schema["properties"]:
        values["approve"] = True
    result = api(api_url, f"/flow_runs/{run.id}/resume", {"run_input": values})
    assert result["status"] == "ACCEPT", result
    return {"schema": schema, "description": description, "sent": values}


def run_step(
    played: Played, client: Any, step: str, flow: str, when: dict[str, datetime], **params: Any
) -> None:
    """Start ``flow`` of every office as the UI's "Quick run" would, then wait for the workers."""
    started = {}
    for office in played.offices:
        deployment = client.read_deployment_by_name(f"{flow}/{office}")
        parameters = {"as_of": when[office].isoformat(), **params}
        started[office] = client.create_flow_run_from_deployment(
            deployment.id, parameters=parameters
        ).id
    workers = [r.worker for r in played.offices.values() if r.worker]
    for office, run_id in started.items():
        office_run = played.offices[office]
        # a deadline against a hung run, generous on two shared cores (per unit for the bench)
        timeout = 420 + 10 * len(office_run.spec.units)
        flow_run = wait_for_run(client, run_id, played.server, *workers, timeout=timeout)
        while flow_run.state.is_paused():
            office_run.paused.append(approve_as_the_ui_does(played.api_url, flow_run))
            flow_run = wait_for_run(client, run_id, played.server, *workers, timeout=timeout)
        office_run.runs[step] = flow_run


@pytest.fixture(scope="module")
def played(tmp_path_factory, smtp_server, dovecot):
    if postgres_bindir() is None:
        message = "PostgreSQL is not installed (scripts/setup.sh installs Debian's postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from prefect.client.orchestration import SyncPrefectClient

    tmp = tmp_path_factory.mktemp("server")
    smtp_server.clear()
    folders = {}
    for spec in OFFICES:
        folders[spec.office] = f"{spec.office}-{os.getpid()}"
        dovecot.create_folder(folders[spec.office])
        write_config(spec, tmp / spec.office / "config", smtp_server, dovecot, folders[spec.office])
    variables = {
        "POSTGRES_PASSWORD": "pgSecret4test",  # letters and digits, as .env.example asks
        "NIANBAO_HOST_CONFIG": str(tmp / CITY.office / "config"),
        "NIANBAO_HOST_MAIL_SETTINGS": str(tmp / CITY.office / "config" / "mail.yaml"),
        "NIANBAO_COUNTY_CONFIG": str(tmp / COUNTY.office / "config"),
        # NIANBAO_OFFICE and NIANBAO_COUNTY unset: the compose defaults name the offices
    }
    postgres = compose_service(["compose.yaml"], "postgres", variables)["environment"]
    # its own directory under /tmp: the postgres user cannot enter pytest's (mode 700)
    with postgres_cluster(
        Path(tempfile.mkdtemp(prefix="nianbao-pg-")),
        user=postgres["POSTGRES_USER"],
        password=postgres["POSTGRES_PASSWORD"],
        database=postgres["POSTGRES_DB"],
    ) as pg:
        port = free_port()
        site = Site(
            hosts={
                "postgres:5432": f"127.0.0.1:{pg.port}",
                "prefect-server:4200": f"127.0.0.1:{port}",
                "127.0.0.1:4200": f"127.0.0.1:{port}",  # the published port (PREFECT_UI_API_URL)
            }
        )
        # the server: compose.yaml's prefect-server, listening on loopback here
        service = compose_service(["compose.yaml"], "prefect-server", variables)
        env = base_env(tmp / "home" / "prefect-server")
        env |= {k: site.translate(str(v)) for k, v in service["environment"].items()}
        assert env["PREFECT_SERVER_API_HOST"] == "0.0.0.0" and env["PREFECT_SERVER_API_PORT"]
        env |= {"PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
        server = start("prefect-server", service["command"], env, tmp, tmp / "logs")
        api_url = f"http://127.0.0.1:{port}/api"
        played = Played(api_url, pg, server, site, {}, [], {})
        try:
            wait_http(f"{api_url}/health", server)
            played.figures["empty"] = database_figures(pg)
            for spec in OFFICES:
                played.offices[spec.office] = deploy_office(
                    spec, tmp, variables, site, server, smtp_server, dovecot, folders
                )
            played.figures["deployed"] = database_figures(pg)
            cpu_before = {"server": server.cpu_seconds()}
            with SyncPrefectClient(api_url) as client:
                play_campaign(played, client, smtp_server, dovecot)
            measure(played, cpu_before)
            yield played
        finally:
            for office_run in played.offices.values():
                if office_run.worker:
                    office_run.worker.stop()
            server.stop()


def deploy_office(
    spec: OfficeSpec,
    tmp: Path,
    variables: dict[str, str],
    site: Site,
    server: Process,
    smtp: Any,
    dovecot: Any,
    folders: dict[str, str],
) -> OfficeRun:
    """The office's container, here: image ENV + env_file + environment, its volumes; then the
    one-off commands of docs/deploy.md and the worker of its compose service."""
    service = compose_service(list(spec.files), spec.service, variables)
    data = tmp / spec.office / "nianbao-data"
    data.mkdir(parents=True)
    paths = volume_paths(service, {spec.volume: data})
    paths[image_workdir()] = ROOT  # the image's /app: prefect.yaml and the flows
    office_site = Site(site.hosts, paths, site.used)
    # env_file: its template names the variables; the values are the office's own secrets
    (env_file,) = service["env_file"]
    template = (ROOT / "docker" / spec.env_file_template).read_text(encoding="utf-8")
    names = re.findall(r"^(\w+)=", template, re.M)
    assert env_file == spec.env_file_template.removesuffix(".example")
    secrets = {"NIANBAO_SMTP_PASSWORD": smtp.password, "NIANBAO_IMAP_PASSWORD": dovecot.password}
    assert set(secrets) <= set(names)
    env = base_env(tmp / "home" / spec.office)
    env |= {k: office_site.translate(v) for k, v in image_env().items()}
    env |= secrets
    env |= {k: office_site.translate(str(v)) for k, v in service["environment"].items()}
    # the container's own port 8080 (HEALTHCHECK) is a free port here; poll every 2 s
    health_port = free_port()
    env |= {"PREFECT_WORKER_WEBSERVER_PORT": str(health_port), "PREFECT_WORKER_QUERY_SECONDS": "2"}
    assert env["NIANBAO_OFFICE"] == spec.office
    assert Path(env["NIANBAO_CONFIG"]) == tmp / spec.office / "config"
    assert Path(env["NIANBAO_DATA"]) == data
    office_run = OfficeRun(spec, tmp / spec.office / "config", data, folders[spec.office], env)
    # once per office (docs/deploy.md): its work pool, then prefect.yaml's deployments
    for command in (
        ["prefect", "work-pool", "create", spec.office, "--type", "process"],
        ["prefect", "--no-prompt", "deploy", "--all"],
    ):
        office_run.commands.append(command)
        run(command, env, cwd=paths[image_workdir()])
    office_run.commands.append(service["command"])
    office_run.worker = start(
        f"worker-{spec.office}", service["command"], env, paths[image_workdir()], tmp / "logs"
    )
    wait_http(f"http://127.0.0.1:{health_port}/health", office_run.worker)
    return office_run


def play_campaign(played: Played, client: Any, smtp: Any, dovecot: Any) -> None:
    offices = {spec.office: spec for spec in OFFICES}
    run_step(
        played, client, "dispatch", "dispatch", {o: at(s.start, 9) for o, s in offices.items()}
    )
    snapshot(played, "dispatch", smtp)
    replies = played.figures["replies"] = {}
    for office, spec in offices.items():
        invitations = {m.header("X-Nianbao-Department"): m for m in played.mails_of(spec)}
        raws = [
            reply(spec, unit, invitations[unit.code], at(spec.start + timedelta(days=2), 10))
            for unit in spec.units
        ]
        for raw in raws:
            dovecot.deliver(raw, played.offices[office].folder)
        replies[office] = {"count": len(raws), "bytes": sum(len(r) for r in raws)}
    evening = {o: at(s.deadline - timedelta(days=1), 17, 30) for o, s in offices.items()}
    run_step(played, client, "collect", "collect", evening)
    snapshot(played, "collect", smtp)
    # half an hour later, as the schedule does: nothing new (what most collect runs are)
    for n in range(1, IDLE_RUNS + 1):
        later = {o: when + timedelta(minutes=30 * n) for o, when in evening.items()}
        run_step(played, client, "collect-idle", "collect", later)
    snapshot(played, "collect-idle", smtp)
    run_step(
        played,
        client,
        "consolidate",
        "consolidate",
        {o: at(s.consolidate_on, 9) for o, s in offices.items()},
    )
    snapshot(played, "consolidate", smtp)


def snapshot(played: Played, step: str, smtp: Any) -> None:
    """What the server holds after ``step`` (once the background recorders are done)."""
    played.take_mails(smtp)
    offices = settled(lambda: {o: office_figures(played.pg, o) for o in played.offices})
    played.figures.setdefault("steps", {})[step] = {
        "offices": offices,
        "database": database_figures(played.pg),
        "cpu_seconds": {
            "server": played.server.cpu_seconds(),
            **{o: r.worker.cpu_seconds() for o, r in played.offices.items() if r.worker},
        },
        "mails": {
            o: {"count": len(played.mails_of(r.spec)), "bytes": mail_bytes(played, r.spec)}
            for o, r in played.offices.items()
        },
    }


def mail_bytes(played: Played, spec: OfficeSpec) -> int:
    return sum(m.size for m in played.mails if m.parsed.sender == spec.sender)


def measure(played: Played, cpu_before: dict[str, float]) -> None:
    """What the campaign left on the server, per office and per step (docs/scale.md)."""
    steps = played.figures["steps"]
    last = steps["consolidate"]
    for office, office_run in played.offices.items():
        office_run.figures = last["offices"][office]
    played.figures["campaign"] = last["database"]
    played.figures["offices"] = last["offices"]
    played.figures["units"] = {o: len(r.spec.units) for o, r in played.offices.items()}
    played.figures["idle_runs"] = IDLE_RUNS
    played.figures["peak_rss_kb"] = {
        "server": played.server.peak_rss_kb,
        **{f"worker-{o}": r.worker.peak_rss_kb for o, r in played.offices.items() if r.worker},
    }
    played.figures["cpu_seconds"] = {
        "server": last["cpu_seconds"]["server"] - cpu_before["server"],
        **{f"worker-{o}": last["cpu_seconds"][o] for o in played.offices},
    }
    # each step's own share: what it added to the server, per office
    before: dict[str, Any] = {
        "offices": {o: dict.fromkeys(last["offices"][o], 0) for o in played.offices},
        "database": played.figures["deployed"],
        "cpu_seconds": {"server": cpu_before["server"], **dict.fromkeys(played.offices, 0.0)},
        "mails": {o: {"count": 0, "bytes": 0} for o in played.offices},
    }
    deltas = {}
    for step, now in steps.items():
        deltas[step] = {
            "offices": {
                o: {k: v - before["offices"][o][k] for k, v in figures.items()}
                | {
                    "worker_cpu_seconds": round(
                        now["cpu_seconds"][o] - before["cpu_seconds"][o], 2
                    ),
                    "mails": now["mails"][o]["count"] - before["mails"][o]["count"],
                    "mail_bytes": now["mails"][o]["bytes"] - before["mails"][o]["bytes"],
                }
                for o, figures in now["offices"].items()
            },
            "database_bytes": now["database"]["database_bytes"]
            - before["database"]["database_bytes"],
            "commits": now["database"]["commits"] - before["database"]["commits"],
            "server_cpu_seconds": round(
                now["cpu_seconds"]["server"] - before["cpu_seconds"]["server"], 2
            ),
        }
        before = now
    played.figures["per_step"] = deltas
    target = os.environ.get("NIANBAO_SERVER_FIGURES")
    if target:
        Path(target).write_text(json.dumps(played.figures, indent=2, ensure_ascii=False) + "\n")


# -- the tests -------------------------------------------------------------------------------


def test_the_server_keeps_its_state_in_postgresql(played):
    assert api(played.api_url, "/health") is True
    # the runs the workers reported are rows in PostgreSQL (not a SQLite file in PREFECT_HOME)
    assert played.pg.scalar("SELECT count(*) FROM flow_run") >= 6
    assert played.pg.scalar("SELECT count(*) FROM alembic_version") == 1
    home = Path(played.server.env["PREFECT_HOME"])
    assert not list(home.rglob("*.db")), "the server wrote a SQLite database"
    # every address the compose file gives was translated, none left pointing at a container
    assert played.site.used >= {"postgres:5432", "prefect-server:4200", "127.0.0.1:4200"}


def test_each_office_has_its_deployments_on_its_own_work_pool(played):
    from flows.campaign import FLOWS, MANUAL_FLOWS
    from flows.deployments import schedules
    from office.settings import load_app_config

    stored = api(played.api_url, "/deployments/filter", {})
    flows = {f["id"]: f["name"] for f in api(played.api_url, "/flows/filter", {})}
    pools = {p["name"]: p["type"] for p in api(played.api_url, "/work_pools/filter", {})}
    for office, office_run in played.offices.items():
        assert pools[office] == "process"
        mine = {flows[d["flow_id"]]: d for d in stored if d["name"] == office}
        assert set(mine) == set(FLOWS) | set(MANUAL_FLOWS)
        plan = load_app_config(office_run.config_dir, office_run.data_dir).plan
        crons = {s.flow: s.cron for s in schedules(plan)}
        for flow, d in mine.items():
            assert d["work_pool_name"] == office
            assert d["parameters"] == {
                "config_dir": str(office_run.config_dir),
                "data_dir": str(office_run.data_dir),
            }
            assert set(d["tags"]) == {"nianbao", f"office-{office}", f"campaign-{YEAR}"}
            assert d["job_variables"] == {"env": {"NIANBAO_OFFICE": office}}
            # no pull step in prefect.yaml: the directory `prefect deploy` ran in (/app)
            assert d["pull_steps"] == [
                {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
            ]
            got = [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in d["schedules"]]
            assert got == ([(crons[flow], "Asia/Shanghai")] if flow in crons else [])
    # each office's calendar, from its own campaign.yaml
    county, city = (played.offices[s.office] for s in (COUNTY, CITY))
    assert county.runs and city.runs
    consolidate = {
        o: next(d for d in stored if d["name"] == o and flows[d["flow_id"]] == "consolidate")
        for o in (COUNTY.office, CITY.office)
    }
    assert consolidate[COUNTY.office]["schedules"][0]["schedule"]["cron"] == "0 9 14 1 *"
    assert consolidate[CITY.office]["schedules"][0]["schedule"]["cron"] == "0 9 24 1 *"


def test_the_workers_ran_each_office_on_its_own_pool(played):
    def expected(spec: OfficeSpec) -> dict[str, tuple[str, str]]:
        units, good = len(spec.units), len([u for u in spec.units if u.flavour == "good"])
        complete = "Completed" if good == units else "Incomplete"
        return {
            "dispatch": ("Completed", f"下发模板：本次发出{units}份"),
            "collect": (complete, f"收集：新收到{units}份报表，发出回复{units}封"),
            "collect-idle": (complete, "收集：新收到0份报表，发出回复0封"),
            "consolidate": (complete, f"汇总：纳入{good}个单位"),
        }

    for office, office_run in played.offices.items():
        for step, (name, message) in expected(office_run.spec).items():
            flow_run = office_run.runs[step]
            assert flow_run.state.is_completed(), (step, flow_run.state)
            assert flow_run.state.name == name, (office, step, flow_run.state.message)
            assert message in flow_run.state.message, (office, step, flow_run.state.message)
            assert flow_run.work_pool_name == office
            assert f"office-{office}" in flow_run.tags
    # the worker's own record of it
    for office_run in played.offices.values():
        log = office_run.worker.log.read_text(errors="replace")
        for step in ("dispatch", "collect", "consolidate"):
            assert str(office_run.runs[step].id) in log


def test_the_mails_went_through_smtp_and_the_replies_came_from_imap(played, smtp_server):
    for spec in OFFICES:
        invitations = played.mails_of(spec, "invitation")
        assert sorted(m.header("X-Nianbao-Department") for m in invitations) == sorted(
            u.code for u in spec.units
        )
        for mail in invitations:
            (to,) = mail.to
            assert to == spec.address(mail.header("X-Nianbao-Department"))
            assert len(mail.workbooks) == 1
        answers = {
            m.header("X-Nianbao-Department"): m.header("X-Nianbao-Kind")
            for m in played.mails_of(spec)
            if m.header("X-Nianbao-Kind") != "invitation"
        }
        assert answers == {
            u.code: ("rejected" if u.flavour == "error" else "receipt") for u in spec.units
        }
        office_run = played.offices[spec.office]
        # every reply archived in the office's own data directory, flagged in its own folder
        archived = list((office_run.data_dir / "mail").rglob("*.eml"))
        assert len(archived) >= 2 * len(spec.units)
    # each worker logged in with the password from its env_file, never from a file
    assert {m.login for m in played.mails} == {smtp_server.user}
    for office_run in played.offices.values():
        config_text = "".join(
            p.read_text(encoding="utf-8") for p in office_run.config_dir.glob("*.yaml")
        )
        assert smtp_server.password not in config_text


def test_the_consolidation_was_approved_through_the_api_as_the_ui_does(played):
    for spec in OFFICES:
        office_run = played.offices[spec.office]
        assert office_run.paused, "the consolidation never waited for the coordinator"
        form = office_run.paused[-1]
        assert form["schema"]["properties"]["approve"]["title"] == "批准汇总结果"
        assert form["sent"] == {"approve": True, "note": ""}
        included = [u for u in spec.units if u.flavour == "good"]
        assert f"纳入 {len(included)} 个单位" in form["description"]
        final = office_run.output_dir / f"{spec.place}{YEAR}年政府信息公开工作年度报告（定稿）.xlsx"
        assert final.is_file()
        workbook = openpyxl.load_workbook(final)
        code = "requests.new_received.total"
        expected = sum(report_values(u.code, "good")[0][code] for u in included)
        ((sheet, ref),) = workbook.defined_names[code].destinations
        assert Decimal(workbook[sheet][ref.replace("$", "")].value) == expected
        # the approved run's input is on the server, as the form sent it
        run_id = office_run.runs["consolidate"].id
        keys = api(
            played.api_url, f"/flow_runs/{run_id}/input/filter", {"prefix": "paused", "limit": 50}
        )
        responses = [k for k in keys if k["key"].endswith("-response")]
        assert json.loads(responses[-1]["value"]) == {"approve": True, "note": ""}


def test_both_offices_artifacts_are_on_the_server(played):
    for spec in OFFICES:
        office_run = played.offices[spec.office]
        key = f"nianbao-{spec.office}-{YEAR}"
        latest = {
            a["key"]: a
            for a in api(
                played.api_url,
                "/artifacts/latest/filter",
                {"artifacts": {"key": {"like_": key}}},
            )
        }
        assert set(latest) >= {
            f"{key}-departments",
            f"{key}-summary",
            f"{key}-progress",
            f"{key}-consolidation",
            f"{key}-city-workbook",
        }
        runs = {str(r.id) for r in office_run.runs.values()}
        assert {a["flow_run_id"] for a in latest.values()} <= runs
        assert spec.place in latest[f"{key}-summary"]["data"]
        assert str(office_run.output_dir) in latest[f"{key}-city-workbook"]["description"]


def test_the_docs_give_the_commands_the_test_ran(played):
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    for spec in OFFICES:
        office_run = played.offices[spec.office]
        create, deploy, worker = office_run.commands
        files = " ".join(f"-f docker/{f}" for f in spec.files)
        for command in (create, deploy):
            line = f"docker compose {files} run --rm {spec.service} {' '.join(command)}"
            assert line in doc, f"docs/deploy.md should show: {line}"
        assert f"docker compose {files}" in doc
        assert worker[:3] == ["prefect", "worker", "start"]
        assert worker[worker.index("--pool") + 1] == spec.office


def test_the_campaign_left_measurable_figures(played):
    figures = played.figures
    grown = figures["campaign"]["database_bytes"] - figures["deployed"]["database_bytes"]
    assert grown > 0
    for spec in OFFICES:
        office = figures["offices"][spec.office]
        assert office["flow_runs"] == 3 + IDLE_RUNS
        # a task per unit and more (invitations, answers, status)
        assert office["task_runs"] > len(spec.units)
        assert office["artifacts"] >= 5 and office["artifact_bytes"] > 0
        assert office["logs"] > 0 and office["events"] > 0
        steps = figures["per_step"]
        assert steps["dispatch"]["offices"][spec.office]["mails"] == len(spec.units)
        idle = steps["collect-idle"]["offices"][spec.office]
        assert idle["flow_runs"] == IDLE_RUNS and idle["mails"] == 0
