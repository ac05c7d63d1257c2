"""Replay from the separate origin: Range requests, the safe view, fidelity against the capture."""
from __future__ import annotations

import contextlib
import html
import os
import shutil
import statistics
import threading
import zipfile
from io import BytesIO

import pytest
import requests
from playwright.sync_api import sync_playwright

from archive import catalog
from archive.replay.fidelity import measure, replay_frame, replay_screenshot
from archive.replay.origin import INDEX_PAGE, missing_replay_assets, replay_assets
from archive.warc.wacz import export_wacz
from crawler.browser import find_chromium, launch_args

from .conftest import free_port
from .replaying import capture_pages, corpus_pages, replay_origin_server
from .webapp import make_settings


@pytest.fixture(scope="module")
def replayed(tmp_path_factory, replay_viewer):
    """The fixture site and four real pages, captured, their server stopped, the replay origin up."""
    settings, ids = capture_pages(tmp_path_factory.mktemp("replay") / "home", corpus_pages(4), with_fixture=True,
                                  environ=dict(os.environ))
    with replay_origin_server(settings) as origin:
        yield settings, ids, origin


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=find_chromium(), args=launch_args())
        yield b
        b.close()


def test_wacz_is_served_with_range_requests(replayed):
    _, ids, origin = replayed
    url = f"{origin}/wacz/{ids[-1]}.wacz"
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.headers["Accept-Ranges"] == "bytes"
    size = int(head.headers["Content-Length"])
    whole = requests.get(url, timeout=30).content
    assert len(whole) == size and zipfile.ZipFile(BytesIO(whole)).testzip() is None
    part = requests.get(url, headers={"Range": "bytes=10-109"}, timeout=30)
    assert part.status_code == 206 and part.content == whole[10:110]
    assert part.headers["Content-Range"] == f"bytes 10-109/{size}"
    tail = requests.get(url, headers={"Range": "bytes=-22"}, timeout=30)
    assert tail.status_code == 206 and tail.content == whole[-22:] and tail.content.startswith(b"PK\x05\x06")


def test_safe_view_runs_no_scripts(replayed):
    _, ids, origin = replayed
    r = requests.get(f"{origin}/safe/{ids[-1]}", timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Security-Policy"].startswith("sandbox")
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert b"Court upholds order to block independent outlet" in r.content
    assert requests.get(f"{origin}/safe/99999", timeout=30).status_code == 404


def test_replay_shows_what_scripts_and_xhr_made(replayed, browser):
    settings, ids, origin = replayed
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    replay_screenshot(page, origin, ids[-1])
    frame = replay_frame(page)
    assert "Live update: the outlet's appeal hearing is scheduled for Monday." in frame.inner_text("#live-data")
    frame.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    frame.wait_for_function("document.getElementById('lazy').complete && "
                            "document.getElementById('lazy').naturalWidth === 200", timeout=15_000)
    context.close()


def test_replay_looks_like_the_capture(replayed, browser):
    settings, ids, origin = replayed
    results = measure(settings, ids, origin, browser)
    for r in results:
        print(f"{r['similarity']:.3f} {r['url']}")
    sims = [r["similarity"] for r in results]
    assert statistics.mean(sims) >= 0.95 and min(sims) >= 0.8, results


def test_similarity_tells_different_pages_apart(replayed):
    from archive import catalog
    from archive.replay.fidelity import similarity
    from archive.warc.store import read_payload

    settings, ids, _ = replayed
    db = catalog.connect(settings.catalog_path)
    shots = [read_payload(settings.warc_dir, catalog.get_records(db, i, role="screenshot")[0]) for i in ids]
    assert similarity(shots[0], shots[0], (1280, 900)) == 1.0
    assert similarity(shots[-1], shots[1], (1280, 900)) < 0.8  # the fixture page against a news page


def test_missing_replay_viewer_is_named_with_the_fix(tmp_path):
    settings = make_settings(tmp_path / "home", replay_assets=str(tmp_path / "vendor"))
    assert missing_replay_assets(settings) == (f"replay viewer missing at {tmp_path / 'vendor'} (no sw.js, ui.js):"
                                               " run `make setup`")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "sw.js").write_text("// sw")
    assert missing_replay_assets(settings).endswith("(no ui.js): run `make setup`")
    (tmp_path / "vendor" / "ui.js").write_text("// ui")
    assert missing_replay_assets(settings) is None


@contextlib.contextmanager
def static_files(folder):
    """A plain static file server of ``folder`` (with Range requests, as any web server has): nothing of the
    archive runs behind it."""
    from flask import Flask, send_from_directory
    from waitress import create_server

    app = Flask("static-files")
    app.add_url_rule("/<path:name>", "file", lambda name: send_from_directory(folder, name, conditional=True))
    port = free_port()
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.close()


def test_exported_wacz_replays_as_an_offline_file_in_replaywebpage(replayed, browser, tmp_path):
    """Issue 13: the signed file `export-wacz` writes, put beside replayweb.page's own files on a plain
    static server (the archive is not running), opens in replayweb.page and shows the page."""
    settings, ids, _ = replayed
    db = catalog.connect(settings.catalog_path)
    try:
        capture = catalog.get_capture(db, ids[-1])
        export_wacz(db, settings.warc_dir, [ids[-1]], tmp_path / "capture.wacz")
    finally:
        db.close()
    assets = replay_assets(settings)
    (tmp_path / "replay").mkdir()
    for name in ("ui.js", "sw.js"):
        shutil.copy(assets / name, tmp_path / "replay" / name)
    (tmp_path / "replay" / "index.html").write_text(INDEX_PAGE)
    (tmp_path / "index.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><script src="replay/ui.js"></script></head><body>'
        f'<replay-web-page source="capture.wacz" url="{html.escape(capture["final_url"])}" replayBase="replay/"'
        ' embed="replayonly" style="display:block;height:100vh"></replay-web-page></body></html>')
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        with static_files(tmp_path) as site:
            # Waited for as an event, set up before the page loads: no polling, no race.
            with page.expect_event("framenavigated", predicate=lambda f: "mp_/" in f.url, timeout=90_000) as opened:
                page.goto(f"{site}/index.html")
            frame = opened.value
            frame.wait_for_selector("text=Court upholds order to block independent outlet", timeout=60_000)
            assert "Court upholds order to block independent outlet" in frame.content()
            assert frame.url.startswith(site)  # replayed from the file, not from the archive's replay origin
    finally:
        context.close()
