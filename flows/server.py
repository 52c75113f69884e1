"""A local Prefect server for the coordinator's UI (``nianbao demo --ui``, screenshots)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from annual_report.errors import NianbaoError


@dataclass
class LocalServer:
    process: subprocess.Popen
    url: str  # the UI
    api_url: str
    log: Path

    def wait(self) -> None:
        try:
            self.process.wait()
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(home: Path, port: int = 4200, timeout: float = 90) -> LocalServer:
    """Start ``prefect server start`` on loopback with its own PREFECT_HOME and point this
    process's flows at it (PREFECT_API_URL)."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api",
    )
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).with_name("prefect")
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NianbaoError("the Prefect server did not start", log=str(log))
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        process.terminate()
        raise NianbaoError("the Prefect server did not answer in time", log=str(log))
    os.environ["PREFECT_API_URL"] = api
    return LocalServer(process, f"http://127.0.0.1:{port}", api, log)
