"""Prefect tasks: thin wrappers of the use cases in ``office/``, a few per run whatever the
number of departments (dispatch goes in batches); each logs what it did and publishes what
the coordinator reads. Tasks return small summaries, not mails or workbooks.

Sending is not retried by Prefect: the SMTP sender retries transient errors itself within the
``retry_budget_seconds`` of mail.yaml, so an unreachable server ends the run in seconds (what
was not sent goes with the next run). Reading a mailbox is retried once, shortly, unless
its settings are wrong (``annual_report.errors.permanent``): that fails at once. Exactly-once
sending does not depend on retries: ``office.delivery.deliver`` records every mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import State, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from annual_report.campaign.states import DepartmentState
from annual_report.errors import permanent
from office import (
    answers,
    attention,
    campaign,
    delivery,
    dispatch,
    intake,
    ladder,
    progress,
    reviews,
    status,
)
from office.attention import Attention
from office.delivery import Delivery, Outbound
from office.intake import Intake
from office.reviews import PendingWarnings
from office.runtime import Runtime
from office.settings import office_id

if TYPE_CHECKING:
    from annual_report.consolidation import Consolidation

# office.consolidation (openpyxl, pandas) is imported by the tasks that consolidate: every run's
# process imports this module, and a collect round does without them (~0.5 s of imports).


def _retry_helps(task: object, task_run: object, state: State) -> bool:
    """Prefect's retry condition: retry outages, not a wrong configuration (no such host or
    folder, not a Maildir, no or a wrong password): that fails at once."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # the result cannot be read: an outage as far as we know
        return True
    return not (isinstance(exc, BaseException) and permanent(exc))


READ: dict[str, Any] = {
    "retries": 1,
    "retry_delay_seconds": 5,
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": _retry_helps,
}


@task(name="open campaign", cache_policy=NO_CACHE)
def open_campaign(rt: Runtime) -> str:
    opened = campaign.open_campaign(rt)
    get_run_logger().info(
        "campaign %s: report year %s, form %s, %d departments",
        opened.id,
        opened.report_year,
        opened.form_id,
        len(rt.config.registry),
    )
    return opened.id


@task(name="send templates", task_run_name="templates-{batch}", cache_policy=NO_CACHE)
def invite(
    rt: Runtime,
    codes: list[str],
    as_of: datetime,
    force: bool = False,
    batch: int = 1,
    down: Delivery | None = None,
) -> Delivery:
    """One batch of departments: their templates made and sent (a few tasks a dispatch, not
    one a department); returns what was sent, not the mails."""
    done = dispatch.invite(rt, codes, as_of, force=force, down=down)
    _log_delivery(done)
    return done


@task(name="send mail", cache_policy=NO_CACHE)
def deliver(rt: Runtime, items: list[Outbound], force: bool = False) -> Delivery:
    done = delivery.deliver(rt, items, force=force)
    _log_delivery(done)
    return done


def _log_delivery(done: Delivery) -> None:
    log = get_run_logger()
    log.info(
        "%d sent, %d failed, %d already sent, %d held back, %d refused before, %d busy",
        len(done.sent),
        len(done.failed),
        len(done.skipped),
        len(done.uncertain),
        len(done.refused),
        len(done.busy),
    )
    if done.outage:  # one line for the outage, not one per mail
        log.warning(
            "mail server unusable, %d mails not sent (%s): %s",
            len(done.failed),
            ", ".join(f.key for f in done.failed[:10]) + (" …" if len(done.failed) > 10 else ""),
            done.failed[0].error if done.failed else done.outage,
        )
    else:
        for failure in done.failed:
            log.warning("not delivered: %s: %s", failure.key, failure.error)
    for key in done.uncertain:
        log.warning("%s was being sent when an earlier run stopped: not sent again", key)


@task(name="tell the coordinator", cache_policy=NO_CACHE)
def tell_coordinator(
    rt: Runtime, as_of: datetime, server_down: bool = False
) -> tuple[list[Attention], Delivery]:
    """Mail held back or refused, each mailed once to the coordinator with what to do."""
    items, notices = attention.tell_coordinator(rt, as_of, server_down=server_down)
    log = get_run_logger()
    for item in items:
        if item.problem != "failed":  # those are retried; the send task logged them
            log.warning("needs attention: %s (%s): %s", item.key, item.problem, item.reason_zh)
    return items, notices


@task(name="read mailbox", task_run_name="read-{name}", cache_policy=NO_CACHE, **READ)
def read_mailbox(rt: Runtime, name: str, as_of: datetime) -> Intake:
    taken = intake.read_mailbox(rt, name, as_of)
    log = get_run_logger()
    log.info(
        "%s: %d messages (%d new), %d workbooks, %d new submissions",
        name,
        taken.messages,
        taken.new_messages,
        taken.workbooks,
        len(taken.new_submissions),
    )
    for problem in taken.problems:
        log.warning("%s", problem)
    return taken


