"""Two runs of one office that overlap (a scheduled collect and one started by hand, a worker
restarted twice) never send a mail twice: real processes, one real SQLite store, a real SMTP
server (aiosmtpd). Each run decides what is owed, then records each mail pending just before
handing it over; a mail another run began in between is withheld, not sent again."""

import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime
from email import message_from_bytes
from zoneinfo import ZoneInfo

from connectors.outgoing import RecordingSender
from demo import city
from office.campaign import open_campaign
from office.delivery import deliver
from office.dispatch import invitation
from office.runtime import Runtime
from office.settings import load_app_config

AS_OF = datetime(2022, 1, 4, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
RUNS = 3

RUN = textwrap.dedent(
    """
    import json, sys, time
    from datetime import datetime
    from pathlib import Path
    from zoneinfo import ZoneInfo
    from office.delivery import deliver
    from office.dispatch import invitation
    from office.runtime import Runtime
    from office.settings import load_app_config

    config_dir, data_dir, go, out = sys.argv[1:5]
    rt = Runtime.open(load_app_config(Path(config_dir), Path(data_dir)))
    as_of = datetime(2022, 1, 4, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
    # every run decides together: the invitations owed when the run starts
    items = [invitation(rt, code, as_of) for code in rt.config.registry.codes]
    items = [item for item in items if item is not None]
    while not Path(go).exists():
        time.sleep(0.005)
    done = deliver(rt, items)
    seen = {"owed": [i.key for i in items], "sent": done.sent, "busy": done.busy}
    seen |= {"uncertain": done.uncertain, "failed": len(done.failed)}
    Path(out).write_text(json.dumps(seen))
    rt.close()
    """
)


def office(tmp_path, port):
    config_dir = city.write_config(
        tmp_path / "config",
        report_year=2021,
        smtp_port=port,
        maildir=tmp_path / "office",
        archive=tmp_path / "archive",
    )
    return config_dir, tmp_path / "data"


def test_overlapping_runs_send_each_mail_once(tmp_path, spare_smtp_server):
    import json

    config_dir, data_dir = office(tmp_path, spare_smtp_server.port)
    rt = Runtime.open(load_app_config(config_dir, data_dir))
    open_campaign(rt)
    rt.close()
    go = tmp_path / "go"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, str(config_dir), str(data_dir), str(go), str(out)]
        )
        for out in (tmp_path / f"run{n}.json" for n in range(RUNS))
    ]
    time.sleep(3)  # imported and decided
    go.touch()
    assert [p.wait(timeout=120) for p in runs] == [0] * RUNS

    results = [json.loads((tmp_path / f"run{n}.json").read_text()) for n in range(RUNS)]
    owed = results[0]["owed"]
    assert len(owed) > 30 and all(r["owed"] == owed for r in results)  # decided together
    sent = Counter(key for r in results for key in r["sent"])
    assert sent == Counter(owed)  # each once, by one run
    assert all(r["failed"] == 0 and r["uncertain"] == [] for r in results)
    # what a run did not send, another run had begun: it says so (busy), it does not resend
    for r in results:
        assert set(r["sent"]) | set(r["busy"]) == set(sent)
    received = Counter(
        message_from_bytes(m.raw)["X-Nianbao-Department"] or m.rcpt_tos[0]
        for m in spare_smtp_server.messages
    )
    assert len(spare_smtp_server.messages) == len(owed) and max(received.values()) == 1
    rt = Runtime.open(load_app_config(config_dir, data_dir))
    events = [rt.store.event("2021", key) for key in owed]
    rt.close()
    assert {(e.status, e.attempts) for e in events} == {("done", 1)}


def test_a_mail_begun_by_another_run_after_this_one_decided_is_withheld(tmp_path):
    """The same interleaving, step by step: run B sends while run A holds its decision."""
    config_dir, data_dir = office(tmp_path, 2525)
    config = load_app_config(config_dir, data_dir)
    b = Runtime.open(config, sender=RecordingSender())
    open_campaign(b)

    class SlowToStart(RecordingSender):
        """Run A's sender: run B delivers everything just before A hands over its first."""

        def send(self, mails, *, before_send=None, on_result=None):
            deliver(b, [invitation(b, code, AS_OF) for code in ("RSJ", "JYJ")])
            return super().send(mails, before_send=before_send, on_result=on_result)

    a = Runtime.open(config, sender=SlowToStart())
    done = deliver(a, [invitation(a, code, AS_OF) for code in ("RSJ", "JYJ", "CZJ")])
    assert done.sent == ["invitation:CZJ"]
    assert done.busy == ["invitation:RSJ", "invitation:JYJ"] and done.failed == []
    assert [m.department for m in a.sender.sent] == ["CZJ"]
    assert [m.department for m in b.sender.sent] == ["RSJ", "JYJ"]
    assert a.store.event("2021", "invitation:RSJ").attempts == 1
    a.close()
    b.close()
