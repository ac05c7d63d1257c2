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

import tantivy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search import IndexDoc, SearchQuery, open_backend  # noqa: E402
from search.tantivy_backend import (  # noqa: E402
    STEMMED,
    SUFFIXES,
    WRITER_HEAP,
    _analyzer,
)

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
    """A vocabulary of stems with endings, drawn with a Zipf distribution."""

    def __init__(self, rng: random.Random, code: str, stems: list[str], endings: list[str]) -> None:
        self.code = code
        self.stems = stems
        self.endings = endings
        weights = [1 / (rank + 1) ** 1.05 for rank in range(len(stems))]
        self.cumulative = list(itertools.accumulate(weights))
        self.rng = rng

    def words(self, n: int) -> list[str]:
        stems = self.rng.choices(self.stems, cum_weights=self.cumulative, k=n)
        endings = self.rng.choices(self.endings, k=n)
        return [s + e for s, e in zip(stems, endings, strict=True)]


def make_corpus(n_docs: int, seed: int) -> tuple[list[IndexDoc], dict[str, Language]]:
    rng = random.Random(seed)
    ru_stems = make_vocab(rng, RU_ONSETS, RU_VOWELS, 40_000)
    languages = {
        "ru": Language(rng, "ru", ru_stems, RU_ENDINGS),
        "en": Language(rng, "en", make_vocab(rng, EN_ONSETS, EN_VOWELS, 40_000), EN_ENDINGS),
        "ky": Language(rng, "ky", make_vocab(rng, RU_ONSETS, KY_VOWELS, 20_000), KY_ENDINGS),
    }
    codes, weights = ["ru", "en", "ky"], [5, 4, 1]
    start = datetime(2020, 1, 1, tzinfo=UTC)
    docs = []
    for i in range(n_docs):
        lang = languages[rng.choices(codes, weights=weights)[0]]
        words = lang.words(rng.randint(100, 300))
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
                title=" ".join(lang.words(rng.randint(4, 10))).capitalize(),
                text=" ".join(sentences),
                lang=lang.code,
                captured_at=start + timedelta(minutes=rng.randint(0, 5 * 365 * 24 * 60)),
                status=rng.choice((200, 200, 200, 404, 451)),
            )
        )
    return docs, languages


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
        self.index.register_tokenizer("lang_xx", _analyzer(None))
        for suffix, language in STEMMED.items():
            self.index.register_tokenizer(f"lang_{suffix}", _analyzer(language))
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


def timed(run: object, queries: list[tuple[str, str]]) -> list[float]:
    for _, q in queries[:10]:  # warm caches the same way for both
        run(q)
    latencies = []
    for _, q in queries:
        start = time.perf_counter()
        run(q)
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    docs, _ = make_corpus(args.docs, args.seed)
    queries = make_queries(docs, args.queries, args.seed)
    words = sum(len(d.text.split()) for d in docs)
    print(f"corpus: {len(docs)} docs, {words / len(docs):.0f} words/doc, "
          f"{sum(len(d.text) for d in docs) / 1e6:.0f} MB text, built in {time.perf_counter() - started:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        ours = open_backend("tantivy", Path(tmp) / "ours")
        start = time.perf_counter()
        ours.add(iter(docs))
        ours_index_s = time.perf_counter() - start

        raw = RawTantivy(Path(tmp) / "raw")
        start = time.perf_counter()
        raw.add(docs)
        raw_index_s = time.perf_counter() - start

        ours_lat = timed(lambda q: ours.search(SearchQuery(q=q, limit=10)), queries)
        raw_lat = timed(lambda q: raw.search(q), queries)
        totals = [ours.search(SearchQuery(q=q, limit=1)).total for _, q in queries]
        ours.close()

    ours_rate, raw_rate = len(docs) / ours_index_s, len(docs) / raw_index_s
    print(f"indexing: ours {ours_rate:,.0f} docs/s ({ours_index_s:.1f} s), "
          f"raw {raw_rate:,.0f} docs/s ({raw_index_s:.1f} s), ratio raw/ours {raw_rate / ours_rate:.2f}")
    for name, pct in (("p50", 50), ("p95", 95)):
        o, r = percentile(ours_lat, pct), percentile(raw_lat, pct)
        print(f"query {name}: ours {o:.2f} ms, raw {r:.2f} ms, ratio ours/raw {o / r:.2f}")
    for kind in ("word", "and", "phrase"):
        lat = [t for (k, _), t in zip(queries, ours_lat, strict=True) if k == kind]
        hits = [t for (k, _), t in zip(queries, totals, strict=True) if k == kind]
        print(f"  {kind:6} ours p50 {statistics.median(lat):.2f} ms, p95 {percentile(lat, 95):.2f} ms, "
              f"median matches {statistics.median(hits):,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
