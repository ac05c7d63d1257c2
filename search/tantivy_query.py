"""Turn a parsed query (search.query) and its filters into a tantivy query."""

from __future__ import annotations

from datetime import UTC, datetime

import tantivy

from search import query as ql
from search.backend import SearchQuery, normalize_domain

# A title match says more about a page than one in its body.
TITLE_BOOST = 2.0


def utc(value: datetime, what: str) -> datetime:
    """The datetime in UTC; naive ones are refused rather than guessed."""
    if value.tzinfo is None:
        msg = f"{what} must be timezone-aware, got {value!r}"
        raise ValueError(msg)
    return value.astimezone(UTC)


class QueryBuilder:
    """Builds queries over every language's fields, each word analyzed the
    way its field was."""

    def __init__(self, schema: tantivy.Schema, analyzers: dict[str, tantivy.TextAnalyzer]) -> None:
        self._schema = schema
        self._analyzers = analyzers

    def build(self, node: ql.Node) -> tantivy.Query | None:
        """The query for a whole parsed query; None if it has no words
        (only punctuation), so nothing can match."""
        # Standing alone, NOT x means everything but x.
        if isinstance(node, ql.Not):
            return self._node(ql.And((node,)))
        return self._node(node)

    def filtered(self, text_query: tantivy.Query, query: SearchQuery) -> tantivy.Query:
        """Restrict to the query's domain, capture-time range and removed content."""
        filters = []
        if query.removed_only:
            filters.append(tantivy.Query.term_query(self._schema, "removed", 1))
        if query.domain:
            domain = normalize_domain(query.domain)
            filters.append(tantivy.Query.term_query(self._schema, "domain", domain))
        if query.since is not None or query.until is not None:
            since = utc(query.since, "since") if query.since else tantivy.MIN_DATETIME
            until = utc(query.until, "until") if query.until else tantivy.MAX_DATETIME
            filters.append(tantivy.Query.range_query(self._schema, "captured_at", tantivy.FieldType.Date, since, until))
        if not filters:
            return text_query
        # Filters select; they must not change the ranking.
        clauses = [(tantivy.Occur.Must, text_query)]
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in filters]
        return tantivy.Query.boolean_query(clauses)

    def _node(self, node: ql.Node) -> tantivy.Query | None:
        if isinstance(node, ql.Term | ql.Phrase):
            return self._words(node.text)
        if isinstance(node, ql.Not):
            return self.build(node)
        if isinstance(node, ql.Or):
            parts = [q for q in map(self.build, node.nodes) if q is not None]
            if not parts:
                return None
            return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in parts])
        must, must_not = [], []
        for child in node.nodes:
            negated = isinstance(child, ql.Not)
            part = self._node(child.node if negated else child)
            # A punctuation-only word constrains nothing.
            if part is not None:
                (must_not if negated else must).append(part)
        if not must and not must_not:
            return None
        clauses = [(tantivy.Occur.Must, q) for q in must or [tantivy.Query.all_query()]]
        clauses += [(tantivy.Occur.MustNot, q) for q in must_not]
        return tantivy.Query.boolean_query(clauses)

    def _words(self, text: str) -> tantivy.Query | None:
        """Match text (one word or several, as a phrase) in any field."""
        clauses = []
        for suffix, analyzer in self._analyzers.items():
            tokens = analyzer.analyze(text)
            if not tokens:
                continue
            fields = [(f"title_{suffix}", TITLE_BOOST), (f"text_{suffix}", 1.0)]
            if suffix == "xx":  # URLs are analyzed the catch-all way
                fields.append(("url", 1.0))
            for field, boost in fields:
                if len(tokens) == 1:
                    part = tantivy.Query.term_query(self._schema, field, tokens[0])
                else:
                    part = tantivy.Query.phrase_query(self._schema, field, tokens)
                if boost != 1.0:
                    part = tantivy.Query.boost_query(part, boost)
                clauses.append((tantivy.Occur.Should, part))
        return tantivy.Query.boolean_query(clauses) if clauses else None
