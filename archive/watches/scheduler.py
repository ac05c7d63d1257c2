"""The re-capture scheduler: turns due watches into capture jobs, politely and exactly once.

Each round takes the watches whose ``next_due`` has passed with one query on the
``watches_due`` index, and for each, in one transaction, queues its job and moves
``next_due`` on by its interval (± WATCH_JITTER, so watches added together spread
out). A crash between or during rounds therefore neither loses nor doubles a
capture: a watch is either still due with no new job, or has its job and its next time.

On a shared PostgreSQL catalog, schedulers on several machines take turns: a round runs only in
the process holding the scheduler's advisory lock (`scheduling_round`), and the others skip it.
"""
from __future__ import annotations

import logging
import random
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

from archive import catalog
from archive.capturing.jobs import enqueue, recent_starts
from archive.capturing.supervisor import Supervised
from archive.catalog import from_iso, to_iso, transaction
from archive.crawls.schedule import start_due_recrawls
from archive.pgcatalog import SCHEDULER_LOCK
from archive.settings import Settings
from archive.urlcheck import url_checker

log = logging.getLogger("archive.scheduler")

PENDING = ("queued", "running")

# The due watches, oldest first, each with the status of its last job (a primary-key lookup).
DUE_SQL = ("SELECT w.id, w.url, w.host, w.vantage, w.every_seconds, w.next_due, j.status AS last_status"
           " FROM watches w LEFT JOIN jobs j ON j.id = w.last_job_id"
           " WHERE w.active = 1 AND w.next_due <= ? ORDER BY w.next_due LIMIT ?")
PENDING_SQL = "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running') AND watch_id IS NOT NULL"
# Per host, the latest start time already given to a pending scheduled job.
HOST_SLOTS_SQL = ("SELECT w.host, max(j.not_before) FROM jobs j JOIN watches w ON w.id = j.watch_id"
                  " WHERE j.status IN ('queued', 'running') AND j.not_before IS NOT NULL GROUP BY w.host")


def next_due(now: datetime, every_seconds: int, jitter: float, rng: random.Random = random) -> datetime:
    """``now`` plus the interval moved by up to ``jitter`` of itself either way."""
    return now + timedelta(seconds=every_seconds * (1 + jitter * (2 * rng.random() - 1)))


def schedule_due(db: sqlite3.Connection, settings: Settings, now: datetime | None = None,
                 rng: random.Random = random) -> list[int]:
    """One round: queue a job for each due watch, within the pending cap; return the job ids."""
    now = now or datetime.now(UTC)
    cap = settings.watch_max_pending
    pending = db.execute(PENDING_SQL).fetchone()[0]
    if pending >= cap:
        return []
    # Up to `cap` rows: watches skipped for a pending job number at most `pending`, so the
    # free slots (cap - pending) can always be filled when that many are due.
    due = db.execute(DUE_SQL, (to_iso(now), cap)).fetchall()
    if not due:
        return []
    delay = timedelta(seconds=settings.watch_host_delay)
    # A host's next start is a delay after its latest one: planned (pending jobs) or made (a job
    # that already started, even one done by now: measuring only pending jobs let a quick capture's
    # successor start one round later, under the delay; issue 23).
    slots = recent_starts(db, now - delay)
    for host, at in db.execute(HOST_SLOTS_SQL):
        slots[host] = max(slots.get(host, from_iso(at)), from_iso(at))
    queued: list[int] = []
    for watch in due:
        if pending + len(queued) >= cap:
            break
        if watch["last_status"] in PENDING:
            continue  # its last capture has not run yet: a second one would only double it
        start = max(now, slots[watch["host"]] + delay) if watch["host"] in slots else now
        job_id = _enqueue_watch(db, watch, start, next_due(now, watch["every_seconds"], settings.watch_jitter, rng),
                                cap)
        if job_id is not None:
            slots[watch["host"]] = start
            queued.append(job_id)
    return queued


def _enqueue_watch(db: sqlite3.Connection, watch: sqlite3.Row, start: datetime, due: datetime,
                   cap: int) -> int | None:
    """Queue one watch's job and move it on, atomically; None if another scheduler got there first."""
    with transaction(db):
        # Re-checked under the write lock: a second scheduler (serve and worker both run one)
        # may have taken this watch, or filled the queue, since the round's query. The watch is
        # moved on first, so a lost race returns before anything is written.
        if db.execute(PENDING_SQL).fetchone()[0] >= cap:
            return None
        moved = db.execute("UPDATE watches SET next_due = ? WHERE id = ? AND active = 1 AND next_due = ?",
                           (to_iso(due), watch["id"], watch["next_due"])).rowcount
        if not moved:
            return None
        job_id = enqueue(db, watch["url"], watch["vantage"], watch_id=watch["id"], not_before=to_iso(start))
        db.execute("UPDATE watches SET last_job_id = ? WHERE id = ?", (job_id, watch["id"]))
    return job_id


def scheduling_round(db: catalog.Catalog, settings: Settings, now: datetime | None = None) -> list[int] | None:
    """A round of `schedule_due` if no other scheduler is running one now (None if another is).

    PostgreSQL: an advisory lock, released when the round ends or its process dies. SQLite: one
    machine's processes, which the catalog's write lock already keeps from doubling a watch."""
    with db.only_one(SCHEDULER_LOCK) as mine:
        if not mine:
            return None
        queued = schedule_due(db, settings, now)
        start_due_recrawls(db, url_checker(settings))  # crawls due again: same lock, never started twice
        return queued


def run_scheduler(settings: Settings, stop: threading.Event, interval: float = 5.0) -> None:
    """Schedule a round every ``interval`` seconds until ``stop`` is set."""
    db = catalog.connect(settings.catalog_location)
    try:
        while not stop.is_set():
            try:
                queued = scheduling_round(db, settings)
            except sqlite3.Error:
                # The catalog may be busy or briefly unwritable; the next round tries again.
                log.exception("scheduling round failed")
            else:
                if queued:
                    log.info("scheduled %d watched capture(s): jobs %s", len(queued), queued)
            stop.wait(interval)
    finally:
        db.close()


def start_scheduler_thread(settings: Settings, interval: float = 5.0) -> tuple[Supervised, threading.Event]:
    """The scheduler in a background thread (for `serve` and `worker`), restarted if it dies;
    set the event to stop it."""
    thread = Supervised("watch-scheduler", lambda stop: run_scheduler(settings, stop, interval)).start()
    return thread, thread.stop


__all__ = ["scheduling_round", "schedule_due", "run_scheduler", "start_scheduler_thread", "next_due"]
