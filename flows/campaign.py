"""The January campaign as Prefect flows: dispatch, collect, remind, consolidate, and the whole.

Flows orchestrate only: every step is a task in ``flows/tasks.py`` wrapping a use case of
``office/``; a flow pauses for the coordinator and hands the answer over (``office.reviews``).
Every time-dependent flow takes ``as_of`` so the calendar can be tested and replayed
(``nianbao run remind --as-of 2022-01-25T09:00+08:00``).
"""

from __future__ import annotations

import functools
import gc
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

from prefect import State, flow, get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Completed, Failed
from prefect.utilities.annotations import quote
from pydantic import Field

from annual_report.errors import MailFetchError, NianbaoError
from flows import tasks
from office import reviews
from office.attention import attention
from office.campaign import moment, open_campaign, out_of_season
from office.delivery import Delivery, release_uncertain
from office.dispatch import anyone_to_invite, batches, invited
from office.intake import assign as assign_file
from office.intake import assigned_zh
from office.outcome import Outcome, failure_zh, fetch_error_zh, outcome
from office.runtime import Runtime
from office.settings import load_app_config
from office.status import states

Approval = Literal["ui", "auto"]
SECRET_BLOCKS = {"smtp": "nianbao-smtp-password", "imap": "nianbao-imap-password"}


class ConsolidationApproval(RunInput):
    """The coordinator's decision on the consolidated result."""

    approve: bool = Field(default=True, title="批准汇总结果")
    note: str = Field(default="", title="退回原因或备注")


class WarningsReview(RunInput):
    """Submissions accepted with warnings: codes of those to send back to their department."""

    send_back: list[str] = Field(default_factory=list, title="退回的单位代码")
    note: str = Field(default="", title="备注（发给被退回单位）")


def run_name(flow_name: str):
    """Runs named by the moment they stand for (``collect 2022-01-23 09:00``), not at random,
    so a replayed campaign reads day by day in the UI."""

    def name() -> str:
        from prefect.runtime import flow_run

        as_of = flow_run.parameters.get("as_of")
        if isinstance(as_of, str):
            as_of = datetime.fromisoformat(as_of)
        when = (
            as_of.strftime("%Y-%m-%d %H:%M") if as_of else datetime.now().strftime("%Y-%m-%d %H:%M")
        )
        return f"{flow_name} {when}"

    return name


def _secret_block(name: str) -> str | None:
    """A Prefect Secret block's value, or None when the block does not exist."""
    from prefect.blocks.system import Secret

    try:
        secret = Secret.load(name)
    except ValueError:
        return None
    assert isinstance(secret, Secret)  # loaded synchronously: flows here are not async
    return secret.get()


T = TypeVar("T")


def _unvisited(value: T) -> T:
    """``value`` passed to a task as it is: Prefect does not walk it looking for futures
    (:class:`~prefect.utilities.annotations.quote`); the task receives ``value`` itself."""
    return cast(T, quote(value))


@contextmanager
def runtime(
    config_dir: str, data_dir: str | None = None, as_of: datetime | None = None
) -> Iterator[Runtime]:
    """Configuration validated once, passwords from the environment or Prefect Secret blocks."""
    config = load_app_config(config_dir, data_dir)
    mail = config.mail
    smtp_password = mail.smtp_password()
    if smtp_password is None and mail.smtp.user:
        smtp_password = _secret_block(SECRET_BLOCKS["smtp"])
    imap_password = mail.imap_password()
    if imap_password is None and mail.imap is not None and mail.imap.user:
        imap_password = _secret_block(SECRET_BLOCKS["imap"])
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=config.plan.zone)
    rt = Runtime.open(config, smtp_password=smtp_password, imap_password=imap_password, as_of=as_of)
    try:
        with _imports_frozen():
            yield rt
    finally:
        rt.close()


_frozen = 0  # runs (nested or in threads) inside _imports_frozen
_froze = False  # whether the first of them froze (nothing was frozen before)
_frozen_lock = threading.Lock()


