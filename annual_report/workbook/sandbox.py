"""Reading untrusted workbooks in an isolated child process, so one attachment can never take
the pipeline down.

:func:`read_untrusted` hands a file (a path, or the bytes of an attachment) to a persistent
worker process limited in address space (``RLIMIT_AS``), CPU time per file (``RLIMIT_CPU``) and
wall time, which runs :func:`~annual_report.workbook.intake.inspect_bytes` (refuses bombs, entity
declarations, huge sheets, encrypted and foreign files) and then
:func:`~annual_report.workbook.reader.read_workbook`. The caller's own process never parses the
file's
XML nor inflates its zip: it only checks the size, before a byte is read. A worker that aborts
(python-calamine aborts the process when an allocation fails), runs out of memory or hangs is
killed and replaced; the caller gets a :class:`~annual_report.errors.WorkbookError` of kind
``crashed`` or ``timeout`` and the next file is read by a fresh worker.

The worker is a plain ``python -c`` subprocess talking over two pipes (pickled tuples), not a
``multiprocessing`` pool: it re-imports nothing of the caller's ``__main__``, and a hung worker
can be killed by its own pid — ``ProcessPoolExecutor`` hides its processes, so a timed-out task
would keep running. The Report crosses the boundary as a plain dict and is rebuilt here with
:func:`~annual_report.form.model.load_form`.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from annual_report.errors import WorkbookError
from annual_report.form.model import load_form
from annual_report.report import Entry, LabelNote, Report
from annual_report.workbook.breakdown import OfficeReport
from annual_report.workbook.intake import MAX_FILE_BYTES, inspect_bytes, too_large

log = logging.getLogger(__name__)

# Bytes of address space for the worker: its baseline is ~40 MB, a template takes it to ~60 MB,
# a sheet at every cap of the pre-checks (100,000 numbers) to ~70 MB. The limit also bounds its
# resident memory, whatever a file within the caps makes the parser allocate.
MEMORY_LIMIT = 256 * 1024 * 1024
CPU_SECONDS = 20  # CPU seconds per file
WALL_SECONDS = 20.0  # wall-clock seconds per file
START_SECONDS = 30.0  # to start a worker (imports; slow on a busy machine)

CRASHED = "crashed"
TIMEOUT = "timeout"

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_ENV_KEEP = frozenset({"PATH", "PYTHONPATH", "LANG", "LANGUAGE", "TMPDIR", "VIRTUAL_ENV", "HOME"})


# -- the report across the process boundary -------------------------------------------------------


def report_to_dict(report: Report) -> dict[str, Any]:
    """Everything a :class:`Report` holds, as plain data: values as their exact decimal text
    (pickled a fifth as fast as Decimals; :func:`report_from_dict` makes them Decimals again)."""
    return {
        "form": report.form.id,
        "year": report.year,
        "department": report.department,
        "campaign": report.campaign,
        "token": report.token,
        "declared_form": report.declared_form,
        "source": report.source,
        "method": report.method,
        "entries": [
            (e.code, e.raw, None if e.value is None else str(e.value), e.notes, e.problem, e.cell)
            for e in report.entries.values()
        ],
        "narrative": dict(report.narrative),
        "label_notes": [(n.codes, n.found, n.message, n.cells) for n in report.label_notes],
        "missing": list(report.missing),
        "office": report.office.to_dict() if report.office is not None else None,
    }


def report_from_dict(data: dict[str, Any]) -> Report:
    report = Report(
        form=load_form(data["form"]),
        year=data["year"],
        department=data["department"],
        campaign=data["campaign"],
        token=data["token"],
        declared_form=data["declared_form"],
        narrative=dict(data["narrative"]),
        missing=list(data["missing"]),
        source=data["source"],
        method=data["method"],
    )
    for code, raw, value, notes, problem, cell in data["entries"]:
        value = Decimal(value) if value is not None else None
        report.entries[code] = Entry(code, raw, value, tuple(notes), problem, cell)
    report.label_notes = [
        LabelNote(tuple(codes), found, message, tuple(cells))
        for codes, found, message, cells in data["label_notes"]
    ]
    if data.get("office") is not None:
        report.office = OfficeReport.from_dict(data["office"])
    return report


# -- the worker (child side) -------------------------------------------------------------------


def _worker_main(read_fd: int, write_fd: int, memory: int, cpu_seconds: int) -> None:
    """Child process: set limits, then read workbooks on request until the pipe closes."""
    import resource

    from annual_report.form.labels import label_key
    from annual_report.form.model import forms
    from annual_report.workbook import reader

    forms()  # parse the YAML forms before the limits bite
    label_key("预热")  # and load OpenCC's dictionaries
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort must not dump core
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    requests = Connection(read_fd, writable=False)
    replies = Connection(write_fd, readable=False)
    replies.send(("ready", os.getpid()))
    while True:
        try:
            message = requests.recv()
        except (EOFError, OSError):
            return
        op = message[0]
        if op == "abort":  # test hook: die the way calamine dies
            os.abort()
        if op == "sleep":  # test hook: hang
            time.sleep(message[1])
            replies.send(("ok", None))
            continue
        _, path, data, year, form_id = message
        used = resource.getrusage(resource.RUSAGE_SELF)
        spent = int(used.ru_utime + used.ru_stime) + 1
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = spent + cpu_seconds
        resource.setrlimit(resource.RLIMIT_CPU, (soft if hard < 0 else min(soft, hard), hard))
        try:
            if data is None:
                data = _read_capped(path)
            inspect_bytes(data, path)
            report = reader.read_workbook(path, data=data, year=year, form_id=form_id)
            replies.send(("ok", report_to_dict(report)))
        except WorkbookError as exc:
            replies.send(("error", exc.message, exc.reason_zh, exc.kind))
        except MemoryError:
            replies.send(("error", "out of memory while parsing", _ZH_CRASHED, CRASHED))
            return  # a fresh worker for the next file
        except Exception as exc:  # a parser bug on a strange file: report it, keep serving
            log.exception("reading %s failed", path)
            replies.send(
                (
                    "error",
                    f"the workbook cannot be parsed: {type(exc).__name__}: {exc}",
                    _ZH_UNREADABLE,
                    "unreadable",
                )
            )


def _read_capped(path: str) -> bytes:
    """The file's bytes, refused unread when it is over the size limit."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise too_large(size, path)
            return fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise WorkbookError(
            f"cannot read the file: {exc.strerror or exc}",
            "无法读取该文件。请使用下发的Excel模板填写，保存为.xlsx格式后重新发送。",
            kind="not-a-workbook",
            file=path,
        ) from None


