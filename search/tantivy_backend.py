"""The embedded search backend: a tantivy index in a directory.

The layout (language fields, analyzers) is in tantivy_schema, query building
in tantivy_query; this module reads and writes.

Two processes may share the index (the web server and a worker). tantivy
allows one writer at a time across processes, so each add/delete opens a
writer for its batch, waiting while another holds the lock, commits and
releases it; searches reload as soon as meta.json shows a new commit.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote

import tantivy

from crawler.netpolicy import site_host
from search import query as query_language
from search import tantivy_schema as layout
from search.backend import (
    FACET_FIELDS,
    SORTS,
    IndexDoc,
    QuerySyntaxError,
    Rebuild,
    SearchBackend,
    SearchHit,
    SearchQuery,
    SearchResult,
)
from search.cursor import decode as decode_cursor
from search.snippet import SNIPPET_CHARS, fold, highlighted, leading
from search.tantivy_collect import MAX_RESULT_WINDOW, Collector, Hit
from search.tantivy_query import QueryBuilder, micros, utc

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

# Snippets are looked for in this much of the text; past it, the start is shown.
SNIPPET_SCAN_CHARS = 200_000
# Split between tantivy's indexing threads; a bigger heap means fewer,
# larger segments in a bulk load. Memory is touched only as it fills.
WRITER_HEAP = 256_000_000
LOCK_TIMEOUT = 30.0


class TantivyBackend(SearchBackend):
    """A SearchBackend over a tantivy index stored in `index_dir`."""

    def __init__(self, index_dir: Path, lock_timeout: float = LOCK_TIMEOUT) -> None:
        # The index holds text of captures staff withdrew until they are deleted: only we may enter.
        index_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._dir = index_dir
        self._lock_timeout = lock_timeout
        self._schema = layout.build_schema()
        try:
            self._index = tantivy.Index(self._schema, path=str(index_dir), reuse=True)
        except ValueError as error:
            msg = (f"{index_dir} holds a search index of an older layout; rebuild it with "
                   f"`python -m archive reindex` ({error})")
            raise RuntimeError(msg) from error
        analyzers = layout.analyzers()
        for suffix, analyzer in analyzers.items():
            self._index.register_tokenizer(f"lang_{suffix}", analyzer)
        self._queries = QueryBuilder(self._schema, analyzers)
        # Reloaded by hand when meta.json changes: immediate, and cheap to check.
        self._index.config_reader("manual")
        self._seen_meta: tuple[int, int, int] | None = None
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        self._dir_id = _dir_identity(index_dir)  # `reindex` swaps a new directory in: see _follow_swap

    # -- writing ---------------------------------------------------------

    def add(self, docs: Iterable[IndexDoc]) -> int:
        """Add or replace documents with one writer and one commit."""
        with self._write_lock, self._writer() as writer:
            existing = self._searcher(force_reload=True)  # we hold the lock: it is current
            seen: set[str] = set()
            added = 0
            for doc in docs:
                # Deleting only ids that exist keeps bulk loads of new
                # documents as fast as plain adds.
                if doc.id in seen or existing.doc_freq("id", doc.id):
                    writer.delete_documents_by_term("id", doc.id)
                seen.add(doc.id)
                writer.add_document(_document(doc))
                added += 1
            writer.commit()
        self._searcher(force_reload=True)
        return added

    def delete(self, ids: Iterable[str]) -> None:
        """Delete documents by id with one commit; unknown ids are ignored."""
        with self._write_lock, self._writer() as writer:
            for doc_id in ids:
                writer.delete_documents_by_term("id", doc_id)
            writer.commit()
        self._searcher(force_reload=True)

    def _writer(self) -> _WriterSession:
        self._check_open()
        return _WriterSession(self._index, self._lock_timeout)

    # -- reading ---------------------------------------------------------

    def count(self) -> int:
        """Number of live (not deleted) documents."""
        return self._searcher().num_docs

    def search(self, query: SearchQuery) -> SearchResult:
        """Run a query with its filters; search.query describes the syntax,
        search.tantivy_collect the orders and paging."""
        _check_paging(query)
        tree = query_language.parse_normalized(query.q)
        text_query = self._queries.build(tree) if tree is not None else tantivy.Query.all_query()
        if text_query is None:
            return SearchResult(total=0, hits=[], facets=_no_facets() if query.facets else {})
        sort = query.sort if tree is not None else ("oldest" if query.sort == "oldest" else "newest")
        cursor = decode_cursor(query.cursor, sort, query.group_by_url) if query.cursor else None
        searcher = self._searcher()
        collect = Collector(searcher, self._queries, sort)
        # Later pages see only what existed at the first one (see search.cursor).
        as_of = [self._queries.at_range(None, cursor.as_of_us)] if cursor else []
        filtered = self._queries.filtered(text_query, query, as_of)
        # Relevance pages go on from a position, time-sorted ones from the last key (search.cursor).
        start, after = query.offset, cursor
        if cursor is not None and sort == "relevance":
            start, after = cursor.position, None
        wanted = start + query.limit + 1  # one more tells whether a next page exists
        if query.group_by_url:
            found = collect.groups(filtered, wanted, after)
            total = collect.group_total(filtered)
        else:
            found = collect.ordered(filtered, wanted, after)
            total = collect.total if collect.total is not None else collect.count(filtered)
        page = found[start : start + query.limit]
        counts = collect.group_counts(filtered, [collect.url_of(h) for h in page]) if query.group_by_url else {}
        next_cursor = None
        if len(found) > start + query.limit and page:
            as_of_us = cursor.as_of_us if cursor else collect.as_of()
            position = start + query.limit if sort == "relevance" else 0
            next_cursor = collect.cursor_for(page[-1], as_of_us, query.group_by_url, position).encode()
        hits = self._hits(searcher, page, text_query if tree is not None else None, counts)
        facets = collect.facets(filtered) if query.facets else {}
        return SearchResult(total=total, hits=hits, facets=facets, next_cursor=next_cursor)

    def _hits(self, searcher: tantivy.Searcher, page: list[Hit], text_query: tantivy.Query | None,
              counts: dict[str, int]) -> list[SearchHit]:
        generators: dict[str, tantivy.SnippetGenerator] = {}
        hits = []
        for hit in page:
            doc = hit.doc(searcher)
            suffix = layout.suffix(doc.get_first("lang"))
            text = _original(doc, "text_orig", f"text_{suffix}")
            snippet = ""
            if text_query is not None:
                if suffix not in generators:
                    generators[suffix] = self._snippet_generator(searcher, text_query, f"text_{suffix}")
                snippet = _snippet(generators[suffix], doc, f"text_{suffix}", text)
            url = doc.get_first("url_s").decode("utf-8")
            hits.append(
                SearchHit(
                    id=doc.get_first("id"),
                    url=url,
                    title=_original(doc, "title_orig", f"title_{suffix}"),
                    captured_at=doc.get_first("captured_at"),
                    snippet=snippet or leading(text),
                    score=hit.score if text_query is not None else 0.0,
                    domain=doc.get_first("domain"),
                    lang=doc.get_first("lang"),
                    status=doc.get_first("status"),
                    removed=bool(doc.get_first("removed")),
                    outcome=doc.get_first("outcome") or "",
                    countries=tuple(doc.get_all("countries")),
                    group_count=counts.get(url, 1),
                )
            )
        return hits

    def _snippet_generator(
        self, searcher: tantivy.Searcher, text_query: tantivy.Query, field: str
    ) -> tantivy.SnippetGenerator:
        generator = tantivy.SnippetGenerator.create(searcher, text_query, self._schema, field)
        generator.set_max_num_chars(SNIPPET_CHARS)
        return generator

    def _searcher(self, force_reload: bool = False) -> tantivy.Searcher:
        """A searcher that sees every commit made so far, by any process."""
        self._check_open()
        with self._read_lock:
            meta = self._meta_stamp()
            if force_reload or meta != self._seen_meta:
                self._reload()
                self._seen_meta = meta
            return self._index.searcher()

    def _meta_stamp(self) -> tuple[int, int, int] | None:
        # tantivy replaces meta.json (write, then rename) on every commit.
        try:
            st = os.stat(self._dir / "meta.json")
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def _reload(self) -> None:
        # Another process may garbage-collect a segment between our reading
        # meta.json and opening its files; a second look finds the new ones.
        for attempt in range(5):
            try:
                self._index.reload()
                return
            except ValueError:
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _check_open(self) -> None:
        if self._closed:
            msg = "search backend is closed"
            raise RuntimeError(msg)
        self._follow_swap()

    def close(self) -> None:
        """Drop the index handle; further calls raise RuntimeError."""
        self._closed = True
        self._index = None

    # -- rebuilding (`python -m archive reindex`) --------------------------

    def rebuild(self, resume: str | None = None) -> TantivyRebuild:
        """A new index in a sibling directory; ``resume`` (a Rebuild's name) reopens an unfinished one."""
        return TantivyRebuild(self._dir, resume)

    def _follow_swap(self) -> None:
        """Reopen the index when `reindex` has put a new directory in its place (any process may have)."""
        now = _dir_identity(self._dir)
        if now is None or now == self._dir_id:  # None: mid-swap without renameat2; keep the old one a moment
            return
        with self._read_lock:
            index = tantivy.Index(self._schema, path=str(self._dir), reuse=True)
            for suffix, analyzer in layout.analyzers().items():
                index.register_tokenizer(f"lang_{suffix}", analyzer)
            index.config_reader("manual")
            self._index, self._dir_id, self._seen_meta = index, now, None


def _document(doc: IndexDoc) -> tantivy.Document:
    try:
        return _fields(doc)
    except ValueError:
        # tantivy refuses strings that are not valid Unicode (lone
        # surrogates); replace the bad characters rather than lose the batch.
        clean = {k: _valid(v) for k, v in vars(doc).items()}
        return _fields(IndexDoc(**clean))


def _fields(doc: IndexDoc) -> tantivy.Document:
    # Kept lean: in a bulk load this runs once per document while tantivy's
    # indexing threads wait for input.
    suffix = layout.suffix(doc.lang)
    title, text = fold(doc.title), fold(doc.text)
    captured = utc(doc.captured_at, "captured_at")
    fields = {
        "id": doc.id,
        "domain": site_host(doc.domain),
        "lang": doc.lang,
        "url": fold(unquote(doc.url)),
        "url_s": doc.url.encode("utf-8"),
        f"title_{suffix}": title,
        f"text_{suffix}": text,
        "captured_at": captured,
        "at_us": micros(captured),
        "year": f"{captured.year:04d}",
        "month": f"{captured.year:04d}-{captured.month:02d}",
        "status": int(doc.status),
        "removed": int(doc.removed),
        "outcome": doc.outcome,
        "url_k": doc.url,
    }
    if title != doc.title:
        fields["title_orig"] = doc.title.encode("utf-8")
    if text != doc.text:
        fields["text_orig"] = doc.text.encode("utf-8")
    document = tantivy.Document(**fields)
    for country in doc.countries:
        document.add_text("countries", country.upper())
    for authority in doc.authorities:
        document.add_text("authorities", authority)
    for order in doc.orders:
        document.add_text("orders", order)
    for register in doc.registers:
        document.add_text("registers", register)
    return document


def _valid(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8", errors="replace").decode("utf-8")
    if isinstance(value, tuple):
        return tuple(_valid(v) for v in value)
    return value


def _check_paging(query: SearchQuery) -> None:
    if query.limit < 0 or query.offset < 0:
        msg = "limit and offset must not be negative"
        raise QuerySyntaxError(msg, "offset" if query.offset < 0 else "limit")
    if query.offset + query.limit > MAX_RESULT_WINDOW:
        msg = f"results beyond the first {MAX_RESULT_WINDOW} are not available; page further with the cursor"
        raise QuerySyntaxError(msg, "offset")
    if query.cursor and query.offset:
        msg = "give either a cursor or an offset, not both: the cursor already says where the page starts"
        raise QuerySyntaxError(msg, "cursor")
    if query.sort not in SORTS:
        msg = f"unknown sort {query.sort!r}; choose one of: {', '.join(SORTS)}"
        raise QuerySyntaxError(msg, "sort")


def _no_facets() -> dict[str, list[tuple[str, int]]]:
    return {name: [] for name in FACET_FIELDS}


def _original(doc: tantivy.Document, original: str, folded: str) -> str:
    value = doc.get_first(original)
    if value is not None:
        return value.decode("utf-8")
    return doc.get_first(folded) or ""


def _snippet(generator: tantivy.SnippetGenerator, doc: tantivy.Document, field: str, text: str) -> str:
    if len(text) > SNIPPET_SCAN_CHARS:
        # Highlighting scans the whole text; bound the cost for huge pages.
        text = text[:SNIPPET_SCAN_CHARS]
        doc = tantivy.Document(**{field: fold(text)})
    return highlighted(text, generator.snippet_from_doc(doc))


class _WriterSession:
    """The index writer for one batch: waits for the lock; on exit rolls
    back if the batch failed, lets merges finish and releases the lock."""

    def __init__(self, index: tantivy.Index, timeout: float) -> None:
        self._index = index
        self._timeout = timeout
        self._writer: tantivy.IndexWriter | None = None

    def __enter__(self) -> tantivy.IndexWriter:
        deadline = time.monotonic() + self._timeout
        delay = 0.01
        while True:
            try:
                self._writer = self._index.writer(heap_size=WRITER_HEAP)
                return self._writer
            except ValueError as error:
                # The one place a message is read: tantivy's binding raises a plain ValueError for
                # every writer error and has no type or attribute for "another writer holds the lock".
                if "LockBusy" not in str(error):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    msg = f"search index is locked by another writer for over {self._timeout:.0f} s"
                    raise TimeoutError(msg) from error
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.5)

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if exc_type is not None:
            writer.rollback()
        # Merging now keeps the segment count low when batches are small;
        # consuming the writer releases the lock for the other process.
        writer.wait_merging_threads()


# -- rebuilding (`python -m archive reindex`) --------------------------------

REBUILD_SUFFIX = ".rebuild"
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _dir_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    rename = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if rename is None:
        return False
    return rename(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


class TantivyRebuild(Rebuild):
    """A new index filled in ``<index>.rebuild`` beside the live one, which keeps serving.

    Each add() commits, so a rebuild killed midway is reopened where it was by passing its
    ``name`` as ``resume``. finish() swaps the two directories in one rename; every
    TantivyBackend open on the live path (in any process) notices and reopens.
    """

    def __init__(self, index_dir: Path, resume: str | None = None) -> None:
        self.live = index_dir
        self.name = index_dir.name + REBUILD_SUFFIX
        self.dir = index_dir.with_name(self.name)
        if resume != self.name and self.dir.exists():
            shutil.rmtree(self.dir)  # left by an attempt nobody resumes: start afresh
        try:
            self._backend: TantivyBackend | None = TantivyBackend(self.dir)
        except RuntimeError:  # an unfinished build of an older layout cannot be resumed
            shutil.rmtree(self.dir)
            self._backend = TantivyBackend(self.dir)

    def add(self, docs: Iterable[IndexDoc]) -> int:
        """Add documents to the new index and commit (not searchable until finish())."""
        if self._backend is None:
            msg = "this rebuild has finished or been aborted"
            raise RuntimeError(msg)
        return self._backend.add(docs)

    def count(self) -> int:
        """Documents in the new index so far."""
        return self._backend.count() if self._backend else 0

    def finish(self) -> None:
        """Put the new index in the live one's place and drop the old one."""
        if self._backend is None:
            msg = "this rebuild has finished or been aborted"
            raise RuntimeError(msg)
        self._backend.close()
        self._backend = None
        if not self.live.exists():
            os.rename(self.dir, self.live)
        elif _exchange(self.dir, self.live):
            shutil.rmtree(self.dir)  # now the old index
        else:  # no renameat2: two renames, with a moment in which searches keep the old one open
            old = self.live.with_name(self.live.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(self.live, old)
            os.rename(self.dir, self.live)
            shutil.rmtree(old)

    def abort(self) -> None:
        """Drop the new index; the live one is untouched."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        shutil.rmtree(self.dir, ignore_errors=True)
