"""Whole-site crawls of the fixture outlet (tests/outlet.py), through the command line as people run them.

One crawl per module does three jobs: it is killed with SIGKILL mid-way (a worker process) and
finished by `crawl wait`; the outlet then deletes 10 articles and rewrites 5, and a recrawl is compared
with it. Every page is an ordinary capture by real Chromium; the catalog and the WARC files are read back.

kloop.kg is on Chromium's HSTS preload list: the outlet serves HTTP and HTTPS on one port.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from archive.catalog import connect as connect_catalog
from archive.staff.tokens import create_token
from archive.staff.users import create_user

from .conftest import ALLOWED, ROOT, run_cli
from .waiting import wait_until
from .webapp import LiveServer, make_settings

# The module's crawls run in its first tests' fixtures; a loaded machine may take long (deadlines fail
# loudly, they do not measure).
pytestmark = pytest.mark.timeout(1800)

BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery staple"
KILL_AFTER_PAGES = 40  # captured before the worker is killed: well inside the crawl


@pytest.fixture(scope="module")
def crawl_env(outlet, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("crawl") / "home"
    return dict(os.environ, ARCHIVE_HOME=str(home), CAPTURE_ALLOW_NETWORKS=ALLOWED,
                CAPTURE_HOST_RULES=outlet.host_rules, CAPTURE_TIMEOUT="30", CAPTURE_SETTLE_TIMEOUT="2",
                CAPTURE_CONCURRENCY="4", PYTHONPATH=str(ROOT))


def catalog(env: dict) -> sqlite3.Connection:
    db = sqlite3.connect(Path(env["ARCHIVE_HOME"]) / "catalog.sqlite3", timeout=30)
    db.row_factory = sqlite3.Row
    return db


def cli_json(env: dict, *args: str, timeout: float = 1800) -> dict:
    proc = run_cli(env, *args, "--json", timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def captured(env: dict, crawl_id: int) -> dict[str, int]:
    with catalog(env) as db:
        return {r[0]: r[1] for r in db.execute("SELECT url, capture_id FROM crawl_urls WHERE crawl_id = ? AND"
                                               " state = 'captured'", (crawl_id,))}


# Depth 3 from the home page: every article is in the sitemap (depth 0) or linked from the home page; the
# calendar and the growing query string then stop at the depth limit (the log says so), the session ids at
# the trap guard. Fewer pages: crawl tests cost wall time.
SEED_ARGS = ("--scope", "host", "--host-delay", "0", "--host-concurrency", "4", "--max-depth", "3")


@pytest.fixture(scope="module")
def first(crawl_env, outlet, tmp_path_factory):
    """A host-scoped crawl of kloop.kg whose worker is SIGKILLed after KILL_AFTER_PAGES pages, then finished.
    One article answers 503 with Retry-After once."""
    throttled = sorted(outlet.host_articles())[-1]
    outlet.throttle(throttled, times=1, retry_after=2)
    started = cli_json(crawl_env, "crawl", "start", outlet.url("/"), *SEED_ARGS)
    crawl_id = started["id"]
    assert started["state"] == "queued"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "archive", "worker", "--no-scheduler"], env=crawl_env,
                                  cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: len(captured(crawl_env, crawl_id)) >= KILL_AFTER_PAGES or worker.poll() is not None,
                   f"{KILL_AFTER_PAGES} pages of crawl {crawl_id}", timeout=900, seen=lambda: log.read_text()[-2000:])
        assert worker.poll() is None, log.read_text()[-3000:]
        with catalog(crawl_env) as db:
            running = db.execute("SELECT count(*) FROM jobs WHERE crawl_id = ? AND status = 'running'",
                                 (crawl_id,)).fetchone()[0]
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its Chromium, as a crash would
        worker.wait()
    at_kill = captured(crawl_env, crawl_id)
    done = cli_json(crawl_env, "crawl", "wait", str(crawl_id))
    return {"id": crawl_id, "at_kill": at_kill, "running_at_kill": running, "done": done, "throttled": throttled}


def test_host_crawl_finds_every_article_and_nothing_outside(first, outlet, crawl_env):
    assert first["done"]["state"] == "done", first["done"]
    pages = captured(crawl_env, first["id"])
    assert first["done"]["pages"] == len(pages)
    missing = outlet.host_articles() - set(pages)
    assert not missing, f"{len(missing)} articles not captured, e.g. {sorted(missing)[:3]}"
    assert outlet.script_articles & outlet.host_articles() <= set(pages)  # links only a script builds
    outside = [u for u in pages if not outlet.in_scope_host(u)]
    assert not outside, outside[:5]
    assert not any(path.startswith(outlet.disallowed_prefix) for _, path, _ in outlet.requests), \
        "a page robots.txt disallows was fetched"


def test_a_sigkilled_worker_loses_nothing_and_captures_nothing_twice(first, crawl_env):
    assert len(first["at_kill"]) >= KILL_AFTER_PAGES and first["running_at_kill"] > 0
    assert len(first["at_kill"]) < first["done"]["pages"], "the kill came after the crawl was over"
    with catalog(crawl_env) as db:
        twice = db.execute("SELECT c.url, count(*) FROM captures c JOIN jobs j ON j.id = c.job_id"
                           " WHERE j.crawl_id = ? AND c.status <> 503 GROUP BY c.url HAVING count(*) > 1",
                           (first["id"],)).fetchall()
        assert not [tuple(r) for r in twice]
        recovered = db.execute("SELECT count(*) FROM jobs WHERE crawl_id = ? AND attempts > 1",
                               (first["id"],)).fetchone()[0]
        assert recovered >= 1, "no job was interrupted by the kill and run again"
        left = db.execute("SELECT count(*) FROM crawl_urls WHERE crawl_id = ? AND state IN ('pending', 'queued')",
                          (first["id"],)).fetchone()[0]
        assert left == 0
    # Every page captured before the kill is still the crawl's, with the same capture.
    after = captured(crawl_env, first["id"])
    assert all(after[url] == capture for url, capture in first["at_kill"].items())


def test_retry_after_is_honoured(first, crawl_env):
    with catalog(crawl_env) as db:
        tries = db.execute("SELECT c.status, c.captured_at FROM captures c JOIN jobs j ON j.id = c.job_id"
                           " WHERE j.crawl_id = ? AND c.url = ? ORDER BY c.id",
                           (first["id"], first["throttled"])).fetchall()
        row = db.execute("SELECT state, retries FROM crawl_urls WHERE crawl_id = ? AND url = ?",
                         (first["id"], first["throttled"])).fetchone()
    assert [t[0] for t in tries] == [503, 200] and tuple(row) == ("captured", 1)
    waited = datetime.datetime.fromisoformat(tries[1][1]) - datetime.datetime.fromisoformat(tries[0][1])
    assert waited >= datetime.timedelta(seconds=2)


def test_crawl_log_says_why_each_url_was_skipped(first, crawl_env, outlet):
    with catalog(crawl_env) as db:
        skipped = {r[0]: r[1] for r in db.execute("SELECT url, reason FROM crawl_urls WHERE crawl_id = ? AND"
                                                  " state = 'skipped'", (first["id"],))}
    reasons = " | ".join(skipped.values())
    assert "robots.txt disallows it" in reasons
    assert "out of scope: other host" in reasons
    assert "crawler trap:" in reasons
    for url, why in skipped.items():
        if url.startswith(outlet.url(outlet.disallowed_prefix)):
            assert why == "robots.txt disallows it"
    proc = run_cli(crawl_env, "crawl", "log", str(first["id"]), "--state", "skipped")
    assert proc.returncode == 0 and "robots.txt disallows it" in proc.stdout


def test_the_whole_crawl_is_one_wacz_that_validates(first, crawl_env, outlet, tmp_path):
    out = tmp_path / "crawl.wacz"
    proc = run_cli(crawl_env, "crawl", "export", str(first["id"]), "-o", str(out), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    valid = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(out)], capture_output=True, text=True)
    assert valid.returncode == 0 and "the passed WACZ is valid" in valid.stdout, valid.stdout + valid.stderr
    with zipfile.ZipFile(out) as zf:
        lines = zf.read("pages/pages.jsonl").decode().splitlines()
        package = json.loads(zf.read("datapackage.json"))
    pages = [json.loads(line) for line in lines[1:]]
    assert len(pages) == first["done"]["pages"]
    # A page's URL is its main response's: a redirect chain's capture is listed under the article it ends at.
    articles = [p for p in pages if p["url"].replace("https://", "http://") in outlet.host_articles()]
    assert {p["url"].replace("https://", "http://") for p in articles} == outlet.host_articles()
    assert all(p["title"] and p["title"] != p["url"] for p in articles)
    assert f"Crawl {first['id']}" in package["title"] and "scope host" in package["description"]


@pytest.fixture(scope="module")
def second(first, crawl_env, outlet):
    removed, changed = outlet.standard_changes()
    done = cli_json(crawl_env, "crawl", "recrawl", str(first["id"]), "--wait")
    result = cli_json(crawl_env, "crawl", "compare", str(first["id"]), str(done["id"]))
    return {"id": done["id"], "done": done, "removed": removed, "changed": changed, "result": result}


def test_recrawl_after_takedowns_reports_exactly_what_was_lost(second, outlet):
    result = second["result"]
    assert set(result) >= {"removed", "changed", "added", "unchanged"}
    articles = outlet.host_articles() | second["removed"]
    assert {u for u in result["removed"] if u in articles} == second["removed"]
    assert {u for u in result["changed"] if u in articles} == second["changed"]
    # Anything else listed is a listing page the takedowns changed (or emptied: a category's last page).
    others = [u for u in result["removed"] + result["changed"] if u not in articles]
    assert all(u == outlet.url("/") or "/category/" in u or "/calendar/" in u for u in others), others
    assert not set(result["added"]) & articles
    assert isinstance(result["unchanged"], int) and result["unchanged"] >= 250


def test_removed_and_changed_pages_open_removal_events(second, crawl_env):
    with catalog(crawl_env) as db:
        events = {r[0]: r[1] for r in db.execute("SELECT url, outcome FROM removal_events WHERE closed_at IS NULL")}
    for url in second["removed"]:
        assert events.get(url) in ("not_found", "legal", "redirect_notice"), (url, events.get(url))
    for url in second["changed"]:
        assert events.get(url) == "changed"


def test_compare_page_csv_and_api(second, first, crawl_env):
    settings = make_settings(Path(crawl_env["ARCHIVE_HOME"]), capture_host_rules=crawl_env["CAPTURE_HOST_RULES"])
    with LiveServer(settings) as server:
        path = f"/crawls/{first['id']}/compare/{second['id']}"
        assert server.get(path).status_code == 403  # staff only
        catalog_db = connect_catalog(settings.catalog_path)
        create_user(catalog_db, "editor", PASSWORD)
        server.post_form("/login", {"username": "editor", "password": PASSWORD})
        page = server.get(path + "?kind=removed")
        assert page.status_code == 200
        for url in second["removed"]:
            assert url in page.text
        assert not any(url in page.text for url in second["changed"])
        csv_text = server.get(path + ".csv").text
        assert sum(1 for line in csv_text.splitlines() if line.startswith("removed,")) == len(
            second["result"]["removed"])
        detail = server.get(f"/crawls/{second['id']}")
        assert detail.status_code == 200 and "Crawl log" in detail.text
        api = server.get(f"/api/crawls/{first['id']}/compare/{second['id']}")
        assert api.status_code == 200 and api.json()["removed"] == second["result"]["removed"]
    # The API for token holders (no staff session).
    with LiveServer(settings) as server:
        assert server.get("/api/crawls").status_code == 401
        _, secret = create_token(catalog_db, "crawler")
        auth = {"Authorization": f"Bearer {secret}"}
        log = server.get(f"/api/crawls/{first['id']}/log?state=skipped", headers=auth)
        assert log.status_code == 200 and {"robots.txt disallows it"} <= {u["reason"] for u in log.json()["urls"]}
        bad = server.post("/api/crawls", json={"seeds": ["ftp://kloop.kg/"]}, headers=auth)
        assert bad.status_code == 400 and "only http and https" in bad.json()["error"]
        done = server.post(f"/api/crawls/{first['id']}/pause", headers=auth)
        assert done.status_code == 409 and "is done" in done.json()["error"]
        state = server.get(f"/api/crawls/{second['id']}", headers=auth).json()
        assert state["state"] == "done" and state["summary"]["previous_crawl"] == first["id"]
        # The whole crawl as one download: sandboxed like archived content, its length known.
        package = server.get(f"/api/crawls/{second['id']}/wacz", headers=auth)
        assert package.status_code == 200, package.text[:300]
        assert package.headers["Content-Disposition"] == f'attachment; filename="crawl-{second["id"]}.wacz"'
        assert int(package.headers["Content-Length"]) == len(package.content)
        assert "sandbox" in package.headers["Content-Security-Policy"]
        with zipfile.ZipFile(io.BytesIO(package.content)) as zf:
            assert len(zf.read("pages/pages.jsonl").decode().splitlines()) == second["done"]["pages"] + 1
        assert server.get("/api/crawls/999999/wacz", headers=auth).status_code == 404


def test_bad_crawl_requests_are_refused_with_the_fix(crawl_env, outlet):
    with catalog(crawl_env) as db:
        before = db.execute("SELECT count(*) FROM crawls").fetchone()[0]
    for args, words in [
        (("--include", "(unclosed"), "is not a regular expression"),
        (("--ignore-robots",), "--ignore-robots needs --robots-reason"),
        (("--max-pages", "-1"), "--max-pages must be 0 or more"),
    ]:
        proc = run_cli(crawl_env, "crawl", "start", outlet.url("/"), *args)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    proc = run_cli(crawl_env, "crawl", "start", "ftp://kloop.kg/")
    assert proc.returncode == 2 and "only http and https" in proc.stderr
    proc = run_cli(crawl_env, "crawl", "compare", "99998", "99999")
    assert proc.returncode == 2 and "there is no crawl 99998" in proc.stderr
    with catalog(crawl_env) as db:
        assert db.execute("SELECT count(*) FROM crawls").fetchone()[0] == before
