"""Session fixtures for the real local mail servers (fixtures only, no tests here).

``smtp_server``  aiosmtpd on a free loopback port; keeps every envelope with its raw bytes,
                 counts connections and logins, and can refuse recipients or DATA on demand.
``dovecot``      Debian's dovecot started from a throwaway config in a temp dir (IMAP on a free
                 loopback port, one user, Maildir owned by nobody); skipped only when dovecot is
                 not installed (``scripts/setup.sh`` installs it).
``prefect_harness``  the Prefect test server every flow test runs under (yields its API URL).
"""

from __future__ import annotations

import contextlib
import imaplib
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- SMTP ------------------------------------------------------------------------------------


@dataclass
class Envelope:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: str | None  # the authenticated user of the session, if any


@dataclass
class RecordingHandler:
    """aiosmtpd handler: records envelopes; refusals and DATA replies can be scripted."""

    messages: list[Envelope] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address → "550 5.1.1 ..."
    data_replies: list[str] = field(default_factory=list)  # next DATA replies, e.g. "451 ..."
    connections: int = 0
    logins: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            login = session.auth_data.login.decode() if session.auth_data else None
            self.messages.append(
                Envelope(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
            )
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.rcpt_replies.clear()
            self.data_replies.clear()
            self.connections = 0
            self.logins = 0


@dataclass
class SmtpServer:
    host: str
    port: int
    user: str
    password: str
    handler: RecordingHandler
    controller: object = None

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Envelope]:
        return self.handler.messages

    def clear(self) -> None:
        self.handler.clear()


def _start_smtp(user: str | None, password: str | None) -> tuple[SmtpServer, object]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    handler = RecordingHandler()

    def authenticator(server, session, envelope, mechanism, auth_data):
        with handler.lock:
            handler.logins += 1
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        # handled=False: let aiosmtpd answer 535 itself on failure
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    class CountingController(Controller):
        def factory(self):
            with handler.lock:
                handler.connections += 1
            return super().factory()

    port = free_port()
    controller = CountingController(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator if user else None,
        auth_require_tls=False,  # loopback only; the sender is tested with security "none"
    )
    controller.start()
    server = SmtpServer("127.0.0.1", port, user or "", password or "", handler, controller)
    server.clear()  # the controller's own readiness probe counted as a connection
    return server, controller


@pytest.fixture(scope="session")
def smtp_server():
    server, controller = _start_smtp("nianbao@zhangshu.example", "smtp-Secret-8f3k")
    yield server
    controller.stop()


@pytest.fixture
def spare_smtp_server():
    """A server of this test's own (no authentication), e.g. to stop it mid-batch."""
    server, controller = _start_smtp(None, None)
    yield server
    with contextlib.suppress(Exception):  # the test may have stopped it already
        controller.stop()


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


@pytest.fixture
def smtp(smtp_server):
    """The session's SMTP server, emptied for this test."""
    smtp_server.clear()
    yield smtp_server
    smtp_server.clear()


# -- dovecot ---------------------------------------------------------------------------------

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)


