"""The capture job queue, kept in the catalog so it survives restarts.

A job is queued, claimed by one worker (running), and ends done or failed with
a reason. A worker that dies leaves its jobs running; `recover` hands them back
to the queue, or fails them once they have used all their attempts.
"""
from __future__ import annotations

import os
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from .catalog import from_iso, to_iso, utcnow


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
            not_before: str | None = None) -> int:
    """Queue a capture of ``url``; a watch's job names it, and is not claimed before ``not_before``."""
    cur = db.execute("INSERT INTO jobs (url, status, created_at, vantage, watch_id, not_before)"
                     " VALUES (?, 'queued', ?, ?, ?, ?)", (url, utcnow(), vantage, watch_id, not_before))
    return cur.lastrowid


def get_job(db: sqlite3.Connection, job_id: int) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return dict(row) if row else None


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
        " ORDER BY id LIMIT 1)"
        " AND status = 'queued' RETURNING *",
        (now, now, worker, now)).fetchone()
    return dict(row) if row else None


def heartbeat(db: sqlite3.Connection, job_id: int) -> None:
    db.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND status = 'running'", (utcnow(), job_id))


def finish(db: sqlite3.Connection, job_id: int, capture_id: int) -> None:
    db.execute("UPDATE jobs SET status = 'done', finished_at = ?, capture_id = ?, error = NULL WHERE id = ?",
               (utcnow(), capture_id, job_id))


def fail(db: sqlite3.Connection, job_id: int, error: str, max_attempts: int, retry: bool = True) -> str:
    """Requeue the job if it may try again, else mark it failed; return the new status."""
    row = db.execute("SELECT attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()
    status = "queued" if retry and row and row[0] < max_attempts else "failed"
    db.execute("UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
               (status, error, utcnow() if status == "failed" else None, job_id))
    return status


def recover(db: sqlite3.Connection, max_attempts: int, stale_after: float) -> list[int]:
    """Hand back jobs whose worker died (gone, or silent for ``stale_after`` seconds)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=stale_after)
    recovered = []
    for job in db.execute("SELECT id, worker, heartbeat_at FROM jobs WHERE status = 'running'").fetchall():
        silent = job["heartbeat_at"] is None or from_iso(job["heartbeat_at"]) < cutoff
        if _alive(job["worker"]) and not silent:
            continue
        fail(db, job["id"], f"worker {job['worker']} stopped during the capture", max_attempts)
        recovered.append(job["id"])
    return recovered


def counts(db: sqlite3.Connection) -> dict[str, int]:
    return {r[0]: r[1] for r in db.execute("SELECT status, count(*) FROM jobs GROUP BY status")}


__all__ = ["enqueue", "get_job", "claim", "heartbeat", "finish", "fail", "recover", "counts",
           "worker_name", "to_iso"]
