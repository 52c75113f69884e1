"""The ``nianbao`` command line.

Domain commands (template, validate, import-text, merge) import nothing from Prefect, so they
start fast; the flow commands import it only when they run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
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
        campaign_id = store.ensure_campaign(campaign or str(year), year)
        path = write_department_template(store, registry, campaign_id, department, output)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {path}")


# -- validate ------------------------------------------------------------------------------


def _read_any(path: Path, year: int | None):
    """A report from a workbook (isolated reader) or from a published text."""
    if path.suffix.lower() in (".txt", ".text", ".md"):
        from annual_report.textimport import import_text

        return import_text(
            path.read_text(encoding="utf-8", errors="replace"), year=year, source=str(path)
        )
    from annual_report.sandbox import read_untrusted

    return read_untrusted(path, year=year)


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
    """Check a returned workbook. Exit 0: no errors; 1: errors; 2: unreadable file."""
    from annual_report.validation import validate as run_validation

    try:
        report = _read_any(file, year)
        prior = _read_any(previous, report.year - 1 if report.year else None) if previous else None
    except WorkbookError as exc:
        if as_json:
            _print_json({"error": exc.kind, "reason": exc.message, "reason_zh": exc.reason_zh})
        raise _fail(f"{file}: {exc.message}") from None
    except (NianbaoError, OSError) as exc:
        raise _fail(f"{file}: {exc}") from None
    result = run_validation(report, previous=prior)
    if as_json:
        _print_json(result.to_dict())
    else:
        _print_issues(file, result)
    raise typer.Exit(0 if result.ok else 1)


def _print_issues(file: Path, result) -> None:
    report = result.report
    console.print(
        f"[bold]{file}[/bold]  form {report.form.id}  year {report.year or '?'}  "
        f"department {report.department or '?'}  read by {report.method}"
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
        table.add_row(issue.rule, f"[{colour}]{issue.severity}[/{colour}]", cells, issue.message)
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


def main() -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    app()


if __name__ == "__main__":
    main()
