"""Who may make 规章 (C3)."""

from __future__ import annotations

import pytest
from checkkit import F2019, F2021, report

from annual_report.form.model import load_form
from annual_report.validation import Context, validate

# -- C3 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form_id", "code"), [(F2019, "proactive.rules.made"), (F2021, "proactive.rules.issued")]
)
def test_c3_rules_from_an_organ_that_cannot_make_them(form_id, code):
    values = {code: 1}
    if form_id == F2021:
        values["proactive.rules.in_force"] = 1
    validation = validate(report(form_id, values))
    assert validation.flat() == [("C3", "warning", code)]
    label = load_form(form_id).cell(code).column_label
    assert validation.issues[0].message.startswith(f"第二部分“规章”行填写了非零数字：{label}（1）")
    assert "省级和设区的市人民政府" in validation.issues[0].message
    rep = report(form_id, values)
    assert validate(rep, context=Context(can_make_rules=True)).issues == []
