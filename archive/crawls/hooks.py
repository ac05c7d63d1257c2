"""What a capture worker does for crawls: start them, feed their frontiers, follow their links.

``CrawlHooks`` is given to the worker (``archive.capturing.worker.JobHooks``). Its ``poll`` (a
thread, twice a second) starts queued crawls (seeds expanded: sitemaps, sitemap indexes, gzipped
children, those robots.txt names, RSS/Atom feeds), feeds pending URLs into the job queue and
ends crawls whose work is over. After a crawl page is captured, ``prepare`` takes its links from
the captured DOM (what the browser had, script-built links included), decides each one (form and
URL check, scope, trap guard, depth, robots.txt, address policy) and returns what the storing
transaction does: the page's frontier row marked captured, its links added, the host fed again.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from archive import catalog
from archive.capturing.jobs import job_options
from archive.capturing.outlinks import extract_links
from archive.catalog import transaction, utcnow
from archive.crawls.fetch import FetchFailed, fetcher
from archive.crawls.frontier import (
    ACTIVE,
    RETRIES,
    active_crawls,
    add_urls,
    feed,
    finish_if_done,
    get_crawl,
    reconcile,
    set_next_at,
)
from archive.settings import Settings
from archive.urlcheck import url_checker
from crawler.netpolicy import URLRejected, normalize_url
from crawler.scope import Scope, TrapGuard
from crawler.seeds import Robots, parse_feed, parse_sitemap, robots_sitemaps, sniff

log = logging.getLogger("archive.crawls")

AGENT = "TakedownArchive"
MAX_SITEMAPS = 1000  # sitemap files read per crawl start (an index of indexes may go on and on)
RETRY_AFTER_MAX = 3600


class Decider:
    """Whether a URL met by one crawl is captured, and if not why; robots.txt read once per host."""

    def __init__(self, crawl: dict[str, Any], settings: Settings, fetch: Callable, db: sqlite3.Connection):
        self.crawl = crawl
        self.settings = settings
        self.fetch = fetch
        self.scope = Scope(crawl["scope"], tuple(crawl["seeds"]), _res(crawl["include_re"]), _res(crawl["exclude_re"]))
        self.guard = TrapGuard()
        self.lock = threading.Lock()
        self.robots: dict[str, Any] = {}
        # A page is one URL whatever its scheme: links to a seed's host take the seed's scheme, so
        # http:// in a sitemap and https:// after an HSTS upgrade are one frontier row.
        self.schemes = {}
        for seed in crawl["seeds"]:
            parts = urlsplit(seed)
            self.schemes.setdefault(parts.netloc.lower(), parts.scheme)
        # The guard counts URLs per pattern: a restarted worker counts those the crawl already admitted.
        for (url,) in db.execute("SELECT url FROM crawl_urls WHERE crawl_id = ? AND state <> 'skipped'",
                                 (crawl["id"],)):
            self.guard.remember(url)

    def canonical(self, url: str) -> str:
        """``url`` normalised, with its seed host's scheme; URLRejected if it is not a URL to capture."""
        url = normalize_url(url, None)
        scheme, rest = url.split("://", 1)
        wanted = self.schemes.get(rest.split("/", 1)[0])
        return f"{wanted}://{rest}" if wanted and wanted != scheme else url

    def judge(self, db: sqlite3.Connection, url: str, depth: int,
              check: Callable[[str], str]) -> tuple[str, str, str | None]:
        """(normalised url, state 'pending' or 'skipped', reason)."""
        try:
            url = self.canonical(url)
        except URLRejected as exc:
            return url, "skipped", f"not a URL to capture: {exc}"
        reason = self.scope.check(url)
        if reason:
            return url, "skipped", f"out of scope: {reason}"
        max_depth = self.crawl["max_depth"]
        if max_depth is not None and depth > max_depth:
            return url, "skipped", f"deeper than --max-depth {max_depth}"
        with self.lock:
            reason = self.guard.check(url)
        if reason:
            return url, "skipped", f"crawler trap: {reason}"
        try:
            url = check(url)
        except URLRejected as exc:
            return url, "skipped", f"address policy: {exc}"
        if not self.crawl["ignore_robots"]:
            robots = self.robots_for(db, url)
            if robots is not None and not robots.allowed(url, AGENT):
                return url, "skipped", "robots.txt disallows it"
        return url, "pending", None

    def robots_for(self, db: sqlite3.Connection, url: str):
        """The host's robots.txt (read once per crawl, kept in crawl_hosts), None if it has none."""
        parts = urlsplit(url)
        host = parts.netloc.lower()
        with self.lock:
            if host in self.robots:
                return self.robots[host]
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        row = db.execute("SELECT robots FROM crawl_hosts WHERE crawl_id = ? AND host = ?",
                         (self.crawl["id"], host)).fetchone()
        text = row[0] if row and row[0] is not None else None
        if text is None:
            text = self._read_robots(robots_url)
            with transaction(db):
                db.execute("INSERT INTO crawl_hosts (crawl_id, host, robots) VALUES (?, ?, ?)"
                           " ON CONFLICT (crawl_id, host) DO UPDATE SET robots = excluded.robots",
                           (self.crawl["id"], host, text))
        parsed = Robots.parse(text, robots_url) if text.strip() else None
        with self.lock:
            self.robots[host] = parsed
        return parsed

    def _read_robots(self, robots_url: str) -> str:
        try:
            got = self.fetch(robots_url)
        except FetchFailed as exc:
            log.info("crawl %s: no robots.txt (%s); every path allowed", self.crawl["id"], exc)
            return ""
        if got.status != 200:
            return ""  # 4xx: no rules (RFC 9309 2.3.1.3); 5xx is rare enough not to stop a crawl on
        return got.body.decode("utf-8", "replace")

    def host_delay(self, db: sqlite3.Connection, url: str) -> float:
        """The crawl's delay, or robots.txt's Crawl-delay for us when longer (unless overridden)."""
        delay = self.crawl["host_delay"]
        if not self.crawl["ignore_robots"]:
            robots = self.robots_for(db, url)
            extra = robots.crawl_delay(AGENT) if robots is not None else None
            if extra:
                delay = max(delay, float(extra))
        return delay


