"""The text importer over every real published text in tests/fixtures/text.

``expected.yaml`` there says, read by hand from each text, which value every cell shows. The
importer must recover at least 98% of the visible values over the whole corpus and never store a
value the text does not show in that cell (a wrong value is worse than a missing one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from annual_report.form.model import Form, load_form
from annual_report.report import Report
from annual_report.text.importer import import_text

TEXTS = Path(__file__).parent / "fixtures" / "text"
EXPECTED = yaml.safe_load((TEXTS / "expected.yaml").read_text(encoding="utf-8"))
GOAL = 0.98


def expected_cells(form: Form, spec: dict) -> dict[str, str]:
    """``{code: text}`` from the compact notation of expected.yaml."""
    out: dict[str, str] = {}
    for key, value in (spec.get("cells") or {}).items():
        if key in ("requests.*", "litigation.*"):
            section = 3 if key == "requests.*" else 4
            for code, cell in form.cells.items():
                if cell.section == section:
                    out[code] = str(value)
        elif isinstance(value, list):
            block = next(b for b in form.blocks for r in b.rows if r.code == key)
            row = next(i for i, r in enumerate(block.rows) if r.code == key)
            assert len(value) == len(block.columns), key
            for c, text in enumerate(value):
                if text is not None:
                    out[block.cell_at(row, c).code] = str(text)
        else:
            assert key in form.cells, key
            out[key] = str(value)
    return out


@dataclass
class Score:
    visible: int = 0
    recovered: int = 0
    wrong: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def score(name: str, report: Report, expected: dict[str, str], unplaceable: int = 0) -> Score:
    s = Score(visible=unplaceable)
    for code, text in expected.items():
        entry = report.entries.get(code)
        got = None if entry is None or entry.raw is None else entry.raw.strip()
        if text:
            s.visible += 1
            if got == text:
                s.recovered += 1
            elif got is None:
                s.lost.append(f"{name}: {code} = {text!r} not read")
        if got is not None and got != text:
            s.wrong.append(f"{name}: {code} read {got!r}, the text shows {text!r}")
    for code, entry in report.entries.items():
        if code not in expected:
            s.wrong.append(f"{name}: {code} read {entry.raw!r}, the text shows no such cell")
    return s


def read(name: str) -> Report:
    return import_text((TEXTS / name).read_text(encoding="utf-8"), source=name)


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[Report, Score]]:
    out = {}
    for name, spec in EXPECTED.items():
        report = read(name)
        expected = expected_cells(load_form(spec["form"]), spec)
        out[name] = (report, score(name, report, expected, spec.get("unplaceable", 0)))
    return out


def test_every_real_text_is_in_the_corpus():
    real = {p.name for p in TEXTS.glob("*.txt") if not p.name.startswith(("complete-", "old-"))}
    assert real == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_year_and_form(corpus, name):
    report, _ = corpus[name]
    assert (report.year, report.form.id) == (EXPECTED[name]["year"], EXPECTED[name]["form"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_value_is_wrong(corpus, name):
    _, s = corpus[name]
    assert s.wrong == []


def test_recovery_over_the_whole_corpus(corpus):
    visible = sum(s.visible for _, s in corpus.values())
    recovered = sum(s.recovered for _, s in corpus.values())
    lost = [line for _, s in corpus.values() for line in s.lost]
    print(f"\nrecovered {recovered} of {visible} visible values ({recovered / visible:.1%})")
    assert visible > 900
    assert recovered / visible >= GOAL, "\n".join(lost)
