"""An office runtime for fast tests: the demo city's configuration, a real SQLite store and
archive, and an in-memory sender (the real SMTP path is in the mail and flow tests)."""

from pathlib import Path

from connectors.outgoing import RecordingSender
from demo import city
from office import operations as ops
from office.settings import load_app_config


class RecordingRuntime(ops.Runtime):
    outbox: RecordingSender

    def sender(self) -> RecordingSender:
        return self.outbox


def recording_runtime(root: Path, outbox: RecordingSender | None = None) -> RecordingRuntime:
    config_dir = city.write_config(
        root / "config",
        report_year=2021,
        smtp_port=2525,  # never used: mail goes to the outbox
        maildir=root / "office",
        archive=root / "archive",
    )
    base = ops.Runtime.open(load_app_config(config_dir, root / "data"))
    runtime = RecordingRuntime(base.config, base.store, base.archive, base.texts)
    runtime.outbox = outbox or RecordingSender()
    ops.open_campaign(runtime)
    return runtime