@contextmanager
def _imports_frozen() -> Iterator[None]:
    """What is alive when a run starts (Prefect's and every imported module's objects, ~190k)
    left out of the cyclic garbage collector's counts while the run lasts (``gc.freeze``).

    The receipts' documents (python-docx over lxml) are reference cycles: only a full
    collection frees them, and CPython runs one when the objects that survived since the last
    grow by a quarter of all long-lived objects. With Prefect's objects counted, that waited
    for ~200 receipts' worth of dead documents: +100–200 MB of peak RSS in a collect through
    the flows against the same operations without Prefect (bench/BASELINE.md). Frozen objects
    are neither collected nor scanned; they return to the collector when the last run ends."""
    global _frozen, _froze
    with _frozen_lock:
        if _frozen == 0:
            _froze = gc.get_freeze_count() == 0  # a freeze of the caller's is left alone
            if _froze:
                gc.freeze()
        _frozen += 1
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen -= 1
            if _frozen == 0 and _froze:
                gc.unfreeze()


def _out_of_season(rt: Runtime, now: datetime) -> State | None:
    """``Completed`` named Skipped when ``now`` is outside the campaign's dates, else None."""
    why = out_of_season(rt, now)
    if why is None:
        return None
    plan = rt.config.plan
    get_run_logger().warning(
        "%s is outside campaign %s (%s – %s): nothing done", now, plan.id, plan.start, plan.last_day
    )
    return Completed(name="Skipped", message=why)


def _state(ended: Outcome) -> State:
    """The Prefect state of an outcome: Failed (red, for automations) or a named Completed."""
    log = get_run_logger()
    if ended.failed:
        log.error("%s", ended.message)
        return Failed(message=ended.message)
    (log.warning if ended.name == "NeedsAttention" else log.info)("%s", ended.message)
    if ended.name == "Completed":
        return Completed(message=ended.message)
    return Completed(name=ended.name, message=ended.message)


