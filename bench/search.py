"""Benchmark the tantivy search backend against raw tantivy, and the Elasticsearch backend on a
real engine against both, in one run.

    python bench/search.py [--docs 100000] [--queries 200] [--seed 7] [--rounds N] [--no-engine]
    python bench/search.py --smoke          # 200 documents, 20 queries: seconds, for the tests
    nice -n 10 python bench/search.py --docs 1000000

Builds a deterministic synthetic corpus of Russian, English and Kyrgyz-like
documents (Zipf-distributed vocabulary, 100-300 words each, titles, domains,
dates, outcomes, countries and ordering authorities), streamed in chunks so
that a million documents never sit in memory at once. It is indexed through
search.open_backend("tantivy") and through raw tantivy (same analyzers,
language fields and facet columns, one writer, one commit); the same queries
(single words, two-word AND, phrases) run on both, top 10 with snippets and
the seven facets' counts, and it prints indexing docs/s, p50/p95 latency,
their ratios and the process's peak RSS. The same documents and queries also
go through the Elasticsearch backend (a rebuild, as reindex loads it; then the
same searches, run alternately with tantivy's), on ELASTICSEARCH_URL's server
if set, else on the engine of tools/search_engine.py (OpenSearch 2.19.1, one
node, started here), printed beside tantivy's as ratios, and beside the bare
client on a plain index. Targets: indexing ours/raw >= 0.7; p95 under 100 ms
at 1,000,000 documents; peak RSS under 2 GB (this process's; the engine's JVM
has its own heap, -Xmx512m).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tantivy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.settings import Settings  # noqa: E402
from search import IndexDoc, SearchBackend, SearchQuery, open_backend  # noqa: E402
from search.backend import FACET_FIELDS  # noqa: E402
from search.tantivy_backend import WRITER_HEAP  # noqa: E402
from search.tantivy_schema import STEMMED, SUFFIXES, analyzer  # noqa: E402
from tools.es_compat import CompatProxy  # noqa: E402
from tools.search_engine import VERSION, Engine, EngineError  # noqa: E402

RU_ONSETS = list("бвгджзклмнпрстфхцчшщ") + ["пр", "ст", "кр", "тр", "бл", "гр", "сл"]
RU_VOWELS = list("аеиоуыяю")
RU_ENDINGS = ["", "а", "ы", "ов", "ами", "ой", "ом", "е", "ия", "ию", "ть", "ет", "ют", "ал", "ала", "ых"]
KY_VOWELS = [*list("аеиоуы"), "ө", "ү"]
KY_ENDINGS = ["", "дын", "га", "ны", "да", "тан", "лар", "нын", "дөр", "сү"]
EN_ONSETS = list("bcdfghjklmnprstvwz") + ["th", "st", "ch", "sh", "bl", "tr", "pr", "gr"]
EN_VOWELS = ["a", "e", "i", "o", "u", "ea", "ou", "ai"]
EN_ENDINGS = ["", "s", "ed", "ing", "er", "ly", "tion", "ness"]
DOMAINS = [f"site{i}.{tld}" for i in range(200) for tld in ("kg", "ru", "org")]
OUTCOMES = ("ok",) * 12 + ("not_found", "legal", "blockpage", "redirect_notice", "withheld", "changed", "error")
COUNTRIES = ("KG", "RU", "KZ", "TR", "US", "UZ", "TJ", "BY")
AUTHORITIES = ("Roskomnadzor", "Ministry of Culture", "GKNB", "BTK", "Prosecutor General", "Court of Bishkek")
CHUNK = 20_000  # documents generated at once


def make_vocab(rng: random.Random, onsets: list[str], vowels: list[str], size: int) -> list[str]:
    """Pronounceable stems of 1-4 syllables, short ones most common."""
    words: dict[str, None] = {}
    while len(words) < size:
        syllables = rng.choices((1, 2, 3, 4), weights=(2, 5, 4, 2))[0]
        words["".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables))] = None
    return list(words)


class Language:
    """Inflected words drawn with a Zipf distribution over their stems."""

    def __init__(self, rng: np.random.Generator, code: str, stems: list[str], endings: list[str]) -> None:
        self.code = code
        self.rng = rng
        # Every stem with every ending, so that a draw is one array lookup.
        self.vocab = np.array([s + e for s in stems for e in endings], dtype=object)
        self.n_endings = len(endings)
        weights = 1 / np.arange(1, len(stems) + 1) ** 1.05
        self.p = weights / weights.sum()

    def words(self, n: int) -> list[str]:
        stems = self.rng.choice(len(self.p), size=n, p=self.p)
        endings = self.rng.integers(0, self.n_endings, size=n)
        return self.vocab[stems * self.n_endings + endings].tolist()


def make_corpus(n_docs: int, seed: int) -> Iterator[IndexDoc]:
    """The corpus, generated chunk by chunk; the same seed gives the same documents."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    languages = {
        "ru": Language(np_rng, "ru", make_vocab(rng, RU_ONSETS, RU_VOWELS, 40_000), RU_ENDINGS),
        "en": Language(np_rng, "en", make_vocab(rng, EN_ONSETS, EN_VOWELS, 40_000), EN_ENDINGS),
        "ky": Language(np_rng, "ky", make_vocab(rng, RU_ONSETS, KY_VOWELS, 20_000), KY_ENDINGS),
    }
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for first in range(0, n_docs, CHUNK):
        count = min(CHUNK, n_docs - first)
        codes = rng.choices(["ru", "en", "ky"], weights=[5, 4, 1], k=count)
        lengths = [rng.randint(100, 300) for _ in range(count)]
        # One draw per language per chunk: drawing per document is slow.
        pools = {
            code: iter(lang.words(sum(n + 10 for c, n in zip(codes, lengths, strict=True) if c == code)))
            for code, lang in languages.items()
        }
        for j, (code, length) in enumerate(zip(codes, lengths, strict=True)):
            i = first + j
            pool = pools[code]
            words = list(itertools.islice(pool, length))
            title = list(itertools.islice(pool, rng.randint(4, 10)))
            # Sentences of 8-20 words, capitalized, so text looks like text.
            sentences, pos = [], 0
            while pos < len(words):
                k = rng.randint(8, 20)
                sentences.append(" ".join(words[pos : pos + k]).capitalize() + ".")
                pos += k
            domain = rng.choice(DOMAINS)
            outcome = rng.choice(OUTCOMES)
            ordered = outcome != "ok" and rng.random() < 0.3
            yield IndexDoc(
                id=f"cap-{i}",
                # About three captures per URL, as watched pages are captured again.
                url=f"https://{domain}/news/{2020 + i % 5}/{i // 3}",
                domain=domain,
                title=" ".join(title).capitalize(),
                text=" ".join(sentences),
                lang=code,
                captured_at=start + timedelta(minutes=rng.randint(0, 5 * 365 * 24 * 60)),
                status=rng.choice((200, 200, 200, 404, 451)),
                outcome=outcome,
                removed=outcome != "ok" and rng.random() < 0.5,
                countries=tuple(rng.sample(COUNTRIES, 2 if ordered else 1)),
                authorities=(rng.choice(AUTHORITIES),) if ordered else (),
            )


