"""prefect.yaml and ``nianbao serve`` declare the same deployments, in step with the campaign.

prefect.yaml is static text; its schedules must be what ``flows.deployments.schedules()`` computes
from config/campaign.yaml. When someone moves the campaign's dates, the test says which lines of
prefect.yaml to change. The last test deploys prefect.yaml for real with ``prefect deploy --all``
against a Prefect server on loopback and reads the deployments back.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from annual_report.plan import CampaignPlan, load_plan
from flows.campaign import FLOWS, MANUAL_FLOWS
from flows.deployments import deployments, manual_deployments, schedules

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = ROOT / "prefect.yaml"
CONFIG = ROOT / "config"
PREFECT = Path(sys.executable).with_name("prefect")
SCHEDULED = ("dispatch", "collect", "remind", "consolidate")
ALL_FLOWS = {**FLOWS, **MANUAL_FLOWS}


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def plan() -> CampaignPlan:
    return load_plan(CONFIG)


def by_name(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in project["deployments"]}


def flow_parameters(name: str) -> set[str]:
    return set(inspect.signature(ALL_FLOWS[name].fn).parameters)


def schedule_mismatches(project: dict[str, Any], plan: CampaignPlan) -> list[str]:
    """What to change in prefect.yaml so that it schedules what ``schedules(plan)`` computes."""
    problems = []
    declared = {d["name"]: (i, d) for i, d in enumerate(project["deployments"])}
    for s in schedules(plan):
        name = f"{s.flow}-{plan.id}"
        index, deployment = declared.get(name, (None, None))
        if deployment is None:
            problems.append(
                f"prefect.yaml has no deployment {name!r}: add one with entrypoint "
                f"flows/campaign.py:{s.flow} (or rename the existing {s.flow}-… deployment to "
                f"{name!r}, the campaign id in config/campaign.yaml is {plan.id!r})"
            )
            continue
        where = f"prefect.yaml deployments[{index}] ({name})"
        found = deployment.get("schedules") or []
        if len(found) != 1:
            problems.append(f"{where}: expected one schedule, found {len(found)}")
            continue
        cron, zone = found[0].get("cron"), found[0].get("timezone")
        if cron != s.cron:
            problems.append(
                f"{where}: schedules[0].cron is {cron!r}, but config/campaign.yaml now gives "
                f'{s.cron!r} ({s.description}): set `cron: "{s.cron}"`'
            )
        if zone != plan.timezone:
            problems.append(
                f"{where}: schedules[0].timezone is {zone!r}: set `timezone: {plan.timezone}` "
                "(the campaign's zone; without it Prefect reads the cron as UTC)"
            )
        if found[0].get("active") is False:
            problems.append(f"{where}: the schedule is inactive: set `active: true`")
    return problems


# -- prefect.yaml ------------------------------------------------------------------------------


def test_prefect_yaml_is_valid_for_prefect(project):
    models = pytest.importorskip("prefect.cli.deploy._models")
    parsed = models.PrefectYamlModel.model_validate(project)
    assert parsed.name == "nianbao"
    assert str(parsed.prefect_version).startswith("3.")
    assert [d.name for d in parsed.deployments] == [d["name"] for d in project["deployments"]]


def test_pull_step_sets_the_working_directory(project):
    steps = project["pull"]
    assert len(steps) == 1
    (name, args), *_ = steps[0].items()
    assert name == "prefect.deployments.steps.set_working_directory"
    assert Path(args["directory"]).is_absolute()


def test_one_deployment_per_flow_with_pool_tags_and_parameters(project, plan):
    declared = by_name(project)
    assert set(declared) == {f"{flow}-{plan.id}" for flow in ALL_FLOWS}, (
        f"prefect.yaml must declare exactly the deployments {{flow}}-{plan.id} for the flows "
        f"{', '.join(ALL_FLOWS)} (campaign id from config/campaign.yaml)"
    )
    for name, d in declared.items():
        flow = name.removesuffix(f"-{plan.id}")
        assert d["entrypoint"] == f"flows/campaign.py:{flow}", name
        assert d["work_pool"]["name"] == "nianbao", name
        assert set(d["tags"]) == {"nianbao", f"campaign-{plan.id}"}, name
        assert d["parameters"] == {"config_dir": "config"}, name
        assert set(d["parameters"]) <= flow_parameters(flow), name
        # relative to the pull step's directory, i.e. the project directory
        assert (ROOT / d["parameters"]["config_dir"] / "campaign.yaml").is_file()


def test_entrypoints_load_to_the_flows_in_a_fresh_process(project):
    """What a worker does after the pull step: load each entrypoint from the project directory."""
    entrypoints = [d["entrypoint"] for d in project["deployments"]]
    script = (
        "import json, sys\n"
        "from prefect.flows import Flow, load_flow_from_entrypoint\n"
        "out = {}\n"
        "for e in sys.argv[1:]:\n"
        "    f = load_flow_from_entrypoint(e, use_placeholder_flow=False)\n"
        "    out[e] = {'flow': isinstance(f, Flow), 'name': f.name,\n"
        "              'parameters': sorted(f.parameters.properties)}\n"
        "print(json.dumps(out))\n"
    )
    for entrypoint in entrypoints:
        path, _, function = entrypoint.partition(":")
        assert (ROOT / path).is_file(), f"{entrypoint}: no file {path}"
        assert function, entrypoint
    result = subprocess.run(
        [sys.executable, "-c", script, *entrypoints],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING"},
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    for entrypoint, flow in loaded.items():
        function = entrypoint.partition(":")[2]
        assert flow["flow"], f"{entrypoint} is not a Prefect flow"
        assert flow["name"] == ALL_FLOWS[function].name
        assert set(flow["parameters"]) == flow_parameters(function)


def test_schedules_are_what_the_campaign_plan_computes(project, plan):
    problems = schedule_mismatches(project, plan)
    assert not problems, "\n".join(
        ["prefect.yaml is out of step with config/campaign.yaml:", *problems]
    )
    declared = by_name(project)
    for name in MANUAL_FLOWS:
        assert not declared[f"{name}-{plan.id}"].get("schedules"), (
            f"the {name} deployment is for manual runs: `schedules: []`"
        )


def test_schedules_are_valid_prefect_cron_schedules(project):
    from prefect.client.schemas.schedules import CronSchedule

    for d in project["deployments"]:
        for item in d.get("schedules") or []:
            schedule = CronSchedule(cron=item["cron"], timezone=item["timezone"])
            assert schedule.timezone == "Asia/Shanghai"


def test_moving_the_campaign_dates_is_caught_with_what_to_change(project, plan):
    moved = plan.model_copy(
        update={
            "start": plan.start + timedelta(days=1),
            "send_at": plan.send_at.replace(hour=8, minute=30),
        }
    )
    problems = schedule_mismatches(project, moved)
    dispatch = next(p for p in problems if f"(dispatch-{plan.id})" in p)
    assert f'set `cron: "30 8 {moved.start.day} {moved.start.month} *"`' in dispatch
    assert any(f"(remind-{plan.id})" in p and '"30 8 * ' in p for p in problems)

    renamed = plan.model_copy(update={"id": "2099"})
    problems = schedule_mismatches(project, renamed)
    assert any("no deployment 'dispatch-2099'" in p for p in problems)


# -- nianbao serve (flows.deployments.deployments) ---------------------------------------------


def test_serve_builds_one_runner_deployment_per_scheduled_flow(project, plan, monkeypatch):
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments.runner import RunnerDeployment

    monkeypatch.chdir(ROOT)
    built = deployments("config")
    declared = by_name(project)
    assert sorted(d.name for d in built) == sorted(f"{f}-{plan.id}" for f in SCHEDULED)
    for d in built:
        assert isinstance(d, RunnerDeployment)
        assert d.name in declared, f"{d.name}: served but not in prefect.yaml"
        yaml_side = declared[d.name]
        assert d.entrypoint == yaml_side["entrypoint"]
        assert set(d.tags) == set(yaml_side["tags"])
        assert d.parameters == {"config_dir": str(CONFIG)}
        assert set(d.parameters) <= flow_parameters(d.flow_name)
        assert len(d.schedules) == 1
        schedule = d.schedules[0].schedule
        assert isinstance(schedule, CronSchedule)
        assert schedule.timezone == "Asia/Shanghai" == plan.timezone
        assert schedule.cron == yaml_side["schedules"][0]["cron"]


def test_serve_builds_the_manual_deployments_of_prefect_yaml(project, plan, monkeypatch):
    monkeypatch.chdir(ROOT)
    declared = by_name(project)
    built = manual_deployments("config")
    assert sorted(d.name for d in built) == sorted(f"{f}-{plan.id}" for f in MANUAL_FLOWS)
    for d in built:
        yaml_side = declared[d.name]
        assert d.entrypoint == yaml_side["entrypoint"]
        assert d.description == yaml_side["description"]
        assert set(d.tags) == set(yaml_side["tags"])
        assert not d.schedules
        assert set(d.parameters) <= flow_parameters(d.flow_name)


def test_the_manual_flows_ask_the_coordinator_for_what_they_need():
    """The UI's run form shows these parameters as required fields with their descriptions."""
    for name, needed in {"assign": {"submission", "department"}, "resend": {"key"}}.items():
        schema = MANUAL_FLOWS[name].parameters
        assert set(schema.required) == needed, name
        for parameter in needed:
            assert schema.properties[parameter].get("description"), (name, parameter)


