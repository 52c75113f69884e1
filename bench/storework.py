"""How much store work one incoming message costs, counted, not timed (issue 12).

``count_store_work(store)`` counts what a :class:`~annual_report.store.Store` asks of SQLite while
it is active: SQL statements run (``sqlite3`` trace callback on each of the store's
connections), rows handed back to Python (the SQLite store's ``_rows`` and ``_query``, which
its reads go through) and SQLite virtual-machine steps (a progress handler: what full-table
scans cost even when they return few rows). It patches the one store instance only.

``per_message_work(units, workdir)`` builds a campaign of ``units`` units with every other unit
already accepted (seeded directly, as earlier collect rounds would have left the store), mails
the last few units' filled workbooks into the office Maildir and counts the work of the real
collect path (``office.intake.collect_mailbox``: archive, parse, match, read isolated,
validate with the peers' fees, record) per message, then of answering them and of the round's
"which answers are owed" pass. "Per-message work must not grow with the number of units" is
``per_message_work(100, …).per_message ≈ per_message_work(1000, …).per_message``.

Run by hand: ``.venv/bin/python bench/storework.py 100 1000``.
"""

from __future__ import annotations

import contextlib
import hashlib
import mailbox
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

try:  # imported as bench.<module> (the project root on sys.path, e.g. from a test)
    from . import province
except ImportError:  # run as a script: bench/ is sys.path[0]
    import province  # type: ignore[no-redef]

from annual_report.campaign.templates import write_department_template
from annual_report.store.base import Store
from annual_report.validation import validate
from connectors.mailbox import MaildirMailbox

VM_STEP_BATCH = 1000  # the progress handler is called every this many SQLite VM instructions


@dataclass
class StoreWork:
    """What a store asked of SQLite while counted."""

    statements: int = 0  # SQL statements run (not counting transaction control)
    transactions: int = 0  # BEGIN … COMMIT
    selects: int = 0
    writes: int = 0  # INSERT / UPDATE / DELETE / REPLACE
    write_bytes: int = 0  # length of the write statements with their values (JSON state, …)
    rows: int = 0  # rows returned to Python by the store's queries
    vm_steps: int = 0  # SQLite VM instructions, in thousands
    by_query: dict[str, int] = field(default_factory=dict)  # statement shape → times run
    rows_by_query: dict[str, int] = field(default_factory=dict)  # table and where → rows read
    steps_by_query: dict[str, int] = field(default_factory=dict)  # statement → VM steps (k)
    last: str = ""  # the statement running (the VM steps are its)

    def divided(self, n: int) -> dict[str, float]:
        return {k: round(v / n, 1) for k, v in asdict(self).items() if isinstance(v, int)}

    def top_queries(self, count: int = 8) -> list[tuple[str, int, int]]:
        """(statement shape, times run, SQLite VM steps in thousands), most steps first."""
        found = [(q, n, self.steps_by_query.get(q, 0)) for q, n in self.by_query.items()]
        return sorted(found, key=lambda t: (-t[2], -t[1]))[:count]

    def top_reads(self, count: int = 6) -> list[tuple[str, int]]:
        """(table and condition, rows handed to Python), most rows first."""
        return sorted(self.rows_by_query.items(), key=lambda t: -t[1])[:count]


LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
CONTROL = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK", "END")


def _shape(sql: str) -> str:
    """A statement without its literals, short enough to read in a table."""
    text = LITERALS.sub("?", " ".join(sql.split()))
    return text[:100]


