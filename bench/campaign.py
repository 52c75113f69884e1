"""Benchmark: a whole campaign at province scale, through the path a user runs (issue 12).

A synthetic province of N units (``bench/province.py``), the shipped campaign settings (receipt
with the department's Word report attached), a real aiosmtpd post office delivering into
Maildirs. Each stage runs in its own process, as the coordinator runs it:

- ``flows``: ``nianbao run dispatch|collect|consolidate --approval auto`` against a running
  Prefect server (started here, its own PREFECT_HOME), so every task run is recorded and counted;
- ``plain``: the same ``office/`` use cases without Prefect (``--stage``, below), with the
  status the flows publish computed but not uploaded.

Between dispatch and collect the N departments read their invitation from their Maildir, fill
the template they received (openpyxl, as the demo's clerks do) and reply in its thread over
SMTP; that is their work, not timed. Per stage: wall time, CPU time of the stage's processes
(the machine is shared: CPU time is the steadier figure), peak RSS of its largest process, the
Prefect server's CPU during the stage, and task runs executed vs recorded on the server.

    .venv/bin/python bench/campaign.py --units 200
    .venv/bin/python bench/campaign.py --compare 1000,5000 --idle
    .venv/bin/python bench/campaign.py --units 1000 --plain-only --profile var/bench/profile

``--idle`` adds an idle collect round (nothing new in the mailbox) after collect and reports
whether it wrote to the database or the server (artifacts). ``--queries 100,1000`` adds the
store work per incoming message (``bench/storework.py``). Results also go to
``var/bench/campaign-<time>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

try:  # imported as bench.<module> (the project root on sys.path, e.g. from a test)
    from . import province
except ImportError:  # run as a script: bench/ is sys.path[0]
    import province  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
BIN = Path(sys.executable).parent
STAGES = ("dispatch", "collect", "consolidate")
PLAIN = "plain"  # where the plain mode "publishes" the status (nowhere: it is only noted)
TASK_FINISHED = re.compile(r"Task run '[^']*' - Finished in state")


@dataclass
class Stage:
    name: str
    wall: float
    cpu: float  # user + system of the stage's process and its reaped children
    peak_rss_mb: float  # the largest process of the stage
    server_cpu: float | None = None  # the Prefect server's CPU during the stage
    task_runs_executed: int | None = None  # "Finished in state" lines of the run's log
    task_runs_recorded: int | None = None  # task runs the server holds for the stage's flow runs
    flow_runs: int | None = None
    returncode: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Run:
    mode: str  # flows | plain
    units: int
    stages: dict[str, Stage] = field(default_factory=dict)
    replies_prepared_s: float = 0.0
    idle: Stage | None = None
    idle_writes: dict[str, Any] | None = None
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(s.wall for s in self.stages.values())

    @property
    def total_cpu(self) -> float:
        return sum(s.cpu for s in self.stages.values())


# -- processes -------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):  # a process may end while it is looked at
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def _cpu_of_tree(pid: int) -> float:
    """CPU seconds (user + system, children reaped included) of a live process tree."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


def _peak_rss_mb(pid: int) -> float:
    best = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best / 1024


