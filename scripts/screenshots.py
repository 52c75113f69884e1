"""Screenshots of the coordinator's view: the demo campaign in a real Prefect UI, in Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts ``prefect server`` on a free loopback port with its own PREFECT_HOME in a temporary
directory, plays the demo campaign against it (``demo/run.py``), then runs one more
consolidation with approval in the UI, and photographs the flow runs, the artifacts and the
approval forms in headless Chromium (``/v2/`` UI). The approval forms are submitted by clicking
Resume in the browser, so the screenshots also prove that the forms work. Everything is checked
on the way: a page that never shows what it should, a missing artifact or a blank capture ends
the script with exit code 1. Takes about four minutes; needs Debian's chromium and a CJK font
(fonts-wqy-zenhei or fonts-noto-cjk).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chromium import Browser, BrowserError, find_chromium  # noqa: E402  (scripts/)

SHOTS = {
    "flow-runs": "01-flow-runs.png",
    "campaign": "02-campaign-run.png",
    "consolidate": "03-consolidate-run-artifacts.png",
    "artifacts": "04-artifacts.png",
    "departments": "05-departments-table.png",
    "summary": "06-summary.png",
    "progress": "07-progress.png",
    "workbook": "08-city-workbook-link.png",
    "consolidation": "09-consolidation.png",
    "review": "10-review-warnings-form.png",
    "approval": "11-approval-form.png",
    "approved": "12-approved-run.png",
    "failed-dispatch": "13-failed-dispatch.png",
    "failed-summary": "14-failed-dispatch-summary.png",
    "held-back": "15-held-back-run.png",
    "held-back-summary": "16-held-back-summary.png",
}
FAILURE_SHOTS = ["failed-dispatch", "failed-summary", "held-back", "held-back-summary"]
WIDE = 1920  # the department table's nine columns need it (at 1600 the last two are cut)


class Failure(RuntimeError):
    pass


def log(message: str, started: float = time.monotonic()) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_fonts() -> None:
    """Without a CJK font Chromium draws every Chinese character as a box."""
    fc_list = shutil.which("fc-list")
    found = (
        subprocess.run(
            [fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if fc_list
        else ""
    )
    if not found:
        raise Failure("no Chinese font: apt-get install --no-install-recommends fonts-wqy-zenhei")


class Api:
    """The few REST calls we need (httpx comes with Prefect)."""

    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=30)

    def flow_runs(self, flow: str, state: str | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "flows": {"name": {"any_": [flow]}},
            "sort": "START_TIME_DESC",
            "limit": 10,
        }
        if state:
            body["flow_runs"] = {"state": {"type": {"any_": [state]}}}
        response = self.http.post("/flow_runs/filter", json=body)
        response.raise_for_status()
        return response.json()

    def flow_run(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/flow_runs/{run_id}")
        response.raise_for_status()
        return response.json()

    def latest_artifacts(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        response = self.http.post(
            "/artifacts/latest/filter",
            json={"artifacts": {"key": {"any_": keys}}, "limit": len(keys)},
        )
        response.raise_for_status()
        return {a["key"]: a for a in response.json()}


def last_run(api: Api, flow: str) -> dict[str, Any]:
    runs = api.flow_runs(flow)
    if not runs:
        raise Failure(f"no {flow!r} flow run on the server")
    return runs[0]


def pause_key(run: dict[str, Any]) -> str | None:
    """Which pause a paused run is in (``paused-1``, ``paused-2``...), None when not paused."""
    state = run["state"]
    if state["type"] != "PAUSED":
        return None
    keyset = state["state_details"].get("run_input_keyset") or {}
    return keyset.get("response", "paused")


def wait_until(predicate: Any, what: str, timeout: float, process: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise Failure(f"{what}: the flow process ended with exit code {process.returncode}")
        if time.monotonic() > deadline:
            raise Failure(f"{what}: nothing after {timeout:.0f} s")
        time.sleep(1)


def shoot(browser: Browser, out: Path, name: str, url: str, *texts: str) -> str:
    browser.goto(url)
    text = browser.wait_for(*texts)
    colours = browser.screenshot(out / SHOTS[name])
    log(f"{SHOTS[name]} ({colours} colours)")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--year", type=int, default=2021, help="report year of the demo")
    parser.add_argument(
        "--failures-only",
        action="store_true",
        help="only the screens of what goes wrong (13-16), without the demo (about a minute)",
    )
    args = parser.parse_args(argv)
    import httpx

    from annual_report.errors import NianbaoError

    try:
        run(args.out.resolve(), args.year, failures_only=args.failures_only)
    except (Failure, BrowserError, NianbaoError, httpx.HTTPError) as exc:
        print(f"screenshots: error: {exc}", file=sys.stderr)
        return 1
    return 0


def run(out: Path, year: int, *, failures_only: bool = False) -> None:
    find_chromium()
    check_fonts()
    out.mkdir(parents=True, exist_ok=True)
    shots = FAILURE_SHOTS if failures_only else list(SHOTS)
    for name in shots:  # a failed run must not leave an old picture looking current
        (out / SHOTS[name]).unlink(missing_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nianbao-screenshots-"))
    # Before Prefect is imported: the client's own home, quiet console, no telemetry. Only the
    # console handler is quietened: PREFECT_LOGGING_LEVEL would also drop the run logs the UI shows.
    os.environ.update(
        PREFECT_HOME=str(work / "client"),
        PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    from annual_report.errors import NianbaoError
    from flows.server import start_server

    server = None
    pause: subprocess.Popen | None = None
    try:
        try:
            server = start_server(work / "server", free_port())
        except NianbaoError as exc:
            raise Failure(str(exc)) from None
        log(f"Prefect server at {server.url} (home {work})")
        api = Api(server.api_url)
        ui = server.url + "/v2"
        with Browser() as browser:
            if not failures_only:
                campaign, data_dir = play_demo(work, year)
                static_views(browser, api, out, ui, campaign)
                # One more consolidation, approved in the UI: its pause forms.
                pause = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        "import sys; from flows.campaign import consolidate; "
                        "consolidate(sys.argv[1], sys.argv[2], 'ui', data_dir=sys.argv[3])",
                        str(campaign.config_dir),
                        campaign.as_of,
                        data_dir,
                    ],
                    cwd=ROOT,
                    stdout=open(work / "consolidate-ui.log", "wb"),  # noqa: SIM115
                    stderr=subprocess.STDOUT,
                )
                approval_views(browser, api, out, ui, pause)
                pause.wait(timeout=60)
                if pause.returncode != 0:
                    raise Failure("the consolidation in UI mode failed: see consolidate-ui.log")
            # Last, as they publish the campaign's artifacts anew: what goes wrong.
            failure_views(browser, api, out, ui, work, year)
    except BaseException:
        log(f"failed: logs kept in {work}")
        raise
    finally:
        if pause is not None and pause.poll() is None:
            pause.terminate()
            pause.wait(timeout=15)
        if server is not None:
            server.stop()
            log("Prefect server stopped")
    shutil.rmtree(work, ignore_errors=True)
    log(f"{len(shots)} screenshots in {out}")


@dataclass(frozen=True)
class Played:
    """What the demo left behind that the screenshots check against."""

    config_dir: Path
    key: str  # artifact key prefix, e.g. nianbao-2021
    as_of: str  # the consolidation morning
    units: list[tuple[str, str]]  # (code, name) in registry order
    states: dict[str, str]  # code -> state


def play_demo(work: Path, year: int) -> tuple[Played, str]:
    from rich.console import Console

    from demo import city
    from demo.run import run_demo
    from flows.tasks import artifact_key
    from office.settings import load_app_config

    log("playing the demo campaign (about 2.5 minutes)")
    demo_log = work / "demo.log"
    with open(demo_log, "w", encoding="utf-8") as stream:
        result = run_demo(work / "demo", report_year=year, console=Console(file=stream, width=120))
    data_dir = str(result.workspace / "data")
    config = load_app_config(result.config_dir, data_dir)
    plan = config.plan
    log(f"demo done: {len(result.states)} departments (log {demo_log})")
    as_of = plan.at(plan.consolidation_day).isoformat()
    units = [(code, name) for code, name, _kind in city.UNITS]
    return Played(result.config_dir, artifact_key(plan.id), as_of, units, result.states), data_dir


def static_views(browser: Browser, api: Api, out: Path, ui: str, campaign: Played) -> None:
    from annual_report.campaign.kinds import STATE_LABELS

    key = campaign.key
    names = {
        k: f"{key}-{k}"
        for k in ("departments", "summary", "progress", "city-workbook", "consolidation")
    }
    artifacts = api.latest_artifacts(list(names.values()))
    missing = [n for n in names.values() if n not in artifacts]
    if missing:
        raise Failure(f"artifacts not found: {', '.join(missing)}")
    run = last_run(api, "campaign")
    consolidate = last_run(api, "consolidate")

    shoot(browser, out, "flow-runs", f"{ui}/runs", "campaign", "consolidate", "collect")
    shoot(
        browser,
        out,
        "campaign",
        f"{ui}/runs/flow-run/{run['id']}?tab=SubflowRuns",
        run["name"],
        "consolidate",
        "remind",
    )
    shoot(
        browser,
        out,
        "consolidate",
        f"{ui}/runs/flow-run/{consolidate['id']}?tab=Artifacts",
        consolidate["name"],
        *names.values(),
    )
    shoot(browser, out, "artifacts", f"{ui}/artifacts", *names.values())

    # The table: every department, 50 rows a page, wide enough for all eight columns.
    browser.resize(WIDE, 1900)
    browser.goto(f"{ui}/artifacts/artifact/{artifacts[names['departments']]['latest_id']}")
    browser.wait_for("单位", "状态", campaign.units[0][1])
    browser.click_text("10", selector="[role=combobox]")
    browser.click_text("50", selector="[role=option]")
    browser.wait_for(campaign.units[-1][1])
    rows = browser.evaluate(
        "[...document.querySelectorAll('tbody tr')].map(r => r.innerText.replace(/\\s+/g, ' '))"
    )
    for code, name in campaign.units:
        label = STATE_LABELS[campaign.states[code]]
        # columns: 单位 状态 … 代码 (most urgent first, the code last)
        if not any(row.startswith(f"{name} {label} ") and code in row.split() for row in rows):
            raise Failure(f"the department table has no row '{code} {name} {label}'")
    colours = browser.screenshot(out / SHOTS["departments"])
    log(f"{SHOTS['departments']} ({len(rows)} rows, {colours} colours)")
    browser.resize(browser.width, browser.height)

    def artifact(name: str, which: str, *texts: str) -> None:
        shoot(
            browser,
            out,
            name,
            f"{ui}/artifacts/artifact/{artifacts[names[which]]['latest_id']}",
            *texts,
        )

    artifact("summary", "summary", "最近变化", "需要电话督促", "应报")
    artifact("progress", "progress", "Progress")
    artifact("workbook", "city-workbook", ".xlsx")
    # Tall enough for the list of included units and, below it, the excluded ones.
    browser.resize(browser.width, 2300)
    artifact("consolidation", "consolidation", "纳入", "未纳入")
    browser.resize(browser.width, browser.height)


def approval_views(
    browser: Browser, api: Api, out: Path, ui: str, process: subprocess.Popen
) -> None:
    """Open each pause form of the consolidation, photograph it, submit it with Resume."""
    run = wait_until(
        lambda: next(iter(api.flow_runs("consolidate", state="PAUSED")), None),
        "waiting for the consolidation to pause",
        180,
        process,
    )
    run_id, seen = run["id"], set()
    for _ in range(3):  # the warnings review (when there are warnings), then the approval
        key = wait_until(
            lambda: (
                pause_key(api.flow_run(run_id))
                or api.flow_run(run_id)["state"]["type"]
                in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
            ),
            "waiting for the next pause",
            120,
            process,
        )
        if key is True:
            break
        if key in seen:
            time.sleep(1)
            continue
        seen.add(key)
        browser.goto(f"{ui}/runs/flow-run/{run_id}?tab=Logs")
        browser.wait_for(run["name"], "Paused")
        browser.click_text("Open menu")
        browser.click_text("Resume", selector="[role=menuitem]")
        text = browser.wait_for("Resume Flow Run")
        if "退回的单位代码" in text:
            name = "review"
            browser.wait_for("单位说明")
        elif "汇总结果" in text:
            name = "approval"
        else:
            raise Failure(f"an unexpected pause form: {text[-400:]!r}")
        colours = browser.screenshot(out / SHOTS[name])
        log(f"{SHOTS[name]} ({colours} colours)")
        browser.click_text("Resume", selector="[role=dialog] button")
        taken = key
        wait_until(
            lambda taken=taken: pause_key(api.flow_run(run_id)) != taken,
            "the form was not taken",
            60,
        )
    missing = [SHOTS[n] for n in ("review", "approval") if not (out / SHOTS[n]).exists()]
    if missing:
        raise Failure(f"pause forms never shown: {', '.join(missing)}")
    final = wait_until(
        lambda: (r := api.flow_run(run_id))["state"]["type"] == "COMPLETED" and r,
        "waiting for the approved consolidation to finish",
        120,
        process,
    )
    shoot(
        browser,
        out,
        "approved",
        f"{ui}/runs/flow-run/{run_id}?tab=Logs",
        run["name"],
        final["state"]["name"],
        "Resuming flow run execution",
    )


# -- what goes wrong: a dispatch while the mail server is down, a mail held back by a crash ----

CRASH_AFTER_RECEIPT = """
import os, signal, sys
from datetime import datetime
from connectors import outgoing
send_one = outgoing.SmtpSender._send_one
def send_then_die(self, mail):
    result, unreachable = send_one(self, mail)
    if result.ok and mail.kind == "receipt":
        os.kill(os.getpid(), signal.SIGKILL)  # the server has the receipt, the store does not
    return result, unreachable
