"""Read-side queries about removals: events with facets, the monthly chart, one event, a URL's timeline.

Pure functions taking a catalog connection; the web pages, the JSON API and the feed all read
through them. Only *published* takedown orders are ever joined in: a draft order must not leak
through a facet, a country or an authority name.
"""
from __future__ import annotations

import base64
import json
import re
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from archive.catalog import event_visible_sql, is_visible, visible_sql
from archive.urlcheck import url_variants
from crawler.netpolicy import site_host

FACETS = ("country", "authority", "site", "outcome", "month", "state")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

def same_page(column: str, of: str) -> str:
    """SQL: ``column`` is the http or https form of the URL in ``of`` (urlcheck.url_variants), as an
    IN of two values so the index on ``column`` is used."""
    rest = f"substr({of}, instr({of}, '://') + 3)"
    return f"{column} IN ('http://' || {rest}, 'https://' || {rest})"


# One row per event with the derived columns every facet and filter reads. The country falls back
# to the earliest published order naming the URL (an order names the country it was issued in).
# Lists, facets, the feed and timelines leave out events whose before or after capture staff made
# non-public ({where}); the event's own page still exists and shows the reason in its place.
_EVENTS_SQL = """
WITH ev AS (
  SELECT e.*, archive_site(e.url) AS site, substr(e.first_removed_at, 1, 7) AS month,
         CASE WHEN e.closed_at IS NULL THEN 'open' ELSE 'closed' END AS state,
         COALESCE(e.country, (SELECT t.country FROM takedown_urls tu JOIN takedowns t ON t.id = tu.takedown_id
                              WHERE {same} AND t.published = 1 ORDER BY t.id LIMIT 1)) AS eff_country
  FROM removal_events e{where}
)
"""
_PUBLIC_EVENTS = f" WHERE {event_visible_sql('e')}"
_EVENTS = _EVENTS_SQL.format(where=_PUBLIC_EVENTS, same=same_page("tu.url", "e.url"))
_ALL_EVENTS = _EVENTS_SQL.format(where="", same=same_page("tu.url", "e.url"))
_HAS_AUTHORITY = ("EXISTS (SELECT 1 FROM takedown_urls tu JOIN takedowns t ON t.id = tu.takedown_id"
                  f" WHERE {same_page('tu.url', 'ev.url')} AND t.published = 1 AND t.authority = ?)")
_BEFORE_CURSOR = "(ev.first_removed_at < ? OR (ev.first_removed_at = ? AND ev.id < ?))"
_COLUMN = {"country": "eff_country", "site": "site", "outcome": "outcome", "month": "month", "state": "state"}


@dataclass(frozen=True)
class EventFilters:
    """What a list of removal events is narrowed to; ``None`` means any."""

    country: str | None = None
    authority: str | None = None
    site: str | None = None
    outcome: str | None = None
    month: str | None = None  # YYYY-MM of first_removed_at
    state: str | None = None  # open or closed

    def active(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}

    def without(self, name: str) -> EventFilters:
        return EventFilters(**(asdict(self) | {name: None}))


def site_of(url: str) -> str:
    """The site an URL is on (``crawler.netpolicy.site_host``); "" for a URL that does not parse."""
    try:
        return site_host(urlsplit(url).hostname)
    except ValueError:
        return ""


def _prepare(db: sqlite3.Connection) -> None:
    # SQLite has no URL parser; the site facet needs the same host rule as everywhere else.
    db.create_function("archive_site", 1, site_of, deterministic=True)


