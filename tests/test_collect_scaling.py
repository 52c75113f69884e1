"""Per-message work of the collect path does not grow with the number of units (issue 12).

The store of a 100-unit and of a 1,000-unit campaign is built directly (every other unit
accepted, its answer sent, the Maildir holding the earlier replies), then real replies are
collected through ``office.intake.collect_mailbox`` (archive, parse, read isolated, match,
validate against the peers' fees and the unit's history, record) while every SQL statement on
the store's connections and every row handed to Python is counted (``bench/storework.py``).
Counted, not timed.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def storework():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        yield importlib.import_module("bench.storework")


def test_store_work_per_incoming_message_does_not_grow_from_100_to_1000_units(storework, tmp_path):
    small = storework.per_message_work(100, tmp_path / "100", answer=False)
    large = storework.per_message_work(1000, tmp_path / "1000", answer=False)
    for what in ("statements", "selects", "writes", "rows"):
        assert large.per_message[what] <= small.per_message[what], (
            what,
            small.per_message,
            large.per_message,
            large.intake.top_queries(8),
            large.intake.top_reads(6),
        )
    # and small in absolute terms: no scan of the campaign hides in a constant
    assert large.per_message["statements"] < 100
    assert large.per_message["rows"] < 50
    # the round's pass over the answers owed asks for the answers' events together: at most
    # a statement more per hundred units (the keys go in chunks), not one per submission
    assert large.owed_round.statements <= small.owed_round.statements + 9