@contextlib.contextmanager
def count_store_work(store: Store) -> Iterator[StoreWork]:
    """Count the SQL ``store`` runs inside the ``with`` block (every thread's connection)."""
    work = StoreWork()

    def trace(sql: str) -> None:
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if head in CONTROL:  # sqlite-utils wraps every query in a savepoint
            work.transactions += head == "BEGIN"
            return
        work.statements += 1
        if head in ("SELECT", "WITH"):
            work.selects += 1
        elif head in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
            work.writes += 1
            work.write_bytes += len(sql)
        shape = work.last = _shape(sql)
        work.by_query[shape] = work.by_query.get(shape, 0) + 1

    def progress() -> int:
        work.vm_steps += 1
        work.steps_by_query[work.last] = work.steps_by_query.get(work.last, 0) + 1
        return 0

    def hook(db: Any) -> None:
        db.conn.set_trace_callback(trace)
        db.conn.set_progress_handler(progress, VM_STEP_BATCH)

    def unhook(db: Any) -> None:
        with contextlib.suppress(Exception):
            db.conn.set_trace_callback(None)
            db.conn.set_progress_handler(None, 0)

    pool = store._pool  # type: ignore[attr-defined]  # the SQLite store's connections
    original_connect = pool._connect

    def connect() -> Any:
        db = original_connect()
        hook(db)
        return db

    def counted(read: Any, table_read: bool) -> Any:
        def run(first: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            found = read(first, *args, **kwargs)
            work.rows += len(found)
            where = args[0] if args else kwargs.get("where")
            shape = _shape(f"{first} WHERE {where}" if table_read else first)
            work.rows_by_query[shape] = work.rows_by_query.get(shape, 0) + len(found)
            return found

        return run

    for _thread, db in list(pool._open):
        hook(db)
    # on the instance: other stores (another thread's test, the plain run) are not counted
    pool._connect = connect
    store._rows = counted(store._rows, True)  # type: ignore[attr-defined]  # reads of one table
    store._query = counted(store._query, False)  # type: ignore[attr-defined]  # joins, aggregates
    try:
        yield work
    finally:
        for name in ("_rows", "_query"):
            store.__dict__.pop(name, None)
        pool.__dict__.pop("_connect", None)
        for _thread, db in list(pool._open):
            unhook(db)


@dataclass
class MessageWork:
    units: int
    messages: int
    intake: StoreWork  # collect_mailbox over the messages
    answers: StoreWork  # building the answers owed for them (receipt + Word report)
    owed_round: StoreWork  # the round's "which answers are owed" pass over the campaign

    @property
    def per_message(self) -> dict[str, float]:
        return self.intake.divided(self.messages)

    @property
    def per_answer(self) -> dict[str, float]:
        return self.answers.divided(self.messages)


def per_message_work(
    units: int, workdir: Path, *, messages: int = 4, answer: bool = True
) -> MessageWork:
    """Count the store work of collecting ``messages`` replies into a campaign of ``units``
    units whose other units are all accepted already (after one reply, not counted, that the
    run took first); then of answering them (``answer``: the receipts' documents take a
    second or so each) and of the round's pass over the answers owed."""
    from office.answers import answer_for, owed_answers
    from office.campaign import open_campaign
    from office.intake import collect_mailbox
    from office.runtime import Runtime
    from office.settings import load_app_config

    workdir.mkdir(parents=True, exist_ok=True)
    maildir = workdir / "office-maildir"
    mailbox.Maildir(maildir, create=True)
    config_dir = province.write_config(
        workdir / "config",
        count=units,
        smtp_port=25,  # nothing is sent here
        maildir=maildir,
        archive=workdir / "data" / "mail",
    )
    config = load_app_config(config_dir, workdir / "data")
    plan = config.plan
    rt = Runtime.open(config)
    try:
        campaign = open_campaign(rt)
        codes = list(config.registry.codes)
        sent_at = plan.at(plan.start)
        _seed_invitations(rt, codes)
        # one more reply than counted: the first message of a run loads what the run keeps
        # (the registry, the token index), the counted ones show the work of each further one
        late = codes[-(messages + 1) :]
        _seed_accepted(rt, codes[: -len(late)], campaign.report_year)
        filler = province.Filler(workdir / "filled")
        box = mailbox.Maildir(maildir)
        _seed_processed_mail(rt, box, len(codes) - len(late))
        replies = []
        for n, code in enumerate(late):
            template = workdir / "templates" / f"{code}.xlsx"
            template.parent.mkdir(parents=True, exist_ok=True)
            write_department_template(rt.store, config.registry, rt.campaign_id, code, template)
            dept = config.registry[code]
            invitation = province.Invitation(
                code, dept.email, f"[年报{rt.campaign_id}-{code}] 请报送", _invitation_id(code), b""
            )
            filled = filler.filled(
                province.Invitation(code, dept.email, "", "", template.read_bytes())
            )
            when = sent_at + timedelta(days=1, minutes=n)
            replies.append(province.reply(invitation, province.OFFICE, filled, when).as_bytes())
        as_of = plan.at(plan.deadline, time(17, 30))
        reader = MaildirMailbox(maildir)
        box.add(replies[0])
        collect_mailbox(rt, "maildir", reader, as_of)
        for reply in replies[1:]:
            box.add(reply)
        with count_store_work(rt.store) as intake:
            got = collect_mailbox(rt, "maildir", reader, as_of)
        if len(got.new_submissions) != messages:
            raise RuntimeError(f"expected {messages} new submissions, got {got}")
        subs = [rt.store.submission(i) for i in got.new_submissions]
        answers = StoreWork()
        if answer:
            with count_store_work(rt.store) as answers:
                for sub in subs:
                    answer_for(rt, sub, as_of)
        with count_store_work(rt.store) as owed_round:
            owed_answers(rt, as_of)
        return MessageWork(units, messages, intake, answers, owed_round)
    finally:
        rt.close()


def _invitation_id(code: str) -> str:
    return f"<bench.invitation.{code.lower()}@{province.DOMAIN}>"


def _seed_invitations(rt: Any, codes: list[str]) -> None:
    """What dispatch leaves in the store: one done invitation event per unit."""
    for code in codes:
        detail = {
            "message_id": _invitation_id(code),
            "to": [rt.config.registry[code].email],
            "cc": [],
            "subject": f"[年报{rt.campaign_id}-{code}] 请报送",
        }
        key = f"invitation:{code}"
        rt.store.begin_event(
            rt.campaign_id, key, kind="sent.invitation", department=code, detail=detail
        )
        rt.store.finish_event(rt.campaign_id, key, status="done", detail=detail)


def _seed_processed_mail(rt: Any, box: mailbox.Maildir, count: int) -> None:
    """The earlier replies still in the office Maildir, read and recorded (the cursor knows
    them): what the mailbox holds when the last replies of a campaign arrive."""
    keys = []
    for n in range(count):
        message = mailbox.MaildirMessage(f"Subject: earlier reply {n}\n\nprocessed\n".encode())
        message.set_subdir("cur")
        message.add_flag("S")
        keys.append(box.add(message))
    rt.store.set_state(rt.campaign_id, "cursor:maildir", {"seen": sorted(keys)})


def _seed_accepted(rt: Any, codes: list[str], year: int) -> None:
    """Accepted submissions (values, issues) and their answers sent, as earlier rounds leave
    them; one validated report stands for every unit (values do not change the counts)."""
    from annual_report.form.model import form_for_year
    from annual_report.report import Report

    form = form_for_year(year)
    values, narrative = province.Filler.values_for(form, "SEED")
    report = Report(form=form, year=year, campaign=rt.campaign_id)
    for code, value in values.items():
        report.set_raw(code, None if value is None else str(value))
    report.narrative = dict(narrative)
    validation = validate(report)
    for n, code in enumerate(codes):
        sub = rt.store.record_submission(
            rt.campaign_id,
            sha256=hashlib.sha256(f"seed-{code}".encode()).hexdigest(),
            source=f"maildir:seed-{n}",
            department=code,
            validation=validation,
            file_name=f"{code}.xlsx",
            received_at=datetime.now().astimezone(),
            sender=rt.config.registry[code].email,
        )
        key = f"answer:{sub.id}"
        rt.store.begin_event(rt.campaign_id, key, kind=f"answer.{sub.status}", department=code)
        rt.store.finish_event(rt.campaign_id, key, status="done", detail={})


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [100, 1000]
    results = []
    for units in sizes:
        with tempfile.TemporaryDirectory(prefix=f"storework-{units}-") as tmp:
            results.append(per_message_work(units, Path(tmp)))
    print(format_table(results))


def format_table(results: list[MessageWork]) -> str:
    head = (
        f"{'units':>6} {'what':<30} {'stmts':>7} {'selects':>7} {'writes':>6} {'rows':>8} "
        f"{'vm k':>7} {'write B':>8}"
    )
    lines = ["store work per incoming message (counted, not timed)", head, "-" * len(head)]
    for r in results:
        for what, row in (
            ("collect, per message", r.per_message),
            ("answer, per message", r.per_answer),
            ("owed-answers pass, per round", r.owed_round.divided(1)),
        ):
            lines.append(
                f"{r.units:>6} {what:<30} {row['statements']:>7} {row['selects']:>7} "
                f"{row['writes']:>6} {row['rows']:>8} {row['vm_steps']:>7} {row['write_bytes']:>8}"
            )
    for r in results:
        lines.append(
            f"\ncollecting {r.messages} messages into {r.units} units: the statements of most "
            "SQLite VM steps (times run, k steps), then the reads of most rows:"
        )
        for shape, n, steps in r.intake.top_queries(6):
            lines.append(f"  {n:>6} {steps:>8}  {shape}")
        for shape, rows in r.intake.top_reads(4):
            lines.append(f"  {'':>6} {rows:>8}  {shape}")
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
