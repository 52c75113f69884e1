"""Reading the token stream of one table section (2, 3 or 4) into a report's cells.

One walker serves every layout. Labels are compared in :func:`~annual_report.form.labels.label_key`
form against the section's labels and aliases, and against the other format version's labels (to
say what they are): a caption or a row label fixes the block, the column labels read before a
block's first row fix its column order (multi-level headers are read in the form's order), and a
row takes the values that follow its label.

Labels broken over lines are put back together: neighbouring pieces that form a label are joined,
the start of a label opens it and later pieces continue it (wherever the printer put them), and an
alias that is the start of a longer label (``现行有效件`` + ``数``) becomes that label.

Printed text (``layout``) is different in one way: a row's values need not be on its label's line
(labels wrap and cells align top, centre or bottom), so values are collected per printed line and
then aligned to the row labels by line distance (:func:`_align_lines`), and a row with fewer
values than columns has them placed by their horizontal position (:func:`_assign`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from annual_report.errors import NianbaoError
from annual_report.form.labels import label_key
from annual_report.form.model import Alias, Block, Form, forms, load_form
from annual_report.form.numbers import DASHES, parse_yuan_as_wan
from annual_report.report import Entry, LabelNote, Report
from annual_report.text.tokens import Layout, Token, is_number

log = logging.getLogger(__name__)

SINGLE_OTHER = label_key("（六）其他处理")  # a data row in 2019, a group of three rows in 2021
_SKIP_LINE = 3.5  # cost of leaving a printed value line unassigned, in printed lines
_MAX_OPEN = 12  # labels seen in part that later pieces may continue


# -- the labels of one section ------------------------------------------------------------------
@dataclass(frozen=True)
class _Target:
    kind: str  # caption, corner, column, colgroup, row, group
    block: int
    index: int  # column or row index within the block (-1 for caption, corner, groups)
    label: str  # the form's exact label
    form_id: str
    foreign: bool = False  # a label of another format version
    alias: Alias | None = None


class _Index:
    """Every label of one section, in ``label_key`` form, for the form and the other versions."""

    def __init__(self, form: Form, number: int) -> None:
        self.own: dict[str, list[_Target]] = defaultdict(list)
        self.other: dict[str, list[_Target]] = defaultdict(list)
        self._add(form, number, self.own, foreign=False)
        for other in forms():
            if other.id != form.id:
                self._add(other, number, self.other, foreign=True)
        self.keys = sorted(set(self.own) | set(self.other))

    @staticmethod
    def _add(form: Form, number: int, into: dict[str, list[_Target]], *, foreign: bool) -> None:
        try:
            section = form.section(number)
        except NianbaoError:
            return

        def put(label: str, target: _Target) -> None:
            if target not in into[label_key(label)]:
                into[label_key(label)].append(target)

        for b, block in enumerate(section.blocks):
            if block.caption:
                put(block.caption, _Target("caption", b, -1, block.caption, form.id, foreign))
            if block.corner:
                put(block.corner, _Target("corner", b, -1, block.corner, form.id, foreign))
            for kind, group_kind, headers in (
                ("column", "colgroup", block.columns),
                ("row", "group", block.rows),
            ):
                for i, header in enumerate(headers):
                    if not header.path:
                        continue
                    leaf = header.path[-1]
                    put(leaf, _Target(kind, b, i, leaf, form.id, foreign))
                    for alias in header.aliases:
                        put(alias.label, _Target(kind, b, i, leaf, form.id, foreign, alias))
                    for outer in header.path[:-1]:
                        put(outer, _Target(group_kind, b, -1, outer, form.id, foreign))

    def exact(self, key: str) -> list[_Target]:
        return self.own.get(key) or self.other.get(key) or []

    def longer(self, key: str) -> list[str]:
        """Label keys that start with ``key`` (a label cut by wrapping or truncation)."""
        return [k for k in self.keys if k.startswith(key) and k != key]


# -- what the walk builds -----------------------------------------------------------------------
@dataclass(eq=False)
class _Header:
    """A column header as found: what it may be (nothing when not understood) and where."""

    text: str
    targets: list[_Target]
    line: int
    x: float | None
    unit: str | None = None  # the amount unit the header states in brackets: 元 or 万元


@dataclass(eq=False)
class _Row:
    label: str  # as found
    target: _Target | None  # None for a group label, an unknown label, a label not yet known
    block: int | None
    line: int
    segment: int  # rows and printed values pair up only within one segment (block/header)
    kind: str = "row"  # "row" (of this form or another version), "group", "unknown"
    columns: list[_Header] | None = None  # the block's columns in the order found
    values: list[Token] = field(default_factory=list)
    lines: set[int] = field(default_factory=set)  # printed lines holding a piece of the label
    truncated: bool = False


@dataclass(eq=False)
class _Open:
    """A label seen only in part so far: what was read, what it may become, whose it is."""

    acc: str
    candidates: list[str]
    x: float | None
    header: _Header | None = None
    row: _Row | None = None


@dataclass(eq=False)
class _ValueLine:
    """The values of one printed line (or of a few staggered lines), not yet given to a row."""

    tokens: list[Token]
    segment: int
    lines: set[int]

    @property
    def left(self) -> float:
        return min(t.x or 0 for t in self.tokens)

    @property
    def right(self) -> float:
        return max((t.x or 0) + len(t.text) for t in self.tokens)


class TableWalk:
    """Walk one table section's tokens, then :meth:`finish` to store the values in the report."""

    def __init__(self, report: Report, number: int, tokens: list[Token], layout: Layout) -> None:
        self.report = report
        self.form = report.form
        self.blocks = self.form.section(number).blocks
        self.index = _Index(self.form, number)
        self.tokens = tokens
        self.layout = layout
        self.unlabelled = self._single_unlabelled_block()
        self.aligned = layout == "layout" and self.unlabelled is None
        self.block: int | None = 0 if len(self.blocks) == 1 else None
        self.headers: list[_Header] = []
        self.header_block: int | None = None  # block named by the caption over ``headers``
        self.in_rows = False  # rows of the current block have begun (its header is done)
        self.segment = 0
        self.columns: dict[int, list[_Header]] = {}
        self.rows: list[_Row] = []
        self.row: _Row | None = None
        self.group_rows: list[_Row] = []  # group labels in printed text (values only if left)
        self.value_lines: list[_ValueLine] = []
        self.opens: list[_Open] = []
        self.recent: list[str] = []
        self.seen: set[str] = set()  # keys of every label recognised (own or foreign)
        self.with_values: set[str] = set()  # keys of labels followed by values
        self.notes: list[LabelNote] = []
        self._noted: set[tuple[str, tuple[str, ...]]] = set()
        self._widths: dict[int, tuple[int, int]] = {}

    # .. driving ..
    def run(self, *, truncated: bool, marked: bool = True) -> None:
        """Read the tokens; ``truncated`` when the text ends in this table (``marked`` when a
        truncation marker says the page was cut there, maybe inside the last token)."""
        if truncated and marked:
            self._drop_cut_value()
        i = 0
        previous: Token | None = None
        while i < len(self.tokens):
            token = self.tokens[i]
            if previous is not None and token.group != previous.group:
                self._row_break()
            if token.kind == "label":
                i = self._label(i)
            else:
                self._value(token)
                i += 1
            previous = token
        self._close_row()
        if self.aligned:
            self._align()
        if truncated:  # the text was cut: the last row read may lack its last cells
            filled = [r for r in self.rows if r.values]
            if filled:
                filled[-1].truncated = True

    def _drop_cut_value(self) -> None:
        """The text was cut after the last token: a number there may be the start of a longer
        one (``1`` of ``12``) or of a label (``2`` of ``2.其他…``), unless a ``|`` ended it."""
        last = self.tokens[-1] if self.tokens else None
        if last is None or last.kind != "value" or last.closed:
            return
        if last.text == "0" or last.text in DASHES:
            return  # nothing longer starts with these
        self.tokens = self.tokens[:-1]
        self._note(
            (),
            last.text,
            f"原文在第{last.line}行中断，末尾的“{last.text}”可能不完整，未读取",
            (f"第{last.line}行",),
        )

    def _row_break(self) -> None:
        """A new table row (pipes, tsv, tabbed) or printed line (layout) begins."""
        row = self.row
        if row is None or self.aligned:
            return
        if self.unlabelled is not None and row.block == self.unlabelled and not row.label:
            return  # the one unlabelled row takes every value of its section
        if self.layout in ("pipes", "tsv", "tabbed") or (self.layout == "layout" and row.values):
            self._close_row()

    def _single_unlabelled_block(self) -> int | None:
        """Section 4's one row has no label: values after its header are that row."""
        for b, block in enumerate(self.blocks):
            if len(self.blocks) == 1 and len(block.rows) == 1 and not block.rows[0].path:
                return b
        return None

    # .. values ..
    def _value(self, token: Token) -> None:
        if self.aligned:
            if token.kind == "value":
                last = self.value_lines[-1] if self.value_lines else None
                if last is not None and last.tokens[-1].group == token.group:
                    last.tokens.append(token)
                else:
                    self.value_lines.append(_ValueLine([token], self.segment, {token.line}))
            return
        if self.row is None:
            if token.kind == "empty":
                return  # an empty cell before any label (merged cells)
            if self.unlabelled is None:
                self._orphan(token)
                return
            target = _Target("row", self.unlabelled, 0, "", self.form.id)
            self._start_row(target, token)
        assert self.row is not None
        self.row.values.append(token)

    def _orphan(self, token: Token) -> None:
        self._note(
            (),
            token.text,
            f"第{token.line}行的数值“{token.text}”前面没有可识别的行名，未读取",
            (f"第{token.line}行",),
        )

    # .. labels ..
    def _label(self, i: int) -> int:
        """Handle the label token at ``i`` (joined with the next ones when that makes a label)."""
        tokens = self.tokens
        # 1. neighbours that together are one label (``商业`` + ``企业``, ``本年新`` + ``制作数量``)
        j = i
        while j + 1 < len(tokens) and tokens[j].joins_next and j - i < 3:
            j += 1
        while j > i:
            text = "".join(t.text for t in tokens[i : j + 1])
            key = label_key(text)
            if self.index.exact(key):
                self._matched(key, tokens[i], text)
                return j + 1
            j -= 1
        self._label_text(tokens[i].text, tokens[i])
        return i + 1

    def _label_text(self, text: str, token: Token, *, split: bool = True) -> None:
        key = label_key(text)
        if not key:
            return
        mainland = _mainland(key)
        if mainland != key and (
            self.index.exact(mainland)
            or self.index.longer(mainland)
            or self.index.exact(_bracketed(mainland)[0])
        ):
            key = mainland
        if self.index.exact(key):  # 2. a label as the form (or another version) spells it
            self._matched(key, token, text)
            return
        if self._continues(key, token):  # 3. the rest of a label wrapped onto this line
            return
        longer = self.index.longer(key)
        if longer and len(key) >= 2:  # 4. the start of a label wrapped or cut off
            self._opened(key, longer, token, text)
            return
        parts = text.split()
        if split and len(parts) > 1:  # 5. two cells printed one space apart
            for part in parts:
                self._label_text(part, token, split=False)
            return
        if any(key in k for k in self.recent):  # 6. a stray piece of a label just seen
            return
        bare = key.rstrip(":")
        if bare != key and self.index.exact(bare):  # 7. ``行政许可：``
            self._matched(bare, token, text)
            return
        start, unit = _bracketed(key)
        if start and self.index.exact(start):  # 8. ``规章（设区的市…）``, ``采购总金额（元）``
            self._matched(start, token, text, unit=unit)
            return
        self._unknown(text, token)

    def _continues(self, key: str, token: Token) -> bool:
        """Whether ``key`` continues a label seen in part (the nearest one, when printed)."""
        matches = []
        for op in self.opens:
            acc = op.acc + key
            still = [c for c in op.candidates if c.startswith(acc)]
            if still:
                matches.append((op, acc, still))
        if not matches:
            return False
        op, acc, still = matches[0]
        if token.x is not None:
            x = token.centre or 0.0
            op, acc, still = min(
                matches, key=lambda m: abs(m[0].x - x) if m[0].x is not None else float("inf")
            )
        op.acc = acc
        op.candidates = still
        if op.row is not None:
            op.row.lines.add(token.line)
        full = [c for c in still if c == acc]
        if full or len(still) == 1:
            self._resolve(op, full[0] if full else still[0])
            self.opens.remove(op)
        return True

    def _opened(self, key: str, longer: list[str], token: Token, text: str) -> None:
        op = _Open(key, longer, token.centre)
        self._keep_open(op)
        if len(longer) == 1:
            self._matched(longer[0], token, text, opened=op)
            return
        # Ambiguous so far (``本年新`` …): keep its place; the next piece decides.
        targets = [t for k in longer for t in self.index.exact(k)]
        if targets and all(t.kind in ("column", "colgroup", "corner") for t in targets):
            op.header = _Header(text, [], token.line, token.centre)
            self.headers.append(op.header)
        elif targets and all(t.kind in ("row", "group") for t in targets):
            if self.row is not None and (self.row.values or self.row.target is not None):
                self._close_row()
            self.row = self._new_row(text, None, token)
            op.row = self.row

    def _keep_open(self, op: _Open) -> None:
        self.opens.append(op)
        del self.opens[:-_MAX_OPEN]

    def _resolve(self, op: _Open, key: str) -> None:
        targets = self.index.exact(key)
        self._saw(key)
        # an unresolved or alias-matched start (``现行有效件`` + ``数``) takes the full label
        if op.header is not None and all(t.alias for t in op.header.targets):
            columns = [t for t in targets if t.kind == "column"]
            op.header.targets = columns or op.header.targets
        elif op.row is not None and (op.row.target is None or op.row.target.alias):
            rows = [t for t in targets if t.kind == "row"]
            if rows and op.row.kind != "group":
                self._bind_row(op.row, rows)

    def _saw(self, key: str) -> None:
        self.seen.add(key)
        self.recent = [*self.recent[-20:], key]

    def _matched(
        self,
        key: str,
        token: Token,
        text: str,
        opened: _Open | None = None,
        unit: str | None = None,
    ) -> None:
        targets = self.index.exact(key)
        self._saw(key)
        if opened is None:
            self.opens = [op for op in self.opens if key not in op.candidates]
        kinds = {t.kind for t in targets}
        if "caption" in kinds:
            self._close_row()
            self.block = next(t.block for t in targets if t.kind == "caption")
            self.in_rows = False
            self.headers = []
            self.header_block = self.block
            self.segment += 1
        elif "row" in kinds:
            self._close_row()
            rows = [t for t in targets if t.kind == "row"]
            row = self._new_row(text, None, token)
            self._bind_row(row, rows)
            self.row = row
            if opened is not None:
                opened.row = row
            elif all(t.alias for t in rows):
                self._may_continue(key, _Open(key, [], token.centre, row=row))
        elif "column" in kinds:
            if self.in_rows:  # a column label after rows: the header of a block without caption
                self._close_row()
                self.in_rows = False
                self.headers = []
                self.header_block = None
                self.segment += 1
            columns = [t for t in targets if t.kind == "column"]
            header = _Header(text, columns, token.line, token.centre, unit)
            self.headers.append(header)
            if opened is not None:
                opened.header = header
            elif all(t.alias for t in columns):
                self._may_continue(key, _Open(key, [], token.centre, header=header))
        elif "group" in kinds:
            group = self._new_row(text, None, token, kind="group")
            if opened is not None:
                opened.row = group
            if self.aligned:
                self.group_rows.append(group)
                return
            if self.row is not None and self.row.values:
                self._close_row()
            if self.row is None:  # a group label followed by values: the 2019 (六), for one
                self.row = group
        # captions' corners and outer column headers carry nothing to read

    def _may_continue(self, key: str, op: _Open) -> None:
        """An alias that is also the start of a full label may be that label wrapped."""
        op.candidates = self.index.longer(key)
        if op.candidates:
            self._keep_open(op)

    def _new_row(self, text: str, target: _Target | None, token: Token, kind: str = "row") -> _Row:
        return _Row(text, target, self.block, token.line, self.segment, kind, lines={token.line})

    def _bind_row(self, row: _Row, targets: list[_Target]) -> None:
        """Give ``row`` its target: in the current block if it has such a row, else the first."""
        target = next((t for t in targets if t.block == self.block), targets[0])
        row.target = target
        row.kind = "row"
        if target.foreign:
            return
        if target.block != self.block or self.block not in self.columns:
            self._enter_block(target.block)
            row.segment = self.segment
        row.block = target.block
        row.columns = self.columns[target.block]
        self.in_rows = True

    def _enter_block(self, b: int) -> None:
        """Rows of block ``b`` begin: fix its column order from the headers read before them."""
        if self.block != b and self.header_block not in (None, b):
            self.segment += 1
        self.block = b
        block = self.blocks[b]
        headers = self.headers if self.header_block in (None, b) else []
        self.headers = []
        self.header_block = b
        if _multi_level(block) or not headers:
            self.columns[b] = self._form_order(b, headers if _multi_level(block) else [])
        else:
            self.columns[b] = headers

    def _form_order(self, b: int, found: list[_Header]) -> list[_Header]:
        """Multi-level headers are read in the form's order; found leaves give their positions."""
        out: list[_Header] = []
        used: set[int] = set()
        for i, column in enumerate(self.blocks[b].columns):
            match = next(
                (
                    k
                    for k, header in enumerate(found)
                    if k not in used and any(_is_column(t, i) for t in header.targets)
                ),
                None,
            )
            if match is None:
                target = _Target("column", b, i, column.label, self.form.id)
                out.append(_Header(column.label, [target], -1, None))
                continue
            used.add(match)
            header = found[match]
            header.targets = [t for t in header.targets if _is_column(t, i)]
            out.append(header)
        return out

    def _start_row(self, target: _Target, token: Token) -> None:
        if target.block not in self.columns or self.block != target.block:
            self._enter_block(target.block)
        self.row = self._new_row("", target, token)
        self.row.block = target.block
        self.row.columns = self.columns[target.block]
        self.in_rows = True

    def _close_row(self) -> None:
        row, self.row = self.row, None
        if row is None:
            return
        if row.target is None and all(v.kind == "empty" for v in row.values):
            row.values = []  # empty cells beside a group label (merged cells in pipe tables)
        self.rows.append(row)

    def _unknown(self, text: str, token: Token) -> None:
        """A label matching nothing: a column if among headers, else a row whose values are lost."""
        if not self.in_rows and self.row is None:
            block = self.blocks[self.block] if self.block is not None else None
            if self.headers and block is not None and not _multi_level(block):
                self.headers.append(_Header(text, [], token.line, token.centre))
            else:
                log.debug("ignored label %r before the rows (line %s)", text, token.line)
            return
        if (
            not self.aligned
            and self.row is not None
            and not self.row.values
            and self.row.target is not None
        ):
            return  # more text by a row label, before its values
        self._close_row()
        self.row = self._new_row(text, None, token, kind="unknown")

    # .. printed text: values to rows ..
    def _align(self) -> None:
        """Give each printed value line to a row: the row whose label shares its line, else the
        nearest row without values (in order), else a group label on its line; else an orphan."""
        lines = _merge_staggered(self.value_lines)
        for segment in sorted({v.segment for v in lines}):
            values = [v for v in lines if v.segment == segment]
            rows = sorted(
                (r for r in self.rows if r.segment == segment and r.kind != "group"),
                key=lambda r: min(r.lines),
            )
            rest = []
            for v in values:
                here = [r for r in rows if r.lines & v.lines and not r.values]
                if here:  # a row of the form before a label not understood, the later first
                    pick = next((r for r in reversed(here) if r.kind == "row"), here[-1])
                    pick.values = v.tokens
                else:
                    rest.append(v)
            free = [r for r in rows if not r.values and r.kind == "row"]
            left = []
            for v, r in _align_lines(rest, free):
                if r is None:
                    left.append(v)
                else:
                    r.values = v.tokens
            groups = [g for g in self.group_rows if g.segment == segment]
            for v in left:
                here = [g for g in groups if g.lines & v.lines and not g.values]
                if here:
                    here[-1].values = v.tokens
                    self.rows.append(here[-1])
                else:
                    for token in v.tokens:
                        self._orphan(token)

    # .. notes ..
    def _note(
        self, codes: tuple[str, ...], found: str, message: str, cells: tuple[str, ...]
    ) -> None:
        marker = (message, codes)
        if marker in self._noted:
            return
        self._noted.add(marker)
        self.notes.append(LabelNote(codes, found, message, cells))

    def _alias_note(self, block: Block, text: str, target: _Target, line: int) -> None:
        if target.alias is None:
            return
        column = target.kind == "column"
        if column:
            codes = tuple(block.cell_at(r, target.index).code for r in range(len(block.rows)))
        else:
            codes = tuple(block.cell_at(target.index, c).code for c in range(len(block.columns)))
        what = "列名" if column else "行名"
        message = target.alias.warn or (
            f"{what}“{text}”与标准格式的“{target.label}”不一致，已按“{target.label}”读取"
        )
        self._note(codes, text, message, (f"第{line}行",))

    # .. results ..
    def finish(self) -> None:
        """Store every row's values in the report; note what could not be placed."""
        for b, columns in self.columns.items():
            for header in columns:
                own = [t for t in header.targets if _is_column(t, t.index) and t.block == b]
                if own:
                    self._alias_note(self.blocks[b], header.text, own[0], header.line)
        full = self._reference_rows()
        self._widths = self._row_widths()
        for row in self.rows:
            if row.values:
                key = row.target.label if row.target is not None else row.label
                self.with_values.add(label_key(key))
            self._store(row, full)

    def _reference_rows(self) -> dict[int, list[_Row]]:
        """Rows with a value in every column, by block: where each column's values sit (layout)."""
        out: dict[int, list[_Row]] = defaultdict(list)
        for row in self.rows:
            complete = row.columns and len(row.values) == len(row.columns)
            if row.block is not None and complete and all(v.x is not None for v in row.values):
                out[row.block].append(row)
        return out

    def _store(self, row: _Row, full: dict[int, list[_Row]]) -> None:
        if row.target is None or row.target.foreign or row.block is None:
            if row.values:
                self._dropped_row(row)
            return
        block = self.blocks[row.block]
        codes = tuple(block.cell_at(row.target.index, c).code for c in range(len(block.columns)))
        columns = row.columns or self.columns.get(row.block) or []
        values = list(row.values)
        n = len(columns)
        while values and values[-1].kind == "empty" and (values[-1].inferred or len(values) > n):
            values.pop()  # pads of merged cells, and blank lines that place nothing
        given = len(values)
        while given and values[given - 1].kind == "empty":
            given -= 1
        if 0 < given < n <= len(values) and not row.truncated and not self._full_width(row):
            # its last cells look empty, but the row is narrower than the table's full rows:
            # a cell is missing somewhere, and the empties may be the table's padding
            values = values[:given]
        if len(values) > n and self.layout not in ("pipes", "tsv", "tabbed"):
            # nothing marks where this row's values end: which of them are its own is unknown
            shown = [v for v in values if not v.inferred]
            found = "、".join(v.text or "（空）" for v in shown)
            message = (
                f"“{row.label}”行的数值（{len(shown)}个）多于列数（{n}个），"
                f"无法确定哪些属于本行，未读取：{found}"
            )
            self._note(codes, row.label, message, (f"第{row.line}行",))
            return
        if len(values) > n:
            extra = "、".join(f"“{v.text}”" for v in values[n:])
            values = values[:n]
            message = f"“{row.label}”行的数值多于列数，多出的{extra}未读取"
            self._note(codes, row.label, message, (f"第{row.line}行",))
        placed = self._place(values, columns, row, full)
        if placed is None:
            found = "、".join(v.text or "（空）" for v in values)
            message = (
                f"“{row.label}”行只有{len(values)}个数值（应为{n}个），"
                f"无法确定各数值所在的列，未读取：{found}"
            )
            self._note(codes, row.label, message, (f"第{row.line}行",))
            return
        if row.truncated and 0 < len(values) < n:
            message = (
                f"原文在“{row.label}”行中断，只有{len(values)}个数值（应为{n}个），"
                f"已按顺序读取前{len(values)}列"
            )
            self._note(codes, row.label, message, (f"第{row.line}行",))
        for value, header in placed:
            own = [t for t in header.targets if t.kind == "column" and not t.foreign]
            own = [t for t in own if t.block == row.block]
            if not own:
                self._dropped_column(header)
                continue
            code = block.cell_at(row.target.index, own[0].index).code
            self._set(code, value, header)
        if values:
            self._alias_note(block, row.label, row.target, row.line)

    def _row_widths(self) -> dict[int, tuple[int, int]]:
        """``{id(row): (labels before its values, cells in all)}`` for rows with values, where
        cells are explicit (the width of a web table's row, merged labels included)."""
        if self.layout not in ("pipes", "tsv", "cells", "tabbed"):
            return {}
        position = {id(t): k for k, t in enumerate(self.tokens)}
        out = {}
        for row in self.rows:
            if not row.values or id(row.values[0]) not in position:
                continue
            k = position[id(row.values[0])]
            lead = 0
            while k > 0 and self.tokens[k - 1].kind == "label":
                if self.layout != "cells" and self.tokens[k - 1].group != row.values[0].group:
                    break
                lead += 1
                k -= 1
            out[id(row)] = (lead, lead + len(row.values))
        return out

    def _full_width(self, row: _Row) -> bool:
        """Whether ``row`` is as wide as the rows that fill every column (so that its trailing
        empty cells are its own blank cells, not padding). Unknown counts as no."""
        width = self._widths.get(id(row))
        if width is None:
            return False
        full = [
            self._widths[id(r)]
            for r in self.rows
            if id(r) in self._widths
            and r.columns
            and sum(1 for v in r.values if v.kind != "empty" or not v.inferred) >= len(r.columns)
            and any(v.kind != "empty" for v in r.values[len(r.columns) - 1 : len(r.columns)])
        ]
        if full and len({w for _, w in full}) == 1:  # the table pads every row to one width
            return width[1] == full[0][1]
        same = {w for lead, w in full if lead == width[0]}
        return same == {width[1]}

    def _set(self, code: str, value: Token, header: _Header) -> None:
        """Store one cell; an amount in 元 (by its text or its column) goes into a 万元 cell
        converted, with a note."""
        spec = self.form.cell(code)
        text = value.text
        cell = f"第{value.line}行"
        stated = "万元" if text.endswith("万元") else "元" if text.endswith("元") else header.unit
        if spec.type == "money" and spec.unit == "万元" and stated == "元" and is_number(text):
            parsed = parse_yuan_as_wan(text)
            self.report.entries[code] = Entry(
                code, text, parsed.value, parsed.notes, parsed.problem, cell
            )
            return
        self.report.set_raw(code, text, cell)

    def _place(
        self, values: list[Token], columns: list[_Header], row: _Row, full: dict[int, list[_Row]]
    ) -> list[tuple[Token, _Header]] | None:
        """Which column each value belongs to; ``None`` when that cannot be known.

        A row with fewer values than columns is never filled from the left on trust: only when
        the text was cut inside it (its first cells are the ones given), or when the printed
        columns (``pdftotext -layout``) say where each value is.
        """
        n = len(columns)
        if len(values) == n or not values:
            return list(zip(values, columns, strict=False))
        if row.truncated:
            return list(zip(values, columns, strict=False))
        if self.layout == "layout" and all(v.x is not None for v in values):
            centres = _centres(row, full.get(row.block or 0, []))
            if centres is None:
                known = [h.x for h in columns]
                if any(c is None for c in known):
                    return None
                centres = [float(c or 0.0) for c in known]
            order = _assign([v.centre or 0.0 for v in values], centres)
            placed = [(v, columns[j]) for v, j in zip(values, order, strict=True)]
            # a column the printed row leaves empty between its values is an empty cell
            first = values[0]
            blank = Token("", "empty", first.line, first.group, None, first.page)
            placed += [(blank, columns[j]) for j in range(n) if j not in order]
            return placed
        return None

    def _dropped_row(self, row: _Row) -> None:
        values = list(row.values)
        while values and values[-1].kind == "empty":
            values.pop()
        text = "、".join(v.text or "（空）" for v in values)
        if row.target is not None and row.target.foreign:
            other = load_form(row.target.form_id)
            message = (
                f"“{row.label}”是{_form_name(other)}的行，本表格式（{_form_name(self.form)}）"
                f"没有此行，其数值未读取：{text}"
            )
        elif label_key(row.label) == SINGLE_OTHER:
            message = (
                f"“{row.label}”按2019年版格式填为一行，{_form_name(self.form)}中该项分为3行，"
                f"其数值未读取：{text}"
            )
        elif row.kind == "group":
            message = f"“{row.label}”是分组标题，不是数据行，其后的数值未读取：{text}"
        else:
            message = f"未能识别的行名“{row.label}”，其数值未读取：{text}"
        self._note((), row.label, message, (f"第{row.line}行",))

    def _dropped_column(self, header: _Header) -> None:
        foreign = [t for t in header.targets if t.foreign]
        if foreign:
            other = load_form(foreign[0].form_id)
            message = (
                f"“{header.text}”是{_form_name(other)}的列，本表格式（{_form_name(self.form)}）"
                "没有此列，该列数值未读取"
            )
        else:
            message = f"未能识别的表头“{header.text}”，该列数值未读取"
        self._note((), header.text, message, (f"第{header.line}行",))


