import random

import pytest

from annual_report.form.model import load_form
from annual_report.report import Report
from annual_report.samples import consistent_values, sample_narrative
from annual_report.validation import validate


@pytest.mark.parametrize(
    ("form_id", "year"), [("gov-disclosure-2021", 2021), ("gov-disclosure-2019", 2020)]
)
def test_sample_values_pass_every_rule(form_id, year):
    form = load_form(form_id)
    rng = random.Random(7)
    for _ in range(30):
        values = consistent_values(form, rng, busy=0.8)
        report = Report(form=form, year=year)
        for code, value in values.items():
            report.set_raw(code, str(value))
        report.narrative.update(sample_narrative(year, values, rng))
        assert set(values) == set(form.cells)
        assert validate(report).issues == []
