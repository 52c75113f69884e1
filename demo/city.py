"""The demo's sample city: about forty units with realistic names, and its configuration.

清河市 is fictional; its addresses use the reserved ``.example`` domain. ``write_config`` writes
a complete ``config/`` directory (registry, campaign plan, mail settings pointing at the local
post office), exactly what a city office would edit for itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CITY = "清河市"
DOMAIN = "qinghe.example"
OFFICE = f"zwgk@{DOMAIN}"
COORDINATOR = f"coordinator@{DOMAIN}"

# (code, name, kind)
UNITS: list[tuple[str, str, str]] = [
    ("SZF", "清河市人民政府办公室", "government"),
    ("FGW", "清河市发展和改革委员会", "department"),
    ("JYJ", "清河市教育局", "department"),
    ("KJJ", "清河市科学技术局", "department"),
    ("GXJ", "清河市工业和信息化局", "department"),
    ("GAJ", "清河市公安局", "department"),
    ("MZJ", "清河市民政局", "department"),
    ("SFJ", "清河市司法局", "department"),
    ("CZJ", "清河市财政局", "department"),
    ("RSJ", "清河市人力资源和社会保障局", "department"),
    ("ZRZYJ", "清河市自然资源和规划局", "department"),
    ("STHJJ", "清河市生态环境局", "department"),
    ("ZJJ", "清河市住房和城乡建设局", "department"),
    ("JTYSJ", "清河市交通运输局", "department"),
    ("SLJ", "清河市水利局", "department"),
    ("NYNCJ", "清河市农业农村局", "department"),
    ("SWJ", "清河市商务局", "department"),
    ("WGLJ", "清河市文化广电旅游局", "department"),
    ("WJW", "清河市卫生健康委员会", "department"),
    ("TYJRJ", "清河市退役军人事务局", "department"),
    ("YJGLJ", "清河市应急管理局", "department"),
    ("SJJ", "清河市审计局", "department"),
    ("SCJGJ", "清河市市场监督管理局", "department"),
    ("TJJ", "清河市统计局", "department"),
    ("YBJ", "清河市医疗保障局", "department"),
    ("LYJ", "清河市林业局", "department"),
    ("CGJ", "清河市城市管理局", "department"),
    ("XZSPJ", "清河市行政审批局", "department"),
    ("XFJ", "清河市信访局", "department"),
    ("SJUJ", "清河市数据局", "department"),
    ("JD-CG", "清河市城关街道办事处", "township"),
    ("JD-DH", "清河市东湖街道办事处", "township"),
    ("Z-XS", "清河市西山镇人民政府", "township"),
    ("Z-NL", "清河市南岭镇人民政府", "township"),
    ("X-BH", "清河市北河乡人民政府", "township"),
    ("QYX", "清源县人民政府办公室", "county"),
    ("QYX-JYJ", "清源县教育局", "department"),
    ("QYX-CGZ", "清源县城关镇人民政府", "township"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛"]


def address(code: str) -> str:
    return f"{code.lower().replace('-', '.')}@{DOMAIN}"


def leader_address(code: str) -> str:
    return f"{code.lower().replace('-', '.')}.leader@{DOMAIN}"


def registry_data() -> dict[str, Any]:
    departments = []
    for i, (code, name, kind) in enumerate(UNITS):
        entry: dict[str, Any] = {
            "code": code,
            "name": name,
            "kind": kind,
            "email": address(code),
            "contact": {
                "name": SURNAMES[i % len(SURNAMES)] + GIVEN[i % len(GIVEN)],
                "phone": f"0571-8{i:03d}{(i * 37) % 1000:03d}",
            },
            "leader_email": leader_address(code),
        }
        if kind == "government":
            entry |= {"can_make_rules": True, "reports_for_government": True}
        if code == "QYX":
            entry["covers"] = ["QYX-JYJ", "QYX-CGZ"]
        departments.append(entry)
    return {"city": CITY, "departments": departments}


def plan_data(report_year: int) -> dict[str, Any]:
    y = report_year + 1
    return {
        "id": str(report_year),
        "report_year": report_year,
        "start": f"{y}-01-04",
        "deadline": f"{y}-01-20",
        "consolidate_on": f"{y}-01-28",
        "timezone": "Asia/Shanghai",
        "send_at": "09:00",
        "collect_every_minutes": 30,
        "ladder": {
            "remind_days_before": [3],
            "remind_on_deadline": True,
            "escalate_after_days": 2,
            "repeat_every_days": 3,
            "escalate_after_rejections": 3,
        },
        "overrides": {"X-BH": {"deadline": f"{y}-01-22"}},
        "website": f"http://www.{DOMAIN}",
        "site_name": f"{CITY}人民政府网站",
        "attach_report_to_receipt": True,
    }


def mail_data(port: int, maildir: Path, archive: Path) -> dict[str, Any]:
    return {
        "smtp": {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "sender": OFFICE,
            "sender_name": f"{CITY}人民政府办公室",
            "timeout": 10,
            "rate_per_minute": None,
            "retries": 1,
            "backoff_seconds": 0.2,
        },
        "maildir": str(maildir),
        "coordinator": COORDINATOR,
        "contact": {"name": "周敏", "phone": "0571-87000001", "email": OFFICE},
        "archive_dir": str(archive),
    }


def write_config(
    target: Path, *, report_year: int, smtp_port: int, maildir: Path, archive: Path
) -> Path:
    """A complete configuration directory for the sample city (the packaged mail texts)."""
    target.mkdir(parents=True, exist_ok=True)
    files = {
        "departments.yaml": registry_data(),
        "campaign.yaml": plan_data(report_year),
        "mail.yaml": mail_data(smtp_port, maildir, archive),
    }
    for name, data in files.items():
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        (target / name).write_text(text, encoding="utf-8")
    return target


def packaged_mail_texts() -> Path:
    """Where the packaged mail texts are (a copy of some in ``config/mail`` overrides them)."""
    from connectors.mailtext import PACKAGE_TEMPLATES

    return PACKAGE_TEMPLATES
