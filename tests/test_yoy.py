"""Year over year on real published figures, to the digit, and in the words reports use."""

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from annual_report.form.model import load_form
from annual_report.history.yoy import (
    FIGURES,
    OUTCOMES,
    Change,
    compare,
    compare_figures,
    comparison_rows,
    headline,
    paragraph,
    percent,
    phrase,
    share,
)
from annual_report.report import Report
from annual_report.text.importer import decode_text, import_text

FIXTURES = Path(__file__).parent / "fixtures"
SONGJIANG = yaml.safe_load((FIXTURES / "history" / "songjiang-2024-2025.yaml").read_text("utf-8"))
F2021 = load_form("gov-disclosure-2021")
F2019 = load_form("gov-disclosure-2019")


def figures(year: int) -> dict[str, Decimal]:
    """The published figures of one year that are headline figures (yoy.FIGURES keys)."""
    data = SONGJIANG["years"][year]
    keys = {f.key for f in FIGURES}
    return {k: Decimal(v) for k, v in data.items() if k in keys}


# -- the real district, 2025 against 2024 ----------------------------------------------------


def test_the_published_figures_are_consistent():
    """The fixture is what the reports say: outcomes add up to 答复, 受理 = 答复 + 结转."""
    for year in (2024, 2025):
        data = SONGJIANG["years"][year]
        assert sum(data[k] for k in OUTCOMES) == data["handled_total"]
        assert data["received"] == data["handled_total"] + data["carried_to_next_year"]


EXPECTED = {
    # key: (this, last, change, percent, phrase)
    "handled_total": ("1292", "1336", "-44", "-3.3", "较上年减少44件，下降3.3%"),
    "granted": ("389", "376", "13", "3.5", "较上年增加13件，增长3.5%"),
    "partially_granted": ("63", "24", "39", "162.5", "较上年增加39件，增长162.5%"),
    "withheld": ("100", "65", "35", "53.8", "较上年增加35件，增长53.8%"),
    "unavailable": ("540", "603", "-63", "-10.4", "较上年减少63件，下降10.4%"),
    "not_processed": ("23", "49", "-26", "-53.1", "较上年减少26件，下降53.1%"),
    "other": ("177", "219", "-42", "-19.2", "较上年减少42件，下降19.2%"),
    "carried_to_next_year": ("58", "80", "-22", "-27.5", "较上年减少22件，下降27.5%"),
    "review": ("166", "192", "-26", "-13.5", "较上年减少26件，下降13.5%"),
    "litigation": ("44", "73", "-29", "-39.7", "较上年减少29件，下降39.7%"),
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_songjiang_2025_against_2024(key):
    changes = {c.key: c for c in compare_figures(figures(2025), figures(2024))}
    c = changes[key]
    this, last, diff, pct, words = EXPECTED[key]
    assert (c.this, c.last, c.diff, c.percent) == tuple(map(Decimal, (this, last, diff, pct)))
    assert c.phrase() == words
    assert c.direction == ("up" if Decimal(diff) > 0 else "down")


def test_songjiang_sentences_and_styles():
    changes = {c.key: c for c in compare_figures(figures(2025), figures(2024))}
    assert changes["granted"].sentence() == "予以公开389件，较上年增加13件，增长3.5%"
    assert changes["review"].phrase("percent") == "较上年下降13.5%"
    assert changes["review"].phrase("count") == "较上年减少26件"
    # not published for 2025: not comparable, said without a change
    corrected = changes["review_corrected"]
    assert not corrected.comparable and corrected.phrase() == "" and corrected.sentence() == ""
    assert changes["new_received"].this is None


@pytest.mark.parametrize("year", [2024, 2025])
def test_shares_round_as_the_reports_print_them(year):
    """Each report prints the outcome shares of 答复 (2024 whole percent, 2025 one place):
    rounding half up reproduces every published percentage."""
    data = SONGJIANG["years"][year]
    places = data["shares"]["places"]
    whole = Decimal(data["handled_total"])
    for key in OUTCOMES:
        published = data["shares"][key]
        assert percent(Decimal(data[key]), whole, places) == Decimal(published), key
        assert share(Decimal(data[key]), whole, places) == f"占{published}%"


def test_shanghai_2023_share_to_two_places():
    # 2023年上海市政府信息公开工作年度报告, 一（二）: 答复34430件 …
    # 予以公开及部分公开10538件，占30.61%
    assert share(Decimal(10538), Decimal(34430), 2) == "占30.61%"


# -- phrases ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("this", "last", "unit", "style", "expected"),
    [
        ("12", "12", "件", "both", "与上年持平"),
        ("0", "0", "件", "both", "与上年持平"),
        ("5", "0", "件", "both", "较上年增加5件"),  # no percentage from zero
        ("5", "0", "件", "percent", "较上年增加5件"),
        ("0", "340", "件", "both", "较上年减少340件，下降100.0%"),
        ("112.3", "100", "万元", "percent", "较上年增长12.3%"),
        ("72701.2578", "70000.5", "万元", "count", "较上年增加2700.7578万元"),
        ("95", "100", "件", "count", "较上年减少5件"),
        ("103", "100", "件", "both", "较上年增加3件，增长3.0%"),
        ("1001", "1000", "件", "both", "较上年增加1件，增长0.1%"),
        ("10005", "10000", "件", "both", "较上年增加5件，增长0.1%"),  # 0.05 rounds half up
    ],
)
def test_phrase(this, last, unit, style, expected):
    assert phrase(Decimal(this), Decimal(last), unit, style=style) == expected