_ZH_CRASHED = (
    "文件结构异常，读取时超出了系统为单个文件设定的资源上限，已停止读取。"
    "请使用下发的Excel模板重新填写，保存为.xlsx格式后发送。"
)
_ZH_TIMEOUT = (
    "文件读取超时（结构异常或内容过多），已停止读取。"
    "请使用下发的Excel模板重新填写，保存为.xlsx格式后发送。"
)
_ZH_UNREADABLE = (
    "文件无法作为Excel表格打开（可能已损坏）。请用Excel或WPS打开检查，另存为.xlsx格式后重新发送。"
)


# -- the sandbox (parent side) ------------------------------------------------------------------


class Sandbox:
    """A persistent, resource-limited worker process for reading untrusted workbooks.

    Thread-safe (requests are serialised); the worker starts on first use and after a crash.
    """

    def __init__(
        self,
        *,
        memory: int = MEMORY_LIMIT,
        cpu_seconds: int = CPU_SECONDS,
        timeout: float = WALL_SECONDS,
    ) -> None:
        self.memory = memory
        self.cpu_seconds = cpu_seconds
        self.timeout = timeout
        self.starts = 0  # workers started so far (1 + crashes and timeouts)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None
        self._stderr: Any = None
        self._owner = os.getpid()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(
        self,
        source: str | Path | bytes,
        *,
        name: str | None = None,
        year: int | None = None,
        form_id: str | None = None,
    ) -> Report:
        """Inspect and read a file in the worker: a path, or the bytes of an attachment
        (``name`` names it in errors and as the report's source). Raise
        :class:`WorkbookError` if the file is refused or the worker dies.

        Here only the size is looked at, before anything is read: a path's from the file
        system, bytes by their length.
        """
        if isinstance(source, bytes):
            label = name or "attachment"
            if len(source) > MAX_FILE_BYTES:
                raise too_large(len(source), label)
            message: tuple[Any, ...] = ("read", label, source, year, form_id)
        else:
            label = name or str(source)
            resolved = Path(source).resolve()
            try:
                size = resolved.stat().st_size
            except OSError:
                size = 0  # the worker says why it cannot be read
            if size > MAX_FILE_BYTES:
                raise too_large(size, label)
            message = ("read", str(resolved), None, year, form_id)
        reply = self._call(message, label)
        if reply[0] == "error":
            _, reason, reason_zh, kind = reply
            raise WorkbookError(reason, reason_zh, kind=kind, file=label)
        report = report_from_dict(reply[1])
        report.source = label
        return report

    def peak_memory(self) -> int | None:
        """The worker's peak resident memory so far, in bytes (None without a worker)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return None

    def close(self) -> None:
        with self._lock:
            self._stop(kill=False)

    # -- internals --------------------------------------------------------------------------

    def _call(self, message: tuple[Any, ...], file: str) -> tuple[Any, ...]:
        with self._lock:
            self._ensure_worker()
            assert self._requests is not None and self._replies is not None
            try:
                self._requests.send(message)
                if not self._replies.poll(self.timeout):
                    pid = self._proc.pid if self._proc else None
                    self._stop(kill=True)
                    log.warning("worker %s timed out on %s after %.0f s", pid, file, self.timeout)
                    raise WorkbookError(
                        f"reading took longer than {self.timeout:.0f} s; the worker was stopped",
                        _ZH_TIMEOUT,
                        kind=TIMEOUT,
                        file=file,
                    )
                reply = self._replies.recv()
            except (EOFError, OSError, BrokenPipeError):
                raise self._crashed(file) from None
            if reply[0] == "error" and reply[3] == CRASHED:
                self._stop(kill=True)  # the worker exits after a MemoryError; do not reuse it
            return reply

    def _crashed(self, file: str) -> WorkbookError:
        proc = self._proc
        code = proc.wait(timeout=5) if proc is not None else None
        detail = _describe_exit(code)
        tail = self._stderr_tail()
        self._stop(kill=True)
        log.warning("worker crashed on %s (%s)%s", file, detail, f": {tail}" if tail else "")
        return WorkbookError(
            f"the isolated reader died on this file ({detail}); the file was refused",
            _ZH_CRASHED,
            kind=CRASHED,
            file=file,
        )

    def _ensure_worker(self) -> None:
        if self._owner != os.getpid():  # inherited through fork: that worker is not ours
            self._proc = self._requests = self._replies = self._stderr = None
            self._owner = os.getpid()
        if self._proc is not None and self._proc.poll() is None:
            return
        self._stop(kill=True)
        child_read, parent_write = os.pipe()
        parent_read, child_write = os.pipe()
        # A parser of hostile input gets no secrets: only what Python needs to start.
        env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP or k.startswith("LC_")}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p
        )
        env["RUST_BACKTRACE"] = "0"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the worker)
        code = (
            "import sys; from annual_report.workbook.sandbox import _worker_main; "
            "_worker_main(*map(int, sys.argv[1:]))"
        )
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    code,
                    str(child_read),
                    str(child_write),
                    str(self.memory),
                    str(self.cpu_seconds),
                ],
                pass_fds=(child_read, child_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                env=env,
                cwd="/",
            )
        finally:
            os.close(child_read)
            os.close(child_write)
        self._requests = Connection(parent_write, readable=False)
        self._replies = Connection(parent_read, writable=False)
        self.starts += 1
        try:
            ready = self._replies.poll(START_SECONDS) and self._replies.recv()
        except (EOFError, OSError):
            ready = None
        if not ready or ready[0] != "ready":
            tail = self._stderr_tail()
            self._stop(kill=True)
            raise RuntimeError(f"the isolated reader did not start: {tail or 'no output'}")
        log.debug("reader worker %s started", ready[1])

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(size - 2000, 0))
            lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return " | ".join(lines[:3])

    def _stop(self, *, kill: bool) -> None:
        for conn in (self._requests, self._replies):
            if conn is not None:
                conn.close()
        self._requests = self._replies = None
        proc, self._proc = self._proc, None
        if proc is not None:
            if kill and proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


_default: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """The process-wide sandbox (one worker), closed at exit."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sandbox()
            atexit.register(_default.close)
        return _default


def read_untrusted(
    source: str | Path | bytes,
    *,
    name: str | None = None,
    year: int | None = None,
    form_id: str | None = None,
) -> Report:
    """Inspect and read a file (a path, or an attachment's bytes) in the isolated worker."""
    return default_sandbox().read(source, name=name, year=year, form_id=form_id)
