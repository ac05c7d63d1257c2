"""Turn a parsed query (search.query) and its filters into Elasticsearch query DSL.

The same meaning as search/tantivy_query.py: every word is looked for in
each language's title, text and the URL's words, analysed the way that field
was; a word that analyses into several tokens is a phrase; `word*` matches
word stems by prefix in ru/en and lower-cased words in the rest; a plain word
of MIN_IMPLICIT_PREFIX characters or more also matches as a prefix in the
unstemmed (Kyrgyz and other) fields.
"""

from __future__ import annotations

from typing import Any

from crawler.netpolicy import site_host
from search import query as ql
from search.backend import FACET_FIELDS, QuerySyntaxError, SearchQuery
from search.es_template import LANGS, utc

TITLE_BOOST = 2.0  # as in tantivy_query: a title match says more than one in the body
PREFIX_EXPANSIONS = 200  # terms one prefix may expand to; bounds hostile "ab*" queries
FACET_SIZE = 50
# The sort of each order, with unique tie-breakers so search_after never skips or repeats.
SORTS = {
    "relevance": [{"_score": "desc"}, {"captured_at": "desc"}, {"id": "asc"}],
    "newest": [{"captured_at": "desc"}, {"id": "asc"}],
    "oldest": [{"captured_at": "asc"}, {"id": "asc"}],
}
_MATCH_NONE: dict[str, Any] = {"match_none": {}}


def text_query(node: ql.Node | None) -> dict[str, Any]:
    """The query for a parsed tree; everything for None (an empty query)."""
    if node is None:
        return {"match_all": {}}
    if isinstance(node, ql.Not):  # standing alone, NOT x means everything but x
        node = ql.And((node,))
    return _node(node)


def filters(query: SearchQuery, as_of: str | None = None) -> list[dict[str, Any]]:
    """Filter clauses: they select without changing the ranking."""
    clauses: list[dict[str, Any]] = []
    if query.removed_only:
        clauses.append({"term": {"removed": True}})
    if query.domain:
        clauses.append({"term": {"domain": site_host(query.domain)}})
    for name in ("outcome", "country", "authority", "lang", "month"):
        value = getattr(query, name)
        if value:
            clauses.append({"term": {FACET_FIELDS[name]: value}})
    if query.order is not None:
        clauses.append({"term": {"orders": str(int(query.order))}})
    if query.register:
        clauses.append({"term": {"registers": query.register.strip().lower()}})
    if query.year is not None:
        clauses.append({"term": {"year": f"{int(query.year):04d}"}})
    span: dict[str, str] = {}
    if query.since is not None:
        span["gte"] = utc(query.since, "since").isoformat()
    if query.until is not None:
        span["lte"] = utc(query.until, "until").isoformat()
    if as_of is not None:  # a cursor without a point in time: what existed at the first page
        span["lte"] = min(span.get("lte", as_of), as_of)
    if span:
        clauses.append({"range": {"captured_at": span}})
    return clauses


def sort_for(query: SearchQuery) -> list[dict[str, str]]:
    """The sort; an empty query has no relevance, so it browses newest first."""
    if query.sort not in SORTS:
        msg = f"unknown sort {query.sort!r}; choose one of: {', '.join(SORTS)}"
        raise QuerySyntaxError(msg, "sort")
    if query.sort == "relevance" and not query.q.strip():
        return SORTS["newest"]
    return SORTS[query.sort]


def facet_aggs() -> dict[str, Any]:
    """A terms aggregation per facet: most frequent first, then by value."""
    return {
        name: {"terms": {"field": field, "size": FACET_SIZE, "order": [{"_count": "desc"}, {"_key": "asc"}]}}
        for name, field in FACET_FIELDS.items()
    }


def highlight(
    fragment_chars: int, scan_chars: int, open_tag: str, close_tag: str, *, opensearch: bool = False
) -> dict[str, Any]:
    """Highlight the best fragment of the text, marked with our own tags
    (OpenSearch spells one option differently)."""
    return {
        "fields": {f"text.{key}": {} for key in LANGS},
        "number_of_fragments": 1,
        "fragment_size": fragment_chars,
        "no_match_size": 0,
        "pre_tags": [open_tag],
        "post_tags": [close_tag],
        # Huge pages: highlight their start only.
        "max_analyzer_offset" if opensearch else "max_analyzed_offset": scan_chars,
    }


def _node(node: ql.Node) -> dict[str, Any]:
    if isinstance(node, ql.Term):
        return _words(node.text, prefix=node.prefix, implicit=True)
    if isinstance(node, ql.Phrase):
        return _words(node.text, prefix=False, implicit=False)
    if isinstance(node, ql.Not):
        return text_query(node)
    if isinstance(node, ql.Or):
        parts = [q for q in map(text_query, node.nodes) if q != _MATCH_NONE]
        return {"bool": {"should": parts, "minimum_should_match": 1}} if parts else _MATCH_NONE
    must, must_not = [], []
    for child in node.nodes:
        negated = isinstance(child, ql.Not)
        part = _node(child.node if negated else child)
        if part != _MATCH_NONE or not negated:
            (must_not if negated else must).append(part)
    if not must and not must_not:
        return _MATCH_NONE
    return {"bool": {"must": must or [{"match_all": {}}], "must_not": must_not}}


def _words(text: str, *, prefix: bool, implicit: bool) -> dict[str, Any]:
    """Text (a word, or several as a phrase) in any field; with `prefix` its
    last word is a prefix. Punctuation alone matches nothing."""
    if not any(ch.isalnum() for ch in text):
        return _MATCH_NONE
    fields = [(f"title.{key}", TITLE_BOOST) for key in LANGS] + [(f"text.{key}", 1.0) for key in LANGS]
    fields.append(("url_words", 1.0))
    clauses = []
    for field, boost in fields:
        kind = "match_phrase_prefix" if prefix else "match_phrase"
        body: dict[str, Any] = {"query": text, "boost": boost}
        if prefix:
            body["max_expansions"] = PREFIX_EXPANSIONS
        clauses.append({kind: {field: body}})
        # Kyrgyz words take chains of suffixes no stemmer here removes: a
        # plain word also finds its longer forms in the unstemmed fields.
        if implicit and not prefix and field.endswith(".xx") and _alnum(text) >= ql.MIN_IMPLICIT_PREFIX:
            body = {"query": text, "boost": boost / 2, "max_expansions": PREFIX_EXPANSIONS}
            clauses.append({"match_phrase_prefix": {field: body}})
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _alnum(text: str) -> int:
    return sum(ch.isalnum() for ch in text)
