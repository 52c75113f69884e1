"""Reports to validate, for the tests of the checks (test_checks*.py, test_plausibility.py)."""

from __future__ import annotations

from pathlib import Path

from annual_report.form.model import load_form
from annual_report.report import Report
from annual_report.validation import Validation

F2019 = "gov-disclosure-2019"
F2021 = "gov-disclosure-2021"
BOTH = [F2019, F2021]
FEE = "proactive.admin_fees.amount_wan_yuan"  # 行政事业性收费 (万元)
YEAR = {F2019: 2020, F2021: 2021}
FIXTURES = Path(__file__).parent / "fixtures"

# A narrative that passes C5 and C8 (numbers added per test where needed).
GOOD_NARRATIVE = {
    "narrative.overview": "本机关认真贯彻落实《中华人民共和国政府信息公开条例》，"
    "主动公开政府信息，依法办理政府信息公开申请。",
    "narrative.problems": "存在的主要问题是政策解读不够深入，下一步将加强培训，完善制度。",
    "narrative.other_matters": "本机关无收取信息处理费情况。",
}


def report(form_id: str, values: dict[str, object] | None = None, **kw: object) -> Report:
    """A report of ``form_id`` with every cell ``0`` except ``values`` (raw text)."""
    form = load_form(form_id)
    rep = Report(form, year=kw.pop("year", YEAR[form_id]), **kw)  # type: ignore[arg-type]
    for code in form.cells:
        rep.set_raw(code, "0", cell=f"X{len(rep.entries) + 1}")
    for code, raw in (values or {}).items():
        rep.set_raw(code, None if raw is None else str(raw), cell=f"'t'!{code}")
    return rep


def issues(validation: Validation, rule: str) -> list:
    return [i for i in validation.issues if i.rule == rule]


def request_row(row: str, **by_column: int) -> dict[str, int]:
    """One section-3 row: the given applicant columns and a matching 总计."""
    values = {f"requests.{row}.{col}": n for col, n in by_column.items()}
    values[f"requests.{row}.total"] = sum(by_column.values())
    return values