class CrawlHooks:
    """The worker's crawl hooks (see the module doc). ``only``: stop the worker once that crawl ends."""

    def __init__(self, settings: Settings, only: int | None = None):
        self.settings = settings
        self.only = only
        self.fetch = fetcher(settings)
        self._local = threading.local()
        self._deciders: dict[int, Decider] = {}
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = catalog.connect(self.settings.catalog_location)
        return db

    def decider(self, db: sqlite3.Connection, crawl: dict[str, Any]) -> Decider:
        with self._lock:
            found = self._deciders.get(crawl["id"])
        if found is None:
            found = Decider(crawl, self.settings, self.fetch, db)
            with self._lock:
                found = self._deciders.setdefault(crawl["id"], found)
        found.crawl = crawl  # state and limits may have changed
        return found

    # -- the worker's JobHooks --

    def poll(self) -> bool:
        db = self._db()
        for crawl in active_crawls(db):
            try:
                if crawl["state"] == "queued":
                    self.start(db, crawl)
                    crawl = get_crawl(db, crawl["id"])
                reconcile(db, crawl["id"])
                feed(db, crawl)
                finish_if_done(db, crawl)
            except sqlite3.OperationalError as exc:  # busy: the next poll tries again
                log.warning("crawl %s: %s", crawl["id"], exc)
        if self.only is not None:
            crawl = get_crawl(db, self.only)
            return crawl is None or crawl["state"] not in ACTIVE
        return False

    def wants(self, job: dict[str, Any]) -> bool:
        return bool(job.get("crawl_id"))

    def capture_options(self, job: dict[str, Any]) -> dict[str, Any]:
        crawl = get_crawl(self._db(), job["crawl_id"])
        return {"screenshot": bool(crawl and crawl["options"].get("screenshots"))}

    def prepare(self, job: dict[str, Any], result: Any) -> Callable[[sqlite3.Connection, int], None] | None:
        db = self._db()
        crawl = get_crawl(db, job["crawl_id"])
        row_id = _frontier_row(job)
        if crawl is None or row_id is None:
            return None
        row = db.execute("SELECT * FROM crawl_urls WHERE id = ?", (row_id,)).fetchone()
        if row is None:
            return None
        decider = self.decider(db, crawl)
        check = url_checker(self.settings)
        note = None
        links: list[tuple[str, int, str, str, str | None, int | None]] = []
        retry_at = None
        if result is not None:
            result.provenance["crawl"] = {
                "id": crawl["id"], "name": crawl["name"], "depth": row["depth"], "found_via": row["via"],
                "robots_txt": (f"ignored: {crawl['robots_reason']}" if crawl["ignore_robots"] else "obeyed")}
            final = result.final_url or result.url
            follow = True
            if _canonical_or_none(decider, final) != job["url"]:
                _, state, why = decider.judge(db, final, row["depth"], check)
                if state != "pending" and not (why or "").startswith(("deeper", "crawler trap")):
                    note = f"redirected to {final}, which is not crawled ({why}); its links are not followed"
                    follow = False
            if result.status in (429, 503) and row["retries"] < RETRIES:
                retry_at = datetime.now(UTC) + timedelta(seconds=_retry_after(result))
            elif follow:
                links = self._links(db, crawl, decider, row, result.dom, final, check)
        host = row["host"]
        delay = decider.host_delay(db, job["url"]) if retry_at is None else None

        def on_stored(tx: sqlite3.Connection, capture_id: int) -> None:
            now = utcnow()
            if retry_at is not None:
                tx.execute("UPDATE crawl_urls SET state = 'pending', job_id = NULL, retries = retries + 1,"
                           " reason = ? WHERE id = ?",
                           (f"HTTP {result.status}: tried again after Retry-After (capture {capture_id})", row_id))
                set_next_at(tx, crawl["id"], host, retry_at)
            else:
                tx.execute("UPDATE crawl_urls SET state = 'captured', capture_id = ?, finished_at = ?, reason = ?"
                           " WHERE id = ?", (capture_id, now, note, row_id))
            nbytes = tx.execute("SELECT bytes FROM captures WHERE id = ?", (capture_id,)).fetchone()[0] or 0
            tx.execute("UPDATE crawls SET pages = pages + ?, bytes = bytes + ? WHERE id = ?",
                       (0 if retry_at is not None else 1, nbytes, crawl["id"]))
            add_urls(tx, crawl["id"], links)
            if delay is not None and delay != crawl["host_delay"]:
                fresh = dict(crawl, host_delay=delay)
            else:
                fresh = crawl
            fresh = dict(fresh, state=tx.execute("SELECT state FROM crawls WHERE id = ?", (crawl["id"],)).fetchone()[0])
            feed(tx, fresh)

        return on_stored

    def _links(self, db, crawl, decider: Decider, row, dom: str, base: str, check) -> list[tuple]:
        """The page's links as new frontier rows, each decided; those the crawl has are left out."""
        seen: dict[str, None] = {}
        for link in extract_links(dom, base):
            try:
                seen.setdefault(decider.canonical(link), None)
            except URLRejected:
                continue
        urls = list(seen)
        known: set[str] = set()
        for start in range(0, len(urls), 500):
            chunk = urls[start:start + 500]
            known.update(r[0] for r in db.execute(
                f"SELECT url FROM crawl_urls WHERE crawl_id = ? AND url IN ({', '.join('?' * len(chunk))})",
                (crawl["id"], *chunk)))
        rows = []
        for url in urls:
            if url in known:
                continue
            url, state, reason = decider.judge(db, url, row["depth"] + 1, check)
            rows.append((url, row["depth"] + 1, "link", state, reason, row["id"]))
        return rows

    def start(self, db: sqlite3.Connection, crawl: dict[str, Any]) -> None:
        """Expand a queued crawl's seeds into its frontier and set it running."""
        decider = self.decider(db, crawl)
        check = url_checker(self.settings)
        pages: dict[str, str] = {}  # url -> via
        listed: set[str] = set()
        sitemaps: list[str] = []
        for seed in crawl["seeds"]:
            kind, body, final = self._sniff(seed)
            if kind == "sitemap":
                sitemaps.append(seed)
            elif kind == "feed":
                try:
                    items = parse_feed(body, final)
                except ValueError as exc:
                    log.warning("crawl %s: feed not read: %s", crawl["id"], exc)
                    items = []
                for url in items:
                    pages.setdefault(url, "feed")
                    listed.add(url)
            else:
                pages.setdefault(seed, "seed")
        if crawl["scope"] in ("host", "domain") and crawl["options"].get("sitemaps", True):
            for seed in crawl["seeds"]:
                parts = urlsplit(seed)
                robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
                text = decider._read_robots(robots_url)
                sitemaps += [u for u in robots_sitemaps(text, robots_url) if u not in sitemaps]
        read = 0
        while sitemaps and read < MAX_SITEMAPS:
            url = sitemaps.pop(0)
            read += 1
            try:
                got = self.fetch(url)
            except FetchFailed as exc:
                log.warning("crawl %s: sitemap not read: %s", crawl["id"], exc)
                continue
            if got.status != 200:
                log.warning("crawl %s: sitemap %s answered HTTP %s", crawl["id"], url, got.status)
                continue
            try:
                found, children = parse_sitemap(got.body, got.url)
            except ValueError as exc:
                log.warning("crawl %s: sitemap not read: %s", crawl["id"], exc)
                continue
            for page in found:
                pages.setdefault(page, "sitemap")
                listed.add(page)
            sitemaps += children
        previous = []
        if crawl["previous_crawl_id"]:
            # A recrawl visits every page the earlier crawl captured, found again or not: that is
            # how a page deleted and unlinked is still seen gone.
            previous = db.execute("SELECT url, depth FROM crawl_urls WHERE crawl_id = ? AND state = 'captured'"
                                  " ORDER BY id", (crawl["previous_crawl_id"],)).fetchall()
        rows_listed, rows = [], []
        for url, via in pages.items():
            url_n, state, reason = decider.judge(db, url, 0, check)
            (rows_listed if url in listed else rows).append((url_n, 0, via, state, reason, None))
        for url, depth in previous:
            url_n, state, reason = decider.judge(db, url, min(depth, crawl["max_depth"] or depth), check)
            rows.append((url_n, depth, "previous", state, reason, None))
        with transaction(db):
            if db.execute("SELECT state FROM crawls WHERE id = ?", (crawl["id"],)).fetchone()[0] != "queued":
                return
            add_urls(db, crawl["id"], rows_listed, listed=True)
            add_urls(db, crawl["id"], rows)
            db.execute("UPDATE crawls SET state = 'running', started_at = ? WHERE id = ?", (utcnow(), crawl["id"]))
        log.info("crawl %s started: %d URL(s) from %d seed(s), %d sitemap file(s)", crawl["id"],
                 len(rows) + len(rows_listed), len(crawl["seeds"]), read)

    def _sniff(self, seed: str) -> tuple[str, bytes, str]:
        """('sitemap'|'feed'|'page', body, final url) for a seed: sitemaps and feeds are read, pages captured."""
        path = urlsplit(seed).path.lower()
        if not path.endswith((".xml", ".xml.gz", ".gz", ".rss", ".atom", "/feed", "/rss", "/feed/", "/rss/")):
            return "page", b"", seed
        try:
            got = self.fetch(seed)
        except FetchFailed as exc:
            log.warning("seed %s not read: %s", seed, exc)
            return "page", b"", seed
        return sniff(got.body, got.content_type) or "page", got.body, got.url


def _res(pattern: str | None) -> tuple[str, ...]:
    return (pattern,) if pattern else ()


def _canonical_or_none(decider: Decider, url: str) -> str | None:
    try:
        return decider.canonical(url)
    except URLRejected:
        return None


def _frontier_row(job: dict[str, Any]) -> int | None:
    value = job_options(job).get("crawl_url_id")
    return value if isinstance(value, int) else None


def _retry_after(result: Any) -> float:
    """Seconds the site asked to wait (Retry-After: seconds or an HTTP date), within reason."""
    from email.utils import parsedate_to_datetime

    value = (result.main.header("retry-after") if result.main is not None else None) or ""
    value = value.strip()
    seconds = 30.0
    if value.isdigit():
        seconds = float(value)
    elif value:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            pass
    return min(max(seconds, 1.0), RETRY_AFTER_MAX)


__all__ = ["AGENT", "CrawlHooks", "Decider"]
