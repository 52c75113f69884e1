"""Outgoing mail, exactly once, whatever crashes.

Every mail has a natural key (``invitation:RSJ``, ``answer:17``, ``reminder.deadline:RSJ``)
recorded in the store as *pending* just before it is handed to the SMTP server and *done* right
after. A key found pending on a later run means the process died in between: that mail may or
may not have left, so it is not sent again but shown to the coordinator (``--force`` sends it
anyway; ``release_uncertain`` is the coordinator's word on it). Answers are derived from the
store, not from the pass that read the mail, so a crash between reading and answering loses no
answer.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from annual_report.campaign.kinds import EVENT_KINDS, event_kind, mail_label
from annual_report.errors import MailSendError, StoreError
from annual_report.store.records import Event
from connectors.outgoing import OutgoingMail, SendResult
from office.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outbound:
    """A mail with the event that records it."""

    key: str
    kind: str  # an event kind (annual_report/campaign/kinds.py): "sent.invitation", …
    department: str | None
    mail: OutgoingMail

    def __post_init__(self) -> None:
        event_kind(self.kind)  # an undeclared kind fails here, not as a raw string in the UI


@dataclass(frozen=True)
class Failure:
    """A mail that could not be sent in this run."""

    key: str
    error: str  # English, for the log
    error_zh: str  # for the coordinator
    permanent: bool = False  # a refused address: not retried until the coordinator acts


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)  # event keys
    failed: list[Failure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already sent
    uncertain: list[str] = field(default_factory=list)  # pending from a run that died: held back
    refused: list[str] = field(default_factory=list)  # refused before: waits for the coordinator
    busy: list[str] = field(default_factory=list)  # being sent by another run right now
    outage: str | None = None  # Chinese: why nothing more could be sent (server down, login)
    outage_error: str | None = None  # the same in English, for the log

    def merge(self, other: Delivery) -> Delivery:
        for name in ("sent", "failed", "skipped", "uncertain", "refused", "busy"):
            getattr(self, name).extend(getattr(other, name))
        if self.outage is None and other.outage is not None:
            self.outage, self.outage_error = other.outage, other.outage_error
        return self


# -- who is sending: a pending mail of a live run is not held back --------------------------


def _start_time(pid: int) -> str:
    """The process's start time (Linux), so a reused pid is not taken for the same process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


