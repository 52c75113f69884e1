"""Benchmark: peak RSS of the consolidate stage at province scale (issue 12: the campaign's peak
RSS ≤ 400 MB at 1,000 units and at most 1.2× that at 5,000).

The store of an N-unit campaign whose units all replied and were accepted is built directly
(each unit its own values, ``province.Filler.values_for``; validated and recorded as collect
records them; no mail), once per size into ``var/bench/consolidate-memory/N/`` and copied
before each run. Then the consolidate stage runs in a process of its own, as the coordinator
runs it:

- ``flows``: ``nianbao run consolidate --approval auto`` against a running Prefect server;
- ``plain``: the same ``office/`` use cases without Prefect (``bench/campaign.py --stage``).

Per run: wall and CPU time and the peak RSS of the stage's process (its VmHWM, sampled),
the figures ``bench/campaign.py`` reports for its consolidate stage.

``--stage collect``: the same for a collect round that takes the last ``--late`` units' replies
(filled workbooks in the office Maildir, answered over SMTP to a local aiosmtpd) into a
campaign whose other units were all accepted and answered already (``bench/storework.py``'s
seeding): what of collect's memory grows with the number of units, without replaying them all.

    .venv/bin/python bench/consolidate_memory.py --units 1000,5000
    .venv/bin/python bench/consolidate_memory.py --units 1000 --plain-only
    .venv/bin/python bench/consolidate_memory.py --units 1000,5000 --stage collect --late 100
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime
from datetime import time as clock
from pathlib import Path
from typing import Any

try:  # imported as bench.<module>
    from . import campaign, province, storework
except ImportError:  # run as a script: bench/ is sys.path[0]
    import campaign  # type: ignore[no-redef]
    import province  # type: ignore[no-redef]
    import storework  # type: ignore[no-redef]

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

    # nothing is sent by consolidate
    config_dir, data_dir, _ = province.office_workspace(
        work, count=units, smtp_port=campaign._free_port()
    )
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


def build_collect(units: int, late: int, work: Path) -> tuple[Path, Path]:
    """A campaign of ``units`` units, all invited, all but the last ``late`` accepted and
    answered (their replies read: the cursor knows them), the last ``late`` units' filled
    workbooks waiting in the office Maildir (config dir, data dir)."""
    import mailbox
    from datetime import timedelta

    from annual_report.campaign.templates import write_department_template
    from office.campaign import open_campaign
    from office.runtime import Runtime
    from office.settings import load_app_config

    # the SMTP port is set again for each run (fresh_copy)
    config_dir, data_dir, maildir = province.office_workspace(
        work, count=units, smtp_port=campaign._free_port()
    )
    config = load_app_config(config_dir, data_dir)
    plan = config.plan
    rt = Runtime.open(config)
    try:
        open_campaign(rt)
        codes = list(config.registry.codes)
        storework._seed_invitations(rt, codes)
        storework._seed_accepted(rt, codes[:-late], plan.report_year)
        box = mailbox.Maildir(maildir)
        storework._seed_processed_mail(rt, box, len(codes) - late)
        filler = province.Filler(campaign.VAR / "replies-memory")
        sent_at = plan.at(plan.start)
        for n, code in enumerate(codes[-late:]):
            template = work / "templates" / f"{code}.xlsx"
            template.parent.mkdir(parents=True, exist_ok=True)
            write_department_template(rt.store, config.registry, rt.campaign_id, code, template)
            dept = config.registry[code]
            subject = f"[年报{rt.campaign_id}-{code}] 请报送"
            invitation = province.Invitation(
                code, dept.email, subject, storework._invitation_id(code), b""
            )
            filled = filler.filled(
                province.Invitation(code, dept.email, "", "", template.read_bytes())
            )
            when = sent_at + timedelta(days=1, minutes=n)
            box.add(province.reply(invitation, province.OFFICE, filled, when).as_bytes())
    finally:
        rt.close()
    return config_dir, data_dir


def store_of(units: int, *, rebuild: bool = False, late: int | None = None) -> Path:
    """The built store of ``units`` units (built once, reused); with ``late``, the one before
    a collect of the last ``late`` replies (:func:`build_collect`)."""
    pristine = VAR / str(units) / ("pristine" if late is None else f"pristine-collect-{late}")
    if rebuild or not (pristine / "built").exists():
        started = time.perf_counter()
        if late is None:
            build(units, pristine)
        else:
            build_collect(units, late, pristine)
        (pristine / "built").write_text(datetime.now().isoformat())
        print(f"  {units} units: store built in {time.perf_counter() - started:.0f} s", flush=True)
    return pristine


def fresh_copy(pristine: Path, run: Path, smtp_port: int | None = None) -> tuple[Path, Path]:
    """A copy of the built store to run a stage on (a run changes it), its configuration's
    paths (and SMTP port) the copy's."""
    import re

    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(pristine, run, symlinks=True)
    mail = run / "config" / "mail.yaml"
    text = mail.read_text(encoding="utf-8").replace(str(pristine), str(run))
    if smtp_port is not None:
        text = re.sub(r"(?m)^(  port: )\d+$", rf"\g<1>{smtp_port}", text)
    mail.write_text(text, encoding="utf-8")
    return run / "config", run / "data"


