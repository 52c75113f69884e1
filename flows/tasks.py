"""Prefect tasks: thin wrappers of ``office.operations``, one per department per stage at most.

Sending is not retried by Prefect: the SMTP sender retries transient errors itself within the
``retry_budget_seconds`` of mail.yaml, so an unreachable server ends the run in seconds (what
was not sent goes with the next run). Reading a mailbox is retried once, shortly. Exactly-once
sending does not depend on retries: ``operations.deliver`` records every mail.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from annual_report.consolidation.merge import Consolidation
from annual_report.documents import charts
from annual_report.history.frames import progress_by_day
from flows import status
from office import operations as ops
from office.settings import office_id

READ = {"retries": 1, "retry_delay_seconds": 5, "retry_jitter_factor": 0.5}


@task(name="open campaign", cache_policy=NO_CACHE)
def open_campaign(rt: ops.Runtime) -> str:
    campaign = ops.open_campaign(rt)
    get_run_logger().info(
        "campaign %s: report year %s, form %s, %d departments",
        campaign.id,
        campaign.report_year,
        campaign.form_id,
        len(rt.config.registry),
    )
    return campaign.id


@task(name="template", task_run_name="template-{code}", cache_policy=NO_CACHE)
def prepare_invitation(
    rt: ops.Runtime, code: str, as_of: datetime, force: bool = False
) -> ops.Outbound | None:
    return ops.invitation(rt, code, as_of, force=force)


@task(name="send mail", cache_policy=NO_CACHE)
def deliver(rt: ops.Runtime, items: list[ops.Outbound], force: bool = False) -> ops.Delivery:
    delivery = ops.deliver(rt, items, force=force)
    log = get_run_logger()
    log.info(
        "%d sent, %d failed, %d already sent, %d held back, %d refused before, %d busy",
        len(delivery.sent),
        len(delivery.failed),
        len(delivery.skipped),
        len(delivery.uncertain),
        len(delivery.refused),
        len(delivery.busy),
    )
    if delivery.outage:  # one line for the outage, not one per mail
        log.warning(
            "mail server unusable, %d mails not sent (%s): %s",
            len(delivery.failed),
            ", ".join(f.key for f in delivery.failed[:10])
            + (" …" if len(delivery.failed) > 10 else ""),
            delivery.failed[0].error if delivery.failed else delivery.outage,
        )
    else:
        for failure in delivery.failed:
            log.warning("not delivered: %s: %s", failure.key, failure.error)
    for key in delivery.uncertain:
        log.warning("%s was being sent when an earlier run stopped: not sent again", key)
    return delivery


@task(name="tell the coordinator", cache_policy=NO_CACHE)
def tell_coordinator(
    rt: ops.Runtime, as_of: datetime, server_down: bool = False
) -> tuple[list[ops.Attention], ops.Delivery]:
    """Mail held back or refused, each mailed once to the coordinator with what to do."""
    items, delivery = ops.tell_coordinator(rt, as_of, server_down=server_down)
    log = get_run_logger()
    for item in items:
        if item.problem != "failed":  # those are retried; the send task logged them
            log.warning("needs attention: %s (%s): %s", item.key, item.problem, item.reason_zh)
    return items, delivery


@task(name="read mailbox", task_run_name="read-{name}", cache_policy=NO_CACHE, **READ)
def collect_mailbox(rt: ops.Runtime, name: str, as_of: datetime) -> ops.Intake:
    boxes = dict(rt.mailboxes())
    box = boxes[name]
    try:
        intake = ops.collect_mailbox(rt, name, box, as_of)
    finally:
        close = getattr(box, "close", None)
        if close:
            close()
    log = get_run_logger()
    log.info(
        "%s: %d messages (%d new), %d workbooks, %d new submissions",
        name,
        intake.messages,
        intake.new_messages,
        intake.workbooks,
        len(intake.new_submissions),
    )
    for problem in intake.problems:
        log.warning("%s", problem)
    return intake


@task(name="answers owed", cache_policy=NO_CACHE)
def owed_answers(rt: ops.Runtime, as_of: datetime) -> list[ops.Outbound]:
    return ops.owed_answers(rt, as_of)


@task(name="reminders and escalations due", cache_policy=NO_CACHE)
def due_ladder(rt: ops.Runtime, as_of: datetime) -> list[ops.Outbound]:
    return ops.due_ladder(rt, as_of)


@task(name="consolidate", cache_policy=NO_CACHE)
def consolidate(rt: ops.Runtime) -> tuple[Consolidation, Path]:
    result, path = ops.consolidate(rt)
    get_run_logger().info(
        "consolidated %d units (%d excluded) into %s",
        len(result.included),
        len(result.excluded),
        path,
    )
    return result, path


@task(name="publish status", cache_policy=NO_CACHE)
def publish_status(
    rt: ops.Runtime,
    as_of: datetime,
    notes: list[str] | None = None,
    attention: list[ops.Attention] | None = None,
) -> float:
    """The coordinator's view: department table, summary, progress (keyed per campaign)."""
    plan = rt.config.plan
    states = ops.states(rt, as_of)
    if attention is None:
        attention = ops.attention(rt, states)
    key = artifact_key(rt.campaign_id)
    history = status.remember(
        rt.store.get_state(rt.campaign_id, "status-snapshots"), states, as_of, plan.zone
    )
    rt.store.set_state(rt.campaign_id, "status-snapshots", history)
    create_table_artifact(
        status.table_rows(states, plan.zone),
        key=f"{key}-departments",
        description=f"{plan.report_year}年度报告收集：各单位状态",
    )
    create_markdown_artifact(
        status.summary_markdown(
            title=f"{rt.config.registry.city}{plan.report_year}年政府信息公开工作年度报告收集情况",
            states=states,
            registry=rt.config.registry,
            as_of=as_of,
            zone=plan.zone,
            deadline=plan.deadline,
            previous=history["previous"],
            previous_at=history["previous_at"],
            extra=notes,
            unassigned=rt.store.unassigned(rt.campaign_id),
            campaign=rt.campaign_id,
            attention=attention,
            command=lambda key, delivered=False: ops.resend_command(rt, key, delivered=delivered),
        ),
        key=f"{key}-summary",
        description="收集情况摘要",
    )
    done = status.progress(states)
    create_progress_artifact(done, key=f"{key}-progress", description="已接收单位比例")
    # the campaign day by day, as a picture inline in the artifact (no URL the browser must
    # reach); drawn and published only when the days changed (each version is ~70 KB)
    days = progress_by_day(rt.store, rt.campaign_id, zone=plan.zone, as_of=as_of)
    digest = hashlib.sha256(days.to_json(date_format="iso").encode()).hexdigest()
    if rt.store.get_state(rt.campaign_id, "progress-chart") != digest:
        chart = charts.progress_markdown(rt.store, rt.campaign_id, days=days)
        create_markdown_artifact(chart, key=f"{key}-progress-chart", description="报送进度图")
        rt.store.set_state(rt.campaign_id, "progress-chart", digest)
    return done


@task(name="publish consolidation", cache_policy=NO_CACHE)
def publish_consolidation(rt: ops.Runtime, result: Consolidation, path: Path) -> None:
    key = artifact_key(rt.campaign_id)
    lines = [f"# {path.stem}", "", f"文件：`{path}`", ""]
    lines += [f"## 未纳入 {len(result.excluded)} 个单位", ""]
    lines += [f"- {u.name}：{u.reason}" for u in result.excluded] or ["- 无"]
    lines += ["", f"## 纳入 {len(result.included)} 个单位", ""]
    lines.append("、".join(u.name for u in result.included) or "无")
    if result.issues:
        lines += ["", "## 汇总提示", ""] + [f"- {i.rule} {i.message}" for i in result.issues]
    create_markdown_artifact(
        "\n".join(lines) + "\n", key=f"{key}-consolidation", description="汇总结果（草稿）"
    )


@task(name="publish final workbook", cache_policy=NO_CACHE)
def publish_final(rt: ops.Runtime, path: Path) -> None:
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