def make_queries(docs: list[IndexDoc], n: int, seed: int) -> list[tuple[str, str]]:
    """(kind, query) pairs in our syntax, taken from (a sample of) documents' own words."""
    rng = random.Random(seed + 1)
    queries = []
    for i in range(n):
        doc = rng.choice(docs)
        words = doc.text.rstrip(".").replace(".", "").lower().split()
        pos = rng.randrange(len(words) - 1)
        kind = ("word", "and", "phrase")[i % 3]
        if kind == "word":
            queries.append((kind, words[pos]))
        elif kind == "and":
            queries.append((kind, f"{words[pos]} {rng.choice(words)}"))
        else:
            queries.append((kind, f'"{words[pos]} {words[pos + 1]}"'))
    return queries


class RawTantivy:
    """tantivy used directly: the same language fields and analyzers, text
    stored in the indexed fields, queries through tantivy's own parser."""

    def __init__(self, path: Path) -> None:
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("id", stored=True, tokenizer_name="raw")
        builder.add_text_field("url", stored=True, tokenizer_name="lang_xx")
        for suffix in SUFFIXES:
            builder.add_text_field(f"title_{suffix}", stored=True, tokenizer_name=f"lang_{suffix}")
            builder.add_text_field(f"text_{suffix}", stored=True, tokenizer_name=f"lang_{suffix}")
        builder.add_date_field("captured_at", stored=True, indexed=True, fast=True)
        for name in ("domain", "lang", "outcome", "countries", "authorities", "year", "month"):
            builder.add_text_field(name, stored=True, tokenizer_name="raw", fast=True)
        self.schema = builder.build()
        path.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(self.schema, path=str(path))
        self.index.register_tokenizer("lang_xx", analyzer(None))
        for suffix, language in STEMMED.items():
            self.index.register_tokenizer(f"lang_{suffix}", analyzer(language))
        self.fields = ["url", *(f"{k}_{s}" for s in SUFFIXES for k in ("title", "text"))]

    def add(self, docs: Iterable[IndexDoc]) -> None:
        writer = self.index.writer(heap_size=WRITER_HEAP)
        for doc in docs:
            suffix = doc.lang if doc.lang in STEMMED else "xx"
            document = tantivy.Document(
                id=doc.id,
                url=doc.url,
                captured_at=doc.captured_at,
                domain=doc.domain,
                lang=doc.lang,
                outcome=doc.outcome,
                year=f"{doc.captured_at.year}",
                month=f"{doc.captured_at:%Y-%m}",
                **{f"title_{suffix}": doc.title, f"text_{suffix}": doc.text},
            )
            for country in doc.countries:
                document.add_text("countries", country)
            for authority in doc.authorities:
                document.add_text("authorities", authority)
            writer.add_document(document)
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()

    def search(self, q: str) -> list[str]:
        query = self.index.parse_query(q, self.fields, conjunction_by_default=True)
        searcher = self.index.searcher()
        result = searcher.search(query, 10, count=True)
        generators: dict[str, tantivy.SnippetGenerator] = {}
        snippets = []
        for _score, address in result.hits:
            doc = searcher.doc(address)
            field = next(f"text_{s}" for s in SUFFIXES if doc.get_first(f"text_{s}") is not None)
            if field not in generators:
                generators[field] = tantivy.SnippetGenerator.create(searcher, query, self.schema, field)
            snippets.append(generators[field].snippet_from_doc(doc).to_html())
        facets = {name: {"terms": {"field": field, "size": 50}} for name, field in FACET_FIELDS.items()}
        searcher.aggregate(query, facets)
        return snippets


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def latencies(
    runs: dict[str, Callable[[str], object]], queries: list[tuple[str, str]], repeats: int
) -> dict[str, list[float]]:
    """Per-query latency in ms (median of `repeats`) of each runner, run
    alternately so that load from other processes hits them alike."""
    for _, q in queries[:20]:  # warm-up
        for run in runs.values():
            run(q)
    results: dict[str, list[float]] = {name: [] for name in runs}
    for _, q in queries:
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(repeats):
            for name, run in runs.items():
                begin = time.perf_counter()
                run(q)
                samples[name].append((time.perf_counter() - begin) * 1000)
        for name, sample in samples.items():
            results[name].append(statistics.median(sample))
    return results


