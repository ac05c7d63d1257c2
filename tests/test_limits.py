"""Hostile pages: huge resources, pages that never settle, servers that trickle. The capture ends
within its limits, is kept, is marked partial, and says why."""
from __future__ import annotations

import json
import time

from warcio.archiveiterator import ArchiveIterator

from .conftest import run_cli, warcio_check
from .sites import send


def records(settings):
    out = []
    for path in sorted(settings.warc_dir.glob("*.warc.gz*")):
        for rec in ArchiveIterator(open(path, "rb")):
            out.append((rec, rec.content_stream().read()))
    return out


def test_resource_over_the_limit_is_truncated_and_marked(env, settings, site):
    site.routes["/huge.bin"] = lambda h: send(h, 200, b"x" * 3_000_000, "application/octet-stream")
    site.routes["/huge.html"] = lambda h: send(h, 200, b"<html><title>Huge</title><body><p>big download here</p>"
                                               b"<script>fetch('/huge.bin')</script></body></html>")
    env = dict(env, CAPTURE_MAX_RESOURCE_BYTES="1000000")
    proc = run_cli(env, "capture", "http://news.example.com/huge.html", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["partial"] is True
    assert any("per-resource byte limit" in r for r in out["partial_reasons"])
    huge = [(r, c) for r, c in records(settings)
            if r.rec_headers.get_header("WARC-Target-URI", "").endswith("/huge.bin") and r.rec_type == "response"]
    assert huge and huge[0][0].rec_headers.get_header("WARC-Truncated") == "length"
    assert len(huge[0][1]) == 1_000_000
    warcio_check(settings.warc_dir.glob("*.warc.gz*"))


def test_capture_byte_limit(env, settings, site):
    env = dict(env, CAPTURE_MAX_BYTES="2000")
    proc = run_cli(env, "capture", "http://news.example.com/", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["partial"] is True
    assert any("capture reached its byte limit" in r for r in out["partial_reasons"])
    warcio_check(settings.warc_dir.glob("*.warc.gz*"))


def test_page_that_never_settles_ends_at_the_time_limit(env, settings, site):
    site.routes["/busy.html"] = lambda h: send(h, 200, (
        b"<html><title>Never quiet</title><body><p>This page polls forever.</p><script>"
        b"setInterval(function(){ fetch('/api/live.json?' + Math.random()); }, 100);"
        b"</script></body></html>"))
    env = dict(env, CAPTURE_TIMEOUT="8", CAPTURE_SETTLE_TIMEOUT="3")
    start = time.monotonic()
    proc = run_cli(env, "capture", "http://news.example.com/busy.html", "--json")
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["partial"] is True and out["title"] == "Never quiet"
    assert any("network did not go quiet" in r for r in out["partial_reasons"])
    assert elapsed < 60  # bounded, with generous room for a slow machine; the limit itself is 8 s


def test_trickling_server_is_cut_at_the_time_limit(env, settings, site):
    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/css")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b"/* slow */\n")
                handler.wfile.flush()
                time.sleep(1)
        except OSError:
            pass

    site.routes["/trickle.css"] = trickle
    site.routes["/trickle.html"] = lambda h: send(h, 200, (
        b"<html><head><title>Trickle</title><link rel=stylesheet href=/trickle.css></head>"
        b"<body><p>Waiting for a slow stylesheet.</p></body></html>"))
    env = dict(env, CAPTURE_TIMEOUT="6")
    start = time.monotonic()
    proc = run_cli(env, "capture", "http://news.example.com/trickle.html", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["partial"] is True
    assert any("time limit" in r for r in out["partial_reasons"]), out["partial_reasons"]
    # Playwright's TimeoutError on the page load, told by its type (not by "Timeout" in its message).
    assert any(r.startswith("page did not finish loading") for r in out["partial_reasons"]), out["partial_reasons"]
    css = [r for r, _ in records(settings) if r.rec_headers.get_header("WARC-Target-URI", "").endswith("/trickle.css")]
    assert css and css[0].rec_headers.get_header("WARC-Truncated") in ("time", "disconnect")
    assert time.monotonic() - start < 60
    warcio_check(settings.warc_dir.glob("*.warc.gz*"))
