"""The embedded search backend: a tantivy index in a directory.

The layout (language fields, analyzers) is in tantivy_schema, query building
in tantivy_query; this module reads and writes.

Two processes may share the index (the web server and a worker). tantivy
allows one writer at a time across processes, so each add/delete opens a
writer for its batch, waiting while another holds the lock, commits and
releases it; searches reload as soon as meta.json shows a new commit.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote

import tantivy

from search import query as query_language
from search import tantivy_schema as layout
from search.backend import (
    IndexDoc,
    QuerySyntaxError,
    SearchBackend,
    SearchHit,
    SearchQuery,
    SearchResult,
    normalize_domain,
)
from search.snippet import SNIPPET_CHARS, fold, highlighted, leading
from search.tantivy_query import QueryBuilder, utc

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

# Results beyond this are not worth ranking, as in Elasticsearch.
MAX_RESULT_WINDOW = 10_000
# Snippets are looked for in this much of the text; past it, the start is shown.
SNIPPET_SCAN_CHARS = 200_000
# Split between tantivy's indexing threads; a bigger heap means fewer,
# larger segments in a bulk load. Memory is touched only as it fills.
WRITER_HEAP = 256_000_000
LOCK_TIMEOUT = 30.0


class TantivyBackend(SearchBackend):
    """A SearchBackend over a tantivy index stored in `index_dir`."""

    def __init__(self, index_dir: Path, lock_timeout: float = LOCK_TIMEOUT) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self._dir = index_dir
        self._lock_timeout = lock_timeout
        self._schema = layout.build_schema()
        try:
            self._index = tantivy.Index(self._schema, path=str(index_dir), reuse=True)
        except ValueError as error:
            msg = f"{index_dir} holds an index of another layout; rebuild it ({error})"
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
        """Run a query with its filters; search.query describes the syntax."""
        if query.limit < 0 or query.offset < 0:
            msg = "limit and offset must not be negative"
            raise QuerySyntaxError(msg)
        if query.offset + query.limit > MAX_RESULT_WINDOW:
            msg = f"results beyond the first {MAX_RESULT_WINDOW} are not available"
            raise QuerySyntaxError(msg)
        tree = query_language.parse(fold(query.q))
        text_query = self._queries.build(tree) if tree is not None else tantivy.Query.all_query()
        if text_query is None:
            return SearchResult(total=0, hits=[])
        searcher = self._searcher()
        # An empty query browses: newest captures first.
        order = {} if tree is not None else {"order_by_field": "captured_at", "order": tantivy.Order.Desc}
        found = searcher.search(
            self._queries.filtered(text_query, query),
            limit=max(query.limit, 1),  # tantivy wants one; limit=0 asks for the total
            count=True,
            offset=query.offset,
            **order,
        )
        generators: dict[str, tantivy.SnippetGenerator] = {}
        hits = []
        for score, address in found.hits[: query.limit]:
            doc = searcher.doc(address)
            suffix = layout.suffix(doc.get_first("lang"))
            text = _original(doc, "text_orig", f"text_{suffix}")
            snippet = ""
            if tree is not None:
                if suffix not in generators:
                    generators[suffix] = self._snippet_generator(searcher, text_query, f"text_{suffix}")
                snippet = _snippet(generators[suffix], doc, f"text_{suffix}", text)
            hits.append(
                SearchHit(
                    id=doc.get_first("id"),
                    url=doc.get_first("url_s").decode("utf-8"),
                    title=_original(doc, "title_orig", f"title_{suffix}"),
                    captured_at=doc.get_first("captured_at"),
                    snippet=snippet or leading(text),
                    score=float(score) if tree is not None else 0.0,
                    domain=doc.get_first("domain"),
                    lang=doc.get_first("lang"),
                    status=doc.get_first("status"),
                    removed=bool(doc.get_first("removed")),
                )
            )
        return SearchResult(total=found.count, hits=hits)

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

    def close(self) -> None:
        """Drop the index handle; further calls raise RuntimeError."""
        self._closed = True
        self._index = None


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
    fields = {
        "id": doc.id,
        "domain": normalize_domain(doc.domain),
        "lang": doc.lang,
        "url": fold(unquote(doc.url)),
        "url_s": doc.url.encode("utf-8"),
        f"title_{suffix}": title,
        f"text_{suffix}": text,
        "captured_at": utc(doc.captured_at, "captured_at"),
        "status": int(doc.status),
        "removed": int(doc.removed),
    }
    if title != doc.title:
        fields["title_orig"] = doc.title.encode("utf-8")
    if text != doc.text:
        fields["text_orig"] = doc.text.encode("utf-8")
    return tantivy.Document(**fields)


def _valid(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8", errors="replace").decode("utf-8")
    return value


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
