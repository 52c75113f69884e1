"""The units' own narratives gathered into city-level points: rule-based, deterministic text work.

A city report's 一、总体情况, 五 and 六 read like the departments' reports condensed: what many
units did, said once, with who did it. From each included unit's sections 一, 五 and 六 this
module

1. splits the text into its parts (the unit's own headings such as ``（一）主动公开情况``; where a
   unit wrote none, each sentence goes to the part its keywords name),
2. splits sentences (and ``一是……二是……`` enumerations into their items), cleans them (the
   unit's own name and 我局/本机关 as subject, list markers, a leading year) and drops what the
   city text must not repeat (lead-ins such as ``主要包括：``, application counts that the tables
   give, 信息处理费 sentences, "无其他需要报告的事项"),
3. groups near-duplicates (character-bigram Jaccard similarity), keeps the most central
   sentence of each group and names the units behind it: ``（市教育局、市人社局等5个单位）``.

Nothing is invented: every sentence written comes from a unit, and :class:`Point` keeps the
originals for the provenance file.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# -- topics ----------------------------------------------------------------------------------

INTRO = "总体"
PROBLEMS = "问题"
IMPROVEMENTS = "改进"
OTHER = "其他"

# The 2021 format's parts of 一 and the words that place a sentence in one when the unit wrote
# no heading (the first keyword list that matches wins; longer phrases before shorter ones).
PART_KEYWORDS: dict[str, tuple[str, ...]] = {
    "依申请公开": ("依申请", "公开申请", "申请人", "答复", "补正", "申请渠道"),
    "政府信息公开平台建设": (
        "平台",
        "网站",
        "新媒体",
        "公众号",
        "微博",
        "专栏",
        "专区",
        "政务公开栏",
        "公开栏",
        "客户端",
    ),
    "监督保障": (
        "考核",
        "评议",
        "责任追究",
        "培训",
        "监督",
        "领导小组",
        "组织领导",
        "保障",
        "问责",
        "督查",
    ),
    "政府信息管理": (
        "保密审查",
        "审查",
        "审核",
        "公开属性",
        "清理",
        "动态更新",
        "公开目录",
        "公开指南",
        "信息管理",
        "文件管理",
        "源头认定",
        "档案",
    ),
    "主动公开": (
        "主动公开",
        "政策解读",
        "解读",
        "回应",
        "重点领域",
        "发布",
        "公开",
    ),
}
# what the unit's own part headings are called (``主动公开情况``, ``平台建设``, ``监督保障工作``)
_HEADING_KEYWORDS: dict[str, tuple[str, ...]] = {
    "主动公开": ("主动公开",),
    "依申请公开": ("依申请",),
    "政府信息管理": ("信息管理",),
    "政府信息公开平台建设": ("平台建设", "平台"),
    "监督保障": ("监督保障", "监督", "保障"),
}
ASSESSMENT_WORDS = ("考核", "评议", "责任追究")  # 工作考核、社会评议和责任追究结果情况

# -- parsing ---------------------------------------------------------------------------------

_NUMERAL = "一二三四五六七八九十"
_HEADING = re.compile(
    rf"^(?:[（(][{_NUMERAL}\d]+[)）]|[{_NUMERAL}]+[、.．]|\d+[、.．]|[（(]?\d+[)）])?\s*"
    r"(?P<name>[^，,。；;：:]{2,18}?)\s*(?:[：:。]\s*(?P<rest>.*))?$"
)
_SPLIT = re.compile(r"(?<=[。！？!?])|\n")
_ENUM = re.compile(rf"(?<=[，,；;：:\s])(?=[{_NUMERAL}]是)")
_MARKER = re.compile(
    rf"^(?:[{_NUMERAL}]+是|[（(][{_NUMERAL}\d]+[)）]|[{_NUMERAL}]+[、.．]|\d+[、.．)）]|"
    r"首先|其次|再次|最后|此外|另外|同时|另一方面)[，,：:、\s]*"
)
_LEAD_YEAR = re.compile(r"^(?:\d{4}年度?|本年度|今年以来|年内|一年来|过去一年)[，,]\s*")
_SELF = (
    "我局|本局|我委|本委|我办|本办|我镇|本镇|我乡|本乡|我街道|本街道|我县|本县|我区|本区|我市|"
    "本机关|我机关|我单位|本单位|我部门|本部门|我中心|本中心|我院|本院|我厅|本厅|我署|本署|"
    "我公司|该局|该单位|我处|本处|我站|本站|我所|本所"
)
_SELF_RE = re.compile(_SELF)
_LEADIN = re.compile(
    r"(?:如下|以下|主要包括|主要表现|主要有|具体如下|总结汇报|现将|特此报告|报告如下|"
    r"存在一些不足|存在以下|存在的不足|存在的问题|不足之处|几个方面)[：:。]?$|[：:]$"
)
_NIL = re.compile(
    r"^(?:无|暂无|没有|本机关无|本单位无|我局无|本年度无|本年无)?"
    r"(?:其他|其它)?(?:需要|需)?(?:报告|说明)?的?(?:其他|其它)?事项?[。.]?$"
    r"|^(?:无|暂无|没有)[。.]?$|无其他需要报告的事项"
)
_COUNTED = re.compile(r"申请|复议|诉讼")
_COUNT = re.compile(rf"[\d{_NUMERAL}两百千万]+\s*(?:件|起|宗|次|个)")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_YEARISH = re.compile(
    r"\d{4}\s*年|\d{1,2}\s*月\s*\d{1,2}\s*日|\d{1,2}\s*月|第[\d一二三四五六七八九十]+条"
)
_DATE_LINE = re.compile(r"^\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日$")
_FUTURE = re.compile(r"下一步|下步|今后|将(?!近|军)|拟|计划|持续|继续|着力|力争|努力|切实")
_PROBLEM = re.compile(
    r"不足|问题|有待|不够|仍需|仍待|欠缺|单一|不及时|薄弱|滞后|差距|不高|不强|不完善|不全面|"
    r"不规范|不到位|不深|不细|需进一步|还需|尚需|较少|偏少|不多|不平衡|不充分"
)
_IMPROVE_HEADING = re.compile(r"改进|下一步|措施|打算|计划|工作重点|努力方向")
_PROBLEM_HEADING = re.compile(r"问题|不足")
# "存在的主要问题：", "改进措施：" before the matter itself
_LABEL = re.compile(
    r"^(?:存在的?|目前|当前)?(?:主要)?(?:问题|不足|困难|改进措施|改进情况|改进|措施|工作打算|"
    r"下一步(?:工作)?(?:打算|计划)?)(?:是|有|主要有)?[：:]\s*"
)
_PUNCT = re.compile(r"[\s，,。；;：:、！？!?“”\"'‘’（）()《》〈〉【】\[\]—…·.-]")


@dataclass(frozen=True)
class Writer:
    """A unit whose narrative is gathered: how it is named in attributions, and its aliases
    (its full and short names, which are dropped as a sentence's subject)."""

    code: str
    label: str  # ``市教育局``
    names: tuple[str, ...] = ()
    order: int = 0  # attribution order: government, departments, counties, townships


@dataclass(frozen=True)
class Statement:
    """One cleaned sentence of one unit."""

    unit: str
    topic: str
    text: str
    original: str
    position: int
    specific: bool  # states the unit's own figures (e.g. 主动公开政府信息66条)


@dataclass
class Point:
    """A city-level sentence: a group's most central statement and every unit behind it."""

    topic: str
    statements: list[Statement] = field(default_factory=list)
    representative: Statement | None = None

    @property
    def units(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.statements:
            seen.setdefault(s.unit, None)
        return list(seen)


def _split_parts(text: str, parts: Sequence[str]) -> list[tuple[str | None, str]]:
    """``(part or None, text)`` pieces of a section-一 text in the order written."""
    pieces: list[tuple[str | None, str]] = []
    current: str | None = None
    buffer: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        part, rest = _heading_of(line, parts)
        if part is None:
            buffer.append(line)
            continue
        if buffer:
            pieces.append((current, "\n".join(buffer)))
        current, buffer = part, ([rest] if rest else [])
    if buffer:
        pieces.append((current, "\n".join(buffer)))
    return pieces


def _heading_of(line: str, parts: Sequence[str]) -> tuple[str | None, str]:
    """The part a heading line names (``（一）主动公开情况``, ``二、依申请公开：……``)."""
    match = _HEADING.match(line)
    if match is None:
        return None, ""
    name = match.group("name")
    rest = (match.group("rest") or "").strip()
    numbered = name != line[: len(name)] or bool(rest)
    if len(name) > 12 or (not numbered and len(line) > 14):
        return None, ""
    for part in parts:
        keys = _HEADING_KEYWORDS.get(part, (part,))
        if any(k in name for k in keys):
            return part, rest
    return None, ""


def sentences(text: str) -> list[str]:
    """Sentences and enumerated items (``一是……；二是……`` → two items), markers kept."""
    out = []
    for chunk in _SPLIT.split(text or ""):
        chunk = chunk.strip()
        if not chunk:
            continue
        pieces = [p.strip(" ，,；;") for p in _ENUM.split(chunk)]  # a lead-in keeps its "："
        pieces = [p for p in pieces if p]
        if len(pieces) > 2 or (len(pieces) == 2 and re.match(rf"[{_NUMERAL}]是", pieces[1])):
            # "主要包括：一是…，二是…。": the lead-in is dropped later, each item kept
            out.extend(pieces)
        else:
            out.append(chunk)
    return out


def clean(sentence: str, writer: Writer) -> str:
    """A sentence without its list marker, leading year, or the unit as subject."""
    text = sentence.strip()
    for _ in range(3):
        before = text
        text = _MARKER.sub("", text)
        text = _LEAD_YEAR.sub("", text)
        for name in sorted((*writer.names, writer.label), key=len, reverse=True):
            if name and text.startswith(name):
                text = text[len(name) :]
        text = re.sub(rf"^(?:{_SELF})", "", text)
        text = _LABEL.sub("", text)
        text = text.lstrip("，,、：: ")
        if text == before:
            break
    return text.strip()


_GENERIC = ("公开", "发布", "主动公开")  # every part's sentences say these
_OVERALL = re.compile(r"贯彻|条例|以公开为常态|扎实推进|全面推进|取得新进展|高度重视|总体")


def _topic_by_words(sentence: str, parts: Sequence[str]) -> str | None:
    """The one part whose own words the sentence uses; a sentence naming several parts
    ("政府信息管理、平台建设和监督保障工作有序开展") is an overall one (None)."""
    named = [
        part
        for part, words in PART_KEYWORDS.items()
        if part in parts and any(w in sentence for w in words if w not in _GENERIC)
    ]
    if len(named) == 1:
        return named[0]
    if named or _OVERALL.search(sentence):
        return None
    if "主动公开" in parts and any(w in sentence for w in _GENERIC):
        return "主动公开"
    return None


def _specific(text: str) -> bool:
    return bool(_DIGITS.search(_YEARISH.sub("", text)))


def _dropped(text: str) -> bool:
    """Lead-ins, nothing-to-report lines, dates, and application counts the tables give."""
    if len(_PUNCT.sub("", text)) < 6:
        return True
    if _LEADIN.search(text) or _DATE_LINE.match(text) or _NIL.search(text):
        return True
    if "信息处理费" in text:
        return True
    return bool(_COUNTED.search(text) and _COUNT.search(text))


def overview_statements(text: str, writer: Writer, parts: Sequence[str]) -> list[Statement]:
    """A unit's section 一 as statements, each in its part (or :data:`INTRO`)."""
    out: list[Statement] = []
    for part, piece in _split_parts(text, parts):
        for sentence in sentences(piece):
            cleaned = clean(sentence, writer)
            if _dropped(cleaned):
                continue
            topic = part or _topic_by_words(cleaned, parts) or INTRO
            out.append(
                Statement(writer.code, topic, cleaned, sentence, len(out), _specific(cleaned))
            )
    return out


def problem_statements(text: str, writer: Writer) -> list[Statement]:
    """A unit's section 五 as problems and improvements."""
    out: list[Statement] = []
    mode = PROBLEMS
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        heading = _HEADING.match(line)
        if heading and len(line) <= 16 and not heading.group("rest"):
            if _IMPROVE_HEADING.search(line):
                mode = IMPROVEMENTS
                continue
            if _PROBLEM_HEADING.search(line):
                mode = PROBLEMS
                continue
        for sentence in sentences(line):
            if _IMPROVE_HEADING.search(sentence[:6]):
                mode = IMPROVEMENTS  # "下一步，人社局将……", "改进措施：……"
            elif _PROBLEM_HEADING.search(sentence[:8]) and mode == IMPROVEMENTS:
                mode = PROBLEMS
            cleaned = clean(sentence, writer)
            cleaned = re.sub(r"^(?:下一步|下步|今后)[，,]?\s*", "", cleaned)
            cleaned = clean(cleaned, writer)
            if _dropped(cleaned):
                if _FUTURE.search(sentence[:12]):
                    mode = IMPROVEMENTS
                continue
            pieces = _problem_clauses(cleaned) if mode == PROBLEMS else [cleaned]
            if len(pieces) > 1:
                for piece in pieces:
                    out.append(
                        Statement(
                            writer.code, PROBLEMS, piece, sentence, len(out), _specific(piece)
                        )
                    )
                continue
            cleaned = pieces[0] if pieces else cleaned
            future, problem = bool(_FUTURE.search(cleaned)), bool(_PROBLEM.search(cleaned))
            if future and not (problem and mode == PROBLEMS):
                topic = IMPROVEMENTS
            elif problem:
                topic = PROBLEMS
            else:
                topic = mode
            if topic == IMPROVEMENTS:
                mode = IMPROVEMENTS
            out.append(
                Statement(writer.code, topic, cleaned, sentence, len(out), _specific(cleaned))
            )
    return out


_LEAD_CLAUSE = re.compile(r"存在(?:一些|一定|以下|的)?(?:不足|问题)|不足之处|主要问题")
_MAINLY = re.compile(r"^(?:主要是|主要表现在|主要表现为|主要有|具体表现为|如|比如)[：:]?\s*")


def _problem_clauses(text: str) -> list[str]:
    """ "仍存在一些不足，主要是部分栏目信息更新不够及时" → the problem alone; two problems in
    one sentence ("政策解读形式较为单一，信息公开的及时性有待加强") → two."""
    clauses = []
    for clause in (c.strip() for c in re.split(r"[，,；;]", text)):
        lead = _LEAD_CLAUSE.search(clause)
        if lead:  # "存在的主要问题是政策解读形式较为单一" → the problem itself
            clause = re.sub(r"^(?:是|有|为|在于)", "", clause[lead.end() :])
        clauses.append(_MAINLY.sub("", clause))
    clauses = [c for c in clauses if c]
    if len(clauses) > 1 and all(_PROBLEM.search(c) for c in clauses):
        return clauses
    return ["，".join(clauses)] if clauses else []


def other_statements(text: str, writer: Writer) -> list[Statement]:
    """A unit's section 六 without the 信息处理费 (gathered apart), nil lines and signature."""
    out: list[Statement] = []
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    while lines and (_DATE_LINE.match(lines[-1]) or lines[-1] in (*writer.names, writer.label)):
        lines.pop()  # the unit's signature and date
    for sentence in sentences("\n".join(lines)):
        cleaned = clean(sentence, writer)
        if _dropped(cleaned):
            continue
        out.append(Statement(writer.code, OTHER, cleaned, sentence, len(out), _specific(cleaned)))
    return out


# -- grouping --------------------------------------------------------------------------------


def _signature(text: str, names: Iterable[str]) -> frozenset[str]:
    for name in names:
        if name:
            text = text.replace(name, "")
    text = _SELF_RE.sub("", text)
    text = _DIGITS.sub("#", text)
    text = _PUNCT.sub("", text)
    return frozenset(text[i : i + 2] for i in range(len(text) - 1)) or frozenset([text])


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Bigram Jaccard; a short sentence wholly inside a longer one ("政策解读形式较为单一" in
    "政策解读形式较为单一，图解、视频等解读形式运用不够") counts as the same point."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    if min(len(a), len(b)) >= 5 and common / min(len(a), len(b)) >= CONTAINED:
        return max(SIMILAR, common / len(a | b))
    return common / len(a | b)


SIMILAR = 0.45  # bigram Jaccard at which two sentences say the same thing
CONTAINED = 0.8  # share of the shorter sentence's bigrams found in the longer
_MEDOID_SAMPLE = 40


def group(statements: Sequence[Statement], writers: Mapping[str, Writer]) -> list[Point]:
    """Near-duplicate statements grouped into points (order-independent of the input order:
    statements are taken by unit order, code and position)."""
    ordered = sorted(
        statements,
        key=lambda s: (writers[s.unit].order, s.unit, s.position) if s.unit in writers else (9,),
    )
    names = sorted({n for w in writers.values() for n in (*w.names, w.label)}, key=len)[::-1]
    points: list[Point] = []
    signatures: list[list[frozenset[str]]] = []
    index: dict[str, list[int]] = defaultdict(list)  # bigram → points having it
    frequency: Counter[str] = Counter()
    for statement in ordered:
        sig = _signature(statement.text, names)
        # candidates share a bigram that is not everywhere (公开, 信息 are)
        limit = max(8, len(points) // 5)
        votes: Counter[int] = Counter()
        for gram in sig:
            if frequency[gram] <= limit:
                votes.update(index[gram])
        best, best_score = None, 0.0
        for candidate, _ in votes.most_common(30):
            score = max(_similarity(sig, other) for other in signatures[candidate][:3])
            tie = score == best_score and best is not None and candidate < best
            if score > best_score or tie:
                best, best_score = candidate, score
        if best is not None and best_score >= SIMILAR:
            points[best].statements.append(statement)
            signatures[best].append(sig)
            continue
        points.append(Point(statement.topic, [statement]))
        signatures.append([sig])
        for gram in sig:
            index[gram].append(len(points) - 1)
            frequency[gram] += 1
    for point, sigs in zip(points, signatures, strict=True):
        point.representative = _medoid(point.statements, sigs)
    return points


def _medoid(statements: list[Statement], sigs: list[frozenset[str]]) -> Statement:
    """The statement most like the others (ties: the one without the unit's own figures, then
    the shorter, then the first)."""
    sample = list(range(min(len(statements), _MEDOID_SAMPLE)))
    best = min(
        sample,
        key=lambda i: (
            -sum(_similarity(sigs[i], sigs[j]) for j in sample if j != i),
            statements[i].specific,
            len(statements[i].text),
            i,
        ),
    )
    return statements[best]


def ranked(points: Iterable[Point], writers: Mapping[str, Writer]) -> list[Point]:
    """Points shared by most units first; then by their first unit's order."""

    def key(p: Point) -> tuple[int, int, str, int]:
        first = p.statements[0]
        order = writers[first.unit].order if first.unit in writers else 9
        return (-len(p.units), order, first.unit, first.position)

    return sorted(points, key=key)


def attribution(units: Sequence[str], writers: Mapping[str, Writer], shown: int = 2) -> str:
    """``（市教育局、市人社局等5个单位）``; up to ``shown`` names, then the count."""
    ordered = sorted(units, key=lambda u: (writers[u].order, u) if u in writers else (9, u))
    labels = [writers[u].label if u in writers else u for u in ordered]
    if len(labels) <= shown:
        return "（" + "、".join(labels) + "）"
    return "（" + "、".join(labels[:shown]) + f"等{len(labels)}个单位）"


_AMOUNT = re.compile(
    r"(?:共计|合计|累计|共|约|达)?\s*\d+(?:\.\d+)?\s*(?:余|多)?\s*"
    r"(?:万条|万人次|人次|件次|件|条|篇|次|个|项|期|场|余|名|家|人|万元|元|万)?"
)


def generalize(text: str) -> str:
    """A sentence several units wrote with their own figures, without the figures: each
    unit's number is in the provenance file, not in a sentence the city signs. Clauses that
    were only a figure (``其中警务动态526条``, ``培训人员300余人次``) go."""
    clauses = re.split(r"([，,；;])", text)
    kept: list[str] = []
    for clause, sep in zip(clauses[::2], [*clauses[1::2], ""], strict=False):
        stripped = _YEARISH.sub("", clause)
        if not _DIGITS.search(stripped):
            kept.append(clause + sep)
            continue
        if clause.lstrip().startswith(("其中", "包括", "涉及")):
            continue
        if _AMOUNT.search(clause.rstrip()[-1:] or "x") or re.search(r"\d\s*\S{0,3}$", clause):
            continue  # the clause was there for its figure ("全年主动公开政府信息3256条")
        rest = _AMOUNT.sub("", clause).strip()
        if len(_PUNCT.sub("", rest)) >= 6:
            kept.append(rest + sep)
    return "".join(kept).strip("，,；; ")


def _own(statement: Statement, writer: Writer | None) -> str:
    """A unit's statement with the unit as its subject: ``市政府共办理人大代表建议56件……``"""
    text = statement.text.rstrip("。；;，, ")
    if writer is None:
        return text
    for name in sorted(writer.names, key=len, reverse=True):
        if len(name) >= 3:
            text = text.replace(name, writer.label)
    text = _SELF_RE.sub(writer.label, text)
    return text if text.startswith(writer.label) else f"{writer.label}{text}"


KEEP_GENERAL = 0.6  # a generalized sentence must keep this much of the original, or units
SEPARATE = 3  # … up to this many are written one by one, each with its own figures


def city_sentence(point: Point, writers: Mapping[str, Writer]) -> str:
    """The point as the city report writes it: the unit's self-references made collective
    (``我局`` → ``各单位``), ending in its units; one unit's own figures with the unit as the
    subject; several units' figures without the figures, or unit by unit when the figures
    were the point (``市政府共办理人大代表建议56件……。樟树市……``)."""
    rep = point.representative or point.statements[0]
    text = rep.text.rstrip("。；;，, ")
    writer = writers.get(rep.unit)
    alone = len(point.units) == 1
    if rep.specific and alone:
        return _own(rep, writer)
    if writer:
        for name in sorted(writer.names, key=len, reverse=True):
            if len(name) >= 3:
                text = text.replace(name, "各单位")
    text = _SELF_RE.sub("各单位", text)
    if rep.specific:
        general = generalize(text)
        if len(general) < KEEP_GENERAL * len(text) and len(point.units) <= SEPARATE:
            firsts: dict[str, Statement] = {}
            for s in point.statements:
                firsts.setdefault(s.unit, s)
            return "。".join(_own(s, writers.get(u)) for u, s in firsts.items())
        if not general:
            return ""
        text = general
    return f"{text}{attribution(point.units, writers)}"


_PROACTIVE = re.compile(r"主动公开(?:各类)?(?:政府)?信息(?:共计|共|累计)?\s*(\d+)\s*条")


def only_count(statement: Statement) -> bool:
    """A sentence that is no more than a unit's count of proactive disclosures (the count
    paragraph sums those)."""
    return bool(_PROACTIVE.search(statement.text)) and not generalize(statement.text)


def proactive_count(statements: Iterable[Statement]) -> dict[str, int]:
    """Units' own "主动公开政府信息N条" (the largest such number each states)."""
    pattern = _PROACTIVE
    out: dict[str, int] = {}
    for s in statements:
        for match in pattern.finditer(s.original):
            out[s.unit] = max(out.get(s.unit, 0), int(match.group(1)))
    return out
