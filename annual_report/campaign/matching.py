"""Which department a returned workbook belongs to: a unit's record changes only on evidence
that agrees, or on the coordinator's word.

The evidence a file and its mail carry:

* the **token** in the workbook's hidden metadata sheet: an HMAC of the campaign and the
  department under a secret of the campaign kept in the store, so it cannot be made up, and a
  token of another campaign is *stale*; anything else there is *malformed*;
* the **department code** written next to it on the metadata sheet (plain text: it only
  counts where it agrees; next to a valid token that names another unit, it was edited);
* the **subject tag** (``[年报2021-RSJ]``) and the **thread** (the mail of ours it answers);
* the **sender**: a unit's registered address, an unknown address, or none at all (a file the
  coordinator put in the drop folder, or handed to the CLI).

Token, tag and thread all come from mail we sent a unit: whoever holds a forwarded copy holds
them too. The registered address is the one piece that says who is sending. So a file changes a
unit's record only when it comes from that unit's registered address and nothing in it or its
mail names another unit (or, without a sender, when the coordinator put it there and a valid
token names the unit). Everything else is quarantined: the coordinator is asked, and the sender
is told when it is a unit or had our mail. ``docs/security.md`` has the table, cell by cell; the
tests check every cell against it. The file name is never evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from annual_report.campaign.registry import Registry

Method = Literal["token", "subject", "thread", "sender", "coordinator"]
_CLAIM_ZH = {
    "token": "识别码",
    "stale": "往年模板的识别码",
    "file": "表格中填写的单位代码",
    "subject": "邮件主题中的单位标记",
    "thread": "回复的邮件",
}
_TOKEN = re.compile(r"[0-9a-f]{16}")

# What the table's cells are called (stable slugs, in the store's match reason and the docs).
AGREE = "agree"
TAMPERED = "tampered"
OTHER_UNIT = "other-unit"
UNKNOWN_SENDER = "unknown-sender"
NO_EVIDENCE = "no-evidence"
COORDINATOR = "coordinator"


def _says(kind: str, code: str) -> str:
    """What one piece of evidence says, for the operators' reason."""
    return {
        "token": f"carries the token of {code}",
        "stale": f"carries an earlier campaign's token of {code}",
        "file": f"names {code} on its metadata sheet",
        "subject": f"has the subject tag of {code}",
        "thread": f"answers our mail to {code}",
    }[kind]


def token_malformed(token: str | None) -> bool:
    """A token that no template of ours ever held (edited, cut, or another system's)."""
    return bool(token) and _TOKEN.fullmatch(token.strip().lower()) is None  # type: ignore[union-attr]


@dataclass(frozen=True)
class Evidence:
    """What a received file and its mail say about where it comes from."""

    token_department: str | None = None  # the department the file's token is valid for, now
    token_present: bool = False  # the file has a token at all (valid or not)
    token_malformed: bool = False  # … and it is not even the shape of one of ours
    stale_department: str | None = None  # the unit an earlier campaign's token was made for
    stale_campaign: str | None = None  # … and that campaign
    file_department: str | None = None  # the department code written on the metadata sheet
    subject_department: str | None = None  # from a subject tag of this campaign
    thread_department: str | None = None  # the department our mail it replies to was sent to
    sender: str | None = None  # the From address (None: the coordinator's drop folder or CLI)


@dataclass(frozen=True)
class Match:
    department: str | None  # the unit matched; when quarantined, the one it probably is
    method: Method | None
    quarantined: bool = False
    reason: str | None = None  # English, for operators' logs, when quarantined
    reason_zh: str | None = None  # the same in Chinese, for the coordinator's notice
    notes: tuple[str, ...] = field(default_factory=tuple)  # English, for the coordinator
    rule: str = AGREE  # which cell of the table decided (AGREE, OTHER_UNIT, …)
    sender_notice_zh: str | None = None  # what the sender is told (None: nobody is told)

    @property
    def matched(self) -> bool:
        return self.department is not None and not self.quarantined