def run_stage(
    mode: str,
    units: int,
    pristine: Path,
    server: campaign.Server | None,
    stage_name: str = "consolidate",
) -> dict[str, Any]:
    from demo.postoffice import PostOffice

    work = VAR / str(units) / f"{mode}-{stage_name}"
    with PostOffice(work.with_name(work.name + "-post")) as post:  # collect answers over SMTP
        config_dir, data_dir = fresh_copy(pristine, work, post.port)
        plan = _plan(config_dir, data_dir)
        when = plan.at(plan.consolidation_day)
        if stage_name == "collect":
            when = plan.at(plan.deadline, clock(17, 30))
        as_of = when.isoformat()
        config, data = str(config_dir), str(data_dir)
        env = dict(os.environ, DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
        if mode == "flows":
            assert server is not None
            env["PREFECT_API_URL"] = server.api
            cmd = [str(BIN / "nianbao"), "run", stage_name, "--config", config, "--data", data]
            cmd += ["--as-of", as_of]
            if stage_name == "consolidate":
                cmd += ["--approval", "auto"]
        else:
            env.pop("PREFECT_API_URL", None)
            cmd = [sys.executable, str(Path(campaign.__file__).resolve()), "--stage", stage_name]
            cmd += ["--config", config, "--data", data, "--as-of", as_of]
        log = work / f"{stage_name}.log"
        stage = campaign.run_measured(cmd, log, env, server.pid if server else None)
    if stage.returncode != 0:
        raise RuntimeError(f"{mode} {stage_name} failed: see {log}")
    print(
        f"  {mode:>5} {units:>5} {stage_name:<11} {stage.wall:7.1f} s wall {stage.cpu:7.1f} s cpu "
        f"{stage.peak_rss_mb:6.0f} MB",
        flush=True,
    )
    return {
        "mode": mode,
        "units": units,
        "stage": stage_name,
        "wall": round(stage.wall, 2),
        "cpu": round(stage.cpu, 2),
        "peak_rss_mb": round(stage.peak_rss_mb, 1),
    }


def _plan(config_dir: Path, data_dir: Path) -> Any:
    from office.settings import load_app_config

    return load_app_config(config_dir, data_dir).plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default="1000,5000", help="sizes, e.g. 1000,5000")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--plain-only", action="store_true")
    only.add_argument("--flows-only", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="build the stores again")
    parser.add_argument("--stage", choices=("consolidate", "collect"), default="consolidate")
    parser.add_argument("--late", type=int, default=100, help="collect: the replies taken")
    args = parser.parse_args(argv)

    sizes = [int(s) for s in args.units.split(",")]
    modes = ["flows"] * (not args.plain_only) + ["plain"] * (not args.flows_only)
    print(f"{args.stage} peak RSS: {args.units} units, {' + '.join(modes)}; {campaign._load()}")
    late = args.late if args.stage == "collect" else None
    stores = {units: store_of(units, rebuild=args.rebuild, late=late) for units in sizes}
    server = campaign.Server(campaign.VAR / f"prefect-{os.getpid()}") if "flows" in modes else None
    results = []
    try:
        for units in sizes:
            for mode in modes:
                results.append(run_stage(mode, units, stores[units], server, args.stage))
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
