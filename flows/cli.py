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
    err_console.print(f"[red]错误：[/red]{message}", highlight=False, markup=True)
    return typer.Exit(code)


def _fail_zh(exc: NianbaoError, code: int = 2) -> typer.Exit:
    """An expected failure as one Chinese line (office.outcome.failure_zh), no traceback."""
    from office.outcome import failure_zh

    return _fail(failure_zh(exc), code)


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
    from annual_report.campaign.registry import load_registry
    from annual_report.campaign.templates import write_department_template
    from annual_report.store import open_store

    try:
        registry = load_registry(config)
        store = open_store(db)
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
        from annual_report.text.importer import import_text

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
    from annual_report.workbook.sandbox import read_untrusted

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
    department: DepartmentOption = None,
    config: OfficeConfigOption = None,
    data: DataOption = None,
    db: OfficeDbOption = None,
) -> None:
    """Check a returned workbook. Exit 0: no errors; 1: errors; 2: unreadable file.

    With the office's configuration (--config, $NIANBAO_CONFIG or ./config) the unit's kind
    and power to make 规章 come from the registry, and last year's report from the database
    (--previous wins); a lone file is checked without them.

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
    ctx = _validation_context(report, config, data, db, department=department, previous=prior)
    try:
        result = run_validation(report, previous=ctx.previous, context=ctx.context)
        if ctx.department is not None:  # an office's report one level down: its units too
            from annual_report.consolidation import office_issues

            result.issues.extend(office_issues(report, ctx.department))
        if as_json:
            office = report.office
            summary = (
                None
                if office is None
                else {"code": office.code, "level": office.level, "leaf_units": len(office.leaves)}
            )
            _print_json({**result.to_dict(), "context": _context_json(ctx), "office": summary})
        else:
            _print_issues(file, result)
            _print_context(ctx, result)
            _print_office(report)
    except Exception as exc:  # the same for the rules and the output
        reason = f"cannot be checked ({type(exc).__name__}: {exc})"
        raise _refuse(file, reason, as_json=as_json) from None
    raise typer.Exit(0 if result.ok else 1)


# -- the office around validate and import-text ------------------------------------------

DepartmentOption = Annotated[
    str | None,
    typer.Option(
        "--department",
        "-d",
        metavar="CODE",
        help="Check as this unit of the registry (default: the unit the file names).",
    ),
]
OfficeConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="NIANBAO_CONFIG",
        help="Configuration directory (default: ./config when it exists).",
    ),
]
OfficeDbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", envvar="NIANBAO_DB", help="State database (default: nianbao.db in the data dir)."
    ),
]


def _office_paths(config: Path | None, data: Path | None, db: Path | None) -> tuple[Path, Path]:
    """The configuration directory and the database file, found as the other commands do."""
    from office.settings import DATA_ENV

    config_dir = config if config is not None else DEFAULT_CONFIG
    if db is None:
        data_dir = data or os.environ.get(DATA_ENV) or config_dir.resolve().parent / "nianbao-data"
        db = Path(data_dir) / "nianbao.db"
    return config_dir, db


def _office_registry(config: Path | None, config_dir: Path):
    """The registry, or ``None`` for a lone file (no configuration given nor in ./config)."""
    from annual_report.campaign.registry import load_registry

    if config is None and not (config_dir / "departments.yaml").is_file():
        return None
    try:
        return load_registry(config_dir)
    except NianbaoError as exc:
        raise _fail(f"{config_dir}: {exc}") from None


def _validation_context(report, config, data, db, *, department=None, previous=None):
    """What the registry and the stored history say about ``report``'s unit (none found: the
    rules that need them are skipped or run as for an unknown unit, as the notes say)."""
    from annual_report.campaign.context import context_for
    from annual_report.store import open_store

    config_dir, db_file = _office_paths(config, data, db)
    registry = _office_registry(config, config_dir)
    try:
        if not db_file.is_file():  # reading never creates an office's database
            return context_for(report, registry=registry, department=department, previous=previous)
        with open_store(db_file) as store:
            return context_for(
                report, registry=registry, store=store, department=department, previous=previous
            )
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # unreadable (a database that is not nianbao's: a StoreError)
        raise _fail(f"{db_file}: {exc}") from None


def _context_json(ctx) -> dict[str, Any]:
    unit = ctx.department
    previous = ctx.previous
    return {
        "department": unit.code if unit else None,
        "department_name": unit.name if unit else None,
        "kind": ctx.context.organ_kind,
        "can_make_rules": ctx.context.can_make_rules,
        "previous": None
        if previous is None
        else {"year": previous.year, "form": previous.form.id, "source": previous.source},
        "peer_fees": len(ctx.context.peer_fees),
        "notes": list(ctx.notes),
    }


def _print_context(ctx, result) -> None:
    unit = ctx.department
    if unit is not None:
        what = f"{unit.code}，{unit.kind_label}" + ("，可制定规章" if unit.can_make_rules else "")
        console.print(f"单位：{unit.name}（{what}）", highlight=False)
    if ctx.previous is not None:
        console.print(f"上一年度报告：{ctx.previous.year}年度", highlight=False)
    for note in ctx.notes:
        console.print(f"[yellow]注意：[/yellow]{note}", highlight=False)
    for item in result.skipped_list():
        console.print(f"未核对 {item['rule']}：{item['reason_zh']}", highlight=False)


def _print_office(report) -> None:
    """What an office's report (one level down) says of itself: the office, its units."""
    from annual_report.campaign.registry import LEVEL_LABELS

    office = report.office
    if office is None:
        return
    level = LEVEL_LABELS.get(office.level, office.level)
    offices = {leaf.path[:1] for leaf in office.leaves if leaf.path}
    through = f"，经下级汇总报告{len(offices)}份" if offices else ""
    console.print(
        f"{level}汇总报告：{office.name or office.code or '?'}，"
        f"含基层单位{len(office.leaves)}个{through}",
        highlight=False,
        markup=False,
    )


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
    backfill_city: Annotated[
        bool,
        typer.Option(
            "--backfill-city",
            help="Keep it as the city's own published report of its year (the city-level "
            "figures next year's report compares with, and a year of its charts).",
        ),
    ] = False,
    department: DepartmentOption = None,
    config: OfficeConfigOption = None,
    data: DataOption = None,
    db: OfficeDbOption = None,
) -> None:
    """Read a published report (text, web tables, pdftotext -layout) into canonical values.

    Checked as unit --backfill or --department CODE with the registry and last year's stored
    report when the office's configuration is found. Exit 0: read; 1: a table the text has
    was not read (nothing stored); 2: no report in the text.
    """
    if backfill and backfill_city:
        raise _fail("--backfill CODE is a unit's report, --backfill-city the city's: give one")
    from annual_report.text.importer import decode_text, import_result, import_text, tables_lost
    from annual_report.validation import validate as run_validation

    try:
        raw_bytes = file.read_bytes()
        report = import_text(decode_text(raw_bytes), year=year, source=str(file))
    except OSError as exc:
        raise _fail(f"{file}: {exc.strerror}") from None
    except NianbaoError as exc:
        raise _fail(f"{file}: {exc}") from None
    lost = tables_lost(report)
    if backfill and not lost:
        _backfill(report, backfill, raw_bytes, file, config, data, db)
    if backfill_city and not lost:
        _backfill_city(report, raw_bytes, file, config, data, db)
    unit = backfill or department
    ctx = _validation_context(report, config, data, db, department=unit)
    result = run_validation(report, previous=ctx.previous, context=ctx.context)
    if as_json:
        _print_json(
            {
                **import_result(report),
                "issues": [i.to_dict() for i in result.issues],
                "skipped": result.skipped_list(),
                "context": _context_json(ctx),
                "tables_lost": lost,
            }
        )
    else:
        _print_issues(file, result)
        _print_context(ctx, result)
        read = sum(1 for e in report.entries.values() if e.raw is not None)
        console.print(f"{read} of {len(report.form.cells)} cells read")
        for item in report.missing:
            console.print(f"[yellow]missing:[/yellow] {item}")
    if lost:
        why = "；".join(lost)
        stored = "，未存储" if backfill or backfill_city else ""
        err_console.print(f"[red]未能读取原文中的表格{stored}：[/red]{why}", highlight=False)
        raise typer.Exit(1)


