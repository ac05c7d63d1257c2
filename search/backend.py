"""The search backend interface, independent of any engine.

The embedded tantivy backend serves a single machine; an Elasticsearch
backend can implement the same interface for larger deployments. Callers
only ever see these types.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

BACKENDS = ("tantivy", "elasticsearch")


@dataclass(frozen=True)
class IndexDoc:
    """One capture's searchable content."""

    id: str  # capture id
    url: str
    domain: str  # host, lower-case, no port, no leading "www."
    title: str
    text: str
    lang: str  # ISO 639-1 or ""
    captured_at: datetime  # timezone-aware UTC
    status: int  # HTTP status
    removed: bool = False  # this text has since been removed (an open removal event names this capture)
    outcome: str = ""  # the capture's outcome label: ok, not_found, legal, blockpage, ... ("" if unclassified)
    countries: tuple[str, ...] = ()  # ISO 3166 codes: the vantage's, and those of published orders naming the URL
    authorities: tuple[str, ...] = ()  # authorities of published takedown orders naming the URL
    orders: tuple[str, ...] = ()  # ids of published takedown orders naming the URL (issue 17)
    registers: tuple[str, ...] = ()  # registers those orders came from (rkn, lumen, github-gov), and ooni


# Facets a query can ask for, each with its counts; year and month are of the capture time (UTC).
FACETS = ("domain", "outcome", "country", "authority", "lang", "year", "month")
# The indexed field behind each facet in both engines; countries and authorities hold several values.
FACET_FIELDS = {"domain": "domain", "outcome": "outcome", "country": "countries", "authority": "authorities",
                "lang": "lang", "year": "year", "month": "month"}
SORTS = ("relevance", "newest", "oldest")


@dataclass(frozen=True)
class SearchQuery:
    """A user's query plus filters. Empty `q` lists everything, newest first."""

    q: str
    domain: str | None = None
    since: datetime | None = None  # inclusive, aware UTC
    until: datetime | None = None  # inclusive, aware UTC
    limit: int = 10
    offset: int = 0
    removed_only: bool = False  # only text that has since been removed
    outcome: str | None = None
    country: str | None = None
    authority: str | None = None
    order: int | None = None  # captures of URLs a published takedown order names
    register: str | None = None  # ... an order imported from this register names (or OONI measured, "ooni")
    lang: str | None = None
    year: int | None = None
    month: str | None = None  # "YYYY-MM"
    # One of SORTS. relevance: score desc, then capture time desc, then id asc; newest: capture time
    # desc, id asc; oldest: capture time asc, id asc (ids compared as strings). An empty q has no
    # scores: relevance means newest there.
    sort: str = "relevance"
    # Opaque, from SearchResult.next_cursor: the page after it (offset must then be 0; the sort and
    # grouping must be the first page's). It carries an as-of time (the later of the first page's
    # clock and the newest capture then indexed): captures made after it are left out of later
    # pages, so pages neither repeat nor skip while captures arrive. QuerySyntaxError if damaged.
    cursor: str | None = None
    # Count hits per value of each of FACETS over all matching captures, not just this page (with
    # group_by_url too: captures, not URLs); at most 50 values each, most first, ties by value;
    # empty values are left out.
    facets: bool = False
    # One hit per URL: its first capture in the sort order (best-scoring for relevance, newest for
    # newest, oldest for oldest), with group_count = its matching captures; groups are ordered by
    # that hit. total then counts URLs (exact up to 10,000, estimated beyond).
    group_by_url: bool = False


@dataclass(frozen=True)
class SearchHit:
    """One result. `snippet` is safe HTML: escaped text with <mark> around
    matched words, to be inserted into a page as is."""

    id: str
    url: str
    title: str
    captured_at: datetime
    snippet: str
    score: float
    domain: str
    lang: str
    status: int
    removed: bool = False
    outcome: str = ""
    countries: tuple[str, ...] = ()
    group_count: int = 1  # with group_by_url: how many matching captures of this URL the hit stands for


@dataclass(frozen=True)
class SearchResult:
    """A page of hits and the total number of matching documents."""

    total: int  # matching documents (with group_by_url: matching URLs)
    hits: list[SearchHit]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # facet -> (value, count), most first
    next_cursor: str | None = None  # None on the last page


class QuerySyntaxError(ValueError):
    """The query cannot be parsed; the message says why, for a 400 reply, and ``field`` names the input
    at fault (``q``, ``cursor``, ``offset``, ``limit``, ``sort``) so a reply can point at it."""

    def __init__(self, message: str, field: str = "q") -> None:
        super().__init__(message)
        self.field = field


class SearchUnavailable(RuntimeError):
    """The search server stopped answering and did not come back in time; the message says which
    server and for how long. What was written before it is kept."""


class Rebuild(ABC):
    """A new index filled beside the live one, which keeps serving searches
    until finish() puts the new one in its place in one step.

    Use as a context manager: leaving it with an exception calls abort().
    `reindex` keeps `name` in its checkpoint and passes it back as
    `SearchBackend.rebuild(resume=name)` to continue an interrupted rebuild."""

    name: str = ""  # the new index (directory or index name), for resuming

    @abstractmethod
    def add(self, docs: Iterable[IndexDoc]) -> int:
        """Load documents into the new index (not searchable yet); return how many."""

    @abstractmethod
    def finish(self) -> None:
        """Make the new index the live one atomically and drop the old one."""

    @abstractmethod
    def abort(self) -> None:
        """Drop the new index; the live one is untouched. Safe to call twice."""

    def __enter__(self) -> Rebuild:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None:
            self.abort()


class SearchBackend(ABC):
    """A full-text index of captures."""

    @abstractmethod
    def add(self, docs: Iterable[IndexDoc]) -> int:
        """Add or replace (same id) documents, commit, return how many."""

    @abstractmethod
    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents by id and commit; unknown ids are ignored."""

    @abstractmethod
    def search(self, query: SearchQuery) -> SearchResult:
        """Run a query; raise QuerySyntaxError if it cannot be parsed."""

    @abstractmethod
    def count(self) -> int:
        """Number of documents in the index."""

    @abstractmethod
    def close(self) -> None:
        """Release files and locks; the object is unusable afterwards."""

    def rebuild(self, resume: str | None = None) -> Rebuild:
        """Start building a fresh index to replace this one (`archive reindex`);
        with `resume` (a Rebuild's `name`), continue that unfinished one instead."""
        msg = f"{type(self).__name__} cannot rebuild its index"
        raise NotImplementedError(msg)

    def __enter__(self) -> SearchBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


