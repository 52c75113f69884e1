"""Dispatch in batches: a few tasks a run whatever the city's size, a chunk of mails in memory
at a time, an outage paid once a run, every template still sent exactly once.

Fast tests on a real SQLite store with an in-memory sender (officekit); the real flow against
a real Prefect server, counting its task runs, is at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from officekit import recording_runtime

from connectors.outgoing import RecordingSender, SmtpError
from demo import city
from office import dispatch
from office.attention import attention
from office.delivery import Delivery
from office.dispatch import LEAST_BATCH, MOST_BATCHES, batches, invite, invited

AS_OF = datetime(2022, 1, 4, 9, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize("units", [0, 1, 10, 50, LEAST_BATCH, LEAST_BATCH + 1, 1000, 5000, 20000])
def test_batches_are_few_whatever_the_number_of_units(units):
    codes = [f"U{i:05d}" for i in range(units)]
    split = batches(codes)
    assert [code for batch in split for code in batch] == codes
    assert len(split) == (min(MOST_BATCHES, max(1, units // LEAST_BATCH)) if units else 0)
    sizes = {len(batch) for batch in split}
    assert max(sizes, default=0) - min(sizes, default=0) <= 1  # even
    assert min(sizes, default=0) >= min(units, LEAST_BATCH)


class StopsAfter(RecordingSender):
    """Sends ``left`` mails, then the server is gone (refused at the next connection)."""

    def __init__(self, left: int) -> None:
        super().__init__()
        self.left = left
        self.connections = 0

    def send(self, mails, *, before_send=None, on_result=None):
        self.connections += 1
        if self.left <= 0:
            raise SmtpError("ConnectionRefusedError", reason_zh="无法连接邮件服务器 x:25")
        room, self.left = self.left, self.left - len(mails)
        if room >= len(mails):
            return super().send(mails, before_send=before_send, on_result=on_result)
        super().send(mails[:room], before_send=before_send, on_result=on_result)
        raise SmtpError("ServerDisconnected", reason_zh="邮件服务器中途断开 x:25")


@pytest.fixture
def rt(tmp_path):
    runtime = recording_runtime(tmp_path)
    yield runtime
    runtime.close()


def test_chunks_go_over_one_connection_each(rt, monkeypatch):
    monkeypatch.setattr(dispatch, "CHUNK", 10)
    codes = list(rt.config.registry.codes)
    done = invite(rt, codes, AS_OF)
    assert sorted(done.sent) == sorted(f"invitation:{c}" for c in codes)
    assert rt.sender.batches == -(-len(codes) // 10)
    assert max(len(m.attachments) for m in rt.sender.sent) == 1
    again = invite(rt, codes, AS_OF)  # all sent: nothing made, nothing sent
    assert again.sent == [] and rt.sender.batches == -(-len(codes) // 10)


def test_an_outage_midway_is_paid_once_and_the_next_run_sends_the_rest_once(rt, monkeypatch):
    monkeypatch.setattr(dispatch, "CHUNK", 10)
    codes = list(rt.config.registry.codes)
    rt.sender = StopsAfter(15)
    done = invite(rt, codes, AS_OF)
    assert len(done.sent) == 15
    assert rt.sender.connections == 2  # the chunks after the outage are not tried
    assert done.outage == "邮件服务器中途断开 x:25"
    assert len(done.failed) == len(codes) - 15
    assert {f.error_zh for f in done.failed} == {"邮件服务器中途断开 x:25"}
    assert len(attention(rt)) == len(codes) - 15  # each one shown, to be sent by the next run
    first = list(rt.sender.sent)
    rt.sender = RecordingSender()
    rest = invite(rt, codes, AS_OF)
    assert len(rest.sent) == len(codes) - 15 and rest.outage is None
    assert sorted(m.to[0] for m in first + rt.sender.sent) == sorted(city.address(c) for c in codes)
    assert invited(rt) == len(codes) and attention(rt) == []


def test_a_batch_after_an_outage_records_its_mails_failed_without_trying(rt):
    codes = list(rt.config.registry.codes)
    earlier = Delivery(outage="无法连接邮件服务器 x:25", outage_error="ConnectionRefusedError")
    done = invite(rt, codes[:5], AS_OF, down=earlier)
    assert rt.sender.batches == 0 and done.sent == []
    assert [f.key for f in done.failed] == [f"invitation:{c}" for c in codes[:5]]
    assert {(f.error, f.error_zh) for f in done.failed} == {
        ("ConnectionRefusedError", "无法连接邮件服务器 x:25")
    }
    assert {rt.store.event(rt.campaign_id, f.key).status for f in done.failed} == {"failed"}
    healthy = invite(rt, codes[:5], AS_OF, down=Delivery())  # no outage: sent
    assert len(healthy.sent) == 5


# -- the real flow, through the CLI, on a Prefect server that keeps task runs -----------------


@pytest.fixture(scope="module")
def history_server(tmp_path_factory):
    """A Prefect server of its own (``flows.server``, as ``nianbao demo --ui`` starts it) with
    the task-run recorder on: the session's harness has it off, so it has no task runs to
    count."""
    from serverkit import free_port

    from flows.server import start_server

    home = tmp_path_factory.mktemp("history-server")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_API_URL", "")  # start_server points this process at it: undone after
        mp.setenv("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", "true")
        server = start_server(home, port=free_port())
        try:
            yield server
        finally:
            server.stop()


def office_of(root, units: int, smtp_server, dovecot):
    """A flowkit city grown to ``units`` departments."""
    import yaml
    from flowkit import DOMAIN, write_config

    folder = f"batches{units}-{os.getpid()}"
    dovecot.create_folder(folder)
    config = write_config(root / "config", smtp_server, dovecot, folder, root / "data" / "mail")
    registry = yaml.safe_load((config / "departments.yaml").read_text(encoding="utf-8"))
    for i in range(len(registry["departments"]), units):
        registry["departments"].append(
            {"code": f"U{i:03d}", "name": f"樟树市第{i}局", "kind": "department",
             "email": f"u{i}@{DOMAIN}"}
        )  # fmt: skip
    text = yaml.safe_dump(registry, allow_unicode=True, sort_keys=False)
    (config / "departments.yaml").write_text(text, encoding="utf-8")
    return config, root / "data"


def run_cli(config, data, api_url: str, home, smtp_server, dovecot) -> str:
    from flowkit import IMAP_PASSWORD_ENV, MORNING, SMTP_PASSWORD_ENV, START, at

    env = dict(
        os.environ,
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(home),  # the client's own: nothing of a temporary server's
        **{SMTP_PASSWORD_ENV: smtp_server.password, IMAP_PASSWORD_ENV: dovecot.password},
    )
    command = [
        str(Path(sys.executable).with_name("nianbao")), "run", "dispatch",
        "--config", str(config), "--data", str(data),
        "--as-of", at(START, MORNING).isoformat(),
    ]  # fmt: skip
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0, output
    return output


def recorded_task_runs(api_url: str, config) -> tuple[Any, list[Any]]:
    """The dispatch run of ``config`` on the server and its task runs, once the server has
    recorded every task run the flow reported (the recorder works from events: it can lag)."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with SyncPrefectClient(api_url) as client:
        runs = [r for r in client.read_flow_runs() if r.parameters.get("config_dir") == str(config)]
        assert len(runs) == 1, runs
        (run,) = runs
        mine = FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        seen: list[Any] = []
        for _ in range(60):  # a wait, not a timed assertion: what counts is what is recorded
            seen = client.read_task_runs(flow_run_filter=mine)
            final = seen and all(t.state is not None and t.state.is_final() for t in seen)
            if final and len(seen) == len(client.read_task_runs(flow_run_filter=mine)):
                break
            time.sleep(1)
        return run, seen