def _backfill(report, code: str, raw_bytes: bytes, file: Path, config, data, db) -> None:
    from annual_report.campaign.registry import load_registry
    from annual_report.campaign.templates import backfill_published
    from annual_report.store import open_store

    config_dir, db_file = _office_paths(config, data, db)
    try:
        registry = load_registry(config_dir)
        with open_store(db_file) as store:
            stored = backfill_published(
                store, registry, report, code, text=raw_bytes, source=f"text:{file.name}"
            )
    except NianbaoError as exc:
        raise _fail(f"{file}: {exc}") from None
    err_console.print(
        f"stored as submission {stored.id} of campaign {stored.campaign} "
        f"({stored.department} v{stored.version})"
    )


def _backfill_city(report, raw_bytes: bytes, file: Path, config, data, db) -> None:
    from annual_report.campaign.registry import load_registry
    from annual_report.history.frames import record_city_report
    from annual_report.store import open_store

    config_dir, db_file = _office_paths(config, data, db)
    try:
        registry = load_registry(config_dir)
        with open_store(db_file) as store:
            campaign = record_city_report(
                store, registry, report, text=raw_bytes, source=f"text:{file.name}"
            )
    except NianbaoError as exc:
        raise _fail(f"{file}: {exc}") from None
    read = sum(1 for e in report.entries.values() if e.value is not None)
    err_console.print(
        f"已保存为{registry.city}{report.year}年度已发布报告的全市数据（{read}个数值，"
        f"{campaign}）：{report.year + 1}年度报告与上年比较、历年图表将使用它",
        highlight=False,
    )


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
    from annual_report.campaign.registry import load_registry
    from annual_report.consolidation import consolidate_files, write_consolidation

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
        raise _fail(
            f"--as-of {text!r} 不是有效的时间，请写成 2022-01-25T09:00+08:00 的格式"
        ) from None


