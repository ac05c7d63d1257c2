"""Takedown orders imported from the registers that publish them, and blocking evidence from OONI.

One module per format reads its files as a stream of ``Entry`` (an order, or one row of one) and
``BadRow`` (file, line, why); ``import_entries`` writes them in batched transactions, so a
million-row dump is never held in memory and a bad row never stops the rest. An imported order is
published at once (the register is public already) and keyed by its register and its key there
(``takedowns.register``, ``register_key``): importing it again changes nothing, and a register
that is a snapshot (Roskomnadzor's dump) lifts the orders a later snapshot no longer lists, on
that snapshot's date, without deleting them.

With ``watch`` on (``--watch`` or REGISTER_WATCH), every imported URL is watched through the one
URL check: due at once if it was never captured, otherwise one interval on; the scheduler's
politeness limits (WATCH_MAX_PENDING, WATCH_HOST_DELAY, WATCH_JITTER) spread a large register out.
"""
from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from archive.catalog import to_iso, transaction, utcnow
from archive.urlcheck import url_checker, url_variants
from crawler.netpolicy import URLRejected

REGISTERS = ("rkn", "lumen", "github-gov", "ooni")
# What each register is called on pages and in summaries.
REGISTER_NAMES = {"rkn": "Roskomnadzor register (zapret-info dump)", "lumen": "Lumen database",
                  "github-gov": "GitHub gov-takedowns", "ooni": "OONI measurements"}
BATCH = 5000  # entries per transaction: few commits, and a crash loses at most one batch's work
MAX_BAD_SHOWN = 200  # bad rows kept for the report beyond the count (a broken dump may have millions)


@dataclass
class Entry:
    """One order as a register gives it (or one row of one: rows with the same key are one order)."""

    key: str
    authority: str
    authority_normalized: str
    recipient: str
    country: str
    action_demanded: str
    file: str
    line: int
    issued_on: str | None = None
    received_on: str | None = None
    legal_basis: str = ""
    summary: str = ""
    urls: list[str] = field(default_factory=list)
    domains: list[tuple[str, int | None]] = field(default_factory=list)  # (domain, redacted URL count)
    redacted: int = 0  # URLs the register withholds without even a domain
    action_reported: str = "unknown"
    document: tuple[str, str, bytes] | None = None  # (file name, content type, bytes)


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read: where it is and why."""

    file: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.why}"


@dataclass
class Report:
    """What an import did. ``rejected`` counts bad rows; the first MAX_BAD_SHOWN are kept in ``bad``."""

    register: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    lifted: int = 0
    rejected: int = 0
    urls_added: int = 0
    watched: int = 0
    not_blocked: int = 0  # OONI: measurements that show no blocking
    bad: list[BadRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reject(self, bad: BadRow) -> None:
        self.rejected += 1
        if len(self.bad) < MAX_BAD_SHOWN:
            self.bad.append(bad)

    def summary(self) -> str:
        if self.register == "ooni":
            text = (f"ooni: {self.rows} measurement(s) read; blocking evidence: {self.added} added, {self.updated} "
                    f"already kept; {self.not_blocked} showed no blocking; {self.rejected} rejected")
            return text + (f"; {self.watched} URL(s) watched" if self.watched else "")
        text = (f"{self.register}: {self.rows} row(s) read; orders: {self.added} added, {self.updated} updated, "
                f"{self.lifted} lifted; {self.rejected} row(s) rejected")
        if self.watched:
            text += f"; {self.watched} URL(s) watched"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"register": self.register, "rows": self.rows, "added": self.added, "updated": self.updated,
                "lifted": self.lifted, "rejected": self.rejected, "watched": self.watched,
                "not_blocked": self.not_blocked}


class Snapshot:
    """A register listing as of one moment (a dump's ``Updated:`` line): what it does not list is lifted."""

    def __init__(self, listed_at: str, source: str):
        self.listed_at = listed_at  # catalog time (archive.catalog.to_iso)
        self.source = source


@dataclass
class _Run:
    db: sqlite3.Connection
    register: str
    source: str
    listed_at: str
    now: str
    report: Report
    settings: Any
    watch: Callable[[int | None, str], bool] | None
    reindex: list[str] | None
    stale: bool = False  # a listing older than one imported before: it neither lifts nor relists
    snapshot: bool = False  # only a listing moves listed_at on: a notice imported again is unchanged


def import_entries(db: sqlite3.Connection, settings: Any, register: str, items: Iterable[Entry | BadRow], source: str,
                   listed_at: str | None = None, snapshot: bool = False,
                   watch: Callable[[int | None, str], bool] | None = None, report: Report | None = None,
                   progress: Callable[[Report], None] | None = None,
                   reindex: list[str] | None = None) -> Report:
    """Write ``items`` as orders of ``register``; return the report.

    ``listed_at`` is when the register listed them (a dump's ``Updated:``; default now). With
    ``snapshot``, orders and URLs of this register that the items did not list are lifted on that
    date, unless a later snapshot was imported already. ``watch(takedown_id, url)`` is called for
    each URL inside its batch's transaction (see ``watcher``). URLs of captured pages newly named by
    an order are appended to ``reindex`` (their search entries then carry the order).
    """
    report = report or Report(register)
    now = utcnow()
    run = _Run(db, register, source, listed_at or now, now, report, settings, watch, reindex, snapshot=snapshot)
    newest = db.execute("SELECT max(listed_at) FROM register_imports WHERE register = ?", (register,)).fetchone()[0]
    if snapshot and newest is not None and newest > run.listed_at:
        run.stale = True
        report.notes.append(f"{source} lists the register as of {run.listed_at}, older than a listing imported "
                            f"before ({newest}): its new entries are added, nothing is lifted or listed again")
    stream = iter(items)
    while batch := list(itertools.islice(stream, BATCH)):
        with transaction(db):
            entries = []
            for item in batch:
                report.rows += 1
                if isinstance(item, BadRow):
                    report.reject(item)
                else:
                    entries.append(item)
            _write_batch(run, entries)
        if progress and len(batch) == BATCH:  # a long import says how far it is
            progress(report)
    if snapshot and not run.stale:
        _lift(run)
    with transaction(db):
        db.execute("INSERT INTO register_imports (register, source, listed_at, imported_at, rows_read, added,"
                   " updated, lifted, rejected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (register, source, run.listed_at, now, report.rows, report.added, report.updated,
                    report.lifted, report.rejected))
    return report


