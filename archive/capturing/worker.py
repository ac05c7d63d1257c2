"""The capture worker: takes queued jobs, captures them, stores the results.

It runs several captures at once in one Chromium (CAPTURE_CONCURRENCY), beats
a heartbeat for each running job, and on start hands back the jobs and
finishes the WARC files of any worker that died.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading

from archive import catalog
from archive.capturing import jobs
from archive.capturing.budget import OverBudget, add_bytes, check_budget, host_of
from archive.capturing.countries import fill_vantage_countries
from archive.capturing.outlinks import choose_outlinks, queue_children
from archive.capturing.store import SOFTWARE, store_capture, store_unreachable
from archive.catalog import to_iso
from archive.removals.events import vantage_countries
from archive.removals.outcomes import OutcomeJudge
from archive.settings import Settings
from archive.urlcheck import url_checker
from archive.warc.store import RollingWarcWriter, recover_orphans
from crawler import CaptureFailed, CaptureOptions, Capturer, HostRules, URLRejected, check_url
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

    def _backend(self):
        backend = getattr(self._local, "backend", None)
        if backend is None:
            settings = self.settings
            backend = self._local.backend = open_backend(settings.search_backend, settings.index_dir, settings)
        return backend

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
            url = check_url(job["url"], self.settings.capture_allow_networks,
                            HostRules(self.settings.capture_host_rules), self.settings.max_url_length,
                            allow_unresolvable=True)
            vantage = vantage_named(self.settings.capture_vantages, job.get("vantage"))
            try:
                result = await asyncio.wait_for(capturer.capture(url, vantage), self.settings.capture_timeout + 60)
            except CaptureFailed as exc:
                if not exc.site_unreachable:
                    raise
                # The site could not be reached: that is the capture's finding, kept as evidence.
                capture_id, _ = await asyncio.to_thread(self._store_unreachable, exc, url, job)
            else:
                capture_id, _ = await asyncio.to_thread(self._store, result, job["id"], job.get("watch_id"))
                if jobs.job_options(job).get("capture_outlinks") and not job.get("parent_job_id"):  # depth 1
                    outlinks = await asyncio.to_thread(self._choose_outlinks, job, result)
                    self._finish_with_children(db, job, capture_id, outlinks)
                    return
            jobs.finish(db, job["id"], capture_id)
            log.info("job %s done: capture %s of %s", job["id"], capture_id, url)
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

    def _store(self, result, job_id: int | None, watch_id: int | None = None):
        stored = store_capture(result, self._db(), self.writer, self._backend(), job_id=job_id,
                               dedup=self.settings.warc_dedup, judge=self.judge, country_of=self.country_of,
                               watch_id=watch_id)
        # Counted after the capture's row commits: a crash in between under-counts one capture.
        add_bytes(self._db(), host_of(result.url), result.provenance.get("bytes"))
        return stored

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

    def _finish_with_children(self, db, job: dict, capture_id: int, outlinks: list[str]) -> None:
        # One transaction: a crash either leaves the job to be retried with no children, or both.
        db.execute("BEGIN IMMEDIATE")
        try:
            children = queue_children(db, job, outlinks)
            jobs.finish(db, job["id"], capture_id)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        log.info("job %s done: capture %s of %s, %d outlink(s) queued", job["id"], capture_id, job["url"],
                 len(children))

    def _store_unreachable(self, failed: CaptureFailed, url: str, job: dict | None):
        return store_unreachable(failed, url, self._db(), self.writer, self._backend(),
                                 job_id=job["id"] if job else None, judge=self.judge, country_of=self.country_of,
                                 watch_id=job.get("watch_id") if job else None)

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


def capture_now(settings: Settings, url: str, vantage: str | None = None) -> dict:
    """Capture ``url`` in this process, store it, and return its catalog row with record refs.

    Raises URLRejected or CaptureFailed with the reason.
    """
    url = check_url(url, settings.capture_allow_networks, HostRules(settings.capture_host_rules),
                    settings.max_url_length, allow_unresolvable=True)
    through = vantage_named(settings.capture_vantages, vantage)
    worker = Worker(settings)

    async def go():
        async with Capturer(CaptureOptions.from_settings(settings)) as capturer:
            return await capturer.capture(url, through)

    try:
        try:
            result = asyncio.run(go())
        except CaptureFailed as exc:
            if not exc.site_unreachable:
                raise
            capture_id, refs = worker._store_unreachable(exc, url, None)
        else:
            capture_id, refs = worker._store(result, None)
    finally:
        worker.writer.close()
    row = catalog.get_capture(worker._db(), capture_id)
    row["records"] = refs
    return row
