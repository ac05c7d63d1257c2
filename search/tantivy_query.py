"""Turn a parsed query (search.query) and its filters into a tantivy query."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import tantivy

from crawler.netpolicy import site_host
from search import query as ql
from search.backend import QuerySyntaxError, SearchQuery

# A title match says more about a page than one in its body.
TITLE_BOOST = 2.0
# A word found only as the start of a longer word counts for less than the
# word itself (constant score: prefixes have no useful term statistics).
PREFIX_SCORE = 0.5
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def micros(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (the at_us field)."""
    delta = utc(value, "captured_at") - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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
        self.schema = schema
        self._schema = schema
        self._analyzers = analyzers

    def build(self, node: ql.Node) -> tantivy.Query | None:
        """The query for a whole parsed query; None if it has no words
        (only punctuation), so nothing can match."""
        # Standing alone, NOT x means everything but x.
        if isinstance(node, ql.Not):
            return self._node(ql.And((node,)))
        return self._node(node)

    def filtered(self, text_query: tantivy.Query, query: SearchQuery, extra: list[tantivy.Query] = ()) -> tantivy.Query:
        """Restrict to the query's filters (and `extra` ones); filters never change the ranking."""
        filters = [*extra, *self._filters(query)]
        if not filters:
            return text_query
        clauses = [(tantivy.Occur.Must, text_query)]
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in filters]
        return tantivy.Query.boolean_query(clauses)

    def at_range(self, low: int | None, high: int | None, include_low: bool = True,
                 include_high: bool = True) -> tantivy.Query:
        """Captures whose time in microseconds is between low and high (None: open)."""
        return tantivy.Query.range_query(
            self._schema, "at_us", tantivy.FieldType.Integer, low, high,
            include_lower=include_low, include_upper=include_high)

    def keywords(self, field: str, values: list[str]) -> tantivy.Query:
        return tantivy.Query.term_set_query(self._schema, field, values)

    def _filters(self, query: SearchQuery) -> list[tantivy.Query]:
        terms: list[tuple[str, str]] = []
        if query.removed_only:
            terms.append(("removed", 1))
        if query.domain:
            terms.append(("domain", site_host(query.domain)))
        if query.outcome:
            terms.append(("outcome", query.outcome.strip().lower()))
        if query.country:
            terms.append(("countries", query.country.strip().upper()))
        if query.authority:
            terms.append(("authorities", query.authority.strip()))
        if query.order is not None:
            terms.append(("orders", str(int(query.order))))
        if query.register:
            terms.append(("registers", query.register.strip().lower()))
        if query.lang:
            terms.append(("lang", query.lang.strip().lower()))
        if query.year is not None:
            terms.append(("year", str(int(query.year))))
        if query.month:
            if not _MONTH.fullmatch(query.month):
                msg = f"month {query.month!r} is not YYYY-MM, e.g. 2024-05"
                raise QuerySyntaxError(msg, "month")
            terms.append(("month", query.month))
        filters = [tantivy.Query.term_query(self._schema, field, value) for field, value in terms]
        if query.since is not None or query.until is not None:
            since = micros(query.since) if query.since else None
            until = micros(query.until) if query.until else None
            filters.append(self.at_range(since, until))
        return filters

    def _node(self, node: ql.Node) -> tantivy.Query | None:
        if isinstance(node, ql.Term):
            return self._words(node.text, prefix=node.prefix, implicit=True)
        if isinstance(node, ql.Phrase):
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

    def _words(self, text: str, prefix: bool = False, implicit: bool = False) -> tantivy.Query | None:
        """Match text (one word or several, as a phrase) in any field. With
        `prefix`, the last word matches as a prefix; with `implicit`, a long
        enough single word in an unstemmed language field also does."""
        clauses = []
        for suffix, analyzer in self._analyzers.items():
            tokens = analyzer.analyze(text)
            if not tokens:
                continue
            fields = [(f"title_{suffix}", TITLE_BOOST), (f"text_{suffix}", 1.0)]
            if suffix == "xx":  # URLs are analyzed the catch-all way
                fields.append(("url", 1.0))
            unstemmed_prefix = (implicit and suffix == "xx" and len(tokens) == 1
                                and len(tokens[0]) >= ql.MIN_IMPLICIT_PREFIX)
            for field, boost in fields:
                if prefix:
                    part = self._prefix(field, tokens, boost)
                elif len(tokens) == 1:
                    part = tantivy.Query.term_query(self._schema, field, tokens[0])
                    if boost != 1.0:
                        part = tantivy.Query.boost_query(part, boost)
                    if unstemmed_prefix:
                        part = tantivy.Query.boolean_query([
                            (tantivy.Occur.Should, part), (tantivy.Occur.Should, self._prefix(field, tokens, boost))])
                else:
                    part = tantivy.Query.phrase_query(self._schema, field, tokens)
                    if boost != 1.0:
                        part = tantivy.Query.boost_query(part, boost)
                clauses.append((tantivy.Occur.Should, part))
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def _prefix(self, field: str, tokens: list[str], boost: float) -> tantivy.Query:
        # In a stemmed field the analyzed prefix is a stem, so "blocking*" looks for "block*".
        if len(tokens) == 1:
            part = tantivy.Query.fuzzy_term_query(self._schema, field, tokens[0], distance=0, prefix=True)
        else:
            part = tantivy.Query.phrase_prefix_query(self._schema, field, tokens)
        return tantivy.Query.const_score_query(part, PREFIX_SCORE * boost)
