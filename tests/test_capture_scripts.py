"""Every page in every script, the whole way: real Chromium captures of the real pages of
../shared/corpus/multilingual (those that declare no charset served with none, as their servers
did; the others with theirs), of real pages re-encoded in legacy encodings and served without a
charset, and of late-<meta>, header-versus-meta and BOM pages; each stored by the real worker,
then checked in the catalog, the provenance record and the search index.
"""
from __future__ import annotations

import asyncio
import codecs
import json
import os
import threading

import pytest
import trafilatura

from archive import catalog
from archive.capturing import jobs
from archive.capturing.worker import Worker
from archive.settings import Settings
from archive.warc.store import read_payload
from search import SearchQuery, extract, open_backend, query_from_text

from .charset_pages import LEGACY, MULTILINGUAL, page_with
from .sites import FixtureSite, send

HOST = "pages.example.org"
RUSSIAN = "Доступ к сайту ограничен по требованию Генеральной прокуратуры. " * 4
PAGES = sorted(p.name for p in MULTILINGUAL.iterdir() if p.is_dir())
# Small pages each testing one rule: (body, Content-Type, encoding decided, its source).
RULES = {
    "late-meta": (page_with('<meta charset="windows-1251">', RUSSIAN, padding=3000).encode("cp1251"),
                  "text/html", "cp1251", "late-meta"),
    "header-over-meta": (page_with('<meta charset="utf-8">', RUSSIAN).encode("cp1251"),
                         "text/html; charset=windows-1251", "cp1251", "http"),
    "bom": (codecs.BOM_UTF8 + page_with('<meta charset="windows-1251">', RUSSIAN).encode("utf-8"),
            "text/html", "utf-8", "bom"),
}


# A page whose text its script writes: the server's HTML has none, the DOM has it all.
SCRIPTED = ("<!doctype html><html><head><meta charset='utf-8'><title>Приложение</title></head>"
            "<body><div id='app'></div><script>document.getElementById('app').innerHTML = "
            + json.dumps("<article><h1>Новости</h1><p>" + RUSSIAN + "</p></article>") + ";</script></body></html>")


def meta(name: str) -> dict:
    return json.loads((MULTILINGUAL / name / "meta.json").read_text(encoding="utf-8"))


def phrase(name: str) -> str:
    """A phrase of the page's reference text that trafilatura (not us) also finds on the page."""
    folder = MULTILINGUAL / name
    found = trafilatura.extract((folder / "source.html").read_bytes()) or ""
    if (folder / "expected_snippets.json").exists():
        lines = json.loads((folder / "expected_snippets.json").read_text(encoding="utf-8"))["with"]
    else:
        lines = next(folder.glob("expected*.txt")).read_text(encoding="utf-8").splitlines()
    chunks = [_cut(line.strip(), 40) for line in lines if len(line.strip()) >= 4]
    return next(c for c in chunks if c in found)


def _cut(line: str, size: int) -> str:
    """The first ``size`` characters, ending at a space where the text has spaces (no half word)."""
    head = line[:size]
    return head.rsplit(" ", 1)[0] if len(line) > size and " " in head else head


def _serve_page(name: str):
    body = (MULTILINGUAL / name / "source.html").read_bytes()
    declared = meta(name)["declared_charset"]
    content_type = f"text/html; charset={declared}" if declared else "text/html"
    return lambda h: send(h, 200, body, content_type)


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """Every page captured once: (settings, name -> (catalog row, provenance))."""
    if not MULTILINGUAL.is_dir():
        pytest.fail(f"the shared corpus is missing at {MULTILINGUAL}: clone this repository beside ../shared")
    with FixtureSite(MULTILINGUAL) as site:
        urls = {}
        for name in PAGES:
            site.routes[f"/{name}"] = _serve_page(name)
            urls[name] = f"http://{HOST}/{name}"
        for legacy in LEGACY:
            body = legacy.body()
            site.routes[f"/legacy/{legacy.encoding}"] = lambda h, b=body: send(h, 200, b, "text/html")
            urls[legacy.encoding] = f"http://{HOST}/legacy/{legacy.encoding}"
        for rule, (body, content_type, _, _) in RULES.items():
            site.routes[f"/rule/{rule}"] = lambda h, b=body, c=content_type: send(h, 200, b, c)
            urls[rule] = f"http://{HOST}/rule/{rule}"
        site.routes["/scripted"] = lambda h: send(h, 200, SCRIPTED.encode("utf-8"), "text/html")
        urls["scripted"] = f"http://{HOST}/scripted"
        settings = Settings.from_env(dict(
            os.environ, ARCHIVE_HOME=str(tmp_path_factory.mktemp("scripts") / "home"),
            CAPTURE_ALLOW_NETWORKS="127.0.0.1/32", CAPTURE_HOST_RULES=site.rule(HOST), CAPTURE_CONCURRENCY="2",
            CAPTURE_TIMEOUT="60", CAPTURE_SETTLE_TIMEOUT="2"))
        db = catalog.connect(settings.catalog_path)
        job_ids = {name: jobs.enqueue(db, url) for name, url in urls.items()}
        asyncio.run(Worker(settings).run(threading.Event(), once=True))
        found = {name: jobs.get_job(db, job_id) for name, job_id in job_ids.items()}
        failed = {name: (j["status"], j["error"]) for name, j in found.items() if j["status"] != "done"}
        assert not failed, f"captures failed: {failed}"
        rows = {}
        for name, job in found.items():
            row = catalog.get_capture(db, job["capture_id"])
            ref = catalog.get_records(db, row["id"], role="provenance")[0]
            rows[name] = (row, json.loads(read_payload(settings.warc_dir, ref)))
        db.close()
    return settings, rows


