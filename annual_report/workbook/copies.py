"""Department templates in milliseconds: one base workbook per form and campaign, copied.

Building a template with openpyxl costs ~100 ms (styles, merges and validations of ~1,000
cells) and saving it ~45 ms, yet the templates of one campaign differ only in a few texts
(the department's name and code, its token, the moment) and the pre-filled 上年结转 numbers.
So the base is built once, by :func:`~annual_report.workbook.template.build_workbook` itself,
with placeholders for those texts and 0 in the pre-filled cells, and saved; a department's copy
replaces them in the saved XML parts and zips the parts again. What depends on the length of
a text (the heights of the 填报说明 rows) is computed again.

A copy is the workbook ``build_workbook`` would have made for the department (tests compare
them cell by cell). Text that openpyxl would store differently from a plain replacement
(control characters, a leading ``=`` or blank, very long) is built the slow way.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from xml.sax.saxutils import escape

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.compat.strings import safe_string

from annual_report.errors import FormError
from annual_report.form.layout import Layout, layout, text_height
from annual_report.form.model import Form
from annual_report.workbook.template import (
    TemplateMeta,
    _build_workbook,
    default_title,
    exact_number_text,
    instructions,
)

log = logging.getLogger(__name__)

# Private-use characters: never in a department's text (refused below), kept by openpyxl.
_OPEN, _CLOSE = "\ue000", "\ue001"
NAME, CODE, TOKEN, STAMP = (f"{_OPEN}{f}{_CLOSE}" for f in ("name", "code", "token", "stamp"))
MAX_PERSONAL_TEXT = 1000
INSTRUCTIONS_WIDTH = 110  # column B of the 填报说明 sheet (template._draw_instructions)
FIRST_PARAGRAPH_ROW = 3
CACHED_BASES = 8
COMPRESS_LEVEL = 6  # what openpyxl's ZipFile uses (zlib's default)

_CORE_TIMES = re.compile(rb"(<dcterms:(?:created|modified)\b[^>]*>)[^<]*(</dcterms:)")


def _forms(text: str) -> tuple[bytes, bytes]:
    """``text`` as it appears in an XML part: escaped, as UTF-8 and as ASCII with character
    references (openpyxl writes sheets the second way, docProps the first)."""
    escaped = escape(text)
    return escaped.encode("utf-8"), escaped.encode("ascii", "xmlcharrefreplace")


def copyable(text: str) -> bool:
    """Whether ``text`` can replace a placeholder as is (see the module's docstring)."""
    return (
        0 < len(text) <= MAX_PERSONAL_TEXT
        and text == text.strip()
        and not text.startswith("=")
        and "\r" not in text
        and _OPEN not in text
        and _CLOSE not in text
        and not ILLEGAL_CHARACTERS_RE.search(text)
    )


@dataclass(frozen=True)
class _Cell:
    part: str
    base: bytes  # the cell's XML in the base, holding 0
    head: bytes  # the same up to <v>
    tail: bytes  # from </v>


@dataclass(frozen=True)
class BaseTemplate:
    """A campaign's template saved once with placeholders; :meth:`copy` personalises it."""

    form: Form
    meta: TemplateMeta  # with placeholders for name, code and token
    prefilled: frozenset[str]  # the codes pre-filled (each department's numbers differ)
    parts: tuple[tuple[str, bytes], ...]  # the zip's parts, in order
    personal: frozenset[str]  # parts that hold a placeholder or a pre-filled cell
    cells: Mapping[str, _Cell]
    instructions_part: str
    paragraphs: tuple[str, ...]  # the base's 填报说明 paragraphs

    @classmethod
    def build(cls, form: Form, meta: TemplateMeta, prefilled: frozenset[str]) -> BaseTemplate:
        base_meta = replace(meta, department_code=CODE, department_name=NAME, token=TOKEN)
        values: dict[str, Decimal | int | None] = {c: 0 for c in sorted(prefilled)}
        workbook = _build_workbook(form, base_meta, values, None, None, STAMP)
        out = io.BytesIO()
        workbook.save(out)
        with zipfile.ZipFile(out) as saved:
            parts = tuple((info.filename, saved.read(info)) for info in saved.infolist())
        lay = layout(form)
        sheet_parts = {s.name: _sheet_part(i) for i, s in enumerate(lay.sheets)}
        contents = dict(parts)
        cells = {}
        for code in prefilled:
            pos = lay.position(code)
            part = sheet_parts[pos.sheet]
            found = re.search(
                rb'<c r="' + pos.coordinate.encode() + rb'"[^>]*><v>0</v></c>', contents[part]
            )
            if found is None:
                raise FormError("base template: pre-filled cell not found", cell=code)
            xml = found.group(0)
            head, _, tail = xml.partition(b"<v>0")
            cells[code] = _Cell(part, xml, head + b"<v>", tail)
        marks = [m for text in (NAME, CODE, TOKEN, STAMP) for m in _forms(text)]
        personal = {name for name, data in parts if any(m in data for m in marks)}
        personal |= {c.part for c in cells.values()} | {"docProps/core.xml"}
        (instructions_sheet,) = [s.name for s in lay.sheets if s.kind == "instructions"]
        return cls(
            form=form,
            meta=base_meta,
            prefilled=prefilled,
            parts=parts,
            personal=frozenset(personal),
            cells=cells,
            instructions_part=sheet_parts[instructions_sheet],
            paragraphs=tuple(_paragraphs(form, lay, base_meta, prefilled)),
        )

    def copy(
        self,
        meta: TemplateMeta,
        values: Mapping[str, Decimal | int | None],
        generated_at: datetime | None = None,
    ) -> bytes:
        """The saved template of ``meta``'s department (its pre-filled ``values``)."""
        when = (generated_at or datetime.now(UTC)).astimezone(UTC)
        texts = {
            NAME: meta.department_name,
            CODE: meta.department_code,
            TOKEN: meta.token,
            STAMP: when.isoformat(timespec="seconds"),
        }
        swaps = [
            (mark, text)
            for placeholder, value in texts.items()
            for mark, text in zip(_forms(placeholder), _forms(value), strict=True)
        ]
        lay = layout(self.form)
        rows = self._row_heights(lay, meta)
        core_time = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as z:
            for name, data in self.parts:
                if name in self.personal:
                    for mark, text in swaps:
                        data = data.replace(mark, text)
                    for code, cell in self.cells.items():
                        if cell.part == name:
                            number = _number_text(values[code], self.form, code)
                            data = data.replace(cell.base, cell.head + number + cell.tail)
                    if name == self.instructions_part:
                        for old, new in rows:
                            data = data.replace(old, new, 1)
                    if name == "docProps/core.xml":
                        data = _CORE_TIMES.sub(rb"\g<1>" + core_time + rb"\g<2>", data)
                z.writestr(name, data)
        return out.getvalue()

    def _row_heights(self, lay: Layout, meta: TemplateMeta) -> list[tuple[bytes, bytes]]:
        """The 填报说明 rows whose height changes with the department's texts."""
        changes = []
        mine = _paragraphs(self.form, lay, meta, self.prefilled)
        for i, (old, new) in enumerate(zip(self.paragraphs, mine, strict=True)):
            before, after = _height(old), _height(new)
            if before != after:
                row = f'<row r="{FIRST_PARAGRAPH_ROW + i}" ht="'.encode()
                changes.append((row + before + b'"', row + after + b'"'))
        return changes


def _sheet_part(index: int) -> str:
    return f"xl/worksheets/sheet{index + 1}.xml"  # openpyxl names them by position


def _paragraphs(
    form: Form, lay: Layout, meta: TemplateMeta, prefilled: frozenset[str]
) -> list[str]:
    marks = dict.fromkeys(prefilled, 0)
    return [text for _number, text in instructions(form, lay, meta, default_title(meta), marks)]


def _height(text: str) -> bytes:
    # as template._draw_instructions sets it and openpyxl writes it
    return safe_string(float(text_height(text, INSTRUCTIONS_WIDTH) + 2)).encode()


def _number_text(value: Decimal | int | None, form: Form, code: str) -> bytes:
    """What :func:`~annual_report.workbook.template.set_number` stores in ``<v>``."""
    assert value is not None
    text = exact_number_text(value)
    number = Decimal(text)
    cell_type = form.cell(code).type
    if cell_type != "money" and number == number.to_integral_value():
        return str(int(number)).encode()
    if cell_type != "money":
        log.warning("non-integral value %s in count cell %s", text, code)
    return text.encode()


# -- the cache: a campaign's departments share one or two bases -------------------------------

_BASES: OrderedDict[tuple, BaseTemplate] = OrderedDict()
_LOCK = threading.Lock()


def base_template(form: Form, meta: TemplateMeta, prefilled: frozenset[str]) -> BaseTemplate:
    """The base of ``meta``'s campaign (form, year, campaign, deadline, reply address) with
    ``prefilled`` cells, built once and kept (the last few)."""
    campaign = (meta.form_id, meta.report_year, meta.campaign_id, meta.deadline, meta.reply_to)
    key = (id(form), campaign, prefilled)
    with _LOCK:
        hit = _BASES.get(key)
        if hit is not None and hit.form is form:
            _BASES.move_to_end(key)
            return hit
    base = BaseTemplate.build(form, meta, prefilled)
    with _LOCK:
        _BASES[key] = base
        while len(_BASES) > CACHED_BASES:
            _BASES.popitem(last=False)
    return base


def copy_possible(meta: TemplateMeta) -> bool:
    """Whether ``meta``'s texts can be copied into a base (else: build the slow way)."""
    return all(copyable(t) for t in (meta.department_name, meta.department_code, meta.token))


def template_copy(
    form: Form,
    meta: TemplateMeta,
    values: Mapping[str, Decimal | int | None] | None = None,
    *,
    generated_at: datetime | None = None,
) -> bytes:
    """Department ``meta``'s template as .xlsx bytes: a copy of its campaign's base when
    :func:`copy_possible`, else built and saved by openpyxl. Same checks as ``build_workbook``."""
    if meta.form_id != form.id:
        raise FormError("template metadata names another form", form=form.id, meta=meta.form_id)
    values = {c: v for c, v in (values or {}).items()}
    unknown = sorted(c for c in values if c not in form.cells)
    if unknown:
        raise FormError(f"form {form.id} has no cells {', '.join(unknown)}")
    if not copy_possible(meta):
        workbook = _build_workbook(
            form, meta, values, None, None, _stamp(generated_at or datetime.now(UTC))
        )
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()
    filled = {c: v for c, v in values.items() if v is not None}
    for value in filled.values():
        exact_number_text(value)  # a bool or NaN fails as build_workbook fails
    base = base_template(form, meta, frozenset(filled))
    return base.copy(meta, filled, generated_at)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")
