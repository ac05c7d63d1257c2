"""The embedded search backend: a tantivy index in a directory.

Schema: each document's title and text go into the fields of its language
(ru and en get Snowball stemming, every other language is only lower-cased),
and a query is analyzed for every language's fields, so "блокировка" finds a
Russian page saying "блокировки" and a Kyrgyz page saying "блокировка". The
original document is stored once, as a JSON blob, for hits and snippets.

Two processes may share the index (the web server and a worker); tantivy
allows one writer at a time, so each add/delete takes the writer lock for
one batch, waiting for it when busy, and searches reload on a new commit.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote

import tantivy

from search import query as query_language
from search.backend import (
    IndexDoc,
    QuerySyntaxError,
    SearchBackend,
    SearchHit,
    SearchQuery,
    SearchResult,
)
from search.snippet import SNIPPET_CHARS, fold, highlighted, leading

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

# Languages with their own stemmed fields; the rest share "xx" fields.
STEMMED = {"ru": "russian", "en": "english"}
SUFFIXES = (*STEMMED, "xx")
# A title match says more about a page than one in its body.
TITLE_BOOST = 2.0
URL_BOOST = 1.0
# Results beyond this are not worth ranking: like Elasticsearch's window.
MAX_RESULT_WINDOW = 10_000
# Snippets are looked for in this much of the text; past it, the start is shown.
SNIPPET_SCAN_CHARS = 200_000
WRITER_HEAP = 256_000_000
LOCK_TIMEOUT = 30.0


# Words are runs of letters, digits and marks; Chinese and Japanese, written
# without spaces, become one token per character (as Elasticsearch's standard
# tokenizer does), so that their words can be found as phrases.
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
WORD_PATTERN = rf"[{_CJK}]|[[\p{{L}}\p{{N}}\p{{M}}]--[{_CJK}]]+"
# In bytes: long enough for agglutinative Kyrgyz words in Cyrillic.
MAX_TOKEN_BYTES = 100


def _analyzer(language: str | None) -> tantivy.TextAnalyzer:
    """Stemmed analyzers keep tantivy's fast simple tokenizer (their pages
    are Russian or English); the catch-all one handles any script."""
    if language:
        tokenizer = tantivy.Tokenizer.simple()
    else:
        tokenizer = tantivy.Tokenizer.regex(WORD_PATTERN)
    builder = (
        tantivy.TextAnalyzerBuilder(tokenizer)
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
        .filter(tantivy.Filter.lowercase())
    )
    if language:
        builder = builder.filter(tantivy.Filter.stemmer(language))
    return builder.build()


def _build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    for name in ("id", "domain", "lang"):
        builder.add_text_field(name, stored=True, tokenizer_name="raw")
    builder.add_text_field("url", tokenizer_name="lang_xx")
    builder.add_bytes_field("url_s", stored=True)
    for suffix in SUFFIXES:
        # Stored ё-folded; the original is stored beside it only if it differs.
        builder.add_text_field(f"title_{suffix}", stored=True, tokenizer_name=f"lang_{suffix}")
        builder.add_text_field(f"text_{suffix}", stored=True, tokenizer_name=f"lang_{suffix}")
    builder.add_bytes_field("title_orig", stored=True)
    builder.add_bytes_field("text_orig", stored=True)
    builder.add_date_field("captured_at", stored=True, indexed=True, fast=True)
    builder.add_integer_field("status", stored=True, indexed=True)
    return builder.build()


def _suffix(lang: str) -> str:
    return lang if lang in STEMMED else "xx"


def normalize_domain(domain: str) -> str:
    """Lower-case host without port, trailing dot or leading "www."."""
    host = domain.strip().lower().rstrip(".")
    if host.startswith("[") and "]" in host:  # IPv6 literal with a port
        host = host[: host.index("]") + 1]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.removeprefix("www.")


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        msg = f"{what} must be timezone-aware, got {value!r}"
        raise ValueError(msg)
    return value.astimezone(UTC)


class TantivyBackend(SearchBackend):
    """A SearchBackend over a tantivy index stored in `index_dir`."""

    def __init__(self, index_dir: Path, lock_timeout: float = LOCK_TIMEOUT) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self._dir = index_dir
        self._lock_timeout = lock_timeout
        self._schema = _build_schema()
        try:
            self._index = tantivy.Index(self._schema, path=str(index_dir), reuse=True)
        except ValueError as error:
            msg = f"{index_dir} holds an index of another layout; rebuild it ({error})"
            raise RuntimeError(msg) from error
        self._analyzers = {"xx": _analyzer(None)}
        self._analyzers.update({s: _analyzer(lang) for s, lang in STEMMED.items()})
        for suffix, analyzer in self._analyzers.items():
            self._index.register_tokenizer(f"lang_{suffix}", analyzer)
        # Reloaded by hand when meta.json changes: immediate, and cheap to check.
        self._index.config_reader("manual")
        self._seen_meta: tuple[int, int, int] | None = None
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False

    # -- writing ---------------------------------------------------------

    def add(self, docs: Iterable[IndexDoc]) -> int:
        """Add or replace documents in one writer session and one commit."""
        with self._write_lock, self._writer() as writer:
            existing = self._searcher(force_reload=True)
            seen: set[str] = set()
            added = 0
            for doc in docs:
                # Deleting only ids that exist keeps bulk loads of new
                # documents as fast as plain adds.
                if doc.id in seen or existing.doc_freq("id", doc.id):
                    writer.delete_documents_by_term("id", doc.id)
                seen.add(doc.id)
                writer.add_document(self._document(doc))
                added += 1
            writer.commit()
        self._searcher(force_reload=True)
        return added

    def delete(self, ids: Iterable[str]) -> None:
        """Delete documents by id in one commit."""
        with self._write_lock, self._writer() as writer:
            for doc_id in ids:
                writer.delete_documents_by_term("id", doc_id)
            writer.commit()
        self._searcher(force_reload=True)

    def _document(self, doc: IndexDoc) -> tantivy.Document:
        # Kept lean: in a bulk load this runs once per document while
        # tantivy's indexing threads wait for input.
        suffix = _suffix(doc.lang)
        title, text = fold(doc.title), fold(doc.text)
        fields = {
            "id": doc.id,
            "domain": normalize_domain(doc.domain),
            "lang": doc.lang,
            "url": fold(unquote(doc.url)),
            "url_s": doc.url.encode("utf-8"),
            f"title_{suffix}": title,
            f"text_{suffix}": text,
            "captured_at": _utc(doc.captured_at, "captured_at"),
            "status": int(doc.status),
        }
        if title != doc.title:
            fields["title_orig"] = doc.title.encode("utf-8")
        if text != doc.text:
            fields["text_orig"] = doc.text.encode("utf-8")
        return tantivy.Document(**fields)

    def _writer(self) -> _WriterSession:
        return _WriterSession(self._index, self._lock_timeout)

    # -- reading ---------------------------------------------------------

    def count(self) -> int:
        """Number of live (not deleted) documents."""
        return self._searcher().num_docs

    def search(self, query: SearchQuery) -> SearchResult:
        """Run a query with its filters; see search.query for the syntax."""
        if query.limit < 0 or query.offset < 0:
            msg = "limit and offset must not be negative"
            raise QuerySyntaxError(msg)
        if query.offset + query.limit > MAX_RESULT_WINDOW:
            msg = f"results beyond the first {MAX_RESULT_WINDOW} are not available"
            raise QuerySyntaxError(msg)
        tree = query_language.parse(fold(query.q))
        text_query = self._build_top(tree) if tree is not None else tantivy.Query.all_query()
        if text_query is None:  # only punctuation: nothing can match
            return SearchResult(total=0, hits=[])
        full_query = self._filtered(text_query, query)
        searcher = self._searcher()
        # tantivy wants a positive limit; limit=0 asks for the total only.
        order = {"order_by_field": "captured_at", "order": tantivy.Order.Desc} if tree is None else {}
        found = searcher.search(
            full_query, limit=max(query.limit, 1), count=True, offset=query.offset, **order
        )
        generators: dict[str, tantivy.SnippetGenerator] = {}
        hits = []
        for score, address in found.hits[: query.limit]:
            doc = searcher.doc(address)
            lang = doc.get_first("lang")
            field = f"text_{_suffix(lang)}"
            text = _original(doc, "text_orig", field)
            snippet = ""
            if tree is not None:
                if field not in generators:
                    generators[field] = self._snippet_generator(searcher, text_query, field)
                snippet = self._snippet(generators[field], doc, field, text)
            hits.append(
                SearchHit(
                    id=doc.get_first("id"),
                    url=doc.get_first("url_s").decode("utf-8"),
                    title=_original(doc, "title_orig", f"title_{_suffix(lang)}"),
                    captured_at=doc.get_first("captured_at"),
                    snippet=snippet or leading(text),
                    score=float(score) if tree is not None else 0.0,
                    domain=doc.get_first("domain"),
                    lang=lang,
                    status=doc.get_first("status"),
                )
            )
        return SearchResult(total=found.count, hits=hits)

    def _snippet_generator(
        self, searcher: tantivy.Searcher, text_query: tantivy.Query, field: str
    ) -> tantivy.SnippetGenerator:
        generator = tantivy.SnippetGenerator.create(searcher, text_query, self._schema, field)
        generator.set_max_num_chars(SNIPPET_CHARS)
        return generator

    @staticmethod
    def _snippet(
        generator: tantivy.SnippetGenerator, doc: tantivy.Document, field: str, text: str
    ) -> str:
        if len(text) > SNIPPET_SCAN_CHARS:
            # Highlighting scans the text; bound the cost for huge pages.
            text = text[:SNIPPET_SCAN_CHARS]
            doc = tantivy.Document(**{field: fold(text)})
        return highlighted(text, generator.snippet_from_doc(doc))

    def _filtered(self, text_query: tantivy.Query, query: SearchQuery) -> tantivy.Query:
        filters = []
        if query.domain:
            filters.append(
                tantivy.Query.term_query(self._schema, "domain", normalize_domain(query.domain))
            )
        if query.since is not None or query.until is not None:
            filters.append(
                tantivy.Query.range_query(
                    self._schema,
                    "captured_at",
                    tantivy.FieldType.Date,
                    _utc(query.since, "since") if query.since else tantivy.MIN_DATETIME,
                    _utc(query.until, "until") if query.until else tantivy.MAX_DATETIME,
                )
            )
        if not filters:
            return text_query
        # Filters select; they must not change the ranking.
        clauses = [(tantivy.Occur.Must, text_query)]
        clauses += [
            (tantivy.Occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in filters
        ]
        return tantivy.Query.boolean_query(clauses)

    def _build_top(self, node: query_language.Node) -> tantivy.Query | None:
        """A query for a node that stands alone: NOT x means all but x."""
        if isinstance(node, query_language.Not):
            return self._build(query_language.And((node,)))
        return self._build(node)

    def _build(self, node: query_language.Node) -> tantivy.Query | None:
        """The tantivy query for a parsed node; None if it has no words."""
        if isinstance(node, query_language.Term | query_language.Phrase):
            return self._words(node.text)
        if isinstance(node, query_language.Or):
            parts = [q for q in map(self._build_top, node.nodes) if q is not None]
            if not parts:
                return None
            return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in parts])
        if isinstance(node, query_language.Not):
            return self._build_top(node)
        must, must_not = [], []
        for child in node.nodes:
            if isinstance(child, query_language.Not):
                part = self._build(child.node)
                if part is not None:
                    must_not.append(part)
            else:
                part = self._build(child)
                if part is not None:  # a punctuation-only word is no constraint
                    must.append(part)
        if not must and not must_not:
            return None
        clauses = [(tantivy.Occur.Must, q) for q in must or [tantivy.Query.all_query()]]
        clauses += [(tantivy.Occur.MustNot, q) for q in must_not]
        return tantivy.Query.boolean_query(clauses)

    def _words(self, text: str) -> tantivy.Query | None:
        """Match text as a phrase in any field, each analyzed its own way."""
        clauses = []
        for suffix, analyzer in self._analyzers.items():
            tokens = analyzer.analyze(text)
            if not tokens:
                continue
            fields = [(f"title_{suffix}", TITLE_BOOST), (f"text_{suffix}", 1.0)]
            if suffix == "xx":
                fields.append(("url", URL_BOOST))
            for field, boost in fields:
                if len(tokens) == 1:
                    part = tantivy.Query.term_query(self._schema, field, tokens[0])
                else:
                    part = tantivy.Query.phrase_query(self._schema, field, tokens)
                if boost != 1.0:
                    part = tantivy.Query.boost_query(part, boost)
                clauses.append((tantivy.Occur.Should, part))
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def _searcher(self, force_reload: bool = False) -> tantivy.Searcher:
        """A searcher that sees every commit made so far, by any process."""
        if self._closed:
            msg = "search backend is closed"
            raise RuntimeError(msg)
        with self._read_lock:
            meta = self._meta_stamp()
            if force_reload or meta != self._seen_meta:
                self._reload()
                self._seen_meta = meta
            return self._index.searcher()

    def _meta_stamp(self) -> tuple[int, int, int] | None:
        # tantivy replaces meta.json atomically on every commit.
        try:
            st = os.stat(self._dir / "meta.json")
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def _reload(self) -> None:
        # Another process may garbage-collect a segment between our reading
        # meta.json and opening its files; the next meta.json is consistent.
        for attempt in range(5):
            try:
                self._index.reload()
                return
            except ValueError:
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def close(self) -> None:
        """Drop the index handle; further calls raise RuntimeError."""
        self._closed = True
        self._index = None


def _original(doc: tantivy.Document, original: str, folded: str) -> str:
    value = doc.get_first(original)
    if value is not None:
        return value.decode("utf-8")
    return doc.get_first(folded) or ""


class _WriterSession:
    """The index writer for one batch: waits for the lock, and on exit
    rolls back if unfinished, waits for merges and releases the lock."""

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
        # Letting merges finish keeps the segment count low when batches are
        # small; consuming the writer releases the lock for the other process.
        writer.wait_merging_threads()
