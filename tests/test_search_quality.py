"""Search quality over real captures: every page of ../shared/corpus/readability is captured
by the real worker (real Chromium, CAPTURE_CONCURRENCY 2), then found by one of its sentences.

Unlike tests/test_search_corpus.py (extract() on source.html straight into an index), this goes
the whole way a page goes in production: browser, recording proxy, WARC, catalog, the worker's
indexing. The sentence of each page comes from its reference text (expected.html), chosen as
there; titles and languages are checked against expected-metadata.json where it gives them.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time

import pytest

from archive import catalog
from archive.capturing import jobs
from archive.capturing.worker import Worker
from archive.settings import Settings
from search import SearchQuery, open_backend, query_from_text

from .sites import CORPUS, FixtureSite
from .test_search_corpus import choose_sentence, reference_text

HOST = "pages.example.org"


def _url(name: str) -> str:
    return f"http://{HOST}/{name}/source.html"


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> tuple[Settings, dict[str, dict]]:
    """Every corpus page captured once for the module: (settings, name -> catalog row)."""
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}: clone this repository beside ../shared")
    names = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
    home = tmp_path_factory.mktemp("quality") / "home"
    started = time.monotonic()
    with FixtureSite(CORPUS) as corpus:
        settings = Settings.from_env(dict(
            os.environ, ARCHIVE_HOME=str(home), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
            CAPTURE_HOST_RULES=corpus.rule(HOST), CAPTURE_CONCURRENCY="2", CAPTURE_TIMEOUT="60",
            # The corpus pages' third-party resources are refused at once (not allowed networks);
            # a short settle keeps 130 captures within minutes.
            CAPTURE_SETTLE_TIMEOUT="2"))
        db = catalog.connect(settings.catalog_path)
        job_ids = {name: jobs.enqueue(db, _url(name)) for name in names}
        asyncio.run(Worker(settings).run(threading.Event(), once=True))
        found = {name: jobs.get_job(db, job_id) for name, job_id in job_ids.items()}
        failed = {name: (j["status"], j["error"]) for name, j in found.items() if j["status"] != "done"}
        assert not failed, f"captures failed: {failed}"
        rows = {name: catalog.get_capture(db, j["capture_id"]) for name, j in found.items()}
        db.close()
    print(f"\ncaptured {len(rows)} corpus pages in {time.monotonic() - started:.0f} s")
    return settings, rows


def test_every_captured_page_is_found_by_a_sentence(captured) -> None:
    settings, rows = captured
    assert len(rows) == 130
    texts = {name: reference_text(CORPUS / name) for name in rows}
    by_id = {str(row["id"]): name for name, row in rows.items()}
    found, reciprocal, misses = 0, 0.0, []
    with open_backend(settings.search_backend, settings.index_dir) as backend:
        assert backend.count() == len(rows)
        for name, row in rows.items():
            sentence, unique = choose_sentence(name, CORPUS / name, texts)
            hits = backend.search(SearchQuery(q=query_from_text(sentence), limit=10)).hits
            # A sentence shared with other pages (lorem ipsum test pages) is rightly answered by any of them.
            right = [i for i, hit in enumerate(hits)
                     if hit.id == str(row["id"]) or (not unique and sentence in texts[by_id[hit.id]])]
            if right:
                found += 1
                reciprocal += 1 / (right[0] + 1)
            else:
                misses.append((name, sentence[:80], [by_id.get(h.id) for h in hits[:3]]))
    recall, mrr = found / len(rows), reciprocal / len(rows)
    print(f"\nrecall@10 {recall:.3f}, MRR {mrr:.3f} over {len(rows)} captured pages; misses: {misses}")
    assert recall >= 0.95, misses


def _lang(tag: str | None) -> str:
    return (tag or "").split("-")[0].lower()


def test_titles_and_languages_match_the_reference(captured) -> None:
    _, rows = captured
    titles, langs = [], []
    for name, row in rows.items():
        expected = json.loads((CORPUS / name / "expected-metadata.json").read_text(encoding="utf-8"))
        if expected.get("title"):
            titles.append((name, " ".join(expected["title"].split()), " ".join(row["title"].split())))
        if expected.get("lang"):
            langs.append((name, _lang(expected["lang"]), row["lang"]))
    title_misses = [t for t in titles if t[1] != t[2]]
    lang_misses = [t for t in langs if t[1] != t[2]]
    title_rate = 1 - len(title_misses) / len(titles)
    lang_rate = 1 - len(lang_misses) / len(langs)
    print(f"\ntitle match {title_rate:.3f} of {len(titles)}, misses (name, expected, ours): {title_misses}"
          f"\nlang match {lang_rate:.3f} of {len(langs)}, misses: {lang_misses}")
    assert len(titles) >= 100 and len(langs) >= 50  # the reference gives them: the rates are over real numbers
    assert title_rate >= 0.95, title_misses
    assert lang_rate >= 0.9, lang_misses

