"""Search quality over real captures: every page of ../shared/corpus/readability is captured by
the real worker (real Chromium, CAPTURE_CONCURRENCY 2; once per session, tests/corpus.py), then
found by one of its sentences.

Unlike tests/test_search_corpus.py (extract() on source.html straight into an index), this goes
the whole way a page goes in production: browser, recording proxy, WARC, catalog, the worker's
indexing. The sentence of each page comes from its reference text (expected.html), chosen as
there; titles and languages are checked against expected-metadata.json where it gives them.
"""
from __future__ import annotations

import json

import pytest

from search import SearchQuery, open_backend, query_from_text

from .sites import CORPUS
from .test_search_corpus import choose_sentence, reference_text

# The first test pays for capturing the whole corpus (tests/corpus.py), minutes on a shared machine:
# more than the suite's per-test limit. A deadline all the same, to fail rather than hang.
pytestmark = pytest.mark.timeout(1500)


def test_every_captured_page_is_found_by_a_sentence(captured_corpus) -> None:
    settings, rows = captured_corpus
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


def test_titles_and_languages_match_the_reference(captured_corpus) -> None:
    _, rows = captured_corpus
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

