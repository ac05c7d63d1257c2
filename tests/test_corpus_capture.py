"""Real pages from ../shared/corpus/readability captured by the crawler, then found by search."""
from __future__ import annotations

import json
import re
from html import unescape

import pytest

from .conftest import run_cli
from .sites import CORPUS, FixtureSite

PAGES = ("bbc-1", "nytimes-1", "lemonde-1")


def a_sentence(name: str) -> str:
    """A long sentence from the reference article text (not from the page's own markup)."""
    text = unescape(re.sub(r"<[^>]+>", " ", (CORPUS / name / "expected.html").read_text()))
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", text))]
    return max((s for s in sentences if 60 < len(s) < 240), key=len)


@pytest.fixture(scope="module")
def corpus_site():
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}: clone this repository beside ../shared")
    with FixtureSite(CORPUS) as site:
        yield site


def test_capture_real_pages_and_find_each(env, corpus_site):
    env = dict(env, CAPTURE_HOST_RULES=corpus_site.rule("pages.example.org"))
    ids = {}
    for name in PAGES:
        proc = run_cli(env, "capture", f"http://pages.example.org/{name}/source.html", "--json", timeout=180)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        expected = json.loads((CORPUS / name / "expected-metadata.json").read_text())
        assert out["title"] == expected["title"], name
        ids[name] = out["id"]
    for name in PAGES:
        query = a_sentence(name)
        proc = run_cli(env, "search", query, "--json")
        assert proc.returncode == 0, proc.stderr
        hits = json.loads(proc.stdout)["hits"]
        assert hits and hits[0]["id"] == ids[name], (name, query, hits[:3])
