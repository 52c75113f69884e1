"""Plausible, internally consistent report values: for the demo, the benchmarks and tests.

The generator follows the form's own rule sets (``outcome_rows``, ``applicant_columns``,
``review_groups``), so R1–R4 hold for any form that declares them like the national ones do.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from annual_report.form.model import Form

NARRATIVE = {
    "narrative.overview": (
        "{year}年，本机关认真贯彻落实《中华人民共和国政府信息公开条例》，坚持以公开为常态、"
        "不公开为例外，全年主动公开政府信息{proactive}条。依申请公开方面，全年共收到政府信息"
        "公开申请{new}件，上年结转{carried}件，均已按规定办理。政府信息管理、平台建设和监督保障"
        "工作有序开展。"
    ),
    "narrative.problems": (
        "存在的主要问题：政策解读形式较为单一，部分栏目更新不够及时。下一步将丰富解读形式，"
        "健全信息发布审核机制，提升公开质量。"
    ),
    "narrative.other_matters": "{year}年度，本机关无收取信息处理费情况。",
}


def _small(rng: random.Random, busy: float) -> int:
    """Mostly zero, sometimes a few, now and then many: how request counts look."""
    roll = rng.random()
    if roll > busy:
        return 0
    return rng.choice((1, 1, 2, 3, 5, 8, 13, 40))


def consistent_values(form: Form, rng: random.Random, *, busy: float = 0.3) -> dict[str, Decimal]:
    """Random values for every cell of ``form`` that satisfy R1–R4."""
    values: dict[str, Decimal] = {}
    for cell in form.cells.values():
        if cell.section == 2:
            if cell.code.startswith("proactive.rules."):
                values[cell.code] = Decimal(0)  # only rule-making governments report 规章 (C3)
            elif cell.type == "money":
                values[cell.code] = Decimal(rng.randint(0, 2_000_000)) / Decimal(10_000)
            elif cell.type == "signed":
                values[cell.code] = Decimal(rng.randint(-5, 5))
            else:
                values[cell.code] = Decimal(rng.choice((0, 0, 1, 3, 12, 150, 2_400)))
    # Documents in force include this year's (C4): in_force / public_total is the largest.
    for first, last in (("issued", "in_force"), ("published", "public_total")):
        issued = f"proactive.normative_docs.{first}"
        if issued in values and f"proactive.normative_docs.{last}" in values:
            values[f"proactive.normative_docs.{last}"] = values[issued] + rng.randint(0, 40)
    applicants = form.sets["applicant_columns"]
    outcomes = form.sets["outcome_rows"]
    for col in applicants:
        handled = 0
        for row in outcomes:
            n = _small(rng, busy / 3)
            values[f"requests.{row}.{col}"] = Decimal(n)
            handled += n
        carried_to = _small(rng, busy / 2)
        carried_from = rng.randint(0, handled + carried_to) if rng.random() < busy else 0
        values[f"requests.handled_total.{col}"] = Decimal(handled)
        values[f"requests.carried_to_next_year.{col}"] = Decimal(carried_to)
        values[f"requests.carried_from_last_year.{col}"] = Decimal(carried_from)
        values[f"requests.new_received.{col}"] = Decimal(handled + carried_to - carried_from)
    for row in form.sets["request_rows"]:
        values[f"requests.{row}.total"] = sum(
            (values[f"requests.{row}.{col}"] for col in applicants), Decimal(0)
        )
    for group in form.sets["review_groups"]:
        parts = [Decimal(_small(rng, busy / 2)) for _ in range(4)]
        for suffix, value in zip(("upheld", "corrected", "other", "pending"), parts, strict=True):
            values[f"{group}.{suffix}"] = value
        values[f"{group}.total"] = sum(parts, Decimal(0))
    return values


def sample_narrative(year: int, values: dict[str, Decimal], rng: random.Random) -> dict[str, str]:
    """Narrative sections whose quoted numbers agree with ``values`` (so C5 stays quiet)."""
    fields = {
        "year": year,
        "proactive": rng.randint(30, 400),
        "new": values.get("requests.new_received.total", Decimal(0)),
        "carried": values.get("requests.carried_from_last_year.total", Decimal(0)),
    }
    return {code: text.format(**fields) for code, text in NARRATIVE.items()}


def fill_template(
    template: str | Path,
    output: str | Path,
    values: Mapping[str, Decimal | int | str | None],
    narrative: Mapping[str, str] | None = None,
) -> Path:
    """Type ``values`` into a template's named cells, as a clerk in Excel would, and save.

    Text values (``"12件"``, ``"/"``) are typed as text; ``None`` leaves the cell blank.
    """
    import openpyxl

    workbook = openpyxl.load_workbook(template)
    for code, value in [*values.items(), *(narrative or {}).items()]:
        name = workbook.defined_names.get(code)
        if name is None:
            continue
        for sheet, ref in name.destinations:
            cell = workbook[sheet][ref.replace("$", "").split(":")[0]]
            if value is None:
                cell.value = None
            elif isinstance(value, Decimal):
                cell.value = int(value) if value == value.to_integral_value() else float(value)
            else:
                cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # typed text, never a formula
    output = Path(output)
    workbook.save(output)
    return output
