"""A worker killed with SIGKILL mid-capture loses nothing that was done and leaves valid WARCs."""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time

from archive import catalog
from archive.capturing import jobs
from archive.warc.store import OPEN_SUFFIX, read_record

from .conftest import ROOT, warcio_check
from .sites import send


def wait_for(predicate, timeout=90, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


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
    calls = []

    def slow_once(handler):
        calls.append(time.time())
        if len(calls) == 1:
            time.sleep(25)  # the worker is killed while it waits for this page
        send(handler, 200, b"<html><title>Slow page</title><body><p>Slow page finally answered.</p></body></html>")

    site.routes["/slow-once"] = slow_once
    env = dict(env, CAPTURE_MAX_ATTEMPTS="2")
    db = catalog.connect(settings.catalog_path)
    first = jobs.enqueue(db, "http://news.example.com/")
    with worker_killed_after(env):
        wait_for(lambda: jobs.get_job(db, first)["status"] == "done", what="first capture")
        second = jobs.enqueue(db, "http://news.example.com/slow-once")
        wait_for(lambda: calls and jobs.get_job(db, second)["status"] == "running", what="slow capture to start")

    warcs = sorted(settings.warc_dir.glob("*.warc.gz*"))
    assert any(p.name.endswith(OPEN_SUFFIX) for p in warcs)  # the killed worker's file, never closed
    warcio_check(warcs)
    for capture in catalog.list_captures(db, limit=100):
        for ref in catalog.get_records(db, capture["id"]):
            assert read_record(settings.warc_dir, ref).rec_headers.get_header("WARC-Record-ID") == ref.record_id
    assert jobs.get_job(db, second)["status"] == "running"  # nobody has noticed yet

    proc = run_worker_once(env)
    assert "stopped during the capture" in proc.stderr or "interrupted" in proc.stderr
    job = jobs.get_job(db, second)
    assert job["status"] == "done" and job["attempts"] == 2, job
    capture = catalog.get_capture(db, job["capture_id"])
    assert capture["title"] == "Slow page"
    warcs = sorted(settings.warc_dir.glob("*.warc.gz*"))
    assert not any(p.name.endswith(OPEN_SUFFIX) for p in warcs)
    warcio_check(warcs)


def test_job_fails_with_reason_when_attempts_are_used_up(env, settings, site):
    def hang(handler):
        time.sleep(25)

    site.routes["/hang"] = hang
    env = dict(env, CAPTURE_MAX_ATTEMPTS="1")
    db = catalog.connect(settings.catalog_path)
    job_id = jobs.enqueue(db, "http://news.example.com/hang")
    with worker_killed_after(env):
        wait_for(lambda: jobs.get_job(db, job_id)["status"] == "running", what="capture to start")
        time.sleep(1)
    run_worker_once(env)
    job = jobs.get_job(db, job_id)
    assert job["status"] == "failed"
    assert "stopped during the capture" in job["error"]
