"""``validate`` and ``import-text`` check a report as the unit it is: the registry's kind and
power to make 规章 (C3), last year's stored report (C1/C2, no --previous needed), and they say
which rules they could not run and why. Real workbooks, real texts, a real SQLite database."""

from __future__ import annotations

import json
import random
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, fill_template, sample_narrative
from annual_report.store import open_store
from flows.cli import app

ROOT = Path(__file__).resolve().parents[1]
TEXTS = Path(__file__).parent / "fixtures" / "text"
runner = CliRunner()


@pytest.fixture
def office(tmp_path, monkeypatch):
    """An office directory (config/ and nianbao-data/ side by side), the current directory."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    for name in ("NIANBAO_CONFIG", "NIANBAO_DB", "NIANBAO_DATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def laptop(tmp_path, monkeypatch):
    """A directory with no configuration at all: a lone file on a laptop."""
    for name in ("NIANBAO_CONFIG", "NIANBAO_DB", "NIANBAO_DATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def workbook(directory: Path, code: str, year: int, changes: dict | None = None) -> Path:
    """A department's personalised template (so the file names its unit), filled in."""
    blank = directory / f"{code}-{year}-template.xlsx"
    db = directory / "templates.db"  # not the office's database: the file only names its unit
    args = ["-d", code, "-y", str(year), "-o", str(blank), "--db", str(db)]
    result = runner.invoke(app, ["template", *args, "--config", str(ROOT / "config")])
    assert result.exit_code == 0, result.output
    rng = random.Random(7)
    values = consistent_values(form_for_year(year), rng)
    values.update(changes or {})
    return fill_template(
        blank, directory / f"{code}-{year}.xlsx", values, sample_narrative(year, values, rng)
    )


def run_json(*args: str):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def rules(data) -> list[str]:
    return [i["rule"] for i in data["issues"]]


RULES_NONZERO = {"proactive.rules.issued": Decimal(2), "proactive.rules.in_force": Decimal(5)}


def test_c3_follows_the_registry(office):
    """The city government's own unit may make 规章; a department may not."""
    government = workbook(office, "SZF", 2021, RULES_NONZERO)
    department = workbook(office, "FGW", 2021, RULES_NONZERO)
    _, data = run_json("validate", str(government))
    assert "C3" not in rules(data)
    assert data["context"]["department"] == "SZF"
    assert data["context"]["can_make_rules"] is True
    assert data["context"]["kind"] == "government"
    _, data = run_json("validate", str(department))
    assert "C3" in rules(data)
    assert data["context"]["can_make_rules"] is False
    # --department names the unit when the file does not (or to check it as another unit)
    _, data = run_json("validate", str(department), "--department", "SZF")
    assert "C3" not in rules(data)


def test_a_lone_file_is_checked_as_before_and_says_what_it_lacks(laptop):
    book = workbook(laptop, "SZF", 2021, RULES_NONZERO)
    _, data = run_json("validate", str(book))
    assert "C3" in rules(data)  # no registry: the unit's power to make 规章 is unknown
    skipped = {s["rule"]: s for s in data["skipped"]}
    assert skipped["C1"] == {
        "rule": "C1",
        "reason": "no previous report",
        "reason_zh": "没有上一年度的报告",
    }
    assert "C2" in skipped
    assert data["context"]["department"] is None
    assert any("单位名录" in n for n in data["context"]["notes"])
    assert any("--previous" in n for n in data["context"]["notes"])
    assert not (laptop / "nianbao-data").exists()  # checking never creates a database
    result = runner.invoke(app, ["validate", str(book)])
    assert "未核对 C1：没有上一年度的报告" in result.output


