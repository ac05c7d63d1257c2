"""The one text normalisation of search: applied to every indexed text and to every query word,
by both engines (tantivy and Elasticsearch), so both sides of a match are the same characters.

1. Unicode NFKC: a composed letter and its decomposed spelling, full- and half-width forms,
   ligatures are one thing (Bengali য় typed as U+09AF U+09BC finds U+09DF).
2. Case folding for every language at once: a query has no language, so the Turkish and
   Azerbaijani I, ı, İ and i all fold to i (a search for "istanbul" finds "İSTANBUL" and
   "Istanbul"); ё folds to е as Russian writers use them interchangeably.
3. Arabic and Persian letter variants fold: ی/ى to ي, ک to ك, the alef forms to ا, ة to ه,
   Arabic-Indic digits to 0-9; tatweel and the vowel marks (harakat) are dropped.
4. Scripts written without spaces (Chinese, Japanese kana, Thai, Lao, Khmer, Burmese) become
   overlapping bigrams of letters with their marks ("中华人民" → " 中华 华人 人民 "), as
   Elasticsearch's ``cjk`` analyzer does,
   so a phrase of any length taken from the page is a run of the same bigrams; digits and Latin
   words around them stay words of their own and keep their place in the phrase.

normalize() is the fast path for whole documents; normalize_map() gives the same text with,
for each of its characters, the span of the original it came from, for snippets shown in the
original's words.
"""

from __future__ import annotations

import re
import unicodedata

_DIGITS = {**{chr(0x0660 + i): str(i) for i in range(10)}, **{chr(0x06F0 + i): str(i) for i in range(10)}}
# After case folding (which turns I into i and İ into i + combining dot above).
_FOLDS = {
    "ı": "i", "ё": "е",
    "ی": "ي", "ى": "ي", "ک": "ك", "ة": "ه", "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "\u0640": "",  # tatweel
    **{chr(c): "" for c in range(0x064B, 0x0660)},  # harakat: fathatan .. sukun, and the rarer marks after them
    "\u0670": "",  # superscript alef
    **_DIGITS,
}
# A regular expression finds the few characters to fold: str.translate looks at every one.
_FOLD = re.compile("[" + "".join(re.escape(ch) for ch in _FOLDS) + "]")
_NO_SPACES = (r"\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
              r"\u0e00-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u19e0-\u19ff\u1000-\u109f\uaa60-\uaa7f")
_RUN = re.compile(f"[{_NO_SPACES}]+")


def normalize(text: str) -> str:
    """The text as it is indexed and queried."""
    return _bigrams(_fold(unicodedata.normalize("NFKC", text)))


def _fold(text: str) -> str:
    text = text.casefold().replace("i\u0307", "i")
    return _FOLD.sub(lambda m: _FOLDS[m.group(0)], text) if _FOLD.search(text) else text


def normalize_map(text: str) -> tuple[str, list[tuple[int, int]]]:
    """normalize(text), and for each of its characters the [start, end) span of ``text`` it
    stands for (an inserted space: the empty span where the next character starts)."""
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    for start, end in _clusters(text):
        part = _fold(unicodedata.normalize("NFKC", text[start:end]))
        chars.extend(part)
        spans.extend([(start, end)] * len(part))
    folded = "".join(chars)
    out: list[str] = []
    out_spans: list[tuple[int, int]] = []
    position = 0
    for match in _RUN.finditer(folded):
        out.extend(folded[position : match.start()])
        out_spans.extend(spans[position : match.start()])
        run, at = match.group(0), match.start()
        for a, b in _pairs(run):
            out.append(" ")
            out_spans.append((spans[at + a][0], spans[at + a][0]))
            out.extend(run[a:b])
            out_spans.extend(spans[at + a : at + b])
        out.append(" ")
        out_spans.append((spans[match.end() - 1][1], spans[match.end() - 1][1]))
        position = match.end()
    out.extend(folded[position:])
    out_spans.extend(spans[position:])
    return "".join(out), out_spans


def _bigrams(text: str) -> str:
    # Spaces around each run, so a Latin word or a number touching it stays a word of its own.
    return _RUN.sub(lambda m: _spaced(m.group(0)), text) if _RUN.search(text) else text


def _spaced(run: str) -> str:
    return "".join(f" {run[a:b]}" for a, b in _pairs(run)) + " "


def _pairs(run: str) -> list[tuple[int, int]]:
    """[start, end) of each bigram of ``run``, counted in letters with their marks (a Thai
    consonant with its vowel and tone marks is one unit), so no bigram starts with a mark."""
    starts = [i for i, ch in enumerate(run) if i == 0 or not unicodedata.category(ch).startswith("M")]
    bounds = [*starts, len(run)]
    if len(starts) == 1:
        return [(0, len(run))]
    return [(bounds[i], bounds[i + 2]) for i in range(len(starts) - 1)]


def _clusters(text: str) -> list[tuple[int, int]]:
    """[start, end) of each base character with the combining marks after it."""
    spans: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if spans and unicodedata.category(ch).startswith("M"):
            spans[-1] = (spans[-1][0], i + 1)
        else:
            spans.append((i, i + 1))
    return spans
