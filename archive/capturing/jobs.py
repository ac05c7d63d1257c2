"""The capture job queue, kept in the catalog so it survives restarts.

A job is queued, claimed by one worker (running), and ends done or failed with
a reason. A claim is a lease: the worker beats a heartbeat while it captures, and
a job whose worker died or fell silent for the lease time is handed back to the
queue by `recover` (any worker runs it now and then), or failed once it has used
all its attempts. Only the lease holder can mark it done (`finish`), so a job ends
with one stored capture even when a silent worker comes back. On PostgreSQL many
workers claim at once: FOR UPDATE SKIP LOCKED passes over jobs another is taking.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from archive.catalog import from_iso, to_iso, utcnow, visible_sql


def worker_name() -> str:
    """host:pid, so a worker can tell whether another worker is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(worker: str | None) -> bool:
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's worker: only the heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def enqueue(db: sqlite3.Connection, url: str, vantage: str = "direct", watch_id: int | None = None,
            not_before: str | None = None, options: dict[str, Any] | None = None,
            parent_job_id: int | None = None, token_id: int | None = None, crawl_id: int | None = None) -> int:
    """Queue a capture of ``url``; a watch's job names it, and is not claimed before ``not_before``.

    ``options`` are what the submitter asked for (``capture_outlinks``); an outlink's job names
    its ``parent_job_id``; ``token_id`` is the API token that submitted it, if any; a crawl's
    page names its ``crawl_id`` (the crawl's frontier row is in ``options``).
    """
    cur = db.execute("INSERT INTO jobs (url, status, created_at, vantage, watch_id, not_before, options,"
                     " parent_job_id, token_id, crawl_id) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                     (url, utcnow(), vantage, watch_id, not_before, json.dumps(options or {}), parent_job_id,
                      token_id, crawl_id))
    return cur.fetchone()[0]


def job_options(job: dict[str, Any]) -> dict[str, Any]:
    """A job row's ``options`` as a dict ({} for jobs from before options existed)."""
    try:
        options = json.loads(job.get("options") or "{}")
    except ValueError:
        return {}
    return options if isinstance(options, dict) else {}


def children(db: sqlite3.Connection, job_id: int) -> list[int]:
    """Ids of the jobs queued for job ``job_id``'s outlinks."""
    return [r[0] for r in db.execute("SELECT id FROM jobs WHERE parent_job_id = ? ORDER BY id", (job_id,))]


def postpone(db: sqlite3.Connection, job_id: int, until: str, reason: str) -> None:
    """Hand a claimed job back to the queue untouched, not to be claimed before ``until``.

    The attempt it was claimed with is given back: nothing was tried.
    """
    db.execute("UPDATE jobs SET status = 'queued', attempts = max(attempts - 1, 0), not_before = ?, error = ?,"
               " started_at = NULL, worker = NULL WHERE id = ? AND status = 'running'", (until, reason, job_id))


def get_job(db: sqlite3.Connection, job_id: int, staff: bool = True) -> dict[str, Any] | None:
    """Job ``job_id``, or None. ``staff=False`` reads as the public does: if staff took the capture of a
    done job out of public view, its ``capture_id`` is None and ``capture_withheld`` true."""
    row = db.execute("SELECT j.*, c.id IS NOT NULL AND NOT"
                     f" {visible_sql('c', staff)} AS capture_withheld"
                     " FROM jobs j LEFT JOIN captures c ON c.id = j.capture_id WHERE j.id = ?", (job_id,)).fetchone()
    if row is None:
        return None
    job = dict(row)
    if staff:
        del job["capture_withheld"]
    elif job["capture_withheld"]:
        job["capture_id"] = None
    return job


class LeaseLost(RuntimeError):
    """A worker's job was handed to another worker (it was silent past the lease time)."""