def test_phrase_unknown_is_empty():
    assert phrase(None, Decimal(3)) == "" and phrase(Decimal(3), None) == ""
    assert Change("x", "申请", "件", Decimal(3), None).percent is None


# -- headline figures from real tables -------------------------------------------------------


def imported(name: str) -> Report:
    path = FIXTURES / "text" / name
    return import_text(decode_text(path.read_bytes()), source=str(path))


def values(report: Report) -> dict[str, Decimal | None]:
    return {c: e.value for c, e in report.entries.items() if not e.problem}


def test_headline_of_the_seed():
    """樟树市人社局 2021 (the seed): no applications, 11.28 万元 of fees."""
    report = imported("seed-zhangshu-rsj-2021.txt")
    h = headline(values(report), report.form)
    assert h["admin_fees"] == Decimal("11.28")
    assert h["new_received"] == h["handled_total"] == h["review"] == h["litigation"] == 0
    assert all(h[k] == 0 for k in OUTCOMES)


def test_headline_sums_the_groups_of_a_full_table():
    report = imported("complete-2023-lines.txt")
    v = values(report)
    h = headline(v, report.form)
    withheld = [c for c in report.form.cells if c.startswith("requests.withheld.")]
    assert h["withheld"] == sum(v[c] for c in withheld if c.endswith(".total"))
    assert h["other"] == sum(
        v[f"requests.other.{r}.total"] for r in ("no_correction", "fee_unpaid", "other")
    )
    assert h["litigation"] == v["litigation_direct.total"] + v["litigation_after_review.total"]
    assert sum(h[k] for k in OUTCOMES) == h["handled_total"]  # R3 holds on the sums too


def test_headline_of_a_truncated_text_leaves_the_missing_figures_unknown():
    """抚远市自然资源局 2022 is cut in section 3: what is not there is None, not 0."""
    report = imported("fuyuan-zrzyj-2022.txt")
    h = headline(values(report), report.form)
    assert h["new_received"] == 0 and h["admin_fees"] == Decimal("26.55")
    assert h["handled_total"] is None and h["review"] is None


def test_2019_and_2021_formats_compare():
    """（六）其他处理 is one row in 2019 and three in 2021; the fee amount exists only in 2021."""
    last = {c: Decimal(0) for c in F2019.cells} | {"requests.other.total": Decimal(4)}
    this = {c: Decimal(0) for c in F2021.cells} | {
        "requests.other.no_correction.total": Decimal(2),
        "requests.other.other.total": Decimal(3),
        "proactive.admin_fees.amount_wan_yuan": Decimal("1.5"),
    }
    changes = {c.key: c for c in compare(this, last, F2021, F2019)}
    assert changes["other"].phrase() == "较上年增加1件，增长25.0%"
    assert changes["admin_fees"].last is None and changes["admin_fees"].phrase() == ""


def test_comparison_rows():
    last = {c: Decimal(1) for c in F2019.cells}
    this = {c: Decimal(2) for c in F2021.cells}
    rows = comparison_rows(this, last, F2021, F2019)
    headline_rows = [r for r in rows if r.group == "主要指标"]
    assert [r.code for r in headline_rows][:3] == [
        "new_received",
        "carried_from_last_year",
        "handled_total",
    ]
    by_code = {r.code: r for r in rows}
    new = by_code["requests.new_received.total"]
    assert (new.last, new.this, new.change, new.percent, new.note) == (
        Decimal(1),
        Decimal(2),
        Decimal(1),
        Decimal("100.0"),
        "较上年增加1件，增长100.0%",
    )
    assert new.group == "三、收到和处理政府信息公开申请情况"
    # a 2021 cell the 2019 form does not have: no last-year value
    assert by_code["proactive.rules.in_force"].last is None
    assert by_code["proactive.rules.in_force"].label.startswith("第二十条第（一）项")
    fee = by_code["proactive.admin_fees.amount_wan_yuan"]
    assert fee.unit == "万元"
    # every cell of this year's form is a row, after the headline figures
    assert len(rows) == len(headline_rows) + len(F2021.cells)
    assert comparison_rows(this, None, F2021, cells=False)[0].last is None


def test_paragraph_for_section_one():
    changes = compare_figures(figures(2025), figures(2024))
    text = paragraph(changes, keys=("handled_total", "granted", "review_corrected", "review"))
    assert text == (
        "与上年相比，办理答复政府信息公开申请1292件，较上年减少44件，下降3.3%；"
        "予以公开389件，较上年增加13件，增长3.5%；"
        "政府信息公开行政复议166件，较上年减少26件，下降13.5%。"
    )  # 行政复议结果纠正 is not published for 2025: left out
    assert paragraph(compare_figures(figures(2025), {})) == ""