outgoing.SmtpSender._send_one = send_then_die
from flows.campaign import collect
collect(sys.argv[1], datetime.fromisoformat(sys.argv[2]), data_dir=sys.argv[3])
"""


def newest_logs(
    browser: Browser, out: Path, name: str, ui: str, run: dict[str, Any], *texts: str
) -> None:
    """A run's logs, newest first: its final message is the first line."""
    browser.goto(f"{ui}/runs/flow-run/{run['id']}?tab=Logs")
    text = browser.wait_for(run["name"], "Level: All")
    if "Oldest to newest" in text:  # the UI keeps the choice once made
        browser.click_text("Oldest to newest", selector="[role=combobox]")
        browser.click_text("Newest to oldest", selector="[role=option]")
    browser.wait_for(*texts)
    colours = browser.screenshot(out / SHOTS[name])
    log(f"{SHOTS[name]} ({colours} colours)")


def failure_views(browser: Browser, api: Api, out: Path, ui: str, work: Path, year: int) -> None:
    """A second office of the sample city: its first dispatch finds the mail server down (the
    run fails, red); the server back, the templates go; a department replies, and the collect
    answering it is killed just after the server took the receipt: the next collect holds that
    receipt back and tells the coordinator."""
    import random
    import smtplib
    from datetime import time as clock
    from email.message import EmailMessage

    from annual_report.form.model import form_for_year
    from annual_report.samples import consistent_values, fill_template, sample_narrative
    from connectors.attachments import parse_message
    from demo import city
    from demo.postoffice import PostOffice, maildir_path
    from flows import campaign as flows
    from flows.tasks import artifact_key
    from office.settings import load_app_config

    root = work / "outage"
    port = free_port()  # nothing listens here yet: the mail server is down
    config_dir = city.write_config(
        root / "config",
        report_year=year,
        smtp_port=port,
        maildir=maildir_path(root / "mailboxes", city.OFFICE),
        archive=root / "data" / "mail",
    )
    data_dir = str(root / "data")
    plan = load_app_config(config_dir, data_dir).plan
    key = artifact_key(plan.id)
    morning = plan.at(plan.start)
    log("a dispatch while the mail server is down")
    state = flows.dispatch(str(config_dir), morning, data_dir=data_dir, return_state=True)
    if not state.is_failed():
        raise Failure(f"the dispatch with the server down ended {state.name}: {state.message}")
    failed = last_run(api, "dispatch")
    newest_logs(
        browser, out, "failed-dispatch", ui, failed, "Failed", "未发出", "无法连接邮件服务器"
    )
    summary = api.latest_artifacts([f"{key}-summary"])[f"{key}-summary"]
    shoot(
        browser,
        out,
        "failed-summary",
        f"{ui}/artifacts/artifact/{summary['latest_id']}",
        "需要注意",
        "未能发出",
        "下次运行会自动补发",
    )
    with PostOffice(root / "mailboxes", port=port) as office:
        log("the mail server is back: the next dispatch sends the templates")
        state = flows.dispatch(
            str(config_dir), plan.at(plan.start, clock(9, 30)), data_dir=data_dir, return_state=True
        )
        if not state.is_completed():
            raise Failure(f"the second dispatch ended {state.name}: {state.message}")
        code, name, _kind = city.UNITS[1]
        (invitation,) = office.inbox(city.address(code))
        parsed = parse_message(invitation)
        template = root / f"{code}.xlsx"
        template.write_bytes(parsed.workbooks[0].content)
        rng = random.Random(7)
        values = consistent_values(form_for_year(year), rng)
        filled = fill_template(
            template, root / f"{code}-filled.xlsx", values, sample_narrative(year, values, rng)
        )
        reply = EmailMessage()
        reply["From"] = f"{name} <{city.address(code)}>"
        reply["To"] = city.OFFICE
        reply["Subject"] = f"回复：{parsed.subject}"
        reply["In-Reply-To"] = parsed.message_id
        reply.set_content("您好，我单位年度报告见附件。")
        reply.add_attachment(
            filled.read_bytes(),
            maintype="application",
            subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            filename=f"{name}{year}年政府信息公开工作年度报告.xlsx",
        )
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(reply)
        log("a collect killed just after the server took its receipt")
        crashed = subprocess.run(
            [
                sys.executable,
                "-c",
                CRASH_AFTER_RECEIPT,
                str(config_dir),
                plan.at(plan.start, clock(17, 30)).isoformat(),
                data_dir,
            ],
            cwd=ROOT,
            capture_output=True,
            timeout=300,
        )
        if crashed.returncode != -9:
            tail = crashed.stderr.decode(errors="replace")[-2000:]
            raise Failure(f"the collect was to be killed, it ended {crashed.returncode}: {tail}")
        state = flows.collect(
            str(config_dir), plan.at(plan.start, clock(18, 0)), data_dir=data_dir, return_state=True
        )
        if state.name != "NeedsAttention":
            raise Failure(f"the collect after the crash ended {state.name}: {state.message}")
        told = [
            m
            for m in map(parse_message, office.inbox(city.COORDINATOR))
            if "不确定是否已发出" in m.subject
        ]
        if len(told) != 1:
            raise Failure(f"the coordinator got {len(told)} notices of the held-back receipt")
    held = last_run(api, "collect")
    newest_logs(browser, out, "held-back", ui, held, "NeedsAttention", "不确定是否已发出")
    summary = api.latest_artifacts([f"{key}-summary"])[f"{key}-summary"]
    shoot(
        browser,
        out,
        "held-back-summary",
        f"{ui}/artifacts/artifact/{summary['latest_id']}",
        "需要注意",
        "不确定是否已发出",
        "--delivered",
    )


if __name__ == "__main__":
    sys.exit(main())
