"""Elasticsearch replies turned into SearchHits, safe snippets and facet counts.

Highlights come back as the stored text with our private-use markers around
matched words; the fragment is found in the text to decide on ellipses, and
the snippet shows the words as written, every character of page text escaped,
only the <mark> tags ours (as search/snippet.py).
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from search.backend import SearchHit
from search.es_template import MARK_CLOSE, MARK_OPEN, original
from search.snippet import leading

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
    """Safe HTML for a highlighted fragment of `text`; "" if nothing is marked."""
    if MARK_OPEN not in fragment:
        return ""
    plain = fragment.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")
    start = text.find(plain)
    if start < 0:  # not found verbatim (should not happen): show the fragment alone
        source, start = plain, 0
    else:
        source = text
    parts = [_ELLIPSIS if _has_words(source[max(0, start - _CONTEXT) : start]) else ""]
    position, run = start, ""
    for ch in fragment:
        if ch in (MARK_OPEN, MARK_CLOSE):
            parts.append(_escape(run) if ch == MARK_OPEN else f"<mark>{_escape(run)}</mark>")
            run = ""
            continue
        run += source[position]
        position += 1
    parts.append(_escape(run))
    parts.append(_ELLIPSIS if _has_words(source[position : position + _CONTEXT]) else "")
    return "".join(parts).strip()


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
