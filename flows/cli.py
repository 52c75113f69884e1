"""The ``nianbao`` command line.

Domain commands (template, validate, import-text, merge) import nothing from Prefect, so they
start fast; the flow commands import it only when they run.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from annual_report.errors import NianbaoError, WorkbookError

app = typer.Typer(
    name="nianbao",
    help="Collect, check and consolidate the annual government-information-disclosure reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", envvar="NIANBAO_CONFIG", help="Configuration directory (registry, mail, …)."
    ),
]
DbOption = Annotated[
    Path, typer.Option("--db", envvar="NIANBAO_DB", help="State database (SQLite file).")
]
DEFAULT_CONFIG = Path("config")
DEFAULT_DB = Path("nianbao-data/nianbao.db")


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


# -- template ------------------------------------------------------------------------------


@app.command()
def template(
    department: Annotated[str, typer.Option("--department", "-d", help="Registry code.")],
    year: Annotated[int, typer.Option("--year", "-y", help="Report year, e.g. 2021.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the .xlsx.")],
    campaign: Annotated[
        str | None, typer.Option(help="Campaign id (default: the report year).")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write a department's personalised template (defined names, checks, metadata)."""
    from annual_report.campaign import write_department_template
    from annual_report.registry import load_registry
    from annual_report.store import Store

    try:
        registry = load_registry(config)
        store = Store(db)
        # with the registry snapshot, so the returned file's token identifies the department
        campaign_id = store.ensure_campaign(campaign or str(year), year, registry=registry)
        path = write_department_template(store, registry, campaign_id, department, output)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {path}")


# -- validate ------------------------------------------------------------------------------


MAX_TEXT_BYTES = 20 * 1024 * 1024  # a published report as text is a few hundred KB


def _read_any(path: Path, year: int | None):
    """A report from a workbook (isolated reader) or from a published text."""
    if path.suffix.lower() in (".txt", ".text", ".md"):
        from annual_report.textimport import import_text

        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise WorkbookError(
                f"text file of {size:,} bytes, over the {MAX_TEXT_BYTES:,}-byte limit",
                "文件过大。",
                kind="too-large",
            )
        return import_text(
            path.read_text(encoding="utf-8", errors="replace"), year=year, source=str(path)
        )
    from annual_report.sandbox import read_untrusted

    return read_untrusted(path, year=year)


def _one_line(text: object) -> str:
    """A message as one line of plain text (no newlines, no markup, not endless)."""
    line = " ".join(str(text).split())
    return line if len(line) <= 400 else line[:400] + " …"


