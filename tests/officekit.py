"""An office runtime for fast tests: the demo city's configuration, a real SQLite store and
archive, and an in-memory sender injected in place of SMTP (the real SMTP path is in the mail
and flow tests)."""

from pathlib import Path

from connectors.outgoing import MailSender, RecordingSender
from demo import city
from office.campaign import open_campaign
from office.runtime import Runtime
from office.settings import load_app_config


def recording_runtime(root: Path, sender: MailSender | None = None) -> Runtime:
    """The demo city's office under ``root``, its mail going to ``sender`` (default a new
    ``RecordingSender``: what was sent is ``rt.sender.sent``)."""
    config_dir = city.write_config(
        root / "config",
        report_year=2021,
        smtp_port=2525,  # never used: mail goes to the sender given
        maildir=root / "office",
        archive=root / "archive",
    )
    config = load_app_config(config_dir, root / "data")
    runtime = Runtime.open(config, sender=sender or RecordingSender())
    open_campaign(runtime)
    return runtime
