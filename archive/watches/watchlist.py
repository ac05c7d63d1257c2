"""Watched URLs: pages captured again and again, so their removal is seen when it happens.

A watch is a (URL, vantage) pair with an interval and the time its next capture is
due; ``archive.watches.scheduler`` turns due watches into capture jobs. Removing a watch
only deactivates it: its jobs and captures keep pointing at it.
"""
from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from archive.catalog import iso_utc, to_iso, transaction, visible_sql
from archive.settings import MIN_DURATION, DurationTooShort, Settings, parse_duration
from archive.urlcheck import url_variants
from crawler.netpolicy import URLRejected, normalize_url
from crawler.vantage import DIRECT, vantage_named

MIN_EVERY = MIN_DURATION  # the floor parse_duration enforces: the CLI may watch this often
WEB_MIN_EVERY = 15 * 60  # anonymous web and API watches: no more often than this
MAX_EVERY = 366 * 86400  # a year and a day; longer is a typo, and would overflow dates sooner or later
PROGRESS_EVERY = 1000  # lines between progress reports of an import


class WatchError(ValueError):
    """A watch that cannot be added as asked; the message names the input and the fix."""


def check_interval(every_seconds: int, minimum: int = MIN_EVERY) -> int:
    """``every_seconds`` if it is a usable interval; WatchError saying the bounds otherwise."""
    if not isinstance(every_seconds, int) or isinstance(every_seconds, bool):
        raise WatchError(f"interval {every_seconds!r} is not a whole number of seconds")
    if every_seconds < minimum:
        raise WatchError(f"interval {format_every(every_seconds)} is too short; the shortest is "
                         f"{format_every(minimum)}")
    if every_seconds > MAX_EVERY:
        raise WatchError(f"interval {format_every(every_seconds)} is too long; "
                         f"the longest is {format_every(MAX_EVERY)}")
    return every_seconds


def parse_every(text: str, minimum: int = MIN_EVERY) -> int:
    """Seconds in an interval like ``6h`` or ``30m``, within bounds; WatchError otherwise."""
    try:
        seconds = parse_duration(text)
    except OverflowError:
        raise WatchError(f"interval {text!r} is too long; the longest is {format_every(MAX_EVERY)}") from None
    except DurationTooShort:
        raise WatchError(f"interval {text!r} is too short; the shortest is {format_every(minimum)}") from None
    except ValueError as exc:
        raise WatchError(f"interval {exc}") from None
    return check_interval(seconds, minimum)


def format_every(seconds: int) -> str:
    """``21600`` as ``6h``: the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def check_vantage(settings: Settings, vantage: str | None) -> str:
    """The vantage's name (``direct`` for none) if it is configured; UnknownVantage otherwise."""
    vantage_named(settings.capture_vantages, vantage)
    return vantage or DIRECT


def add_watch(db: sqlite3.Connection, url: str, every_seconds: int, vantage: str = "direct", source: str = "user",
              first_due: str | None = None) -> int:
    """Watch ``url`` from ``vantage`` every ``every_seconds``; return the watch's id.

    The URL's form is checked and normalized here (URLRejected); whether its host may be
    reached is the caller's check (``url_checker``), as is the vantage. Adding a watch that
    exists returns its id: it is re-activated (due at once, or at ``first_due``, if it was
    removed) and takes the new interval, and comes due no later than one new interval from now.
    """
    url = normalize_url(url, max_length=None)  # its length was the caller's check, with MAX_URL_LENGTH
    check_interval(every_seconds)
    now = datetime.now(UTC)
    due = first_due or to_iso(now)
    latest = to_iso(now + timedelta(seconds=every_seconds))
    # One statement, so it is atomic alone and also fits inside a caller's transaction. The http and
    # https forms of a URL are one page (urlcheck.url_variants): a watch on either is the watch.
    row = db.execute(
        "INSERT INTO watches (url, host, vantage, every_seconds, next_due, active, created_at, source)"
        " VALUES (COALESCE((SELECT url FROM watches WHERE url IN (?, ?) AND vantage = ?"
        " ORDER BY active DESC, id LIMIT 1), ?), ?, ?, ?, ?, 1, ?, ?)"
        " ON CONFLICT (url, vantage) DO UPDATE SET every_seconds = excluded.every_seconds,"
        " next_due = CASE WHEN watches.active = 0 THEN excluded.next_due ELSE min(watches.next_due, ?) END,"
        " source = CASE WHEN watches.active = 0 THEN excluded.source ELSE watches.source END, active = 1"
        " RETURNING id",
        (*url_variants(url), vantage or DIRECT, url, urlsplit(url).hostname, vantage or DIRECT, every_seconds, due,
         to_iso(now), source, latest)).fetchone()
    return row[0]


def remove_watch(db: sqlite3.Connection, watch_id: int) -> bool:
    """Stop watching; False if there was no such active watch. Jobs already queued still run."""
    return db.execute("UPDATE watches SET active = 0 WHERE id = ? AND active = 1", (watch_id,)).rowcount > 0


# A watch made by a takedown order is shown to the public only while the order is published: a draft
# order's URLs must not leak through the watch list. Staff see every watch.
_HIDDEN_SOURCES = "SELECT 'takedown:' || t.id FROM takedowns t WHERE t.published = 0"


def _watch_visible_sql(staff: bool) -> str:
    return "1" if staff else f"w.source NOT IN ({_HIDDEN_SOURCES})"