FLOW_ZH = {
    "dispatch": "下发",
    "collect": "收集",
    "remind": "催报",
    "consolidate": "汇总",
    "campaign": "整轮运行",
}
# The final states a run can end in (docs/ui.md, "How a run ends"), and the exit code of `run`.
STATE_ZH = {
    "Completed": ("完成", 0),
    "Incomplete": ("尚未收齐", 0),
    "Skipped": ("已跳过", 0),
    "Returned": ("已退回", 0),
    "NeedsAttention": ("需要处理", 3),
    "Failed": ("失败", 1),
    "Crashed": ("意外中断", 1),
    "Cancelled": ("已取消", 1),
}


def _log_to_file(data_dir: Path) -> Path:
    """The runs' technical detail goes to ``<data>/logs/nianbao.log`` (and to the Prefect
    UI); the terminal shows one Chinese line per run unless ``--verbose``."""
    import logging

    path = data_dir / "logs" / "nianbao.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    for name in ("annual_report", "connectors", "flows"):
        logging.getLogger(name).setLevel(logging.INFO)
    return path


def prefect_server() -> str | None:
    """The Prefect server runs are recorded on: ``PREFECT_API_URL`` from the environment or
    the Prefect profile. None: Prefect starts a temporary server for the one command, which
    keeps less (README, "Run history")."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def _log_server_choice() -> None:
    import logging

    server, log = prefect_server(), logging.getLogger(__name__)
    if server:
        log.info("the run is recorded on the Prefect server %s", server)
    else:
        log.warning(
            "no Prefect server configured (PREFECT_API_URL): the run is recorded on a temporary "
            "server, which may lose task runs and logs at exit (README, 'Run history')"
        )


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
    verbose: Annotated[bool, typer.Option(help="Show Prefect's log lines as well.")] = False,
) -> None:
    """Run one flow once: dispatch, collect, remind, consolidate or the whole campaign.

    Prints one line: how the run ended and why. Exit 0: done (also 尚未收齐, 已跳过, 已退回);
    1: failed (e.g. mail that could not be sent; the next run sends it); 2: could not start
    (configuration); 3: needs the coordinator (mail held back or refused).
    """
    if flow_name not in FLOW_NAMES:
        raise _fail(f"没有名为 {flow_name!r} 的流程：可选 {'、'.join(FLOW_NAMES)}")
    when = _as_of(as_of)
    if not verbose:  # before Prefect is imported: its console handler reads this once
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    from office.settings import load_app_config

    try:
        app_config = load_app_config(config, data)
    except NianbaoError as exc:
        raise _fail_zh(exc) from None
    from flows.campaign import FLOWS  # imports Prefect, which sets up logging

    log_file = _log_to_file(app_config.data_dir)
    _log_server_choice()

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
        raise _fail_zh(exc) from None
    except Exception as exc:  # e.g. the Prefect server is unreachable: one line, detail logged
        import logging

        logging.getLogger(__name__).exception("%s could not run", flow_name)
        api = os.environ.get("PREFECT_API_URL")
        hint = (
            f"（Prefect 服务器 {api} 是否在运行？）" if api and "http" in str(exc).lower() else ""
        )
        raise _fail(
            f"{FLOW_ZH[flow_name]}（{flow_name}）未能运行：{type(exc).__name__}：{exc}{hint}。"
            f"详情见日志 {log_file}",
            1,
        ) from None
    name = state.name or state.type.value.title()
    label, code = STATE_ZH.get(name, (name, 0 if state.is_completed() else 1))
    if not state.is_completed():
        code = max(code, 1)
    line = f"{FLOW_ZH[flow_name]}（{flow_name}）{label}（{name}）：{state.message or ''}"
    if code:
        line += f"。详情见日志 {log_file}"
    out = err_console if code == 1 else console
    out.print(line, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def status(
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every department's state in the campaign of the configuration, and what needs you."""
    from office.status import standing

    try:
        with _runtime(config, data) as rt:
            plan, city = rt.config.plan, rt.config.registry.city
            where = standing(rt)
    except NianbaoError as exc:
        raise _fail_zh(exc) from None
    if where is None:
        raise _fail(f"本期（{plan.id}）收集尚未开始：请先运行 nianbao run dispatch")
    shown = (where.as_of, where.states, where.attention, where.unassigned, where.commands)
    if as_json:
        _print_json(_status_json(plan, *shown))
        return
    _print_status(city, plan, *shown)


