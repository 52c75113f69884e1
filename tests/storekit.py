"""What the store tests share: the implementations under test, a small registry, a report.

``IMPLEMENTATIONS`` is the list the contract suite (``test_store_contract.py``) runs against: a
new store (PostgreSQL, …) joins it with a function that opens one on fresh storage under the
test's directory — the same storage again when called twice, so tests can open a second
handle the way a second process would.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from annual_report.campaign.registry import Department, Registry
from annual_report.form.model import load_form
from annual_report.report import Report
from annual_report.store import open_store
from annual_report.store.base import Store, content_hash
from annual_report.validation import Issue, Validation

Opener = Callable[[Path, Callable[[], datetime]], Store]

IMPLEMENTATIONS: dict[str, Opener] = {
    "sqlite": lambda where, clock: open_store(where / "state" / "nianbao.db", clock=clock),
}

FORM = load_form("gov-disclosure-2021")
FEE = "proactive.admin_fees.amount_wan_yuan"
T0 = datetime(2022, 1, 10, 1, 0, tzinfo=UTC)


def registry() -> Registry:
    def dept(code, kind="department", **extra):
        return Department(
            code=code, name=f"宜春市{code}", kind=kind, email=f"{code.lower()}@yc.example", **extra
        )

    return Registry(
        city="宜春市",
        departments=(
            dept("SZF", "government", can_make_rules=True, reports_for_government=True),
            dept("RSJ", leader_email="boss@yc.example"),
            dept("ZRZYJ"),
            dept("ZSS", "county", covers=("ZSLJZ",)),
            dept("ZSLJZ", "township"),
        ),
    )


def report(department="RSJ", fee="72701.2578", new_total="3525", year=2021) -> Report:
    rep = Report(form=FORM, year=year, department=department, method="defined-names")
    rep.set_raw(FEE, fee, "'二、主动公开政府信息情况'!C15")
    rep.set_raw("requests.new_received.total", new_total, "'三、收到和处理政府信息公开申请情况'!J5")
    rep.set_raw("requests.carried_to_next_year.total", "12")
    rep.set_raw("proactive.licensing.decisions", "1573179")
    rep.set_raw("requests.new_received.natural_person", "")  # blank: 0 with a note
    rep.narrative["narrative.other_matters"] = "本机关无收取信息处理费情况。"
    rep.missing = ["五、存在的主要问题及改进情况"]
    return rep


def validation(rep: Report, errors: int = 0, warnings: int = 0) -> Validation:
    issues = [
        Issue("R1", "error", ("requests.new_received.total",), ("'三'!J5",), f"错误{i}")
        for i in range(errors)
    ]
    issues += [Issue("N1", "warning", (FEE,), ("'二'!C15",), f"警告{i}") for i in range(warnings)]
    return Validation(rep, issues)


def record(store: Store, data: bytes, department="RSJ", campaign="2021", **kw):
    kw.setdefault("validation", validation(report(department)))
    return store.record_submission(
        campaign, sha256=content_hash(data), source="cli", department=department, **kw
    )
