"""Incoming mail behind one small interface: IMAP (imap-tools), a local Maildir, a drop folder.

Every reader yields :class:`IncomingMessage` objects with a stable ``key`` and the raw bytes, and
a ``cursor`` (a small JSON-able dict) to persist once that message is safely archived and
recorded; the next ``fetch_new(cursor)`` returns only what came after. ``mark_processed(key)``
then flags / moves the message; nothing is ever deleted.

Keys: ``imap:<uidvalidity>:<uid>``, ``maildir:<maildir key>``, ``drop:<sha256 of the file>``.

Sizes are known before a message is read (IMAP ``RFC822.SIZE``, the file's size): a message over
:data:`MAX_MESSAGE_BYTES` is not fetched, only its header (``oversized``); it stays in the
mailbox, where the coordinator is told to find it. IMAP fetches in batches bounded by bytes as
well as by count. :func:`receive` archives within an :class:`ArchiveBudget` per run: once it is
spent, the rest waits in the mailbox for the next run.

IMAP facts this relies on: the folder is opened read-only (EXAMINE) for fetching and messages are
fetched with ``BODY.PEEK[]`` so ``\\Seen`` stays as the people reading the mailbox left it;
``UID n:*`` returns the highest message even when nothing is newer, so UIDs are filtered
``> last_uid``; when the folder's UIDVALIDITY changes the UIDs mean other messages, so reading
restarts from 0 (the store recognises messages it already has by content hash).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import imaplib
import logging
import mailbox as stdlib_mailbox
import mimetypes
import os
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from annual_report.errors import MailFetchError
from connectors.archive import ArchivedMessage, MessageArchive, sha256_hex
from connectors.attachments import ParsedMessage, Problem, parse_message
from connectors.outgoing import OutgoingAttachment, OutgoingMail, render_message
from connectors.settings import ImapSettings, MailSettings

if TYPE_CHECKING:
    from imap_tools import BaseMailBox, MailMessage

log = logging.getLogger(__name__)


# A message up to this size is fetched and taken apart: 14 MB of attachments in base64. The
# stdlib parser needs about four times a message's size at its peak; with this limit the
# collector stays under 300 MB whatever arrives (bench/hostile.py).
MAX_MESSAGE_BYTES = 20 * 1024 * 1024
FETCH_BATCH_BYTES = 40 * 1024 * 1024  # one IMAP FETCH of several messages holds at most this
RUN_ARCHIVE_BYTES = 1024 * 1024 * 1024  # archived per run; the rest waits for the next one
_HEADER_BYTES = 256 * 1024  # what is read of an oversized message: its header


@dataclass(frozen=True)
class IncomingMessage:
    key: str
    raw: bytes = field(repr=False)  # the message; only its header when ``oversized``
    source: str  # "imap" | "maildir" | "drop"
    cursor: Mapping[str, Any]  # persist after this message is archived and recorded
    received_at: datetime | None = None
    flags: tuple[str, ...] = ()
    file_name: str | None = None  # drop folder: the file as the coordinator named it
    size: int = 0  # bytes of the whole message (as the mailbox reports it)
    oversized: bool = False  # over MAX_MESSAGE_BYTES: left in the mailbox, not fetched


class Mailbox(Protocol):
    def fetch_new(self, cursor: Mapping[str, Any] | None = None) -> Iterator[IncomingMessage]:
        """Messages after ``cursor`` (None or {}: from the start), oldest first."""
        ...

    def mark_processed(self, key: str) -> None:
        """Flag or move a message once it is archived and recorded. Never deletes."""
        ...


def mailboxes(settings: MailSettings, *, imap_password: str | None = None) -> dict[str, Mailbox]:
    """The configured readers by name (``imap``, ``maildir``, ``drop``); keep one cursor per name.

    Close the ``imap`` one when done (``ImapMailbox.close`` or ``with``).
    """
    found: dict[str, Mailbox] = {}
    if settings.imap is not None:
        found["imap"] = ImapMailbox(settings.imap, imap_password)
    if settings.maildir is not None:
        found["maildir"] = MaildirMailbox(settings.maildir)
    if settings.drop_dir is not None:
        found["drop"] = DropFolder(settings.drop_dir)
    return found


# -- archive first, then parse ---------------------------------------------------------------


@dataclass
class ArchiveBudget:
    """Bytes the archive may grow by in one run (messages archived for the first time)."""

    limit: int = RUN_ARCHIVE_BYTES
    used: int = 0
    stopped: bool = False  # a message was left for the next run because of it

    def allows(self, size: int) -> bool:
        return self.used + size <= self.limit


@dataclass(frozen=True)
class Received:
    incoming: IncomingMessage
    archived: ArchivedMessage | None  # None: too large, left in the mailbox
    parsed: ParsedMessage | None  # None when parsing failed (see error)
    error: str | None = None

    @property
    def sha256(self) -> str:
        """The archived message's hash (an oversized message's: of the header read)."""
        return self.archived.sha256 if self.archived else sha256_hex(self.incoming.raw)


def too_large(size: int) -> Problem:
    """Why a message over :data:`MAX_MESSAGE_BYTES` is not taken apart."""
    return Problem(
        "too-large",
        f"message of {size:,} bytes, over the {MAX_MESSAGE_BYTES:,}-byte limit: left in the "
        "mailbox, not fetched",
        f"邮件过大（{size / 1048576:.0f} MB），超过{MAX_MESSAGE_BYTES // 1048576} MB的上限，"
        "系统没有读取。请只附上年度报告表格（不要附图片、扫描件或压缩包），重新发送。",
    )


def receive(
    box: Mailbox,
    archive: MessageArchive,
    cursor: Mapping[str, Any] | None = None,
    *,
    budget: ArchiveBudget | None = None,
) -> Iterator[Received]:
    """Fetch, archive each raw message *before* anything parses it, then parse.

    A message that breaks the parser is still archived and yielded with ``error`` set, so the
    caller can tell the coordinator and go on with the batch. An oversized message is yielded
    with its header parsed and ``refusal`` set, unarchived (it stays in the mailbox). When the
    ``budget`` would be overspent the iteration ends (``budget.stopped``).
    """
    budget = budget if budget is not None else ArchiveBudget()
    for incoming in box.fetch_new(cursor):
        if incoming.oversized:
            parsed = parse_message(incoming.raw)
            refused = dataclasses.replace(parsed, attachments=(), refusal=too_large(incoming.size))
            yield Received(incoming, None, refused)
            continue
        if not budget.allows(len(incoming.raw)):
            log.warning("archive budget of this run spent; %s waits for the next", incoming.key)
            budget.stopped = True
            return
        archived = archive.store(incoming.raw, now=incoming.received_at)
        budget.used += archived.size
        try:
            parsed = parse_message(incoming.raw)
        except Exception as exc:  # a parser bug must not stop the batch
            log.exception("message %s (%s) cannot be parsed", incoming.key, archived.sha256[:12])
            yield Received(incoming, archived, None, f"{type(exc).__name__}: {exc}")
            continue
        yield Received(incoming, archived, parsed)


# -- IMAP ------------------------------------------------------------------------------------


@functools.cache
def _raw_message_class() -> type[MailMessage]:
    from imap_tools import MailMessage

    class RawMailMessage(MailMessage):
        """Keeps the fetched bytes exactly; skips imap-tools' own parsing (we parse later)."""

        def __init__(self, fetch_data: list) -> None:
            raw, uid_data, flag_data = self._get_message_data_parts(fetch_data)
            self._raw_uid_data = uid_data
            self._raw_flag_data = flag_data
            self.raw = raw

    return RawMailMessage


