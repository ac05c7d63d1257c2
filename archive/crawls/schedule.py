"""Crawls repeated on a schedule: the watch scheduler's round starts the recrawls that are due.

A crawl given an interval (``crawl recrawl ID --every 7d``) keeps it, with the time its next
recrawl is due. When due, and when no crawl of the chain is still queued, running or paused, the
latest crawl of the chain is crawled again and the time moved on, in one transaction; so two
schedulers (serve and worker both run one) never start the same recrawl twice.
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from archive.catalog import to_iso, transaction
from archive.crawls.frontier import recrawl, require_crawl

log = logging.getLogger("archive.crawls")


def schedule_recrawls(db: sqlite3.Connection, crawl_id: int, every_seconds: int,
                      now: datetime | None = None) -> None:
    """Crawl ``crawl_id`` again every ``every_seconds`` (the first due one interval from now)."""
    require_crawl(db, crawl_id)
    due = (now or datetime.now(UTC)) + timedelta(seconds=every_seconds)
    with transaction(db):
        db.execute("UPDATE crawls SET recrawl_every = ?, recrawl_due = ? WHERE id = ?",
                   (every_seconds, to_iso(due), crawl_id))


def _latest(db: sqlite3.Connection, crawl_id: int) -> dict:
    current = require_crawl(db, crawl_id)
    while True:
        row = db.execute("SELECT id FROM crawls WHERE previous_crawl_id = ? ORDER BY id DESC LIMIT 1",
                         (current["id"],)).fetchone()
        if row is None:
            return current
        current = require_crawl(db, row[0])


def start_due_recrawls(db: sqlite3.Connection, check: Callable[[str], str], now: datetime | None = None) -> list[int]:
    """Start every recrawl that is due; return the new crawls' ids."""
    now = now or datetime.now(UTC)
    started = []
    for row in db.execute("SELECT id, recrawl_every, recrawl_due FROM crawls WHERE recrawl_due IS NOT NULL"
                          " AND recrawl_due <= ? ORDER BY recrawl_due", (to_iso(now),)).fetchall():
        latest = _latest(db, row["id"])
        if latest["state"] in ("queued", "running", "paused"):
            continue  # the last one is not over: the next waits for it
        with transaction(db):
            moved = db.execute("UPDATE crawls SET recrawl_due = ? WHERE id = ? AND recrawl_due = ?",
                               (to_iso(now + timedelta(seconds=row["recrawl_every"])), row["id"],
                                row["recrawl_due"])).rowcount
            if not moved:
                continue
            started.append(recrawl(db, latest["id"], check))
        log.info("scheduled recrawl of crawl %s: crawl %s", latest["id"], started[-1])
    return started


__all__ = ["schedule_recrawls", "start_due_recrawls"]
