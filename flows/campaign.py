"""The January campaign as Prefect flows: dispatch, collect, remind, consolidate, and the whole.

Flows orchestrate only: every step is a task in ``flows/tasks.py`` wrapping a function of
``office/operations.py``. Every time-dependent flow takes ``as_of`` so the calendar can be
tested and replayed (``nianbao run remind --as-of 2022-01-25T09:00+08:00``).
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import quote
from pydantic import Field

from annual_report.campaign.kinds import STATE_LABELS
from annual_report.errors import ConfigError, MailFetchError, NianbaoError, StoreError
from flows import status, tasks
from office import operations as ops
from office.settings import load_app_config

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
        return Secret.load(name).get()
    except ValueError:
        return None


@contextmanager
def runtime(
    config_dir: str, data_dir: str | None = None, as_of: datetime | None = None
) -> Iterator[ops.Runtime]:
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
    rt = ops.Runtime.open(
        config, smtp_password=smtp_password, imap_password=imap_password, as_of=as_of
    )
    try:
        yield rt
    finally:
        rt.close()


def _now(as_of: datetime | None, rt: ops.Runtime) -> datetime:
    if as_of is None:
        return datetime.now(rt.config.plan.zone)
    if as_of.tzinfo is None:
        return as_of.replace(tzinfo=rt.config.plan.zone)
    return as_of


def _out_of_season(rt: ops.Runtime, now: datetime) -> State | None:
    """``Completed`` named Skipped when ``now`` is outside the campaign's dates, else None.

    The cron schedules carry no year, so they wake again next January; until campaign.yaml
    describes the new campaign those runs must not mail anyone about the old one.
    """
    plan = rt.config.plan
    if plan.in_season(now):
        return None
    get_run_logger().warning(
        "%s is outside campaign %s (%s – %s): nothing done", now, plan.id, plan.start, plan.last_day
    )
    return Completed(
        name="Skipped",
        message=(
            f"{now:%Y-%m-%d %H:%M} 不在{plan.id}年度收集期内（{plan.start} 至 {plan.last_day}），"
            "未做任何操作。新一年的收集请更新 config/campaign.yaml；如需继续处理本期，"
            "请推后其中的 closes_on。"
        ),
    )


def _state(outcome: status.Outcome) -> State:
    """The Prefect state of an outcome: Failed (red, for automations) or a named Completed."""
    log = get_run_logger()
    if outcome.failed:
        log.error("%s", outcome.message)
        return Failed(message=outcome.message)
    (log.warning if outcome.name == "NeedsAttention" else log.info)("%s", outcome.message)
    if outcome.name == "Completed":
        return Completed(message=outcome.message)
    return Completed(name=outcome.name, message=outcome.message)


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


def failure_zh(exc: NianbaoError) -> str:
    """One Chinese line for an expected failure (the CLI prints the same)."""
    if isinstance(exc, ConfigError):
        if not exc.problems:
            return f"配置有问题，未运行：{exc}"
        details = "；".join(exc.problems[:5]) + ("等" if len(exc.problems) > 5 else "")
        return f"配置有问题（{len(exc.problems)}处），未运行：{details}"
    if isinstance(exc, StoreError):
        return f"状态数据库出错：{exc}"
    if isinstance(exc, MailFetchError):
        return status.fetch_error_zh("imap", exc)
    reason = getattr(exc, "reason_zh", None)
    return reason or f"运行失败：{exc}"


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
        now = _now(as_of, rt)
        if skipped := _out_of_season(rt, now):
            return skipped
        tasks.open_campaign(rt)
        codes = list(rt.config.registry.codes)
        futures = [tasks.prepare_invitation.submit(rt, code, now, force) for code in codes]
        items = [item for item in (f.result() for f in futures) if item is not None]
        delivery = tasks.deliver(rt, items, force)
        sent = len(delivery.sent)
        before = ops.done_count(rt, (f"invitation:{c}" for c in codes)) - sent
        attention, notices = tasks.tell_coordinator(rt, now, bool(delivery.outage))
        tasks.publish_status(rt, now, [], attention)
        return _state(
            status.outcome(
                f"下发模板：本次发出{sent}份，此前已发出{before}份",
                delivery=delivery.merge(notices),
                attention=attention,
            )
        )


@flow(name="collect", flow_run_name=run_name("collect"))
@_expected_failures
def collect(
    config_dir: str = "config", as_of: datetime | None = None, data_dir: str | None = None
) -> State:
    """Read the mailbox(es), archive, match, validate and record, then answer every reply."""
    with runtime(config_dir, data_dir, as_of) as rt:
        now = _now(as_of, rt)
        if skipped := _out_of_season(rt, now):
            return skipped
        tasks.open_campaign(rt)
        notes: list[str] = []
        problems: list[str] = []
        received = 0
        for name, _box in rt.mailboxes():
            try:
                intake = tasks.collect_mailbox(rt, name, now)
            except MailFetchError as exc:  # answer what is owed all the same
                problems.append(status.fetch_error_zh(name, exc))
                continue
            received += len(intake.new_submissions)
            notes.extend(intake.problems)
        answers = tasks.owed_answers(rt, now)
        delivery = tasks.deliver(rt, answers)
        answered = len(delivery.sent)
        attention, notices = tasks.tell_coordinator(rt, now, bool(delivery.outage))
        tasks.publish_status(rt, now, problems + notes, attention)
        return _state(
            status.outcome(
                f"收集：新收到{received}份报表，发出回复{answered}封",
                delivery=delivery.merge(notices),
                attention=attention,
                states=ops.states(rt),
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
        now = _now(as_of, rt)
        if skipped := _out_of_season(rt, now):
            return skipped
        tasks.open_campaign(rt)
        due = tasks.due_ladder(rt, now)
        delivery = tasks.deliver(rt, due)
        chased = len(delivery.sent)
        attention, notices = tasks.tell_coordinator(rt, now, bool(delivery.outage))
        tasks.publish_status(rt, now, [], attention)
        return _state(
            status.outcome(
                f"催报：发出提醒和督办{chased}封",
                delivery=delivery.merge(notices),
                attention=attention,
                states=ops.states(rt),
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
        now = _now(as_of, rt)
        if skipped := _out_of_season(rt, now):
            return skipped
        tasks.open_campaign(rt)
        tasks.publish_status(rt, now)  # the paused run shows where things stand
        if approval == "ui":
            _review_warnings(rt)
        result, path = tasks.consolidate(rt)
        tasks.publish_consolidation(rt, quote(result), path)
        if approval == "ui":
            excluded = "\n".join(f"- {u.name}：{u.reason}" for u in result.excluded)
            decision = pause_flow_run(
                wait_for_input=ConsolidationApproval.with_initial_data(
                    description=(
                        f"汇总结果：纳入 {len(result.included)} 个单位，未纳入 "
                        f"{len(result.excluded)} 个。\n\n{excluded}\n\n表格：{path}\n\n"
                        "请核对后批准，或取消“批准”并填写退回原因。"
                    ),
                    # approve is True by default: passed here, Prefect's with_initial_data
                    # would rebuild the field without its title and the form would say "Approve"
                ),
                timeout=7 * 24 * 3600,
                poll_interval=2,
            )
            if not decision.approve:
                log.info("consolidation sent back: %s", decision.note)
                return Completed(
                    name="Returned",
                    message=f"汇总结果已退回，未定稿：{decision.note or '（未填写原因）'}",
                )
        final = path.with_name(path.stem.replace("（汇总）", "（定稿）") + path.suffix)
        shutil.copyfile(path, final)
        rt.store.set_campaign_status(rt.campaign_id, "consolidated")
        # the approval's date is the city report's 成文日期
        # (annual_report.documents.report.report_date)
        rt.store.set_state(
            rt.campaign_id, "consolidation.approved", {"at": now.isoformat(), "file": final.name}
        )
        tasks.publish_final(rt, final)
        return _state(
            status.outcome(
                f"汇总：纳入{len(result.included)}个单位，定稿为《{final.name}》",
                attention=ops.attention(rt),
                states=ops.states(rt),
            )
        )


def _review_warnings(rt: ops.Runtime) -> None:
    """Let the coordinator send back submissions that were accepted with warnings."""
    pending = [
        s
        for s in rt.store.accepted_submissions(rt.campaign_id)
        if s.status == "accepted_with_warnings" and s.decided_by is None
    ]
    if not pending:
        return
    lines = [
        "以下单位的报送有警告，默认纳入汇总；需要退回的，请在“退回的单位代码”中填写单位代码（备注会随退回通知发给该单位）。",
        "",
    ]
    for sub in pending:
        issues = [i.message for i in rt.store.issues(sub.id) if i.severity == "warning"]
        dept = rt.config.registry.get(sub.department)
        name = dept.name if dept else sub.department
        lines.append(f"- {name}（{sub.department}，第{sub.version}版）：" + "；".join(issues[:3]))
        if sub.explanation:
            lines.append(f"  单位说明：{sub.explanation[:300]}")
    codes = {s.department for s in pending}
    problem = ""
    while True:  # a code that is not on the list is asked again, never silently dropped
        review = pause_flow_run(
            wait_for_input=WarningsReview.with_initial_data(description=problem + "\n".join(lines)),
            timeout=7 * 24 * 3600,
            poll_interval=2,
        )
        back = {code.strip().upper() for code in review.send_back if code.strip()}
        unknown = sorted(back - codes)
        if not unknown:
            break
        get_run_logger().warning("send-back codes not under review: %s", ", ".join(unknown))
        problem = (
            f"**未找到单位代码：{'、'.join(unknown)}**（只能填写下列单位的代码），请重新填写。\n\n"
        )
    for sub in pending:
        decision = "rejected" if sub.department in back else "accepted"
        rt.store.decide(sub.id, decision, by="coordinator", note=review.note or None)


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
        now = _now(as_of, rt)
        if skipped := _out_of_season(rt, now):
            return skipped
        plan = rt.config.plan
        today = now.astimezone(plan.zone).date()
        ops.open_campaign(rt)
        # dispatch only while someone has not been sent the template (keeps the run history small)
        to_invite = any(s.state == "not_sent" for s in ops.states(rt))
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
            sub = ops.assign(rt, submission, department)
        except NianbaoError as exc:
            return Failed(message=f"未能指定第{submission}号文件：{exc}")
        message = assigned_zh(rt, sub)
        tasks.publish_status(rt, _now(as_of, rt), [message])
    return Completed(message=message)


def assigned_zh(rt: ops.Runtime, sub: Any) -> str:
    """What the coordinator's assignment did, in Chinese."""
    dept = rt.config.registry.get(sub.department)
    name = f"{dept.name}（{sub.department}）" if dept else sub.department
    label = STATE_LABELS.get(sub.status) or status.SUBMISSION_LABELS.get(sub.status, sub.status)
    return (
        f"第{sub.id}号文件已指定给{name}，为该单位第{sub.version}版，核对结果：{label}；"
        "下次收集时回复该单位"
    )


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
            message = ops.release_uncertain(rt, key, delivered=delivered)
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
