"""The whole configuration directory, validated once: registry, campaign plan, mail settings.

A city office sets up by copying ``config/`` and editing it. Every file is checked when the
flows start and all problems of all files are reported together (``annual_report.config``: each
names its file, entry and field, in Chinese for the coordinator).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annual_report.campaign.plan import CampaignPlan, load_plan
from annual_report.campaign.registry import Registry, load_registry
from annual_report.config import raise_problems
from annual_report.errors import ConfigError, ConfigProblem
from connectors.settings import MailSettings, load_mail_settings

CONFIG_ENV = "NIANBAO_CONFIG"  # read by the CLI (--config) and prefect.yaml
DATA_ENV = "NIANBAO_DATA"
# The office's short name when several offices share one Prefect server: its work pool, its
# deployments' name and its artifact keys (``nianbao-<office>-<campaign>-…``) carry it.
OFFICE_ENV = "NIANBAO_OFFICE"
_OFFICE = re.compile(r"[a-z][a-z0-9-]{0,39}")
# In the data directory: the registry's parsed document between runs (JSON keyed by the file's
# content hash; validated every run). Deleting it is always safe.
CACHE_DIR = "cache"


@dataclass(frozen=True)
class AppConfig:
    config_dir: Path
    data_dir: Path  # database, generated files (mail archive: see mail.archive_dir)
    registry: Registry
    plan: CampaignPlan
    mail: MailSettings

    @property
    def database(self) -> Path:
        return self.data_dir / "nianbao.db"

    @property
    def output_dir(self) -> Path:
        return self.data_dir / "out" / self.plan.id


def load_app_config(config_dir: str | Path, data_dir: str | Path | None = None) -> AppConfig:
    """Load and validate every file of ``config_dir``; one ConfigError lists all problems.

    ``data_dir`` defaults to ``$NIANBAO_DATA``, else ``nianbao-data`` beside ``config_dir``.
    """
    config_dir = Path(config_dir).resolve()
    if not config_dir.is_dir():
        missing = ConfigProblem(str(config_dir), "配置目录不存在", code="not-found")
        raise ConfigError("configuration directory not found", [missing], file=str(config_dir))
    data = Path(data_dir or os.environ.get(DATA_ENV) or config_dir.parent / "nianbao-data")
    problems: list[ConfigProblem] = []
    loaded: dict[str, Any] = {}  # each file's model, by file name
    for name, loader in (
        ("departments.yaml", functools.partial(load_registry, cache_dir=data / CACHE_DIR)),
        ("campaign.yaml", load_plan),
        ("mail.yaml", load_mail_settings),
    ):
        try:
            loaded[name] = loader(config_dir)
        except ConfigError as exc:
            problems.extend(exc.details)
    registry: Registry | None = loaded.get("departments.yaml")
    plan: CampaignPlan | None = loaded.get("campaign.yaml")
    if registry is not None and plan is not None:
        problems.extend(
            ConfigProblem(
                "campaign.yaml",
                "单位名录（departments.yaml）中没有这个单位",
                f"overrides.{code}",
                code="unknown-code",
                detail=f"overrides name unknown department {code}",
            )
            for code in sorted(set(plan.overrides) - set(registry.codes))
        )
    raise_problems(problems, source=config_dir, what="the configuration")
    assert registry is not None and plan is not None
    return AppConfig(config_dir, data.resolve(), registry, plan, loaded["mail.yaml"])


def office_id() -> str | None:
    """``$NIANBAO_OFFICE``, checked, or None when unset."""
    office = os.environ.get(OFFICE_ENV, "").strip()
    return check_office(office) if office else None


def check_office(office: str) -> str:
    """An office's short name: lower-case letters, digits and dashes (work pool names and
    artifact keys allow no more)."""
    if not _OFFICE.fullmatch(office):
        raise ConfigError(
            f"{OFFICE_ENV} must be 1-40 lower-case letters, digits or dashes, starting with a "
            f"letter (it names the office's work pool and deployments), not {office!r}"
        )
    return office