class _HighWater:
    """The largest VmHWM seen in the process tree of ``pid`` until :meth:`stop` (a process's
    high-water mark only grows, so what is missed is growth in its last 20 ms)."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid, self.mb = pid, 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            self.mb = max(self.mb, _peak_rss_mb(self.pid))
            self._done.wait(0.02)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def run_measured(
    cmd: list[str],
    log: Path,
    env: dict[str, str],
    server_pid: int | None,
    profile: Path | None = None,
) -> Stage:
    """Run ``cmd`` to the end; wall and CPU from ``wait4`` (the stage process is our own
    child, so its rusage includes every process it reaped), peak RSS from the high-water mark
    (VmHWM) of its process tree, sampled every 20 ms: not ``ru_maxrss``, which Linux carries
    over from the forking parent across exec (this benchmark holds the replies it mails, so a
    stage started after them would report the benchmark's own size). With ``profile``, py-spy
    attaches to it from the side (raw stacks, sampling without stopping it)."""
    server_before = _cpu_of_tree(server_pid) if server_pid else None
    start = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        peak = _HighWater(process.pid)
        spy = None
        if profile is not None:
            spy_cmd = [str(BIN / "py-spy"), "record", "--pid", str(process.pid), "--nonblocking"]
            spy_cmd += ["--subprocesses", "--format", "raw", "--rate", "50", "-o", str(profile)]
            spy = subprocess.Popen(
                spy_cmd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        _pid, status, usage = os.wait4(process.pid, 0)
        peak.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
        if spy is not None:
            try:
                spy.wait(timeout=120)
            except subprocess.TimeoutExpired:
                spy.terminate()
                spy.wait()
    wall = time.perf_counter() - start
    stage = Stage(
        name=cmd[-1],
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=peak.mb,
        returncode=process.returncode,
    )
    if server_pid:
        stage.server_cpu = _cpu_of_tree(server_pid) - (server_before or 0)
    text = log.read_text(errors="replace")
    stage.task_runs_executed = len(TASK_FINISHED.findall(text)) or None
    if process.returncode != 0:
        stage.notes.append(f"exit {process.returncode}: see {log}")
    return stage


# -- the Prefect server ----------------------------------------------------------------------


class Server:
    """A Prefect server of the benchmark's own (``flows.server``), queried over its REST API."""

    def __init__(self, home: Path) -> None:
        from flows.server import start_server

        if home.exists():
            shutil.rmtree(home)
        self.local = start_server(home, port=_free_port())
        self.api = self.local.api_url
        self.home = home

    @property
    def pid(self) -> int:
        return self.local.process.pid

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        import httpx

        response = httpx.post(f"{self.api}{path}", json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def flow_run_ids(self) -> set[str]:
        ids: set[str] = set()
        offset = 0
        while True:
            page = self._post("/flow_runs/filter", {"limit": 200, "offset": offset})
            ids |= {r["id"] for r in page}
            if len(page) < 200:
                return ids
            offset += 200

    def task_runs(self, flow_runs: set[str], settle: float = 60) -> int:
        """Task runs recorded for ``flow_runs``, once the count stops moving (the server
        records task runs from events, a little after they ran)."""
        body = {"flow_runs": {"id": {"any_": sorted(flow_runs)}}}
        last, stable_since, deadline = -1, time.monotonic(), time.monotonic() + settle
        while time.monotonic() < deadline:
            n = int(self._post("/task_runs/count", body))
            if n != last:
                last, stable_since = n, time.monotonic()
            elif time.monotonic() - stable_since > 4:
                break
            time.sleep(1)
        return last

    def artifacts(self) -> tuple[int, int]:
        """(artifact versions, bytes of their data) on the server."""
        count, size, offset = 0, 0, 0
        while True:
            page = self._post("/artifacts/filter", {"limit": 200, "offset": offset})
            count += len(page)
            size += sum(len(json.dumps(a.get("data"), ensure_ascii=False)) for a in page)
            if len(page) < 200:
                return count, size
            offset += 200

    def database_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.home.glob("*.db*"))

    def stop(self) -> None:
        self.local.stop()


def _free_port() -> int:
    from demo.postoffice import free_port

    return free_port()


# -- the plain-Python stages (run in their own process with --stage) -------------------------


def plain_stage(stage: str, config_dir: str, data_dir: str, as_of: datetime) -> None:
    """The use cases the flow ``stage`` calls (``office/``), without Prefect, in the same
    order; the status the flows publish is computed (and remembered) but not uploaded."""
    from office import attention, consolidation, delivery, dispatch, intake, progress, status
    from office.answers import answer_owed
    from office.campaign import open_campaign
    from office.runtime import Runtime
    from office.settings import load_app_config

    config = load_app_config(config_dir, data_dir)
    rt = Runtime.open(config, as_of=as_of)
    notes: list[str] = []
    try:
        open_campaign(rt)
        if stage == "dispatch":
            done = delivery.Delivery()
            for batch in dispatch.batches(list(config.registry.codes)):
                down = delivery.Delivery(outage=done.outage, outage_error=done.outage_error)
                done.merge(dispatch.invite(rt, batch, as_of, down=down))
            print(f"dispatch: {len(done.sent)} sent")
        elif stage == "collect":
            for name in list(rt.mailboxes):
                notes += intake.read_mailbox(rt, name, as_of).problems
            done = answer_owed(rt, as_of)
            print(f"collect: {len(done.sent)} answers sent")
        if stage != "consolidate":
            items_, _notices = attention.tell_coordinator(rt, as_of)
            shown = _publish_status(rt, as_of, notes, items_, status, progress)
            if stage == "collect":  # the flow's closing message counts the states shown
                print(f"collect: {len(shown)} departments")
                return
        else:
            _publish_status(rt, as_of, notes, None, status, progress)
            result, path = consolidation.consolidate(rt)
            consolidation.summary_markdown(result, path)
            final = consolidation.approve(rt, path, as_of)
            print(f"consolidate: {len(result.included)} included into {final}")
        status.states(rt)  # the flows' closing state message
    finally:
        rt.close()


def _publish_status(
    rt: Any, as_of: datetime, notes: list[str], items: Any, status: Any, progress: Any
) -> list[Any]:
    """What ``flows.tasks.publish_status`` computes and stores, without uploading it (to a
    server named ``plain``: what is unchanged since the last round is not published)."""
    view = status.coordinator_view(rt, as_of, notes, items)
    if status.unpublished(rt, view, PLAIN):
        status.view_published(rt, view, PLAIN)
    chart = progress.progress_chart(rt, as_of, PLAIN)
    if chart is not None:
        progress.chart_published(rt, chart, PLAIN)
    return view.states


# -- one campaign ----------------------------------------------------------------------------


def _database_snapshot(db: Path) -> dict[str, tuple[int, str]]:
    """Rows and a content hash per table: what an idle round must leave alone."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith("sqlite_")
        ]
        out = {}
        for table in tables:
            digest = hashlib.sha256()
            n = 0
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
                digest.update(repr(row).encode())
                n += 1
            out[table] = (n, digest.hexdigest()[:16])
        return out
    finally:
        conn.close()


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


class CampaignBench:
    def __init__(
        self,
        units: int,
        mode: str,
        *,
        server: Server | None,
        idle: bool,
        profile: Path | None,
        secret: str | None = None,
    ) -> None:
        self.units = units
        self.mode = mode
        self.server = server
        self.idle = idle
        self.profile = profile
        self.secret = secret
        self.work = VAR / "runs" / f"{mode}-{units}"
        self.run = Run(mode, units)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DO_NOT_TRACK", "1")
        env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        if self.server is not None:
            env["PREFECT_API_URL"] = self.server.api
        else:
            env.pop("PREFECT_API_URL", None)
        return env

    def command(self, stage: str, as_of: datetime) -> list[str]:
        config, data = str(self.work / "config"), str(self.work / "data")
        if self.mode == "flows":
            cmd = [str(BIN / "nianbao"), "run", stage, "--config", config, "--data", data]
            cmd += ["--as-of", as_of.isoformat()]
            if stage == "consolidate":
                cmd += ["--approval", "auto"]
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", stage]
            cmd += ["--config", config, "--data", data, "--as-of", as_of.isoformat()]
        return cmd

    def stage(self, name: str, as_of: datetime, label: str | None = None) -> Stage:
        label = label or name
        before = self.server.flow_run_ids() if self.server else set()
        profile = None
        if self.profile is not None and name in ("dispatch", "collect"):
            if shutil.which("py-spy", path=str(BIN)):
                self.profile.mkdir(parents=True, exist_ok=True)
                profile = self.profile / f"{self.mode}-{self.units}-{label}.txt"
            else:
                print("  (no py-spy: .venv/bin/pip install py-spy to profile)")
        stage = run_measured(
            self.command(name, as_of),
            self.work / f"{label}.log",
            self.env(),
            self.server.pid if self.server else None,
            profile,
        )
        stage.name = label
        if self.server is not None:
            new = self.server.flow_run_ids() - before
            stage.flow_runs = len(new)
            stage.task_runs_recorded = self.server.task_runs(new) if new else 0
        print(
            f"  {self.mode:>5} {self.units:>5} {label:<12} {stage.wall:7.1f} s wall "
            f"{stage.cpu:7.1f} s cpu {stage.peak_rss_mb:6.0f} MB"
            + (f"  server cpu {stage.server_cpu:.1f} s" if stage.server_cpu is not None else "")
            + (
                f"  task runs {stage.task_runs_executed}/{stage.task_runs_recorded}"
                if self.server
                else ""
            ),
            flush=True,
        )
        if stage.returncode != 0:
            raise RuntimeError(f"{self.mode} {label} failed: see {self.work / (label + '.log')}")
        return stage

    def execute(self) -> Run:
        from annual_report.store import open_store
        from demo.postoffice import PostOffice
        from office.settings import load_app_config

        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        with PostOffice(self.work / "mailboxes") as office:
            config_dir = province.write_config(
                self.work / "config",
                count=self.units,
                smtp_port=office.port,
                maildir=office.maildir(province.OFFICE),
                archive=self.work / "data" / "mail",
            )
            config = load_app_config(config_dir, self.work / "data")
            plan = config.plan
            db = config.database
            if self.secret is not None:
                # the same tokens as the other mode's run, so its filled replies are reused
                with open_store(db) as store:
                    store.create_campaign(
                        plan.id,
                        plan.report_year,
                        deadline=plan.deadline,
                        city=config.registry.city,
                        registry=config.registry,
                    )
                    with store._write() as conn:
                        conn.execute(
                            "UPDATE campaigns SET secret = ? WHERE id = ?", [self.secret, plan.id]
                        )
            self.run.stages["dispatch"] = self.stage("dispatch", plan.at(plan.start))
            sent = _count(
                db, "SELECT count(*) FROM events WHERE kind = 'sent.invitation' AND status = 'done'"
            )
            self.run.checks["invitations"] = sent
            self.run.checks["secret"] = _count_secret(db, plan.id)

            start = time.perf_counter()
            filler = province.Filler(VAR / "replies")
            with open_store(db) as store:
                tokens = {
                    code: store.department_token(plan.id, code) for code in config.registry.codes
                }
            replies = []
            for n, dept in enumerate(config.registry):
                raw = office.inbox(dept.email)
                invitation = province.invitation_of(raw[0], dept.code, dept.email)
                when = plan.at(plan.start, clock(10)) + timedelta(seconds=n)
                data = filler.filled(invitation, tokens[dept.code])
                replies.append(province.reply(invitation, province.OFFICE, data, when))
            province.send_all(office.port, replies)
            del replies  # the stages are timed, not this process: keep it small anyway
            self.run.replies_prepared_s = time.perf_counter() - start
            print(
                f"  {self.mode:>5} {self.units:>5} replies      "
                f"{self.run.replies_prepared_s:7.1f} s (the departments' work, not timed)"
            )

            evening = plan.at(plan.deadline, clock(17, 30))
            self.run.stages["collect"] = self.stage("collect", evening)
            self.run.checks["accepted"] = _count(
                db,
                "SELECT count(*) FROM submissions WHERE status IN "
                "('accepted', 'accepted_with_warnings')",
            )
            self.run.checks["answers"] = _count(
                db, "SELECT count(*) FROM events WHERE kind LIKE 'answer.%' AND status = 'done'"
            )
            if self.idle:
                self.idle_round(db, plan.at(plan.deadline, clock(18, 0)))
            day = plan.consolidation_day
            self.run.stages["consolidate"] = self.stage("consolidate", plan.at(day))
            self.run.checks["consolidated"] = _count(
                db, "SELECT count(*) FROM campaigns WHERE status = 'consolidated'"
            )
        return self.run

    def idle_round(self, db: Path, as_of: datetime) -> None:
        before = _database_snapshot(db)
        artifacts = self.server.artifacts() if self.server else None
        server_db = self.server.database_bytes() if self.server else None
        self.run.idle = self.stage("collect", as_of, label="idle-collect")
        after = _database_snapshot(db)
        changed = {
            t: {"rows": f"{before.get(t, (0, ''))[0]}→{after[t][0]}"}
            for t in after
            if before.get(t) != after[t]
        }
        writes: dict[str, Any] = {"tables_changed": changed}
        if self.server is not None and artifacts is not None and server_db is not None:
            now = self.server.artifacts()
            writes["artifacts_added"] = now[0] - artifacts[0]
            writes["artifact_bytes_added"] = now[1] - artifacts[1]
            writes["server_db_bytes_added"] = self.server.database_bytes() - server_db
        self.run.idle_writes = writes


def _count_secret(db: Path, campaign: str) -> str:
    """The campaign's secret (its units' tokens derive from it)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT secret FROM campaigns WHERE id = ?", [campaign]).fetchone()[0]
    finally:
        conn.close()


