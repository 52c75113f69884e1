"""How a run ended, as the coordinator reads it: a state name (Completed, Incomplete,
NeedsAttention, Failed) and one Chinese message; and expected failures in one Chinese line
(the flows end Failed with it, the CLI prints it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from annual_report.campaign.states import DepartmentState
from annual_report.errors import ConfigError, MailFetchError, NianbaoError, StoreError


@dataclass(frozen=True)
class Outcome:
    """A run's final state as the coordinator reads it: a Prefect state name and a Chinese
    message (docs/ui.md, "How a run ends")."""

    name: str  # Completed, Incomplete, NeedsAttention, Failed
    message: str

    @property
    def failed(self) -> bool:
        return self.name == "Failed"


def outcome(
    what: str,
    *,
    delivery: Any = None,
    attention: Sequence[Any] = (),
    states: Sequence[DepartmentState] | None = None,
    problems: Sequence[str] = (),
) -> Outcome:
    """``what`` the run did, then what went wrong, what waits for the coordinator and who is
    missing. Failed: mail it owed was not sent, or a mailbox could not be read; NeedsAttention:
    mail held back or refused (this run or before); Incomplete: departments not accepted yet."""
    parts = [what]
    failed = list(delivery.failed) if delivery is not None else []
    if failed:
        sent = len(delivery.sent)
        reasons = list(dict.fromkeys(f.error_zh for f in failed))
        reason = delivery.outage or reasons[0] + ("等" if len(reasons) > 1 else "")
        retry = [f for f in failed if not f.permanent]
        parts.append(
            f"应发{sent + len(failed)}封邮件，已发出{sent}封，未发出{len(failed)}封（{reason}）"
            + ("，下次运行会自动补发" if retry else "")
        )
    parts += list(problems)
    held = [i for i in attention if i.problem == "held_back"]
    refused = [i for i in attention if i.problem == "refused"]
    if held:
        keys = "、".join(i.key for i in held[:5]) + ("等" if len(held) > 5 else "")
        parts.append(
            f"{len(held)}封邮件不确定是否已发出，没有重发（{keys}）：请核实收件人是否收到，"
            "再用 resend 处理（见收集情况摘要“需要注意”）"
        )
    if refused:
        keys = "、".join(i.key for i in refused[:5]) + ("等" if len(refused) > 5 else "")
        parts.append(f"{len(refused)}封邮件被拒收（{keys}）：请核对地址后用 resend 安排重发")
    missing = [s for s in states or () if s.state not in ("accepted", "accepted_with_warnings")]
    if states is not None:
        if missing:
            shown = "、".join(s.name for s in missing[:10]) + ("等" if len(missing) > 10 else "")
            parts.append(f"{len(states)}个单位中{len(missing)}个尚未接收：{shown}")
        else:
            parts.append(f"{len(states)}个单位已全部接收")
    if failed or problems:
        name = "Failed"
    elif held or refused:
        name = "NeedsAttention"
    elif missing:
        name = "Incomplete"
    else:
        name = "Completed"
    return Outcome(name, "；".join(parts))


def fetch_error_zh(mailbox: str, exc: BaseException) -> str:
    """A mailbox that could not be read, as the coordinator reads it (the technical detail
    stays in the log)."""
    text = str(exc)
    where = {"imap": "收件邮箱（IMAP）", "maildir": "本地邮件目录", "drop": "投递目录"}
    box = where.get(mailbox, mailbox)
    server = getattr(exc, "context", {}).get("host", "")
    at = f" {server}" if server else ""
    if "ConnectionRefused" in text or "connect failed" in text:
        why = f"无法连接收件服务器{at}"
        if "ConnectionRefused" in text:
            why += "（连接被拒绝：服务器未运行，或地址、端口不对）"
        elif "timed out" in text or "Timeout" in text:
            why += "（连接超时）"
    elif "login failed" in text or "no IMAP password" in text:
        why = f"收件服务器{at}拒绝登录：请检查 mail.yaml 中的 imap.user 和收信密码"
    elif "does not exist" in text or "not a Maildir" in text:
        why = "目录不存在"
    else:
        why = f"读取失败（{type(exc).__name__}）"
    return f"无法读取{box}：{why}，本次没有收取新邮件"


def failure_zh(exc: NianbaoError) -> str:
    """One Chinese line for an expected failure (the flows' final message; the CLI prints the
    same)."""
    if isinstance(exc, ConfigError):
        if not exc.problems:
            return f"配置有问题，未运行：{exc}"
        details = "；".join(exc.problems[:5]) + ("等" if len(exc.problems) > 5 else "")
        return f"配置有问题（{len(exc.problems)}处），未运行：{details}"
    if isinstance(exc, StoreError):
        return f"状态数据库出错：{exc}"
    if isinstance(exc, MailFetchError):
        return fetch_error_zh("imap", exc)
    reason = getattr(exc, "reason_zh", None)
    return reason or f"运行失败：{exc}"
