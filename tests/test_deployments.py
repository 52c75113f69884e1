"""prefect.yaml and ``nianbao serve`` declare the same deployments, in step with the campaign.

prefect.yaml is a template for any number of offices: ``$NIANBAO_OFFICE`` names the work pool
and the deployments, and its build step (``flows.deployments.campaign_schedule``) reads the
office's campaign.yaml for the schedules and the directories. These tests render prefect.yaml the
way ``prefect deploy`` does (Prefect's own templating, the build step really run) and hold the
result against the flows and against what ``nianbao serve`` builds. tests/test_server.py deploys
it for real, for two offices, on PostgreSQL.
"""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from annual_report.campaign.plan import CampaignPlan, load_plan
from annual_report.errors import ConfigError
from flows.campaign import FLOWS, MANUAL_FLOWS
from flows.deployments import (
    SOLE_OFFICE,
    campaign_schedule,
    deployments,
    manual_deployments,
    schedules,
)

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = ROOT / "prefect.yaml"
CONFIG = ROOT / "config"
SCHEDULED = ("dispatch", "collect", "remind", "consolidate")
ALL_FLOWS = {**FLOWS, **MANUAL_FLOWS}
BUILD_STEP = "flows.deployments.campaign_schedule"


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def plan() -> CampaignPlan:
    return load_plan(CONFIG)


