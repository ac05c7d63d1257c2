"""Build safe HTML snippets: escaped text with <mark> around matched words.

The web app inserts snippets unescaped, and archived text is hostile (it can
say "<script>"), so every character of page text passes through
html.escape; only the <mark> tags are ours.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tantivy

SNIPPET_CHARS = 240
_SPACES = re.compile(r"\s+")
_ELLIPSIS = "\u2026"


def fold(text: str) -> str:
    """Fold ё to е, as Russian writers use them interchangeably.

    Both letters are two bytes in UTF-8, so byte offsets computed on folded
    text are valid on the original: snippets show the words as written."""
    return text.replace("ё", "е").replace("Ё", "Е")


def highlighted(text: str, snippet: tantivy.Snippet) -> str:
    """HTML for a tantivy snippet computed over fold(text); "" if nothing
    in the text matched."""
    marks = snippet.highlighted()
    if not marks:
        return ""
    data = text.encode("utf-8")
    frame = snippet.fragment_range()
    fragment = data[frame.start : frame.end]
    parts = [_ELLIPSIS if _has_words(data[max(0, frame.start - 64) : frame.start]) else ""]
    position = 0
    for mark in marks:  # offsets are bytes, relative to the fragment
        parts.append(_escape(fragment[position : mark.start]))
        parts.append(f"<mark>{_escape(fragment[mark.start : mark.end])}</mark>")
        position = mark.end
    parts.append(_escape(fragment[position:]))
    parts.append(_ELLIPSIS if _has_words(data[frame.end : frame.end + 64]) else "")
    return "".join(parts).strip()


def leading(text: str, limit: int = SNIPPET_CHARS) -> str:
    """HTML for the start of the text, cut at a word boundary."""
    head = _SPACES.sub(" ", text[: limit * 2]).strip()
    if len(head) <= limit:
        return html.escape(head) + (_ELLIPSIS if len(text) > limit * 2 else "")
    cut = head.rfind(" ", 0, limit)
    return html.escape(head[: cut if cut > limit // 2 else limit]) + _ELLIPSIS


def _has_words(data: bytes) -> bool:
    """Whether text was cut off: more than punctuation is left out (a
    partial character at a cut is ignored)."""
    return any(ch.isalnum() for ch in data.decode("utf-8", errors="ignore"))


def _escape(data: bytes) -> str:
    return html.escape(_SPACES.sub(" ", data.decode("utf-8", errors="replace")))
