"""Submitting URLs (form and API) and watching capture jobs, over real HTTP."""
from __future__ import annotations

import lxml.html
import pytest

from archive.capturing import jobs

# Each kind of URL that must not be queued, and words the reason must contain.
BAD_URLS = [
    ("javascript:alert(document.cookie)", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("ftp://kloop.kg/archive.zip", "only http and https"),
    ("kloop", "is not a URL"),
    ("kloop.kg/some/article", "is not a URL"),
    ("https://kloop.kg/" + "a" * 2100, "the limit is 2048"),
    ("http://127.0.0.1/", "loopback"),
    ("http://[::1]:8000/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://intranet.kloop.kg/admin", "private"),  # a name that resolves to 10.1.2.3
    ("https://user:secret@kloop.kg/", "user name or password"),
    ("   ", "empty"),
]


def queued(builder) -> int:
    return sum(jobs.counts(builder.db).values())


def test_submit_form_queues_and_redirects(web_server, archive_builder):
    assert web_server.get("/submit").status_code == 200
    r = web_server.post_form("/submit", data={"url": "  https://KLOOP.kg/blog/article?id=7#comments "})
    assert r.status_code == 303
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert r.headers["Location"].endswith(f"/jobs/{job_id}")
    job = jobs.get_job(archive_builder.db, job_id)
    assert (job["status"], job["url"]) == ("queued", "https://kloop.kg/blog/article?id=7")


@pytest.mark.parametrize("url, reason", BAD_URLS)
def test_submit_form_rejects_with_reason_and_keeps_input(web_server, archive_builder, url, reason):
    r = web_server.post_form("/submit", data={"url": url})
    assert r.status_code == 400
    doc = lxml.html.fromstring(r.text)
    assert reason in doc.get_element_by_id("url-error").text_content()
    assert doc.get_element_by_id("url").get("value") == url
    assert queued(archive_builder) == 0


@pytest.mark.parametrize("url, reason", BAD_URLS)
def test_api_rejects_with_reason(web_server, archive_builder, url, reason):
    r = web_server.post("/api/captures", json={"url": url})
    assert r.status_code == 400
    body = r.json()
    assert reason in body["error"]
    assert body["fields"] == {"url": [body["error"]]}
    assert queued(archive_builder) == 0


def test_api_submission(web_server, archive_builder):
    r = web_server.post("/api/captures", json={"url": "https://rus.azattyk.org/a/32900000.html"})
    assert r.status_code == 202
    body = r.json()
    job_id = body["job_id"]
    assert body == {"job_id": job_id, "status": "queued", "url": "https://rus.azattyk.org/a/32900000.html",
                    "vantage": "direct",
                    "links": {"job": f"/api/jobs/{job_id}", "page": f"/jobs/{job_id}"}}
    assert r.headers["Location"] == f"/api/jobs/{job_id}"
    assert jobs.get_job(archive_builder.db, job_id)["status"] == "queued"


@pytest.mark.parametrize("kwargs, words", [
    ({"data": "url=https://kloop.kg/"}, "not JSON"),  # a form body
    ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, "not JSON"),
    ({"data": '{"url": "https://kloop.kg/"}', "headers": {"Content-Type": "text/plain"}}, "not JSON"),
    ({"json": ["https://kloop.kg/"]}, "Invalid input type"),
    ({"json": {}}, "Give the URL to capture"),
    ({"json": {"url": 42}}, "string"),
    ({"json": {"url": "https://kloop.kg/", "priority": "high"}}, "Unknown field"),
])
def test_api_rejects_malformed_bodies(web_server, archive_builder, kwargs, words):
    r = web_server.post("/api/captures", **kwargs)
    assert r.status_code == 400
    assert r.headers["Content-Type"] == "application/json"
    assert words in r.json()["error"]
    assert queued(archive_builder) == 0


def job_page(web_server, job_id):
    r = web_server.get(f"/jobs/{job_id}")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    return r.text, lxml.html.fromstring(r.text)


def refresh_seconds(doc) -> str | None:
    found = doc.xpath("//meta[@http-equiv='refresh']/@content")
    return found[0] if found else None


def test_job_page_follows_the_job(web_server, archive_builder):
    db = archive_builder.db
    job_id = jobs.enqueue(db, "https://kloop.kg/blog/")
    page, doc = job_page(web_server, job_id)
    assert doc.get_element_by_id("job-status").text_content() == "queued"
    assert refresh_seconds(doc) == "2"
    assert not doc.xpath("//*[@id='capture-link']")

    jobs.claim(db, "tests:1")
    page, doc = job_page(web_server, job_id)
    assert doc.get_element_by_id("job-status").text_content() == "running"
    assert refresh_seconds(doc) == "2"

    capture_id = archive_builder.add("https://kloop.kg/blog/", "Kloop", ["Text."])
    jobs.finish(db, job_id, capture_id)
    page, doc = job_page(web_server, job_id)
    assert doc.get_element_by_id("job-status").text_content() == "done"
    assert refresh_seconds(doc) is None
    link = doc.get_element_by_id("capture-link")
    assert link.get("href") == f"/capture/{capture_id}"
    assert link.text_content() == "View the capture"
    assert web_server.get(link.get("href")).status_code == 200


def test_failed_job_says_why(web_server, archive_builder):
    db = archive_builder.db
    job_id = jobs.enqueue(db, "https://kloop.kg/gone")
    jobs.claim(db, "tests:1")
    jobs.fail(db, job_id, "net::ERR_CONNECTION_RESET while loading the page", max_attempts=1)
    page, doc = job_page(web_server, job_id)
    assert doc.get_element_by_id("job-status").text_content() == "failed"
    assert refresh_seconds(doc) is None
    assert "net::ERR_CONNECTION_RESET while loading the page" in page
    assert "after 1 attempt:" in " ".join(page.split())
    assert doc.xpath("//a[text()='Submit it again']/@href") == ["/submit?url=https://kloop.kg/gone"]
    again = lxml.html.fromstring(web_server.get("/submit?url=https://kloop.kg/gone").text)
    assert again.get_element_by_id("url").get("value") == "https://kloop.kg/gone"


def test_api_job_states(web_server, archive_builder):
    db = archive_builder.db
    job_id = web_server.post("/api/captures", json={"url": "https://kloop.kg/"}).json()["job_id"]
    body = web_server.get(f"/api/jobs/{job_id}").json()
    assert body["status"] == "queued"
    assert body["created_at"].endswith("Z")
    assert body["capture_id"] is None and "capture" not in body["links"]

    jobs.claim(db, "tests:1")
    capture_id = archive_builder.add("https://kloop.kg/", "Kloop", ["Text."])
    jobs.finish(db, job_id, capture_id)
    r = web_server.get(f"/api/jobs/{job_id}")
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert (body["status"], body["capture_id"], body["attempts"], body["error"]) == ("done", capture_id, 1, None)
    assert body["links"]["capture"] == f"/api/captures/{capture_id}"
    assert body["links"]["record"] == f"/capture/{capture_id}"
    assert web_server.get(body["links"]["capture"]).json()["id"] == capture_id


def test_unknown_job_is_404(web_server):
    r = web_server.get("/jobs/41")
    assert r.status_code == 404
    assert "There is no capture job 41" in r.text
    r = web_server.get("/api/jobs/41")
    assert r.status_code == 404
    assert r.json() == {"error": "There is no capture job 41."}