class ImapMailbox:
    """One IMAP folder, read incrementally by UID. Use as a context manager or call close()."""

    def __init__(self, settings: ImapSettings, password: str | None = None) -> None:
        self.settings = settings
        self._password = password if password is not None else settings.resolve_password()
        self._box: Any = None
        self._readonly: bool | None = None
        self._validity: int | None = None
        self._processed_folder_ready = False
        self._sizes: dict[int, int] = {}

    def __repr__(self) -> str:
        s = self.settings
        return f"ImapMailbox({s.security}://{s.user}@{s.host}:{s.port}/{s.folder})"

    def __enter__(self) -> ImapMailbox:
        self._connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, what: str, exc: BaseException | None = None) -> MailFetchError:
        """The one choke point from imaplib / imap-tools / socket errors (never the password).

        The connection is dropped: the next call starts a fresh one.
        """
        self._discard()
        s = self.settings
        detail = f": {type(exc).__name__}: {exc}" if exc is not None else ""
        return MailFetchError(
            f"IMAP {what} failed{detail}", host=f"{s.host}:{s.port}", user=s.user, folder=s.folder
        )

    def _connect(self) -> Any:
        if self._box is not None:
            return self._box
        if not self._password:
            raise MailFetchError(
                f"no IMAP password: set {self.settings.password_env} or pass one",
                host=self.settings.host,
                user=self.settings.user,
            )
        from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted

        s = self.settings
        box: BaseMailBox
        try:
            if s.security == "ssl":
                box = MailBox(s.host, s.port, timeout=s.timeout, ssl_context=self._tls_context())
            elif s.security == "starttls":
                box = MailBoxStartTls(
                    s.host, s.port, timeout=s.timeout, ssl_context=self._tls_context()
                )
            else:
                box = MailBoxUnencrypted(s.host, s.port, timeout=s.timeout)
        except Exception as exc:
            raise self._error("connect", exc) from None
        try:
            box.login(s.user, self._password, initial_folder=None)
        except Exception as exc:
            with contextlib.suppress(Exception):
                box.client.shutdown()
            raise self._error("login", exc) from None
        box.email_message_class = _raw_message_class()
        # imaplib keeps the capabilities announced before login; servers announce more after
        # it (dovecot: MOVE, UIDPLUS), so ask again.
        with contextlib.suppress(Exception):
            typ, data = box.client.capability()
            if typ == "OK" and data and data[-1]:
                box.client.capabilities = tuple(data[-1].decode().upper().split())
        self._box = box
        self._readonly = None
        log.info("IMAP connected to %s:%s as %s", s.host, s.port, s.user)
        return box

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if not self.settings.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def close(self) -> None:
        box, self._box = self._box, None
        if box is None:
            return
        with contextlib.suppress(Exception):  # the server may already be gone
            box.logout()
        with contextlib.suppress(Exception):
            box.client.shutdown()

    def _discard(self) -> None:
        box, self._box = self._box, None
        self._readonly = None
        if box is not None:
            with contextlib.suppress(Exception):
                box.client.shutdown()

    def _select(self, readonly: bool) -> None:
        if self._readonly == readonly:
            return
        box = self._connect()
        box.folder.set(self.settings.folder, readonly=readonly)
        self._readonly = readonly
        _, data = box.client.response("UIDVALIDITY")
        if data and data[0]:
            self._validity = int(data[0])
        else:  # servers must send it; ask explicitly if this one did not
            status = box.folder.status(self.settings.folder, ["UIDVALIDITY"])
            self._validity = int(status["UIDVALIDITY"])

    def fetch_new(self, cursor: Mapping[str, Any] | None = None) -> Iterator[IncomingMessage]:
        s = self.settings
        cursor = cursor or {}
        try:
            self._select(readonly=True)
            validity = self._validity
            last = int(cursor.get("last_uid", 0))
            if cursor.get("folder", s.folder) != s.folder or cursor.get("uidvalidity") != validity:
                if cursor:
                    log.warning(
                        "IMAP folder %s: UIDVALIDITY %s → %s, reading it again from the start",
                        s.folder,
                        cursor.get("uidvalidity"),
                        validity,
                    )
                last = 0
            criteria = f"UID {last + 1}:*"
            if s.since:
                criteria += f" SINCE {s.since.strftime('%d-%b-%Y')}"
            uids = sorted(u for u in map(int, self._box.uids(criteria)) if u > last)
        except MailFetchError:
            raise
        except Exception as exc:
            raise self._error("search", exc) from None
        log.info("IMAP %s: %d new message(s) after UID %d", s.folder, len(uids), last)
        for batch, oversized in self._batches(uids):
            try:
                self._select(readonly=True)
                if oversized:
                    fetched = [self._header(uid) for uid in batch]
                else:
                    chunk = [str(u) for u in batch]
                    found = self._box.fetch(uid_list=chunk, mark_seen=False, bulk=True)
                    fetched = [(int(m.uid), m.raw, tuple(m.flags)) for m in found]
            except MailFetchError:
                raise
            except Exception as exc:
                raise self._error("fetch", exc) from None
            for uid, raw, flags in sorted(fetched, key=lambda m: m[0]):
                yield IncomingMessage(
                    key=f"imap:{validity}:{uid}",
                    raw=raw,
                    source="imap",
                    cursor={"folder": s.folder, "uidvalidity": validity, "last_uid": uid},
                    flags=flags,
                    size=self._sizes.get(uid, len(raw)),
                    oversized=oversized,
                )

    def _batches(self, uids: list[int]) -> Iterator[tuple[list[int], bool]]:
        """UIDs in FETCH batches bounded by count and bytes; oversized ones on their own."""
        self._sizes = self._fetch_sizes(uids)
        batch: list[int] = []
        held = 0
        for uid in uids:
            size = self._sizes.get(uid, 0)
            if size > MAX_MESSAGE_BYTES:
                if batch:
                    yield batch, False
                    batch, held = [], 0
                yield [uid], True
                continue
            if batch and (len(batch) >= self.settings.bulk or held + size > FETCH_BATCH_BYTES):
                yield batch, False
                batch, held = [], 0
            batch.append(uid)
            held += size
        if batch:
            yield batch, False

    def _fetch_sizes(self, uids: list[int]) -> dict[int, int]:
        sizes: dict[int, int] = {}
        client = self._box.client
        for start in range(0, len(uids), 500):
            chunk = ",".join(str(u) for u in uids[start : start + 500])
            try:
                typ, data = client.uid("FETCH", chunk, "(RFC822.SIZE)")
            except Exception as exc:
                raise self._error("size", exc) from None
            for item in data if typ == "OK" else []:
                line = item[0] if isinstance(item, tuple) else item
                if not isinstance(line, bytes):
                    continue
                uid, size = _UID.search(line), _SIZE.search(line)
                if uid and size:
                    sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    def _header(self, uid: int) -> tuple[int, bytes, tuple[str, ...]]:
        """Only the header of a message too large to fetch."""
        _typ, data = self._box.client.uid("FETCH", str(uid), "(BODY.PEEK[HEADER])")
        header = next((item[1] for item in data if isinstance(item, tuple) and len(item) > 1), b"")
        return uid, bytes(header)[:_HEADER_BYTES], ()

    def mark_processed(self, key: str) -> None:
        s = self.settings
        match = re.fullmatch(r"imap:(\d+):(\d+)", key)
        if match is None:
            raise ValueError(f"not an IMAP message key: {key!r}")
        validity, uid = int(match.group(1)), match.group(2)
        try:
            self._select(readonly=False)
            if validity != self._validity:
                log.warning("IMAP %s: %s is from an older UIDVALIDITY; not marked", s.folder, key)
                return
            client = self._box.client
            if s.processed_flag:
                # A plain UID STORE: imap-tools' flag() also EXPUNGEs, which would remove
                # messages someone else marked \Deleted.
                typ, data = client.uid("STORE", uid, "+FLAGS", f"({s.processed_flag})")
                if typ != "OK":
                    raise imaplib.IMAP4.error(f"STORE {typ} {data!r}")
            if s.processed_folder:
                self._move(uid, s.processed_folder)
        except MailFetchError:
            raise
        except Exception as exc:
            raise self._error(f"mark {key} processed", exc) from None

    def _move(self, uid: str, folder: str) -> None:
        from imap_tools.utils import encode_folder

        box = self._box
        if not self._processed_folder_ready:
            if not box.folder.exists(folder):
                box.folder.create(folder)
            self._processed_folder_ready = True
        client = box.client
        target = encode_folder(folder)
        if "MOVE" in client.capabilities:
            typ, data = client.uid("MOVE", uid, target)
        else:
            typ, data = client.uid("COPY", uid, target)
            if typ == "OK" and "UIDPLUS" in client.capabilities:
                client.uid("STORE", uid, "+FLAGS", r"(\Deleted)")
                typ, data = client.uid("EXPUNGE", uid)  # only this UID, never others
            elif typ == "OK":
                log.warning("IMAP server lacks MOVE and UIDPLUS: copied %s, original kept", uid)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"MOVE {typ} {data!r}")


