"""Benchmark: the collector's memory and archive under a hostile batch, through the path a user
runs — ``nianbao run collect`` in a process of its own (the real ``collect`` flow on a local
Prefect server), a local Maildir as the office mailbox, SMTP to a local aiosmtpd, the SQLite
store, the isolated reader; the templates come from a real ``dispatch``.

The batch is the hostile corpus of ``tests/hostile/corpus.py`` (bombs, entity expansion, far
cells, locked and wrong files, broken MIME, 3,000-level nesting, spoofed identities, a 33 MB
message …) plus the issue's own worst cases at full size: a 2.6 MB ``workbook.xml.rels`` of
entity expansion, a zip of four 49 MB workbooks, and valid replies around them.

Run by hand: ``.venv/bin/python bench/hostile.py``. Prints the peak resident memory of the
collector process and of its isolated reader (sampled from ``/proc``), the time, and how much the
archive grew against the bytes received. Targets (issue 8): peak RSS < 300 MB; archive growth
<= the size of the mail received.
"""

from __future__ import annotations

import mailbox
import os
import sys
import tempfile
import threading
import time
from datetime import time as clock
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "hostile")]

import corpus  # noqa: E402
import flowkit  # noqa: E402

MB = 1024 * 1024


def smtp_server():
    """aiosmtpd on a free port that keeps only the mails the bench needs (the invitations)."""
    import socket

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    kept: list[bytes] = []
    counted = [0]

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            counted[0] += 1
            if b"X-Nianbao-Kind: invitation" in envelope.content:
                kept.append(envelope.content)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        authenticator=lambda *a: AuthResult(success=True),
        auth_require_tls=False,
    )
    controller.start()
    return controller, port, kept, counted