def claim(db: sqlite3.Connection, worker: str) -> dict[str, Any] | None:
    """Take the oldest queued job that may start now for ``worker``; None when there is none.

    Jobs with a ``not_before`` in the future (scheduled captures spaced out per host) are
    passed over. The (status, id) index walks the queue in order; only scheduled jobs, at
    most WATCH_MAX_PENDING of them, can be waiting, so no index on not_before is needed.
    """
    now = utcnow()
    row = db.execute(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?,"
        " heartbeat_at = ?, worker = ?"
        " WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND (not_before IS NULL OR not_before <= ?)"
        f" ORDER BY id LIMIT 1{_SKIP_LOCKED[getattr(db, 'engine', 'sqlite')]})"
        " AND status = 'queued' RETURNING *",
        (now, now, worker, now)).fetchone()
    return dict(row) if row else None


# The steps of a running job, in order, as its page shows them (between "queued" and "done" or "failed").
STEPS = ("loading", "recording", "indexing")


def set_step(db: sqlite3.Connection, job_id: int, step: str) -> None:
    """Say which of STEPS running job ``job_id`` is at (for people watching its page)."""
    if step not in STEPS:
        raise ValueError(f"unknown job step {step!r}: use one of {', '.join(STEPS)}")
    db.execute("UPDATE jobs SET step = ? WHERE id = ? AND status = 'running'", (step, job_id))


# SQLite has one writer at a time, so a claim never meets another; PostgreSQL's claims run at once,
# and each passes over the rows the others are taking instead of waiting for them.
_SKIP_LOCKED = {"sqlite": "", "postgresql": " FOR UPDATE SKIP LOCKED"}


def heartbeat(db: sqlite3.Connection, job_id: int, worker: str | None = None) -> bool:
    """Renew the lease on a running job; False if ``worker`` (when given) no longer holds it."""
    sql = "UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND status = 'running'"
    args: tuple = (utcnow(), job_id)
    if worker is not None:
        sql, args = sql + " AND worker = ?", args + (worker,)
    return db.execute(sql, args).rowcount > 0


def finish(db: sqlite3.Connection, job_id: int, capture_id: int, worker: str | None = None) -> None:
    """Mark the job done with its capture. With ``worker``, only if that worker still holds its lease
    (LeaseLost otherwise: the caller's transaction, and the capture in it, is then rolled back)."""
    sql = "UPDATE jobs SET status = 'done', finished_at = ?, capture_id = ?, error = NULL WHERE id = ?"
    args: tuple = (utcnow(), capture_id, job_id)
    if worker is not None:
        sql, args = sql + " AND status = 'running' AND worker = ?", args + (worker,)
    if db.execute(sql, args).rowcount == 0 and worker is not None:
        raise LeaseLost(f"job {job_id} was taken over from worker {worker} (silent past the lease time);"
                        " its other worker stores the capture")


