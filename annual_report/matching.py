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
    reason: str | None = None  # English, for the coordinator, when quarantined
    notes: tuple[str, ...] = field(default_factory=tuple)  # English, for the coordinator

    @property
    def matched(self) -> bool:
        return self.department is not None and not self.quarantined


def match_department(evidence: Evidence, registry: Registry) -> Match:
    """Decide the department of one received workbook from ``evidence``."""
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
            notes=tuple(notes),
        )
    return Match(code, method, notes=tuple(notes))
