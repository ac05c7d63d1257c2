"""The CDX API's query language and output, in the Wayback / pywb form that scripts are written against.

``url`` (with ``*`` wildcards: ``example.com/path/*`` is a prefix, ``*.example.com`` a domain),
``matchType``, ``from`` / ``to`` (4-14 digit timestamps, padded down / up), ``limit`` (negative:
the last N), ``offset``, ``sort=reverse|closest`` with ``closest=<ts>``, ``filter`` (pywb syntax,
repeatable) and ``fl``. Lines come out space-separated, or with ``output=json`` as a JSON array whose
first row is the field names (the Internet Archive's form). Everything is read from the catalog,
except ``mimetype``, which is the page response's Content-Type read from its WARC record's headers.
"""
from __future__ import annotations

import re
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator

from archive.lookup import mementos
from archive.warc.cdxj import url_key
from archive.warc.objects import WarcStore, as_store
from archive.warc.store import WarcStoreError, open_warc
from crawler.netpolicy import URLRejected

DEFAULT_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length", "outcome")
EXTRA_FIELDS = ("offset", "filename", "id", "permalink")
ALIASES = {"url": "original", "mime": "mimetype", "status": "statuscode"}  # pywb's names for the same fields
MAX_LINES = 10_000  # one answer's most lines; page on with offset= or from=
MISSING = "-"  # a field without a value, as CDX files write it


class CdxError(ValueError):
    """A CDX query the server cannot answer; the message names the parameter and what it takes."""


@dataclass(frozen=True)
class Filter:
    """``[!][=|~]field:expression``: contains (default), equals (``=``) or regex from the start (``~``)."""

    field: str
    mode: str  # contains | exact | regex
    expression: str
    negate: bool
    pattern: re.Pattern | None = None

    def __call__(self, values: Mapping[str, str]) -> bool:
        value = values[self.field]
        if self.mode == "exact":
            hit = value == self.expression
        elif self.mode == "regex":
            hit = self.pattern.match(value) is not None
        else:
            hit = self.expression in value
        return hit != self.negate


@dataclass(frozen=True)
class CdxQuery:
    target: str  # normalised URL, URL prefix or host name, as match_type says
    match_type: str = "exact"
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    limit: int = MAX_LINES
    last: bool = False  # a negative limit: the last ``limit`` lines
    offset: int = 0
    sort: str = ""  # "", reverse, closest
    closest: datetime | None = None
    filters: tuple[Filter, ...] = ()
    fields: tuple[str, ...] = DEFAULT_FIELDS
    output: str = "text"
    needed: frozenset[str] = field(default_factory=frozenset)


def _field_name(name: str, param: str) -> str:
    name = ALIASES.get(name, name)
    if name not in DEFAULT_FIELDS + EXTRA_FIELDS:
        raise CdxError(f"{param}: unknown field {name!r}; fields are {', '.join(DEFAULT_FIELDS + EXTRA_FIELDS)}")
    return name


def parse_filter(text: str) -> Filter:
    """One ``filter=`` value, e.g. ``statuscode:200``, ``!=mimetype:text/html``, ``~original:.*\\.pdf$``."""
    rest, negate = (text[1:], True) if text.startswith("!") else (text, False)
    mode = {"=": "exact", "~": "regex"}.get(rest[:1], "contains")
    if mode != "contains":
        rest = rest[1:]
    name, sep, expression = rest.partition(":")
    if not sep or not name:
        raise CdxError(f"filter {text!r} is not [!][=|~]field:expression, e.g. filter=statuscode:200 "
                       "or filter=!~mimetype:text/.*")
    pattern = None
    if mode == "regex":
        try:
            pattern = re.compile(expression)
        except re.error as exc:
            raise CdxError(f"filter {text!r}: {expression!r} is not a regular expression ({exc})") from None
    return Filter(_field_name(name, f"filter {text!r}"), mode, expression, negate, pattern)


def _timestamp(params: Mapping[str, str], name: str, upper: bool = False) -> datetime | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        moment = mementos.parse_timestamp(value, upper=upper)
    except mementos.BadTimestamp as exc:
        raise CdxError(f"{name}: {exc}") from None
    return moment


