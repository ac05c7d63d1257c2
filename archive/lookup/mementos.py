"""Finding captures by URL and time: Wayback URLs, Memento TimeGates and TimeMaps, the CDX API.

Pure queries on the catalog, no Flask. Every query returns public captures only (staff may make
a capture private or remove it; those never appear in a listing or a nearest-time answer).

A URL is matched with either scheme, as a SURT key would match it: ``http://`` and ``https://``
of the same address are one page (sites move to https; a submission keeps the scheme it was given).
Each lookup is one statement of range scans on the ``captures_url (url, captured_at)`` index,
one scan per scheme.
"""
from __future__ import annotations

import calendar
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from archive.catalog import from_iso, to_iso, visible_sql
from archive.urlcheck import url_variants
from crawler.netpolicy import normalize_url

PUBLIC = visible_sql("captures")  # the public's view; staff read through capture_or_404
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
# Above every character a URL can hold: the upper end of a prefix range on the url index.
_TOP = "\U0010ffff"


class BadTimestamp(ValueError):
    """A Wayback timestamp that is not 4 to 14 digits of a real date and time."""


def timestamp(captured_at: str | datetime) -> str:
    """A catalog time (or datetime) as a 14-digit Wayback timestamp, ``YYYYMMDDhhmmss`` in UTC."""
    moment = from_iso(captured_at) if isinstance(captured_at, str) else captured_at
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str, upper: bool = False) -> datetime:
    """A 4- to 14-digit timestamp as a UTC datetime; missing digits are padded down, or up with ``upper``.

    ``2024`` is 2024-01-01 00:00:00, or with ``upper`` 2024-12-31 23:59:59 (pywb pads the same way).
    """
    if not (text.isascii() and text.isdigit() and 4 <= len(text) <= 14):
        raise BadTimestamp(f"timestamp {text!r} must be 4 to 14 digits, YYYY[MM[DD[hh[mm[ss]]]]] in UTC, "
                           "e.g. 20240418093015 or 2024")
    year = int(text[:4])
    low = (1, 1, 0, 0, 0)
    high = (12, 0, 23, 59, 59)  # day 0: the month's last day, filled in below
    parts = []
    for i, (start, width) in enumerate(((4, 2), (6, 2), (8, 2), (10, 2), (12, 2))):
        chunk = text[start:start + width]
        if len(chunk) == width:
            parts.append(int(chunk))
        elif chunk:  # an odd digit count: half a field
            raise BadTimestamp(f"timestamp {text!r} ends inside a field; give an even number of digits")
        else:
            parts.append((high if upper else low)[i])
    month, day, hour, minute, second = parts
    if not 1 <= month <= 12:
        raise BadTimestamp(f"timestamp {text!r} has month {month}; months are 01 to 12")
    if day == 0 and upper and len(text) < 8:
        day = calendar.monthrange(year, month)[1]
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise BadTimestamp(f"timestamp {text!r} is not a real time: {exc}") from None


# What a URL keeps unescaped when looked up; everything else (non-ASCII, spaces) is percent-encoded as UTF-8.
URI_SAFE = ":/?#[]@!$&'()*+,;=%~"


def lookup_url(text: str, max_length: int = 2048) -> str:
    """A URL as people type or paste it, in the form the catalog keeps: http:// added when there is no
    scheme, normalised (crawler.netpolicy), non-ASCII percent-encoded as browsers send it. URLRejected if bad."""
    if "://" not in text[:10]:
        text = "http://" + text
    return quote(normalize_url(text, max_length), safe=URI_SAFE)


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    return [dict(r) for r in cursor]


def _one_per_variant(url: str, condition: str, order: str, extra: tuple[Any, ...] = (),
                     label: str = "") -> tuple[str, list[Any]]:
    """One statement: per scheme variant of ``url``, the first public row meeting ``condition`` in ``order``.

    Each part is its own indexed range scan stopping at one row (a single ``url IN (...)`` scan
    would sort every matching row first). ``extra`` are the condition's arguments; ``label``
    tags each row with a ``rel`` column.
    """
    tag = f"'{label}' AS rel, " if label else ""
    parts, args = [], []
    for variant in url_variants(url):
        parts.append(f"SELECT {tag}* FROM (SELECT * FROM captures WHERE url = ? AND {condition} AND {PUBLIC}"
                     f" ORDER BY captured_at {order} LIMIT 1) AS one")
        args += [variant, *extra]
    return " UNION ALL ".join(parts), args


def nearest_sql(url: str, when: datetime) -> tuple[str, list[Any]]:
    """The statement :func:`nearest` runs (tests read its query plan)."""
    at = to_iso(when)
    before, before_args = _one_per_variant(url, "captured_at <= ?", "DESC", (at,))
    after, after_args = _one_per_variant(url, "captured_at > ?", "ASC", (at,))
    return f"{before} UNION ALL {after}", before_args + after_args


def nearest(db: sqlite3.Connection, url: str, when: datetime) -> dict[str, Any] | None:
    """The public capture of ``url`` nearest in time to ``when`` (a tie goes to the earlier one)."""
    sql, args = nearest_sql(url, when)
    rows = _rows(db.execute(sql, args))
    if not rows:
        return None
    return min(rows, key=lambda r: (abs(from_iso(r["captured_at"]) - when), r["captured_at"]))


def latest(db: sqlite3.Connection, url: str) -> dict[str, Any] | None:
    """The newest public capture of ``url``."""
    sql, args = _one_per_variant(url, "1", "DESC")
    rows = _rows(db.execute(sql, args))
    return max(rows, key=lambda r: (r["captured_at"], r["id"])) if rows else None