def test_serve_passes_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    for d in deployments("config", str(tmp_path)):
        assert d.parameters == {"config_dir": str(CONFIG), "data_dir": str(tmp_path)}
        assert set(d.parameters) <= flow_parameters(d.flow_name)


# -- prefect deploy --all against a real server ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@contextlib.contextmanager
def prefect_server(home: Path):
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home / "server"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                _api(f"{api}/health")
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.5)
        yield api
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_prefect_deploy_creates_the_deployments(tmp_path, project, plan):
    with prefect_server(tmp_path) as api:
        env = {
            **os.environ,
            "PREFECT_API_URL": api,
            "PREFECT_HOME": str(tmp_path / "client"),
            "DO_NOT_TRACK": "1",
        }

        def prefect(*args: str) -> None:
            result = subprocess.run(
                [str(PREFECT), "--no-prompt", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert result.returncode == 0, result.stdout + result.stderr

        prefect("work-pool", "create", "nianbao", "--type", "process")
        prefect("deploy", "--all")
        stored = {d["name"]: d for d in _api(f"{api}/deployments/filter", {})}

    declared = by_name(project)
    assert set(stored) == set(declared)
    directory = project["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"]
    for name, d in stored.items():
        assert d["entrypoint"] == declared[name]["entrypoint"]
        assert d["work_pool_name"] == "nianbao"
        assert d["parameters"] == {"config_dir": "config"}
        assert d["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": directory}}
        ]
        got = [
            (s["schedule"]["cron"], s["schedule"]["timezone"], s["active"]) for s in d["schedules"]
        ]
        want = [(s["cron"], s["timezone"], True) for s in declared[name]["schedules"]]
        assert got == want, name
    for s in schedules(plan):
        assert stored[f"{s.flow}-{plan.id}"]["schedules"][0]["schedule"]["cron"] == s.cron
