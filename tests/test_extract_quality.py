"""Extraction quality held against trafilatura.extract() on the same bytes (bench/extract.py's scoring).

The floor is set from the measurement (bench/extract.py, 2026-12-07: multilingual mean 0.908
against trafilatura's 0.895, readability 0.933 against 0.929): a change that loses text fails.
"""
from __future__ import annotations

import json

import pytest

from bench.extract import CORPORA, main, page_scores, ratio
from search import extract

MULTILINGUAL_FLOOR = 0.90


@pytest.fixture(scope="module")
def multilingual() -> list:
    return page_scores("multilingual")


def test_multilingual_corpus_at_least_as_good_as_trafilatura(multilingual) -> None:
    scores = multilingual
    assert len(scores) == 14
    ours = sum(s.ours for s in scores) / len(scores)
    theirs = sum(s.trafilatura for s in scores) / len(scores)
    behind = [(s.name, round(s.ours, 3), round(s.trafilatura, 3)) for s in scores if s.ours < s.trafilatura - 0.05]
    assert ours >= MULTILINGUAL_FLOOR, (ours, theirs)
    assert ratio(ours, theirs) >= 1.0, (ours, theirs)
    assert not behind


def test_pages_that_lost_text_to_favor_recall_and_the_baseline_switch(multilingual) -> None:
    # The pages: 0.11 vs 0.87 (Portuguese), 0.78 vs 0.99 (Chinese), 0.87 vs 0.92 (Arabic).
    scores = {s.name: s for s in multilingual}
    for name in ("seb_pt_jaraguadosul.com.br-news", "np4k_zh_chinese_article_001", "np4k_ar_arabic_article"):
        assert scores[name].ours >= scores[name].trafilatura, scores[name]


def test_readability_corpus_at_least_as_good_as_trafilatura() -> None:
    # The issue measured 0.909 against trafilatura's 0.926 on real English and German pages.
    scores = page_scores("readability")
    assert len(scores) == 130
    ours = sum(s.ours for s in scores) / len(scores)
    theirs = sum(s.trafilatura for s in scores) / len(scores)
    behind = [(s.name, round(s.ours, 3), round(s.trafilatura, 3)) for s in scores if s.ours < s.trafilatura - 0.05]
    assert ratio(ours, theirs) >= 1.0, (ours, theirs)
    assert not behind


@pytest.mark.parametrize("name", sorted(p.name for p in CORPORA["multilingual"].iterdir() if p.is_dir()))
def test_language_of_every_multilingual_page(name) -> None:
    folder = CORPORA["multilingual"] / name
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    body = (folder / "source.html").read_bytes()
    declared = meta["declared_charset"]
    content_type = f"text/html; charset={declared}" if declared else "text/html"
    assert extract(body, content_type=content_type).lang == meta["lang"]


def test_language_unknown_rather_than_guessed() -> None:
    # Too little text to tell, and no <html lang>: say so.
    assert extract(b"<html><body><p>OK 2024</p></body></html>", content_type="text/html").lang == ""
    assert extract(b"<html><body><p>\xe0\xb8\x82</p></body></html>", content_type="text/html").lang == ""
    # Enough letters, but no one language: a list of places in eight.
    places = "Москва Paris Berlin 東京 Cairo القاهرة Roma Δελφοί Київ Stockholm " * 2
    page = f"<html><body><ul><li>{places}</li></ul></body></html>".encode()
    assert extract(page, content_type="text/html; charset=utf-8").lang == ""


def test_bench_smoke(capsys) -> None:
    scores = main(["--pages", "5"])
    out = capsys.readouterr().out
    assert len(scores) == 10
    assert "multilingual: 5 pages" in out and "readability: 5 pages" in out and "ratio" in out