_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


def _read_header(path: Path) -> bytes:
    """The header of a message file, read no further than it goes (or :data:`_HEADER_BYTES`)."""
    with open(path, "rb") as fh:
        head = fh.read(_HEADER_BYTES)
    for blank in (b"\r\n\r\n", b"\n\n"):
        end = head.find(blank)
        if end >= 0:
            return head[: end + len(blank)]
    return head


# -- Maildir ---------------------------------------------------------------------------------


class MaildirMailbox:
    """A local Maildir (e.g. one a mail server delivers to). Cursor: the keys already seen.

    ``mark_processed`` renames the file into ``cur/`` with the ``S`` flag (the Maildir way of
    marking a message read), or into the Maildir++ folder ``processed_folder`` when given.
    """

    def __init__(self, path: str | Path, *, processed_folder: str | None = None) -> None:
        self.path = Path(path)
        self.processed_folder = processed_folder

    def __repr__(self) -> str:
        return f"MaildirMailbox({str(self.path)!r})"

    def _open(self) -> stdlib_mailbox.Maildir:
        if not (self.path / "cur").is_dir() or not (self.path / "new").is_dir():
            raise MailFetchError("not a Maildir", path=str(self.path))
        return stdlib_mailbox.Maildir(self.path, factory=None, create=False)

    def fetch_new(self, cursor: Mapping[str, Any] | None = None) -> Iterator[IncomingMessage]:
        md = self._open()
        try:
            keys = sorted(md.keys())
        except OSError as exc:
            raise MailFetchError(f"cannot list the Maildir: {exc}", path=str(self.path)) from None
        seen = set((cursor or {}).get("seen", ())) & set(keys)  # forget keys no longer here
        files = self._files()
        for key in keys:
            if key in seen:
                continue
            path = files.get(key)
            try:
                size = path.stat().st_size if path else 0
                oversized = size > MAX_MESSAGE_BYTES
                raw = _read_header(path) if oversized and path else md.get_bytes(key)
            except (KeyError, OSError):
                continue  # moved away meanwhile
            seen.add(key)
            yield IncomingMessage(
                key=f"maildir:{key}",
                raw=raw,
                source="maildir",
                cursor={"seen": sorted(seen)},
                received_at=_mtime(path) if path else None,
                flags=tuple(_maildir_flags(path.name)) if path else (),
                size=size or len(raw),
                oversized=oversized,
            )

    def _files(self) -> dict[str, Path]:
        """Every message file by its key, from one listing of ``new`` and ``cur``."""
        found: dict[str, Path] = {}
        for sub in ("new", "cur"):
            folder = self.path / sub
            with contextlib.suppress(OSError):
                for name in os.listdir(folder):
                    found.setdefault(name.split(":", 1)[0], folder / name)
        return found

    def _file(self, key: str) -> Path | None:
        for sub in ("new", "cur"):
            folder = self.path / sub
            for name in os.listdir(folder):
                if name.split(":", 1)[0] == key:
                    return folder / name
        return None

    def mark_processed(self, key: str) -> None:
        if not key.startswith("maildir:"):
            raise ValueError(f"not a Maildir message key: {key!r}")
        bare = key.removeprefix("maildir:")
        path = self._file(bare)
        if path is None:
            log.warning("Maildir %s: %s is gone; not marked", self.path, key)
            return
        flags = set(_maildir_flags(path.name)) | {"S"}
        name = f"{bare}:2,{''.join(sorted(flags))}"
        if self.processed_folder:
            target = self.path / f".{self.processed_folder}"
            for sub in ("cur", "new", "tmp"):
                (target / sub).mkdir(parents=True, exist_ok=True)
            (target / "maildirfolder").touch()
        else:
            target = self.path
        try:
            os.rename(path, target / "cur" / name)
        except OSError as exc:
            raise MailFetchError(f"cannot mark {key}: {exc}", path=str(self.path)) from None


