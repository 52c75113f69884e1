"""Where the time goes: inclusive and self shares per function from py-spy's raw output.

``bench/campaign.py --profile DIR`` records each dispatch and collect with
``py-spy record --nonblocking --subprocesses --format raw`` (installed by hand:
``.venv/bin/pip install py-spy``); this reads those files:

    .venv/bin/python bench/profile_report.py var/bench/profile/plain-1000-collect.txt [--top 40]

Inclusive share: the fraction of samples with the function anywhere on the stack (counted once
per stack), i.e. the time spent in it and what it calls. Samples of the isolated-reader child
processes are counted with their own process line.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
PROJECT = ("annual_report/", "connectors/", "flows/", "bench/")


def _short(file: str) -> str:
    """Paths as py-spy prints them are relative to sys.path already; absolute ones are cut
    to the package (site-packages) or the project directory."""
    if not file.startswith("/"):
        return file
    at = file.find("site-packages/")
    if at >= 0:
        return file[at + len("site-packages/") :]
    for marker in PROJECT:
        at = file.rfind("/" + marker)
        if at >= 0:
            return file[at + 1 :]
    return Path(file).name


def frame_name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return f"{_short(match['file'])}:{match['func']}"


# Where a sample belongs: the first marker found on its stack, in this order (specific first).
PHASES: tuple[tuple[str, str], ...] = (
    ("annual_report/store/sqlite.py:SQLiteStore.accepted_median", "collect: peer-fee median"),
    ("annual_report/campaign/submission.py:peer_fees", "collect: peer-fee check (peer values)"),
    ("annual_report/store/base.py:Store.registry", "registry from SQLite"),
    ("office/intake.py:_thread_department", "collect: thread lookup"),
    ("annual_report/workbook/sandbox.py:read_untrusted", "collect: isolated workbook read"),
    ("annual_report/campaign/submission.py:validate_for_department", "collect: validation"),
    ("annual_report/store/sqlite.py:SQLiteStore.record_submission", "collect: record submission"),
    ("connectors/mailbox.py:receive", "collect: mailbox read, archive, MIME parse"),
    ("office/intake.py:take_message", "collect: take_message (other)"),
    ("office/answers.py:department_documents", "answers: receipt's Word report and page"),
    ("office/answers.py:owed_answers", "answers: owed answers (other)"),
    ("annual_report/workbook/template.py:write_template", "dispatch: template writing"),
    ("office/dispatch.py:invitation", "dispatch: invitation (other)"),
    ("office/delivery.py:deliver", "SMTP delivery and its events"),
    ("flows/tasks.py:publish_status", "status artifacts"),
    ("bench/campaign.py:_publish_status", "status (computed, plain)"),
    ("annual_report/consolidation/", "consolidation"),
    ("office/status.py:states", "department states"),
    ("<module>", "imports"),
    ("prefect/", "Prefect (engine, client, events, logs)"),
)


def phase_of(names: list[str]) -> str:
    for marker, phase in PHASES:
        if any(marker in name for name in names):
            return phase
    return "other"


def read(path: Path) -> tuple[Counter[str], Counter[str], Counter[str], Counter[str], int]:
    """(inclusive, self, per-process, per-phase) sample counts and the total."""
    phases: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    processes: Counter[str] = Counter()
    total = 0
    first_pid: str | None = None
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        process = "main"
        if frames and frames[0].startswith("process "):
            pid = frames.pop(0).split(":", 1)[0]
            first_pid = first_pid or pid
            process = "main" if pid == first_pid else "child processes"
        names = [frame_name(f) for f in frames]
        if not names:  # py-spy could not read the stack (--nonblocking): left out of the shares
            processes["(no Python stack, left out)"] += n
            continue
        total += n
        processes[process] += n
        phases[phase_of(names)] += n
        for name in set(names):
            inclusive[name] += n
        if names:
            own[names[-1]] += n
    return inclusive, own, processes, phases, total


def report(path: Path, top: int, project_only: bool) -> str:
    inclusive, own, processes, phases, total = read(path)
    if not total:
        return f"{path}: no samples"
    lines = [f"{path.name}: {total} samples with a Python stack"]
    every = sum(processes.values())
    lines += [f"  {p}: {n / every:6.1%} of all samples" for p, n in processes.most_common()]
    lines.append("by phase (first marker of bench/profile_report.PHASES on the stack):")
    lines += [f"{n / total:7.1%}  {p}" for p, n in phases.most_common()]
    lines.append(f"{'incl':>7} {'self':>7}  function")
    shown = 0
    for name, n in inclusive.most_common():
        if project_only and not name.startswith(PROJECT):
            continue
        lines.append(f"{n / total:7.1%} {own[name] / total:7.1%}  {name}")
        shown += 1
        if shown >= top:
            break
    lines.append("top self time:")
    for name, n in own.most_common(15):
        lines.append(f"{n / total:7.1%}  {name}")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--all", action="store_true", help="library functions too")
    args = parser.parse_args(argv)
    for path in args.files:
        print(report(path, args.top, project_only=not args.all))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
