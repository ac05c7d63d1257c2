"""The capture worker: takes queued jobs, captures them, stores the results.

It runs several captures at once in one Chromium (CAPTURE_CONCURRENCY), beats
a heartbeat for each running job, and on start hands back the jobs and
finishes the WARC files of any worker that died.
"""
from __future__ import annotations

import asyncio
import logging
import threading

from crawler import CaptureFailed, CaptureOptions, Capturer, HostRules, URLRejected, check_url
from crawler.vantage import UnknownVantage, vantage_named
from search import open_backend

from . import catalog, jobs
from .events import vantage_countries
from .outcomes import OutcomeJudge
from .settings import Settings
from .store import SOFTWARE, store_capture, store_unreachable
from .warcstore import RollingWarcWriter, recover_orphans

log = logging.getLogger("archive.worker")

HEARTBEAT_SECONDS = 5


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
            backend = self._local.backend = open_backend(self.settings.search_backend, self.settings.index_dir)
        return backend

    def recover(self) -> None:
        """Finish WARC files and hand back jobs left by workers that died."""
        for name in recover_orphans(self.settings.warc_dir):
            log.warning("finished WARC file %s left open by a stopped worker", name)
        for job_id in jobs.recover(self._db(), self.settings.capture_max_attempts, stale_after(self.settings)):
            log.warning("job %s was interrupted; requeued or failed", job_id)

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
                if once and not running and jobs.counts(db).get("queued", 0) == 0:
                    break
                await asyncio.sleep(0.2)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        self.writer.close()

    async def _run_job(self, capturer: Capturer, job: dict) -> None:
        db = self._db()
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
        return store_capture(result, self._db(), self.writer, self._backend(), job_id=job_id,
                             dedup=self.settings.warc_dedup, judge=self.judge, country_of=self.country_of,
                             watch_id=watch_id)

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
    asyncio.run(Worker(settings).run(stop or threading.Event(), once=once))


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
