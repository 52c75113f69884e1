"""The January campaign as Prefect flows: dispatch, collect, remind, consolidate, and the whole.

Flows orchestrate only: every step is a task in ``flows/tasks.py`` wrapping a function of
``flows/operations.py``. Every time-dependent flow takes ``as_of`` so the calendar can be
tested and replayed (``nianbao run remind --as-of 2022-01-25T09:00+08:00``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Literal

from prefect import flow, get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import quote
from pydantic import Field

from annual_report.errors import NianbaoError

from . import operations as ops
from . import tasks
from .settings import load_app_config

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
    message = (
        f"{now:%Y-%m-%d %H:%M} is outside campaign {plan.id} ({plan.start} – {plan.last_day}); "
        "nothing done. For a new year, update config/campaign.yaml; to act later on this "
        "campaign, move its closes_on."
    )
    get_run_logger().warning(message)
    return Completed(name="Skipped", message=message)


def _incomplete(rt: ops.Runtime, what: str) -> State:
    """``Completed`` named Incomplete while departments are missing, else plain Completed."""
    states = ops.states(rt)
    missing = [s.name for s in states if s.state not in ("accepted", "accepted_with_warnings")]
    if missing:
        shown = "、".join(missing[:10]) + ("等" if len(missing) > 10 else "")
        return Completed(
            name="Incomplete",
            message=f"{what}; {len(missing)} of {len(states)} departments not accepted: {shown}",
        )
    return Completed(message=f"{what}; all {len(states)} departments accepted")


@flow(name="dispatch", flow_run_name=run_name("dispatch"))
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
        tasks.publish_status(rt, now, _delivery_notes(delivery))
        return Completed(
            message=f"{len(delivery.sent)} invitations sent, {len(codes) - len(items)} sent before"
        )


@flow(name="collect", flow_run_name=run_name("collect"))
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
        received = 0
        for name, _box in rt.mailboxes():
            intake = tasks.collect_mailbox(rt, name, now)
            received += len(intake.new_submissions)
            notes.extend(intake.problems)
        answers = tasks.owed_answers(rt, now)
        delivery = tasks.deliver(rt, answers)
        tasks.publish_status(rt, now, notes + _delivery_notes(delivery))
        return _incomplete(rt, f"{received} new submissions, {len(delivery.sent)} answers sent")


@flow(name="remind", flow_run_name=run_name("remind"))
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
        tasks.publish_status(rt, now, _delivery_notes(delivery))
        return _incomplete(rt, f"{len(delivery.sent)} reminders and escalations sent")


@flow(name="consolidate", flow_run_name=run_name("consolidate"))
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
                return Completed(name="Returned", message=f"sent back: {decision.note}")
        final = path.with_name(path.stem.replace("（汇总）", "（定稿）") + path.suffix)
        shutil.copyfile(path, final)
        rt.store.set_campaign_status(rt.campaign_id, "consolidated")
        tasks.publish_final(rt, final)
        state = _incomplete(rt, f"consolidated {len(result.included)} units into {final.name}")
        return state


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


@flow(name="campaign", flow_run_name=run_name("campaign"))
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
    if today >= plan.start and to_invite:
        dispatch(config_dir, now, data_dir=data_dir)
    rounds = {
        "collect": collect(config_dir, now, data_dir=data_dir, return_state=True),
        "remind": remind(config_dir, now, data_dir=data_dir, return_state=True),
    }
    if today >= plan.consolidation_day:
        rounds["consolidate"] = consolidate(
            config_dir, now, approval, data_dir=data_dir, return_state=True
        )
    failed = {name: s for name, s in rounds.items() if not s.is_completed()}
    if failed:
        return Failed(
            message="; ".join(f"{name}: {s.name}: {s.message or ''}" for name, s in failed.items())
        )
    last = rounds.get("consolidate") or (
        rounds["remind"] if rounds["remind"].name == "Incomplete" else rounds["collect"]
    )
    # A new state: Prefect would take another run's State returned as data.
    return Completed(name=last.name or "Completed", message=last.message)


def _delivery_notes(delivery: ops.Delivery) -> list[str]:
    notes = [f"未能发送：{key}（{reason}）" for key, reason in delivery.failed]
    notes += [
        f"上次运行中断时正在发送 {key}，不确定是否已发出，未重发"
        f"（确认未收到的，可用 nianbao resend {key} 安排下次重发）"
        for key in delivery.uncertain
    ]
    return notes


# -- the coordinator's hands: run from the UI's "Custom run" form -----------------------------


@flow(name="assign", flow_run_name="assign {submission} to {department}")
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
            return Failed(message=str(exc))
        note = f"submission {sub.id} assigned to {sub.department}"
        tasks.publish_status(rt, _now(as_of, rt), [note])
    return Completed(
        message=f"submission {sub.id}: {sub.department} v{sub.version}, {sub.status}; "
        "the next collect answers the department"
    )


@flow(name="resend", flow_run_name="resend {key}")
def resend(key: str, config_dir: str = "config", data_dir: str | None = None) -> State:
    """Let the next run send a mail that a crash left uncertain (check it did not arrive).

    Args:
        key: the mail's key from the run summary, e.g. answer:17
    """
    with runtime(config_dir, data_dir) as rt:
        try:
            ops.release_uncertain(rt, key)
        except NianbaoError as exc:
            return Failed(message=str(exc))
    return Completed(message=f"{key} will be sent by the next run")


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