def render(project: dict[str, Any], env: dict[str, str]) -> list[dict[str, Any]]:
    """The deployments as ``prefect deploy --all`` registers them with ``env``: environment
    placeholders, the build step run with its inputs, its outputs applied."""
    from prefect.utilities.templating import apply_values

    (step,) = project["build"]
    (name, inputs), *_ = step.items()
    assert name == BUILD_STEP
    inputs = {k: v for k, v in inputs.items() if k not in ("id", "requires")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        outputs = {step[name]["id"]: campaign_schedule(**apply_values(inputs, env))}
        return [
            apply_values(apply_values(d, env, remove_notset=False), outputs)
            for d in project["deployments"]
        ]


@pytest.fixture(scope="module")
def rendered(project, tmp_path_factory) -> list[dict[str, Any]]:
    data = tmp_path_factory.mktemp("data")
    env = {"NIANBAO_OFFICE": "yichun", "NIANBAO_CONFIG": str(CONFIG), "NIANBAO_DATA": str(data)}
    return render(project, env)


def flow_of(deployment: dict[str, Any]) -> str:
    return deployment["entrypoint"].partition(":")[2]


def flow_parameters(name: str) -> set[str]:
    return set(inspect.signature(ALL_FLOWS[name].fn).parameters)


# -- prefect.yaml ------------------------------------------------------------------------------


def test_prefect_yaml_is_valid_for_prefect(project):
    models = pytest.importorskip("prefect.cli.deploy._models")
    parsed = models.PrefectYamlModel.model_validate(project)
    assert parsed.name == "nianbao"
    assert str(parsed.prefect_version).startswith("3.")
    assert len(parsed.deployments) == len(project["deployments"])


def test_no_pull_step_so_deploy_records_its_own_directory(project):
    """``prefect deploy`` then records the directory it runs in (/app in the image, the checkout
    on a host): one prefect.yaml for both, nothing to edit."""
    assert project.get("pull") is None


def test_one_deployment_per_flow_named_after_the_office(project, rendered, plan):
    assert sorted(flow_of(d) for d in project["deployments"]) == sorted(ALL_FLOWS)
    for d in rendered:
        flow = flow_of(d)
        assert d["entrypoint"] == f"flows/campaign.py:{flow}"
        assert d["name"] == "yichun"
        assert d["work_pool"]["name"] == "yichun"
        assert d["work_pool"]["job_variables"] == {"env": {"NIANBAO_OFFICE": "yichun"}}
        assert d["tags"] == ["nianbao", "office-yichun", f"campaign-{plan.id}"]
        assert d["parameters"]["config_dir"] == str(CONFIG)
        assert Path(d["parameters"]["data_dir"]).is_absolute()
        assert set(d["parameters"]) <= flow_parameters(flow)


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
        env={"PATH": "/usr/bin:/bin", "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING"},
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    for entrypoint, flow in loaded.items():
        function = entrypoint.partition(":")[2]
        assert flow["flow"], f"{entrypoint} is not a Prefect flow"
        assert flow["name"] == ALL_FLOWS[function].name
        assert set(flow["parameters"]) == flow_parameters(function)


def test_schedules_are_what_the_campaign_plan_computes(rendered, plan):
    from prefect.client.schemas.schedules import CronSchedule

    crons = {s.flow: s.cron for s in schedules(plan)}
    for d in rendered:
        flow = flow_of(d)
        if flow in MANUAL_FLOWS:
            assert d["schedules"] == [], f"{flow} is for manual runs: `schedules: []`"
            continue
        (schedule,) = d["schedules"]
        assert schedule == {"cron": crons[flow], "timezone": plan.timezone, "active": True}
        assert CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert crons["dispatch"] == f"0 9 {plan.start.day} {plan.start.month} *"


def test_a_moved_calendar_moves_the_deployed_schedules(project, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    text = (config / "campaign.yaml").read_text(encoding="utf-8")
    moved = load_plan(CONFIG).start + timedelta(days=1)
    text = text.replace('send_at: "09:00"', 'send_at: "08:30"')
    text = text.replace(f"start: {load_plan(CONFIG).start}", f"start: {moved}")
    (config / "campaign.yaml").write_text(text, encoding="utf-8")
    env = {"NIANBAO_OFFICE": "yuanzhou", "NIANBAO_CONFIG": str(config), "NIANBAO_DATA": ""}
    by_flow = {flow_of(d): d for d in render(project, env)}
    assert by_flow["dispatch"]["schedules"][0]["cron"] == f"30 8 {moved.day} {moved.month} *"
    assert by_flow["remind"]["schedules"][0]["cron"].startswith("30 8 * ")
    assert by_flow["dispatch"]["name"] == "yuanzhou"
    # NIANBAO_DATA unset: beside the configuration, as nianbao itself does
    assert by_flow["dispatch"]["parameters"]["data_dir"] == str(tmp_path / "nianbao-data")


def test_the_build_step_stops_a_deploy_with_what_is_wrong(tmp_path):
    with pytest.raises(ConfigError, match="NIANBAO_CONFIG"):
        campaign_schedule(config_dir="", data_dir="", office="yichun")
    with pytest.raises(ConfigError, match="NIANBAO_OFFICE"):
        campaign_schedule(config_dir=str(CONFIG), data_dir="", office="")
    with pytest.raises(ConfigError, match="lower-case"):
        campaign_schedule(config_dir=str(CONFIG), data_dir="", office="Yichun_City")
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    (config / "campaign.yaml").write_text("id: '2021'\nstart: someday\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        campaign_schedule(config_dir=str(config), data_dir="", office="yichun")
    assert any(p.file == "campaign.yaml" for p in caught.value.details)


# -- nianbao serve (flows.deployments.deployments) ---------------------------------------------


def test_serve_builds_what_prefect_yaml_deploys(rendered, plan, monkeypatch):
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments.runner import RunnerDeployment

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NIANBAO_OFFICE", "yichun")
    declared = {flow_of(d): d for d in rendered}
    built = deployments("config") + manual_deployments("config")
    assert sorted(d.flow_name for d in built) == sorted(f.name for f in ALL_FLOWS.values())
    for d in built:
        assert isinstance(d, RunnerDeployment)
        yaml_side = declared[d.entrypoint.partition(":")[2]]
        assert d.name == yaml_side["name"] == "yichun"
        assert d.entrypoint == yaml_side["entrypoint"]
        assert d.description == yaml_side["description"]
        assert d.tags == yaml_side["tags"]
        assert d.parameters == {"config_dir": str(CONFIG)}
        assert set(d.parameters) <= flow_parameters(d.flow_name)
        if yaml_side["schedules"]:
            (schedule,) = d.schedules
            assert isinstance(schedule.schedule, CronSchedule)
            assert schedule.schedule.cron == yaml_side["schedules"][0]["cron"]
            assert schedule.schedule.timezone == plan.timezone == "Asia/Shanghai"
        else:
            assert not d.schedules


def test_serve_without_an_office_name_uses_one(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NIANBAO_OFFICE", raising=False)
    assert {d.name for d in deployments("config")} == {SOLE_OFFICE}
    monkeypatch.setenv("NIANBAO_OFFICE", "Not An Office")
    with pytest.raises(ConfigError, match="NIANBAO_OFFICE"):
        deployments("config")


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


def test_serve_picks_up_a_run_started_by_hand_within_two_seconds():
    """The runner asks for due runs every 2 s (Prefect's default is 10 s): a resend or an
    assignment the coordinator starts in the UI begins at once. A poll frequency an operator
    set in Prefect's settings is left to Prefect."""
    from prefect.runner import Runner
    from prefect.settings import PREFECT_RUNNER_POLL_FREQUENCY, temporary_settings

    from flows.deployments import RUNNER_POLL_SECONDS, runner_poll_seconds

    assert runner_poll_seconds() == RUNNER_POLL_SECONDS == 2
    assert Runner(query_seconds=runner_poll_seconds()).query_seconds == 2
    with temporary_settings({PREFECT_RUNNER_POLL_FREQUENCY: 30}):
        assert runner_poll_seconds() is None
        assert Runner(query_seconds=runner_poll_seconds()).query_seconds == 30