# -- the report ------------------------------------------------------------------------------


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def table(runs: list[Run]) -> str:
    """Per stage: wall and CPU time (per unit too), peak RSS, the server's CPU, task runs."""
    lines = []
    head = (
        f"{'mode':<6}{'units':>6} {'stage':<13}{'wall s':>8}{'cpu s':>8}{'srv cpu':>8}"
        f"{'wall ms/u':>10}{'cpu ms/u':>9}{'RSS MB':>7}{'tasks run/rec':>14}"
    )
    lines += [head, "-" * len(head)]
    for r in runs:
        rows = list(r.stages.values()) + ([r.idle] if r.idle else [])
        for s in rows:
            tasks = (
                f"{s.task_runs_executed or 0}/{s.task_runs_recorded}"
                if s.task_runs_recorded is not None
                else ""
            )
            srv = f"{s.server_cpu:.1f}" if s.server_cpu is not None else ""
            idle = s.name == "idle-collect"
            wall_per = "" if idle else f"{s.wall / r.units * 1000:.0f}"
            cpu_per = "" if idle else f"{s.cpu / r.units * 1000:.0f}"
            lines.append(
                f"{r.mode:<6}{r.units:>6} {s.name:<13}{s.wall:8.1f}{s.cpu:8.1f}{srv:>8}"
                f"{wall_per:>10}{cpu_per:>9}{s.peak_rss_mb:7.0f}{tasks:>14}"
            )
        peak = max(s.peak_rss_mb for s in r.stages.values())
        srv_total = sum(s.server_cpu or 0 for s in r.stages.values())
        srv = f"{srv_total:.1f}" if r.mode == "flows" else ""
        lines.append(
            f"{r.mode:<6}{r.units:>6} {'campaign':<13}{r.total:8.1f}{r.total_cpu:8.1f}{srv:>8}"
            f"{r.total / r.units * 1000:10.0f}{r.total_cpu / r.units * 1000:9.0f}{peak:7.0f}"
        )
        lines.append("")
    ratios = _ratios(runs)
    if ratios:
        lines.append(
            "flows / plain, same size: wall; CPU of the stage's processes; CPU with the "
            "Prefect server's"
        )
        lines += ratios
    scaling = _scaling(runs)
    if scaling:
        lines.append("scaling: time per unit at the larger size / at the smaller (wall; CPU)")
        lines += scaling
    for r in runs:
        if r.idle_writes is not None and r.idle is not None:
            lines.append(
                f"idle collect round ({r.mode}, {r.units} units): {r.idle.wall:.1f} s wall, "
                f"{r.idle.cpu:.1f} s CPU; written although nothing changed: "
                f"{json.dumps(r.idle_writes, ensure_ascii=False)}"
            )
    return "\n".join(lines)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b > 0 else "—"


