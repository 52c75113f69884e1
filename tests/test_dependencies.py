"""Every dependency pyproject.toml declares is used, and constraints.txt pins exactly what the
declared dependencies need: nothing installed in an office for nothing."""

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RUNTIME = ("annual_report", "connectors", "office", "flows")
# Used by another library, never imported by name: where the source asks for it.
USED_THROUGH = {"pyarrow": 'engine="pyarrow"'}  # pandas' DataFrame.to_parquet (history export)
# The source each group of dependencies serves.
WHERE = {None: RUNTIME, "demo": ("demo",), "test": ("tests",)}


@functools.cache
def imported(packages: tuple[str, ...]) -> tuple[set[str], str]:
    """Top-level modules imported anywhere under ``packages`` (lazy imports included), and the
    source text."""
    names: set[str] = set()
    text = []
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            text.append(source)
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names, "\n".join(text)


@functools.cache
def _provided() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def modules_of(distribution: str) -> set[str]:
    """The top-level modules an installed distribution provides."""
    provided = _provided()
    name = canonicalize_name(distribution)
    return {m for m, dists in provided.items() if name in {canonicalize_name(d) for d in dists}}


def declared(full: bool = False) -> list[tuple[str | None, str]]:
    """``(extra, name)`` of every dependency in pyproject.toml (``full``: the requirement)."""
    groups: list[tuple[str | None, str]] = [(None, r) for r in PYPROJECT["project"]["dependencies"]]
    for extra, requirements in PYPROJECT["project"]["optional-dependencies"].items():
        groups += [(extra, r) for r in requirements]
    return groups if full else [(extra, Requirement(r).name) for extra, r in groups]


# a pytest plugin (timeout in pyproject), the linter, the type checker and the stubs it reads
TOOLS = {
    "pytest-timeout",
    "ruff",
    "mypy",
    "types-PyYAML",
    "types-olefile",
    "types-xlrd",
    "pandas-stubs",
}


@pytest.mark.parametrize(("extra", "name"), declared())
def test_every_declared_dependency_is_used(extra, name):
    if name in TOOLS:
        assert extra == "test"
        return
    names, source = imported(WHERE[extra])
    modules = modules_of(name)
    assert modules, f"{name} is declared but not installed"
    if name in USED_THROUGH:
        assert USED_THROUGH[name] in source, f"{name}: nothing asks for it any more"
    else:
        assert modules & names, f"{name} ({', '.join(sorted(modules))}) is never imported"


def test_every_third_party_import_is_declared():
    declared_modules = set()
    for extra, name in declared():
        if extra is None:
            declared_modules |= modules_of(name)
    names, _ = imported(RUNTIME)
    ours = {"annual_report", "connectors", "office", "flows", "demo"}
    missing = sorted(names - set(sys.stdlib_module_names) - ours - declared_modules)
    # prefect brings these and the flows use them through its API (pydantic, anyio, ...)
    assert not [m for m in missing if m not in modules_of("prefect")], missing


def test_constraints_pin_exactly_the_dependency_tree():
    """``make lock`` rewrites constraints.txt; editing pyproject.toml by hand must keep it in
    step (a dependency dropped from pyproject.toml leaves no orphan pin)."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    todo = [(Requirement(r).name, tuple(Requirement(r).extras)) for _, r in declared(full=True)]
    while todo:
        name, extras = todo.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        for line in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in (*extras, "")):
                todo.append((requirement.name, tuple(requirement.extras)))
    pins = {
        canonicalize_name(re.split(r"[=<>~!\[ ]", line)[0])
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    tree = {name for name, _ in seen} - {"pip"}  # pip freeze leaves pip out
    assert sorted(pins - tree) == [], "pinned, but nothing needs it"
    assert sorted(tree - pins) == [], "needed, but not pinned"
