"""Collecting a page of hits from tantivy in one total order, with cursors,
URL groups and facet counts.

Orders (the same as the Elasticsearch backend's):
    relevance  score descending, then capture time descending, then id ascending
    newest     capture time descending, then id ascending
    oldest     capture time ascending, then id ascending
Capture time is compared to the microsecond (the at_us column), ids as strings.

tantivy breaks ties in its own way (by segment and document number, which
change as segments merge), so ties are put in order here; ids are loaded only
for hits that tie. Relevance pages are cut from a window of the best hits,
grown until the page is known exactly; time-sorted pages start from a range
query on at_us, so they cost the same at any depth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import tantivy

from search.backend import FACET_FIELDS, QuerySyntaxError
from search.cursor import Cursor

if TYPE_CHECKING:
    from search.tantivy_query import QueryBuilder

# Results beyond this by relevance are not worth ranking, as in Elasticsearch.
MAX_RESULT_WINDOW = 10_000
FACET_SIZE = 50  # values per facet, most frequent first
# Distinct URLs counted exactly for a grouped total; above it, an estimate.
MAX_EXACT_GROUPS = 10_000


@dataclass
class Hit:
    """A matching document: its address, sort values and (loaded on demand) stored fields."""

    address: tantivy.DocAddress
    at_us: int
    score: float = 0.0
    _doc: tantivy.Document | None = field(default=None, repr=False)

    def doc(self, searcher: tantivy.Searcher) -> tantivy.Document:
        if self._doc is None:
            self._doc = searcher.doc(self.address)
        return self._doc


class Collector:
    """Pages of one query on one searcher (a consistent view of the index)."""

    def __init__(self, searcher: tantivy.Searcher, queries: QueryBuilder, sort: str) -> None:
        self.searcher = searcher
        self.queries = queries
        self.sort = sort
        self.total: int | None = None  # set by the first unrestricted search, if any

    # -- order -----------------------------------------------------------

    def id_of(self, hit: Hit) -> str:
        return hit.doc(self.searcher).get_first("id")

    def url_of(self, hit: Hit) -> str:
        return hit.doc(self.searcher).get_first("url_s").decode("utf-8")

    def primary(self, hit: Hit) -> tuple:
        """The sort key before the id, as a tuple that sorts ascending in page order."""
        if self.sort == "relevance":
            return (-hit.score, -hit.at_us)
        return (-hit.at_us,) if self.sort == "newest" else (hit.at_us,)

    def cursor_primary(self, cursor: Cursor) -> tuple:
        if self.sort == "relevance":
            return (-cursor.key[0], -cursor.key[1])
        return (-cursor.key[0],) if self.sort == "newest" else (cursor.key[0],)

    def cursor_for(self, hit: Hit, as_of_us: int, group: bool, position: int = 0) -> Cursor:
        key = (hit.score, hit.at_us) if self.sort == "relevance" else (hit.at_us,)
        return Cursor(self.sort, key, self.id_of(hit), as_of_us, group, position)

    def in_order(self, hits: list[Hit]) -> list[Hit]:
        """Hits sorted by the full key; ids are loaded only where primaries tie."""
        counts: dict[tuple, int] = {}
        for hit in hits:
            counts[self.primary(hit)] = counts.get(self.primary(hit), 0) + 1

        def key(hit: Hit) -> tuple:
            primary = self.primary(hit)
            return primary, self.id_of(hit) if counts[primary] > 1 else ""

        return sorted(hits, key=key)

    def after(self, hit: Hit, cursor: Cursor) -> bool:
        mine, theirs = self.primary(hit), self.cursor_primary(cursor)
        return mine > theirs or (mine == theirs and self.id_of(hit) > cursor.id)

    # -- fetching --------------------------------------------------------

    def ordered(self, query: tantivy.Query, n: int, cursor: Cursor | None = None) -> list[Hit]:
        """The first n hits of `query` in page order, after `cursor` if given."""
        if self.sort == "relevance":
            return self._by_relevance(query, n, cursor)
        return self._by_time(query, n, cursor)

    def _by_relevance(self, query: tantivy.Query, n: int, cursor: Cursor | None) -> list[Hit]:
        window = max(4 * n, 50)
        while True:
            found = self.searcher.search(query, limit=window, count=self.total is None)
            if self.total is None:
                self.total = found.count
            addresses = [address for _, address in found.hits]
            times = self.searcher.fast_field_values("at_us", addresses) if addresses else []
            hits = [Hit(a, t or 0, float(s)) for (s, a), t in zip(found.hits, times, strict=True)]
            complete = len(hits) < window
            if not complete:  # the lowest score's group may go on past the window
                hits = [h for h in hits if h.score > hits[-1].score]
            hits = self.in_order(hits)
            if cursor is not None:
                hits = [h for h in hits if self.after(h, cursor)]
            if complete or len(hits) >= n:
                return hits[:n]
            if window > MAX_RESULT_WINDOW:
                msg = (f"results beyond the first {MAX_RESULT_WINDOW} by relevance are not available; "
                       "sort by newest or oldest to page further")
                raise QuerySyntaxError(msg)
            window *= 4

    def _by_time(self, query: tantivy.Query, n: int, cursor: Cursor | None) -> list[Hit]:
        newest = self.sort == "newest"
        hits: list[Hit] = []
        if cursor is not None:
            at = cursor.key[0]
            hits = [h for h in self._all_at(query, at) if self.after(h, cursor)]
            beyond = self.queries.at_range(None, at, include_high=False) if newest else \
                self.queries.at_range(at, None, include_low=False)
            query = _and(query, beyond)
        order = tantivy.Order.Desc if newest else tantivy.Order.Asc
        found = self.searcher.search(query, limit=max(n, 1), count=self.total is None and cursor is None,
                                     order_by_field="at_us", order=order)
        if self.total is None and cursor is None:
            self.total = found.count
        fetched = [Hit(address, int(at)) for at, address in found.hits]
        if len(fetched) >= n and fetched:  # the last time's group may go on past the limit
            edge = fetched[-1].at_us
            fetched = [h for h in fetched if h.at_us != edge] + self._all_at(query, edge)
        return self.in_order(hits + fetched)[:n]

    def _all_at(self, query: tantivy.Query, at_us: int) -> list[Hit]:
        """Every hit captured at exactly this microsecond."""
        query = _and(query, self.queries.at_range(at_us, at_us))
        count = self.searcher.search(query, limit=1, count=True).count
        found = self.searcher.search(query, limit=max(count, 1), count=False)
        return [Hit(address, at_us) for _, address in found.hits]

    def count(self, query: tantivy.Query) -> int:
        return self.searcher.search(query, limit=1, count=True).count

    # -- groups ----------------------------------------------------------

    def groups(self, query: tantivy.Query, n: int, cursor: Cursor | None) -> list[Hit]:
        """The first hit (in page order) of each of the first n URLs, after `cursor`."""
        chosen: dict[str, Hit] = {}
        batch, position = max(4 * n, 40), cursor
        # Relevance windows always start at the top, so earlier groups are seen and skipped;
        # time-sorted batches start at the cursor, so URLs seen before it are looked up.
        scan_from_top = self.sort == "relevance"
        while len(chosen) < n:
            if scan_from_top:
                chosen = {}
            hits = self.ordered(query, batch, None if scan_from_top else position)
            candidates: dict[str, Hit] = {}
            for hit in hits:
                url = self.url_of(hit)
                if url not in chosen and url not in candidates:
                    candidates[url] = hit
            if scan_from_top:
                chosen = {u: h for u, h in candidates.items() if cursor is None or self.after(h, cursor)}
            else:
                earlier = self._seen_before(query, list(candidates), cursor) if cursor else set()
                chosen.update((u, h) for u, h in candidates.items() if u not in earlier)
            if len(hits) < batch:
                break
            if scan_from_top:
                batch *= 4
            else:
                position = self.cursor_for(hits[-1], 0, False)
        return list(chosen.values())[:n]

    def _seen_before(self, query: tantivy.Query, urls: list[str], cursor: Cursor) -> set[str]:
        """Those of `urls` with a hit at or before the cursor: their group was on an earlier page."""
        if not urls:
            return set()
        at = cursor.key[0]
        of_urls = _and(query, self.queries.keywords("url_k", urls))
        strictly = self.queries.at_range(at, None, include_low=False) if self.sort == "newest" else \
            self.queries.at_range(None, at, include_high=False)
        seen = {key for key, _ in self.terms(_and(of_urls, strictly), "url_k", len(urls))}
        for hit in self._all_at(of_urls, at):
            if not self.after(hit, cursor):
                seen.add(self.url_of(hit))
        return seen

    def group_counts(self, query: tantivy.Query, urls: list[str]) -> dict[str, int]:
        """Matching captures per URL."""
        if not urls:
            return {}
        return dict(self.terms(_and(query, self.queries.keywords("url_k", urls)), "url_k", len(urls)))

    def group_total(self, query: tantivy.Query) -> int:
        """Distinct URLs among the hits: exact up to MAX_EXACT_GROUPS, estimated above."""
        agg = self.searcher.aggregate(query, {"g": {"terms": {"field": "url_k", "size": MAX_EXACT_GROUPS}}})["g"]
        if not agg.get("sum_other_doc_count"):
            return len(agg["buckets"])
        return round(self.searcher.cardinality(query, "url_k"))

    # -- facets ----------------------------------------------------------

    def terms(self, query: tantivy.Query, field_name: str, size: int) -> list[tuple[str, int]]:
        agg = self.searcher.aggregate(query, {"t": {"terms": {"field": field_name, "size": max(size, 1)}}})
        return [(b["key"], int(b["doc_count"])) for b in agg["t"]["buckets"]]

    def facets(self, query: tantivy.Query) -> dict[str, list[tuple[str, int]]]:
        """Hits per value of every facet, most first (ties by value), empty values left out."""
        spec = {name: {"terms": {"field": f, "size": FACET_SIZE}} for name, f in FACET_FIELDS.items()}
        result = self.searcher.aggregate(query, spec)
        out = {}
        for name in FACET_FIELDS:
            buckets = [(str(b["key"]), int(b["doc_count"])) for b in result[name]["buckets"] if b["key"] != ""]
            out[name] = sorted(buckets, key=lambda kv: (-kv[1], kv[0]))
        return out

    def as_of(self) -> int:
        """A new cursor's as-of time: now, or the newest capture time in the index if that is later."""
        now = now_us()
        # Only captures dated after now (clock skew, imports) are looked at: usually none, so it is cheap.
        later = tantivy.Query.range_query(self.queries.schema, "at_us", tantivy.FieldType.Integer, now, None,
                                          include_lower=False, use_inverted_index=True)
        found = self.searcher.search(later, limit=1, count=False, order_by_field="at_us")
        return int(found.hits[0][0]) if found.hits else now


def now_us() -> int:
    return time.time_ns() // 1000


def _and(query: tantivy.Query, restriction: tantivy.Query) -> tantivy.Query:
    return tantivy.Query.boolean_query([
        (tantivy.Occur.Must, query), (tantivy.Occur.Must, tantivy.Query.const_score_query(restriction, 0.0))])
