"""Capturing the fixture site for real: Chromium, the recording proxy, WARC files read back."""
from __future__ import annotations

import json

import pytest
from warcio.archiveiterator import ArchiveIterator

from .conftest import run_cli, warcio_check


def warc_records(home):
    out = []
    for path in sorted((home / "warcs").glob("*.warc.gz*")):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh, check_digests=True):
                content = rec.content_stream().read()
                out.append((rec, content))
                assert rec.digest_checker.passed is not False, rec.digest_checker.problems
    return out


def check_warcs(home):
    return warcio_check(sorted((home / "warcs").glob("*.warc.gz*")))


@pytest.fixture(scope="module")
def captured(tmp_path_factory, host_rules):
    """One capture of the fixture site through the CLI, as a user would run it."""
    import os

    home = tmp_path_factory.mktemp("capture") / "home"
    env = dict(os.environ, ARCHIVE_HOME=str(home), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
               CAPTURE_HOST_RULES=host_rules, CAPTURE_SETTLE_TIMEOUT="3")
    proc = run_cli(env, "capture", "http://news.example.com/", "--json")
    assert proc.returncode == 0, proc.stderr
    return home, json.loads(proc.stdout), env


def test_capture_json_describes_the_capture(captured):
    home, out, _ = captured
    assert out["url"] == "http://news.example.com/"
    assert out["final_url"] == "http://news.example.com/"
    assert out["status"] == 200
    assert out["title"] == "Court upholds order to block independent outlet"
    assert out["partial"] is False
    assert len(out["sha256"]) == 64
    # The command closes its WARC file before it answers: no `.open` file is left behind.
    assert out["warc_files"] and all((home / "warcs" / f).exists() for f in out["warc_files"])


def test_every_exchange_is_a_response_then_request(captured):
    home, _, _ = captured
    records = warc_records(home)
    types = [r.rec_type for r, _ in records]
    assert types[0] == "warcinfo" and types.count("warcinfo") == 1
    responses = {r.rec_headers.get_header("WARC-Target-URI"): r for r, _ in records if r.rec_type == "response"}
    for path in ("/", "/static/style.css", "/static/logo.png", "/static/app.js", "/api/live.json",
                 "/static/lazy.png"):
        assert "http://news.example.com" + path in responses, f"{path} not recorded"
    for i, (rec, _) in enumerate(records):
        if rec.rec_type == "response":
            request = records[i + 1][0]
            assert request.rec_type == "request"
            assert request.rec_headers.get_header("WARC-Concurrent-To") == rec.rec_headers.get_header("WARC-Record-ID")
            assert rec.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
            assert rec.rec_headers.get_header("WARC-Payload-Digest").startswith("sha256:")
            assert rec.rec_headers.get_header("WARC-Block-Digest").startswith("sha256:")
            assert rec.rec_headers.protocol == "WARC/1.1"


def test_screenshot_dom_text_and_provenance_records(captured):
    home, out, _ = captured
    records = {r.rec_headers.get_header("WARC-Target-URI"): (r, c) for r, c in warc_records(home)}
    shot, png = records["urn:screenshot:http://news.example.com/"]
    assert shot.rec_type == "resource" and png.startswith(b"\x89PNG")
    dom = records["urn:dom:http://news.example.com/"][1].decode()
    assert "Live update: the outlet's appeal hearing" in dom  # written by the page's script
    text = records["urn:text:http://news.example.com/"][1].decode()
    assert "district court in Bishkek" in text
    meta = [(r, c) for r, c in warc_records(home) if r.rec_type == "metadata"]
    assert len(meta) == 1
    # Not at the page's own URL, which pywb would list (and serve by date) as a second capture of the page.
    assert meta[0][0].rec_headers.get_header("WARC-Target-URI") == "urn:pageinfo:http://news.example.com/"
    prov = json.loads(meta[0][1])
    for key in ("software", "browser", "user_agent", "viewport", "started_at", "ended_at", "final_url", "status",
                "blocked_requests"):
        assert key in prov, key
    assert prov["browser"].startswith("Chromium ")
    assert prov["final_url"] == "http://news.example.com/" and prov["status"] == 200


def test_warcio_check_passes(captured):
    home, _, _ = captured
    out = check_warcs(home)
    assert "digest pass" in out


def test_capture_sha256_is_the_main_payload(captured):
    import hashlib

    home, out, _ = captured
    records = warc_records(home)
    main = next(r for r, _ in records if r.rec_type == "response"
                and r.rec_headers.get_header("WARC-Target-URI") == "http://news.example.com/")
    raw = main.raw_stream.read()  # already consumed; compare with the digest header instead
    del raw
    import base64
    digest = main.rec_headers.get_header("WARC-Payload-Digest").split(":")[1]
    assert base64.b32decode(digest).hex() == out["sha256"]
    served = (__import__("pathlib").Path(__file__).parent / "data" / "site" / "index.html").read_bytes()
    assert hashlib.sha256(served).hexdigest() == out["sha256"]


def test_search_finds_the_capture(captured):
    _, out, env = captured
    proc = run_cli(env, "search", "district court Bishkek", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["total"] >= 1
    hit = result["hits"][0]
    assert hit["id"] == out["id"]  # an integer, as everywhere in the JSON
    assert set(hit) >= {"id", "url", "title", "captured_at", "snippet"}
    assert "<mark>" in hit["snippet"]