_FIELDS = ("authority", "authority_normalized", "recipient", "country", "legal_basis", "issued_on", "received_on",
           "action_demanded", "action_reported", "summary", "redacted_urls")
_IN = 500  # values per IN (...) list: far below either engine's limit on bound parameters


def _values(e: Entry) -> tuple:
    return (e.authority, e.authority_normalized, e.recipient, e.country, e.legal_basis, e.issued_on, e.received_on,
            e.action_demanded, e.action_reported, e.summary, e.redacted)


def _chunks(values: list, size: int = _IN) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


@dataclass(slots=True)
class _Order:
    """An order as the batch leaves it: read from the catalog (``id`` set) or added by this batch."""

    id: int | None
    values: tuple
    new: bool  # added by this import (in this batch or an earlier one): its rows change no count
    updated_at: str
    listed_at: str | None
    lifted_on: str | None
    source: str
    urls: dict[str, list] = field(default_factory=dict)  # url -> [listed_at, lifted_on]
    domains: set[str] = field(default_factory=set)
    dirty: bool = False
    documents: list[tuple[str, str, bytes]] = field(default_factory=list)


def _write_batch(run: _Run, entries: list[Entry]) -> None:
    """Write one batch's entries in a few statements: the orders and URLs the batch names are read
    with a handful of IN queries, each entry applied to them in memory (in order, so several rows
    of one order and counts come out as row by row), and the changes written with executemany."""
    db, report = run.db, run.report
    orders: dict[str, _Order] = {}
    by_id: dict[int, _Order] = {}
    for keys in _chunks(list(dict.fromkeys(e.key for e in entries))):
        for row in db.execute(f"SELECT id, register_key, created_at, updated_at, listed_at, lifted_on, register_source,"
                              f" {', '.join(_FIELDS)} FROM takedowns WHERE register = ? AND register_key IN"
                              f" ({_marks(len(keys))})", (run.register, *keys)):
            r = tuple(row)  # by position: a re-import reads every order of the dump back
            orders[r[1]] = by_id[r[0]] = _Order(r[0], r[7:], r[2] == run.now, r[3], r[4], r[5], r[6])
    for ids in _chunks(list(by_id)):
        marks = _marks(len(ids))
        for row in db.execute(f"SELECT takedown_id, url, listed_at, lifted_on FROM takedown_urls"
                              f" WHERE takedown_id IN ({marks})", ids):
            by_id[row[0]].urls[row[1]] = [row[2], row[3]]
        for row in db.execute(f"SELECT takedown_id, domain FROM takedown_domains WHERE takedown_id IN ({marks})", ids):
            by_id[row[0]].domains.add(row[1])
    added: list[tuple[str, _Order]] = []
    new_urls: list[tuple[_Order, str]] = []
    relisted: dict[tuple[int, str], list] = {}  # URLs of orders in the catalog listed again
    new_domains: list[tuple[_Order, str, int | None]] = []
    watched: list[tuple[_Order, str]] = []
    for e in entries:
        order, changed = orders.get(e.key), False
        if order is None:
            order = orders[e.key] = _Order(None, _values(e), True, run.now, run.listed_at, None, f"{e.file}:{e.line}")
            added.append((e.key, order))
            report.added += 1
        else:
            if order.values != _values(e):
                order.values, order.dirty, changed = _values(e), True, True
            if order.lifted_on is not None and not run.stale:  # listed again: the order is back in force
                order.lifted_on, order.dirty, changed = None, True, True
            if run.snapshot and (order.listed_at is None or order.listed_at < run.listed_at):
                order.listed_at, order.dirty = run.listed_at, True
        for url in e.urls:
            old = order.urls.get(url)
            if old is None:
                order.urls[url] = [run.listed_at, None]
                new_urls.append((order, url))
                report.urls_added += 1
                changed = True
            elif run.stale:
                continue
            elif old[1] is not None or (run.snapshot and (old[0] or "") < run.listed_at):
                changed |= old[1] is not None
                old[0], old[1] = max(run.listed_at, old[0] or ""), None
                if order.id is not None:
                    relisted[order.id, url] = old
            if run.watch is not None:
                watched.append((order, url))
        for domain, count in e.domains:
            if domain not in order.domains:
                order.domains.add(domain)
                new_domains.append((order, domain, count))
                changed = True
        if e.document is not None and order.new:
            order.documents.append(e.document)
        if changed and not order.new:
            if order.updated_at != run.now:  # an order changed by several rows counts once
                report.updated += 1
            order.updated_at, order.source, order.dirty = run.now, f"{e.file}:{e.line}", True
    if added:
        cols = (*_FIELDS, "register", "register_key", "register_source", "listed_at", "published", "created_at",
                "updated_at")
        db.executemany(f"INSERT INTO takedowns ({', '.join(cols)}) VALUES ({_marks(len(cols))})",
                       [(*o.values, run.register, key, o.source, o.listed_at, 1, run.now, run.now) for key, o in added])
        for keys in _chunks([key for key, _ in added]):
            for row in db.execute(f"SELECT id, register_key FROM takedowns WHERE register = ? AND register_key IN"
                                  f" ({_marks(len(keys))})", (run.register, *keys)):
                orders[row[1]].id = row[0]
    dirty = [o for o in by_id.values() if o.dirty]
    if dirty:
        db.executemany(f"UPDATE takedowns SET {', '.join(f'{k} = ?' for k in _FIELDS)}, lifted_on = ?, listed_at = ?,"
                       " updated_at = ?, register_source = ? WHERE id = ?",
                       [(*o.values, o.lifted_on, o.listed_at, o.updated_at, o.source, o.id) for o in dirty])
    if new_urls:
        db.executemany("INSERT INTO takedown_urls (takedown_id, url, listed_at) VALUES (?, ?, ?)"
                       " ON CONFLICT (takedown_id, url) DO NOTHING",
                       [(o.id, url, run.listed_at) for o, url in new_urls])
    if relisted:
        db.executemany("UPDATE takedown_urls SET listed_at = ?, lifted_on = NULL WHERE takedown_id = ? AND url = ?",
                       [(state[0], takedown_id, url) for (takedown_id, url), state in relisted.items()])
    if new_domains:
        db.executemany("INSERT INTO takedown_domains (takedown_id, domain, redacted_count) VALUES (?, ?, ?)"
                       " ON CONFLICT (takedown_id, domain) DO NOTHING", [(o.id, d, c) for o, d, c in new_domains])
    for _key, order in added:
        for document in order.documents:
            _attach(run, order.id, document)
    if run.reindex is not None and new_urls:
        run.reindex.extend(_captured(db, [url for _, url in new_urls]))
    for order, url in watched:
        if run.watch(order.id, url):
            report.watched += 1