def fail(db: sqlite3.Connection, job_id: int, error: str, max_attempts: int, retry: bool = True) -> str:
    """Requeue the job if it may try again, else mark it failed; return the new status."""
    row = db.execute("SELECT attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()
    status = "queued" if retry and row and row[0] < max_attempts else "failed"
    db.execute("UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
               (status, error, utcnow() if status == "failed" else None, job_id))
    return status


def recover(db: sqlite3.Connection, max_attempts: int, stale_after: float, restarting: str | None = None) -> list[int]:
    """Hand back jobs whose worker died (gone, or silent for ``stale_after`` seconds).

    ``restarting`` names a worker starting again in the same process (`serve` restarts a worker
    thread that died): the jobs still under its name were left by the run that died.
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=stale_after)
    recovered = []
    for job in db.execute("SELECT id, worker, heartbeat_at FROM jobs WHERE status = 'running'").fetchall():
        silent = job["heartbeat_at"] is None or from_iso(job["heartbeat_at"]) < cutoff
        if _alive(job["worker"]) and not silent and job["worker"] != restarting:
            continue
        # Only if nothing changed since it was read: workers on other machines recover too, and the
        # job may have been handed back and claimed again meanwhile.
        status = "CASE WHEN attempts < ? THEN 'queued' ELSE 'failed' END"
        if db.execute(f"UPDATE jobs SET status = {status}, error = ?, worker = NULL,"
                      f" finished_at = CASE WHEN {status} = 'failed' THEN ? END"
                      " WHERE id = ? AND status = 'running' AND COALESCE(worker, '') = ?"
                      " AND COALESCE(heartbeat_at, '') = ?",
                      (max_attempts, f"worker {job['worker']} stopped during the capture", max_attempts, utcnow(),
                       job["id"], job["worker"] or "", job["heartbeat_at"] or "")).rowcount:
            recovered.append(job["id"])
    return recovered


# Scheduled jobs on one host that started at or after a time (the jobs_watch_started index), newest first.
RECENT_STARTS_SQL = ("SELECT w.host, j.id, j.started_at FROM jobs j JOIN watches w ON w.id = j.watch_id"
                     " WHERE j.watch_id IS NOT NULL AND j.started_at >= ? ORDER BY j.started_at DESC")


def recent_starts(db: sqlite3.Connection, since: datetime) -> dict[str, datetime]:
    """Per host, the last start of a scheduled job at or after ``since`` (done, failed or running alike)."""
    latest: dict[str, datetime] = {}
    for host, _, started in db.execute(RECENT_STARTS_SQL, (to_iso(since),)):
        latest.setdefault(host, from_iso(started))
    return latest


def too_soon_after(db: sqlite3.Connection, job: dict[str, Any], delay: float) -> datetime | None:
    """For a claimed scheduled job: when it may start, if another scheduled job on its host started
    less than ``delay`` seconds before it (else None). Ties in time go to the lower job id."""
    if not job.get("watch_id") or not job.get("started_at") or delay <= 0:
        return None
    mine = from_iso(job["started_at"])
    host = db.execute("SELECT host FROM watches WHERE id = ?", (job["watch_id"],)).fetchone()
    if host is None:
        return None
    for other_host, other_id, started in db.execute(RECENT_STARTS_SQL, (to_iso(mine - timedelta(seconds=delay)),)):
        at = from_iso(started)
        if other_host == host[0] and other_id != job["id"] and (at, other_id) < (mine, job["id"]):
            return at + timedelta(seconds=delay)
    return None


def queue_state(db: sqlite3.Connection) -> dict[str, Any]:
    """Queued jobs, and the age in seconds of the oldest one that may start now (None if none may)."""
    now = utcnow()
    depth = db.execute("SELECT count(*) FROM jobs WHERE status = 'queued'").fetchone()[0]
    oldest = db.execute("SELECT min(created_at) FROM jobs WHERE status = 'queued'"
                        " AND (not_before IS NULL OR not_before <= ?)", (now,)).fetchone()[0]
    age = (from_iso(now) - from_iso(oldest)).total_seconds() if oldest else None
    return {"depth": depth, "oldest_queued_age_seconds": round(age, 3) if age is not None else None}


def counts(db: sqlite3.Connection) -> dict[str, int]:
    return {r[0]: r[1] for r in db.execute("SELECT status, count(*) FROM jobs GROUP BY status")}


def queued_before(db: sqlite3.Connection, seconds: float) -> int:
    """Queued jobs that may start within ``seconds`` (not those postponed further, e.g. to a budget reset)."""
    horizon = to_iso(datetime.now(UTC) + timedelta(seconds=seconds))
    return db.execute("SELECT count(*) FROM jobs WHERE status = 'queued' AND (not_before IS NULL OR not_before <= ?)",
                      (horizon,)).fetchone()[0]


__all__ = ["LeaseLost", "enqueue",
           "job_options", "children", "postpone", "get_job", "claim", "STEPS", "set_step", "heartbeat",
           "finish", "fail",
           "recover", "counts", "queued_before", "worker_name", "to_iso", "recent_starts", "too_soon_after",
           "queue_state", "RECENT_STARTS_SQL"]
