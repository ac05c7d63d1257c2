"""Elasticsearch replies turned into SearchHits, safe snippets and facet counts.

Highlights come back as the indexed (ё-folded) text with our private-use
markers around matched words. Folding keeps every character's position, so
the fragment is found in the folded text and the snippet is rebuilt from the
original at the same positions: it shows the words as written, every
character of page text escaped, only the <mark> tags ours (as search/snippet.py).
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from search.backend import SearchHit
from search.es_template import MARK_CLOSE, MARK_OPEN, original
from search.normalize import normalize_map
from search.snippet import fold, leading

_SPACES = re.compile(r"\s+")
_ELLIPSIS = "\u2026"
_CONTEXT = 64  # characters looked at either side of a fragment to decide on an ellipsis


def to_hit(raw: dict[str, Any], *, snippets: bool) -> SearchHit:
    """A SearchHit for one hit of a search reply."""
    src = raw["_source"]
    text = original(src, "text")
    snippet = ""
    if snippets:
        for fragments in (raw.get("highlight") or {}).values():
            snippet = marked(text, fragments[0])
            if snippet:
                break
    groups = (raw.get("inner_hits") or {}).get("captures")
    return SearchHit(
        id=src["id"],
        url=src["url"],
        title=original(src, "title"),
        captured_at=datetime.fromisoformat(src["captured_at"]),
        snippet=snippet or leading(text),
        score=float(raw.get("_score") or 0.0) if snippets else 0.0,
        domain=src["domain"],
        lang=src["lang"],
        status=int(src["status"]),
        removed=bool(src["removed"]),
        outcome=src.get("outcome", ""),
        countries=tuple(src.get("countries") or ()),
        group_count=int(groups["hits"]["total"]["value"]) if groups else 1,
    )


def marked(text: str, fragment: str) -> str:
    """Safe HTML for a highlighted fragment of `text`; "" if nothing is marked.

    The fragment is of the normalised text (search/normalize.py); it is shown in the words of
    `text` as written, through the map from normalised characters to the original's."""
    if MARK_OPEN not in fragment:
        return ""
    plain = fragment.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")
    start = fold(text).find(plain)
    if start < 0:  # not found verbatim (should not happen): show the folded fragment
        return _folded_marks(fragment)
    # Mapped only as far as the fragment reaches (see snippet.highlighted for the factor).
    folded, spans = normalize_map(text[: 2 * (start + len(plain)) + 256])
    if folded[start : start + len(plain)] != plain:
        return _folded_marks(fragment)
    begin, position, marks = spans[start][0], start, []
    for piece in re.split(f"([{MARK_OPEN}{MARK_CLOSE}])", fragment):
        if piece == MARK_OPEN:
            mark_start = position
        elif piece == MARK_CLOSE:
            marks.append((mark_start, position))
        else:
            position += len(piece)
    stop = spans[position - 1][1] if position > start else begin
    parts = [_ELLIPSIS if _has_words(text[max(0, begin - _CONTEXT) : begin]) else ""]
    at = begin
    for a, b in marks:
        if b <= a:
            continue
        first, last = max(spans[a][0], at), spans[b - 1][1]
        parts.append(_escape(text[at:first]))
        parts.append(f"<mark>{_escape(text[first:last])}</mark>")
        at = max(at, last)
    parts.append(_escape(text[at:stop]))
    parts.append(_ELLIPSIS if _has_words(text[stop : stop + _CONTEXT]) else "")
    return "".join(parts).strip()


def _folded_marks(fragment: str) -> str:
    return "".join(_escape(piece) if piece not in (MARK_OPEN, MARK_CLOSE) else
                   ("<mark>" if piece == MARK_OPEN else "</mark>")
                   for piece in re.split(f"([{MARK_OPEN}{MARK_CLOSE}])", fragment)).strip()


def facet_counts(aggregations: dict[str, Any], names: tuple[str, ...]) -> dict[str, list[tuple[str, int]]]:
    """Facet -> [(value, count)], most first; empty values (unclassified) left out."""
    counts = {}
    for name in names:
        buckets = (aggregations.get(name) or {}).get("buckets", [])
        counts[name] = [(str(b["key"]), int(b["doc_count"])) for b in buckets if str(b["key"])]
    return counts


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _escape(text: str) -> str:
    return html.escape(_SPACES.sub(" ", text))
