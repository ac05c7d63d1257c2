"""A worker killed with SIGKILL mid-capture loses nothing that was done and leaves valid WARCs."""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading

from archive import catalog
from archive.capturing import jobs
from archive.warc.store import OPEN_SUFFIX, read_record

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
