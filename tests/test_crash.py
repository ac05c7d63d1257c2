"""A worker killed with SIGKILL mid-capture loses nothing that was done and leaves valid WARCs."""
from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

from archive import catalog
from archive.capturing import jobs
from archive.capturing.store import SOFTWARE, Found, store
from archive.capturing.worker import capture_now, storage_for
from archive.warc.store import OPEN_SUFFIX, RollingWarcWriter, read_record
from crawler import CaptureOptions, Capturer

from .conftest import ROOT, warcio_check
from .sites import send
from .waiting import wait_until


@contextlib.contextmanager
def worker_killed_after(env):
    """A `python -m archive worker` that gets SIGKILL when the with-block ends."""
    worker = subprocess.Popen([sys.executable, "-m", "archive", "worker"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield worker
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()


def run_worker_once(env) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "archive", "worker", "--once"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_sigkill_during_capture(env, settings, site):
    calls, release = [], threading.Event()

    def slow_once(handler):
        calls.append(handler.path)
        if len(calls) == 1:
            release.wait(120)  # the worker is killed while it waits for this page
        send(handler, 200, b"<html><title>Slow page</title><body><p>Slow page finally answered.</p></body></html>")

    site.routes["/slow-once"] = slow_once
    env = dict(env, CAPTURE_MAX_ATTEMPTS="2")
    db = catalog.connect(settings.catalog_path)
    first = jobs.enqueue(db, "http://news.example.com/")
    try:
        with worker_killed_after(env):
            wait_until(lambda: jobs.get_job(db, first)["status"] == "done", "the first capture",
                       seen=lambda: jobs.get_job(db, first))
            second = jobs.enqueue(db, "http://news.example.com/slow-once")
            wait_until(lambda: calls and jobs.get_job(db, second)["status"] == "running", "the slow capture to start",
                       seen=lambda: jobs.get_job(db, second))
    finally:
        release.set()

    warcs = sorted(settings.warc_dir.glob("*.warc.gz*"))
    assert any(p.name.endswith(OPEN_SUFFIX) for p in warcs)  # the killed worker's file, never closed
    warcio_check(warcs)
    for capture in catalog.list_captures(db, limit=100):
        for ref in catalog.get_records(db, capture["id"]):
            assert read_record(settings.warc_dir, ref).rec_headers.get_header("WARC-Record-ID") == ref.record_id
    assert jobs.get_job(db, second)["status"] == "running"  # nobody has noticed yet

    proc = run_worker_once(env)
    assert f"job {second} was interrupted; requeued or failed" in proc.stderr
    job = jobs.get_job(db, second)
    assert job["status"] == "done" and job["attempts"] == 2, job
    capture = catalog.get_capture(db, job["capture_id"])
    assert capture["title"] == "Slow page"
    warcs = sorted(settings.warc_dir.glob("*.warc.gz*"))
    assert not any(p.name.endswith(OPEN_SUFFIX) for p in warcs)
    warcio_check(warcs)


def test_job_fails_with_reason_when_attempts_are_used_up(env, settings, site):
    hit, release = threading.Event(), threading.Event()

    def hang(handler):
        hit.set()
        release.wait(120)

    site.routes["/hang"] = hang
    env = dict(env, CAPTURE_MAX_ATTEMPTS="1")
    db = catalog.connect(settings.catalog_path)
    job_id = jobs.enqueue(db, "http://news.example.com/hang")
    try:
        with worker_killed_after(env):
            # Killed while the page is being fetched: the job is running and the browser is waiting.
            wait_until(lambda: hit.is_set() and jobs.get_job(db, job_id)["status"] == "running",
                       "the capture to reach the page", seen=lambda: jobs.get_job(db, job_id))
    finally:
        release.set()
    run_worker_once(env)
    job = jobs.get_job(db, job_id)
    assert job["status"] == "failed"
    assert "stopped during the capture" in job["error"]


def _capture(settings, url):
    """A real capture of ``url`` (Chromium through the recording proxy), not yet stored."""
    async def go():
        async with Capturer(CaptureOptions.from_settings(settings)) as capturer:
            return await capturer.capture(url)
    return asyncio.run(go())


def test_capture_event_and_job_done_commit_together(settings, site):
    state = {"status": 200}
    site.routes["/together"] = lambda h: send(h, state["status"], (
        b"<html><title>Together</title><body><p>An article that is about to go.</p></body></html>"))
    url = "http://news.example.com/together"
    before = capture_now(settings, url)
    assert before["outcome"] == "ok"
    state["status"] = 404
    db = catalog.connect(settings.catalog_path)
    job_id = jobs.enqueue(db, url)
    job = jobs.claim(db, "test:1")
    assert job["id"] == job_id
    found = Found(url, result=_capture(settings, url), job=job)
    writer = RollingWarcWriter(settings.warc_dir, settings.warc_max_size, SOFTWARE)

    def state_of_job():
        captures = [r[0] for r in db.execute("SELECT id FROM captures WHERE job_id = ?", (job_id,))]
        events = [r[0] for r in db.execute("SELECT id FROM removal_events WHERE url = ?", (url,))]
        return captures, events, jobs.get_job(db, job_id)["status"]

    # A failure after the capture row and its event are written (the job's completion) undoes both.
    db.execute("CREATE TRIGGER fail_done BEFORE UPDATE OF status ON jobs WHEN NEW.status = 'done'"
               " BEGIN SELECT RAISE(ABORT, 'injected failure after the capture insert'); END")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
            store(found, storage_for(settings, catalog.connect(settings.catalog_path), writer))
        assert state_of_job() == ([], [], "running")
        db.execute("DROP TRIGGER fail_done")
        stored = store(found, storage_for(settings, catalog.connect(settings.catalog_path), writer))
    finally:
        writer.close()
    captures, events, status = state_of_job()
    assert (captures, len(events), status) == ([stored.capture_id], 1, "done")
    event = db.execute("SELECT * FROM removal_events WHERE id = ?", (events[0],)).fetchone()
    assert (event["before_capture_id"], event["after_capture_id"], event["outcome"]) == (
        before["id"], stored.capture_id, "not_found")


def test_storing_nothing_is_refused_and_writes_nothing(settings):
    db = catalog.connect(settings.catalog_path)
    writer = RollingWarcWriter(settings.warc_dir, settings.warc_max_size, SOFTWARE)
    try:
        with pytest.raises(ValueError, match=r"nothing to store for http://news.example.com/: Found needs a result"):
            store(Found("http://news.example.com/"), storage_for(settings, db, writer))
    finally:
        writer.close()
    assert db.execute("SELECT count(*) FROM captures").fetchone()[0] == 0
    assert list(settings.warc_dir.glob("*.warc.gz*")) == []


KILLED_AFTER_STORE = """
import asyncio, os, signal
from archive import catalog
from archive.capturing import jobs
from archive.capturing.store import SOFTWARE, Found, store
from archive.capturing.worker import storage_for
from archive.settings import Settings
from archive.warc.store import RollingWarcWriter
from crawler import CaptureOptions, Capturer

settings = Settings.from_env()
db = catalog.connect(settings.catalog_path)
job = jobs.claim(db, jobs.worker_name())

async def go():
    async with Capturer(CaptureOptions.from_settings(settings)) as capturer:
        return await capturer.capture(job["url"])

writer = RollingWarcWriter(settings.warc_dir, settings.warc_max_size, SOFTWARE)
store(Found(job["url"], result=asyncio.run(go()), job=job), storage_for(settings, db, writer))
os.kill(os.getpid(), signal.SIGKILL)  # dies right after storing, its WARC file still open
"""


def test_a_stored_capture_is_not_captured_again_after_a_kill(env, settings, site):
    db = catalog.connect(settings.catalog_path)
    job_id = jobs.enqueue(db, "http://news.example.com/")
    proc = subprocess.run([sys.executable, "-c", KILLED_AFTER_STORE], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert any(p.name.endswith(OPEN_SUFFIX) for p in settings.warc_dir.glob("*.warc.gz*"))

    run_worker_once(env)  # the restart: recovers the dead worker's WARC file and jobs
    job = jobs.get_job(db, job_id)
    captures = [r[0] for r in db.execute("SELECT id FROM captures WHERE job_id = ?", (job_id,))]
    assert (job["status"], job["attempts"], captures) == ("done", 1, [job["capture_id"]])
    assert db.execute("SELECT count(*) FROM captures").fetchone()[0] == 1
