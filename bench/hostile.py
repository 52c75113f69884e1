"""Benchmark: the collector's memory and archive under a hostile batch, through the path a user
runs — the real ``dispatch`` and ``collect`` flows (Prefect), a local Maildir as the office
mailbox, SMTP to a local aiosmtpd, the SQLite store, the isolated reader.

The batch is the hostile corpus of ``tests/hostile/corpus.py`` (bombs, entity expansion, far
cells, locked and wrong files, broken MIME, 3,000-level nesting, spoofed identities, a 33 MB
message …) plus the issue's own worst cases at full size: a 2.6 MB ``workbook.xml.rels`` of
entity expansion, a zip of four 49 MB workbooks, and valid replies around them.

Run by hand: ``.venv/bin/python bench/hostile.py``. Prints the collector's peak resident memory
(this process, where the flow runs, and the isolated reader), the time, and how much the
archive grew against the bytes received. Targets (issue 8): peak RSS < 300 MB; archive growth
<= the size of the mail received.
"""

from __future__ import annotations

import mailbox
import os
import resource
import sys
import tempfile
import threading
import time
from datetime import time as clock
from datetime import timedelta
from pathlib import Path

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
    from flows.demo.city import packaged_mail_texts

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


class WorkerPeak(threading.Thread):
    """Samples the isolated reader's peak resident memory (VmHWM) while the flow runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        from annual_report.sandbox import default_sandbox

        while not self.stop.wait(0.02):
            proc = default_sandbox()._proc
            if proc is None:
                continue
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)


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
        FLOWS["dispatch"](
            str(config), flowkit.at(flowkit.START, flowkit.MORNING), data_dir=str(data)
        )
        from email import message_from_bytes

        from connectors.attachments import parse_message

        invitations = {}
        for raw in kept:
            parsed = parse_message(raw)
            code = message_from_bytes(raw)["X-Nianbao-Department"]
            invitations[code] = type(
                "Sent", (), {"subject": parsed.subject, "message_id": parsed.message_id}
            )()
            invitations[code].parsed = parsed
        from annual_report.campaign import write_department_template
        from annual_report.store import Store

        with Store(data / "nianbao.db") as store:
            registry = store.registry("2021")
            store.create_campaign("2020", 2020, registry=registry)
            stale = write_department_template(store, registry, "2020", "TJJ", root / "t.xlsx")
        batch = corpus.Batch(
            templates={c: inv.parsed.workbooks[0].content for c, inv in invitations.items()},
            invitations=invitations,
            stale={"TJJ": stale.read_bytes()},
            when=flowkit.at(flowkit.START + timedelta(days=1), clock(16, 30)),
        )
        built = time.perf_counter()
        messages = [(c.name, c.build(batch)[0]) for c in corpus.CASES] + extra_cases(batch)
        received = 0
        for _name, raw in messages:
            box.add(raw)
            received += len(raw)
        print(
            f"batch: {len(messages)} messages, {received / MB:.1f} MB "
            f"(built in {time.perf_counter() - built:.0f} s)"
        )
        archive = data / "mail"
        before = usage(archive) if archive.exists() else 0
        sent_before = counted[0]
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        peak = WorkerPeak()
        peak.start()
        start = time.perf_counter()
        state = FLOWS["collect"](
            str(config),
            flowkit.at(flowkit.START + timedelta(days=1), clock(17, 30)),
            data_dir=str(data),
            return_state=True,
        )
        seconds = time.perf_counter() - start
        peak.stop.set()
        peak.join()
        collector = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        crashed = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        with Store(data / "nianbao.db") as store:
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
    worker = max(peak.peak, crashed)
    print(f"collect: {state.name} in {seconds:.1f} s, {counted[0] - sent_before} answers sent")
    print(f"{'what':<52}{'result':>14}{'target':>12}")
    rows = [
        (
            "collector peak RSS (this process: flow, mail, store)",
            f"{collector / MB:.0f} MB",
            "< 300 MB",
        ),
        ("  of which before collect (Prefect, imports, dispatch)", f"{baseline / MB:.0f} MB", ""),
        ("isolated reader peak RSS (worst worker)", f"{worker / MB:.0f} MB", "< 300 MB"),
        ("mail received", f"{received / MB:.1f} MB", ""),
        (
            "archive growth (received messages; no extracted file)",
            f"{grown / MB:.1f} MB",
            "<= received",
        ),
    ]
    for what, result, target in rows:
        print(f"{what:<52}{result:>14}{target:>12}")
    ok = collector < 300 * MB and worker < 300 * MB and grown <= received
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