def _ratios(runs: list[Run]) -> list[str]:
    out = []
    by = {(r.mode, r.units): r for r in runs}
    for (mode, units), flows in sorted(by.items()):
        plain = by.get(("plain", units))
        if mode != "flows" or plain is None:
            continue
        parts = []
        for name in STAGES:
            f, p = flows.stages.get(name), plain.stages.get(name)
            if f is None or p is None:
                continue
            parts.append(
                f"{name} {_ratio(f.wall, p.wall)}; {_ratio(f.cpu, p.cpu)}; "
                f"{_ratio(f.cpu + (f.server_cpu or 0), p.cpu)}"
            )
        if set(flows.stages) == set(plain.stages) == set(STAGES):
            srv = sum(s.server_cpu or 0 for s in flows.stages.values())
            parts.append(
                f"campaign {_ratio(flows.total, plain.total)}; "
                f"{_ratio(flows.total_cpu, plain.total_cpu)}; "
                f"{_ratio(flows.total_cpu + srv, plain.total_cpu)}"
            )
        if flows.idle and plain.idle:
            parts.append(
                f"idle round {_ratio(flows.idle.wall, plain.idle.wall)}; "
                f"{_ratio(flows.idle.cpu, plain.idle.cpu)}"
            )
        out.append(f"  {units} units: " + " | ".join(parts))
    return out


