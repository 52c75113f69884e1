"""The city-level report: the accepted submissions merged into a draft workbook, and the
draft made final once the coordinator approves it."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from annual_report.campaign.registry import LEVEL_LABELS
from annual_report.consolidation import (
    Consolidation,
    OfficeIdentity,
    consolidate_campaign,
    write_consolidation,
)
from annual_report.documents.report import APPROVAL_STATE
from annual_report.errors import ConfigError, ConfigProblem, WorkbookError
from annual_report.history.frames import year_over_year
from annual_report.workbook.sandbox import read_untrusted
from office.runtime import Runtime


def consolidate(rt: Runtime) -> tuple[Consolidation, Path]:
    """Merge the accepted submissions and write the city-level workbook (with its 与上年比较
    sheet from the stored history)."""
    result = consolidate_campaign(rt.store, rt.campaign_id)
    plan = rt.config.plan
    city = rt.config.registry.city
    path = rt.config.output_dir / f"{city}{plan.report_year}年政府信息公开工作年度报告（汇总）.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    comparison = year_over_year(
        rt.store,
        plan.report_year,
        this=result.values,
        form=result.form,
        units=len(result.included),
    )
    title = f"{city}{plan.report_year}年政府信息公开工作年度报告"
    write_consolidation(
        result, path, title=title, comparison=comparison, office=office_identity(rt)
    )
    return result, path


def office_identity(rt: Runtime) -> OfficeIdentity | None:
    """This office as its superior's registry knows it (``departments.yaml``'s ``office``):
    its approved workbook is then its submission one level up."""
    office = rt.config.registry.office
    if office is None:
        return None
    name = office.name or f"{rt.config.registry.city}人民政府"
    token = campaign = None
    if office.template:
        token, campaign = superior_template(rt.config.config_dir, office.template, office.code)
    return OfficeIdentity(office.code, name, office.level, token, campaign)


def superior_template(config_dir: Path, template: str, code: str) -> tuple[str | None, str | None]:
    """The token and campaign id of the template the superior office sent this office
    (``office.template``, read in the isolated reader like any received file); a template of
    another unit is refused, so an approved report never carries a token that is not its own."""
    path = Path(template) if Path(template).is_absolute() else config_dir / template
    where = ("departments.yaml", "office.template")
    try:
        report = read_untrusted(path)
    except WorkbookError as exc:
        problem = ConfigProblem(where[0], f"上级下发的模板无法读取：{exc.reason_zh}", where[1])
        raise ConfigError("the superior's template cannot be read", [problem]) from None
    if (report.department or "").upper() != code:
        problem = ConfigProblem(
            where[0],
            f"{path.name} 是上级发给{report.department or '其他单位'}的模板，"
            f"不是发给本办公室（{code}）的",
            where[1],
        )
        raise ConfigError("the superior's template is another unit's", [problem])
    return report.token, report.campaign


def summary_markdown(result: Consolidation, draft: Path) -> str:
    """The draft as the coordinator reads it before approving: who is in, who is not, why."""
    lines = [f"# {draft.stem}", "", f"文件：`{draft}`", ""]
    lines += [f"## 未纳入 {len(result.excluded)} 个单位", ""]
    lines += [f"- {u.name}：{u.reason}" for u in result.excluded] or ["- 无"]
    lines += ["", f"## 纳入 {len(result.included)} 个单位", ""]
    lines.append("、".join(u.name for u in result.included) or "无")
    offices = [u for u in result.included if u.level]
    if offices:  # offices one level down: their reports carry their units
        lines += ["", f"## 下级汇总报告 {len(offices)} 份", ""]
        lines += [
            f"- {u.name}（{LEVEL_LABELS.get(u.level or '', u.level)}，"
            f"含基层单位{u.leaf_count if u.leaf_count is not None else '?'}个）"
            for u in offices
        ]
        lines += [
            "",
            f"汇总共含基层单位{len(result.leaves)}个；某个数字来自哪些单位、经过哪些下级汇总报告："
            "`nianbao report --drill 栏目代码`。",
        ]
    if result.issues:
        lines += ["", "## 汇总提示", ""] + [f"- {i.rule} {i.message}" for i in result.issues]
    return "\n".join(lines) + "\n"


def approve(rt: Runtime, draft: Path, as_of: datetime) -> Path:
    """The coordinator approved the draft at ``as_of``: it becomes the final workbook
    (``…（定稿）.xlsx`` beside it), the campaign is consolidated, and the approval is recorded
    (its date is the city report's 成文日期, ``annual_report.documents.report.report_date``)."""
    final = draft.with_name(draft.stem.replace("（汇总）", "（定稿）") + draft.suffix)
    shutil.copyfile(draft, final)
    rt.store.set_campaign_status(rt.campaign_id, "consolidated")
    approval = {"at": as_of.isoformat(), "file": final.name}
    rt.store.set_state(rt.campaign_id, APPROVAL_STATE, approval)
    return final