def _watch_select(staff: bool) -> str:
    """A watch with its last job and, once that job is done, its capture (if this reader may see it)."""
    return ("SELECT w.*, j.status AS last_job_status, j.error AS last_job_error, c.id AS last_capture_id,"
            " c.captured_at AS last_captured_at, c.status AS last_http_status, c.outcome AS last_outcome"
            " FROM watches w LEFT JOIN jobs j ON j.id = w.last_job_id"
            f" LEFT JOIN captures c ON c.id = j.capture_id AND {visible_sql('c', staff)}"
            f" WHERE {_watch_visible_sql(staff)}")


def get_watch(db: sqlite3.Connection, watch_id: int, staff: bool = True) -> dict[str, Any] | None:
    """A watch (active or removed) with its last job and capture, or None.

    ``staff=False`` reads as the public does: no watch of an unpublished order, no non-public capture.
    """
    row = db.execute(_watch_select(staff) + " AND w.id = ?", (watch_id,)).fetchone()
    return dict(row) if row else None


def list_watches(db: sqlite3.Connection, limit: int = 100, offset: int = 0, staff: bool = True) -> list[dict[str, Any]]:
    """Active watches in the order they were added, with their last job and capture (``staff``: as get_watch)."""
    rows = db.execute(_watch_select(staff) + " AND w.active = 1 ORDER BY w.id LIMIT ? OFFSET ?", (limit, offset))
    return [dict(r) for r in rows]


# next_due is never empty: the condition lets SQLite count the small watches_due index, not the table.
COUNT_SQL = "SELECT count(*) FROM watches WHERE active = 1 AND next_due > ''"


def count_watches(db: sqlite3.Connection, at_most: int | None = None, staff: bool = True) -> int:
    """Active watches (``staff``: as get_watch); with ``at_most``, counting stops there (a page needs no
    exact 100,000)."""
    # Those the public does not see are few and found through the watches_source index; subtracting
    # them keeps the count on the small watches_due index.
    hidden = 0 if staff else db.execute(
        f"SELECT count(*) FROM watches WHERE active = 1 AND source IN ({_HIDDEN_SOURCES})").fetchone()[0]
    if at_most is None:
        return db.execute(COUNT_SQL).fetchone()[0] - hidden
    found = db.execute(f"SELECT count(*) FROM ({COUNT_SQL.replace('count(*)', '1')} LIMIT ?) AS counted",
                       (at_most + hidden,)).fetchone()[0]
    return min(found - hidden, at_most)


@dataclass
class ImportReport:
    """What an import did: lines read, watches added (or already there), bad lines with reasons."""

    lines: int = 0
    added: int = 0
    existing: int = 0
    bad: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, line, reason)

    def summary(self) -> str:
        return (f"{self.lines} line(s): {self.added} watch(es) added, {self.existing} already watched, "
                f"{len(self.bad)} bad line(s)")


def import_watches(db: sqlite3.Connection, lines: Iterable[str], every_seconds: int, vantage: str,
                   check: Callable[[str], str], source: str = "import",
                   progress: Callable[[int, ImportReport], None] | None = None) -> ImportReport:
    """Watch every URL in ``lines`` (one a line; blank lines and ``#`` comments skipped).

    ``check`` normalizes a URL or raises URLRejected (see ``url_checker``). Bad lines are
    reported with their number and reason and the good ones added anyway; ``progress`` is
    called every PROGRESS_EVERY lines. Each batch of lines is one transaction, for speed.
    """
    check_interval(every_seconds)
    report = ImportReport()
    numbered = enumerate(lines, start=1)
    while batch := list(itertools.islice(numbered, PROGRESS_EVERY)):
        with transaction(db):
            for number, line in batch:
                report.lines = number
                _import_line(db, number, line.strip(), every_seconds, vantage, check, source, report)
        if progress and len(batch) == PROGRESS_EVERY:
            progress(report.lines, report)
    return report


def _import_line(db: sqlite3.Connection, number: int, text: str, every_seconds: int, vantage: str,
                 check: Callable[[str], str], source: str, report: ImportReport) -> None:
    if not text or text.startswith("#"):
        return
    try:
        url = check(text)
    except URLRejected as exc:
        report.bad.append((number, text, str(exc)))
        return
    existed = db.execute("SELECT 1 FROM watches WHERE url = ? AND vantage = ? AND active = 1",
                         (url, vantage)).fetchone()
    add_watch(db, url, every_seconds, vantage, source)
    report.existing += bool(existed)
    report.added += not existed


def watch_json(watch: dict[str, Any]) -> dict[str, Any]:
    """A watch as the API and ``watch list --json`` show it."""
    last = None
    if watch.get("last_job_id"):
        last = {"job_id": watch["last_job_id"], "status": watch.get("last_job_status"),
                "error": watch.get("last_job_error"), "capture_id": watch.get("last_capture_id"),
                "captured_at": iso_utc(watch.get("last_captured_at")),
                "http_status": watch.get("last_http_status"), "outcome": watch.get("last_outcome")}
    return {"id": watch["id"], "url": watch["url"], "vantage": watch["vantage"],
            "every": format_every(watch["every_seconds"]), "every_seconds": watch["every_seconds"],
            "next_due": iso_utc(watch["next_due"]), "active": bool(watch["active"]), "source": watch["source"],
            "created_at": iso_utc(watch["created_at"]), "last": last,
            "links": {"self": f"/api/watches/{watch['id']}"}}


__all__ = ["add_watch", "remove_watch", "get_watch", "list_watches", "count_watches", "import_watches",
           "ImportReport", "WatchError", "check_vantage", "parse_every", "check_interval",
           "format_every", "watch_json", "MIN_EVERY", "WEB_MIN_EVERY"]