def write_config(root: Path, port: int) -> Path:
    from demo.city import packaged_mail_texts

    config = root / "config"
    config.mkdir()
    mail = flowkit.mail_data(
        type("S", (), {"host": "127.0.0.1", "port": port, "user": "office"})(),
        type("D", (), {"host": "127.0.0.1", "port": 1, "user": "x"})(),
        "INBOX",
        root / "data" / "mail",
    )
    del mail["imap"]
    mail["maildir"] = str(root / "office")
    for name, data in {
        "departments.yaml": flowkit.registry_data(),
        "campaign.yaml": flowkit.plan_data(),
        "mail.yaml": mail,
    }.items():
        (config / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    import shutil

    shutil.copytree(packaged_mail_texts(), config / "mail", dirs_exist_ok=True)
    return config


class Peaks(threading.Thread):
    """Samples the peak resident memory (VmHWM) of a process and of each of its children (the
    isolated reader, and the readers that replace one that died) while it runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.own = 0
        self.children = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.01):
            self.own = max(self.own, _hwm(self.pid))
            for child in _children(self.pid):
                self.children = max(self.children, _hwm(child))


def _hwm(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) * 1024


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def extra_cases(batch: corpus.Batch) -> list[tuple[str, bytes]]:
    """The issue's worst cases at full size."""
    laughs = b"".join(
        b'<!ENTITY l%d "%s">' % (i, (b"&l%d;" % (i - 1)) * 10 if i else b"lol" * 100)
        for i in range(10)
    )
    rels_bomb = corpus.rezip(
        batch.filled("CZJ", 900),
        {
            "xl/_rels/workbook.xml.rels": lambda x: corpus.doctype(
                laughs + b"<!-- " + b"x" * (2_600_000) + b" -->", b"Relationships"
            )(x).replace(b"<Relationships ", b"<Relationships a='&l9;' ", 1)
        },
    )
    big = corpus.stored_pad(batch.filled("CZJ", 901), 49)
    four = corpus.plain_zip({f"年报{i}.xlsx": big for i in range(4)})
    return [
        ("rels-entities-2.6MB", corpus.message(batch, "CZJ", files=[("rels.xlsx", rels_bomb)])[0]),
        ("zip-four-49MB", corpus.message(batch, "CZJ", files=[("年报.zip", four)])[0]),
    ]


def main() -> None:
    import subprocess

    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from connectors.archive import usage
    from flows.campaign import FLOWS

    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ[flowkit.SMTP_PASSWORD_ENV] = "bench"
    controller, port, kept, counted = smtp_server()
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness():
        root = Path(tmp)
        config = write_config(root, port)
        box = mailbox.Maildir(root / "office", create=True)
        data = root / "data"
        morning = flowkit.at(flowkit.START, flowkit.MORNING)
        FLOWS["dispatch"](str(config), morning, data_dir=str(data))
        messages, received = ([], 0) if "--empty" in sys.argv else build_batch(root, data, kept)
        for raw in messages:
            box.add(raw)
        del messages
        print(f"batch: {len(box)} messages, {received / MB:.1f} MB")
        archive = data / "mail"
        before = usage(archive) if archive.exists() else 0
        sent_before = counted[0]
        # The collector as an office runs it: `nianbao run collect`, a process of its own.
        evening = flowkit.at(flowkit.START + timedelta(days=1), clock(17, 30))
        env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value())
        start = time.perf_counter()
        collector = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "nianbao"),
                "run",
                "collect",
                "--config",
                str(config),
                "--data",
                str(data),
                "--as-of",
                evening.isoformat(),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        peaks = Peaks(collector.pid)
        peaks.start()
        output, _ = collector.communicate()
        seconds = time.perf_counter() - start
        peaks.stop.set()
        peaks.join()
        from annual_report.store import open_store

        with open_store(data / "nianbao.db") as store:
            sent = {
                Path(e.detail["archived"]).name
                for e in store.events("2021")
                if e.detail.get("archived")
            }
        grown = (
            sum(p.stat().st_size for p in archive.rglob("*") if p.is_file() and p.name not in sent)
            - before
        )
    controller.stop()
    print(output.decode(errors="replace").strip().splitlines()[-1])
    print(f"collect: {seconds:.1f} s, {counted[0] - sent_before} answers sent")
    print(f"{'what':<56}{'result':>12}{'target':>13}")
    rows = [
        ("collector peak RSS (nianbao run collect)", f"{peaks.own / MB:.0f} MB", "< 300 MB"),
        ("isolated reader peak RSS (worst worker)", f"{peaks.children / MB:.0f} MB", "< 300 MB"),
        ("mail received", f"{received / MB:.1f} MB", ""),
        ("archive growth (received mail; nothing expanded)", f"{grown / MB:.1f} MB", "<= received"),
    ]
    for what, result, target in rows:
        print(f"{what:<56}{result:>12}{target:>13}")
    ok = peaks.own < 300 * MB and peaks.children < 300 * MB and 0 < grown <= received
    sys.exit(0 if ok else 1)


def build_batch(root: Path, data: Path, kept: list[bytes]) -> tuple[list[bytes], int]:
    """The corpus (and the extra cases) built from the invitations the dispatch sent."""
    from email import message_from_bytes

    from annual_report.campaign.templates import write_department_template
    from annual_report.store import open_store
    from connectors.attachments import parse_message

    invitations = {}
    for raw in kept:
        parsed = parse_message(raw)
        code = message_from_bytes(raw)["X-Nianbao-Department"]
        invitations[code] = SimpleNamespace(
            subject=parsed.subject, message_id=parsed.message_id, parsed=parsed
        )
    with open_store(data / "nianbao.db") as store:
        registry = store.registry("2021")
        store.create_campaign("2020", 2020, registry=registry)
        stale = write_department_template(store, registry, "2020", "TJJ", root / "t.xlsx")
    batch = corpus.Batch(
        templates={c: inv.parsed.workbooks[0].content for c, inv in invitations.items()},
        invitations=invitations,
        stale={"TJJ": stale.read_bytes()},
        when=flowkit.at(flowkit.START + timedelta(days=1), clock(16, 30)),
    )
    messages = [c.build(batch)[0] for c in corpus.CASES]
    messages += [raw for _name, raw in extra_cases(batch)]
    return messages, sum(len(m) for m in messages)


if __name__ == "__main__":
    main()
