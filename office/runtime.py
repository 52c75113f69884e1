"""What every unit of work needs, opened once per flow run or command: the configuration, the
store, the message archive, the mail texts, and the two connectors, the sender and the
mailboxes.

The connectors are constructor arguments (as httpx takes ``transport=``): by default they are
built from mail.yaml, SMTP and the configured mailboxes; tests pass a ``RecordingSender`` or
other mailboxes instead of subclassing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from annual_report.store import open_store
from annual_report.store.base import Store
from connectors.archive import MessageArchive
from connectors.mailbox import ArchiveBudget, Mailbox
from connectors.mailbox import mailboxes as configured_mailboxes
from connectors.mailtext import MailTexts
from connectors.outgoing import MailSender, SmtpSender
from office.settings import AppConfig


class Runtime:
    """A plain class on purpose: Prefect walks dataclasses and models given to tasks as inputs,
    and there is nothing to find in here.

    ``sender``: where mail goes; default SMTP as mail.yaml says, built on first use (with
    ``smtp_password``), so commands that send nothing need no password. ``mailboxes``: the
    readers by name (``imap``, ``maildir``, ``drop``; one cursor per name); default those of
    mail.yaml (with ``imap_password``).
    """

    def __init__(
        self,
        config: AppConfig,
        store: Store,
        archive: MessageArchive,
        texts: MailTexts,
        *,
        sender: MailSender | None = None,
        mailboxes: Mapping[str, Mailbox] | None = None,
        smtp_password: str | None = None,
        imap_password: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.archive = archive
        self.texts = texts
        self._sender = sender
        self._smtp_password = smtp_password
        self.mailboxes: dict[str, Mailbox] = (
            dict(mailboxes)
            if mailboxes is not None
            else configured_mailboxes(config.mail, imap_password=imap_password)
        )
        self.archive_budget = ArchiveBudget()  # what this run may add to the archive

    def __repr__(self) -> str:
        return f"Runtime(campaign={self.campaign_id!r}, store={self.store!r})"

    @classmethod
    def open(
        cls,
        config: AppConfig,
        *,
        sender: MailSender | None = None,
        mailboxes: Mapping[str, Mailbox] | None = None,
        smtp_password: str | None = None,
        imap_password: str | None = None,
        as_of: datetime | None = None,
    ) -> Runtime:
        """The store, archive and texts of ``config``. ``as_of`` (a replay) also becomes the
        store's clock, so what the run records is stamped with the moment it stands for."""
        return cls(
            config,
            store=open_store(config.database, clock=(lambda: as_of) if as_of else None),
            archive=MessageArchive(config.mail.archive_dir),
            texts=MailTexts.from_settings(config.mail),
            sender=sender,
            mailboxes=mailboxes,
            smtp_password=smtp_password,
            imap_password=imap_password,
        )

    @property
    def campaign_id(self) -> str:
        return self.config.plan.id

    @property
    def sender(self) -> MailSender:
        if self._sender is None:
            self._sender = SmtpSender(
                self.config.mail.smtp, self._smtp_password, archive=self.archive
            )
        return self._sender

    @sender.setter
    def sender(self, sender: MailSender) -> None:
        self._sender = sender

    def close(self) -> None:
        for box in self.mailboxes.values():
            close = getattr(box, "close", None)
            if close is not None:
                close()
        self.store.close()
