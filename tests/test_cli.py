"""The command line, as a user runs it."""

import json
import random
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, fill_template, sample_narrative
from flows.cli import app

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("NIANBAO_CONFIG", str(ROOT / "config"))
    monkeypatch.setenv("NIANBAO_DB", str(tmp_path / "state.db"))
    return tmp_path


def template(env, code="RSJ"):
    out = env / f"{code}.xlsx"
    result = runner.invoke(app, ["template", "-d", code, "-y", "2021", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def filled(env, code="RSJ", changes=None, seed=3):
    rng = random.Random(seed)
    values = consistent_values(form_for_year(2021), rng)
    values.update(changes or {})
    return fill_template(
        template(env, code),
        env / f"{code}-filled.xlsx",
        values,
        sample_narrative(2021, values, rng),
    )


def test_template_writes_a_personalised_workbook(env):
    out = template(env)
    assert out.stat().st_size > 10_000


def test_template_for_an_unknown_department_is_a_clear_error(env):
    result = runner.invoke(app, ["template", "-d", "NOPE", "-y", "2021", "-o", str(env / "x.xlsx")])
    assert result.exit_code == 2
    assert "NOPE" in result.output and "Traceback" not in result.output


def test_validate_exit_codes_and_json(env):
    good = filled(env)
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    bad = filled(env, "FGW", {"requests.new_received.natural_person": Decimal(500)})
    result = runner.invoke(app, ["validate", str(bad), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) >= {"form", "year", "department", "values", "raw", "issues"}
    assert data["form"] == "gov-disclosure-2021" and data["department"] == "FGW"
    r1 = [i for i in data["issues"] if i["rule"] == "R1"]
    assert r1 and r1[0]["cells"] and "自然人" in r1[0]["message"]
    assert isinstance(data["values"]["proactive.admin_fees.amount_wan_yuan"], str)


def test_validate_an_unreadable_file_exits_2_with_one_line(env):
    empty = env / "empty.xlsx"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["validate", str(empty)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_validate_with_previous_year(env):
    this_year = filled(env, seed=4)
    last_year = FIXTURES / "seed-zhangshu-rsj-2021.txt"
    result = runner.invoke(
        app, ["validate", str(this_year), "--previous", str(last_year), "--json"]
    )
    assert result.exit_code in (0, 1)
    rules = {i["rule"] for i in json.loads(result.stdout)["issues"]}
    assert "C2" in rules or "C1" in rules  # the seed's figures differ from the random ones


def test_import_text_of_the_seed(env):
    result = runner.invoke(
        app, ["import-text", str(FIXTURES / "seed-zhangshu-rsj-2021.txt"), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["year"] == 2021
    assert data["values"]["proactive.licensing.decisions"] == 6
    assert data["values"]["proactive.admin_fees.amount_wan_yuan"] == "11.28"
    assert "本机关无收取信息处理费情况" in data["narrative"]["narrative.other_matters"]


def test_merge_sums_exactly_and_lists_units(env):
    a = filled(env, "RSJ", {"proactive.admin_fees.amount_wan_yuan": Decimal("0.1")}, seed=1)
    b = filled(env, "FGW", {"proactive.admin_fees.amount_wan_yuan": Decimal("0.2")}, seed=2)
    out = env / "city.xlsx"
    result = runner.invoke(app, ["merge", str(a), str(b), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["values"]["proactive.admin_fees.amount_wan_yuan"] == "0.3"
    assert out.exists()


def test_the_installed_command_never_prints_a_traceback(tmp_path):
    bad = tmp_path / "report.xlsx"
    bad.write_bytes(b"PK\x03\x04truncated")
    exe = Path(sys.executable).with_name("nianbao")
    proc = subprocess.run([exe, "validate", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.strip()


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    documented = set(re.findall(r"`nianbao ([a-z-]+)", readme))
    assert names <= documented, f"undocumented: {sorted(names - documented)}"


def test_import_text_without_report_headings_is_a_clear_error(env):
    text = env / "note.txt"
    text.write_text("这不是年度报告，只是一段文字。", encoding="utf-8")
    result = runner.invoke(app, ["import-text", str(text)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_import_text_reads_gb18030_pages(env):
    text = env / "gbk.txt"
    source = (FIXTURES / "seed-zhangshu-rsj-2021.txt").read_text(encoding="utf-8")
    text.write_bytes(source.encode("gb18030"))
    result = runner.invoke(app, ["import-text", str(text), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["values"]["proactive.licensing.decisions"] == 6


def test_backfill_a_published_report_feeds_next_years_template(env):
    seed = FIXTURES / "seed-zhangshu-rsj-2021.txt"
    result = runner.invoke(app, ["import-text", str(seed), "--backfill", "RSJ"])
    assert result.exit_code == 0, result.output
    assert "campaign 2021" in result.output
    again = runner.invoke(app, ["import-text", str(seed), "--backfill", "RSJ"])
    assert "v1" in again.output  # idempotent: the same text is the same submission
    out = env / "rsj-2022.xlsx"
    result = runner.invoke(app, ["template", "-d", "RSJ", "-y", "2022", "-o", str(out)])
    assert result.exit_code == 0, result.output
    from annual_report.workbook.reader import read_workbook

    report = read_workbook(out)
    assert report.entries["requests.carried_from_last_year.total"].raw == "0"


def test_assign_gives_a_quarantined_file_its_department(env, monkeypatch):
    from annual_report.campaign.submission import Origin, receive_workbook
    from annual_report.store import open_store

    # the campaign commands keep their database in the data directory
    monkeypatch.setenv("NIANBAO_DATA", str(env))
    monkeypatch.setenv("NIANBAO_DB", str(env / "nianbao.db"))
    path = filled(env, "SZF", changes={"proactive.rules.issued": Decimal(1)})
    store = open_store(env / "nianbao.db")
    try:
        origin = Origin("cli", sender="x@qq.example", file_name=path.name)
        stray = receive_workbook(store, "2021", path, origin)
    finally:
        store.close()
    assert stray.submission.status == "quarantined"
    assert "token of SZF" in stray.match.reason  # `nianbao template` registered its token
    waiting = runner.invoke(app, ["status"])
    assert waiting.exit_code == 0, waiting.output
    assert "待确认的文件 1 个：核实后运行 nianbao assign 编号 单位代码" in waiting.output
    assert f"{stray.submission.id}：SZF-filled.xlsx，来自 x@qq.example，可能是 SZF" in (
        waiting.output
    )

    result = runner.invoke(app, ["assign", str(stray.submission.id), "szf"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"第{stray.submission.id}号文件已指定给宜春市人民政府办公室（SZF），为该单位第1版，"
        "核对结果：已接收（有警告）；下次收集时回复该单位"
    )
    assert "待确认的文件" not in runner.invoke(app, ["status"]).output
    for args in (["assign", "999", "SZF"], ["assign", str(stray.submission.id), "FGW"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output


def test_export_writes_the_history_for_analysts(env):
    seed = FIXTURES / "seed-zhangshu-rsj-2021.txt"
    assert runner.invoke(app, ["import-text", str(seed), "--backfill", "RSJ"]).exit_code == 0
    for fmt, expected in (("parquet", "values.parquet"), ("csv", "values.csv")):
        result = runner.invoke(app, ["export", "--format", fmt, "-o", str(env / fmt)])
        assert result.exit_code == 0, result.output
        assert "已导出 6 个文件" in result.output and (env / fmt / expected).is_file()
    result = runner.invoke(app, ["export", "-o", str(env / "x")])
    assert result.exit_code == 0 and (env / "x" / "nianbao-history.xlsx").is_file()
    import pandas as pd

    values = pd.read_csv(env / "csv" / "values.csv", dtype=str)
    fee = values[values.code == "proactive.admin_fees.amount_wan_yuan"]
    assert fee["value"].tolist() == ["11.28"] and fee["department"].tolist() == ["RSJ"]
    wrong = runner.invoke(app, ["export", "--format", "json", "-o", str(env / "j")])
    assert wrong.exit_code == 2 and "xlsx | csv | parquet" in wrong.output
    missing = runner.invoke(app, ["export", "--db", str(env / "nope.db"), "-o", str(env / "n")])
    assert missing.exit_code == 2 and "数据库不存在" in missing.output


def test_run_without_a_prefect_server_is_one_chinese_line(tmp_path, unused_port):
    import os

    exe = Path(sys.executable).with_name("nianbao")
    env = dict(os.environ, PREFECT_API_URL=f"http://127.0.0.1:{unused_port}/api")
    command = [exe, "run", "remind", "--config", str(ROOT / "config"), "--data", str(tmp_path)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 1, output
    assert "Traceback" not in output and len(output.splitlines()) == 1, output
    assert output.startswith("错误：催报（remind）未能运行：")
    assert f"Prefect 服务器 http://127.0.0.1:{unused_port}/api 是否在运行" in output
    assert "Traceback" in (tmp_path / "logs" / "nianbao.log").read_text(encoding="utf-8")


def test_a_configuration_that_cannot_load_is_one_chinese_line(tmp_path):
    import shutil

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    registry = config / "departments.yaml"
    text = registry.read_text(encoding="utf-8")
    registry.write_text(text.replace("fgw@yichun.example", "fgw@@yichun"), encoding="utf-8")
    (config / "mail").mkdir()
    (config / "mail" / "escalation.txt.j2").write_text("{% block subject %}{{ x {% endblock %}")
    result = runner.invoke(app, ["run", "remind", "--config", str(config), "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith(
        "错误：配置有问题（2处），未运行：departments.yaml 第2项（FGW）email：不是有效的邮件地址"
        "（fgw@@yichun）；mail/escalation.txt.j2：第1行模板语法有误"
    )
