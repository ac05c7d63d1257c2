"""Crawls and their frontier, kept in the catalog so a crawl survives any process dying.

A crawl is a row of ``crawls``; every URL it meets is one row of ``crawl_urls`` (UNIQUE per
crawl, so a URL is captured at most once per crawl), in one of these states:

``pending``   in scope and allowed, waiting for a job;
``queued``    a job for it is in the ordinary job queue (``jobs.crawl_id``), queued or running;
``captured``  its capture is stored (``capture_id``), marked in the capture's own transaction;
``skipped``   not captured, ``reason`` says why (out of scope, robots.txt, trap, depth, limit);
``failed``    its job failed, ``reason`` is the job's error.

The frontier feeds the job queue a few URLs per host at a time (``feed``): at most
``host_concurrency`` jobs of a host queued or running, their start times ``host_delay`` apart
(``not_before``), later for a host that answered 429/503 with ``Retry-After``. Workers lease
jobs through ``archive.capturing.jobs`` as for any capture, so whatever makes leasing safe
across processes and machines covers crawls too.
"""
from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from archive.capturing import jobs
from archive.catalog import from_iso, to_iso, transaction, utcnow
from crawler.netpolicy import URLRejected

SCOPES = ("page", "prefix", "host", "domain")
STATES = ("queued", "running", "paused", "cancelled", "done")
URL_STATES = ("pending", "queued", "captured", "skipped", "failed")
ACTIVE = ("queued", "running")  # crawl states in which workers feed and capture it
RETRIES = 2  # times a URL answered 429/503 is tried again


class CrawlError(ValueError):
    """A crawl cannot be made or changed as asked; the message names the thing and the fix."""


@dataclass(frozen=True)
class CrawlSpec:
    """What a crawl is asked to do (the CLI's and the API's arguments)."""

    seeds: tuple[str, ...]
    scope: str = "host"
    name: str = ""
    include: str | None = None
    exclude: str | None = None
    max_depth: int | None = None
    max_pages: int | None = None
    max_bytes: int | None = None
    max_seconds: int | None = None
    host_delay: float = 1.0
    host_concurrency: int = 2
    vantage: str = "direct"
    ignore_robots: bool = False
    robots_reason: str | None = None
    screenshots: bool = False
    sitemaps: bool = True  # read the sitemaps robots.txt names for host and domain scopes
    previous_crawl_id: int | None = None
    token_id: int | None = None


def validate(spec: CrawlSpec, check: Callable[[str], str]) -> CrawlSpec:
    """``spec`` with its seeds normalised by the URL check; CrawlError naming what is wrong."""
    if not spec.seeds:
        raise CrawlError("a crawl needs at least one seed URL (a page, sitemap or feed)")
    if spec.scope not in SCOPES:
        raise CrawlError(f"scope {spec.scope!r} is not one of {', '.join(SCOPES)}")
    for label, pattern in (("--include", spec.include), ("--exclude", spec.exclude)):
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise CrawlError(f"{label} {pattern!r} is not a regular expression: {exc}") from exc
    for label, value in (("--max-depth", spec.max_depth), ("--max-pages", spec.max_pages),
                         ("--max-bytes", spec.max_bytes), ("--max-seconds", spec.max_seconds)):
        if value is not None and value < 0:
            raise CrawlError(f"{label} must be 0 or more, not {value}")
    if spec.host_delay < 0:
        raise CrawlError(f"--host-delay must be 0 or more seconds, not {spec.host_delay}")
    if spec.host_concurrency < 1:
        raise CrawlError(f"--host-concurrency must be at least 1, not {spec.host_concurrency}")
    if spec.ignore_robots and not (spec.robots_reason or "").strip():
        raise CrawlError("--ignore-robots needs --robots-reason: why robots.txt is overridden is kept with "
                         "every capture's provenance")
    seeds = []
    for seed in spec.seeds:
        try:
            seeds.append(check(seed))
        except URLRejected as exc:
            raise CrawlError(f"seed {seed}: {exc}") from exc
    return replace(spec, seeds=tuple(dict.fromkeys(seeds)))