def _status_json(plan, now, states, attention, unassigned, commands) -> dict[str, Any]:
    """Stable machine codes (``state``, ``last_action``, ``problem``) beside Chinese labels."""
    from annual_report.campaign.kinds import EVENT_KINDS, MAIL_PROBLEMS
    from office.status import action_label

    return {
        "campaign": plan.id,
        "as_of": now.isoformat(timespec="seconds"),
        "departments": [
            {
                "code": s.code,
                "name": s.name,
                "kind": s.kind,
                "state": s.state,
                "label": s.label,
                "detail": s.detail,
                "late_days": s.late_days,
                "overdue_days": s.overdue_days,
                "mail_problems": list(s.mail_problems),
                "last_action": s.last_action,
                "last_action_label": action_label(s.last_action),
                "last_action_at": s.last_action_at.isoformat() if s.last_action_at else None,
                "due": s.due.isoformat() if s.due else None,
                "version": s.version,
                "rejections": s.rejections,
                "escalations": s.escalations,
            }
            for s in states
        ],
        "attention": [
            {
                "key": i.key,
                "kind": i.kind,
                "kind_label": EVENT_KINDS[i.kind].label if i.kind in EVENT_KINDS else i.kind,
                "what": i.what,
                "problem": i.problem,
                "problem_label": MAIL_PROBLEMS[i.problem],
                "department": i.department,
                "to": list(i.to),
                "subject": i.subject,
                "since": i.since.isoformat() if i.since else None,
                "reason": i.reason_zh,
                "resend": commands[i.key][0] if i.problem != "failed" else None,
                "delivered": commands[i.key][1] if i.problem == "held_back" else None,
                "deployment": f"resend-{plan.id}" if i.problem != "failed" else None,
            }
            for i in attention
        ],
        "unassigned": [
            {
                "id": sub.id,
                "file_name": sub.file_name,
                "sender": sub.sender,
                "received_at": sub.received_at.isoformat(),
                "reason": sub.match_reason_zh or sub.failure_reason_zh,
                "suggested_department": sub.suggested_department,
            }
            for sub in unassigned
        ],
    }