# -- helpers -------------------------------------------------------------------------------------
def _is_column(target: _Target, index: int) -> bool:
    return target.kind == "column" and target.index == index and not target.foreign


_UNITS = {"元": "元", "单位:元": "元", "万元": "万元", "单位:万元": "万元"}
# Words that conversion to Taiwan phrases changed in the form's labels (规范性文件 → 規範性檔案).
_PHRASES = {"档案": "文件", "资讯": "信息", "资料": "数据"}


def _mainland(key: str) -> str:
    for taiwan, mainland in _PHRASES.items():
        key = key.replace(taiwan, mainland)
    return key


def _bracketed(key: str) -> tuple[str, str | None]:
    """A label followed by a bracketed explanation or unit: ``(label, unit or None)``; the
    label is ``""`` when ``key`` is not of that shape."""
    open_at = key.find("(", 1)
    if open_at < 0:
        return "", None
    inside = key[open_at + 1 : -1] if key.endswith(")") else None
    return key[:open_at], _UNITS.get(inside or "")


def _multi_level(block: Block) -> bool:
    return block.header_depth > 1


def _form_name(form: Form) -> str:
    return form.name.split("（", 1)[0]


def _merge_staggered(lines: list[_ValueLine]) -> list[_ValueLine]:
    """Values of one row printed on successive lines, each further right (a wrapped header
    pushing the cells down), are one row's values."""
    out: list[_ValueLine] = []
    for v in lines:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.segment == v.segment
            and min(v.lines) == max(prev.lines) + 1
            and v.left > prev.right
        ):
            prev.tokens = [*prev.tokens, *v.tokens]
            prev.lines = prev.lines | v.lines
        else:
            out.append(_ValueLine(list(v.tokens), v.segment, set(v.lines)))
    return out


