"""Submitting like Save Page Now, over real HTTP: a recent capture instead of a new one, outlinks
captured as child jobs by a real worker and Chromium, bulk submission with per-URL results, and
accepted submissions that survive a SIGKILLed server."""
from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from archive import catalog
from archive.capturing import jobs
from archive.capturing.worker import run_worker
from archive.settings import Settings
from archive.staff.tokens import create_token, revoke_token

from .sites import send
from .waiting import Served, wait_until
from .webapp import ArchiveBuilder, LiveServer, make_settings

NEWS = "http://news.example.com"


def page(title: str, body: str = "") -> bytes:
    head = f"<!doctype html><html><head><title>{title}</title></head>"
    return f"{head}<body><h1>{title}</h1>{body}</body></html>".encode()


LINKS = page("Links", """
<p><a href="/a.html">A</a> <a href="/a.html#part">A again</a> <a href="links.html">this page</a>
<a href="javascript:alert(1)">script</a> <a href="mailto:desk@news.example.com">mail</a>
<a href="http://intranet.example/secret">private</a> <a href="http://news.example.com/b.html">B</a></p>
<script>document.body.insertAdjacentHTML('beforeend', '<a href="/c.html">C, added by a script</a>')</script>
<p><a href="/d.html">D, past OUTLINKS_MAX</a></p>""")


@pytest.fixture
def linked_site(site):
    site.routes["/links.html"] = lambda h: send(h, 200, LINKS)
    site.routes["/a.html"] = lambda h: send(h, 200, page("Page A", '<a href="/e.html">E: depth 2</a>'))
    for name in "bcde":
        site.routes[f"/{name}.html"] = lambda h, name=name: send(h, 200, page(f"Page {name.upper()}"))
    return site


def test_outlinks_are_captured_as_child_jobs(env, linked_site, private_site):
    settings = Settings.from_env(env, outlinks_max="3")
    with LiveServer(settings) as server:
        r = server.post("/api/captures", json={"url": f"{NEWS}/links.html", "capture_outlinks": True})
        assert r.status_code == 202, r.text
        parent_id = r.json()["job_id"]
        run_worker(settings, once=True)  # the page, then its children, queued while it ran
        parent = server.get(f"/api/jobs/{parent_id}").json()
        assert parent["status"] == "done" and parent["options"] == {"capture_outlinks": True}
        children = [server.get(f"/api/jobs/{i}").json() for i in parent["children"]]
    assert [c["url"] for c in children] == [f"{NEWS}/a.html", f"{NEWS}/b.html", f"{NEWS}/c.html"]
    assert all(c["status"] == "done" and c["parent_job_id"] == parent_id for c in children)
    db = catalog.connect(settings.catalog_path)
    assert [catalog.get_capture(db, c["capture_id"])["title"] for c in children] == ["Page A", "Page B", "Page C"]
    assert jobs.children(db, children[0]["id"]) == []  # depth 1: page A's link to E is not followed
    hits = {path for path, _ in linked_site.hits}
    assert "/e.html" not in hits and "/d.html" not in hits
    assert not private_site.hits  # a private link is checked like any submission, never fetched
    assert jobs.counts(db) == {"done": 4}


@pytest.fixture
def archive(tmp_path):
    # These tests submit more often than the anonymous limit allows (tests/test_rate_limits.py checks it).
    settings = make_settings(tmp_path / "home", capture_vantages="ru-isp=RU=socks5://127.0.0.1:9",
                             rate_limit_anonymous="1000/minute")
    builder = ArchiveBuilder(settings)
    with LiveServer(settings) as server:
        yield server, builder
    builder.close()


def test_a_recent_capture_is_returned_instead_of_queueing(archive):
    server, builder = archive
    url = "https://kloop.kg/news/article"
    capture_id = builder.add(url, "Article", ["Text."], captured_at=datetime.now(UTC) - timedelta(hours=2))
    r = server.post("/api/captures", json={"url": url, "if_not_archived_within": "6h"})
    assert r.status_code == 200, r.text
    assert r.json() == server.get(f"/api/captures/{capture_id}").json()
    assert r.headers["Content-Location"] == f"/api/captures/{capture_id}"
    assert sum(jobs.counts(builder.db).values()) == 0
    in_seconds = server.post("/api/captures", json={"url": url, "if_not_archived_within": 3 * 3600})
    assert in_seconds.status_code == 200 and in_seconds.json()["id"] == capture_id
    # Older than asked, another vantage, or not public: a new capture is queued.
    for body in ({"url": url, "if_not_archived_within": "1h"},
                 {"url": url, "if_not_archived_within": "1d", "vantage": "ru-isp"},
                 {"url": url}):
        assert server.post("/api/captures", json=body).status_code == 202, body
    builder.db.execute("UPDATE captures SET visibility = 'private' WHERE id = ?", (capture_id,))
    assert server.post("/api/captures", json={"url": url, "if_not_archived_within": "1d"}).status_code == 202
    assert sum(jobs.counts(builder.db).values()) == 4
    for bad, words in (("5s", "shorter than a minute"), ("soon", "not a duration"), (True, "Give a duration")):
        r = server.post("/api/captures", json={"url": url, "if_not_archived_within": bad})
        assert r.status_code == 400 and words in r.json()["error"], r.text
        assert "if_not_archived_within" in r.json()["fields"]
    assert sum(jobs.counts(builder.db).values()) == 4


