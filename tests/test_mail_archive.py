import hashlib
from datetime import datetime

import pytest

from annual_report.errors import ConnectorError
from connectors.archive import MessageArchive

RAW = b"Subject: x\r\n\r\nbody\r\n"


def test_store_writes_by_year_and_hash(tmp_path):
    archive = MessageArchive(tmp_path)
    stored = archive.store(RAW, now=datetime(2022, 1, 5))
    digest = hashlib.sha256(RAW).hexdigest()
    assert stored.created and stored.sha256 == digest
    assert stored.path == tmp_path / "2022" / f"{digest}.eml"
    assert stored.path.read_bytes() == RAW
    assert archive.load(digest) == RAW
    assert [p.name for p in stored.path.parent.iterdir()] == [f"{digest}.eml"]  # no temp left


def test_store_is_idempotent_across_years(tmp_path):
    archive = MessageArchive(tmp_path)
    first = archive.store(RAW, now=datetime(2022, 1, 31))
    again = archive.store(RAW, now=datetime(2023, 1, 2))
    assert not again.created and again.path == first.path
    assert not (tmp_path / "2023").exists()


def test_attachments_by_hash_with_the_detected_kind(tmp_path):
    archive = MessageArchive(tmp_path)
    data = b"PK\x03\x04data"
    a = archive.store_attachment(data, "xlsx")
    b = archive.store_attachment(data, "xlsx")
    assert a.created and not b.created and a.path == b.path
    assert a.path.name == f"{hashlib.sha256(data).hexdigest()}.xlsx"
    assert archive.store_attachment(b"x", "../../etc").path.suffix == ".bin"


def test_unknown_and_malformed_hashes(tmp_path):
    archive = MessageArchive(tmp_path)
    with pytest.raises(ConnectorError, match="not in the archive"):
        archive.load("0" * 64)
    with pytest.raises(ValueError):
        archive.find("../x")


def test_an_unwritable_archive_is_a_connector_error(tmp_path):
    (tmp_path / "a").write_text("a file where the archive should be")
    with pytest.raises(ConnectorError, match="cannot write"):
        MessageArchive(tmp_path / "a").store(RAW)