def test_last_years_report_from_the_stored_history(office):
    """Backfilled from the published text, last year's report feeds C1/C2 next year."""
    seed = TEXTS / "seed-zhangshu-rsj-2021.txt"
    result = runner.invoke(app, ["import-text", str(seed), "--backfill", "RSJ"])
    assert result.exit_code == 0, result.output
    assert (office / "nianbao-data" / "nianbao.db").is_file()
    carried = {"requests.carried_from_last_year.natural_person": Decimal(4)}
    book = workbook(office, "RSJ", 2022, carried)
    _, data = run_json("validate", str(book))
    assert data["context"]["previous"] == {
        "year": 2021,
        "form": "gov-disclosure-2021",
        "source": "seed-zhangshu-rsj-2021.txt",
    }
    c1 = [i for i in data["issues"] if i["rule"] == "C1"]
    assert c1 and "requests.carried_from_last_year.natural_person" in c1[0]["codes"]
    assert "C1" not in {s["rule"] for s in data["skipped"]}
    # C2: 现行有效件数 = last year's (seed: 8 行政规范性文件) + 制发 − 废止
    assert "C2" not in {s["rule"] for s in data["skipped"]}
    # --previous still works, and wins over the stored history
    last_year = workbook(office, "RSJ", 2021, {"requests.carried_to_next_year.natural_person": 4})
    _, data = run_json("validate", str(book), "--previous", str(last_year))
    assert data["context"]["previous"]["source"] == str(last_year)


def test_the_data_directory_is_found_as_the_other_commands_find_it(office, monkeypatch):
    elsewhere = office / "elsewhere"
    monkeypatch.setenv("NIANBAO_DATA", str(elsewhere))
    seed = TEXTS / "seed-zhangshu-rsj-2021.txt"
    assert runner.invoke(app, ["import-text", str(seed), "--backfill", "RSJ"]).exit_code == 0
    assert (elsewhere / "nianbao.db").is_file()
    book = workbook(office, "RSJ", 2022)
    _, data = run_json("validate", str(book))
    assert data["context"]["previous"]["year"] == 2021
    monkeypatch.delenv("NIANBAO_DATA")
    _, data = run_json("validate", str(book), "--data", str(elsewhere))
    assert data["context"]["previous"]["year"] == 2021
    _, data = run_json("validate", str(book))  # ./nianbao-data has no history
    assert data["context"]["previous"] is None


def test_backfill_stores_the_report_checked_as_its_unit(office):
    """A real published text with 规章 2/0/2: stored as the government's, no C3."""
    text = TEXTS / "songmutang-zhen-2022.txt"
    result = runner.invoke(app, ["import-text", str(text), "--backfill", "SZF", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "C3" not in rules(data)
    assert data["context"]["department"] == "SZF"
    with open_store(office / "nianbao-data" / "nianbao.db") as store:
        (sub,) = store.accepted_submissions("2022")
        assert sub.department == "SZF"
        assert "C3" not in {i.rule for i in store.issues(sub.id)}
    exit_code, data = run_json("import-text", str(text), "--department", "FGW")
    assert exit_code == 0
    assert "C3" in rules(data)


def test_import_text_exits_1_when_a_table_the_text_has_is_not_read(office):
    """A real page whose tables lost their values: exit 1, and --backfill stores nothing."""
    text = TEXTS / "xiongxian-xiang-2019.txt"
    result = runner.invoke(app, ["import-text", str(text), "--backfill", "FGW"])
    assert result.exit_code == 1
    assert "未能读取原文中的表格，未存储" in result.output
    assert "第二部分有表格，但没有读出任何数值" in result.output
    assert not (office / "nianbao-data" / "nianbao.db").exists()
    result = runner.invoke(app, ["import-text", str(text), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["tables_lost"][0] == "第二部分有表格，但没有读出任何数值"


def test_an_unknown_department_is_a_clear_error(office):
    book = workbook(office, "FGW", 2021)
    result = runner.invoke(app, ["validate", str(book), "--department", "NOPE"])
    assert result.exit_code == 2
    assert "NOPE" in result.output and "Traceback" not in result.output