def _text(settings: Settings, row) -> str:
    db = catalog.connect(settings.catalog_path)
    try:
        ref = catalog.get_records(db, row["id"], role="text")[0]
    finally:
        db.close()
    return read_payload(settings.warc_dir, ref).decode("utf-8")


@pytest.mark.parametrize("name", PAGES)
def test_real_page_title_text_language_and_search(captured, name) -> None:
    settings, rows = captured
    row, provenance = rows[name]
    source = (MULTILINGUAL / name / "source.html").read_bytes()
    # The reference title: the page read as UTF-8 (what every one of them is) by the same extractor.
    assert row["title"] == extract(source, content_type="text/html; charset=utf-8").title
    assert row["lang"] == meta(name)["lang"]
    text = _text(settings, row)
    assert "\ufffd" not in text
    wanted = phrase(name)
    assert wanted in text
    assert provenance["text"]["encoding"] == "utf-8"
    assert provenance["text"]["source"] == ("http" if meta(name)["declared_charset"] else "detected")
    with open_backend(settings.search_backend, settings.index_dir) as backend:
        hits = backend.search(SearchQuery(q=query_from_text(wanted), limit=10)).hits
    assert str(row["id"]) in [h.id for h in hits], (wanted, [h.url for h in hits])


def test_undeclared_pages_are_mojibake_in_chromium_but_not_here(captured) -> None:
    _, rows = captured
    for name in [n for n in PAGES if not meta(n)["declared_charset"]]:
        provenance = rows[name][1]
        # Chromium guessed windows-1252 for these UTF-8 pages; the provenance says so.
        assert provenance["browser_charset"].lower() != "utf-8", name
        assert provenance["text"]["dom_mojibake"] is True and provenance["text"]["text_from"] == "response"


@pytest.mark.parametrize("legacy", LEGACY, ids=lambda p: p.encoding)
def test_legacy_encoding_served_without_charset(captured, legacy) -> None:
    settings, rows = captured
    row, provenance = rows[legacy.encoding]
    assert row["title"] == legacy.title
    text = _text(settings, row)
    assert legacy.phrase in text.replace("\n", " ") and "\ufffd" not in text
    assert provenance["text"]["encoding"] == codecs.lookup(
        {"euc-kr": "cp949", "gb2312": "gb18030", "shift_jis": "cp932"}.get(legacy.encoding, legacy.encoding)).name
    assert provenance["text"]["source"] == "detected"
    with open_backend(settings.search_backend, settings.index_dir) as backend:
        hits = backend.search(SearchQuery(q=query_from_text(legacy.phrase), limit=10)).hits
    assert str(row["id"]) in [h.id for h in hits]


@pytest.mark.parametrize("rule", RULES)
def test_declarations_followed_as_the_standard_says(captured, rule) -> None:
    settings, rows = captured
    row, provenance = rows[rule]
    _, _, encoding, source = RULES[rule]
    assert (provenance["text"]["encoding"], provenance["text"]["source"]) == (encoding, source)
    assert row["title"] == "Новости" and row["lang"] == "ru"
    assert "Генеральной прокуратуры" in _text(settings, row)


def test_bengali_found_in_either_unicode_form(captured) -> None:
    # The article writes কুষ্টিয়া with য় as য + nukta (U+09AF U+09BC); the page's other parts and
    # many keyboards use the one code point U+09DF. Either spelling typed into the search box finds it.
    settings, rows = captured
    row, _ = rows["traf_bn_ukbdnews.com.23646"]
    text = _text(settings, row)
    assert "কুষ্টি\u09af\u09bcা" in text
    with open_backend(settings.search_backend, settings.index_dir) as backend:
        for word in ("কুষ্টি\u09dfা", "কুষ্টি\u09af\u09bcা"):
            hits = backend.search(SearchQuery(q=word, limit=10)).hits
            assert str(row["id"]) in [h.id for h in hits], ascii(word)


def test_a_page_built_by_its_script_is_read_from_the_dom(captured) -> None:
    settings, rows = captured
    row, provenance = rows["scripted"]
    assert provenance["text"]["text_from"] == "dom" and provenance["text"]["dom_mojibake"] is False
    assert "Генеральной прокуратуры" in _text(settings, row) and row["lang"] == "ru"
