"""Benchmark the tantivy search backend against raw tantivy, in one run.

    python bench/search.py [--docs 100000] [--queries 200] [--seed 7]

Builds a deterministic synthetic corpus of Russian, English and Kyrgyz-like
documents (Zipf-distributed vocabulary, 100-300 words each, titles, domains,
dates), indexes it through search.open_backend("tantivy") and through raw
tantivy (same analyzers and language fields, one writer, one commit), runs
the same queries on both (single words, two-word AND, phrases; top 10 with
snippets) and prints throughput and latency with their ratios.
Targets: p95 under 50 ms and within 1.5x of raw; indexing close to raw.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import tantivy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search import IndexDoc, SearchBackend, SearchQuery, open_backend  # noqa: E402
from search.tantivy_backend import WRITER_HEAP  # noqa: E402
from search.tantivy_schema import STEMMED, SUFFIXES, analyzer  # noqa: E402

RU_ONSETS = list("бвгджзклмнпрстфхцчшщ") + ["пр", "ст", "кр", "тр", "бл", "гр", "сл"]
RU_VOWELS = list("аеиоуыяю")
RU_ENDINGS = ["", "а", "ы", "ов", "ами", "ой", "ом", "е", "ия", "ию", "ть", "ет", "ют", "ал", "ала", "ых"]
KY_VOWELS = [*list("аеиоуы"), "ө", "ү"]
KY_ENDINGS = ["", "дын", "га", "ны", "да", "тан", "лар", "нын", "дөр", "сү"]
EN_ONSETS = list("bcdfghjklmnprstvwz") + ["th", "st", "ch", "sh", "bl", "tr", "pr", "gr"]
EN_VOWELS = ["a", "e", "i", "o", "u", "ea", "ou", "ai"]
EN_ENDINGS = ["", "s", "ed", "ing", "er", "ly", "tion", "ness"]
DOMAINS = [f"site{i}.{tld}" for i in range(200) for tld in ("kg", "ru", "org")]


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


def make_corpus(n_docs: int, seed: int) -> list[IndexDoc]:
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    languages = {
        "ru": Language(np_rng, "ru", make_vocab(rng, RU_ONSETS, RU_VOWELS, 40_000), RU_ENDINGS),
        "en": Language(np_rng, "en", make_vocab(rng, EN_ONSETS, EN_VOWELS, 40_000), EN_ENDINGS),
        "ky": Language(np_rng, "ky", make_vocab(rng, RU_ONSETS, KY_VOWELS, 20_000), KY_ENDINGS),
    }
    codes = rng.choices(["ru", "en", "ky"], weights=[5, 4, 1], k=n_docs)
    lengths = [rng.randint(100, 300) for _ in range(n_docs)]
    # One draw per language for the whole corpus: drawing per document is
    # what made building 100,000 documents slow.
    pools = {
        code: iter(lang.words(sum(n + 10 for c, n in zip(codes, lengths, strict=True) if c == code)))
        for code, lang in languages.items()
    }
    start = datetime(2020, 1, 1, tzinfo=UTC)
    docs = []
    for i, (code, length) in enumerate(zip(codes, lengths, strict=True)):
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
        docs.append(
            IndexDoc(
                id=f"cap-{i}",
                url=f"https://{domain}/news/{2020 + i % 5}/{i}-{'-'.join(words[:3])}",
                domain=domain,
                title=" ".join(title).capitalize(),
                text=" ".join(sentences),
                lang=code,
                captured_at=start + timedelta(minutes=rng.randint(0, 5 * 365 * 24 * 60)),
                status=rng.choice((200, 200, 200, 404, 451)),
            )
        )
    return docs


def make_queries(docs: list[IndexDoc], n: int, seed: int) -> list[tuple[str, str]]:
    """(kind, query) pairs in our syntax, taken from documents' own words."""
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
        self.schema = builder.build()
        path.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(self.schema, path=str(path))
        self.index.register_tokenizer("lang_xx", analyzer(None))
        for suffix, language in STEMMED.items():
            self.index.register_tokenizer(f"lang_{suffix}", analyzer(language))
        self.fields = ["url", *(f"{k}_{s}" for s in SUFFIXES for k in ("title", "text"))]

    def add(self, docs: list[IndexDoc]) -> None:
        writer = self.index.writer(heap_size=WRITER_HEAP)
        for doc in docs:
            suffix = doc.lang if doc.lang in STEMMED else "xx"
            writer.add_document(
                tantivy.Document(
                    id=doc.id,
                    url=doc.url,
                    captured_at=doc.captured_at,
                    **{f"title_{suffix}": doc.title, f"text_{suffix}": doc.text},
                )
            )
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
        return snippets


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def latencies(
    ours: SearchBackend, raw: RawTantivy, queries: list[tuple[str, str]], repeats: int
) -> tuple[list[float], list[float]]:
    """Per-query latency in ms (median of `repeats`), ours and raw run
    alternately so that load from other processes hits both alike."""
    runs = (
        lambda q: ours.search(SearchQuery(q=q, limit=10)),
        raw.search,
    )
    for _, q in queries[:20]:  # warm-up
        for run in runs:
            run(q)
    results: tuple[list[float], list[float]] = ([], [])
    for _, q in queries:
        samples: tuple[list[float], list[float]] = ([], [])
        for _ in range(repeats):
            for run, out in zip(runs, samples, strict=True):
                start = time.perf_counter()
                run(q)
                out.append((time.perf_counter() - start) * 1000)
        for out, sample in zip(results, samples, strict=True):
            out.append(statistics.median(sample))
    return results


def index_both(docs: list[IndexDoc], root: Path, rounds: int) -> tuple[SearchBackend, RawTantivy, float, float]:
    """Index the corpus with each, alternately; the best of `rounds` runs."""
    best_ours = best_raw = math.inf
    ours = raw = None
    for i in range(rounds):
        if ours is not None:
            ours.close()
        ours = open_backend("tantivy", root / f"ours{i}")
        start = time.perf_counter()
        ours.add(iter(docs))
        best_ours = min(best_ours, time.perf_counter() - start)
        raw = RawTantivy(root / f"raw{i}")
        start = time.perf_counter()
        raw.add(docs)
        best_raw = min(best_raw, time.perf_counter() - start)
        print(f"  round {i + 1}: ours {best_ours:.1f} s, raw {best_raw:.1f} s (best so far)", flush=True)
    return ours, raw, best_ours, best_raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2, help="indexing runs of each (best counts)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each query (median counts)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    docs = make_corpus(args.docs, args.seed)
    queries = make_queries(docs, args.queries, args.seed)
    words = sum(len(d.text.split()) for d in docs)
    print(
        f"corpus: {len(docs)} docs, {words / len(docs):.0f} words/doc, "
        f"{sum(len(d.text) for d in docs) / 1e6:.0f} MB text, built in {time.perf_counter() - started:.1f} s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        ours, raw, ours_s, raw_s = index_both(docs, Path(tmp), args.rounds)
        ours_lat, raw_lat = latencies(ours, raw, queries, args.repeats)
        totals = [ours.search(SearchQuery(q=q, limit=0)).total for _, q in queries]
        ours.close()

    ours_rate, raw_rate = len(docs) / ours_s, len(docs) / raw_s
    print(
        f"indexing: ours {ours_rate:,.0f} docs/s ({ours_s:.1f} s), raw {raw_rate:,.0f} docs/s "
        f"({raw_s:.1f} s), ratio ours/raw {ours_rate / raw_rate:.2f}"
    )
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