def _align_lines(
    values: list[_ValueLine], rows: list[_Row]
) -> list[tuple[_ValueLine, _Row | None]]:
    """Pair value lines with rows in order, nearest in printed lines (both sorted by line)."""
    m, n = len(values), len(rows)
    inf = float("inf")

    def distance(v: _ValueLine, r: _Row) -> float:
        return min(abs(a - b) for a in v.lines for b in r.lines)

    # cost[i][j]: values[:i] and rows[:j] aligned; a row may stay without values at no cost
    cost = [[inf] * (n + 1) for _ in range(m + 1)]
    move: list[list[str]] = [[""] * (n + 1) for _ in range(m + 1)]
    for j in range(n + 1):
        cost[0][j] = 0.0
        move[0][j] = "row"
    for i in range(1, m + 1):
        cost[i][0] = i * _SKIP_LINE
        move[i][0] = "value"
        for j in range(1, n + 1):
            options = [
                (cost[i][j - 1], "row"),
                (cost[i - 1][j] + _SKIP_LINE, "value"),
                (cost[i - 1][j - 1] + distance(values[i - 1], rows[j - 1]), "pair"),
            ]
            cost[i][j], move[i][j] = min(options, key=lambda o: o[0])
    out: list[tuple[_ValueLine, _Row | None]] = []
    i, j = m, n
    while i > 0:
        step = move[i][j]
        if step == "pair":
            out.append((values[i - 1], rows[j - 1]))
            i, j = i - 1, j - 1
        elif step == "value":
            out.append((values[i - 1], None))
            i -= 1
        else:
            j -= 1
    return out[::-1]