def in_second(db: sqlite3.Connection, url: str, ts: str) -> dict[str, Any] | None:
    """The first public capture of ``url`` made in the second a 14-digit timestamp names."""
    start = parse_timestamp(ts)
    sql, args = _one_per_variant(url, "captured_at >= ? AND captured_at < ?", "ASC",
                                 (to_iso(start), to_iso(start + timedelta(seconds=1))))
    rows = _rows(db.execute(sql, args))
    return min(rows, key=lambda r: r["captured_at"]) if rows else None


def neighbours(db: sqlite3.Connection, capture: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """The first, previous, next and last public captures of ``capture``'s URL, in one statement.

    ``prev`` / ``next`` are None at the ends; ``first`` / ``last`` may be ``capture`` itself.
    """
    url, at = capture["url"], capture["captured_at"]
    wanted = {  # rel: (condition, order, arguments, earliest wins)
        "first": ("1", "ASC", (), True),
        "prev": ("captured_at < ?", "DESC", (at,), False),
        "next": ("captured_at > ?", "ASC", (at,), True),
        "last": ("1", "DESC", (), False),
    }
    sql, args = [], []
    for rel, (condition, order, extra, _) in wanted.items():
        part, part_args = _one_per_variant(url, condition, order, extra, label=rel)
        sql.append(part)
        args += part_args
    found: dict[str, list[dict[str, Any]]] = {rel: [] for rel in wanted}
    for row in _rows(db.execute(" UNION ALL ".join(sql), args)):
        found[row.pop("rel")].append(row)
    result: dict[str, dict[str, Any] | None] = {}
    for rel, rows in found.items():
        rows.sort(key=lambda r: (r["captured_at"], r["id"]))
        result[rel] = (rows[0] if wanted[rel][3] else rows[-1]) if rows else None
    return result


def captures_of(db: sqlite3.Connection, url: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Every public capture of ``url`` (either scheme), oldest first: a TimeMap's mementos."""
    sql = f"SELECT * FROM captures WHERE url IN (?, ?) AND {PUBLIC} ORDER BY captured_at, id"
    args: list[Any] = list(url_variants(url))
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return _rows(db.execute(sql, args))


def prefix_ranges(prefix: str) -> list[tuple[str, str]]:
    """[low, high) ranges on the url index holding every URL that starts with ``prefix`` (either scheme)."""
    return [(v, v + _TOP) for v in url_variants(prefix)]


def host_ranges(host: str) -> list[tuple[str, str]]:
    """Ranges holding every URL on ``host`` (any path, any port, either scheme)."""
    ranges = []
    for scheme in ("http", "https"):
        for sep in ("/", ":"):
            start = f"{scheme}://{host}{sep}"
            ranges.append((start, start + _TOP))
    return ranges


def in_domain(url: str, domain: str) -> bool:
    """Whether ``url``'s host is ``domain`` or one of its subdomains."""
    host = (urlsplit(url).hostname or "").lower()
    return host == domain or host.endswith("." + domain)


MATCH_TYPES = ("exact", "prefix", "host", "domain")
_MAIN_RECORD = ("r.record_type AS main_record_type, r.target_uri AS main_target_uri, r.record_id AS main_record_id,"
                " r.content_type AS main_content_type, r.warc_file AS main_warc_file, r.offset AS main_offset,"
                " r.length AS main_length, r.payload_digest AS main_payload_digest, r.refers_to AS main_refers_to")


def find_captures(db: sqlite3.Connection, target: str, match_type: str = "exact", since: datetime | None = None,
                  until: datetime | None = None, reverse: bool = False) -> Iterator[dict[str, Any]]:
    """Public captures matching ``target`` as a CDX server matches, with where their page record lies.

    ``target`` is a normalised URL (exact), a URL prefix (prefix) or a host name (host, domain).
    Ordered by URL without its scheme, then time (``reverse``: the other way). Rows come lazily
    from the cursor, so a caller that stops early reads no more. ``exact``, ``prefix`` and ``host``
    are range scans on the url index; ``domain`` (every subdomain) reads every capture's URL,
    as the catalog keeps no reversed-host key.
    """
    if match_type not in MATCH_TYPES:
        raise ValueError(f"matchType {match_type!r} is not one of {', '.join(MATCH_TYPES)}")
    args: list[Any] = []
    if match_type == "exact":
        where = "c.url IN (?, ?)"
        args += url_variants(target)
    elif match_type == "domain":
        db.create_function("in_domain", 2, in_domain, deterministic=True)
        where = "in_domain(c.url, ?)"
        args.append(target)
    else:
        ranges = prefix_ranges(target) if match_type == "prefix" else host_ranges(target)
        where = "(" + " OR ".join("(c.url >= ? AND c.url < ?)" for _ in ranges) + ")"
        args += [bound for pair in ranges for bound in pair]
    if since is not None:
        where += " AND c.captured_at >= ?"
        args.append(to_iso(since))
    if until is not None:
        where += " AND c.captured_at < ?"  # ``until`` is the end of the last second wanted, exclusive
        args.append(to_iso(until))
    direction = "DESC" if reverse else "ASC"
    sql = (f"SELECT c.*, {_MAIN_RECORD} FROM captures c"
           " LEFT JOIN records r ON r.capture_id = c.id AND r.role = 'main'"
           f" WHERE {where} AND {visible_sql('c')}"
           f" ORDER BY substr(c.url, instr(c.url, '://') + 3) {direction}, c.captured_at {direction},"
           f" c.id {direction}")
    for row in db.execute(sql, args):
        yield dict(row)


def by_permalink(db: sqlite3.Connection, code: str) -> dict[str, Any] | None:
    """The capture with this canonical permalink, whatever its visibility (the caller checks it)."""
    row = db.execute("SELECT * FROM captures WHERE permalink = ?", (code,)).fetchone()
    return None if row is None else dict(row)
