"""Build safe HTML snippets: escaped text with <mark> around matched words.

The web app inserts snippets unescaped, and archived text is hostile (it can
say "<script>"), so every character of page text passes through
html.escape; only the <mark> tags are ours.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from search.normalize import normalize, normalize_map

if TYPE_CHECKING:
    import tantivy

SNIPPET_CHARS = 240
_SPACES = re.compile(r"\s+")
_ELLIPSIS = "\u2026"


def fold(text: str) -> str:
    """The text as indexed and queried: search/normalize.py's normalize()."""
    return normalize(text)


def highlighted(text: str, snippet: tantivy.Snippet) -> str:
    """HTML for a tantivy snippet computed over fold(text), shown in the words of ``text``
    as written; "" if nothing in the text matched."""
    marks = snippet.highlighted()
    if not marks:
        return ""
    frame = snippet.fragment_range()
    # Only the text up to the fragment is mapped (the map is per character, in Python): an
    # original character yields at least one folded byte, or is a dropped mark (at most one
    # per letter), so twice the offset reaches past it.
    text = text[: 2 * frame.end + 256]
    folded, spans = normalize_map(text)
    data = folded.encode("utf-8")
    if len(data) < frame.end:  # cannot happen by construction; never show a wrong cut
        return ""

    def at(offset: int, end: bool = False) -> int:
        """The original's character index for a byte offset into the folded text."""
        i = len(data[:offset].decode("utf-8", errors="ignore"))
        if end:
            return spans[i - 1][1] if i else 0
        return spans[i][0] if i < len(spans) else len(text)

    start, stop = at(frame.start), at(frame.end, end=True)
    parts = [_ELLIPSIS if _has_words(text[max(0, start - 32) : start]) else ""]
    position = start
    for mark in marks:  # offsets are bytes, relative to the fragment
        a, b = max(at(frame.start + mark.start), position), at(frame.start + mark.end, end=True)
        parts.append(_escape(text[position:a]))
        parts.append(f"<mark>{_escape(text[a:b])}</mark>")
        position = max(position, b)
    parts.append(_escape(text[position:stop]))
    parts.append(_ELLIPSIS if _has_words(text[stop : stop + 32]) else "")
    return "".join(parts).strip()


def leading(text: str, limit: int = SNIPPET_CHARS) -> str:
    """HTML for the start of the text, cut at a word boundary."""
    head = _SPACES.sub(" ", text[: limit * 2]).strip()
    if len(head) <= limit:
        return html.escape(head) + (_ELLIPSIS if len(text) > limit * 2 else "")
    cut = head.rfind(" ", 0, limit)
    return html.escape(head[: cut if cut > limit // 2 else limit]) + _ELLIPSIS


def _has_words(text: str) -> bool:
    """Whether text was cut off: more than punctuation is left out."""
    return any(ch.isalnum() for ch in text)


def _escape(text: str) -> str:
    return html.escape(_SPACES.sub(" ", text))
