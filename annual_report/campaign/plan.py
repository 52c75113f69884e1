"""The campaign plan: its calendar and the escalation ladder (``config/campaign.yaml``).

The ladder for a department that has not been accepted yet::

    reminder N days before the deadline → reminder on the deadline
    → escalation to the leader and the coordinator D days after it, repeated every R days

and a department whose submissions were rejected K times is escalated too. :func:`due_step`
says which steps are due at a moment; the flows record each step in the store under its key, so
each is sent exactly once however often the flow runs. Only the latest due step is sent: a flow
that did not run for a week does not fire a week of reminders at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from annual_report.config import (
    ConfigModel,
    FieldProblems,
    Invalid,
    config_path,
    parse_model,
    read_yaml,
)

PLAN_FILE = "campaign.yaml"
StepKind = Literal["reminder", "escalation"]
# States after which nobody is chased any more.
SETTLED = frozenset({"accepted", "accepted_with_warnings"})


class Ladder(ConfigModel):
    remind_days_before: tuple[int, ...] = (3,)
    remind_on_deadline: bool = True
    escalate_after_days: int = Field(default=2, ge=0)
    repeat_every_days: int = Field(default=3, ge=1)
    escalate_after_rejections: int = Field(default=3, ge=1)


class Override(ConfigModel):
    """Per-department changes, e.g. a township whose deadline the county set later."""

    deadline: date | None = None
    remind_days_before: tuple[int, ...] | None = None
    escalate_after_days: int | None = Field(default=None, ge=0)
    repeat_every_days: int | None = Field(default=None, ge=1)
    escalate_after_rejections: int | None = Field(default=None, ge=1)
    exempt: bool = False  # never chased (e.g. a unit merged away in 机构改革)


class CampaignPlan(ConfigModel):
    id: str = Field(min_length=1)
    report_year: int = Field(ge=2019)
    start: date  # the templates go out on this day
    deadline: date  # the city's internal deadline (the legal one is 31 January)
    consolidate_on: date | None = None  # default: the day after the deadline
    # The last day scheduled runs act on this campaign. Cron has no year: without this bound
    # the schedules would wake next January against this campaign.
    closes_on: date | None = None  # default: the last day of the consolidation's month
    timezone: str = "Asia/Shanghai"
    send_at: time = time(9, 0)  # dispatch, reminders and escalations run at this hour
    collect_every_minutes: int = Field(default=30, ge=5, le=60)
    ladder: Ladder = Ladder()
    overrides: dict[str, Override] = Field(default_factory=dict)
    website: str | None = None  # where reports are published (the reports' preamble)
    site_name: str | None = None  # e.g. 宜春市人民政府网站
    attach_report_to_receipt: bool = False  # send the department its publishable .docx

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
            raise Invalid("id", f"{value!r} 只能用英文字母、数字、“-”和“_”（用在邮件主题的标记中）")
        return value

    @model_validator(mode="after")
    def _dates(self) -> CampaignPlan:
        problems = []
        if 60 % self.collect_every_minutes:
            problems.append(("collect_every_minutes", "应能整除60（5、10、15、20、30或60）"))
        if self.deadline < self.start:
            problems.append(("deadline", f"早于开始日期 start（{self.start}）"))
        if self.consolidate_on and self.consolidate_on <= self.deadline:
            problems.append(("consolidate_on", f"应在截止日期 deadline（{self.deadline}）之后"))
        if self.closes_on and self.closes_on < self.consolidation_day:
            problems.append(("closes_on", f"早于汇总日期（{self.consolidation_day}）"))
        try:
            ZoneInfo(self.timezone)
        except Exception:
            problems.append(("timezone", f"未知的时区 {self.timezone!r}（如 Asia/Shanghai）"))
        for code, override in self.overrides.items():
            if override.deadline and override.deadline < self.start:
                problems.append(
                    (f"overrides.{code}.deadline", f"早于开始日期 start（{self.start}）")
                )
        if problems:
            raise FieldProblems(problems)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def consolidation_day(self) -> date:
        return self.consolidate_on or self.deadline + timedelta(days=1)

    @property
    def last_day(self) -> date:
        """The campaign's last day: ``closes_on``, else the end of the consolidation's month."""
        if self.closes_on:
            return self.closes_on
        day = self.consolidation_day
        first_of_next = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return first_of_next - timedelta(days=1)

    def in_season(self, moment: datetime) -> bool:
        """Whether ``moment`` falls between the start and the last day (campaign time zone)."""
        return self.start <= moment.astimezone(self.zone).date() <= self.last_day

    def at(self, day: date, at: time | None = None) -> datetime:
        """``day`` at ``send_at`` (or ``at``) in the campaign's time zone."""
        return datetime.combine(day, at or self.send_at, tzinfo=self.zone)

    def deadline_for(self, code: str) -> date:
        override = self.overrides.get(code)
        return override.deadline if override and override.deadline else self.deadline

    def deadlines(self, codes: list[str]) -> dict[str, date]:
        return {code: self.deadline_for(code) for code in codes}

    def ladder_for(self, code: str) -> Ladder:
        override = self.overrides.get(code)
        if override is None:
            return self.ladder
        changes = {
            k: v
            for k, v in override.model_dump(exclude={"deadline", "exempt"}).items()
            if v is not None
        }
        return self.ladder.model_copy(update=changes)


