"""A local post office for the demo: an SMTP server (aiosmtpd) delivering into Maildirs.

Every recipient address gets a Maildir under ``root``; the office reads its own with the same
``MaildirMailbox`` a city could point at its real mail spool, and the simulated departments
read theirs. Real SMTP on loopback, real files: nothing is faked.
"""

from __future__ import annotations

import mailbox
import socket
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def maildir_path(root: Path, address: str) -> Path:
    return root / address.lower().replace("@", "_at_")


@dataclass
class _Delivery:
    root: Path
    delivered: int = 0
    recipients: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        for rcpt in envelope.rcpt_tos:
            box = mailbox.Maildir(maildir_path(self.root, rcpt), create=True)
            box.add(raw)
            self.delivered += 1
            self.recipients.append(rcpt.lower())
        return "250 OK delivered"


class PostOffice:
    """``with PostOffice(root) as po:`` an SMTP server on ``po.port`` delivering to Maildirs."""

    def __init__(self, root: str | Path, port: int | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.handler = _Delivery(self.root)
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> PostOffice:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def maildir(self, address: str) -> Path:
        path = maildir_path(self.root, address)
        mailbox.Maildir(path, create=True)
        return path

    def inbox(self, address: str) -> list[bytes]:
        """Every message delivered to ``address`` so far, oldest first."""
        box = mailbox.Maildir(self.maildir(address), create=True)
        return [box.get_bytes(key) for key in sorted(box.keys())]  # keys start with the time
