"""The demo's coordinator: reads the notices in the coordinator's mailbox and acts on them.

A quarantined file's notice gives its number and sender; the coordinator checks with the unit
(in the demo: the sender is a clerk's known personal mailbox) and assigns it, exactly as the
UI's "Custom run" of the ``assign-<campaign>`` deployment does: by running the assign flow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

from connectors.attachments import parse_message
from demo.clerks import Clerks
from demo.postoffice import PostOffice

NOTICE_NUMBER = re.compile(r"需要人工确认的报送文件（第(\d+)号）")
NOTICE_SENDER = re.compile(r"发件人：(.+)")


@dataclass
class Coordinator:
    address: str
    office: PostOffice
    clerks: Clerks
    seen: int = 0

    def act(self, config_dir: Path, data_dir: str, at: datetime) -> list[str]:
        """Assign every file a new notice asks about to the unit whose clerk sent it."""
        from flows.campaign import assign

        raw = self.office.inbox(self.address)
        new, self.seen = raw[self.seen :], len(raw)
        actions = []
        for message in (parse_message(r) for r in new):
            number = NOTICE_NUMBER.search(message.subject)
            sender = NOTICE_SENDER.search(message.text)
            if number is None or sender is None:
                continue  # escalations and other copies: read, nothing to do here
            clerk = self.clerks.by_address(parseaddr(sender.group(1).strip())[1])
            if clerk is None:
                actions.append(f"协调人无法核实第{number.group(1)}号文件的来源，暂不处理")
                continue
            state = assign(
                submission=int(number.group(1)),
                department=clerk.code,
                config_dir=str(config_dir),
                data_dir=data_dir,
                as_of=at,
                return_state=True,
            )
            if state.is_completed():
                actions.append(
                    f"协调人电话核实后，在界面中将第{number.group(1)}号文件指定为{clerk.name}的报送"
                )
            else:
                actions.append(f"协调人指定第{number.group(1)}号文件失败：{state.message}")
        return actions