@dataclass(frozen=True)
class Step:
    """One rung of the ladder for one department; ``key`` is unique within the campaign."""

    kind: StepKind
    name: str  # "before-3", "deadline", "overdue-1", "rejections-3"
    department: str
    day: date

    @property
    def key(self) -> str:
        return f"{self.kind}.{self.name}:{self.department}"

    @property
    def event_kind(self) -> str:
        return f"{self.kind}.{self.name.split('-')[0]}"


def ladder_steps(plan: CampaignPlan, code: str, until: date) -> list[Step]:
    """Every date-driven step of department ``code`` up to ``until``, in order."""
    ladder = plan.ladder_for(code)
    deadline = plan.deadline_for(code)
    steps = [
        Step("reminder", f"before-{n}", code, deadline - timedelta(days=n))
        for n in sorted(set(ladder.remind_days_before), reverse=True)
        if deadline - timedelta(days=n) >= plan.start
    ]
    if ladder.remind_on_deadline:
        steps.append(Step("reminder", "deadline", code, deadline))
    day, round_ = deadline + timedelta(days=ladder.escalate_after_days), 1
    while day <= until:
        steps.append(Step("escalation", f"overdue-{round_}", code, day))
        day += timedelta(days=ladder.repeat_every_days)
        round_ += 1
    return [s for s in steps if s.day <= until]


def due_steps(
    plan: CampaignPlan, code: str, state: str, rejections: int, as_of: datetime
) -> list[Step]:
    """The steps due for department ``code`` at ``as_of``: the latest rung of the calendar
    ladder, and the rejection escalation once ``rejections`` reaches the threshold.

    ``state`` is the department's state in the store. The caller sends each step whose key is
    not recorded yet, so a step goes out once however often this is asked.
    """
    override = plan.overrides.get(code)
    if state in SETTLED or state in ("not_sent", "received") or (override and override.exempt):
        return []  # settled, never invited, or a submission is being checked right now
    today = as_of.astimezone(plan.zone).date()
    steps = ladder_steps(plan, code, today)[-1:]
    threshold = plan.ladder_for(code).escalate_after_rejections
    if rejections >= threshold:
        steps.append(Step("escalation", f"rejections-{threshold}", code, today))
    return steps


def parse_plan(data: Any, *, source: str | None = None) -> CampaignPlan:
    """Validate the plan (the YAML document), reporting every problem at once."""
    file = Path(source).name if source else PLAN_FILE
    return parse_model(CampaignPlan, data, file=file, source=source)


def load_plan(path: str | Path) -> CampaignPlan:
    """Read ``campaign.yaml`` (``path`` may be the config directory)."""
    path = config_path(path, PLAN_FILE)
    return parse_plan(read_yaml(path), source=str(path))