def match_department(evidence: Evidence, registry: Registry) -> Match:
    """Decide the department of one received file from ``evidence`` (see the module doc).

    A quarantined match keeps the most likely department as ``department``, for the
    coordinator to confirm; ``matched`` is false all the same.
    """

    def unit(code: str) -> str:
        dept = registry.get(code)
        return f"{dept.name}（{code}）" if dept else code

    sender = evidence.sender
    sender_dept = registry.by_email(sender) if sender else None
    sender_code = sender_dept.code if sender_dept else None
    notes: list[str] = []

    # The claims of the file and the mail, strongest first; unknown codes name nobody.
    claims: list[tuple[str, str]] = []
    token = evidence.token_department
    if token is not None:
        claims.append(("token", token))
    elif evidence.stale_department is not None:
        notes.append(
            f"the workbook carries the token of {evidence.stale_department} for campaign "
            f"{evidence.stale_campaign or '?'}: an earlier year's template"
        )
        if evidence.stale_department in registry:
            claims.append(("stale", evidence.stale_department))
    elif evidence.token_present:
        what = "a malformed token" if evidence.token_malformed else "a token of no campaign here"
        notes.append(
            f"the workbook carries {what} (metadata says department "
            f"{evidence.file_department or '?'}): another city's template, or edited by hand?"
        )
    written = (evidence.file_department or "").strip().upper() or None
    if token is not None and written is not None and written != token:
        return Match(
            token,
            "token",
            quarantined=True,
            rule=TAMPERED,
            reason=(
                f"{TAMPERED}: the token is {token}'s but the metadata sheet names {written[:40]}: "
                "the hidden sheet was edited"
            ),
            reason_zh=(
                f"表格带有{unit(token)}的识别码，但隐藏信息中的单位代码被改成了“{written[:40]}”"
                "（模板可能被修改过），请核实"
            ),
            notes=tuple(notes),
            sender_notice_zh=(
                "表格中的单位信息与模板识别码不一致（隐藏的“_meta”工作表可能被修改过），"
                "系统未登记该文件，已转协调人核实。请使用我办发给贵单位的模板填写后重新发送。"
            ),
        )
    if token is None and written is not None and written in registry:
        claims.append(("file", written))
    for kind, code in (
        ("subject", evidence.subject_department),
        ("thread", evidence.thread_department),
    ):
        if code is not None and code in registry:
            claims.append((kind, code))
    named = list(dict.fromkeys(code for _, code in claims))

    if sender is None:  # the coordinator's own hands: a valid token (or the mail) decides
        if len(named) == 1 and any(kind in ("token", "subject", "thread") for kind, _ in claims):
            kind = next(k for k, _ in claims if k in ("token", "subject", "thread"))
            return Match(named[0], kind, notes=tuple(notes), rule=COORDINATOR)  # type: ignore[arg-type]
        return Match(
            named[0] if len(named) == 1 else None,
            None,
            quarantined=True,
            rule=COORDINATOR,
            reason=f"{COORDINATOR}: a dropped file without a valid token; assign it by hand",
            reason_zh="投递目录中的文件没有有效的本次收集识别码（或其中的线索互相矛盾），"
            "无法判断报送单位，请指定",
            notes=tuple(notes),
        )

    if sender_code is None:  # an address no unit registered
        likely = named[0] if len(named) == 1 else None
        had_our_mail = any(kind in ("token", "subject", "thread") for kind, _ in claims)
        if not named:
            return Match(
                None,
                None,
                quarantined=True,
                rule=NO_EVIDENCE,
                reason=(
                    f"{NO_EVIDENCE}: no valid token, subject tag, thread or registered sender "
                    "identifies the "
                    "department; assign it by hand"
                ),
                reason_zh=(
                    "表格中没有本次收集的识别码，邮件不是对我办邮件的回复，主题中没有单位标记，"
                    "发件地址也不在单位名录中，无法判断报送单位"
                    + ("（表格中的识别码已失效，可能用了往年或外地的模板）" if notes else "")
                ),
                notes=tuple(notes),
            )
        what = "、".join(dict.fromkeys(_CLAIM_ZH[kind] for kind, _ in claims))
        whose = unit(likely) if likely else "、".join(unit(c) for c in named)
        return Match(
            likely,
            claims[0][0] if claims[0][0] in ("token", "subject", "thread") else None,  # type: ignore[arg-type]
            quarantined=True,
            rule=UNKNOWN_SENDER,
            reason=(
                f"{UNKNOWN_SENDER}: the file {_says(*claims[0])} but comes from {sender}, "
                "an address not in the registry"
            ),
            reason_zh=(
                f"{what}指向{whose}，但发件地址 {sender} 不在单位名录中"
                "（可能是经办人的个人邮箱，也可能是误发或冒用），请与该单位核实"
            ),
            notes=tuple(notes),
            sender_notice_zh=(
                f"发件地址 {sender} 不在我办登记的单位邮箱中，系统无法确认报送单位，"
                "文件暂未登记，已转协调人核实。请改用本单位登记的邮箱发送，或与我办联系确认。"
            )
            if had_our_mail
            else None,
        )

    others = [code for code in named if code != sender_code]
    if not others:
        method: Method = next(
            (k for k, _ in claims if k in ("token", "subject", "thread")),  # type: ignore[misc]
            "sender",
        )
        return Match(sender_code, method, notes=tuple(notes), rule=AGREE)
    kind, other = next((k, c) for k, c in claims if c != sender_code)
    if kind in ("token", "stale", "file"):
        what = {
            "token": f"表格带有{unit(other)}的识别码",
            "stale": f"表格是{unit(other)}往年（{evidence.stale_campaign or '?'}）的模板",
            "file": f"表格中填写的单位代码是{unit(other)}",
        }[kind]
        reason_zh = (
            f"{what}，却是从{unit(sender_code)}的登记邮箱 {sender} 发来的"
            "（可能转发或误用了其他单位的模板），请核实"
        )
        told = (
            f"贵单位发来的表格属于{unit(other)}（可能转发或误用了其他单位的模板），"
            "系统未登记该文件，已转协调人核实。如这是贵单位的报告，请使用我办发给贵单位的模板"
            "填写后重新发送；如是其他单位的报告，请由该单位用其登记的邮箱报送。"
        )
    else:
        reason_zh = (
            f"{_CLAIM_ZH[kind]}指向{unit(other)}，但发件地址是{unit(sender_code)}的登记邮箱 "
            f"{sender}，请核实"
        )
        told = (
            f"来信是对发给{unit(other)}的邮件的回复（或主题中带有该单位的标记），与贵单位的"
            "发件邮箱不符，系统未登记该文件，已转协调人核实。请直接回复我办发给贵单位的通知"
            "邮件报送。"
        )
    return Match(
        sender_code,
        "sender",
        quarantined=True,
        rule=OTHER_UNIT,
        reason=(
            f"{OTHER_UNIT}: the file {_says(kind, other)} but comes from {sender}, the "
            f"registered address of {sender_code}; assign it by hand"
        ),
        reason_zh=reason_zh,
        notes=tuple(notes),
        sender_notice_zh=told,
    )
