"""The whole archive as a person uses it: `serve`, submit, watch the job, search, open the record."""
from __future__ import annotations

import pytest
import requests
from playwright.sync_api import sync_playwright

from crawler.browser import find_chromium, launch_args

from .waiting import Served, wait_until


@pytest.fixture
def server(env):
    """`python -m archive serve` on a free port, with its in-process worker."""
    with Served(env) as serve:
        yield serve


def wait_job(serve: Served, job_id: int) -> dict:
    def ended() -> dict | None:
        job = requests.get(f"{serve.base}/api/jobs/{job_id}", timeout=30).json()
        return job if job["status"] in ("done", "failed") else None

    return wait_until(ended, f"job {job_id} to end",
                      seen=lambda: (requests.get(f"{serve.base}/api/jobs/{job_id}", timeout=30).json(), serve.log()))


def test_submit_through_api_then_search_and_read(server):
    base = server.base
    r = requests.post(f"{base}/api/captures", json={"url": "http://news.example.com/"}, timeout=10)
    assert r.status_code == 202, r.text
    job = wait_job(server, r.json()["job_id"])
    assert job["status"] == "done", job
    capture = requests.get(f"{base}/api/captures/{job['capture_id']}", timeout=5).json()
    assert capture["title"] == "Court upholds order to block independent outlet"
    assert capture["status"] == 200
    shot = requests.get(base + capture["links"]["screenshot"], timeout=5)
    assert shot.headers["Content-Type"] == "image/png" and shot.content.startswith(b"\x89PNG")
    found = requests.get(f"{base}/api/search", params={"q": "appeal district court"}, timeout=5).json()
    assert [h["id"] for h in found["hits"]][:1] == [capture["id"]]
    rejected = requests.post(f"{base}/api/captures", json={"url": "http://169.254.169.254/"}, timeout=10)
    assert rejected.status_code == 400 and "link-local" in rejected.json()["error"]


def test_submit_form_in_a_real_browser(server):
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=launch_args())
        page = browser.new_page()
        page.goto(f"{server.base}/submit")
        page.fill("input[name=url]", "http://news.example.com/")
        page.click("button[type=submit], input[type=submit]")
        assert "/jobs/" in page.url
        # The job page refreshes itself (no JavaScript needed) until the capture is done.
        page.wait_for_selector("#capture-link", timeout=90_000)
        page.click("#capture-link")
        assert "/capture/" in page.url
        img = page.wait_for_selector("img[src$='screenshot.png']")
        assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", img)
        body = page.inner_text("body")
        assert "Court upholds order to block independent outlet" in body
        assert "district court in Bishkek" in body  # the extracted text
        # Search for it as a reader would.
        page.goto(server.base + "/")
        page.fill("input[name=q]", "Bishkek appeal")
        page.press("input[name=q]", "Enter")
        page.wait_for_selector("text=Court upholds order to block independent outlet")
        browser.close()