def _where(filters: EventFilters) -> tuple[str, list[Any]]:
    clauses, args = [], []
    for name, value in filters.active().items():
        if name == "authority":
            clauses.append(_HAS_AUTHORITY)
        else:
            clauses.append(f"ev.{_COLUMN[name]} = ?")
        args.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def encode_cursor(first_removed_at: str, event_id: int) -> str:
    return base64.urlsafe_b64encode(f"{first_removed_at}|{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """The (first_removed_at, id) a cursor stands for; ValueError for one we did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, number = text.rpartition("|")
        if not at or not number.isdigit():
            raise ValueError
        return at, int(number)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not one this archive gave out; start again without it") from None


def _event(row: sqlite3.Row) -> dict[str, Any]:
    d = {k: row[k] for k in row.keys()}
    d["country"] = d.pop("eff_country", d.get("country"))
    d["open"] = d["closed_at"] is None
    return d


def _page(url: str) -> str:
    """A URL without its scheme: what its http and https forms share."""
    return url.split("://", 1)[-1]


def orders_naming(db: sqlite3.Connection, urls: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Published takedown orders naming each URL (either scheme), keyed by the URL without its scheme:
    ``{page: [{"id", "authority", "country", "legal_basis", "issued_on"}]}``, oldest order first."""
    urls = sorted({v for u in urls if "://" in u for v in url_variants(u)})
    by_page: dict[str, list[dict[str, Any]]] = {}
    if urls:
        rows = db.execute(
            "SELECT tu.url, t.id, t.authority, t.country, t.legal_basis, t.issued_on FROM takedown_urls tu"
            " JOIN takedowns t ON t.id = tu.takedown_id"
            f" WHERE t.published = 1 AND tu.url IN ({', '.join('?' * len(urls))}) ORDER BY t.id", urls)
        for r in rows:
            found = by_page.setdefault(_page(r["url"]), [])
            if all(t["id"] != r["id"] for t in found):  # an order naming both forms is one order
                found.append({k: r[k] for k in ("id", "authority", "country", "legal_basis", "issued_on")})
    return by_page


def orders_for_url(db: sqlite3.Connection, url: str) -> list[dict[str, Any]]:
    """Published takedown orders naming ``url`` (either scheme), oldest first."""
    return orders_naming(db, [url]).get(_page(url), [])


def _attach_takedowns(db: sqlite3.Connection, events: list[dict[str, Any]]) -> None:
    by_page = orders_naming(db, [e["url"] for e in events])
    for e in events:
        e["takedowns"] = by_page.get(_page(e["url"]), [])


def list_events(db: sqlite3.Connection, filters: EventFilters = EventFilters(), cursor: str | None = None,
                limit: int = 50) -> dict[str, Any]:
    """Removal events, newest first: ``{"events", "total", "facets", "next"}``.

    Each facet counts events under every *other* filter, so a chosen value still shows its
    alternatives. ``next`` is the cursor for the following page, or None. ``cursor`` raises
    ValueError if it is not one we gave out.
    """
    _prepare(db)
    where, args = _where(filters)
    page_where, page_args = where, list(args)
    if cursor:
        at, event_id = decode_cursor(cursor)
        page_where += (" AND " if where else " WHERE ") + _BEFORE_CURSOR
        page_args += [at, at, event_id]
    rows = db.execute(f"{_EVENTS} SELECT * FROM ev{page_where} ORDER BY ev.first_removed_at DESC, ev.id DESC LIMIT ?",
                      [*page_args, limit + 1]).fetchall()
    events = [_event(r) for r in rows[:limit]]
    _attach_takedowns(db, events)
    last = events[-1] if len(rows) > limit else None
    total = db.execute(f"{_EVENTS} SELECT COUNT(*) FROM ev{where}", args).fetchone()[0]
    return {"events": events, "total": total, "facets": facets(db, filters),
            "next": encode_cursor(last["first_removed_at"], last["id"]) if last else None}


def facets(db: sqlite3.Connection, filters: EventFilters = EventFilters()) -> dict[str, list[dict[str, Any]]]:
    """Per facet, ``[{"value", "count", "selected"}]``, most events first (months: newest first)."""
    _prepare(db)
    out: dict[str, list[dict[str, Any]]] = {}
    for name in FACETS:
        where, args = _where(filters.without(name))
        if name == "authority":
            sql = (f"{_EVENTS} SELECT t.authority AS value, COUNT(DISTINCT ev.id) AS n FROM ev"
                   f" JOIN takedown_urls tu ON {same_page('tu.url', 'ev.url')}"
                   " JOIN takedowns t ON t.id = tu.takedown_id"
                   f" AND t.published = 1{where} GROUP BY t.authority")
        else:
            column = _COLUMN[name]
            sql = (f"{_EVENTS} SELECT ev.{column} AS value, COUNT(*) AS n FROM ev{where}"
                   f"{' AND' if where else ' WHERE'} ev.{column} IS NOT NULL GROUP BY ev.{column}")
        rows = db.execute(sql, args).fetchall()
        if name == "month":
            rows.sort(key=lambda r: r["value"], reverse=True)
        else:
            rows.sort(key=lambda r: (-r["n"], r["value"]))
        chosen = getattr(filters, name)
        out[name] = [{"value": r["value"], "count": r["n"], "selected": r["value"] == chosen} for r in rows]
    return out


def events_by_month(db: sqlite3.Connection, filters: EventFilters = EventFilters()) -> list[dict[str, Any]]:
    """Events per month of first removal, oldest first, months without any included as 0.

    The month filter is ignored: the chart shows the whole span, with the chosen month marked.
    """
    _prepare(db)
    where, args = _where(filters.without("month"))
    counts = dict(db.execute(f"{_EVENTS} SELECT ev.month, COUNT(*) FROM ev{where} GROUP BY ev.month", args).fetchall())
    if not counts:
        return []
    return [{"month": m, "count": counts.get(m, 0), "selected": m == filters.month}
            for m in month_range(min(counts), max(counts))]


def month_range(first: str, last: str) -> list[str]:
    """Every YYYY-MM from ``first`` to ``last``, inclusive."""
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def load_evidence(value: str | dict | None) -> dict[str, Any]:
    """A capture's evidence column as a dict; anything unreadable becomes ``{}``."""
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value or "{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


_CAPTURE_COLUMNS = ("c.id, c.url, c.final_url, c.captured_at, c.status, c.title, c.lang, c.vantage,"
                    " c.vantage_country, c.outcome,"
                    " c.evidence, c.partial, c.sha256, c.visibility, c.visibility_reason,"
                    " EXISTS (SELECT 1 FROM records r WHERE r.capture_id = c.id"
                    " AND r.role = 'screenshot') AS has_screenshot")


def _capture(db: sqlite3.Connection, capture_id: int | None) -> dict[str, Any] | None:
    if capture_id is None:
        return None
    row = db.execute(f"SELECT {_CAPTURE_COLUMNS} FROM captures c WHERE c.id = ?", (capture_id,)).fetchone()
    if row is not None and not is_visible(row):
        # Staff withdrew it: only that, and why, is shown in its place.
        return {"id": row["id"], "withheld": True, "visibility": row["visibility"],
                "visibility_reason": row["visibility_reason"]}
    return None if row is None else _capture_row(row)


def _capture_row(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["evidence"] = load_evidence(d["evidence"])
    d["has_screenshot"] = bool(d["has_screenshot"])
    d["partial"] = bool(d["partial"])
    return d


def blocking_evidence(db: sqlite3.Connection, url: str, limit: int = 50) -> list[dict[str, Any]]:
    """Imported measurements (OONI) that found ``url`` (either scheme) blocked, newest first: ``{"source",
    "measurement_id", "url", "country", "asn", "measured_at", "blocking", "accessible"}``."""
    if "://" not in url:
        return []
    rows = db.execute("SELECT source, measurement_id, url, country, asn, measured_at, blocking, accessible"
                      " FROM blocking_measurements WHERE url IN (?, ?) ORDER BY measured_at DESC, id DESC LIMIT ?",
                      (*url_variants(url), limit))
    return [dict(r) for r in rows]


def get_event(db: sqlite3.Connection, event_id: int) -> dict[str, Any] | None:
    """One event with its ``before``, ``after`` and ``restored`` captures and its published orders."""
    _prepare(db)
    row = db.execute(f"{_ALL_EVENTS} SELECT * FROM ev WHERE ev.id = ?", (event_id,)).fetchone()
    if row is None:
        return None
    event = _event(row)
    _attach_takedowns(db, [event])
    event["before"] = _capture(db, event["before_capture_id"])
    event["after"] = _capture(db, event["after_capture_id"])
    event["restored"] = _capture(db, event["restored_capture_id"])
    # The capture with the strongest evidence seen while the event was open (events.STRENGTH).
    strongest = event["evidence_capture_id"] or event["after_capture_id"]
    event["strongest"] = event["after"] if strongest == event["after_capture_id"] else _capture(db, strongest)
    event["blocking"] = blocking_evidence(db, event["url"])  # OONI's view beside our vantages'
    return event


def timeline(db: sqlite3.Connection, url: str) -> dict[str, Any]:
    """Every capture of ``url`` from every vantage, oldest first, grouped per vantage, with its events.

    ``{"url", "vantages": [{"name", "captures"}], "events"}``; each capture lists under ``marks``
    the events it starts (``after``), was the last ok capture before (``before``) or ends (``restored``).
    """
    _prepare(db)
    urls = url_variants(url) if "://" in url else (url, url)
    events = [_event(r) for r in db.execute(
        f"{_EVENTS} SELECT * FROM ev WHERE ev.url IN (?, ?) ORDER BY ev.first_removed_at, ev.id", urls)]
    _attach_takedowns(db, events)
    marks: dict[int, list[dict[str, Any]]] = {}
    for e in events:
        for role in ("before", "after", "restored"):
            if e[f"{role}_capture_id"] is not None:
                marks.setdefault(e[f"{role}_capture_id"], []).append({"event_id": e["id"], "role": role})
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in db.execute(f"SELECT {_CAPTURE_COLUMNS} FROM captures c WHERE c.url IN (?, ?) AND {visible_sql('c')}"
                          " ORDER BY c.vantage, c.captured_at, c.id", urls):
        capture = _capture_row(row)
        capture["marks"] = marks.get(capture["id"], [])
        groups.setdefault(capture["vantage"], []).append(capture)
    # direct first, the rest by name: the archive's own view, then the views from elsewhere.
    names = sorted(groups, key=lambda n: (n != "direct", n))
    return {"url": url, "vantages": [{"name": n, "country": _country_of_group(groups[n]), "captures": groups[n]}
                                     for n in names], "events": events,
            "takedowns": orders_for_url(db, url) if "://" in url else [],
            "blocking": blocking_evidence(db, url)}


def _country_of_group(captures: list[dict[str, Any]]) -> str | None:
    """The country a vantage stood in, as its latest capture recorded it."""
    return next((c["vantage_country"] for c in reversed(captures) if c.get("vantage_country")), None)


def recent_events(db: sqlite3.Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The newest removal events (by first seen removed), for the feed."""
    _prepare(db)
    events = [_event(r) for r in db.execute(
        f"{_EVENTS} SELECT * FROM ev ORDER BY ev.first_removed_at DESC, ev.id DESC LIMIT ?", (limit,))]
    _attach_takedowns(db, events)
    return events