def test_bulk_submission_gives_one_result_per_url(archive):
    server, builder = archive
    token, secret = create_token(builder.db, "bot")
    auth = {"Authorization": f"Bearer {secret}"}
    urls = ["https://kloop.kg/a", "javascript:alert(1)", 42, "http://intranet.kloop.kg/admin",
            "https://rus.azattyk.org/a/1.html"]
    r = server.post("/api/captures/bulk", json={"urls": urls, "capture_outlinks": True}, headers=auth)
    assert r.status_code == 207, r.text
    body = r.json()
    assert (body["accepted"], body["refused"]) == (2, 3)
    assert [item["url"] for item in body["results"]] == urls
    assert [item["code"] for item in body["results"]] == [202, 400, 400, 400, 202]
    assert "only http and https" in body["results"][1]["error"] and "private" in body["results"][3]["error"]
    assert "string" in body["results"][2]["error"]
    accepted = [item["job"]["job_id"] for item in body["results"] if item["code"] == 202]
    rows = [jobs.get_job(builder.db, i) for i in accepted]
    assert [(j["url"], j["token_id"], jobs.job_options(j)) for j in rows] == [
        ("https://kloop.kg/a", token.id, {"capture_outlinks": True}),
        ("https://rus.azattyk.org/a/1.html", token.id, {"capture_outlinks": True})]
    for job_id in accepted:
        assert server.get(f"/api/jobs/{job_id}").json()["status"] == "queued"


def test_bulk_needs_a_token_and_stays_within_bulk_max(tmp_path):
    settings = make_settings(tmp_path / "home", bulk_max="3")
    builder = ArchiveBuilder(settings)
    token, secret = create_token(builder.db, "bot")
    auth = {"Authorization": f"Bearer {secret}"}
    with LiveServer(settings) as server:
        anonymous = server.post("/api/captures/bulk", json={"urls": ["https://kloop.kg/a"]})
        assert anonymous.status_code == 401 and "API token holders" in anonymous.json()["error"]
        too_many = server.post("/api/captures/bulk", json={"urls": ["https://kloop.kg/a"] * 4}, headers=auth)
        assert too_many.status_code == 400 and "at most 3 (BULK_MAX)" in too_many.json()["error"]
        for body, words in (({"urls": []}, "empty"), ({"urls": "https://kloop.kg/"}, "list"),
                            ({"url": "https://kloop.kg/"}, "Give the URLs"),
                            ({"urls": ["https://kloop.kg/"], "vantage": "mars"}, "mars")):
            r = server.post("/api/captures/bulk", json=body, headers=auth)
            assert r.status_code == 400 and words in r.json()["error"], r.text
        revoke_token(builder.db, token.id)
        assert server.post("/api/captures/bulk", json={"urls": ["https://kloop.kg/a"]}, headers=auth).status_code == 401
    assert sum(jobs.counts(builder.db).values()) == 0
    builder.close()


def test_accepted_submissions_survive_a_killed_server(env, settings, site):
    calls, release = [], threading.Event()

    def slow_once(handler):
        calls.append(handler.path)
        if len(calls) == 1:
            release.wait(120)  # the server is killed while its worker waits for this page
        send(handler, 200, page("Slow page"))

    site.routes["/slow-once"] = slow_once
    env = dict(env, CAPTURE_CONCURRENCY="1", CAPTURE_MAX_ATTEMPTS="2")
    try:
        with Served(env) as serve:
            accepted = []
            for path in ("/slow-once", "/", "/gallery.html", "/no-such-page"):
                r = requests.post(f"{serve.base}/api/captures", json={"url": NEWS + path}, timeout=10)
                assert r.status_code == 202, r.text
                accepted.append(r.json()["job_id"])
            db = catalog.connect(settings.catalog_path)
            # A busy machine: the worker starts Chromium first.
            wait_until(lambda: calls and jobs.get_job(db, accepted[0])["status"] == "running",
                       "the slow capture to start", seen=lambda: (jobs.get_job(db, accepted[0]), serve.log()))
            serve.stop(signal.SIGKILL)
    finally:
        release.set()
    assert [jobs.get_job(db, i)["status"] for i in accepted] == ["running", "queued", "queued", "queued"]

    with Served(env) as serve:  # a new server, a new worker: it recovers the dead one's job
        wait_until(lambda: all(jobs.get_job(db, i)["status"] in ("done", "failed") for i in accepted),
                   "every accepted job to end", timeout=240,
                   seen=lambda: ([jobs.get_job(db, i) for i in accepted], serve.log()))
    ended = [jobs.get_job(db, i) for i in accepted]
    for job in ended:
        assert job["status"] == "done", job  # every one captured (a 404 page too: that is what it showed)
    assert ended[0]["status"] == "done" and ended[0]["attempts"] == 2  # retried after the kill
    assert catalog.get_capture(db, ended[0]["capture_id"])["title"] == "Slow page"
    assert catalog.get_capture(db, ended[3]["capture_id"])["outcome"] == "not_found"
