"""Helpers of tests/test_server.py: the deployment of docker/compose*.yaml, run on this machine.

What a container would run runs here as a process, with the command and environment the compose
files give it (and, for the nianbao image, the ``ENV`` of docker/Dockerfile and the service's
``env_file``). Only what Docker itself provides is translated: a service's host name and port
become 127.0.0.1 and a free port, a container path (``/app``, ``/app/config``,
``/app/nianbao-data``) becomes the checkout or the office's own directory (its volumes), and each
process gets a home of its own, as a container has. PostgreSQL is Debian's, a cluster of its own
in a temporary directory (initdb / pg_ctl, no systemd), with the user, database and password of
the compose file's ``postgres`` service.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
VENV_BIN = Path(sys.executable).parent
_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- compose files -----------------------------------------------------------------------------


def interpolate(value: Any, variables: Mapping[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}`` in every string."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        found = variables.get(name)
        if op in (":-", "-"):
            return (found if (found if op == ":-" else found is not None) else arg) or ""
        if op in (":?", "?") and (found is None or (op == ":?" and not found)):
            raise KeyError(f"compose needs {name}: {arg}")
        return found or ""

    return _VAR.sub(one, value)


def compose_service(files: list[str], name: str, variables: Mapping[str, str]) -> dict[str, Any]:
    """A service as compose merges it from ``files`` (docker/…): the later file's command wins,
    environment maps merge, volumes merge by target."""
    merged: dict[str, Any] = {}
    for file in files:
        data = yaml.safe_load((DOCKER / file).read_text(encoding="utf-8"))
        part = (data.get("services") or {}).get(name)
        if not part:
            continue
        for key, value in part.items():
            if key == "environment":
                merged[key] = {**merged.get(key, {}), **value}
            elif key == "volumes":
                by_target = {v.split(":")[1]: v for v in merged.get(key, [])}
                by_target.update({v.split(":")[1]: v for v in value})
                merged[key] = list(by_target.values())
            else:
                merged[key] = value
    assert merged, f"no service {name} in {files}"
    return interpolate(merged, variables)


def image_env() -> dict[str, str]:
    """The ``ENV`` of docker/Dockerfile (the nianbao image)."""
    env: dict[str, str] = {}
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def image_workdir() -> str:
    text = DOCKERFILE.read_text(encoding="utf-8")
    return re.findall(r"^WORKDIR\s+(\S+)", text, re.M)[-1]


@dataclass
class Site:
    """Where the names a container sees point on this machine."""

    hosts: dict[str, str] = field(default_factory=dict)  # "prefect-server:4200" → "127.0.0.1:N"
    paths: dict[str, Path] = field(default_factory=dict)  # "/app/config" → a directory here
    used: set[str] = field(default_factory=set)

    def translate(self, value: str) -> str:
        for name, here in self.hosts.items():
            if name in value:
                self.used.add(name)
                value = value.replace(name, here)
        for path in sorted(self.paths, key=len, reverse=True):
            if value == path or value.startswith(path + "/"):
                self.used.add(path)
                return str(self.paths[path]) + value[len(path) :]
        return value


def volume_paths(service: dict[str, Any], named: Mapping[str, Path]) -> dict[str, Path]:
    """Container path → host path of a service's volumes (named volumes from ``named``)."""
    found = {}
    for spec in service.get("volumes", []):
        source, target = spec.split(":")[:2]
        found[target] = named[source] if source in named else (DOCKER / source).resolve()
    return found


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen
    peak_rss_kb: int = 0

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and its descendants, ended ones included."""
        total = 0
        for entry in self.members():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        return total / os.sysconf("SC_CLK_TCK")

    def members(self) -> list[Path]:
        """/proc entries of the process and all its descendants (a worker's flow runs run in
        process groups of their own)."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    parents[int(entry.name)] = int(fields[1])
        found, frontier = {self.popen.pid}, [self.popen.pid]
        while frontier:
            pid = frontier.pop()
            children = [c for c, parent in parents.items() if parent == pid and c not in found]
            found.update(children)
            frontier.extend(children)
        return [Path(f"/proc/{pid}") for pid in found if pid in parents]

    def sample_memory(self) -> None:
        """Remember the largest peak resident size (VmHWM) of any process of the group."""
        for entry in self.members():
            with contextlib.suppress(OSError):
                match = re.search(r"VmHWM:\s+(\d+) kB", (entry / "status").read_text())
                if match:
                    self.peak_rss_kb = max(self.peak_rss_kb, int(match.group(1)))

    def stop(self) -> None:
        leftovers = [int(p.name) for p in self.members() if int(p.name) != self.popen.pid]
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        # what the group signal did not reach: flow runs a failed test left running
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def base_env(home: Path) -> dict[str, str]:
    """What a container starts from: a PATH (this venv's tools first) and a home of its own."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "PREFECT_HOME": str(home / ".prefect"),
        "LANG": "C.UTF-8",
    }


def start(name: str, argv: list[str], env: dict[str, str], cwd: Path, logs: Path) -> Process:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, argv, env, log, popen)


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{shlex.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def wait_http(url: str, process: Process, timeout: float = 180) -> None:
    """Until ``url`` answers 200 (the process must not die meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.popen.poll() is None, process.log_tail()
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=3) as response:
            if response.status == 200:
                return
        assert time.monotonic() < deadline, f"{url} never answered\n{process.log_tail()}"
        time.sleep(0.5)


