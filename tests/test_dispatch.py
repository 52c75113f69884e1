"""Dispatch in batches: a few tasks a run whatever the city's size, a chunk of mails in memory
at a time, an outage paid once a run, every template still sent exactly once.

Fast tests on a real SQLite store with an in-memory sender (officekit); the real flow against
a real Prefect server, counting its task runs, is at the end.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from officekit import recording_runtime

from connectors.outgoing import RecordingSender, SmtpError
from demo import city
from office import dispatch
from office.attention import attention
from office.delivery import Delivery
from office.dispatch import LEAST_BATCH, MOST_BATCHES, batches, invite, invited

AS_OF = datetime(2022, 1, 4, 9, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize("units", [0, 1, 10, 50, LEAST_BATCH, LEAST_BATCH + 1, 1000, 5000, 20000])
def test_batches_are_few_whatever_the_number_of_units(units):
    codes = [f"U{i:05d}" for i in range(units)]
    split = batches(codes)
    assert [code for batch in split for code in batch] == codes
    assert len(split) == (min(MOST_BATCHES, max(1, units // LEAST_BATCH)) if units else 0)
    sizes = {len(batch) for batch in split}
    assert max(sizes, default=0) - min(sizes, default=0) <= 1  # even
    assert min(sizes, default=0) >= min(units, LEAST_BATCH)


class StopsAfter(RecordingSender):
    """Sends ``left`` mails, then the server is gone (refused at the next connection)."""

    def __init__(self, left: int) -> None:
        super().__init__()
        self.left = left
        self.connections = 0

    def send(self, mails, *, before_send=None, on_result=None):
        self.connections += 1
        if self.left <= 0:
            raise SmtpError("ConnectionRefusedError", reason_zh="无法连接邮件服务器 x:25")
        room, self.left = self.left, self.left - len(mails)
        if room >= len(mails):
            return super().send(mails, before_send=before_send, on_result=on_result)
        super().send(mails[:room], before_send=before_send, on_result=on_result)
        raise SmtpError("ServerDisconnected", reason_zh="邮件服务器中途断开 x:25")


@pytest.fixture
def rt(tmp_path):
    runtime = recording_runtime(tmp_path)
    yield runtime
    runtime.close()


def test_chunks_go_over_one_connection_each(rt, monkeypatch):
    monkeypatch.setattr(dispatch, "CHUNK", 10)
    codes = list(rt.config.registry.codes)
    done = invite(rt, codes, AS_OF)
    assert sorted(done.sent) == sorted(f"invitation:{c}" for c in codes)
    assert rt.sender.batches == -(-len(codes) // 10)
    assert max(len(m.attachments) for m in rt.sender.sent) == 1
    again = invite(rt, codes, AS_OF)  # all sent: nothing made, nothing sent
    assert again.sent == [] and rt.sender.batches == -(-len(codes) // 10)


def test_an_outage_midway_is_paid_once_and_the_next_run_sends_the_rest_once(rt, monkeypatch):
    monkeypatch.setattr(dispatch, "CHUNK", 10)
    codes = list(rt.config.registry.codes)
    rt.sender = StopsAfter(15)
    done = invite(rt, codes, AS_OF)
    assert len(done.sent) == 15
    assert rt.sender.connections == 2  # the chunks after the outage are not tried
    assert done.outage == "邮件服务器中途断开 x:25"
    assert len(done.failed) == len(codes) - 15
    assert {f.error_zh for f in done.failed} == {"邮件服务器中途断开 x:25"}
    assert len(attention(rt)) == len(codes) - 15  # each one shown, to be sent by the next run
    first = list(rt.sender.sent)
    rt.sender = RecordingSender()
    rest = invite(rt, codes, AS_OF)
    assert len(rest.sent) == len(codes) - 15 and rest.outage is None
    assert sorted(m.to[0] for m in first + rt.sender.sent) == sorted(city.address(c) for c in codes)
    assert invited(rt) == len(codes) and attention(rt) == []


def test_a_batch_after_an_outage_records_its_mails_failed_without_trying(rt):
    codes = list(rt.config.registry.codes)
    earlier = Delivery(outage="无法连接邮件服务器 x:25", outage_error="ConnectionRefusedError")
    done = invite(rt, codes[:5], AS_OF, down=earlier)
    assert rt.sender.batches == 0 and done.sent == []
    assert [f.key for f in done.failed] == [f"invitation:{c}" for c in codes[:5]]
    assert {(f.error, f.error_zh) for f in done.failed} == {
        ("ConnectionRefusedError", "无法连接邮件服务器 x:25")
    }
    assert {rt.store.event(rt.campaign_id, f.key).status for f in done.failed} == {"failed"}
    healthy = invite(rt, codes[:5], AS_OF, down=Delivery())  # no outage: sent
    assert len(healthy.sent) == 5
