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
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from archive import catalog
from archive.capturing import jobs
from archive.capturing.budget import OverBudget, check_budget
from archive.capturing.countries import fill_vantage_countries
from archive.capturing.outlinks import choose_outlinks
from archive.capturing.store import SOFTWARE, Found, Storage, store
from archive.capturing.supervisor import Supervised
from archive.catalog import to_iso
from archive.removals.events import CountryOf, vantage_countries
from archive.removals.outcomes import OutcomeJudge
from archive.settings import Settings
from archive.urlcheck import url_checker
from archive.warc.objects import warc_store
from archive.warc.store import RollingWarcWriter, recover_orphans
from crawler import CaptureFailed, CaptureOptions, Capturer, URLRejected
from crawler.vantage import UnknownVantage, vantage_named
from search import open_backend

log = logging.getLogger("archive.worker")

POLL_SECONDS = 0.2  # how often an idle worker looks for new jobs
ONCE_HORIZON_SECONDS = 600


class JobHooks(Protocol):
    """What a layer above capturing (crawls) adds to the worker, without the worker knowing it.

    ``poll`` runs in a thread every HOOK_POLL_SECONDS (a crawl feeds its frontier into the queue);
    it returns True when the worker should stop (a crawl run with --wait is over). For a job that
    ``wants`` (a crawl's page), ``capture_options`` are extra arguments of the capture, and
    ``prepare`` (in a thread, after the capture; ``result`` None for an unreachable site) returns
    what runs in the storing transaction with (db, capture id).
    """

    def poll(self) -> bool: ...

    def wants(self, job: dict[str, Any]) -> bool: ...

    def capture_options(self, job: dict[str, Any]) -> dict[str, Any]: ...

    def prepare(self, job: dict[str, Any], result: Any) -> Callable[[sqlite3.Connection, int], None] | None: ...


HOOK_POLL_SECONDS = 0.5


def stale_after(settings: Settings) -> float:
    """Seconds of silence after which a running job's worker is taken for dead (its lease expires)."""
    if settings.job_lease_seconds > 0:
        return max(settings.job_lease_seconds, 2 * settings.job_heartbeat_seconds)
    return max(settings.capture_timeout * 2 + 60, 6 * settings.job_heartbeat_seconds)