def _end_of(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment + timedelta(seconds=1)  # ``to`` takes in its whole last second


def _integer(params: Mapping[str, str], name: str, default: int) -> int:
    value = params.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise CdxError(f"{name}={value!r} is not a whole number") from None


def _target(url: str, match_type: str | None) -> tuple[str, str]:
    """(target, match type) from ``url`` and ``matchType``, honouring ``*`` wildcards."""
    url = url.strip()
    if not url:
        raise CdxError("url is required, e.g. /cdx?url=example.com/page or url=example.com/*")
    wildcard = None
    if url.startswith("*."):
        url, wildcard = url[2:], "domain"
    elif url.endswith("*"):
        url, wildcard = url[:-1], "prefix"
    match_type = match_type or wildcard or "exact"
    if match_type not in mementos.MATCH_TYPES:
        raise CdxError(f"matchType={match_type!r} is not one of {', '.join(mementos.MATCH_TYPES)}")
    try:
        normal = mementos.lookup_url(url)
    except URLRejected as exc:
        raise CdxError(f"url: {exc}") from None
    if match_type in ("host", "domain"):
        host = urlsplit(normal).hostname or ""
        return (f"[{host}]" if ":" in host else host), match_type
    if match_type == "prefix" and wildcard == "prefix" and "/" not in url.split("://", 1)[-1]:
        normal = normal.rstrip("/")  # "example.com*": the host name's prefix, not only its root page
    return normal, match_type


def parse_query(params: Mapping[str, str], filters: Sequence[str] = ()) -> CdxQuery:
    """A CDX query from request parameters (``filters``: every ``filter=`` value); CdxError if bad."""
    target, match_type = _target(params.get("url", ""), params.get("matchType", "").strip() or None)
    output = params.get("output", "").strip() or "text"
    if output not in ("text", "json"):
        raise CdxError(f"output={output!r} is not text (the default) or json")
    sort = params.get("sort", "").strip()
    closest = _timestamp(params, "closest", upper=True)  # padded up, as /web/ timestamps (pywb does so)
    if closest is not None and not sort:
        sort = "closest"  # closest= alone asks for that order
    if sort not in ("", "reverse", "closest"):
        raise CdxError(f"sort={sort!r} is not reverse or closest")
    if sort == "closest" and closest is None:
        raise CdxError("sort=closest needs closest=<timestamp>, e.g. closest=20240418093015")
    if sort == "closest" and match_type != "exact":
        raise CdxError("sort=closest works with matchType=exact only")
    limit = _integer(params, "limit", MAX_LINES)
    if limit == 0 or abs(limit) > MAX_LINES:
        raise CdxError(f"limit={limit} must be 1 to {MAX_LINES} (negative: the last N lines)")
    offset = _integer(params, "offset", 0)
    if offset < 0:
        raise CdxError(f"offset={offset} must be 0 or more")
    fl = params.get("fl", "").strip()
    fields = tuple(_field_name(n.strip(), "fl") for n in fl.split(",") if n.strip()) if fl else DEFAULT_FIELDS
    parsed = tuple(parse_filter(f) for f in filters if f)
    return CdxQuery(target=target, match_type=match_type, since=_timestamp(params, "from"),
                    until=_end_of(_timestamp(params, "to", upper=True)), limit=abs(limit), last=limit < 0,
                    offset=offset, sort=sort, closest=closest, filters=parsed, fields=fields, output=output,
                    needed=frozenset(fields) | {f.field for f in parsed})


HEAD_BYTES = 65536  # enough of a record's gzip member to inflate its WARC and HTTP headers


def page_mimetype(warc_dir: Path | WarcStore, row: Mapping[str, Any]) -> str:
    """The page response's Content-Type (no parameters), read from its WARC record's headers only."""
    if not row.get("main_warc_file"):
        return MISSING
    store = as_store(warc_dir)
    try:
        if store.remote:  # one ranged GET of the record's start, not a read-ahead buffer's worth
            head = store.read_range(row["main_warc_file"], row["main_offset"], min(row["main_length"], HEAD_BYTES))
            record = next(iter(ArchiveIterator(BytesIO(head))))
        else:
            with open_warc(store, row["main_warc_file"]) as fh:
                fh.seek(row["main_offset"])
                record = next(iter(ArchiveIterator(fh)))
        value = record.http_headers.get_header("Content-Type") if record.http_headers else None
    except (OSError, StopIteration, WarcStoreError, ValueError, EOFError):
        return MISSING
    return re.split(r"[;\s]", value.strip(), maxsplit=1)[0].lower() if value and value.strip() else "unk"


def line_values(row: Mapping[str, Any], needed: frozenset[str], mimetype: Callable[[Mapping[str, Any]], str]
                ) -> dict[str, str]:
    """A capture row's CDX fields (only those ``needed``), as strings; ``-`` where there is no value."""
    def text(value: Any) -> str:
        return MISSING if value is None or value == "" else str(value)

    values = {
        "urlkey": lambda: url_key(row["url"]),
        "timestamp": lambda: mementos.timestamp(row["captured_at"]),
        "original": lambda: row["url"],
        "mimetype": lambda: mimetype(row),
        "statuscode": lambda: text(row["status"]),
        # The page's SHA-256 in hex, as the record page, citations and sha256sum show it.
        "digest": lambda: f"sha256:{row['sha256']}" if row["sha256"] else MISSING,
        "length": lambda: text(row["main_length"]),
        "outcome": lambda: text(row["outcome"]),
        "offset": lambda: text(row["main_offset"]),
        "filename": lambda: text(row["main_warc_file"]),
        "id": lambda: str(row["id"]),
        "permalink": lambda: text(row["permalink"]),
    }
    return {name: values[name]() for name in needed}


def run(db: sqlite3.Connection, query: CdxQuery, warc_dir: Path) -> list[list[str]]:
    """The query's lines, each a list of field values in ``query.fields`` order."""
    rows: Iterator[dict[str, Any]] = mementos.find_captures(
        db, query.target, query.match_type, query.since, query.until, reverse=query.sort == "reverse")
    if query.sort == "closest":  # exact matches only: one URL's captures, few enough to sort here
        rows = iter(sorted(rows, key=lambda r: (abs(mementos.from_iso(r["captured_at"]) - query.closest),
                                                r["captured_at"])))

    def mimetype(row: Mapping[str, Any]) -> str:
        return page_mimetype(warc_dir, row)

    lines: deque[list[str]] = deque(maxlen=query.limit if query.last else None)  # last N: the oldest fall out
    skipped = 0
    for row in rows:
        values = line_values(row, query.needed, mimetype)
        if not all(f(values) for f in query.filters):
            continue
        if skipped < query.offset:
            skipped += 1
            continue
        lines.append([values[name] for name in query.fields])
        if not query.last and len(lines) >= query.limit:
            break
    return list(lines)


__all__ = ["CdxError", "CdxQuery", "DEFAULT_FIELDS", "parse_query", "run"]
