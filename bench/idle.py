"""Benchmark: an idle collect round at province scale (issue 12: ≤ 3 s at 5,000 units on a
running deployment, and nothing written).

The store of an N-unit campaign near its end is built directly (every unit invited, its
workbook accepted and answered, its message recorded, the office Maildir holding every reply
already read), then collect rounds with nothing new are timed, each after one round that
publishes the status:

- ``plain``: the collect use cases (``bench/campaign.py --stage collect``) in a warm process
  (imports done, as in a worker) and in a fresh process;
- ``cli``: ``nianbao run collect`` against a running Prefect server (a fresh process each time);
- ``flow``: the collect flow called again in a warm process against the running server;
- ``serve``: ``nianbao serve`` running, the ``collect`` deployment triggered through the API
  (``run_deployment``): from the trigger to the run's final state (includes up to
  PREFECT_RUNNER_POLL_FREQUENCY, 10 s, before the runner picks a run triggered by hand; a
  scheduled run is fetched ahead of its time), from the runner starting its process (Pending)
  to the end, and the run's own time (Running to the end), as the server recorded them.

Per round: wall time, CPU time (the rounds' own processes, not the Prefect server's), and what
it wrote: store tables changed (row count and content hash),
artifact versions added on the server.

    .venv/bin/python bench/idle.py --units 5000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from datetime import time as clock
from pathlib import Path
from typing import Any

try:  # imported as bench.<module>
    from . import campaign, province, storework
except ImportError:  # run as a script: bench/ is sys.path[0]
    import campaign  # type: ignore[no-redef]
    import province  # type: ignore[no-redef]
    import storework  # type: ignore[no-redef]

VAR = campaign.VAR
BIN = campaign.BIN


def build(units: int, work: Path) -> tuple[Path, Path, datetime]:
    """The store of an N-unit campaign whose units all replied and were answered; returns
    (config dir, data dir, the moment of the idle rounds)."""
    import mailbox

    from annual_report.store.base import content_hash
    from office.campaign import open_campaign
    from office.runtime import Runtime
    from office.settings import load_app_config

    # nothing is sent by an idle round
    config_dir, data_dir, maildir = province.office_workspace(
        work, count=units, smtp_port=campaign._free_port()
    )
    config = load_app_config(config_dir, data_dir)
    rt = Runtime.open(config)
    try:
        campaign_ = open_campaign(rt)
        codes = list(config.registry.codes)
        storework._seed_invitations(rt, codes)
        storework._seed_accepted(rt, codes, campaign_.report_year)
        box = mailbox.Maildir(maildir)
        storework._seed_processed_mail(rt, box, len(codes))
        seen = rt.store.get_state(rt.campaign_id, "cursor:maildir")["seen"]
        subs = {s.department: s for s in rt.store.accepted_submissions(rt.campaign_id)}
        for key, code in zip(seen, codes, strict=True):
            sub = subs[code]
            rt.store.record_message(
                rt.campaign_id,
                f"maildir:{key}",
                sha256=content_hash(key.encode()),
                outcome="workbooks",
                sender=sub.sender,
                received_at=sub.received_at,
                department=code,
                workbooks=1,
                detail={"workbooks": [sub.file_name], "duplicates": []},
            )
        plan = config.plan
        as_of = plan.at(plan.deadline, clock(17, 30))
    finally:
        rt.close()
    return config_dir, data_dir, as_of


def _cpu(pids: Callable[[], list[int]]) -> float:
    """CPU seconds of this process, its reaped children and the live processes ``pids``."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return total + sum(campaign._cpu_of_tree(pid) for pid in pids())


def timed(fn: Callable[[], Any], pids: Callable[[], list[int]]) -> tuple[float, float]:
    """(wall, CPU) seconds of ``fn``; CPU of this process, what it ran, and ``pids``."""
    cpu, start = _cpu(pids), time.perf_counter()
    fn()
    return time.perf_counter() - start, _cpu(pids) - cpu


class Watch:
    """What a round wrote: the store's tables and the server's artifacts."""

    def __init__(self, database: Path, server: campaign.Server | None) -> None:
        self.database, self.server = database, server

    def mark(self) -> tuple[Any, Any]:
        artifacts = self.server.artifacts() if self.server else None
        return campaign._database_snapshot(self.database), artifacts

    def since(self, mark: tuple[Any, Any]) -> dict[str, Any]:
        tables, artifacts = mark
        now_tables, now_artifacts = self.mark()
        changed = {t: f"{tables.get(t)}→{v}" for t, v in now_tables.items() if tables.get(t) != v}
        out: dict[str, Any] = {"tables_changed": changed}
        if artifacts is not None:
            out["artifacts_added"] = now_artifacts[0] - artifacts[0]
            out["artifact_bytes_added"] = now_artifacts[1] - artifacts[1]
        return out


