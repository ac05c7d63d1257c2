"""The capture API, JSON errors, and the headers every response carries."""
from __future__ import annotations

import hashlib
import json
from io import BytesIO

import lxml.html
import pytest
from warcio.archiveiterator import ArchiveIterator

from archive import catalog
from archive.capturing import jobs

from .webapp import OWN_SCRIPT_XPATH, page_html

URL = "https://kloop.kg/blog/2024/04/18/tiktok/"
TITLE = "ГКНБ обязал провайдеров заблокировать TikTok"
TEXT = ["Служба безопасности потребовала заблокировать TikTok."]


@pytest.fixture
def capture_id(archive_builder) -> int:
    return archive_builder.add(URL, TITLE, TEXT, lang="ru", partial_reasons=["page never went quiet"],
                               blocked=[{"url": "http://10.0.0.1/x.js", "reason": "private address"}])


def test_capture_json(web_server, archive_builder, capture_id):
    r = web_server.get(f"/api/captures/{capture_id}")
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("id", "url", "final_url", "captured_at", "status", "title", "lang", "partial",
                                 "partial_reasons", "blocked", "sha256")} == {
        "id": capture_id, "url": URL, "final_url": URL, "captured_at": "2024-04-18T09:30:15Z", "status": 200,
        "title": TITLE, "lang": "ru", "partial": True, "partial_reasons": ["page never went quiet"],
        "blocked": [{"url": "http://10.0.0.1/x.js", "reason": "private address"}],
        "sha256": hashlib.sha256(page_html(TITLE, TEXT)).hexdigest()}
    refs = catalog.get_records(archive_builder.db, capture_id)
    assert [(rec["role"], rec["type"], rec["target_uri"], rec["payload_digest"], rec["block_digest"])
            for rec in body["records"]] == [
        (ref.role, ref.record_type, ref.target_uri, ref.payload_digest, ref.block_digest) for ref in refs]
    assert body["links"] == {"self": f"/api/captures/{capture_id}", "record": f"/capture/{capture_id}",
                             "screenshot": f"/capture/{capture_id}/screenshot.png",
                             "warc": f"/capture/{capture_id}/warc"}


def test_capture_links_lead_where_they_say(web_server, capture_id):
    links = web_server.get(f"/api/captures/{capture_id}").json()["links"]
    expected = {"self": "application/json", "record": "text/html; charset=utf-8", "screenshot": "image/png",
                "warc": "application/warc"}
    for name, content_type in expected.items():
        r = web_server.get(links[name])
        assert (r.status_code, r.headers["Content-Type"]) == (200, content_type), name


def test_digests_in_json_match_the_downloaded_warc(web_server, capture_id):
    body = web_server.get(f"/api/captures/{capture_id}").json()
    warc = web_server.get(body["links"]["warc"]).content
    downloaded = {}
    for record in ArchiveIterator(BytesIO(warc), check_digests=True):
        record.content_stream().read()
        assert not record.digest_checker.problems
        h = record.rec_headers
        downloaded[h.get_header("WARC-Record-ID")] = (h.get_header("WARC-Payload-Digest"),
                                                     h.get_header("WARC-Block-Digest"))
    assert downloaded.keys() == {rec["record_id"] for rec in body["records"]}
    for rec in body["records"]:
        assert downloaded[rec["record_id"]] == (rec["payload_digest"], rec["block_digest"]), rec
        assert rec["block_digest"].startswith("sha256:")


@pytest.mark.parametrize("method, address, status", [
    ("GET", "/api/captures/999", 404), ("GET", "/api/nothing-here", 404), ("GET", "/api/", 404),  # /api: the API page
    ("GET", "/api/captures/99999999999999999999999", 404),  # beyond SQLite's integers: no such route, not a 500
    ("GET", "/api/captures/abc", 404), ("GET", "/api/jobs/999", 404),
    ("DELETE", "/api/captures/1", 405), ("GET", "/api/captures", 405), ("PUT", "/api/search", 405),
])
def test_api_errors_are_json(web_server, method, address, status):
    r = web_server.http.request(method, web_server.url + address, timeout=10)
    assert r.status_code == status
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["error"]
    if status == 405:
        assert "Allow" in r.headers
        assert method in r.json()["error"]