def _refuse(
    file: Path,
    message: object,
    *,
    as_json: bool = False,
    kind: str = "unreadable",
    reason_zh: str | None = None,
) -> typer.Exit:
    """``validate``'s answer for a file it cannot read: one line on stderr (and the reason as
    JSON on stdout with ``--json``), exit 2."""
    if as_json:
        _print_json({"error": kind, "reason": _one_line(message), "reason_zh": reason_zh})
    line = escape(_one_line(f"{file}: {message}"))
    err_console.print(f"[red]error:[/red] {line}", highlight=False)
    return typer.Exit(2)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="A returned workbook (.xlsx .xlsm .xls .ods).")],
    year: Annotated[int | None, typer.Option(help="Report year, if the file does not say.")] = None,
    previous: Annotated[
        Path | None,
        typer.Option(help="Last year's report (workbook or published text) for C1/C2/C7."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check a returned workbook. Exit 0: no errors; 1: errors; 2: unreadable file.

    Whatever the file holds, the answer is that exit code, with at most one line on stderr:
    library warnings are not printed, and an unforeseen failure is reported, not raised.
    """
    import logging

    from annual_report.validation import validate as run_validation

    logging.getLogger().addHandler(logging.NullHandler())  # no stray warnings on stderr
    try:
        report = _read_any(file, year)
        prior = _read_any(previous, report.year - 1 if report.year else None) if previous else None
    except WorkbookError as exc:
        raise _refuse(
            file, exc.message, as_json=as_json, kind=exc.kind, reason_zh=exc.reason_zh
        ) from None
    except (NianbaoError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise _refuse(file, reason, as_json=as_json) from None
    except Exception as exc:  # a reader bug on a strange file: an answer, not a traceback
        reason = f"cannot be read ({type(exc).__name__}: {exc})"
        raise _refuse(file, reason, as_json=as_json) from None
    try:
        result = run_validation(report, previous=prior)
        if as_json:
            _print_json(result.to_dict())
        else:
            _print_issues(file, result)
    except Exception as exc:  # the same for the rules and the output
        reason = f"cannot be checked ({type(exc).__name__}: {exc})"
        raise _refuse(file, reason, as_json=as_json) from None
    raise typer.Exit(0 if result.ok else 1)


def _print_issues(file: Path, result) -> None:
    report = result.report
    console.print(
        f"[bold]{escape(str(file))}[/bold]  form {report.form.id}  year {report.year or '?'}  "
        f"department {escape(_one_line(report.department or '?')[:40])}  read by {report.method}"
    )
    if not result.issues:
        console.print("[green]no issues[/green]")
        return
    table = Table(show_lines=False)
    table.add_column("rule", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("cells", overflow="fold", max_width=28)
    table.add_column("message", overflow="fold", ratio=1)  # never cut a message short
    for issue in result.issues:
        colour = "red" if issue.severity == "error" else "yellow"
        cells = ", ".join(issue.cells[:4]) + (" …" if len(issue.cells) > 4 else "")
        # messages quote what a clerk typed: never markup
        table.add_row(
            issue.rule,
            f"[{colour}]{issue.severity}[/{colour}]",
            escape(cells),
            escape(issue.message),
        )
    console.print(table)
    console.print(f"{len(result.errors)} errors, {len(result.warnings)} warnings")


# -- import-text ---------------------------------------------------------------------------


@app.command("import-text")
def import_text_command(
    file: Annotated[Path, typer.Argument(help="A published report as text.")],
    year: Annotated[int | None, typer.Option(help="Report year, if the text does not say.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    backfill: Annotated[
        str | None,
        typer.Option(
            metavar="CODE",
            help="Store it as department CODE's accepted report of its year (for next year's "
            "cross-year checks and the pre-filled 上年结转).",
        ),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Read a published report (text, web tables, pdftotext -layout) into canonical values."""
    from annual_report.textimport import decode_text, import_result, import_text
    from annual_report.validation import validate as run_validation

    try:
        data = file.read_bytes()
        report = import_text(decode_text(data), year=year, source=str(file))
        if backfill:
            from annual_report.campaign import backfill_published
            from annual_report.registry import load_registry
            from annual_report.store import Store

            stored = backfill_published(
                Store(db),
                load_registry(config),
                report,
                backfill,
                text=data,
                source=f"text:{file.name}",
            )
            err_console.print(
                f"stored as submission {stored.id} of campaign {stored.campaign} "
                f"({stored.department} v{stored.version})"
            )
    except OSError as exc:
        raise _fail(f"{file}: {exc.strerror}") from None
    except NianbaoError as exc:
        raise _fail(f"{file}: {exc}") from None
    result = run_validation(report)
    if as_json:
        _print_json({**import_result(report), "issues": [i.to_dict() for i in result.issues]})
        return
    _print_issues(file, result)
    read = sum(1 for e in report.entries.values() if e.raw is not None)
    console.print(f"{read} of {len(report.form.cells)} cells read")
    for item in report.missing:
        console.print(f"[yellow]missing:[/yellow] {item}")


# -- merge ---------------------------------------------------------------------------------


@app.command()
def merge(
    files: Annotated[list[Path], typer.Argument(help="Accepted workbooks to consolidate.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="City-level .xlsx to write.")],
    year: Annotated[int | None, typer.Option(help="Report year, if the files do not say.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    title: Annotated[str | None, typer.Option(help="Title of the consolidated report.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Consolidate workbooks into the city-level report (exact sums, inclusion sheet)."""
    from annual_report.consolidation import consolidate_files, write_consolidation
    from annual_report.registry import load_registry

    registry = None
    if config.exists():
        try:
            registry = load_registry(config)
        except NianbaoError as exc:
            raise _fail(str(exc)) from None
    try:
        consolidation = consolidate_files(files, registry=registry, year=year)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    default_title = (
        f"{registry.city if registry else ''}{consolidation.year or ''}年政府信息公开工作年度报告"
    )
    write_consolidation(consolidation, output, title=title or default_title)
    if as_json:
        _print_json(consolidation.to_dict())
        return
    console.print(f"wrote {output}")
    console.print(
        f"{len(consolidation.included)} units included, {len(consolidation.excluded)} excluded"
    )
    for unit in consolidation.excluded:
        console.print(f"  [yellow]excluded[/yellow] {unit.name}: {unit.reason}")


# -- the campaign ---------------------------------------------------------------------------

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        envvar="NIANBAO_DATA",
        help="Data directory (default: nianbao-data/ beside config/).",
    ),
]
FLOW_NAMES = ("dispatch", "collect", "remind", "consolidate", "campaign")


def _as_of(text: str | None):
    from datetime import datetime

    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"--as-of {text!r}: expected e.g. 2022-01-25T09:00+08:00") from None


@app.command()
def run(
    flow_name: Annotated[str, typer.Argument(metavar="FLOW", help=" | ".join(FLOW_NAMES))],
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Run as if at this time (ISO 8601).")
    ] = None,
    force: Annotated[bool, typer.Option(help="dispatch: send the templates again.")] = False,
    approval: Annotated[
        str, typer.Option(help="consolidate: 'ui' waits for the coordinator, 'auto' does not.")
    ] = "ui",
) -> None:
    """Run one flow once: dispatch, collect, remind, consolidate or the whole campaign."""
    if flow_name not in FLOW_NAMES:
        raise _fail(f"unknown flow {flow_name!r}: one of {', '.join(FLOW_NAMES)}")
    when = _as_of(as_of)
    from flows.campaign import FLOWS

    kwargs: dict[str, Any] = {"config_dir": str(config), "as_of": when}
    if data is not None:
        kwargs["data_dir"] = str(data)
    if flow_name == "dispatch":
        kwargs["force"] = force
    if flow_name in ("consolidate", "campaign"):
        kwargs["approval"] = approval
    try:
        state = FLOWS[flow_name](**kwargs, return_state=True)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{flow_name}: {state.name}: {state.message or ''}")
    raise typer.Exit(0 if state.is_completed() else 1)


@app.command()
def status(
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every department's state in the campaign of the configuration."""
    from annual_report.store import Store
    from flows.settings import load_app_config
    from flows.status import table_rows

    try:
        app_config = load_app_config(config, data)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    plan = app_config.plan
    with Store(app_config.database) as store:
        try:
            store.campaign(plan.id)
        except NianbaoError:
            raise _fail(f"campaign {plan.id} has not started: run `nianbao run dispatch`") from None
        codes = list(app_config.registry.codes)
        states = store.department_states(plan.id, due=plan.deadlines(codes))
        unassigned = store.unassigned(plan.id)
    rows = table_rows(states, plan.zone)
    if as_json:
        _print_json(
            [
                {
                    "code": s.code,
                    "name": s.name,
                    "kind": s.kind,
                    "state": s.state,
                    "label": s.label,
                    "last_action": s.last_action,
                    "last_action_at": s.last_action_at.isoformat() if s.last_action_at else None,
                    "due": s.due.isoformat() if s.due else None,
                    "version": s.version,
                    "rejections": s.rejections,
                    "escalations": s.escalations,
                }
                for s in states
            ]
        )
        return
    table = Table()
    for column in rows[0] if rows else ():
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    if unassigned:
        console.print(f"\n{len(unassigned)} file(s) wait for `nianbao assign SUBMISSION CODE`:")
        for sub in unassigned:
            hint = f" (probably {sub.suggested_department})" if sub.suggested_department else ""
            console.print(
                f"  {sub.id}: {sub.file_name or '?'} from {sub.sender or 'the drop folder'}{hint}",
                highlight=False,
            )


@contextmanager
def _runtime(config: Path, data: Path | None) -> Iterator[Any]:
    """The office runtime for one command (no passwords: these commands send nothing)."""
    from flows import operations
    from flows.settings import load_app_config

    rt = operations.Runtime.open(load_app_config(config, data))
    try:
        yield rt
    finally:
        rt.close()


@app.command()
def assign(
    submission: Annotated[int, typer.Argument(help="Submission number (from the notice).")],
    department: Annotated[str, typer.Argument(help="Registry code of its department.")],
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = None,
) -> None:
    """Give a quarantined or unmatched file its department; the next collect answers it."""
    from flows import operations

    try:
        with _runtime(config, data) as rt:
            sub = operations.assign(rt, submission, department)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    console.print(f"submission {sub.id}: {sub.department} v{sub.version}, {sub.status}")


@app.command()
def resend(
    key: Annotated[str, typer.Argument(help="The mail's key from the summary, e.g. answer:17.")],
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = None,
) -> None:
    """Let the next run send a mail that was left uncertain (check it did not arrive first)."""
    from flows import operations

    try:
        with _runtime(config, data) as rt:
            operations.release_uncertain(rt, key)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{key} will be sent by the next run")


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo city lives (emptied first).")
    ] = Path("nianbao-demo"),
    ui: Annotated[
        bool, typer.Option("--ui", help="Run against a local Prefect server and leave it up.")
    ] = False,
    year: Annotated[int, typer.Option(help="Report year of the demo campaign.")] = 2021,
    verbose: Annotated[bool, typer.Option(help="Show Prefect's own log lines.")] = False,
) -> None:
    """The whole January campaign end to end on a built-in sample city, no configuration."""
    if not verbose:
        # quiet on the console; the runs' logs still reach the UI
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    server = None
    if ui:
        from flows.server import start_server

        server = start_server(directory.resolve() / "prefect")
        console.print(f"Prefect UI: {server.url}")
    from flows.demo.run import run_demo

    try:
        run_demo(directory, report_year=year, console=console)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    if server is not None:
        console.print(f"\nThe Prefect UI stays up at {server.url} (Ctrl-C to stop it).")
        server.wait()


@app.command()
def serve(config: ConfigOption = DEFAULT_CONFIG, data: DataOption = None) -> None:
    """Serve the campaign's deployments on their schedules (Asia/Shanghai cron)."""
    from flows.deployments import serve_campaign

    try:
        serve_campaign(str(config), str(data) if data else None)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None


@app.command()
def report(
    docx: Annotated[Path, typer.Option("--docx", help="Where to write the Word document.")],
    campaign_id: Annotated[
        str | None, typer.Option("--campaign", help="Campaign id (default: the plan's).")
    ] = None,
    department: Annotated[
        str | None,
        typer.Option(help="A department's own report instead of the city-level one."),
    ] = None,
    pdf: Annotated[bool, typer.Option(help="Also convert it to PDF (LibreOffice).")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = None,
) -> None:
    """The report as a document: the city-level draft, or one department's publishable report."""
    from annual_report.document import (
        city_report_from_store,
        department_report_from_store,
        to_pdf,
    )
    from annual_report.store import Store
    from flows.settings import load_app_config

    try:
        app_config = load_app_config(config, data)
        plan, mail = app_config.plan, app_config.mail
        cid = campaign_id or plan.id
        common = {
            "office": mail.smtp.sender_name,
            "contact": mail.contact,
            "website": plan.website,
            "site_name": plan.site_name,
        }
        with Store(app_config.database) as store:
            if department:
                draft = department_report_from_store(store, cid, department.upper(), **common)
            else:
                draft = city_report_from_store(store, cid, city=app_config.registry.city, **common)
        path = draft.save(docx)
        console.print(f"wrote {path}")
        if pdf:
            console.print(f"wrote {to_pdf(path, path.parent)}")
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    for issue in draft.issues:
        console.print(f"[yellow]{issue.rule}[/yellow] {issue.text}")
    for text in draft.placeholders:
        console.print(f"[cyan]to fill in:[/cyan] {text}")


def main() -> None:
    # No network but the mail servers: no telemetry, no analytics.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    app()


if __name__ == "__main__":
    main()