def _expected_failures(fn: Callable[..., State]) -> Callable[..., State]:
    """Expected failures (a broken configuration, the database, a mail server) end the run
    Failed with one Chinese message; the technical detail goes to the log, not a traceback."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> State:
        try:
            return fn(*args, **kwargs)
        except NianbaoError as exc:
            get_run_logger().error("%s: %s", type(exc).__name__, exc)
            return Failed(message=failure_zh(exc))

    return run


@flow(name="dispatch", flow_run_name=run_name("dispatch"))
@_expected_failures
def dispatch(
    config_dir: str = "config",
    as_of: datetime | None = None,
    force: bool = False,
    data_dir: str | None = None,
) -> State:
    """Send every department its personalised template (once; ``force`` sends again)."""
    with runtime(config_dir, data_dir, as_of) as rt:
        now = moment(rt, as_of)
        if skipped := _out_of_season(rt, now):
            return skipped
        tasks.open_campaign(rt)
        delivery = Delivery()
        for number, batch in enumerate(batches(list(rt.config.registry.codes)), start=1):
            down = Delivery(outage=delivery.outage, outage_error=delivery.outage_error)
            delivery.merge(tasks.invite(rt, batch, now, force, number, down))
        sent = len(delivery.sent)
        before = invited(rt) - sent
        needs, notices = tasks.tell_coordinator(rt, now, bool(delivery.outage))
        tasks.publish_status(rt, now, [], needs)
        return _state(
            outcome(
                f"下发模板：本次发出{sent}份，此前已发出{before}份",
                delivery=delivery.merge(notices),
                attention=needs,
            )
        )


@flow(name="collect", flow_run_name=run_name("collect"))
@_expected_failures
def collect(
    config_dir: str = "config", as_of: datetime | None = None, data_dir: str | None = None
) -> State:
    """Read the mailbox(es), archive, match, validate and record, then answer every reply."""
    with runtime(config_dir, data_dir, as_of) as rt:
        now = moment(rt, as_of)
        if skipped := _out_of_season(rt, now):
            return skipped
        tasks.open_campaign(rt)
        notes: list[str] = []
        problems: list[str] = []
        received = 0
        for name in rt.mailboxes:
            try:
                intake = tasks.read_mailbox(rt, name, now)
            except MailFetchError as exc:  # answer what is owed all the same
                problems.append(fetch_error_zh(name, exc))
                continue
            received += len(intake.new_submissions)
            notes.extend(intake.problems)
        delivery = tasks.answer_owed(rt, now)  # built and sent a batch at a time
        answered = len(delivery.sent)
        needs, notices = tasks.tell_coordinator(rt, now, bool(delivery.outage))
        shown = tasks.publish_status(rt, now, problems + notes, needs)
        return _state(
            outcome(
                f"收集：新收到{received}份报表，发出回复{answered}封",
                delivery=delivery.merge(notices),
                attention=needs,
                states=shown,  # as the status shows them (not derived a second time)
                problems=problems,
            )
        )


@flow(name="remind", flow_run_name=run_name("remind"))
@_expected_failures
def remind(
    config_dir: str = "config", as_of: datetime | None = None, data_dir: str | None = None
) -> State:
    """Reminders before and on the deadline, then escalation to leaders and the coordinator."""
    with runtime(config_dir, data_dir, as_of) as rt:
        now = moment(rt, as_of)
        if skipped := _out_of_season(rt, now):
            return skipped
        tasks.open_campaign(rt)
        due = tasks.due_ladder(rt, now)
        delivery = tasks.deliver(rt, due)
        chased = len(delivery.sent)
        needs, notices = tasks.tell_coordinator(rt, now, bool(delivery.outage))
        tasks.publish_status(rt, now, [], needs)
        return _state(
            outcome(
                f"催报：发出提醒和督办{chased}封",
                delivery=delivery.merge(notices),
                attention=needs,
                states=states(rt),
            )
        )


@flow(name="consolidate", flow_run_name=run_name("consolidate"))
@_expected_failures
def consolidate(
    config_dir: str = "config",
    as_of: datetime | None = None,
    approval: Approval = "ui",
    data_dir: str | None = None,
) -> State:
    """Merge the accepted submissions; the coordinator approves the result in the UI."""
    log = get_run_logger()
    with runtime(config_dir, data_dir, as_of) as rt:
        now = moment(rt, as_of)
        if skipped := _out_of_season(rt, now):
            return skipped
        tasks.open_campaign(rt)
        tasks.publish_status(rt, now)  # the paused run shows where things stand
        if approval == "ui":
            _review_warnings(rt)
        result, path = tasks.consolidate(rt)
        tasks.publish_consolidation(rt, _unvisited(result), path)
        if approval == "ui":
            decision = pause_flow_run(
                wait_for_input=ConsolidationApproval.with_initial_data(
                    description=reviews.approval_request(result, path)
                    # approve is True by default: passed here, Prefect's with_initial_data
                    # would rebuild the field without its title and the form would say "Approve"
                ),
                timeout=7 * 24 * 3600,
                poll_interval=2,
            )
            if not decision.approve:
                log.info("consolidation sent back: %s", decision.note)
                return Completed(name="Returned", message=reviews.returned_zh(decision.note))
        final = tasks.approve(rt, path, now)
        tasks.publish_final(rt, final)
        return _state(
            outcome(
                f"汇总：纳入{len(result.included)}个单位，定稿为《{final.name}》",
                attention=attention(rt),
                states=states(rt),
            )
        )


def _review_warnings(rt: Runtime) -> None:
    """Let the coordinator send back submissions that were accepted with warnings."""
    review = tasks.pending_warnings(rt)
    if review is None:
        return
    description = review.description
    while True:  # a code that is not on the list is asked again, never silently dropped
        answer = pause_flow_run(
            wait_for_input=WarningsReview.with_initial_data(description=description),
            timeout=7 * 24 * 3600,
            poll_interval=2,
        )
        unknown = review.unknown(answer.send_back)
        if not unknown:
            break
        get_run_logger().warning("send-back codes not under review: %s", ", ".join(unknown))
        description = review.ask_again(unknown)
    tasks.send_back(rt, _unvisited(review), answer.send_back, answer.note)


ROUND_NAMES = {"dispatch": "下发", "collect": "收集", "remind": "催报", "consolidate": "汇总"}


@flow(name="campaign", flow_run_name=run_name("campaign"))
@_expected_failures
def campaign(
    config_dir: str = "config",
    as_of: datetime | None = None,
    approval: Approval = "ui",
    data_dir: str | None = None,
) -> State:
    """The whole January run at ``as_of``: whatever the calendar says is due, in order."""
    with runtime(config_dir, data_dir, as_of) as rt:
        now = moment(rt, as_of)
        if skipped := _out_of_season(rt, now):
            return skipped
        plan = rt.config.plan
        today = now.astimezone(plan.zone).date()
        open_campaign(rt)
        # dispatch only while someone has not been sent the template (keeps the run history small)
        to_invite = anyone_to_invite(rt)
    rounds: dict[str, State] = {}
    if today >= plan.start and to_invite:
        rounds["dispatch"] = dispatch(config_dir, now, data_dir=data_dir, return_state=True)
    rounds["collect"] = collect(config_dir, now, data_dir=data_dir, return_state=True)
    rounds["remind"] = remind(config_dir, now, data_dir=data_dir, return_state=True)
    if today >= plan.consolidation_day:
        rounds["consolidate"] = consolidate(
            config_dir, now, approval, data_dir=data_dir, return_state=True
        )
    failed = {name: s for name, s in rounds.items() if not s.is_completed()}
    if failed:
        return Failed(
            message="；".join(
                f"{ROUND_NAMES[name]}失败：{s.message or s.name}" for name, s in failed.items()
            )
        )
    attention = [s for s in rounds.values() if s.name == "NeedsAttention"]
    last = (
        attention[-1]
        if attention
        else rounds.get("consolidate")
        or (rounds["remind"] if rounds["remind"].name == "Incomplete" else rounds["collect"])
    )
    # A new state: Prefect would take another run's State returned as data.
    return Completed(name=last.name or "Completed", message=last.message)


# -- the coordinator's hands: run from the UI's "Custom run" form -----------------------------


@flow(name="assign", flow_run_name="assign {submission} to {department}")
@_expected_failures
def assign(
    submission: int,
    department: str,
    config_dir: str = "config",
    data_dir: str | None = None,
    as_of: datetime | None = None,
) -> State:
    """Give a quarantined or unmatched file its department; the next collect answers it.

    Args:
        submission: the file's number, from the coordinator's notice (需要人工确认的报送文件)
        department: the registry code of the department it belongs to, e.g. RSJ
        as_of: the moment the summary it publishes stands for (default: now; set in replays)
    """
    with runtime(config_dir, data_dir, as_of) as rt:
        try:
            sub = assign_file(rt, submission, department)
        except NianbaoError as exc:
            return Failed(message=f"未能指定第{submission}号文件：{exc}")
        message = assigned_zh(rt, sub)
        tasks.publish_status(rt, moment(rt, as_of), [message])
    return Completed(message=message)


@flow(name="resend", flow_run_name="resend {key}")
@_expected_failures
def resend(
    key: str,
    delivered: bool = False,
    config_dir: str = "config",
    data_dir: str | None = None,
) -> State:
    """A mail held back by a crash, or refused: let the next run send it, or record that it
    arrived (``delivered``) after checking with its recipient.

    Args:
        key: the mail's key from the run summary or nianbao status, e.g. answer:17
        delivered: the recipient has it: record it as sent instead of sending it again
    """
    with runtime(config_dir, data_dir) as rt:
        try:
            message = release_uncertain(rt, key, delivered=delivered)
        except NianbaoError as exc:
            return Failed(message=str(exc))
    return Completed(message=message)


# Flows with a schedule or run by the calendar (`nianbao run FLOW`)
FLOWS = {
    "dispatch": dispatch,
    "collect": collect,
    "remind": remind,
    "consolidate": consolidate,
    "campaign": campaign,
}
# Flows the coordinator runs by hand from the UI, with their parameters
MANUAL_FLOWS = {"campaign": campaign, "assign": assign, "resend": resend}

os.environ.setdefault("DO_NOT_TRACK", "1")
