"""`python -m archive serve` as a process: its worker and scheduler never silently lost, every job
picked up, /healthz telling the truth, and a shutdown that keeps what was running (issue 23: 12, 15)."""
from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from archive import catalog
from archive.capturing import jobs
from archive.warc.store import OPEN_SUFFIX

from .conftest import free_port, run_cli, warcio_check
from .sites import send
from .waiting import Served, answers, wait_until

NEWS = "http://news.example.com"
TINY = b"<html><head><title>Tiny page</title></head><body><p>A tiny page to capture.</p></body></html>"


def submit(base: str, url: str) -> int:
    r = requests.post(f"{base}/api/captures", json={"url": url}, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def ended(db, job_ids: list[int]) -> list[dict] | None:
    """The jobs once every one is done or failed; None while any is queued or running."""
    rows = [jobs.get_job(db, i) for i in job_ids]
    return rows if all(r["status"] in ("done", "failed") for r in rows) else None


def test_jobs_submitted_in_bursts_are_all_picked_up_and_done(env, settings, site):
    site.routes["/tiny"] = lambda h: send(h, 200, TINY)
    # A fresh ARCHIVE_HOME (the catalog is created by this serve), submissions as fast as they come.
    env = dict(env, RATE_LIMIT_ANONYMOUS="1000/minute", CAPTURE_CONCURRENCY="2")
    assert not settings.catalog_path.exists()
    with Served(env) as serve:
        db = catalog.connect(settings.catalog_path, migrate_schema=False)
        for burst in range(4):
            # Submitted all at once, after the worker went idle: a missed wake-up would leave some queued.
            with ThreadPoolExecutor(6) as pool:
                ids = list(pool.map(lambda n, b=burst: submit(serve.base, f"{NEWS}/tiny?burst={b}&n={n}"), range(6)))
            rows = wait_until(lambda i=ids: ended(db, i), f"burst {burst}'s jobs {ids} to end",
                              seen=lambda i=ids: ([jobs.get_job(db, j) for j in i], serve.log()))
            assert [(r["status"], r["attempts"]) for r in rows] == [("done", 1)] * 6, rows
            assert {catalog.get_capture(db, r["capture_id"])["title"] for r in rows} == {"Tiny page"}
        health = requests.get(serve.base + "/healthz", timeout=30)
        assert health.status_code == 200, health.text
        assert health.json()["queue"] == {"depth": 0, "oldest_queued_age_seconds": None}
    assert jobs.counts(db) == {"done": 24}


def test_healthz_reports_catalog_index_threads_and_queue(env):
    with Served(env) as serve:
        health = requests.get(serve.base + "/healthz", timeout=30)
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["ok"] is True
        assert body["catalog"] == {"ok": True}
        assert body["index"] == {"ok": True, "documents": 0}
        for name in ("worker", "scheduler"):
            assert body[name] == {"alive": True, "restarts": 0, "last_error": None}, body
        assert body["queue"] == {"depth": 0, "oldest_queued_age_seconds": None}
        assert health.headers["Cache-Control"] == "no-store"


def test_healthz_reports_a_dead_worker_and_the_job_it_leaves_waiting(env, tmp_path):
    # A worker that cannot start its browser dies at once, every time it is restarted.
    env = dict(env, CHROMIUM_PATH=str(tmp_path / "no-such-chromium"))
    with Served(env) as serve:
        job_id = submit(serve.base, f"{NEWS}/")

        def dead_worker():
            r = requests.get(serve.base + "/healthz", timeout=30)
            body = r.json()
            return (r.status_code, body) if r.status_code == 503 and body["worker"]["last_error"] else None

        status, body = wait_until(dead_worker, "/healthz to report the dead worker", seen=serve.log)
        assert status == 503 and body["ok"] is False
        assert body["worker"]["alive"] is False
        assert "CHROMIUM_PATH" in body["worker"]["last_error"] and "no-such-chromium" in body["worker"]["last_error"]
        assert body["scheduler"] == {"alive": True, "restarts": 0, "last_error": None}
        assert body["catalog"] == {"ok": True} and body["index"]["ok"] is True
        assert body["queue"]["depth"] == 1 and body["queue"]["oldest_queued_age_seconds"] >= 0
        assert requests.get(f"{serve.base}/api/jobs/{job_id}", timeout=30).json()["status"] == "queued"
        # It keeps being restarted (and keeps failing), rather than being lost once.
        wait_until(lambda: requests.get(serve.base + "/healthz", timeout=30).json()["worker"]["restarts"] >= 1,
                   "the worker to be restarted", seen=serve.log)


def blocking_page(release: threading.Event, hit: threading.Event):
    """A page that answers only once ``release`` is set (``hit`` says a capture is waiting for it)."""
    def route(handler):
        hit.set()
        release.wait(300)
        send(handler, 200, b"<html><title>Held page</title><body><p>Answered at last.</p></body></html>")
    return route


def test_sigterm_lets_the_running_capture_finish_and_takes_no_new_job(env, settings, site):
    release, hit = threading.Event(), threading.Event()
    site.routes["/held"] = blocking_page(release, hit)
    env = dict(env, CAPTURE_CONCURRENCY="1", SHUTDOWN_GRACE="300")
    try:
        with Served(env) as serve:
            held = submit(serve.base, f"{NEWS}/held")
            waiting = submit(serve.base, f"{NEWS}/")
            wait_until(hit.is_set, "the held page to be requested", seen=serve.log)
            serve.proc.send_signal(signal.SIGTERM)
            # The app stops answering once the shutdown has begun; only then is the page released.
            wait_until(lambda: answers(serve.base + "/healthz") is None, "serve to stop answering", seen=serve.log)
            release.set()
            assert serve.exit_code() == 0, serve.log()
    finally:
        release.set()
    db = catalog.connect(settings.catalog_path)
    job = jobs.get_job(db, held)
    assert (job["status"], job["attempts"]) == ("done", 1), job
    assert catalog.get_capture(db, job["capture_id"])["title"] == "Held page"
    assert jobs.get_job(db, waiting)["status"] == "queued" and jobs.get_job(db, waiting)["attempts"] == 0
    warcs = sorted(settings.warc_dir.glob("*.warc.gz*"))
    assert warcs and not [p.name for p in warcs if p.name.endswith(OPEN_SUFFIX)]
    warcio_check(warcs)


def test_a_capture_still_running_after_the_grace_period_is_queued_again_without_using_an_attempt(
        env, settings, site):
    release, hit = threading.Event(), threading.Event()
    site.routes["/held"] = blocking_page(release, hit)
    env = dict(env, CAPTURE_CONCURRENCY="1", SHUTDOWN_GRACE="1", CAPTURE_MAX_ATTEMPTS="1")
    db = None
    try:
        with Served(env) as serve:
            db = catalog.connect(settings.catalog_path, migrate_schema=False)
            first = submit(serve.base, f"{NEWS}/")  # opens the WARC file the shutdown must close
            wait_until(lambda: ended(db, [first]), "the first capture", seen=serve.log)
            held = submit(serve.base, f"{NEWS}/held")
            wait_until(hit.is_set, "the held page to be requested", seen=serve.log)
            assert serve.stop(signal.SIGTERM) == 0, serve.log()
    finally:
        release.set()
    job = jobs.get_job(db, held)
    # One attempt allowed, none used: after a restart it runs again instead of ending failed.
    assert (job["status"], job["attempts"], job["capture_id"]) == ("queued", 0, None), job
    assert "shutdown" in job["error"]
    assert jobs.get_job(db, first)["status"] == "done"
    warcs = sorted(settings.warc_dir.glob("*.warc.gz*"))
    assert warcs and not [p.name for p in warcs if p.name.endswith(OPEN_SUFFIX)]
    warcio_check(warcs)


def test_a_watch_interval_under_the_floor_is_refused_with_the_fix(env):
    proc = run_cli(dict(env, WATCH_EVERY="30s"), "serve", "--port", str(free_port()), timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "WATCH_EVERY='30s'" in proc.stderr and "use 1m or more" in proc.stderr, proc.stderr
    shown = run_cli(dict(env, WATCH_EVERY="90s"), "settings")  # seconds are a unit: 90s is fine
    assert shown.returncode == 0, shown.stderr
    assert "WATCH_EVERY=90\n" in shown.stdout