class Worker:
    def __init__(self, settings: Settings, hooks: JobHooks | None = None):
        self.settings = settings
        self.hooks = hooks
        self.name = jobs.worker_name()
        self.writer = RollingWarcWriter(warc_store(settings), settings.warc_max_size, SOFTWARE)
        self.judge = OutcomeJudge.from_settings(settings)
        self.country_of = vantage_countries(settings.capture_vantages)
        self._local = threading.local()
        self._capturing: set[asyncio.Task] = set()  # jobs still fetching (not yet storing)

    def _db(self):
        # One connection per thread: storing runs in worker threads, claiming on the loop.
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = catalog.connect(self.settings.catalog_location)
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
        for name in warc_store(self.settings).publish_pending():  # closed, but not stored before a crash
            log.warning("stored WARC file %s, left in %s by a stopped worker", name, self.settings.warc_dir)
        for job_id in jobs.recover(self._db(), self.settings.capture_max_attempts, stale_after(self.settings),
                                   restarting=self.name):
            log.warning("job %s was interrupted; requeued or failed", job_id)
        if filled := fill_vantage_countries(self._db(), warc_store(self.settings), self.country_of):
            log.info("kept the vantage country of %d earlier capture(s)", filled)

    async def run(self, stop: threading.Event, once: bool = False) -> None:
        """Work until ``stop`` is set (or, with ``once``, until the queue is empty).

        Once ``stop`` is set no job is taken; running captures get SHUTDOWN_GRACE seconds to finish,
        and those still fetching then are stopped and their jobs queued again without using up an
        attempt. The WARC file is closed either way.
        """
        self.recover()
        db = self._db()
        running: set[asyncio.Task] = set()
        expired_at = time.monotonic()
        try:
            async with Capturer(CaptureOptions.from_settings(self.settings)) as capturer:
                polled = 0.0
                while not stop.is_set():
                    if time.monotonic() - expired_at >= self.settings.job_heartbeat_seconds:
                        expired_at = time.monotonic()
                        self._take_back_expired(db)
                    if self.hooks is not None and loop_time() - polled >= HOOK_POLL_SECONDS:
                        polled = loop_time()
                        if await asyncio.to_thread(self.hooks.poll) and not running:
                            break
                    self._claim_jobs(db, capturer, running)
                    # --once waits for jobs spaced out per host, not for ones postponed to a budget reset.
                    if once and not running and jobs.queued_before(db, ONCE_HORIZON_SECONDS) == 0:
                        break
                    await asyncio.sleep(POLL_SECONDS)
                await self._wind_down(running)
        finally:
            self.writer.close()

    def _take_back_expired(self, db) -> None:
        """Hand back the jobs of workers that died or fell silent past their lease, here or on
        another machine sharing the catalog (a worker's own start does it too: `recover`)."""
        try:
            for job_id in jobs.recover(db, self.settings.capture_max_attempts, stale_after(self.settings)):
                log.warning("job %s: its worker's lease expired; requeued or failed", job_id)
        except sqlite3.OperationalError as exc:
            log.warning("could not look for expired leases: %s", exc)

    def _claim_jobs(self, db, capturer: Capturer, running: set[asyncio.Task]) -> None:
        while len(running) < self.settings.capture_concurrency:
            try:
                job = jobs.claim(db, self.name)
            except sqlite3.OperationalError as exc:
                # Busy past the catalog's timeout: not a reason to stop working; the next poll retries.
                log.warning("could not take a job: %s", exc)
                return
            if job is None:
                return
            task = asyncio.create_task(self._run_job(capturer, job))
            running.add(task)
            task.add_done_callback(running.discard)

    async def _wind_down(self, running: set[asyncio.Task]) -> None:
        """Let running jobs finish within the grace period, then stop the ones still capturing."""
        if not running:
            return
        _, late = await asyncio.wait(set(running), timeout=self.settings.shutdown_grace)
        for task in late:
            if task in self._capturing:  # storing is never cut short: it finishes, then the job is done
                task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _run_job(self, capturer: Capturer, job: dict) -> None:
        db = self._db()
        if job.get("watch_id") and (self._postponed_over_budget(db, job) or self._postponed_for_host(db, job)):
            return
        beat = asyncio.create_task(self._heartbeat(job["id"]))
        try:
            url = url_checker(self.settings)(job["url"])  # again: the address policy may have changed
            vantage = vantage_named(self.settings.capture_vantages, job.get("vantage"))
            jobs.set_step(db, job["id"], "loading")
            try:
                result = await self._capture(capturer, url, vantage, **self._hook_options(job))
            except CaptureFailed as exc:
                if not exc.site_unreachable:
                    raise
                # The site could not be reached: that is the capture's finding, kept as evidence.
                found = Found(url, failed=exc, job=job, on_stored=await self._hook_prepare(job, None))
            else:
                outlinks: list[str] = []
                if jobs.job_options(job).get("capture_outlinks") and not job.get("parent_job_id"):  # depth 1
                    outlinks = await asyncio.to_thread(self._choose_outlinks, job, result)
                found = Found(url, result=result, job=job, outlinks=tuple(outlinks),
                              on_stored=await self._hook_prepare(job, result))
            # Stored, evented and marked done in one transaction: a kill cannot capture it twice.
            # (Then indexed: the job page tells that step by the capture's ``indexed`` flag.)
            jobs.set_step(db, job["id"], "recording")
            stored = await asyncio.to_thread(self._store, found)
            log.info("job %s done: capture %s of %s%s", job["id"], stored.capture_id, url,
                     f", {len(stored.children)} outlink(s) queued" if found.outlinks else "")
        except jobs.LeaseLost as exc:
            log.warning("%s", exc)  # nothing to record: the job is the other worker's now
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
        except asyncio.CancelledError:
            # Stopped by a shutdown past its grace period: nothing was stored, nothing was the
            # site's fault, so the attempt is given back and the job runs again after a restart.
            jobs.postpone(db, job["id"], to_iso(datetime.now(UTC)), "stopped by a shutdown before it finished")
            log.info("job %s stopped by the shutdown; queued again", job["id"])
            raise
        finally:
            beat.cancel()

    def _hook_options(self, job: dict) -> dict[str, Any]:
        if self.hooks is None or not self.hooks.wants(job):
            return {}
        return self.hooks.capture_options(job)

    async def _hook_prepare(self, job: dict, result) -> Callable[[sqlite3.Connection, int], None] | None:
        if self.hooks is None or not self.hooks.wants(job):
            return None
        return await asyncio.to_thread(self.hooks.prepare, job, result)

    async def _capture(self, capturer: Capturer, url: str, vantage, **options):
        """The capture itself, the only step a shutdown may cut short (see ``_wind_down``)."""
        task = asyncio.current_task()
        self._capturing.add(task)
        try:
            return await asyncio.wait_for(capturer.capture(url, vantage, **options), self.settings.capture_timeout + 60)
        finally:
            self._capturing.discard(task)

    def _postponed_over_budget(self, db, job: dict) -> bool:
        """A scheduled capture of a host over today's budget waits for the reset, unfailed."""
        try:
            check_budget(db, job["url"], self.settings.host_daily_bytes)
        except OverBudget as exc:
            jobs.postpone(db, job["id"], to_iso(exc.resets_at), f"postponed: {exc}")
            log.info("job %s postponed: %s", job["id"], exc)
            return True
        return False

    def _postponed_for_host(self, db, job: dict) -> bool:
        """A scheduled capture claimed under WATCH_HOST_DELAY after another on its host started
        (a worker was late with the earlier one) waits until the delay is kept."""
        later = jobs.too_soon_after(db, job, self.settings.watch_host_delay)
        if later is None:
            return False
        jobs.postpone(db, job["id"], to_iso(later), "postponed: WATCH_HOST_DELAY after its host's last capture")
        return True

    def _choose_outlinks(self, job: dict, result) -> list[str]:
        return choose_outlinks(self._db(), job, result.dom, result.final_url or result.url,
                               url_checker(self.settings), self.settings.outlinks_max,
                               self.settings.host_daily_bytes)

    async def _heartbeat(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(self.settings.job_heartbeat_seconds)
            try:
                if not jobs.heartbeat(self._db(), job_id, self.name):
                    # Ended (this worker's own store may commit while it still indexes), or taken over.
                    job = jobs.get_job(self._db(), job_id) or {}
                    if job.get("worker") != self.name:
                        log.warning("job %s: lease lost to worker %s", job_id, job.get("worker"))
                    return
            except sqlite3.OperationalError as exc:  # a busy catalog: the next beat tries again
                log.warning("job %s: heartbeat failed: %s", job_id, exc)


def run_worker(settings: Settings, stop: threading.Event | None = None, once: bool = False,
               hooks: JobHooks | None = None) -> None:
    """Run a worker in this thread until ``stop`` is set (or ``hooks.poll`` says to stop)."""
    lower_priority(settings.capture_nice)
    asyncio.run(Worker(settings, hooks).run(stop or threading.Event(), once=once))


def loop_time() -> float:
    return asyncio.get_running_loop().time()


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


def start_worker_thread(settings: Settings, hooks: JobHooks | None = None) -> Supervised:
    """A worker in a background thread (for `serve`), restarted if it dies; set its ``stop`` to end it."""
    return Supervised("capture-worker", lambda stop: run_worker(settings, stop, hooks=hooks)).start()


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
    db = catalog.connect(settings.catalog_location)
    writer = RollingWarcWriter(warc_store(settings), settings.warc_max_size, SOFTWARE)
    try:
        stored = store(found, storage_for(settings, db, writer))
    finally:
        writer.close()
    row = catalog.get_capture(db, stored.capture_id)
    row["records"] = stored.refs
    return row
