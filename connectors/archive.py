"""The raw-message archive: every message as received, by content hash, before anything parses it.

Layout under ``root``::

    <yyyy>/<sha256>.eml          raw messages (the year the message was first stored)
    attachments/<sha256>.<ext>   attachments stored on their own (older versions did; the
                                 collector now reads them from the message they came in, so
                                 the archive grows by the size of the mail received, no more)

Writes are atomic (temporary file in the same directory, fsync, rename), so a crash leaves either
the whole file or nothing; storing the same bytes twice returns the existing file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from annual_report.errors import ConnectorError

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_EXT = re.compile(r"^[a-z0-9]{1,8}$")


@dataclass(frozen=True)
class ArchivedMessage:
    path: Path
    sha256: str
    created: bool  # False when the same bytes were already archived
    size: int = 0  # bytes written (0 when nothing was)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MessageArchive:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def store(self, raw: bytes, *, now: datetime | None = None) -> ArchivedMessage:
        """Archive a raw message; idempotent by content hash."""
        digest = sha256_hex(raw)
        existing = self.find(digest)
        if existing is not None:
            return ArchivedMessage(existing, digest, created=False)
        year = (now or datetime.now()).year
        path = self.root / f"{year:04d}" / f"{digest}.eml"
        _write_atomic(path, raw)
        log.info("archived message %s (%d bytes)", digest[:12], len(raw))
        return ArchivedMessage(path, digest, created=True, size=len(raw))

    def find(self, sha256: str) -> Path | None:
        """The archived message with this hash, in whichever year it was first stored."""
        if not _HEX64.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        if not self.root.is_dir():
            return None
        for year_dir in sorted(self.root.iterdir()):
            candidate = year_dir / f"{sha256}.eml"
            if year_dir.name.isdigit() and candidate.is_file():
                return candidate
        return None

    def load(self, sha256: str) -> bytes:
        path = self.find(sha256)
        if path is None:
            raise ConnectorError("message not in the archive", sha256=sha256, root=str(self.root))
        return path.read_bytes()

    def store_attachment(self, content: bytes, kind: str = "bin") -> ArchivedMessage:
        """Store attachment bytes as ``attachments/<sha256>.<kind>`` (idempotent).

        ``kind`` is the detected content kind (``xlsx``, ``xls``, ...), never the sender's file
        name: names are data, not paths.
        """
        ext = kind.lower() if _EXT.match(kind.lower()) else "bin"
        digest = sha256_hex(content)
        path = self.root / "attachments" / f"{digest}.{ext}"
        if path.is_file():
            return ArchivedMessage(path, digest, created=False)
        _write_atomic(path, content)
        return ArchivedMessage(path, digest, created=True, size=len(content))


def usage(root: str | Path) -> int:
    """Bytes of every file under an archive root (for the benchmark and the coordinator)."""
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise ConnectorError(f"cannot write to the archive: {exc}", path=str(path)) from exc