def create_crawl(db: sqlite3.Connection, spec: CrawlSpec) -> int:
    """Record a crawl (state ``queued``: a worker expands its seeds and starts it); return its id."""
    options = {"screenshots": spec.screenshots, "sitemaps": spec.sitemaps}
    name = spec.name or (urlsplit(spec.seeds[0]).hostname or spec.seeds[0])
    with transaction(db):
        row = db.execute(
            "INSERT INTO crawls (name, seeds, scope, include_re, exclude_re, max_depth, max_pages, max_bytes,"
            " max_seconds, host_delay, host_concurrency, vantage, ignore_robots, robots_reason, options, state,"
            " previous_crawl_id, token_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " 'queued', ?, ?, ?) RETURNING id",
            (name, json.dumps(list(spec.seeds)), spec.scope, spec.include, spec.exclude, spec.max_depth,
             spec.max_pages, spec.max_bytes, spec.max_seconds, spec.host_delay, spec.host_concurrency,
             spec.vantage, int(spec.ignore_robots), spec.robots_reason, json.dumps(options),
             spec.previous_crawl_id, spec.token_id, utcnow())).fetchone()
    return row[0]


def crawl_spec(crawl: dict[str, Any]) -> CrawlSpec:
    """The spec a crawl row was made from (a recrawl repeats it)."""
    options = crawl["options"]
    return CrawlSpec(seeds=tuple(crawl["seeds"]), scope=crawl["scope"], name=crawl["name"],
                     include=crawl["include_re"], exclude=crawl["exclude_re"], max_depth=crawl["max_depth"],
                     max_pages=crawl["max_pages"], max_bytes=crawl["max_bytes"], max_seconds=crawl["max_seconds"],
                     host_delay=crawl["host_delay"], host_concurrency=crawl["host_concurrency"],
                     vantage=crawl["vantage"], ignore_robots=bool(crawl["ignore_robots"]),
                     robots_reason=crawl["robots_reason"], screenshots=bool(options.get("screenshots")),
                     sitemaps=bool(options.get("sitemaps", True)))


def recrawl(db: sqlite3.Connection, crawl_id: int, check: Callable[[str], str]) -> int:
    """A new crawl repeating crawl ``crawl_id``: same seeds, scope, limits and politeness, and every
    page it captured visited again (so a page deleted and no longer linked is still seen gone)."""
    earlier = require_crawl(db, crawl_id)
    return create_crawl(db, validate(replace(crawl_spec(earlier), previous_crawl_id=crawl_id), check))


def get_crawl(db: sqlite3.Connection, crawl_id: int) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM crawls WHERE id = ?", (crawl_id,)).fetchone()
    if row is None:
        return None
    crawl = dict(row)
    crawl["seeds"] = json.loads(crawl["seeds"])
    crawl["options"] = json.loads(crawl["options"] or "{}")
    return crawl


def require_crawl(db: sqlite3.Connection, crawl_id: int) -> dict[str, Any]:
    crawl = get_crawl(db, crawl_id)
    if crawl is None:
        raise CrawlError(f"there is no crawl {crawl_id}; `python -m archive crawl list` shows them")
    return crawl