def _maildir_flags(name: str) -> str:
    _, _, info = name.partition(":")
    return info[2:] if info.startswith("2,") else ""


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


# -- drop folder -----------------------------------------------------------------------------

_SKIP = re.compile(r"^(\.|~\$|~|\.~lock\.)|\.(tmp|part|crdownload|partial)$", re.I)
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:[ \t]")
_MESSAGE_HEADER = re.compile(
    rb"^(From|Subject|Date|Received|Message-ID|MIME-Version):", re.M | re.I
)
DROP_SENDER = "drop-folder@nianbao.invalid"


class DropFolder:
    """A directory where the coordinator drops files received another way (USB stick, WeChat).

    Each file becomes one message: an ``.eml`` file as it is; any other file (a workbook) wrapped
    in a small deterministic message from ``drop-folder@nianbao.invalid`` with the file attached,
    so everything downstream handles one format. Never answer that sender: the department is
    found from the workbook's token. Files modified less than ``settle_seconds`` ago are left
    for the next run (they may still be copying). Processed files move to ``processed/``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        processed_dir: str = "processed",
        settle_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.processed = self.path / processed_dir
        self.settle_seconds = settle_seconds
        self._clock = clock
        self._paths: dict[str, list[Path]] = {}

    def __repr__(self) -> str:
        return f"DropFolder({str(self.path)!r})"

    def _files(self) -> Iterator[tuple[Path, bytes, str]]:
        """``(path, bytes, sha256)``; a file over the size limit is not read (``b""``; its hash
        is of its name, size and time)."""
        if not self.path.is_dir():
            raise MailFetchError("drop folder does not exist", path=str(self.path))
        now = self._clock()
        for path in sorted(self.path.iterdir(), key=lambda p: (p.stat().st_mtime, p.name)):
            if not path.is_file() or path.is_symlink() or _SKIP.search(path.name):
                continue
            if now - path.stat().st_mtime < self.settle_seconds:
                log.info("drop folder: %s is recent, left for the next run", path.name)
                continue
            try:
                stat = path.stat()
                if stat.st_size > MAX_MESSAGE_BYTES:
                    mark = f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()
                    yield path, b"", hashlib.sha256(mark).hexdigest()
                    continue
                data = path.read_bytes()
            except OSError as exc:
                log.warning("drop folder: cannot read %s: %s", path.name, exc)
                continue
            yield path, data, hashlib.sha256(data).hexdigest()

    def fetch_new(self, cursor: Mapping[str, Any] | None = None) -> Iterator[IncomingMessage]:
        seen = set((cursor or {}).get("seen", ()))
        self._paths = {}
        files = list(self._files())
        present = {digest for _, _, digest in files}
        seen &= present  # processed files moved away need not be remembered
        for path, data, digest in files:
            key = f"drop:{digest}"
            self._paths.setdefault(key, []).append(path)
            if digest in seen:
                continue
            seen.add(digest)
            received = _mtime(path)
            size = path.stat().st_size if not data else len(data)
            if size > MAX_MESSAGE_BYTES:  # not read: a note of it stands in for it
                yield IncomingMessage(
                    key=key,
                    raw=wrap_file(path.name, b"", received, digest),
                    source="drop",
                    cursor={"seen": sorted(seen)},
                    received_at=received,
                    file_name=path.name,
                    size=size,
                    oversized=True,
                )
                continue
            head = data[:4000]
            is_message = path.suffix.lower() == ".eml" or (
                bool(_HEADER_LINE.match(head)) and bool(_MESSAGE_HEADER.search(head))
            )
            yield IncomingMessage(
                key=key,
                raw=data if is_message else wrap_file(path.name, data, received, digest),
                source="drop",
                cursor={"seen": sorted(seen)},
                received_at=received,
                file_name=path.name,
                size=size,
            )

    def mark_processed(self, key: str) -> None:
        if not key.startswith("drop:"):
            raise ValueError(f"not a drop-folder key: {key!r}")
        paths = self._paths.get(key)
        if paths is None:  # not fetched in this session: look again
            digest = key.removeprefix("drop:")
            paths = [p for p, _, d in self._files() if d == digest]
        self.processed.mkdir(exist_ok=True)
        for path in paths:
            target = self.processed / path.name
            if target.exists():
                target = self.processed / f"{path.stem}-{key[5:17]}{path.suffix}"
            try:
                os.replace(path, target)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MailFetchError(f"cannot move {path.name}: {exc}", path=str(path)) from None
        self._paths.pop(key, None)


def wrap_file(name: str, data: bytes, received: datetime, digest: str) -> bytes:
    """A dropped file as a message with one attachment (deterministic for a given file)."""
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    mail = OutgoingMail(
        to=(DROP_SENDER,),
        subject=f"投递目录文件：{name}",
        text=f"协调人通过其他渠道（U盘、微信等）收到并放入投递目录的文件：{name}\n",
        attachments=(OutgoingAttachment(name, data, mime),),
        message_id=f"<drop.{digest[:32]}@nianbao.invalid>",
        auto_submitted=None,
        headers={"X-Nianbao-Source": "drop-folder", "X-Nianbao-Drop-File": name},
    )
    return render_message(
        mail,
        sender=DROP_SENDER,
        sender_name="投递目录",
        date=received,
        boundary=f"drop-{digest[:24]}",
    )
