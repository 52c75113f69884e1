"""Benchmark: peak RSS of the consolidate stage at province scale (issue 12: the campaign's peak
RSS ≤ 400 MB at 1,000 units and at most 1.2× that at 5,000).

The store of an N-unit campaign whose units all replied and were accepted is built directly
(each unit its own values, ``province.Filler.values_for``; validated and recorded as collect
records them; no mail), once per size into ``var/bench/consolidate-memory/N/`` and copied
before each run. Then the consolidate stage runs in a process of its own, as the coordinator
runs it:

- ``flows``: ``nianbao run consolidate --approval auto`` against a running Prefect server;
- ``plain``: the same ``office/`` use cases without Prefect (``bench/campaign.py --stage``).

Per run: wall and CPU time and the peak RSS of the stage's process (``wait4``'s ``ru_maxrss``),
the figures ``bench/campaign.py`` reports for its consolidate stage.

    .venv/bin/python bench/consolidate_memory.py --units 1000,5000
    .venv/bin/python bench/consolidate_memory.py --units 1000 --plain-only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

try:  # imported as bench.<module>
    from . import campaign, province
except ImportError:  # run as a script: bench/ is sys.path[0]
    import campaign  # type: ignore[no-redef]
    import province  # type: ignore[no-redef]

VAR = campaign.VAR / "consolidate-memory"
BIN = campaign.BIN


def build(units: int, work: Path) -> tuple[Path, Path]:
    """The store of an N-unit campaign whose units were all accepted (config dir, data dir)."""
    import hashlib

    from annual_report.form.model import form_for_year
    from annual_report.report import Report
    from annual_report.validation import validate
    from office.campaign import open_campaign
    from office.runtime import Runtime
    from office.settings import load_app_config

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    config_dir = province.write_config(
        work / "config",
        count=units,
        smtp_port=campaign._free_port(),  # nothing is sent by consolidate
        maildir=work / "office-maildir",
        archive=work / "data" / "mail",
    )
    data_dir = work / "data"
    config = load_app_config(config_dir, data_dir)
    rt = Runtime.open(config)
    try:
        open_campaign(rt)
        form = form_for_year(province.YEAR)
        received = config.plan.at(config.plan.deadline)
        for n, code in enumerate(config.registry.codes):
            values, narrative = province.Filler.values_for(form, code)
            report = Report(form=form, year=province.YEAR, campaign=rt.campaign_id)
            for cell, value in values.items():
                report.set_raw(cell, None if value is None else str(value))
            report.narrative = dict(narrative)
            rt.store.record_submission(
                rt.campaign_id,
                sha256=hashlib.sha256(f"seed-{code}".encode()).hexdigest(),
                source=f"maildir:seed-{n}",
                department=code,
                validation=validate(report),
                file_name=f"{code}.xlsx",
                received_at=received,
                sender=config.registry[code].email,
            )
    finally:
        rt.close()
    return config_dir, data_dir


def store_of(units: int, *, rebuild: bool = False) -> Path:
    """The built store of ``units`` units (built once, reused)."""
    pristine = VAR / str(units) / "pristine"
    if rebuild or not (pristine / "built").exists():
        started = time.perf_counter()
        build(units, pristine)
        (pristine / "built").write_text(datetime.now().isoformat())
        print(f"  {units} units: store built in {time.perf_counter() - started:.0f} s", flush=True)
    return pristine


def fresh_copy(pristine: Path, run: Path) -> tuple[Path, Path]:
    """A copy of the built store to consolidate (a run changes the campaign's status)."""
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(pristine, run, symlinks=True)
    return run / "config", run / "data"


def consolidation_day(config_dir: Path, data_dir: Path) -> datetime:
    from office.settings import load_app_config

    plan = load_app_config(config_dir, data_dir).plan
    return plan.at(plan.consolidation_day)


def run_stage(
    mode: str, units: int, pristine: Path, server: campaign.Server | None
) -> dict[str, Any]:
    work = VAR / str(units) / mode
    config_dir, data_dir = fresh_copy(pristine, work)
    as_of = consolidation_day(config_dir, data_dir).isoformat()
    config, data = str(config_dir), str(data_dir)
    env = dict(os.environ, DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if mode == "flows":
        assert server is not None
        env["PREFECT_API_URL"] = server.api
        cmd = [str(BIN / "nianbao"), "run", "consolidate", "--config", config, "--data", data]
        cmd += ["--as-of", as_of, "--approval", "auto"]
    else:
        env.pop("PREFECT_API_URL", None)
        cmd = [sys.executable, str(Path(campaign.__file__).resolve()), "--stage", "consolidate"]
        cmd += ["--config", config, "--data", data, "--as-of", as_of]
    log = work / "consolidate.log"
    stage = campaign.run_measured(cmd, log, env, server.pid if server else None)
    if stage.returncode != 0:
        raise RuntimeError(f"{mode} consolidate failed: see {log}")
    print(
        f"  {mode:>5} {units:>5} consolidate {stage.wall:7.1f} s wall {stage.cpu:7.1f} s cpu "
        f"{stage.peak_rss_mb:6.0f} MB",
        flush=True,
    )
    return {
        "mode": mode,
        "units": units,
        "wall": round(stage.wall, 2),
        "cpu": round(stage.cpu, 2),
        "peak_rss_mb": round(stage.peak_rss_mb, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default="1000,5000", help="sizes, e.g. 1000,5000")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--plain-only", action="store_true")
    only.add_argument("--flows-only", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="build the stores again")
    args = parser.parse_args(argv)

    sizes = [int(s) for s in args.units.split(",")]
    modes = ["flows"] * (not args.plain_only) + ["plain"] * (not args.flows_only)
    print(f"consolidate peak RSS: {args.units} units, {' + '.join(modes)}; {campaign._load()}")
    stores = {units: store_of(units, rebuild=args.rebuild) for units in sizes}
    server = campaign.Server(campaign.VAR / f"prefect-{os.getpid()}") if "flows" in modes else None
    results = []
    try:
        for units in sizes:
            for mode in modes:
                results.append(run_stage(mode, units, stores[units], server))
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.home, ignore_errors=True)
    print()
    print(f"{'mode':<6}{'units':>6}{'wall s':>8}{'cpu s':>8}{'RSS MB':>8}")
    for r in results:
        print(
            f"{r['mode']:<6}{r['units']:>6}{r['wall']:8.1f}{r['cpu']:8.1f}{r['peak_rss_mb']:8.0f}"
        )
    for mode in modes:
        mine = sorted((r for r in results if r["mode"] == mode), key=lambda r: r["units"])
        if len(mine) > 1:
            small, large = mine[0], mine[-1]
            ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
            print(f"{mode}: peak RSS at {large['units']} / at {small['units']} units: {ratio:.2f}×")
    VAR.mkdir(parents=True, exist_ok=True)
    out = VAR / f"results-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"load": os.getloadavg(), "results": results}, indent=1))
    print(f"results: {out}; {campaign._load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