def _captured(db: sqlite3.Connection, urls: list[str]) -> list[str]:
    """Those of ``urls`` captured already (either scheme), in their order."""
    seen: set[str] = set()
    for chunk in _chunks(urls, _IN // 2):
        variants = [v for url in chunk for v in url_variants(url)]
        seen.update(r[0] for r in db.execute(f"SELECT DISTINCT url FROM captures WHERE url IN"
                                             f" ({_marks(len(variants))})", variants))
    return [url for url in urls if not seen.isdisjoint(url_variants(url))]


def _attach(run: _Run, takedown_id: int, document: tuple[str, str, bytes]) -> None:
    # The register's own text of the order, archived in a WARC record like an uploaded document.
    from archive.orders.documents import Document, safe_filename
    from archive.orders.takedowns import save_document

    name, content_type, data = document
    extension = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    save_document(run.db, run.settings, takedown_id, Document(safe_filename(name, extension), content_type, data))


def _lift(run: _Run) -> None:
    """Lift what this snapshot no longer lists, on its date."""
    db = run.db
    day = run.listed_at[:10]
    with transaction(db):
        db.execute("UPDATE takedown_urls SET lifted_on = ? WHERE lifted_on IS NULL AND listed_at < ?"
                   " AND takedown_id IN (SELECT id FROM takedowns WHERE register = ?)",
                   (day, run.listed_at, run.register))
        run.report.lifted += db.execute(
            "UPDATE takedowns SET lifted_on = ?, updated_at = ? WHERE register = ? AND lifted_on IS NULL"
            " AND listed_at < ?", (day, run.now, run.register, run.listed_at)).rowcount


def watcher(db: sqlite3.Connection, settings: Any, every_seconds: int | None = None,
            report: Report | None = None) -> Callable[[int | None, str], bool]:
    """``watch(takedown_id, url)`` for ``import_entries``: the URL through the one URL check, then
    watched (source ``takedown:ID``, so the order's pages list it; ``register:ooni`` for OONI's); due
    now if never captured, else one interval on. A URL the check refuses is noted in ``report`` and
    stays on the order unwatched."""
    from archive.watches.watchlist import add_watch

    check = url_checker(settings)
    every = every_seconds or settings.watch_every

    def watch(takedown_id: int | None, url: str) -> bool:
        try:
            checked = check(url)
        except URLRejected as exc:
            if report is not None and len(report.notes) < MAX_BAD_SHOWN:
                report.notes.append(f"not watched: {url}: {exc}")
            return False
        captured = db.execute("SELECT 1 FROM captures WHERE url IN (?, ?) LIMIT 1",
                              url_variants(checked)).fetchone()
        first_due = None if captured is None else to_iso(datetime.now(UTC) + timedelta(seconds=every))
        add_watch(db, checked, every, vantage="direct", first_due=first_due,
                  source=f"takedown:{takedown_id}" if takedown_id else "register:ooni")
        return True

    return watch


def parse_listed(text: str) -> str:
    """A register's time (``2014-03-27 12:05:00 +0000``, ISO 8601 or a date) as a catalog time."""
    text = text.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(text.replace("Z", "+0000"), fmt)
        except ValueError:
            continue
        return to_iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    raise ValueError(f"{text!r} is not a time; expected e.g. 2014-03-27 12:05:00 +0000")
