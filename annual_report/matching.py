"""Which department a returned workbook belongs to.

The evidence, strongest first: the per-department token in the workbook's metadata sheet (it
survives renaming and forwarding), then the mail's subject tag / the thread it replies to, then
the sender's address in the registry. The file name is never evidence. A workbook whose token
names a department while it comes from an address nobody registered is quarantined for the
coordinator, never accepted: that is exactly what a misdirected or forged file looks like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .registry import Registry

Method = Literal["token", "subject", "thread", "sender"]
_METHOD_ZH = {
    "token": "识别码",
    "subject": "邮件主题",
    "thread": "回复的邮件",
    "sender": "发件地址",
}


@dataclass(frozen=True)
class Evidence:
    """What a received file and its mail say about where it comes from."""

    token_department: str | None = None  # the department the file's valid token belongs to
    token_present: bool = False  # the file has a token at all (valid or not)
    file_department: str | None = None  # the department code written on the metadata sheet
    subject_department: str | None = None  # from a subject tag of this campaign
    thread_department: str | None = None  # the department our mail it replies to was sent to
    sender: str | None = None  # the From address (None for drop-folder files)


@dataclass(frozen=True)
class Match:
    department: str | None
    method: Method | None
    quarantined: bool = False
    reason: str | None = None  # English, for operators' logs, when quarantined
    reason_zh: str | None = None  # the same in Chinese, for the coordinator's notice
    notes: tuple[str, ...] = field(default_factory=tuple)  # English, for the coordinator

    @property
    def matched(self) -> bool:
        return self.department is not None and not self.quarantined


def match_department(evidence: Evidence, registry: Registry) -> Match:
    """Decide the department of one received workbook from ``evidence``.

    A quarantined match keeps the most likely department (the strongest evidence's) as
    ``department``, for the coordinator to confirm; ``matched`` is false all the same.
    """

    def unit(code: str) -> str:
        dept = registry.get(code)
        return f"{dept.name}（{code}）" if dept else code

    sender_dept = registry.by_email(evidence.sender) if evidence.sender else None
    sender_code = sender_dept.code if sender_dept else None
    notes: list[str] = []
    if evidence.token_present and evidence.token_department is None:
        notes.append(
            "the workbook carries a token that is not valid for this campaign "
            f"(metadata says department {evidence.file_department or '?'}): "
            "last year's or another city's template?"
        )

    code = evidence.token_department
    if code is not None:
        if evidence.sender and sender_code is None:
            return Match(
                code,
                "token",
                quarantined=True,
                reason=(
                    f"file carries the token of {code} but comes from {evidence.sender}, "
                    "an address not in the registry"
                ),
                reason_zh=(
                    f"表格带有{unit(code)}的识别码，但发件地址 {evidence.sender} 不在单位名录中"
                    "（可能是经办人的个人邮箱，也可能是误发或冒用），请与该单位核实"
                ),
                notes=tuple(notes),
            )
        if sender_code is not None and sender_code != code:
            notes.append(f"sent by {sender_code} ({evidence.sender}) on behalf of {code}")
        return Match(code, "token", notes=tuple(notes))

    candidates: list[tuple[Method, str]] = [
        (method, dept)
        for method, dept in (
            ("subject", evidence.subject_department),
            ("thread", evidence.thread_department),
            ("sender", sender_code),
        )
        if dept is not None and dept in registry
    ]
    if not candidates:
        return Match(
            None,
            None,
            quarantined=True,
            reason=(
                "no valid token, subject tag, thread or registered sender identifies the "
                "department; assign it by hand"
            ),
            reason_zh=(
                "表格中没有本次收集的识别码，邮件不是对我办邮件的回复，主题中没有单位标记，"
                "发件地址也不在单位名录中，无法判断报送单位"
                + ("（表格中的识别码已失效，可能用了往年或外地的模板）" if notes else "")
            ),
            notes=tuple(notes),
        )
    method, code = candidates[0]
    disagreeing = sorted({d for _m, d in candidates if d != code})
    if disagreeing:
        return Match(
            code,
            method,
            quarantined=True,
            reason=(
                f"the {method} says {code} but other evidence says {', '.join(disagreeing)}; "
                "assign it by hand"
            ),
            reason_zh=(
                f"{_METHOD_ZH[method]}指向{unit(code)}，但其他线索指向"
                f"{'、'.join(unit(d) for d in disagreeing)}，请核实"
            ),
            notes=tuple(notes),
        )
    return Match(code, method, notes=tuple(notes))