def _scaling(runs: list[Run]) -> list[str]:
    out = []
    for mode in ("flows", "plain"):
        sized = sorted((r for r in runs if r.mode == mode), key=lambda r: r.units)
        for small, large in itertools.pairwise(sized):
            parts = []
            for name in STAGES:
                a, b = small.stages.get(name), large.stages.get(name)
                if a is None or b is None:
                    continue
                parts.append(
                    f"{name} {_ratio(b.wall / large.units, a.wall / small.units)}; "
                    f"{_ratio(b.cpu / large.units, a.cpu / small.units)}"
                )
            rss = max(s.peak_rss_mb for s in large.stages.values()) / max(
                s.peak_rss_mb for s in small.stages.values()
            )
            out.append(
                f"  {mode} {small.units}→{large.units}: "
                + " | ".join(parts)
                + f" | peak RSS {rss:.2f}×"
            )
    return out


def load_runs(paths: list[Path]) -> list[Run]:
    """Runs saved by earlier invocations (``var/bench/campaign-*.json``), to print together."""
    runs = []
    for path in paths:
        for data in json.loads(path.read_text())["runs"]:
            stages = {k: Stage(**v) for k, v in data.pop("stages").items()}
            idle = data.pop("idle")
            run = Run(**data, stages=stages, idle=Stage(**idle) if idle else None)
            runs.append(run)
    return runs


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--compare", help="two sizes, e.g. 1000,5000: time per unit and ratio")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--plain-only", action="store_true")
    only.add_argument("--flows-only", action="store_true")
    parser.add_argument("--idle", action="store_true", help="time an idle collect round too")
    parser.add_argument("--queries", help="store work per message at these sizes, e.g. 100,1000")
    parser.add_argument("--profile", type=Path, help="py-spy dispatch and collect into DIR")
    parser.add_argument(
        "--secret-of",
        type=Path,
        help="use the campaign secret of an earlier run's database (its filled replies are reused)",
    )
    parser.add_argument(
        "--report", type=Path, nargs="+", help="print the table of saved results (JSON) and stop"
    )
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.stage:
        plain_stage(args.stage, args.config, args.data, datetime.fromisoformat(args.as_of))
        return 0
    if args.report:
        print(table(load_runs(args.report)))
        return 0

    sizes = [int(s) for s in args.compare.split(",")] if args.compare else [args.units]
    modes = ["flows"] * (not args.plain_only) + ["plain"] * (not args.flows_only)
    print(
        f"campaign benchmark: {', '.join(map(str, sizes))} units, {' + '.join(modes)}; "
        f"{os.cpu_count()} cores, {_load()}",
        flush=True,
    )
    server = Server(VAR / f"prefect-{os.getpid()}") if "flows" in modes else None
    runs: list[Run] = []
    try:
        for units in sizes:
            secret = _count_secret(args.secret_of, str(province.YEAR)) if args.secret_of else None
            for mode in modes:
                bench = CampaignBench(
                    units,
                    mode,
                    server=server if mode == "flows" else None,
                    idle=args.idle,
                    profile=args.profile,
                    secret=secret,
                )
                run = bench.execute()
                secret = run.checks.pop("secret")
                runs.append(run)
                print(f"  {mode} {units}: {run.checks}; {_load()}", flush=True)
    finally:
        if server is not None:
            server_rss = _peak_rss_mb(server.pid)
            server.stop()
            shutil.rmtree(server.home, ignore_errors=True)
            print(f"Prefect server peak RSS {server_rss:.0f} MB")
    print()
    print(table(runs))
    queries = None
    if args.queries:
        import tempfile

        try:
            from . import storework
        except ImportError:
            import storework  # type: ignore[no-redef]

        results = []
        for units in (int(s) for s in args.queries.split(",")):
            with tempfile.TemporaryDirectory(prefix=f"storework-{units}-") as tmp:
                results.append(storework.per_message_work(units, Path(tmp)))
        print()
        print(storework.format_table(results))
        queries = [
            {
                "units": r.units,
                "per_message": r.per_message,
                "per_answer": r.per_answer,
                "owed_round": r.owed_round.divided(1),
            }
            for r in results
        ]
    VAR.mkdir(parents=True, exist_ok=True)
    out = VAR / f"campaign-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(
        json.dumps(
            {"load": os.getloadavg(), "runs": [asdict(r) for r in runs], "queries": queries},
            ensure_ascii=False,
            indent=1,
            default=str,
        )
    )
    print(f"\nresults: {out}; {_load()}")
    ok = all(
        r.checks.get("invitations") == r.units
        and r.checks.get("accepted") == r.units
        and r.checks.get("consolidated") == 1
        for r in runs
    )
    if not ok:
        print("some runs did not reach every unit: see the checks above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
