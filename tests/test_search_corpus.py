"""Find every real page of ../shared/corpus/readability by one of its sentences.

Each source.html goes through extract() and into a real index; each page's
query is a sentence of its reference text (expected.html, Readability's
extraction, not ours), made into a plain query by query_from_text. The page
must come back in the top 10.

Some pages share text (the synthetic test pages are all lorem ipsum, and two
Lifehacker pages are one article). The sentence is chosen among those found
on no other page when there is one; for the rest, any page whose reference
text holds the sentence is a right answer.
"""

from __future__ import annotations

import re
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import html as lxml_html

from search import IndexDoc, SearchQuery, extract, open_backend, query_from_text

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "readability"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")
_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def reference_text(page: Path) -> str:
    tree = lxml_html.fromstring((page / "expected.html").read_text(encoding="utf-8"))
    return " ".join(tree.text_content().split())


def sentences(page: Path) -> list[str]:
    """Sentences of 8-40 words (CJK: 20-200 characters), block by block so
    that headings and captions do not run into the text."""
    tree = lxml_html.fromstring((page / "expected.html").read_text(encoding="utf-8"))
    found = []
    for block in tree.xpath("//p|//li|//blockquote|//h2|//h3|//td") or [tree]:
        for sentence in _SENTENCE_END.split(" ".join(block.text_content().split())):
            words = len(sentence.split())
            if 8 <= words <= 40 or (_CJK.search(sentence) and 20 <= len(sentence) <= 200):
                found.append(sentence.strip())
    return found


def choose_sentence(name: str, page: Path, texts: dict[str, str]) -> tuple[str, bool]:
    """The middle one of the page's own sentences; (sentence, unique?)."""
    candidates = sentences(page)
    unique = [s for s in candidates if not any(s in t for n, t in texts.items() if n != name)]
    pool = unique or candidates
    if not pool:  # pages of a few words: "Test Case 1 Test Case 2"
        pool = [" ".join(texts[name].split()[:20])]
    return pool[len(pool) // 2], bool(unique)


def test_every_page_is_found_by_a_sentence(tmp_path: Path) -> None:
    pages = {p.name: p for p in sorted(CORPUS.iterdir()) if p.is_dir()}
    assert len(pages) == 130
    started = time.monotonic()
    docs = []
    for name, page in pages.items():
        extracted = extract((page / "source.html").read_text(encoding="utf-8"), url=f"https://{name}.example/article")
        docs.append(
            IndexDoc(
                id=name,
                url=f"https://{name}.example/article",
                domain=f"{name}.example",
                title=extracted.title,
                text=extracted.text,
                lang=extracted.lang,
                captured_at=datetime(2024, 4, 1, tzinfo=UTC),
                status=200,
            )
        )
    extracted_in = time.monotonic() - started

    texts = {name: reference_text(page) for name, page in pages.items()}
    with open_backend("tantivy", tmp_path / "index") as backend:
        assert backend.add(docs) == 130
        found, reciprocal, totals, shared, misses = 0, 0.0, [], 0, []
        for name, page in pages.items():
            sentence, unique = choose_sentence(name, page, texts)
            shared += not unique
            result = backend.search(SearchQuery(q=query_from_text(sentence), limit=10))
            totals.append(result.total)
            right = [
                i for i, hit in enumerate(result.hits) if hit.id == name or (not unique and sentence in texts[hit.id])
            ]
            if right:
                found += 1
                reciprocal += 1 / (right[0] + 1)
            else:
                misses.append((name, result.total, sentence[:80]))

    recall, mrr = found / len(pages), reciprocal / len(pages)
    print(
        f"\nrecall@10 {recall:.3f}, MRR {mrr:.3f} over {len(pages)} pages "
        f"({shared} by a sentence shared with other pages); extraction {extracted_in:.1f} s; "
        f"median matches per query {statistics.median(totals)}; misses: {misses}"
    )
    assert recall >= 0.95
    assert mrr >= 0.9
    # The queries discriminate: a backend returning everything would not pass.
    assert statistics.median(totals) <= 3


@pytest.mark.parametrize("name", ["aclu", "lemonde-1", "qq"])
def test_a_sentence_of_one_page_does_not_find_another(tmp_path: Path, name: str) -> None:
    page = CORPUS / name
    extracted = extract((page / "source.html").read_text(encoding="utf-8"))
    with open_backend("tantivy", tmp_path / "index") as backend:
        backend.add(
            [
                IndexDoc(
                    id=name,
                    url="https://a.example/",
                    domain="a.example",
                    title=extracted.title,
                    text=extracted.text,
                    lang=extracted.lang,
                    captured_at=datetime(2024, 4, 1, tzinfo=UTC),
                    status=200,
                )
            ]
        )
        own = sentences(page)
        other = sentences(CORPUS / "wikipedia")
        assert backend.search(SearchQuery(q=query_from_text(own[len(own) // 2]))).total == 1
        assert backend.search(SearchQuery(q=query_from_text(other[len(other) // 2]))).total == 0
