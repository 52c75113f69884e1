"""Label normalisation, so that labels typed by people match the form's exact labels.

Real files use half-width brackets, traditional characters, stray spaces inside merged headers
(``本年新 制作数量``) and line breaks. :func:`label_key` folds all of that into one comparable key;
the form keeps the exact full-width labels for everything nianbao writes.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import opencc

_T2S = opencc.OpenCC("t2s")
_SPACES = re.compile(r"\s+")
# Quotes and brackets all fold to one form; NFKC already turns full-width ASCII into half-width.
_FOLD = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "「": '"',
        "」": '"',
        "‘": "'",
        "’": "'",
        "、": ",",
        "，": ",",
        "．": ".",
        "。": ".",
        "【": "(",
        "】": ")",
        "〔": "(",
        "〕": ")",
    }
)


@cache
def label_key(text: str) -> str:
    """A key equal for all spellings of one label (width, script, spacing, quotes)."""
    text = unicodedata.normalize("NFKC", text)
    text = _T2S.convert(text)
    text = text.translate(_FOLD)
    return _SPACES.sub("", text)


def to_full_width(text: str) -> str:
    """Official punctuation: ``()`` → ``（）``, ``:`` → ``：`` (for text nianbao writes)."""
    return text.translate(str.maketrans("():,;", "（）：，；"))
