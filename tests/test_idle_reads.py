"""What an idle round does not read twice (bench/idle.py): the campaign's submissions while
the database has not changed, and the registry of a snapshot every run finds unchanged. Each is
read again as soon as anything changed, whoever changed it."""

import threading
from datetime import UTC, datetime

from annual_report.campaign.registry import Department, Registry
from annual_report.store import open_store


def _registry(*codes: str, city: str = "宜春市") -> Registry:
    return Registry(
        city=city,
        departments=tuple(
            Department(code=c, name=f"单位{c}", kind="department", email=f"{c.lower()}@x.example")
            for c in codes
        ),
    )


def _receive(store, sha: str, department: str = "RSJ"):
    return store.record_submission(
        "2021",
        sha256=sha,
        source="maildir:1",
        department=department,
        received_at=datetime(2022, 1, 10, tzinfo=UTC),
    )


def test_submissions_are_read_again_after_any_write(tmp_path):
    store = open_store(tmp_path / "nianbao.db")
    other = open_store(tmp_path / "nianbao.db")  # another connection, as another process
    try:
        store.create_campaign("2021", 2021, registry=_registry("RSJ", "FGW"))
        assert store.submissions("2021") == []
        first = _receive(store, "a" * 64)
        assert [s.id for s in store.submissions("2021")] == [first.id]
        assert store.submissions("2021") == store.submissions("2021")
        store.submissions("2021").clear()  # a caller's list is its own
        assert len(store.submissions("2021")) == 1

        second = _receive(other, "b" * 64, "FGW")  # committed by the other connection
        assert [s.id for s in store.submissions("2021")] == [first.id, second.id]
        other.decide(second.id, "rejected", by="coordinator")
        assert store.submissions("2021")[1].status == "rejected"

        seen: list[list[int]] = []
        worker = threading.Thread(target=lambda: seen.append(store_ids(store)))
        worker.start()
        worker.join()
        assert seen == [[first.id, second.id]]  # another thread: its own connection
        third = _receive(store, "c" * 64)  # written from this thread, read in another
        worker = threading.Thread(target=lambda: seen.append(store_ids(store)))
        worker.start()
        worker.join()
        assert seen[-1] == [first.id, second.id, third.id]
    finally:
        store.close()
        other.close()


def store_ids(store) -> list[int]:
    return [s.id for s in store.submissions("2021")]


def test_the_registry_of_an_unchanged_snapshot_is_the_one_read_back(tmp_path):
    path = tmp_path / "nianbao.db"
    registry = _registry("RSJ", "FGW", "JYJ")
    store = open_store(path)
    try:
        store.create_campaign("2021", 2021, registry=registry)
        store.create_campaign("2021", 2021, registry=registry)  # unchanged: known, not read
        fresh = open_store(path)
        try:
            assert store.registry("2021") == fresh.registry("2021")
            assert store.registry("2021").codes == ("RSJ", "FGW", "JYJ")
            # the snapshot changed elsewhere: the registry follows
            fresh.create_campaign("2021", 2021, registry=_registry("RSJ", "FGW"))
            assert store.registry("2021").codes == ("RSJ", "FGW")
            reordered = _registry("FGW", "RSJ", "JYJ")  # JYJ back, after the others
            store.create_campaign("2021", 2021, registry=reordered)
            assert store.registry("2021") == fresh.registry("2021")
            store.create_campaign("2021", 2021, registry=reordered)  # now unchanged: known
            assert store.registry("2021") == fresh.registry("2021")
            assert store.registry("2021").codes == ("RSJ", "FGW", "JYJ")  # the stored order
        finally:
            fresh.close()
    finally:
        store.close()


def test_a_collect_run_imports_no_dataframe_or_document_library():
    """A run's process loads the flows and the store without pandas (sqlite-utils would import
    it), openpyxl or python-docx: ~0.4 s and ~70 MB for every idle round otherwise. The tasks
    that need them import them; pandas still imports, and sqlite-utils works, afterwards."""
    import subprocess
    import sys

    code = (
        "import sys, flows.campaign, flows.tasks, flows.cli, office.intake, office.answers\n"
        "heavy = [m for m in ('pandas', 'pyarrow', 'openpyxl', 'docx', 'matplotlib')"
        " if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        "import pandas, sqlite_utils\n"
        "db = sqlite_utils.Database(memory=True)\n"
        "db['t'].insert({'a': 1, 'b': 'x'})\n"
        "assert list(db['t'].rows) == [{'a': 1, 'b': 'x'}] and pandas.DataFrame({'a': [1]}).size\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