def _print_status(city, plan, now, states, attention, unassigned, commands) -> None:
    """The department table and what needs the coordinator, readable at 80 columns: names
    without the city's prefix and never wrapped, columns added as the terminal widens."""
    from rich import box

    from office.status import action_label, by_urgency, progress

    width = console.width
    done = sum(s.state in ("accepted", "accepted_with_warnings") for s in states)
    console.print(
        f"[bold]{city}{plan.report_year}年度报告收集[/bold]  截至 {now:%Y-%m-%d %H:%M}，"
        f"应报 {len(states)} 个单位，已接收 {done} 个（{progress(states):.0f}%），"
        f"截止 {plan.deadline:%m-%d}",
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), expand=False)
    table.add_column("代码", no_wrap=True)
    table.add_column("单位", no_wrap=True, overflow="ellipsis", max_width=22 if width < 100 else 32)
    table.add_column("状态", no_wrap=True)
    table.add_column("说明", overflow="fold", min_width=8)
    table.add_column("截止", no_wrap=True)
    wide = width >= 110
    if wide:
        table.add_column("最近动作", no_wrap=True, overflow="ellipsis")
        table.add_column("时间", no_wrap=True)
        table.add_column("退回/督办", no_wrap=True, justify="right")
    colours = {"escalated": "red", "rejected": "red", "accepted": "green"}
    for s in by_urgency(states):
        name = s.name.removeprefix(city) if city and len(s.name) > len(city) else s.name
        state = f"[{colours[s.state]}]{s.label}[/]" if s.state in colours else s.label
        row = [s.code, name, state, s.detail, s.due.strftime("%m-%d") if s.due else ""]
        if wide:
            when = s.last_action_at.astimezone(plan.zone) if s.last_action_at else None
            row += [
                action_label(s.last_action),
                when.strftime("%m-%d %H:%M") if when else "",
                f"{s.rejections}/{s.escalations}",
            ]
        table.add_row(*row)
    console.print(table)
    if attention:
        console.print("[bold red]需要注意[/bold red]", highlight=False)
        for item in attention:
            where = next((s.name for s in states if s.code == item.department), "")
            console.print(
                f"- {item.what}{'，' + where if where else ''}：{item.problem_label}"
                f"（{item.reason_zh}）",
                highlight=False,
            )
            resend, delivered = commands[item.key]
            if item.problem == "held_back":
                console.print("  核实收件人是否收到。未收到，重发：", highlight=False)
                console.print(f"    {resend}", highlight=False, soft_wrap=True, markup=False)
                console.print("  已收到，记为已发出：", highlight=False)
                console.print(f"    {delivered}", highlight=False, soft_wrap=True, markup=False)
            elif item.problem == "refused":
                console.print("  核对地址（departments.yaml），改正后重发：", highlight=False)
                console.print(f"    {resend}", highlight=False, soft_wrap=True, markup=False)
            else:
                console.print("  下次运行会自动补发。", highlight=False)
        console.print(
            f"  （也可在 Prefect 界面运行 resend-{plan.id} 部署：Run → Custom run）",
            highlight=False,
        )
    if unassigned:
        console.print(
            f"[bold]待确认的文件 {len(unassigned)} 个[/bold]：核实后运行 "
            "nianbao assign 编号 单位代码",
            highlight=False,
        )
        for sub in unassigned:
            hint = f"，可能是 {sub.suggested_department}" if sub.suggested_department else ""
            console.print(
                f"  {sub.id}：{sub.file_name or '（无名称）'}，"
                f"来自 {sub.sender or '投递目录'}{hint}",
                highlight=False,
                markup=False,
            )


@contextmanager
def _runtime(config: Path, data: Path | None) -> Iterator[Any]:
    """The office runtime for one command (no passwords: these commands send nothing)."""
    from office.runtime import Runtime
    from office.settings import load_app_config

    rt = Runtime.open(load_app_config(config, data))
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
    from office.intake import assign as assign_file
    from office.intake import assigned_zh

    try:
        with _runtime(config, data) as rt:
            sub = assign_file(rt, submission, department)
            message = assigned_zh(rt, sub)
    except NianbaoError as exc:
        raise _fail(f"未能指定第{submission}号文件：{exc}") from None
    console.print(message, highlight=False, soft_wrap=True)