def peak_rss_mb() -> float:
    """The process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def index_both(n_docs: int, seed: int, root: Path, rounds: int
               ) -> tuple[SearchBackend, RawTantivy, float, float, list[IndexDoc]]:
    """Index the corpus with each, alternately, generated afresh for each; the best of `rounds` runs,
    generating time left out. Also returns a sample of the documents (for queries)."""
    best_ours = best_raw = math.inf
    ours = raw = None
    sample: list[IndexDoc] = []
    for i in range(rounds):
        if ours is not None:
            ours.close()
        ours = open_backend("tantivy", root / f"ours{i}")
        feed = Feed(n_docs, seed, "ours", keep_every=max(n_docs // 2_000, 1))
        begin = time.perf_counter()
        ours.add(feed)
        best_ours = min(best_ours, time.perf_counter() - begin - feed.generating)
        sample = feed.kept
        raw = RawTantivy(root / f"raw{i}")
        feed = Feed(n_docs, seed, "raw")
        begin = time.perf_counter()
        raw.add(feed)
        best_raw = min(best_raw, time.perf_counter() - begin - feed.generating)
        print(f"  round {i + 1}: ours {best_ours:.1f} s, raw {best_raw:.1f} s (best so far, generating "
              f"{feed.generating:.1f} s left out), peak RSS {peak_rss_mb():,.0f} MB", flush=True)
    return ours, raw, best_ours, best_raw, sample


class Feed:
    """Documents from the generator with progress on stderr; keeps the seconds spent generating
    (subtracted from indexing times) and every `keep_every`-th document (the query sample)."""

    def __init__(self, n_docs: int, seed: int, name: str, keep_every: int = 0) -> None:
        self.docs = make_corpus(n_docs, seed)
        self.total, self.name, self.keep_every = n_docs, name, keep_every
        self.generating = 0.0
        self.kept: list[IndexDoc] = []

    def __iter__(self) -> Iterator[IndexDoc]:
        step = max(self.total // 10, 1)
        i = 0
        while True:
            begin = time.perf_counter()
            doc = next(self.docs, None)
            self.generating += time.perf_counter() - begin
            if doc is None:
                return
            i += 1
            if self.keep_every and i % self.keep_every == 0:
                self.kept.append(doc)
            if i % step == 0:
                print(f"    {self.name}: {i:,}/{self.total:,} documents", file=sys.stderr, flush=True)
            yield doc


class EsSide:
    """The Elasticsearch backend on a real server: ELASTICSEARCH_URL's, else an engine started here."""

    def __init__(self, root: Path) -> None:
        self.engine = self.proxy = None
        self.url = os.environ.get("ELASTICSEARCH_URL", "")
        self.name = f"Elasticsearch at {self.url}"
        if not self.url:
            begin = time.perf_counter()
            self.engine = Engine(root / "engine").start()
            self.proxy = CompatProxy(self.engine.url).start()
            self.url, self.name = self.proxy.url, f"{VERSION} (started in {time.perf_counter() - begin:.0f} s)"
        self.alias = f"bench-{int(time.time())}"
        env = dict(os.environ, ELASTICSEARCH_URL=self.url, ELASTICSEARCH_INDEX=self.alias,
                   SEARCH_BACKEND="elasticsearch", ARCHIVE_HOME=str(root / "home"))
        self.backend = open_backend("elasticsearch", root / "unused", Settings.from_env(env))

    def index(self, n_docs: int, seed: int) -> float:
        """Load the corpus as reindex does (a rebuild: refreshes off, then the alias swap); seconds."""
        feed = Feed(n_docs, seed, "elasticsearch")
        begin = time.perf_counter()
        with self.backend.rebuild() as rebuild:
            rebuild.add(feed)
            rebuild.finish()
        return time.perf_counter() - begin - feed.generating

    def close(self) -> None:
        from tests.elastic import drop_alias

        drop_alias(self.backend.client, self.alias)
        self.backend.close()
        if self.proxy:
            self.proxy.close()
        if self.engine:
            self.engine.stop()


