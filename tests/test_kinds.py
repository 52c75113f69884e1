"""One table of kinds (annual_report/campaign/kinds.py): every event kind and mail kind the code can
produce has its Chinese label, every mail kind its template, and nothing reads as a raw code."""

import re
from datetime import date
from pathlib import Path

import pytest

from annual_report.campaign.kinds import (
    EVENT_KINDS,
    MAIL_KINDS,
    MAIL_PROBLEMS,
    STATE_LABELS,
    Effect,
    effect_of,
    event_label,
    templates,
)
from annual_report.campaign.plan import ladder_steps, parse_plan

ROOT = Path(__file__).resolve().parents[1]
KIND = re.compile(r"""["']((?:sent|answer|reminder|escalation|notice)\.[a-z_]+)["']""")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def kinds_in_source() -> set[str]:
    """Every event kind written as a literal in the flows and the domain."""
    found = set()
    for package in ("flows", "office", "annual_report", "connectors"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "kinds.py":
                continue
            found |= set(KIND.findall(path.read_text(encoding="utf-8")))
    return found


def kinds_the_code_makes() -> set[str]:
    """Kinds built from data: answers per submission status and message outcome, ladder steps."""
    from office.answers import ANSWERED

    made = {f"answer.{status}" for status in ANSWERED if status != "quarantined"}
    made |= {"answer.no_workbook", "answer.several_workbooks"}
    plan = parse_plan(
        {
            "id": "2021",
            "report_year": 2021,
            "start": "2022-01-04",
            "deadline": "2022-01-20",
            "ladder": {"remind_days_before": [7, 3]},
        }
    )
    made |= {step.event_kind for step in ladder_steps(plan, "RSJ", date(2022, 2, 28))}
    made.add("escalation.rejections")  # plan.due_steps names it rejections-N
    return made


@pytest.mark.parametrize("kind", sorted(kinds_in_source() | kinds_the_code_makes()))
def test_every_kind_the_code_records_is_declared_with_a_chinese_label(kind):
    assert kind in EVENT_KINDS, f"{kind} is not declared in annual_report/campaign/kinds.py"
    assert CHINESE.search(event_label(kind))


def test_every_event_kind_sends_a_declared_mail_and_has_an_effect():
    for kind in EVENT_KINDS.values():
        assert kind.mail in MAIL_KINDS, kind
        assert isinstance(kind.effect, Effect)
        assert CHINESE.search(kind.label) and not re.search(r"[a-z]{3,}", kind.label), kind
    assert {k.effect for k in EVENT_KINDS.values()} == set(Effect)


def test_every_mail_kind_has_a_label_and_its_template_in_the_package():
    from connectors.mailtext import PACKAGE_TEMPLATES

    for kind in MAIL_KINDS.values():
        assert CHINESE.search(kind.label), kind
        assert (PACKAGE_TEMPLATES / kind.template).is_file(), kind.template
    assert templates() == [f"{name}.txt.j2" for name in MAIL_KINDS]


def test_states_and_mail_problems_are_chinese():
    assert set(STATE_LABELS) == {
        "not_sent",
        "sent",
        "received",
        "rejected",
        "accepted_with_warnings",
        "accepted",
        "escalated",
    }
    assert all(CHINESE.search(label) for label in [*STATE_LABELS.values(), *MAIL_PROBLEMS.values()])


def test_kinds_an_older_version_wrote_keep_their_effect():
    assert effect_of("escalation.leader") is Effect.ESCALATES
    assert effect_of("sent.template") is Effect.INVITES
    assert effect_of("something.else") is None
    assert event_label("something.else") == "something.else"  # shown, never dropped