@dataclass
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    root: Path
    process: subprocess.Popen

    @property
    def maildir(self) -> Path:
        return self.root / "mail" / self.user

    def log_text(self) -> str:
        return (self.root / "dovecot.log").read_text(errors="replace")

    @contextlib.contextmanager
    def imap(self):
        """A logged-in imaplib connection for set-up and assertions."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            conn.login(self.user, self.password)
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def create_folder(self, folder: str) -> None:
        from imap_tools.utils import encode_folder

        with self.imap() as conn:
            typ, data = conn.create(encode_folder(folder))
            assert typ == "OK", data

    def recreate_folder(self, folder: str) -> None:
        """Rename the folder away and create it again: a new UIDVALIDITY, UIDs from 1."""
        from imap_tools.utils import encode_folder

        with self.imap() as conn:
            gone = f"{folder}-old-{time.monotonic_ns()}"
            typ, data = conn.rename(encode_folder(folder), encode_folder(gone))
            assert typ == "OK", data
            typ, data = conn.create(encode_folder(folder))
            assert typ == "OK", data

    def deliver(self, raw: bytes, folder: str = "INBOX", flags: str = "") -> int:
        """APPEND a raw message; returns its UID."""
        from imap_tools.utils import encode_folder

        with self.imap() as conn:
            typ, data = conn.append(
                encode_folder(folder), f"({flags})" if flags else None, None, raw
            )
            assert typ == "OK", data
        match = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
        assert match, data
        return int(match.group(1))

    def flags(self, folder: str, uid: int) -> set[str]:
        from imap_tools.utils import encode_folder

        with self.imap() as conn:
            conn.select(encode_folder(folder), readonly=True)
            typ, data = conn.uid("FETCH", str(uid), "(FLAGS)")
            assert typ == "OK", data
        if not data or data[0] is None:
            return set()
        inner = re.search(rb"FLAGS \(([^)]*)\)", data[0])
        flags = set(inner.group(1).decode().split()) if inner else set()
        return flags - {"\\Recent"}  # session state, not a flag anyone set

    def uids(self, folder: str) -> list[int]:
        from imap_tools.utils import encode_folder

        with self.imap() as conn:
            typ, data = conn.select(encode_folder(folder), readonly=True)
            assert typ == "OK", data
            typ, data = conn.uid("SEARCH", "ALL")
        return [int(u) for u in (data[0] or b"").split()]


def _proc_state(pid: int) -> str | None:
    """The state letter of a process (``Z`` for a zombie), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _dovecot_config(root: Path, port: int, user: str, group: str) -> str:
    internal = (
        ""
        if os.geteuid() == 0
        else f"default_internal_user = {user}\ndefault_login_user = {user}\n"
    )
    return f"""# throwaway test configuration, written by tests/conftest.py
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# a test logs in with a wrong password on purpose: no delay, and no auth penalty (below)
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
{internal}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={root}/home/%u
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"dovecot exited ({process.returncode}):\n{log.read_text(errors='replace')}"
            )
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.01)
    raise RuntimeError(f"dovecot did not listen on {port}:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen) -> None:
    children = _children(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    # A stopped master can leave a defunct child: a zombie is stopped too, so look at the state
    # in /proc, not at whether the pid exists.
    deadline = time.monotonic() + 10
    for pid in children:
        while _proc_state(pid) not in (None, "Z") and time.monotonic() < deadline:
            time.sleep(0.05)
        if _proc_state(pid) not in (None, "Z"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def dovecot():
    if DOVECOT is None:
        pytest.skip("dovecot is not installed (scripts/setup.sh installs dovecot-imapd)")
    if os.geteuid() == 0:
        user, group = "nobody", "nogroup"
    else:
        user = pwd.getpwuid(os.geteuid()).pw_name
        group = user
    uid = pwd.getpwnam(user).pw_uid
    gid = pwd.getpwnam(user).pw_gid
    root = Path(tempfile.mkdtemp(prefix="nianbao-dovecot-"))
    root.chmod(0o755)  # dovecot's unprivileged processes must traverse it
    for sub in ("mail", "home"):
        (root / sub).mkdir()
        if os.geteuid() == 0:
            os.chown(root / sub, uid, gid)
    mail_user, mail_password = "office", "imap-Secret-2b7q"
    (root / "passwd").write_text(f"{mail_user}:{{PLAIN}}{mail_password}::::::\n")
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(_dovecot_config(root, port, user, group))
    log = root / "dovecot.log"
    with open(root / "master.out", "wb") as out:  # never a pipe: the master keeps it open
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_port(port, process, root / "master.out" if not log.exists() else log)
        yield Dovecot("127.0.0.1", port, mail_user, mail_password, root, process)
    finally:
        _stop(process)
        shutil.rmtree(root, ignore_errors=True)


_folder_numbers = itertools.count(1)


@pytest.fixture
def imap_folder(dovecot) -> str:
    """A fresh, empty folder in the dovecot mailbox for one test."""
    name = f"T{next(_folder_numbers)}-{os.getpid()}"
    dovecot.create_folder(name)
    return name


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One Prefect test server for every flow test (the demo's and the flows'); yields its
    API URL. It starts with the first test that needs it and stops at the end of the session.

    Besides the environment the issue asks for, two settings keep the module fast on two
    shared cores without changing what is tested: the server's task-run recorder is off (it
    writes task-run history into the harness's SQLite and holds its write lock for ~2 s after
    each flow with a dozen tasks, stalling the next subflow's creation; nothing here reads
    task-run history), and flow-run heartbeats are off (a flow waits up to 1 s for its
    heartbeat thread when it ends; heartbeats only serve a worker's crash detection).
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_HOME,
        PREFECT_RESULTS_LOCAL_STORAGE_PATH,
    )
    from prefect.settings import temporary_settings as prefect_settings
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")  # not the user's ~/.prefect
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_HOME", str(home))
        mp.setenv("DO_NOT_TRACK", "1")
        mp.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        mp.setenv("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", "false")
        with (
            prefect_test_harness(),
            prefect_settings(
                updates={
                    PREFECT_HOME: home,
                    PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
                    PREFECT_RESULTS_LOCAL_STORAGE_PATH: home / "storage",
                }
            ),
        ):
            yield PREFECT_API_URL.value()
