"""The pictures: real PNGs, drawn with the Simplified Chinese face of Noto Sans CJK."""

import io
import subprocess
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml
from matplotlib import font_manager
from matplotlib.figure import Figure
from PIL import Image

from annual_report.documents.charts import (
    OUTCOME_COLOURS,
    PROGRESS_COLOURS,
    cjk_font,
    markdown_image,
    outcomes_chart,
    progress_chart,
    top_units_chart,
)

FIXTURES = Path(__file__).parent / "fixtures"
PNG = b"\x89PNG\r\n\x1a\n"


def image(png: bytes) -> Image.Image:
    assert png.startswith(PNG)
    return Image.open(io.BytesIO(png)).convert("RGB")


def has_colour(img: Image.Image, hex_colour: str) -> bool:
    rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return any(c == rgb for _, c in img.getcolors(maxcolors=1 << 20))


def test_the_font_is_the_simplified_chinese_face():
    font = cjk_font()
    fc = subprocess.run(
        ["fc-match", "-f", "%{file}|%{index}", "Noto Sans CJK SC:lang=zh-cn"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert fc == f"{font.path}|{font.index}" and font.family == "Noto Sans CJK SC"
    found = font_manager.findfont(font_manager.FontProperties(family=font.family))
    assert (str(found), found.face_index) == (font.path, font.index)


def draw(family: str) -> bytes:
    fig = Figure(figsize=(1.2, 0.6))
    fig.text(0.05, 0.2, "直骨", family=family, fontsize=24)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def test_sc_glyphs_differ_from_the_japanese_ones_the_file_opens_with():
    """直 and 骨 are drawn differently in China and Japan: the SC face, not the collection's
    first (JP) face, is the one the charts use."""
    sc = draw(cjk_font().family)
    jp = draw("Noto Sans CJK JP")
    assert image(sc).tobytes() != image(jp).tobytes()


def test_outcomes_chart_from_real_figures():
    data = yaml.safe_load((FIXTURES / "history" / "songjiang-2024-2025.yaml").read_text("utf-8"))
    by_year = {
        year: {k: Decimal(v) for k, v in d.items() if isinstance(v, int)}
        for year, d in data["years"].items()
    }
    png = outcomes_chart(by_year, title="上海市松江区政府信息公开申请办理结果")
    img = image(png)
    assert img.size == (1200, 720)
    for colour in OUTCOME_COLOURS.values():
        assert has_colour(img, colour), colour
    with pytest.raises(ValueError):
        outcomes_chart({})


def test_top_units_chart():
    rows = [(f"第{i}局", Decimal(100 - i)) for i in range(10)]
    img = image(top_units_chart(rows, title="新收申请最多的10个单位"))
    assert img.size[0] == 1200 and img.size[1] > 600
    assert has_colour(img, "#1e88e5")


def test_progress_chart_marks_the_deadline():
    start = date(2022, 1, 4)
    days = pd.DataFrame(
        [
            {
                "day": start + timedelta(days=i),
                "accepted": i,
                "pending": 1,
                "rejected": 1,
                "missing": 20 - i,
                "total": 22,
            }
            for i in range(21)
        ]
    )
    img = image(progress_chart(days, title="报送进度", deadline=date(2022, 1, 20)))
    assert img.size == (1350, 690)
    for colour in PROGRESS_COLOURS.values():
        assert has_colour(img, colour), colour


def test_markdown_image_is_a_data_uri():
    png = top_units_chart([("市政府", Decimal(3))], title="x")
    text = markdown_image(png, "报送进度")
    assert text.startswith("![报送进度](data:image/png;base64,iVBORw0KGgo")
    assert text.endswith(")") and " " not in text


def test_charts_for_the_document_are_drawn_at_their_printed_size():
    """In the .docx the caption is the title and the picture is printed 150 mm wide: drawn at
    that size (no title) so its text keeps its point size; a year whose 新收 is not known (a
    published text that does not give it) has bars but no point."""
    by_year = {
        2024: {"granted": Decimal(376), "unavailable": Decimal(603), "new_received": None},
        2025: {"granted": Decimal(389), "unavailable": Decimal(540), "new_received": Decimal(1270)},
    }
    inches = 150 / 25.4
    img = image(outcomes_chart(by_year, title=None, size=(inches, 3.3)))
    assert img.size == (int(inches * 150), round(3.3 * 150))
    top = image(
        top_units_chart(
            [("区政府", Decimal(280)), ("区房管局", Decimal(202))], title=None, size=(inches, 1.2)
        )
    )
    assert top.size == (int(inches * 150), 180)


def test_the_image_has_the_fonts_the_charts_need():
    """docker/Dockerfile installs fontconfig (fc-match finds the face) and fonts-noto-cjk."""
    dockerfile = (Path(__file__).parents[1] / "docker" / "Dockerfile").read_text("utf-8")
    joined = dockerfile.replace("\\\n", " ")
    install = next(line for line in joined.splitlines() if "apt-get install" in line)
    packages = install.split("apt-get install", 1)[1].split("&&")[0].split()
    assert {"fontconfig", "fonts-noto-cjk"} <= set(packages)