def _centres(row: _Row, reference: list[_Row]) -> list[float] | None:
    """Column centres from the nearest complete row, on the same page when there is one."""
    if not reference or not row.values:
        return None
    page = row.values[0].page
    same_page = [r for r in reference if r.values[0].page == page] or reference
    nearest = min(same_page, key=lambda r: abs(r.line - row.line))
    return [v.centre or 0.0 for v in nearest.values]


def _assign(xs: list[float], centres: list[float]) -> list[int]:
    """Columns for values at ``xs`` (left to right): increasing, nearest in total distance."""
    k, n = len(xs), len(centres)
    inf = float("inf")
    # cost[i][j]: best cost placing values[:i+1] with value i in column j
    cost = [[inf] * n for _ in range(k)]
    back = [[-1] * n for _ in range(k)]
    for j in range(n):
        cost[0][j] = abs(xs[0] - centres[j])
    for i in range(1, k):
        best, arg = inf, -1
        for j in range(n):
            if j > 0 and cost[i - 1][j - 1] < best:
                best, arg = cost[i - 1][j - 1], j - 1
            if arg >= 0:
                cost[i][j] = best + abs(xs[i] - centres[j])
                back[i][j] = arg
    j = min(range(n), key=lambda c: cost[k - 1][c])
    out = [j]
    for i in range(k - 1, 0, -1):
        j = back[i][j]
        out.append(j)
    return out[::-1]