def measure(
    label: str,
    watch: Watch,
    round_: Callable[[], Any],
    results: list,
    pids: Callable[[], list[int]] = list,
) -> None:
    """Time the second of two rounds (the first publishes what the rounds before did not):
    wall and CPU (without the Prefect server's)."""
    round_()
    mark = watch.mark()
    wall, cpu = timed(round_, pids)
    wrote = watch.since(mark)
    results.append({"how": label, "wall": round(wall, 2), "cpu": round(cpu, 2), "wrote": wrote})
    print(
        f"  {label:<44} {wall:6.2f} s wall {cpu:6.2f} s CPU  wrote: "
        + json.dumps(wrote, ensure_ascii=False),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--no-serve", action="store_true", help="skip the `nianbao serve` mode")
    args = parser.parse_args(argv)

    work = VAR / "idle" / str(args.units)
    print(f"idle collect round, {args.units} units; {campaign._load()}", flush=True)
    started = time.perf_counter()
    config_dir, data_dir, as_of = build(args.units, work)
    print(f"  store built in {time.perf_counter() - started:.0f} s", flush=True)
    database = data_dir / "nianbao.db"
    results: list[dict[str, Any]] = []
    stage = [sys.executable, str(Path(campaign.__file__).resolve()), "--stage", "collect"]
    stage += ["--config", str(config_dir), "--data", str(data_dir), "--as-of", as_of.isoformat()]

    plain = Watch(database, None)
    measure(
        "plain, warm process",
        plain,
        lambda: campaign.plain_stage("collect", str(config_dir), str(data_dir), as_of),
        results,
    )
    measure("plain, fresh process", plain, lambda: subprocess.run(stage, check=True), results)

    server = campaign.Server(VAR / f"prefect-idle-{os.getpid()}")
    env = dict(os.environ, PREFECT_API_URL=server.api, DO_NOT_TRACK="1")
    os.environ["PREFECT_API_URL"] = server.api
    served = None
    try:
        watch = Watch(database, server)
        cli = [str(BIN / "nianbao"), "run", "collect", "--config", str(config_dir)]
        cli += ["--data", str(data_dir), "--as-of", as_of.isoformat()]
        measure(
            "cli: nianbao run collect (running server)",
            watch,
            lambda: subprocess.run(cli, env=env, check=True, capture_output=True),
            results,
        )
        from flows.campaign import collect

        measure(
            "flow in a warm process (running server)",
            watch,
            lambda: collect(str(config_dir), as_of, data_dir=str(data_dir), return_state=True),
            results,
        )
        if not args.no_serve:
            served = _serve(config_dir, data_dir, env, work)
            measure(
                "serve: collect deployment, trigger → end",
                watch,
                lambda: _run_deployment(as_of, results),
                results,
                pids=lambda: [served.pid],  # the runner and the run's process
            )
    finally:
        if served is not None:
            served.terminate()
            served.wait(timeout=30)
        server.stop()
    out = VAR / f"idle-{args.units}-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"units": args.units, "results": results}, indent=1))
    print(f"results: {out}; {campaign._load()}")
    return 0


def _serve(config_dir: Path, data_dir: Path, env: dict[str, str], work: Path) -> Any:
    """``nianbao serve`` in the background, once its collect deployment is there."""
    from prefect.client.orchestration import get_client

    log = (work / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "nianbao"), "serve", "--config", str(config_dir), "--data", str(data_dir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            try:
                client.read_deployment_by_name("collect/nianbao")
                time.sleep(3)  # the runner polls for scheduled runs once it is up
                return process
            except Exception:
                if process.poll() is not None:
                    raise RuntimeError(f"nianbao serve stopped: see {log.name}") from None
                time.sleep(1)
    process.terminate()
    raise RuntimeError("nianbao serve did not register its deployments in time")


def _run_deployment(as_of: datetime, results: list[dict[str, Any]]) -> None:
    from prefect.deployments import run_deployment

    run = run_deployment(
        "collect/nianbao", parameters={"as_of": as_of.isoformat()}, timeout=600, poll_interval=0.2
    )
    state = run.state
    if state is None or not state.is_final():
        raise RuntimeError(f"the collect run did not end: {state}")
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        states = client.read_flow_run_states(run.id)
    pending = min((s.timestamp for s in states if s.type.value == "PENDING"), default=None)
    for label, begin in (
        ("serve: the run's own time (running → end)", run.start_time),
        ("serve: process start → end (runner picked it)", pending),
    ):
        if begin is not None and run.end_time is not None:
            seconds = round((run.end_time - begin).total_seconds(), 2)
            results.append({"how": label, "seconds": seconds})
            print(f"  {label:<44} {seconds:6.2f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