# -- PostgreSQL ----------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """Debian's newest PostgreSQL server binaries (package postgresql), or None."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", path.parent.parent.name))

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@dataclass
class Postgres:
    bindir: Path
    root: Path
    port: int
    user: str
    password: str
    database: str
    log: Path

    def psql(self, sql: str) -> list[list[str]]:
        out = run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-F",
                "\t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                self.database,
                "-c",
                sql,
            ],
            env={**os.environ, "PGPASSWORD": self.password},
            cwd=self.root,
            timeout=60,
        )
        return [line.split("\t") for line in out.splitlines() if line]

    def scalar(self, sql: str) -> int:
        return int(self.psql(sql)[0][0])


@contextlib.contextmanager
def postgres_cluster(root: Path, user: str, password: str, database: str) -> Iterator[Postgres]:
    """initdb + pg_ctl start on 127.0.0.1 (scram-sha-256), then ``createdb``; stopped and gone
    after. As root, the server runs as Debian's ``postgres`` user (initdb refuses root)."""
    bindir = postgres_bindir()
    assert bindir is not None
    as_user: dict[str, Any] = {}
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        import pwd

        account = pwd.getpwnam("postgres")
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        os.chown(root, account.pw_uid, account.pw_gid)
    root.chmod(0o700)
    pwfile = root / "password"
    pwfile.write_text(password + "\n")
    if as_user:
        os.chown(pwfile, as_user["user"], as_user["group"])
    data, log, port = root / "data", root / "postgres.log", free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(root)}

    def pg(*argv: str) -> None:
        result = subprocess.run(
            [str(bindir / argv[0]), *argv[1:]],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            **as_user,
        )
        assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}" + (
            log.read_text(errors="replace") if log.exists() else ""
        )

    pg(
        "initdb",
        "-D",
        str(data),
        "-U",
        user,
        f"--pwfile={pwfile}",
        "--auth=scram-sha-256",
        "-E",
        "UTF8",
        "--no-locale",
        "--no-sync",
    )
    # fsync off: a throwaway cluster on two shared cores (nothing measured depends on it)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg("pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "120", "start")
    server = Postgres(bindir, root, port, user, password, database, log)
    try:
        run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database],
            env={**env, "PGPASSWORD": password},
            cwd=root,
        )
        yield server
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            pg("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


# -- the Prefect API, as the UI uses it -------------------------------------------------------


def api(url: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def wait_for_run(client: Any, run_id: Any, *processes: Process, timeout: float = 420) -> Any:
    """The flow run once it is final or paused (a worker picks it up and runs it)."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.read_flow_run(run_id)
        if run.state and (run.state.is_final() or run.state.is_paused()):
            return run
        for process in processes:
            assert process.popen.poll() is None, process.log_tail()
            process.sample_memory()
        assert time.monotonic() < deadline, (
            f"flow run {run.name} still {run.state.type if run.state else None}\n"
            + "\n".join(p.log_tail() for p in processes)
        )
        time.sleep(1)


# -- measurements ------------------------------------------------------------------------------

TABLES = (
    "flow_run",
    "flow_run_state",
    "task_run",
    "task_run_state",
    "log",
    "artifact",
    "artifact_collection",
    "events",
    "event_resources",
    "flow_run_input",
    "deployment",
)


def database_figures(pg: Postgres) -> dict[str, Any]:
    """Size of the database and of its biggest tables, rows, and write activity so far."""
    sizes = {
        name: int(size)
        for name, size in pg.psql(
            "SELECT relname, pg_total_relation_size(relid) FROM pg_statio_user_tables"
        )
    }
    rows = {name: pg.scalar(f"SELECT count(*) FROM {name}") for name in TABLES if name in sizes}
    stats = pg.psql(
        "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database "
        f"WHERE datname = '{pg.database}'"
    )[0]
    return {
        "database_bytes": pg.scalar(f"SELECT pg_database_size('{pg.database}')"),
        "table_bytes": {t: sizes[t] for t in TABLES if t in sizes},
        "rows": rows,
        "commits": int(stats[0]),
        "tuples_written": sum(int(v) for v in stats[1:]),
    }


def office_figures(pg: Postgres, pool: str) -> dict[str, Any]:
    """Rows one office's flow runs left on the server: runs, task runs, states, logs, artifacts
    (and their bytes), events about its runs."""
    of_pool = (
        "SELECT fr.id FROM flow_run fr JOIN work_queue wq ON fr.work_queue_id = wq.id "
        f"JOIN work_pool wp ON wq.work_pool_id = wp.id WHERE wp.name = '{pool}'"
    )
    # the runs that ran, not those the scheduler keeps ready for next January
    runs = f"{of_pool} AND fr.state_type <> 'SCHEDULED'"
    tasks = f"SELECT id FROM task_run WHERE flow_run_id IN ({runs})"
    return {
        "flow_runs": pg.scalar(f"SELECT count(*) FROM ({runs}) r"),
        "scheduled_runs": pg.scalar(
            f"SELECT count(*) FROM ({of_pool} AND fr.state_type = 'SCHEDULED') r"
        ),
        "task_runs": pg.scalar(f"SELECT count(*) FROM ({tasks}) t"),
        "flow_run_states": pg.scalar(
            f"SELECT count(*) FROM flow_run_state WHERE flow_run_id IN ({runs})"
        ),
        "task_run_states": pg.scalar(
            f"SELECT count(*) FROM task_run_state WHERE task_run_id IN ({tasks})"
        ),
        "logs": pg.scalar(f"SELECT count(*) FROM log WHERE flow_run_id IN ({runs})"),
        "log_bytes": pg.scalar(
            f"SELECT coalesce(sum(pg_column_size(l.*)), 0) FROM log l WHERE flow_run_id IN ({runs})"
        ),
        "artifacts": pg.scalar(f"SELECT count(*) FROM artifact WHERE flow_run_id IN ({runs})"),
        "artifact_bytes": pg.scalar(
            "SELECT coalesce(sum(pg_column_size(a.*)), 0) FROM artifact a "
            f"WHERE flow_run_id IN ({runs})"
        ),
        "events": pg.scalar(
            "SELECT count(*) FROM events WHERE resource_id IN "
            f"(SELECT 'prefect.flow-run.' || id FROM ({runs}) r UNION ALL "
            f"SELECT 'prefect.task-run.' || id FROM ({tasks}) t)"
        ),
    }


def settled(read: Any, attempts: int = 20, pause: float = 2.0) -> Any:
    """``read()`` once two reads ``pause`` apart agree: the server records task runs and events
    in the background, a moment after the flow run ends."""
    last = read()
    for _ in range(attempts):
        time.sleep(pause)
        now = read()
        if now == last:
            return now
        last = now
    return last
