"""Turning what a clerk typed into a number, recording every liberty taken (FORMAT.md §8).

Blank, ``0``, ``/``, ``-``, ``—`` and ``无`` are different things: the raw text is always kept,
blanks and dash forms count as 0 *with a note*, and text such as ``12件``, ``１２``, ``+19`` or
``3.0`` becomes a number only with a note saying so. Text that is not a number gets a problem
(the R5 check turns it into an error) and no value.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from annual_report.form.model import CellType

# Notes, each a stable slug (checks N1 and N2 report them in Chinese).
BLANK = "blank"  # empty cell → 0
DASH = "dash"  # "/", "-", "—", "无" → 0
FULL_WIDTH = "full-width"  # "１２" → 12
UNIT_SUFFIX = "unit-suffix"  # "12件", "79000.1元" → number
PLUS_SIGN = "plus-sign"  # "+19" in a count cell → 19
DECIMAL_INTEGER = "decimal-integer"  # "3.0" in a count cell → 3
THOUSANDS = "thousands-separator"  # "1,234" → 1234
YUAN_TO_WAN = "yuan-to-wan-yuan"  # "251000元" (or 251000 under a 元 header) in a 万元 cell → 25.1

ZERO_NOTES = (BLANK, DASH)

DASHES = frozenset({"/", "／", "-", "－", "—", "——", "–", "−", "无", "無", "\\"})
_SUFFIXES = ("万元", "元", "件", "条", "個", "个", "项", "項", "次", "人", "份", "篇")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
MAX_MONEY_PLACES = 4
MAX_DIGITS = 15  # significant digits a spreadsheet keeps; more is not a count or an amount
SHOWN_CHARACTERS = 16  # how much of an over-long cell a message quotes


@dataclass(frozen=True)
class Parsed:
    value: Decimal | None
    notes: tuple[str, ...] = ()
    problem: str | None = None  # Chinese, for the department: why this is not a valid number


def number_text(value: float | int | Decimal) -> str:
    """The text of a number a spreadsheet stored (``100.0`` → ``100``, ``11.28`` stays)."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def shown(raw: str, *, quotes: bool = True) -> str:
    """A cell's text as a message quotes it: whole when short, else its start and its length
    (a cell can hold hundreds of thousands of characters; a message to a clerk cannot)."""
    text = raw.strip()
    left, right = ("“", "”") if quotes else ("", "")
    if len(text) <= SHOWN_CHARACTERS + 8:
        return f"{left}{text}{right}"
    what = "位" if text.isascii() and text.isdigit() else "个字符"
    return f"{left}{text[:SHOWN_CHARACTERS]}…{right}（共{len(text):,}{what}）"


def parse_number(raw: str | None, cell_type: CellType, unit: str | None = None) -> Parsed:
    """Parse one cell's raw text for a cell of ``cell_type``."""
    if raw is not None and raw.isascii() and raw.isdigit() and len(raw) <= MAX_DIGITS:
        return Parsed(Decimal(raw))  # the common case, fast
    if raw is None or not raw.strip():
        return Parsed(Decimal(0), (BLANK,))
    text = raw.strip()
    if text in DASHES:
        return Parsed(Decimal(0), (DASH,))
    if text.lower().lstrip("+-") in ("inf", "infinity", "nan"):  # a spreadsheet's overflow
        return Parsed(None, (), "数字过大，超出了表格能表示的范围，请核对后填写正确的数字")
    notes: list[str] = []
    folded = unicodedata.normalize("NFKC", text).replace(" ", "")
    if folded != text.replace(" ", ""):
        notes.append(FULL_WIDTH)
    text = folded.replace("−", "-")
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            if suffix in ("元", "万元") and unit is not None and suffix != unit:
                return Parsed(None, tuple(notes), f"金额单位应为{unit}，填写的是{shown(raw)}")
            text = text[: -len(suffix)]
            notes.append(UNIT_SUFFIX)
            break
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
        notes.append(THOUSANDS)
    if not _NUMBER.fullmatch(text):
        return Parsed(None, tuple(notes), f"{shown(raw)}不是数字")
    significant = len(text.lstrip("+-").replace(".", "").lstrip("0"))
    if significant > MAX_DIGITS:
        return Parsed(
            None, tuple(notes), f"{shown(raw)}位数过多，不是有效的数量或金额，请核对后填写"
        )
    try:
        value = Decimal(text)
    except InvalidOperation:
        return Parsed(None, tuple(notes), f"{shown(raw)}不是数字")
    if text.startswith("+") and cell_type != "signed":
        notes.append(PLUS_SIGN)
    if cell_type == "money":
        if value < 0:
            return Parsed(value, tuple(notes), f"金额不能为负数（{shown(raw, quotes=False)}）")
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_MONEY_PLACES:
            places = f"金额最多保留{MAX_MONEY_PLACES}位小数"
            return Parsed(value, tuple(notes), f"{places}（{shown(raw, quotes=False)}）")
        return Parsed(value, tuple(notes))
    if value != value.to_integral_value():
        return Parsed(value, tuple(notes), f"数量应为整数（{shown(raw, quotes=False)}）")
    if "." in text:
        notes.append(DECIMAL_INTEGER)
        value = value.to_integral_value()
    if value < 0 and cell_type != "signed":
        return Parsed(value, tuple(notes), f"数量不能为负数（{shown(raw, quotes=False)}）")
    return Parsed(value, tuple(notes))


def parse_yuan_as_wan(raw: str) -> Parsed:
    """An amount stated in 元 (``251000元``, or a bare number under a header in 元) for a cell
    in 万元: the exact value divided by 10,000, noted. Published figures cannot be sent back to
    be retyped, so the text importer converts them; a workbook's clerk is asked instead (R5)."""
    text = raw.strip()
    number = text[:-1] if text.endswith("元") else text
    parsed = parse_number(number, "money")
    if parsed.value is None or (parsed.problem is not None and "小数" not in parsed.problem):
        return parsed
    exponent = parsed.value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return Parsed(parsed.value, parsed.notes, f"以元为单位的金额最多保留2位小数（{text}）")
    notes = (*(n for n in parsed.notes if n != UNIT_SUFFIX), YUAN_TO_WAN)
    value = (parsed.value / 10000).normalize()
    if value == value.to_integral_value():
        value = value.quantize(Decimal(1))  # 10, not 1E+1
    return Parsed(value, notes)