def list_crawls(db: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    ids = [r[0] for r in db.execute("SELECT id FROM crawls ORDER BY id DESC LIMIT ?", (limit,))]
    return [get_crawl(db, i) for i in ids]


def active_crawls(db: sqlite3.Connection) -> list[dict[str, Any]]:
    return [get_crawl(db, r[0]) for r in db.execute("SELECT id FROM crawls WHERE state IN ('queued', 'running')"
                                                    " ORDER BY id")]


def host_key(url: str) -> str:
    return (urlsplit(url).netloc or "").lower()


def add_urls(db: sqlite3.Connection, crawl_id: int, rows: Iterable[tuple[str, int, str, str, str | None, int | None]],
             listed: bool = False) -> int:
    """Add frontier rows (url, depth, via, state, reason, discovered_from); a URL already there is left
    as it is (``listed`` marks it named in a sitemap or feed). Returns how many were new."""
    now = utcnow()
    conflict = "DO UPDATE SET listed = 1" if listed else "DO NOTHING"
    cur = db.executemany(
        "INSERT INTO crawl_urls (crawl_id, url, host, depth, via, listed, state, reason, discovered_from,"
        " created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        f" ON CONFLICT (crawl_id, url) {conflict}",
        [(crawl_id, url, host_key(url), depth, via, int(listed), state, reason, parent, now,
          now if state in ("skipped", "failed") else None) for url, depth, via, state, reason, parent in rows])
    return 0 if listed else max(cur.rowcount, 0)


def _count(db: sqlite3.Connection, sql: str, *args: Any) -> int:
    return db.execute(sql, args).fetchone()[0]


def feed(db: sqlite3.Connection, crawl: dict[str, Any], now: datetime | None = None) -> int:
    """Queue jobs for pending URLs, within each host's concurrency, delay and the crawl's limits;
    return how many. Runs in its own transaction (or the caller's)."""
    if crawl["state"] != "running":
        return 0
    now = now or datetime.now(UTC)
    crawl_id = crawl["id"]
    queued = 0
    with transaction(db):
        room = None
        if crawl["max_pages"] is not None:
            used = _count(db, "SELECT count(*) FROM crawl_urls WHERE crawl_id = ? AND state IN ('queued', 'captured')",
                          crawl_id)
            room = crawl["max_pages"] - used
            if room <= 0:
                return 0
        if crawl["max_bytes"] is not None and _count(db, "SELECT bytes FROM crawls WHERE id = ?",
                                                     crawl_id) >= crawl["max_bytes"]:
            return 0
        hosts = [r[0] for r in db.execute(
            "SELECT DISTINCT host FROM crawl_urls WHERE crawl_id = ? AND state = 'pending'", (crawl_id,))]
        delay = timedelta(seconds=crawl["host_delay"])
        for host in hosts:
            active = _count(db, "SELECT count(*) FROM crawl_urls WHERE crawl_id = ? AND state = 'queued' AND host = ?",
                            crawl_id, host)
            free = crawl["host_concurrency"] - active
            if room is not None:
                free = min(free, room - queued)
            if free <= 0:
                continue
            slot_row = db.execute("SELECT next_at FROM crawl_hosts WHERE crawl_id = ? AND host = ?",
                                  (crawl_id, host)).fetchone()
            slot = max(now, from_iso(slot_row[0])) if slot_row and slot_row[0] else now
            rows = db.execute("SELECT id, url FROM crawl_urls WHERE crawl_id = ? AND state = 'pending' AND host = ?"
                              " ORDER BY depth, id LIMIT ?", (crawl_id, host, free)).fetchall()
            for row in rows:
                if db.execute("UPDATE crawl_urls SET state = 'queued' WHERE id = ? AND state = 'pending'",
                              (row["id"],)).rowcount != 1:
                    continue  # another worker fed it
                job_id = jobs.enqueue(db, row["url"], crawl["vantage"], not_before=to_iso(slot) if slot > now else None,
                                      options={"crawl_url_id": row["id"]}, token_id=crawl["token_id"],
                                      crawl_id=crawl_id)
                db.execute("UPDATE crawl_urls SET job_id = ? WHERE id = ?", (job_id, row["id"]))
                slot = slot + delay
                queued += 1
            set_next_at(db, crawl_id, host, slot)
    return queued


def set_next_at(db: sqlite3.Connection, crawl_id: int, host: str, at: datetime) -> None:
    db.execute("INSERT INTO crawl_hosts (crawl_id, host, next_at) VALUES (?, ?, ?)"
               " ON CONFLICT (crawl_id, host) DO UPDATE SET next_at = excluded.next_at",
               (crawl_id, host, to_iso(at)))


def reconcile(db: sqlite3.Connection, crawl_id: int) -> None:
    """Frontier rows whose job ended outside a crawl-aware store: failed jobs fail the row; a job
    stored by a worker without crawl hooks still counts its capture (its links are not followed)."""
    now = utcnow()
    with transaction(db):
        db.execute("UPDATE crawl_urls SET state = 'failed', finished_at = ?,"
                   " reason = (SELECT error FROM jobs WHERE jobs.id = crawl_urls.job_id)"
                   " WHERE crawl_id = ? AND state = 'queued' AND job_id IN"
                   " (SELECT id FROM jobs WHERE crawl_id = ? AND status = 'failed')", (now, crawl_id, crawl_id))
        db.execute("UPDATE crawl_urls SET state = 'captured', finished_at = ?, reason = 'stored without its links',"
                   " capture_id = (SELECT capture_id FROM jobs WHERE jobs.id = crawl_urls.job_id)"
                   " WHERE crawl_id = ? AND state = 'queued' AND job_id IN"
                   " (SELECT id FROM jobs WHERE crawl_id = ? AND status = 'done')", (now, crawl_id, crawl_id))


def finish_if_done(db: sqlite3.Connection, crawl: dict[str, Any], now: datetime | None = None) -> str | None:
    """End a running crawl whose work is over (nothing pending that may still be fed, nothing queued),
    or past its time limit; return why it ended, or None if it goes on."""
    if crawl["state"] != "running":
        return None
    now = now or datetime.now(UTC)
    crawl_id = crawl["id"]
    if crawl["max_seconds"] is not None and crawl["started_at"] and \
            now - from_iso(crawl["started_at"]) >= timedelta(seconds=crawl["max_seconds"]):
        _stop(db, crawl_id, "done", f"time limit of {crawl['max_seconds']} s reached")
        return "time limit"
    queued = _count(db, "SELECT count(*) FROM crawl_urls WHERE crawl_id = ? AND state = 'queued'", crawl_id)
    if queued:
        return None
    pending = _count(db, "SELECT count(*) FROM crawl_urls WHERE crawl_id = ? AND state = 'pending'", crawl_id)
    if not pending:
        reason = "every URL in scope was visited"
    elif crawl["max_pages"] is not None and _count(
            db, "SELECT count(*) FROM crawl_urls WHERE crawl_id = ? AND state = 'captured'",
            crawl_id) >= crawl["max_pages"]:
        reason = f"page limit of {crawl['max_pages']} reached"
    elif crawl["max_bytes"] is not None and _count(db, "SELECT bytes FROM crawls WHERE id = ?",
                                                   crawl_id) >= crawl["max_bytes"]:
        reason = f"byte limit of {crawl['max_bytes']} reached"
    else:
        return None  # pending URLs wait for a feed
    with transaction(db):
        if db.execute("SELECT state FROM crawls WHERE id = ?", (crawl_id,)).fetchone()[0] != "running":
            return None
        _stop(db, crawl_id, "done", reason)
    return reason


def _stop(db: sqlite3.Connection, crawl_id: int, state: str, reason: str) -> None:
    with transaction(db):
        db.execute("UPDATE crawls SET state = ?, stop_reason = ?, finished_at = ? WHERE id = ?",
                   (state, reason, utcnow(), crawl_id))
        # Jobs not yet started go; their URLs stay pending (a resume feeds them again).
        unqueue(db, crawl_id)


def unqueue(db: sqlite3.Connection, crawl_id: int) -> None:
    """Take the crawl's jobs that have not started off the queue; their URLs are pending again."""
    db.execute("UPDATE crawl_urls SET state = 'pending', job_id = NULL WHERE crawl_id = ? AND state = 'queued'"
               " AND job_id IN (SELECT id FROM jobs WHERE crawl_id = ? AND status = 'queued')", (crawl_id, crawl_id))
    db.execute("DELETE FROM jobs WHERE crawl_id = ? AND status = 'queued'", (crawl_id,))


def change_state(db: sqlite3.Connection, crawl_id: int, action: str) -> dict[str, Any]:
    """``pause``, ``resume`` or ``cancel`` a crawl; CrawlError when it cannot be done now.

    Pausing and cancelling take its jobs that have not started off the queue (those running
    finish and are stored); resuming feeds them again.
    """
    with transaction(db):
        crawl = require_crawl(db, crawl_id)
        state = crawl["state"]
        if action == "pause":
            if state not in ACTIVE:
                raise CrawlError(f"crawl {crawl_id} is {state}; only a queued or running crawl can be paused")
            db.execute("UPDATE crawls SET state = 'paused' WHERE id = ?", (crawl_id,))
            unqueue(db, crawl_id)
        elif action == "resume":
            if state != "paused":
                raise CrawlError(f"crawl {crawl_id} is {state}; only a paused crawl can be resumed")
            db.execute("UPDATE crawls SET state = ? WHERE id = ?",
                       ("running" if crawl["started_at"] else "queued", crawl_id))
        elif action == "cancel":
            if state in ("cancelled", "done"):
                raise CrawlError(f"crawl {crawl_id} is already {state}")
            db.execute("UPDATE crawls SET state = 'cancelled', stop_reason = 'cancelled', finished_at = ?"
                       " WHERE id = ?", (utcnow(), crawl_id))
            unqueue(db, crawl_id)
        else:
            raise CrawlError(f"unknown action {action!r}: pause, resume or cancel")
    return require_crawl(db, crawl_id)


def progress(db: sqlite3.Connection, crawl_id: int) -> dict[str, Any]:
    """Counts by frontier state, skipped and failed by reason, bytes, rate and time left."""
    crawl = require_crawl(db, crawl_id)
    by_state = {s: 0 for s in URL_STATES}
    for state, n in db.execute("SELECT state, count(*) FROM crawl_urls WHERE crawl_id = ? GROUP BY state",
                               (crawl_id,)):
        by_state[state] = n
    outcomes = {o: n for o, n in db.execute(
        "SELECT c.outcome, count(*) FROM crawl_urls u JOIN captures c ON c.id = u.capture_id"
        " WHERE u.crawl_id = ? GROUP BY c.outcome", (crawl_id,))}
    started = from_iso(crawl["started_at"]) if crawl["started_at"] else None
    ended = from_iso(crawl["finished_at"]) if crawl["finished_at"] else datetime.now(UTC)
    seconds = (ended - started).total_seconds() if started else 0.0
    rate = by_state["captured"] / seconds * 60 if seconds > 0 else 0.0
    left_pages = by_state["pending"] + by_state["queued"]
    if crawl["max_pages"] is not None:
        left_pages = max(0, min(left_pages, crawl["max_pages"] - by_state["captured"]))
    eta = left_pages / rate * 60 if rate > 0 and crawl["state"] in ACTIVE else None
    return {"id": crawl_id, "name": crawl["name"], "state": crawl["state"], "stop_reason": crawl["stop_reason"],
            "pages": by_state["captured"], "queued": by_state["queued"] + by_state["pending"],
            "failed": by_state["failed"], "skipped": by_state["skipped"], "bytes": crawl["bytes"],
            "by_state": by_state, "outcomes": outcomes, "seconds": round(seconds, 3),
            "pages_per_minute": round(rate, 2), "eta_seconds": round(eta, 1) if eta is not None else None}


def crawl_log(db: sqlite3.Connection, crawl_id: int, state: str | None = None, limit: int = 1000,
              offset: int = 0) -> list[dict[str, Any]]:
    """The per-URL log: each URL with its state, why (skipped or failed), depth, how found, capture."""
    sql = ("SELECT u.id, u.url, u.depth, u.via, u.listed, u.state, u.reason, u.capture_id, u.created_at,"
           " u.finished_at, c.outcome, c.status, c.title FROM crawl_urls u LEFT JOIN captures c ON c.id = u.capture_id"
           " WHERE u.crawl_id = ?")
    args: list[Any] = [crawl_id]
    if state:
        sql += " AND u.state = ?"
        args.append(state)
    sql += " ORDER BY u.id LIMIT ? OFFSET ?"
    return [dict(r) for r in db.execute(sql, (*args, limit, offset))]


__all__ = ["ACTIVE", "CrawlError", "CrawlSpec", "SCOPES", "STATES", "URL_STATES", "active_crawls", "add_urls",
           "change_state", "crawl_log", "crawl_spec", "create_crawl", "feed", "finish_if_done", "get_crawl",
           "host_key", "list_crawls", "progress", "reconcile", "recrawl", "require_crawl", "set_next_at", "unqueue",
           "validate"]