@app.command()
def resend(
    key: Annotated[str, typer.Argument(help="The mail's key from the summary, e.g. answer:17.")],
    delivered: Annotated[
        bool,
        typer.Option(help="The recipient has it: record it as sent instead of sending it again."),
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = None,
) -> None:
    """A mail held back by a crash, or refused: let the next run send it (check first that it
    did not arrive), or with --delivered record that it did."""
    from office.delivery import release_uncertain

    try:
        with _runtime(config, data) as rt:
            message = release_uncertain(rt, key, delivered=delivered)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    console.print(message, highlight=False, soft_wrap=True)


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
    try:
        from demo.run import run_demo
    except ImportError as exc:  # installed without the demo's extra
        raise _fail(
            f"演示需要额外的软件包（{exc.name}）：请运行 pip install 'nianbao[demo]' 后再试"
        ) from None
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
    docx: Annotated[
        Path | None, typer.Option("--docx", help="Where to write the Word document.")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="With --department: the report as a web page (.html)."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="List what is still a placeholder (in the --docx file if it exists, else in a "
            "fresh draft); exit 1 while any remains.",
        ),
    ] = False,
    campaign_id: Annotated[
        str | None, typer.Option("--campaign", help="Campaign id (default: the plan's).")
    ] = None,
    department: Annotated[
        str | None,
        typer.Option(help="A department's own report instead of the city-level one."),
    ] = None,
    pdf: Annotated[bool, typer.Option(help="Also convert it to PDF (LibreOffice).")] = False,
    drill: Annotated[
        str | None,
        typer.Option(
            "--drill",
            metavar="CODE",
            help="One figure of the consolidated report (a cell code, e.g. "
            "requests.new_received.total) down to the units it came from, through which offices "
            "and levels.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --drill: as JSON.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = None,
) -> None:
    """The report as a document: the city-level draft (with its provenance workbook beside it),
    or one department's publishable report (.docx and/or a web page); or, with --drill, one
    figure down to the units (and the offices one level down) it came from."""
    from annual_report.documents.report import placeholders_in

    if drill is not None:
        try:
            raise typer.Exit(_drill(config, data, campaign_id, drill, as_json))
        except NianbaoError as exc:
            raise _fail(str(exc)) from None

    if check and docx is not None and docx.exists():
        try:
            left = placeholders_in(docx)
        except NianbaoError as exc:
            raise _fail(str(exc)) from None
        raise typer.Exit(_print_placeholders(left, docx.name))
    if not check and docx is None and html is None:
        raise _fail("give --docx FILE (or --html FILE with --department, or --check)")
    if html is not None and not department:
        raise _fail("--html is a department's page: give --department CODE")
    try:
        draft = _report_outputs(config, data, campaign_id, department, docx, html, check, pdf)
    except NianbaoError as exc:
        raise _fail(str(exc)) from None
    if draft is None:
        return
    for issue in draft.issues:
        console.print(f"[yellow]{issue.rule}[/yellow] {issue.text}")
    for note in draft.notes:  # e.g. a figure that could not be drawn
        console.print(f"[yellow]注意：[/yellow]{note}", highlight=False)
    if check:
        raise typer.Exit(_print_placeholders(draft.placeholders, "新生成的草稿"))
    for text in draft.placeholders:
        console.print(f"[cyan]待填写：[/cyan]{text}", highlight=False)


def _drill(
    config: Path, data: Path | None, campaign_id: str | None, code: str, as_json: bool
) -> int:
    """``report --drill CODE``: the figure, the levels it came through, each leaf unit's share."""
    from annual_report.consolidation import consolidate_campaign, drill_down, drill_text
    from annual_report.store import open_store
    from office.settings import load_app_config

    app_config = load_app_config(config, data)
    cid = campaign_id or app_config.plan.id
    with open_store(app_config.database) as store:
        result = consolidate_campaign(store, cid)
        registry = store.registry(cid)
    if code not in result.form.cells:
        raise _fail(f"表中没有代码为 {code} 的栏目（代码见 docs/codes.md）")
    found = drill_down(result, code, registry)
    if as_json:
        _print_json(found.to_dict())
        return 0
    for line in drill_text(found):  # each line fits 80 columns; never re-wrapped
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    return 0


def _print_placeholders(left: list[str], where: str) -> int:
    if not left:
        console.print(f"{where}：没有待补充或待核实的内容，可以发布。")
        return 0
    console.print(f"{where}：还有{len(left)}处待补充或待核实：")
    for text in left:
        console.print(f"  {text}", highlight=False)
    return 1


def _report_outputs(
    config: Path,
    data: Path | None,
    campaign_id: str | None,
    department: str | None,
    docx: Path | None,
    html: Path | None,
    check: bool,
    pdf: bool,
):
    """Write what ``report`` was asked for; the draft (None: only a page was written)."""
    from annual_report.documents.report import (
        city_report_from_store,
        department_report_from_store,
        provenance_path,
    )
    from annual_report.documents.webpage import department_page_from_store, write_page
    from annual_report.store import open_store
    from office.settings import load_app_config

    app_config = load_app_config(config, data)
    plan, mail = app_config.plan, app_config.mail
    cid = campaign_id or plan.id
    common: dict[str, Any] = {
        "office": mail.smtp.sender_name,
        "contact": mail.contact,
        "website": plan.website,
        "site_name": plan.site_name,
    }
    with open_store(app_config.database) as store:
        if department:
            code = department.upper()
            if html is not None:
                page = department_page_from_store(store, cid, code, **common)
                console.print(f"已写入 {write_page(page, html)}")
                if docx is None and not check:
                    return None
            draft = department_report_from_store(store, cid, code, **common)
        else:
            codes = list(app_config.registry.codes)
            draft = city_report_from_store(
                store,
                cid,
                city=app_config.registry.city,
                deadlines=plan.deadlines(codes),
                zone=plan.zone,
                **common,
            )
    if check:
        return draft
    assert docx is not None
    path = draft.save(docx)
    console.print(f"已写入 {path}")
    if draft.provenance is not None:
        console.print(
            f"已写入 {draft.save_provenance(provenance_path(path))}（数据来源，不随报告发布）"
        )
    if pdf:
        _write_pdf(path)
    return draft


def _write_pdf(path: Path) -> None:
    from annual_report.documents.layout import font_substitutions
    from annual_report.documents.report import to_pdf

    console.print(f"已写入 {to_pdf(path, path.parent)}")
    for name, fallback in font_substitutions().items():
        console.print(
            f"[yellow]字体替换：[/yellow]本机没有“{name}”，PDF 中以“{fallback}”代替"
            "（在装有该字体的电脑上用 Word/WPS 打开 .docx 另存为 PDF 即为原字体）",
            highlight=False,
        )


@app.command("export")
def export_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory to write into.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="xlsx (one workbook) | csv | parquet.")
    ] = "xlsx",
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = None,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", envvar="NIANBAO_DB", help="State database (default: the configuration's)."
        ),
    ] = None,
) -> None:
    """Export the whole history (campaigns, units, submissions, events, values, figures)."""
    from annual_report.history.frames import EXPORT_FORMATS, export
    from annual_report.store import open_store
    from office.settings import load_app_config

    if fmt not in EXPORT_FORMATS:
        raise _fail(f"--format {fmt!r}：应为 {' | '.join(EXPORT_FORMATS)}")
    zone, deadlines, database = None, None, db
    try:
        app_config = load_app_config(config, data)
    except NianbaoError as exc:
        if db is None:
            raise _fail(f"读取配置失败（或用 --db 指定数据库）：{exc}") from None
    else:
        plan = app_config.plan
        zone = plan.zone
        deadlines = {plan.id: plan.deadlines(list(app_config.registry.codes))}
        database = db or app_config.database
    assert database is not None  # without a configuration, --db was required above
    if not Path(database).is_file():
        raise _fail(f"数据库不存在：{database}")
    try:
        with open_store(database) as store:
            paths = export(store, output, fmt, zone=zone, deadlines=deadlines)  # type: ignore[arg-type]
    except (NianbaoError, OSError) as exc:
        raise _fail(f"导出失败：{exc}") from None
    console.print(f"已导出 {len(paths)} 个文件到 {output}：", highlight=False)
    for path in paths:
        console.print(f"  {path.name}", highlight=False)


def main() -> None:
    # No network but the mail servers: no telemetry, no analytics.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    app()


if __name__ == "__main__":
    main()
