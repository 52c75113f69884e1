from datetime import date, datetime

import pytest

from annual_report.campaign.plan import CampaignPlan, due_steps, ladder_steps, load_plan, parse_plan
from annual_report.errors import ConfigError

CST = "+08:00"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text + CST)


@pytest.fixture
def plan() -> CampaignPlan:
    return parse_plan(
        {
            "id": "2021",
            "report_year": 2021,
            "start": "2022-01-04",
            "deadline": "2022-01-26",
            "ladder": {
                "remind_days_before": [3],
                "escalate_after_days": 2,
                "repeat_every_days": 3,
                "escalate_after_rejections": 2,
            },
            "overrides": {"WTZ": {"deadline": "2022-02-20"}, "OLD": {"exempt": True}},
        }
    )


def keys(steps):
    return [s.key for s in steps]


def test_the_config_example_is_valid():
    plan = load_plan("config")
    assert plan.report_year == 2021
    assert plan.zone.key == "Asia/Shanghai"


def test_ladder_by_calendar(plan):
    assert due_steps(plan, "RSJ", "sent", 0, at("2022-01-22T09:00")) == []
    assert keys(due_steps(plan, "RSJ", "sent", 0, at("2022-01-23T09:00"))) == [
        "reminder.before-3:RSJ"
    ]
    assert keys(due_steps(plan, "RSJ", "sent", 0, at("2022-01-26T09:00"))) == [
        "reminder.deadline:RSJ"
    ]
    assert keys(due_steps(plan, "RSJ", "sent", 0, at("2022-01-28T09:00"))) == [
        "escalation.overdue-1:RSJ"
    ]
    # Repeated every 3 days; in between, the latest rung stays the same key (already sent).
    assert keys(due_steps(plan, "RSJ", "escalated", 0, at("2022-01-30T09:00"))) == [
        "escalation.overdue-1:RSJ"
    ]
    assert keys(due_steps(plan, "RSJ", "escalated", 0, at("2022-01-31T09:00"))) == [
        "escalation.overdue-2:RSJ"
    ]


def test_dates_are_taken_in_the_campaign_time_zone(plan):
    # 2022-01-22T20:00Z is already 23 January in Beijing.
    steps = due_steps(plan, "RSJ", "sent", 0, datetime.fromisoformat("2022-01-22T20:00+00:00"))
    assert keys(steps) == ["reminder.before-3:RSJ"]


def test_settled_or_never_invited_departments_are_not_chased(plan):
    when = at("2022-02-10T09:00")
    for state in ("accepted", "accepted_with_warnings", "not_sent", "received"):
        assert due_steps(plan, "RSJ", state, 0, when) == []
    assert due_steps(plan, "OLD", "sent", 0, when) == []


def test_override_deadline(plan):
    assert due_steps(plan, "WTZ", "sent", 0, at("2022-01-28T09:00")) == []
    assert keys(due_steps(plan, "WTZ", "sent", 0, at("2022-02-17T09:00"))) == [
        "reminder.before-3:WTZ"
    ]


def test_rejections_escalate(plan):
    steps = due_steps(plan, "RSJ", "rejected", 2, at("2022-01-10T09:00"))
    assert keys(steps) == ["escalation.rejections-2:RSJ"]
    assert steps[0].event_kind == "escalation.rejections"
    steps = due_steps(plan, "RSJ", "rejected", 3, at("2022-01-26T09:00"))
    assert keys(steps) == ["reminder.deadline:RSJ", "escalation.rejections-2:RSJ"]


def test_ladder_steps_in_order(plan):
    steps = ladder_steps(plan, "RSJ", date(2022, 2, 3))
    assert [s.name for s in steps] == [
        "before-3",
        "deadline",
        "overdue-1",
        "overdue-2",
        "overdue-3",
    ]


def test_all_problems_reported_together():
    with pytest.raises(ConfigError) as err:
        parse_plan({"id": "x y", "report_year": 2010, "start": "2022-01-04", "deadline": "nope"})
    assert [(p.field, p.code) for p in err.value.details] == [
        ("id", "id"),
        ("report_year", "greater_than_equal"),
        ("deadline", "date_from_datetime_parsing"),
    ]
    assert err.value.problems == [
        "campaign.yaml id：'x y' 只能用英文字母、数字、“-”和“_”（用在邮件主题的标记中）",
        "campaign.yaml report_year：不能小于2019",
        "campaign.yaml deadline：不是有效的日期（应写作 2022-01-04）",
    ]


def test_problems_between_fields_name_each_field():
    with pytest.raises(ConfigError) as err:
        parse_plan(
            {
                "id": "2021",
                "report_year": 2021,
                "start": "2022-01-04",
                "deadline": "2022-01-03",
                "timezone": "Asia/Shanghia",
                "collect_every_minutes": 7,
                "overrides": {"WTZ": {"deadline": "2021-12-31", "dedline": "2022-02-01"}},
                "ladder": {"remind_days_before": [3, "三"]},
            },
            source="/srv/config/campaign.yaml",
        )
    assert [(p.file, p.field, p.code) for p in err.value.details] == [
        ("campaign.yaml", "ladder.remind_days_before[1]", "int_parsing"),
        ("campaign.yaml", "overrides.WTZ.dedline", "extra_forbidden"),
    ]  # the fields themselves first: the checks between fields need valid fields
    wrong_dates = {
        "id": "2021",
        "report_year": 2021,
        "start": "2022-01-04",
        "deadline": "2022-01-03",
        "timezone": "Asia/Shanghia",
        "collect_every_minutes": 7,
        "overrides": {"WTZ": {"deadline": "2021-12-31"}},
    }
    with pytest.raises(ConfigError) as err:
        parse_plan(wrong_dates)
    assert err.value.problems == [
        "campaign.yaml collect_every_minutes：应能整除60（5、10、15、20、30或60）",
        "campaign.yaml deadline：早于开始日期 start（2022-01-04）",
        "campaign.yaml timezone：未知的时区 'Asia/Shanghia'（如 Asia/Shanghai）",
        "campaign.yaml overrides.WTZ.deadline：早于开始日期 start（2022-01-04）",
    ]


def test_an_empty_or_missing_plan(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_plan(tmp_path)
    assert err.value.problems == ["campaign.yaml：找不到此文件"]
    (tmp_path / "campaign.yaml").write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_plan(tmp_path)
    assert err.value.problems == ["campaign.yaml：文件是空的"]


def test_the_campaign_lasts_until_the_end_of_the_consolidations_month(plan):
    assert plan.consolidation_day == date(2022, 1, 27)
    assert plan.last_day == date(2022, 1, 31)
    assert not plan.in_season(at("2022-01-03T23:59"))
    assert plan.in_season(datetime.fromisoformat("2022-01-03T16:00+00:00"))  # 00:00 in Beijing
    assert plan.in_season(at("2022-01-31T23:59"))
    assert not plan.in_season(at("2023-01-10T09:00"))  # next January: cron wakes, nothing runs
    december = parse_plan(
        {"id": "x", "report_year": 2021, "start": "2021-12-01", "deadline": "2021-12-20"}
    )
    assert december.last_day == date(2021, 12, 31)


def test_closes_on_moves_the_last_day_but_not_before_the_consolidation():
    base = {"id": "x", "report_year": 2021, "start": "2022-01-04", "deadline": "2022-01-26"}
    assert parse_plan({**base, "closes_on": "2022-03-15"}).last_day == date(2022, 3, 15)
    with pytest.raises(ConfigError, match="closes_on：早于汇总日期"):
        parse_plan({**base, "closes_on": "2022-01-26"})