def raw_elasticsearch(url: str, n_docs: int, seed: int, queries: list[tuple[str, str]], repeats: int
                      ) -> tuple[float, list[float]]:
    """The baseline: the official client alone, one plain index (standard analyzer), bulk then
    multi_match with highlighting and two terms aggregations: what any ES user would write first."""
    from elasticsearch import Elasticsearch, helpers

    client = Elasticsearch(url, request_timeout=120)
    index = f"bench-raw-{int(time.time())}"
    client.indices.create(index=index, mappings={"properties": {
        "title": {"type": "text"}, "text": {"type": "text"}, "domain": {"type": "keyword"},
        "lang": {"type": "keyword"}, "captured_at": {"type": "date"}}})
    try:
        begin = time.perf_counter()
        actions = ({"_index": index, "_id": d.id, "title": d.title, "text": d.text, "domain": d.domain,
                    "lang": d.lang, "captured_at": d.captured_at.isoformat()} for d in Feed(n_docs, seed, "raw-es"))
        helpers.bulk(client, actions, chunk_size=5_000, refresh=True)
        took = time.perf_counter() - begin

        def search(q: str) -> object:
            return client.search(index=index, size=10, query={"multi_match": {"query": q, "fields": ["title", "text"]}},
                                 highlight={"fields": {"text": {}}},
                                 aggs={"domain": {"terms": {"field": "domain"}}, "lang": {"terms": {"field": "lang"}}})

        lat = latencies({"raw": search}, queries, repeats)["raw"]
    finally:
        client.indices.delete(index=index)
    return took, lat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=0,
                        help="indexing runs of each, the best counts (default 2 up to 100,000 docs, else 1)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each query (median counts)")
    parser.add_argument("--smoke", action="store_true", help="200 documents, 20 queries, one round: seconds")
    parser.add_argument("--no-engine", action="store_true", help="tantivy only: no Elasticsearch side")
    args = parser.parse_args(argv)
    if args.smoke:
        args.docs, args.queries, args.rounds, args.repeats = 200, 20, 1, 1

    rounds = args.rounds or (2 if args.docs <= 100_000 else 1)

    print(f"corpus: {args.docs:,} synthetic docs, 100-300 words each, generated while indexing", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        es = None
        if not args.no_engine:
            try:
                es = EsSide(Path(tmp))
            except (EngineError, RuntimeError) as error:
                print(f"elasticsearch: not run ({error})")
        try:
            ours, raw, ours_s, raw_s, sample = index_both(args.docs, args.seed, Path(tmp), rounds)
            es_s = es.index(args.docs, args.seed) if es else 0.0
            queries = make_queries(sample, args.queries, args.seed)
            runs = {
                "ours": lambda q: ours.search(SearchQuery(q=q, limit=10, facets=True)),
                "raw": raw.search,
            }
            if es:
                runs["es"] = lambda q: es.backend.search(SearchQuery(q=q, limit=10, facets=True))
            lat = latencies(runs, queries, args.repeats)
            totals = [ours.search(SearchQuery(q=q, limit=0)).total for _, q in queries]
            es_totals = [es.backend.search(SearchQuery(q=q, limit=0)).total for _, q in queries] if es else []
            ours.close()
            if es:
                raw_es_s, raw_es_lat = raw_elasticsearch(es.url, args.docs, args.seed, queries, args.repeats)
        finally:
            if es:
                es.close()

    ours_lat, raw_lat = lat["ours"], lat["raw"]
    ours_rate, raw_rate = args.docs / ours_s, args.docs / raw_s
    print(
        f"indexing: ours {ours_rate:,.0f} docs/s ({ours_s:.1f} s), raw {raw_rate:,.0f} docs/s "
        f"({raw_s:.1f} s), ratio ours/raw {ours_rate / raw_rate:.2f} (target >= 0.7)"
    )
    print("queries: top 10 with snippets and the seven facets")
    for name, pct in (("p50", 50), ("p95", 95)):
        o, r = percentile(ours_lat, pct), percentile(raw_lat, pct)
        print(f"query {name}: ours {o:.2f} ms, raw {r:.2f} ms, ratio ours/raw {o / r:.2f}")
    for kind in ("word", "and", "phrase"):
        mine = [i for i, (k, _) in enumerate(queries) if k == kind]
        o = [ours_lat[i] for i in mine]
        r = [raw_lat[i] for i in mine]
        print(
            f"  {kind:6}: ours p50 {statistics.median(o):.2f} / p95 {percentile(o, 95):.2f} ms, "
            f"raw p50 {statistics.median(r):.2f} / p95 {percentile(r, 95):.2f} ms, "
            f"median matches {statistics.median(totals[i] for i in mine):,.0f}"
        )
    if es:
        print_es(es.name, args.docs, es_s, lat["es"], ours_s, ours_lat, raw_es_s, raw_es_lat, totals, es_totals)
        differ = [(q, t, e) for (_, q), t, e in zip(queries, totals, es_totals, strict=True) if t != e]
        for q, t, e in differ[:5]:
            print(f"    differs: {q!r}: tantivy {t:,}, es {e:,}")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB (target < 2,048 MB)")
    return 0


def print_es(name: str, n_docs: int, es_s: float, es_lat: list[float], tantivy_s: float, tantivy_lat: list[float],
             raw_s: float, raw_lat: list[float], totals: list[int], es_totals: list[int]) -> None:
    """The Elasticsearch backend beside the tantivy backend (ratios es/tantivy) and the bare client."""
    print(f"elasticsearch: {name}")
    print(f"  indexing: es {n_docs / es_s:,.0f} docs/s ({es_s:.1f} s), tantivy {n_docs / tantivy_s:,.0f} docs/s, "
          f"ratio es/tantivy {(n_docs / es_s) / (n_docs / tantivy_s):.2f}; bare client on a plain index "
          f"{n_docs / raw_s:,.0f} docs/s")
    for label, pct in (("p50", 50), ("p95", 95)):
        e, t, r = percentile(es_lat, pct), percentile(tantivy_lat, pct), percentile(raw_lat, pct)
        print(f"  query {label}: es {e:.2f} ms, tantivy {t:.2f} ms, ratio es/tantivy {e / t:.2f}; "
              f"bare client {r:.2f} ms, ratio es/bare {e / r:.2f}")
    same = sum(a == b for a, b in zip(totals, es_totals, strict=True))
    print(f"  same number of matches as tantivy: {same} of {len(totals)} queries")


if __name__ == "__main__":
    raise SystemExit(main())