@functools.cache
def sender_identity() -> str:
    """``host:pid:start``: recorded on every mail while it is with the SMTP server."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def sending_elsewhere(owner: object) -> bool:
    """Whether the run that left a mail pending is alive (another process on this machine).

    A pending mail of this very process is from a run that raised; of a process that is gone
    or of another machine, from a run that died: either way held back, never sent twice.
    """
    if not isinstance(owner, str) or owner == sender_identity():
        return False
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return bool(started) and _start_time(int(pid)) == started


# -- sending --------------------------------------------------------------------------------

MailState = Literal["send", "done", "held", "busy", "refused"]


def mail_state(rt: Runtime, key: str, *, force: bool = False) -> MailState:
    """What to do with mail ``key``: ``send``, or why not: ``done`` (sent), ``held`` (pending
    from a run that died: it may have left), ``busy`` (another run is sending it now),
    ``refused`` (refused for good; the coordinator releases it with ``resend``)."""
    return _state(rt.store.event(rt.campaign_id, key), force=force)


def _state(event: Event | None, *, force: bool = False) -> MailState:
    if event is None:
        return "send"
    if event.status == "pending" and sending_elsewhere(event.detail.get("sender")):
        return "busy"  # never sent twice, not even with force
    if force:
        return "send"
    if event.status == "done":
        return "done"
    if event.status == "failed":
        return "refused" if event.detail.get("permanent") else "send"
    return "held"


def owed(rt: Runtime, key: str) -> bool:
    """Not sent yet, failed for a reason a retry may fix, or pending from a run that died
    (``deliver`` reports those to the coordinator instead of sending them)."""
    event = rt.store.event(rt.campaign_id, key)
    if event is None or event.status == "pending":
        return True
    return event.status == "failed" and not event.detail.get("permanent")


def deliver(
    rt: Runtime, items: Sequence[Outbound], *, force: bool = False, down: Delivery | None = None
) -> Delivery:
    """Send ``items`` over one connection, each recorded pending → done/failed around it.

    Expected outages (server unreachable, login refused) do not raise: the mails are recorded
    as failed (the next run sends them) and ``Delivery.outage`` says why, in Chinese.
    ``down``: what an earlier batch of this run delivered; if it met an outage, ``items`` are
    recorded failed for the same reason without trying (an outage costs its retry budget once
    a run, not once a batch).
    """
    delivery = Delivery()
    todo: list[Outbound] = []
    lists = {
        "done": delivery.skipped,
        "held": delivery.uncertain,
        "busy": delivery.busy,
        "refused": delivery.refused,
    }
    seen: dict[str, int] = {}  # attempts when decided: another run may begin it meanwhile
    for item in items:
        event = rt.store.event(rt.campaign_id, item.key)
        state = _state(event, force=force)
        if state == "send":
            todo.append(item)
            seen[item.key] = event.attempts if event else 0
        else:
            lists[state].append(item.key)
    if not todo:
        return delivery
    record = _Record(rt, todo, delivery, seen)
    if down is not None and down.outage is not None:
        record.fail_rest(down.outage_error or down.outage, down.outage)
        return delivery
    mails = [item.mail for item in todo]
    try:
        rt.sender.send(mails, before_send=record.handed, on_result=record.result)
    except MailSendError as exc:
        record.outage(exc)
    return delivery


class _Record:
    """The store's record of one batch as the sender reports it: pending when a mail is handed
    to the server, done or failed after; an outage fails what was not tried."""

    def __init__(
        self, rt: Runtime, todo: Sequence[Outbound], delivery: Delivery, seen: dict[str, int]
    ) -> None:
        self.rt = rt
        self.todo = todo
        self.by_id = {item.mail.message_id: item for item in todo}
        self.delivery = delivery
        self.seen = seen
        self.begun: set[str] = set()  # recorded pending by this run
        self.lost: set[str] = set()  # begun by another run since this one decided

    def handed(self, mail: OutgoingMail) -> bool:
        """Record ``mail`` pending; False (the sender withholds it) when another run of the
        office began it after this one decided to send it."""
        rt, item = self.rt, self.by_id[mail.message_id]
        expect = self.seen[item.key]
        begun = rt.store.begin_event(
            rt.campaign_id,
            item.key,
            kind=item.kind,
            department=item.department,
            expect_attempts=expect,
            detail={
                "message_id": mail.message_id,
                "to": list(mail.to),
                "cc": list(mail.cc),
                "subject": mail.subject,
                "sender": sender_identity(),
                "handed_at": rt.store.now().isoformat(),
            },
        )
        if begun.begun:
            self.begun.add(item.key)
            return True
        log.warning("mail %s is being sent by another run: withheld", item.key)
        self.lost.add(item.key)
        self.delivery.busy.append(item.key)
        return False

    def result(self, result: SendResult) -> None:
        rt, item = self.rt, self.by_id[result.message_id]
        if item.key in self.lost:
            return
        never_handed = result.attempts == 0 and item.key not in self.begun
        if never_handed and not result.ok and not self.handed(item.mail):
            return  # never handed, and another run has it now
        detail: dict[str, object] = {
            "message_id": result.message_id,
            "to": list(item.mail.to),
            "cc": list(item.mail.cc),
            "subject": item.mail.subject,
            "archived": result.archived,
        }
        if result.ok:
            rt.store.finish_event(rt.campaign_id, item.key, status="done", detail=detail)
            self.delivery.sent.append(item.key)
        else:
            error = result.error or "failed"
            error_zh = result.error_zh or "发送失败"
            detail |= {"error": error, "error_zh": error_zh, "permanent": result.permanent}
            rt.store.finish_event(rt.campaign_id, item.key, status="failed", detail=detail)
            self.delivery.failed.append(Failure(item.key, error, error_zh, result.permanent))

    def outage(self, exc: MailSendError) -> None:
        """The sender raises only when it could not connect or log in: nothing left, so the
        mails it was about to send are failures to retry, not uncertain."""
        outage = getattr(exc, "reason_zh", None) or f"无法使用邮件服务器（{exc.message}）"
        log.warning("mail server unusable: %s", exc)
        self.fail_rest(str(exc), outage)

    def fail_rest(self, error: str, outage: str) -> None:
        """Every mail not sent or failed yet: failed, to retry, because of ``outage``."""
        rt, delivery = self.rt, self.delivery
        delivery.outage, delivery.outage_error = outage, error
        done = set(delivery.sent) | {f.key for f in delivery.failed}
        for item in self.todo:
            if item.key in done or item.key in self.lost:
                continue
            # handed by this run when the server was lost, or not handed yet: failed, to retry
            if item.key not in self.begun and not self.handed(item.mail):
                continue  # another run has it
            rt.store.finish_event(
                rt.campaign_id,
                item.key,
                status="failed",
                detail={"error": error, "error_zh": outage, "permanent": False},
            )
            delivery.failed.append(Failure(item.key, error, outage))


def done_count(rt: Runtime, keys: Iterable[str]) -> int:
    """How many of the mails ``keys`` were sent."""
    return sum(rt.store.event_done(rt.campaign_id, key) for key in keys)


# -- the coordinator's word on a mail held back or refused ----------------------------------


def release_uncertain(rt: Runtime, key: str, *, delivered: bool = False) -> str:
    """The coordinator's word on mail ``key``, held back or refused.

    ``delivered=False``: the next run sends it (the coordinator checked that a held-back mail
    did not arrive, or corrected a refused address). ``delivered=True``: a held-back mail did
    arrive; it is recorded as sent and never sent again. A mail known to be sent is never
    released. Returns what was done, in Chinese.
    """
    event = rt.store.event(rt.campaign_id, key)
    if event is None:
        raise StoreError(
            f"本期（{rt.campaign_id}）没有编号为 {key} 的邮件"
            "（编号见收集情况摘要或 nianbao status）"
        )
    kind = EVENT_KINDS.get(event.kind)
    label = mail_label(kind.mail) if kind else event.kind
    if event.status == "done":
        when = event.done_at.astimezone(rt.config.plan.zone) if event.done_at else None
        raise StoreError(
            f"{key}（{label}）已于{when:%Y-%m-%d %H:%M}发出，无需处理"
            if when
            else f"{key}（{label}）已发出，无需处理"
        )
    if delivered:
        if event.status != "pending":
            reason = event.detail.get("error_zh", "发送失败")
            raise StoreError(f"{key}（{label}）没有发出（{reason}），不能记为已发出")
        rt.store.finish_event(
            rt.campaign_id, key, status="done", detail={"confirmed_by": "coordinator"}
        )
        return f"{key}（{label}）已记为发出，不会再发送"
    if sending_elsewhere(event.detail.get("sender")) and event.status == "pending":
        raise StoreError(f"{key}（{label}）正在由另一次运行发送，请稍后再看")
    rt.store.finish_event(
        rt.campaign_id,
        key,
        status="failed",
        detail={
            "error": "released by the coordinator",
            "error_zh": "协调人已安排重发",
            "permanent": False,
            "released": True,
        },
    )
    return f"{key}（{label}）将由下一次运行发送"


def resend_command(rt: Runtime, key: str, *, delivered: bool = False) -> str:
    """The exact command for the coordinator's terminal."""
    flag = " --delivered" if delivered else ""
    return f"nianbao resend {key}{flag} --config {rt.config.config_dir} --data {rt.config.data_dir}"