@pytest.mark.parametrize("address, status, bad_fields", [
    ("/timemap/json/https://kloop.kg/never-archived", 404, None),  # the JSON TimeMap: a JSON error, not a page
    ("/timemap/json/http://[::1", 400, None),
    ("/cdx?url=kloop.kg&output=json&limit=many", 400, None),
    ("/api/takedowns?limit=0", 400, ["limit"]),  # was silently clamped; now loaded as every JSON route's input
    ("/api/takedowns?offset=-1", 400, ["offset"]),
    ("/api/watches?limit=0", 400, ["limit"]),
    ("/api/removals?outcome=gone", 400, ["outcome"]),
    ("/api/search?limit=0", 400, ["limit"]),
])
def test_every_json_route_errs_in_one_shape(web_server, address, status, bad_fields):
    """{"error": sentence} (+ "fields" naming the bad inputs), JSON, from the routes that reply in JSON."""
    r = web_server.get(address)
    assert (r.status_code, r.headers["Content-Type"]) == (status, "application/json")
    body = r.json()
    assert isinstance(body["error"], str) and body["error"]
    assert set(body) == ({"error", "fields"} if bad_fields else {"error"})
    if bad_fields:
        assert sorted(body["fields"]) == bad_fields


def test_json_routes_serialise_one_way(web_server, archive_builder, capture_id):
    """Every JSON reply comes from the app's one JSON provider: UTF-8 text as is, keys in their order."""
    for address in ("/timemap/json/" + URL, f"/cdx?url={URL}&output=json", f"/api/captures/{capture_id}"):
        r = web_server.get(address)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json", address
        # jsonify's own form (create_app: ensure_ascii off, keys unsorted; compact): nothing hand-dumped
        assert r.text == json.dumps(r.json(), ensure_ascii=False, separators=(",", ":")) + "\n", address


def test_too_large_body_is_refused(web_server, archive_builder):
    r = web_server.post("/api/captures", json={"url": "https://kloop.kg/" + "a" * 2_000_000})
    assert r.status_code == 413
    assert r.json()["error"]
    assert sum(jobs.counts(archive_builder.db).values()) == 0


def test_html_errors_are_pages(web_server):
    r = web_server.get("/no/such/page")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Error 404" in r.text
    r = web_server.http.delete(web_server.url + "/submit", timeout=10)
    assert r.status_code == 405
    assert "Error 405" in r.text


def pages(capture_id: int) -> list[str]:
    return ["/", "/?q=TikTok", "/submit", f"/capture/{capture_id}", "/jobs/1", "/no/such/page",
            f"/api/captures/{capture_id}", "/api/search?q=TikTok", "/api/nothing",
            f"/capture/{capture_id}/screenshot.png", f"/capture/{capture_id}/warc", "/static/style.css"]


def test_security_headers_everywhere(web_server, archive_builder, capture_id):
    jobs.enqueue(archive_builder.db, URL)
    for address in pages(capture_id):
        r = web_server.get(address)
        h = r.headers
        assert h["X-Content-Type-Options"] == "nosniff", address
        assert h["Referrer-Policy"] == "no-referrer", address
        csp = h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp, address
        assert "default-src 'none'" in csp, address
        assert "unsafe-inline" not in csp, address
        # Scripts: none at all, except our own copy.js on the record page (its citation copy buttons)
        # and follow.js on the job page (which fetches the page again to follow the job).
        own = {f"/capture/{capture_id}": "; script-src 'self'", "/jobs/1": "; script-src 'self'; connect-src 'self'"
               }.get(address, "")
        assert ("script-src" not in csp) if not own else csp.endswith(own) and csp.count("script-src") == 1, address
    post = web_server.post_form("/submit", data={"url": "javascript:alert(1)"})
    assert "frame-ancestors 'none'" in post.headers["Content-Security-Policy"]


def test_pages_have_no_scripts_or_inline_styles(web_server, archive_builder, capture_id, web_settings):
    jobs.enqueue(archive_builder.db, URL)
    for address in ("/", "/?q=TikTok", "/submit", f"/capture/{capture_id}", "/jobs/1", "/no/such/page"):
        doc = lxml.html.fromstring(web_server.get(address).text)
        assert not doc.xpath(f"{OWN_SCRIPT_XPATH} | //style | //*[@style] | //object | //embed"), address
        # The only frame is the replay, from the replay origin, never this one.
        for src in doc.xpath("//iframe/@src"):
            assert src == f"{web_settings.replay_origin}/embed/{capture_id}", src
            assert not src.startswith(web_server.url)
        assert not [a for a in doc.xpath("//@*") if a.attrname.startswith("on")], address
        assert doc.xpath("//meta[@name='viewport']"), address