@task(name="answers owed", cache_policy=NO_CACHE)
def owed_answers(rt: Runtime, as_of: datetime) -> list[Outbound]:
    return answers.owed_answers(rt, as_of)


@task(name="answer", cache_policy=NO_CACHE)
def answer_owed(rt: Runtime, as_of: datetime) -> Delivery:
    """Every answer owed, built and sent a batch at a time (``office.answers.answer_owed``):
    memory bounded by a batch, one task run however many there are."""
    return answers.answer_owed(rt, as_of, send=_deliver_logged)


def _deliver_logged(rt: Runtime, items: Sequence[Outbound]) -> Delivery:
    """One batch, sent and logged as the "send mail" task does."""
    done = delivery.deliver(rt, items)
    _log_delivery(done)
    return done


@task(name="reminders and escalations due", cache_policy=NO_CACHE)
def due_ladder(rt: Runtime, as_of: datetime) -> list[Outbound]:
    return ladder.due_ladder(rt, as_of)


@task(name="warnings to review", cache_policy=NO_CACHE)
def pending_warnings(rt: Runtime) -> PendingWarnings | None:
    return reviews.pending_warnings(rt)


@task(name="send back", cache_policy=NO_CACHE)
def send_back(rt: Runtime, review: PendingWarnings, codes: list[str], note: str = "") -> None:
    reviews.send_back(rt, review, codes, note)
    get_run_logger().info("warnings review: sent back %s", ", ".join(codes) or "none")


@task(name="consolidate", cache_policy=NO_CACHE)
def consolidate(rt: Runtime) -> tuple[Consolidation, Path]:
    from office import consolidation

    result, path = consolidation.consolidate(rt)
    get_run_logger().info(
        "consolidated %d units (%d excluded) into %s",
        len(result.included),
        len(result.excluded),
        path,
    )
    return result, path


@task(name="approve consolidation", cache_policy=NO_CACHE)
def approve(rt: Runtime, draft: Path, as_of: datetime) -> Path:
    from office import consolidation

    final = consolidation.approve(rt, draft, as_of)
    get_run_logger().info("consolidation approved: %s", final)
    return final


# -- what the coordinator reads in the UI ---------------------------------------------------


@task(name="publish status", cache_policy=NO_CACHE)
def publish_status(
    rt: Runtime,
    as_of: datetime,
    notes: list[str] | None = None,
    items: list[Attention] | None = None,
) -> list[DepartmentState]:
    """The coordinator's view: department table, summary, progress (keyed per campaign);
    published only when it differs from what this server shows already (an idle round adds
    no artifact versions and writes nothing). Returns the departments' states it shows."""
    plan = rt.config.plan
    view = status.coordinator_view(rt, as_of, notes or (), items)
    key = artifact_key(rt.campaign_id)
    server = _api_url()
    if status.unpublished(rt, view, server):
        create_table_artifact(
            view.rows,
            key=f"{key}-departments",
            description=f"{plan.report_year}年度报告收集：各单位状态",
        )
        create_markdown_artifact(view.summary, key=f"{key}-summary", description="收集情况摘要")
        create_progress_artifact(view.progress, key=f"{key}-progress", description="已接收单位比例")
        status.view_published(rt, view, server)
    else:
        get_run_logger().info("status unchanged since last published: no new artifacts")
    chart = progress.progress_chart(rt, as_of, server)
    if chart is not None:
        create_markdown_artifact(
            chart.markdown, key=f"{key}-progress-chart", description="报送进度图"
        )
        progress.chart_published(rt, chart, server)
    return view.states


def _api_url() -> str | None:
    """The Prefect server the artifacts go to; None for a temporary one (it keeps nothing,
    so everything is published to it)."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


@task(name="publish consolidation", cache_policy=NO_CACHE)
def publish_consolidation(rt: Runtime, result: Consolidation, path: Path) -> None:
    from office import consolidation

    create_markdown_artifact(
        consolidation.summary_markdown(result, path),
        key=f"{artifact_key(rt.campaign_id)}-consolidation",
        description="汇总结果（草稿）",
    )


@task(name="publish final workbook", cache_policy=NO_CACHE)
def publish_final(rt: Runtime, path: Path) -> None:
    """The approved workbook: a link (for a UI on the same machine) and its path as text."""
    key = artifact_key(rt.campaign_id)
    create_link_artifact(
        path.resolve().as_uri(),
        link_text=path.name,
        key=f"{key}-city-workbook",
        description=f"汇总定稿：{path.resolve()}",
    )


def artifact_key(campaign_id: str) -> str:
    """Artifact keys allow lower-case letters, digits and dashes only. With several offices on
    one server ($NIANBAO_OFFICE set) the office is part of the key, so that one office's
    summary never hides another's as the latest of its key."""
    safe = "".join(c if c.isascii() and c.isalnum() else "-" for c in campaign_id.lower())
    office = office_id()
    return f"nianbao-{office}-{safe}" if office else f"nianbao-{safe}"
