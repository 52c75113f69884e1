"""The coordinator's decisions before the city report is final, as data: which submissions
accepted with warnings go back to their department, and whether the consolidated result is
approved. The flow pauses and hands the answer over; these functions say what to ask and
apply what was answered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from annual_report.store.records import Submission
from office.runtime import Runtime

if TYPE_CHECKING:  # a type only: every run's process imports this module, not the merger
    from annual_report.consolidation import Consolidation


@dataclass(frozen=True)
class PendingWarnings:
    """Submissions accepted with warnings that nobody has decided on: what the review form
    shows (``description``, Chinese markdown) and the codes it can send back."""

    submissions: tuple[Submission, ...]
    description: str

    @property
    def codes(self) -> set[str]:
        return {s.department for s in self.submissions if s.department}

    def unknown(self, send_back: Iterable[str]) -> list[str]:
        """Codes the coordinator typed that are not under review (asked again, never dropped)."""
        return sorted(_codes(send_back) - self.codes)

    def ask_again(self, unknown: Iterable[str]) -> str:
        """The description once more, headed by the codes that were not found."""
        return (
            f"**未找到单位代码：{'、'.join(unknown)}**（只能填写下列单位的代码），请重新填写。\n\n"
            + self.description
        )


def pending_warnings(rt: Runtime) -> PendingWarnings | None:
    """The warnings review to ask for (None: nothing to review), with each department's
    warnings and its 说明."""
    pending = tuple(
        s
        for s in rt.store.accepted_submissions(rt.campaign_id)
        if s.status == "accepted_with_warnings" and s.decided_by is None
    )
    if not pending:
        return None
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
    return PendingWarnings(pending, "\n".join(lines))


def send_back(rt: Runtime, review: PendingWarnings, codes: Iterable[str], note: str = "") -> None:
    """The coordinator's answer to the warnings review: the submissions of ``codes`` are
    rejected (the next collect mails their department, with ``note``), the others accepted."""
    back = _codes(codes)
    for sub in review.submissions:
        decision: Literal["accepted", "rejected"] = (
            "rejected" if sub.department in back else "accepted"
        )
        rt.store.decide(sub.id, decision, by="coordinator", note=note or None)


def _codes(values: Iterable[str]) -> set[str]:
    return {code.strip().upper() for code in values if code.strip()}


def approval_request(result: Consolidation, draft: Path) -> str:
    """What the coordinator reads before approving the consolidated result."""
    excluded = "\n".join(f"- {u.name}：{u.reason}" for u in result.excluded)
    return (
        f"汇总结果：纳入 {len(result.included)} 个单位，未纳入 "
        f"{len(result.excluded)} 个。\n\n{excluded}\n\n表格：{draft}\n\n"
        "请核对后批准，或取消“批准”并填写退回原因。"
    )


def returned_zh(note: str) -> str:
    """The run's message when the coordinator sent the consolidated result back."""
    return f"汇总结果已退回，未定稿：{note or '（未填写原因）'}"