def test_the_task_runs_of_a_dispatch_do_not_grow_with_the_city_and_are_all_kept(
    history_server, tmp_path, smtp_server, dovecot
):
    """10 and 50 departments, each `nianbao run dispatch` with PREFECT_API_URL set: the run
    and every task run are on that server, and both runs have the same tasks."""
    tasks_of: dict[int, list[str]] = {}
    for units in (10, 50):
        smtp_server.clear()
        config, data = office_of(tmp_path / str(units), units, smtp_server, dovecot)
        output = run_cli(config, data, history_server.api_url, tmp_path / f"home{units}",
                         smtp_server, dovecot)  # fmt: skip
        assert f"本次发出{units}份" in output
        log = (data / "logs" / "nianbao.log").read_text(encoding="utf-8")
        assert f"recorded on the Prefect server {history_server.api_url}" in log
        assert len(smtp_server.messages) == units
        run, task_runs = recorded_task_runs(history_server.api_url, config)
        assert run.state.is_completed() and run.name.startswith("dispatch 2022-01-04")
        # open campaign, the batch(es), tell the coordinator, publish status: none lost
        assert len(task_runs) == 3 + len(batches([""] * units))
        assert all(t.state.is_completed() for t in task_runs)
        # Prefect names a task run after its task and a random suffix unless told otherwise
        tasks_of[units] = sorted(re.sub(r"-[0-9a-f]{3}$", "", t.name) for t in task_runs)
    assert (
        tasks_of[10]
        == tasks_of[50]
        == sorted(["open campaign", "templates-1", "tell the coordinator", "publish status"])
    )


def test_without_a_configured_server_the_cli_says_its_run_is_on_a_temporary_one(tmp_path):
    """No PREFECT_API_URL in the environment nor in the Prefect profile of the home."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    code = "from flows.cli import prefect_server; print(prefect_server())"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None"  # with it set: the log line checked above
