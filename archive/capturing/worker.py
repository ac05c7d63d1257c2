"""The capture worker: takes queued jobs, captures them, stores the results.

It runs several captures at once in one Chromium (CAPTURE_CONCURRENCY), beats
a heartbeat for each running job, and on start hands back the jobs and
finishes the WARC files of any worker that died.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading

from archive import catalog
from archive.capturing import jobs
from archive.capturing.budget import OverBudget, check_budget
from archive.capturing.countries import fill_vantage_countries
from archive.capturing.outlinks import choose_outlinks
from archive.capturing.store import SOFTWARE, Found, Storage, store
from archive.catalog import to_iso
from archive.removals.events import CountryOf, vantage_countries
from archive.removals.outcomes import OutcomeJudge
from archive.settings import Settings
from archive.urlcheck import url_checker
from archive.warc.store import RollingWarcWriter, recover_orphans
from crawler import CaptureFailed, CaptureOptions, Capturer, URLRejected
from crawler.vantage import UnknownVantage, vantage_named
from search import open_backend

log = logging.getLogger("archive.worker")

HEARTBEAT_SECONDS = 5
ONCE_HORIZON_SECONDS = 600


def stale_after(settings: Settings) -> float:
    """Seconds of silence after which a running job's worker is taken for dead."""
    return max(settings.capture_timeout * 2 + 60, 6 * HEARTBEAT_SECONDS)


class Worker:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.name = jobs.worker_name()
        self.writer = RollingWarcWriter(settings.warc_dir, settings.warc_max_size, SOFTWARE)
        self.judge = OutcomeJudge.from_settings(settings)
        self.country_of = vantage_countries(settings.capture_vantages)
        self._local = threading.local()

    def _db(self):
        # One connection per thread: storing runs in worker threads, claiming on the loop.
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = catalog.connect(self.settings.catalog_path)
        return db

    def _store(self, found: Found):
        # Runs in a worker thread, with that thread's own connection (see _db).
        return store(found, self._storage())

    def _storage(self) -> Storage:
        storage = getattr(self._local, "storage", None)
        if storage is None:
            storage = self._local.storage = storage_for(self.settings, self._db(), self.writer, self.judge,
                                                        self.country_of)
        return storage

    def recover(self) -> None:
        """Finish WARC files and hand back jobs left by workers that died; give captures from
        before the catalog kept vantage countries theirs."""
        for name in recover_orphans(self.settings.warc_dir):
            log.warning("finished WARC file %s left open by a stopped worker", name)
        for job_id in jobs.recover(self._db(), self.settings.capture_max_attempts, stale_after(self.settings)):
            log.warning("job %s was interrupted; requeued or failed", job_id)
        if filled := fill_vantage_countries(self._db(), self.settings.warc_dir, self.country_of):
            log.info("kept the vantage country of %d earlier capture(s)", filled)

    async def run(self, stop: threading.Event, once: bool = False) -> None:
        """Work until ``stop`` is set (or, with ``once``, until the queue is empty)."""
        self.recover()
        db = self._db()
        running: set[asyncio.Task] = set()
        async with Capturer(CaptureOptions.from_settings(self.settings)) as capturer:
            while not stop.is_set():
                while len(running) < self.settings.capture_concurrency:
                    job = jobs.claim(db, self.name)
                    if job is None:
                        break
                    task = asyncio.create_task(self._run_job(capturer, job))
                    running.add(task)
                    task.add_done_callback(running.discard)
                # --once waits for jobs spaced out per host, not for ones postponed to a budget reset.
                if once and not running and jobs.queued_before(db, ONCE_HORIZON_SECONDS) == 0:
                    break
                await asyncio.sleep(0.2)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        self.writer.close()

    async def _run_job(self, capturer: Capturer, job: dict) -> None:
        db = self._db()
        if job.get("watch_id") and self._postponed_over_budget(db, job):
            return
        beat = asyncio.create_task(self._heartbeat(job["id"]))
        try:
            url = url_checker(self.settings)(job["url"])  # again: the address policy may have changed
            vantage = vantage_named(self.settings.capture_vantages, job.get("vantage"))
            try:
                result = await asyncio.wait_for(capturer.capture(url, vantage), self.settings.capture_timeout + 60)
            except CaptureFailed as exc:
                if not exc.site_unreachable:
                    raise
                # The site could not be reached: that is the capture's finding, kept as evidence.
                found = Found(url, failed=exc, job=job)
            else:
                outlinks: list[str] = []
                if jobs.job_options(job).get("capture_outlinks") and not job.get("parent_job_id"):  # depth 1
                    outlinks = await asyncio.to_thread(self._choose_outlinks, job, result)
                found = Found(url, result=result, job=job, outlinks=tuple(outlinks))
            # Stored, evented and marked done in one transaction: a kill cannot capture it twice.
            stored = await asyncio.to_thread(self._store, found)
            log.info("job %s done: capture %s of %s%s", job["id"], stored.capture_id, url,
                     f", {len(stored.children)} outlink(s) queued" if found.outlinks else "")
        except (URLRejected, UnknownVantage) as exc:
            jobs.fail(db, job["id"], str(exc), self.settings.capture_max_attempts, retry=False)
        except CaptureFailed as exc:
            status = jobs.fail(db, job["id"], str(exc), self.settings.capture_max_attempts)
            log.info("job %s: %s (%s)", job["id"], exc, status)
        except TimeoutError:
            jobs.fail(db, job["id"], "capture did not finish in time", self.settings.capture_max_attempts)
        except Exception as exc:  # a job must end with a reason whatever went wrong
            log.exception("job %s failed", job["id"])
            jobs.fail(db, job["id"], f"internal error: {type(exc).__name__}: {exc}",
                      self.settings.capture_max_attempts)
        finally:
            beat.cancel()

    def _postponed_over_budget(self, db, job: dict) -> bool:
        """A scheduled capture of a host over today's budget waits for the reset, unfailed."""
        try:
            check_budget(db, job["url"], self.settings.host_daily_bytes)
        except OverBudget as exc:
            jobs.postpone(db, job["id"], to_iso(exc.resets_at), f"postponed: {exc}")
            log.info("job %s postponed: %s", job["id"], exc)
            return True
        return False

    def _choose_outlinks(self, job: dict, result) -> list[str]:
        return choose_outlinks(self._db(), job, result.dom, result.final_url or result.url,
                               url_checker(self.settings), self.settings.outlinks_max,
                               self.settings.host_daily_bytes)

    async def _heartbeat(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            jobs.heartbeat(self._db(), job_id)


def run_worker(settings: Settings, stop: threading.Event | None = None, once: bool = False) -> None:
    """Run a worker in this thread until ``stop`` is set."""
    lower_priority(settings.capture_nice)
    asyncio.run(Worker(settings).run(stop or threading.Event(), once=once))


def lower_priority(nice: int) -> None:
    """Make this thread (and the threads and processes it starts: Chromium included) yield the CPU
    to the web app's threads. On Linux niceness is per thread and inherited by what it spawns."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, max(current, nice)))
    except OSError as exc:  # not fatal: captures just compete with readers
        log.warning("could not lower the capture worker's priority: %s", exc)


def start_worker_thread(settings: Settings) -> tuple[threading.Thread, threading.Event]:
    """A worker in a background thread (for `serve`); set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(settings, stop), name="capture-worker", daemon=True)
    thread.start()
    return thread, stop


def storage_for(settings: Settings, db: sqlite3.Connection, writer: RollingWarcWriter,
                judge: OutcomeJudge | None = None, country_of: CountryOf | None = None) -> Storage:
    """How the worker (and capture_now) store captures under ``settings``: judged, deduplicated as
    set, indexed, with outlinks kept within the hosts' byte budgets."""
    return Storage(db=db, writer=writer,
                   backend=open_backend(settings.search_backend, settings.index_dir, settings),
                   dedup=settings.warc_dedup, judge=judge or OutcomeJudge.from_settings(settings),
                   country_of=country_of or vantage_countries(settings.capture_vantages),
                   host_daily_bytes=settings.host_daily_bytes)


def capture_now(settings: Settings, url: str, vantage: str | None = None) -> dict:
    """Capture ``url`` in this process, store it, and return its catalog row with record refs.

    Raises URLRejected or CaptureFailed with the reason.
    """
    url = url_checker(settings)(url)
    through = vantage_named(settings.capture_vantages, vantage)

    async def go():
        async with Capturer(CaptureOptions.from_settings(settings)) as capturer:
            return await capturer.capture(url, through)

    try:
        result = asyncio.run(go())
    except CaptureFailed as exc:
        if not exc.site_unreachable:
            raise
        found = Found(url, failed=exc)
    else:
        found = Found(url, result=result)
    db = catalog.connect(settings.catalog_path)
    writer = RollingWarcWriter(settings.warc_dir, settings.warc_max_size, SOFTWARE)
    try:
        stored = store(found, storage_for(settings, db, writer))
    finally:
        writer.close()
    row = catalog.get_capture(db, stored.capture_id)
    row["records"] = stored.refs
    return row
