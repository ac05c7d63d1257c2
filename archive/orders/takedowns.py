"""Takedown orders: checking them, keeping them with their document, and reading them back.

An order is checked whole before anything is written (``TakedownSchema`` and
``documents.check_document``); bad input raises ``InvalidTakedown`` naming each
field and stores nothing. A good one is written in one transaction: its row,
its document as a WARC record (fsynced before the commit), its URLs and an
audit entry. Every URL it targets is then watched, so captures can show
whether the demanded action happened.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pycountry
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from archive.catalog import event_visible_sql, transaction, utcnow, visible_sql
from archive.orders.documents import DocumentError, check_document, store_document
from archive.orders.documents import read_document as _read_document
from archive.removals.reports import blocking_evidence
from archive.settings import Settings
from archive.staff import audit
from archive.urlcheck import url_checker, url_variants
from archive.warc.objects import warc_store
from crawler.netpolicy import URLRejected

ACTIONS_DEMANDED = ("remove", "block", "geo-block")
# What the recipient says it did, from a fixed list rather than free text, so a reader (or a
# program) can set the claim beside what captures show; the details go in the summary.
ACTIONS_REPORTED = ("unknown", "removed", "blocked", "geo-blocked", "refused", "no-response")
MAX_URLS = 500
HISTORY = 20  # captures of each targeted URL an order's page lists, newest first
NO_URLS = "give at least one URL the order targets, e.g. https://example.org/article"
ROW_FIELDS = ("authority", "recipient", "country", "legal_basis", "issued_on", "received_on", "effective_on",
               "action_demanded", "action_reported", "summary", "published")


class InvalidTakedown(ValueError):
    """An order that cannot be stored; ``fields`` maps each bad field to its messages."""

    def __init__(self, fields: dict[str, list[str]]):
        self.fields = fields
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items()))


def _latest_today() -> date:
    # The latest date it is anywhere on Earth (UTC+14), so an order dated today in
    # Bishkek or Kiribati is never "in the future" by the server's clock.
    return (datetime.now(UTC) + timedelta(hours=14)).date()


def _not_future(value: date) -> None:
    if value > _latest_today():
        raise ValidationError(f"{value.isoformat()} is in the future; give the date printed on the order "
                              "or the day it arrived")


def _country(value: str) -> None:
    if pycountry.countries.get(alpha_2=value) is None:
        raise ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 country code; use two letters such as "
                              "KG (Kyrgyzstan), KZ (Kazakhstan) or RU (Russia)")


def _date(**kwargs: Any) -> fields.Date:
    return fields.Date(load_default=None, validate=_not_future, error_messages={
        "invalid": "not a date; use YYYY-MM-DD, e.g. 2024-04-18"}, **kwargs)


class URLList(fields.Field):
    """A list of URLs (or one per line in a string), each through the schema's URL check (the one
    every URL the archive will capture passes: a targeted URL is watched); duplicates dropped."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list[str]:
        items = value.splitlines() if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(u, str) for u in items):
            raise ValidationError("give a list of URLs (one per line in the form)")
        urls: list[str] = []
        problems = []
        for raw in (u.strip() for u in items):
            if not raw:
                continue
            try:
                url = self.parent.check_url(raw)
            except URLRejected as exc:
                problems.append(f"{raw!r}: {exc}")
                continue
            if url not in urls:
                urls.append(url)
        if problems:
            raise ValidationError(problems)
        if not urls:
            raise ValidationError(NO_URLS)
        if len(urls) > MAX_URLS:
            raise ValidationError(f"{len(urls)} URLs; at most {MAX_URLS} per order: split it into several")
        return urls


class TakedownSchema(Schema):
    """A takedown order as staff enter it (form or JSON); dates are ISO, country ISO 3166-1 alpha-2.

    ``check_url`` is ``archive.urlcheck.url_checker(settings)``."""

    class Meta:
        unknown = RAISE

    def __init__(self, check_url: Callable[[str], str], **kwargs: Any):
        super().__init__(**kwargs)
        self.check_url = check_url

    authority = fields.String(required=True, validate=validate.Length(1, 200), error_messages={
        "required": "required: give who issued the order, e.g. a ministry, court or regulator"})
    recipient = fields.String(required=True, validate=validate.Length(1, 200), error_messages={
        "required": "required: give who the order was sent to, e.g. the publisher"})
    country = fields.String(required=True, validate=_country, error_messages={
        "required": "required: give the issuing country's two-letter ISO code, e.g. KG"})
    legal_basis = fields.String(load_default="", validate=validate.Length(max=500))
    issued_on = _date()
    received_on = _date()
    effective_on = _date()
    action_demanded = fields.String(required=True, validate=validate.OneOf(
        ACTIONS_DEMANDED, error="must be one of: " + ", ".join(ACTIONS_DEMANDED)), error_messages={
        "required": "required: one of " + ", ".join(ACTIONS_DEMANDED)})
    action_reported = fields.String(load_default="unknown", validate=validate.OneOf(
        ACTIONS_REPORTED, error="must be one of: " + ", ".join(ACTIONS_REPORTED)))
    summary = fields.String(load_default="", validate=validate.Length(max=20_000))
    urls = URLList(required=True, error_messages={"required": NO_URLS})
    published = fields.Boolean(load_default=False)

    @pre_load
    def tidy(self, data: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        # A form sends every field: "" means "not given". Country codes are compared upper-case.
        out = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()
               if not (isinstance(v, str) and not v.strip())}
        if isinstance(out.get("country"), str):
            out["country"] = out["country"].upper()
        return out

    @validates_schema(skip_on_field_errors=False)
    def dates_in_order(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        issued = data.get("issued_on")
        errors = {}
        for later in ("received_on", "effective_on"):
            if issued and data.get(later) and data[later] < issued:
                errors[later] = [f"issued_on {issued.isoformat()} is after {later} {data[later].isoformat()}: "
                                 f"an order cannot be {later.removesuffix('_on')} before it is issued; "
                                 "check both dates"]
        if errors:
            raise ValidationError(errors)


def check_takedown(data: Mapping[str, Any], document: tuple[str, bytes] | None,
                   settings: Settings) -> tuple[dict[str, Any], Any]:
    """The order and document checked together: (fields, ``Document`` or None); raises ``InvalidTakedown``."""
    errors: dict[str, list[str]] = {}
    try:
        loaded = TakedownSchema(url_checker(settings)).load(data)
    except ValidationError as exc:
        loaded = {}
        errors.update({k: _flat(v) for k, v in exc.normalized_messages().items()})
    doc = None
    if document is not None:
        try:
            doc = check_document(document[1], document[0], settings.takedown_max_document_bytes)
        except DocumentError as exc:
            errors["document"] = [str(exc)]
    if errors:
        raise InvalidTakedown(errors)
    return loaded, doc


def _flat(messages: Any) -> list[str]:
    if isinstance(messages, dict):
        return [m for v in messages.values() for m in _flat(v)]
    if isinstance(messages, list):
        return [m for v in messages for m in _flat(v)]
    return [str(messages)]


def _row_values(loaded: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: loaded[k] for k in ROW_FIELDS}
    for k in ("issued_on", "received_on", "effective_on"):
        values[k] = values[k].isoformat() if values[k] else None
    values["published"] = int(bool(values["published"]))
    return values


def save_document(db: sqlite3.Connection, settings: Settings, takedown_id: int, doc: Any) -> str:
    """Archive ``doc`` (a ``documents.Document``) as the order's document, in the caller's transaction;
    return its SHA-256."""
    stored = store_document(warc_store(settings), settings.warc_max_size, takedown_id, doc)
    db.execute("UPDATE takedowns SET document_name = ?, document_type = ?, document_sha256 = ?,"
               " document_record_id = ?, document_warc_file = ?, document_offset = ?, document_length = ?"
               " WHERE id = ?", (stored.name, stored.content_type, stored.sha256, stored.record_id,
                                 stored.warc_file, stored.offset, stored.length, takedown_id))
    return stored.sha256


def _set_urls(db: sqlite3.Connection, takedown_id: int, urls: list[str]) -> None:
    db.execute("DELETE FROM takedown_urls WHERE takedown_id = ?", (takedown_id,))
    db.executemany("INSERT INTO takedown_urls (takedown_id, url, position) VALUES (?, ?, ?)",
                   [(takedown_id, u, i) for i, u in enumerate(urls, start=1)])


def _watch(db: sqlite3.Connection, settings: Settings, takedown_id: int, urls: list[str]) -> None:
    # Every targeted URL is captured on a schedule from now on, so the record shows whether
    # (and when) the demanded action happened. add_watch is one statement, so the watches
    # commit with the order. URLs later dropped from an order stay watched.
    from archive.watches.watchlist import add_watch

    for url in urls:
        add_watch(db, url, every_seconds=settings.watch_every, vantage="direct", source=f"takedown:{takedown_id}")


def create_takedown(db: sqlite3.Connection, settings: Settings, data: Mapping[str, Any],
                    document: tuple[str, bytes] | None = None, user_id: int | None = None, backend: Any = None) -> int:
    """Check and store an order with its (filename, bytes) document; watch its URLs; return its id.

    With a search ``backend``, its URLs' captures are reindexed (a published order's country and
    authority are searchable on them)."""
    loaded, doc = check_takedown(data, document, settings)
    values = _row_values(loaded)
    now = utcnow()
    with transaction(db):
        cols = (*ROW_FIELDS, "created_at", "updated_at", "created_by")
        takedown_id = db.execute(f"INSERT INTO takedowns ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                                 " RETURNING id", (*values.values(), now, now, user_id)).fetchone()[0]
        sha256 = save_document(db, settings, takedown_id, doc) if doc else None
        _set_urls(db, takedown_id, loaded["urls"])
        audit.record(db, user_id, "takedown.create", f"takedown:{takedown_id}",
                     {"urls": loaded["urls"], "document_sha256": sha256, "published": bool(values["published"])})
        _watch(db, settings, takedown_id, loaded["urls"])
    _reindex(db, settings, backend, loaded["urls"])
    return takedown_id


def update_takedown(db: sqlite3.Connection, settings: Settings, takedown_id: int, data: Mapping[str, Any],
                    document: tuple[str, bytes] | None = None, user_id: int | None = None,
                    backend: Any = None) -> None:
    """Replace an order's fields (and, if given, its document); raises ``LookupError`` if there is none.

    The earlier document stays in its WARC file; the row points at the new one.
    """
    loaded, doc = check_takedown(data, document, settings)
    values = _row_values(loaded)
    with transaction(db):
        old = get_takedown(db, takedown_id)
        if old is None:
            raise LookupError(f"there is no takedown order {takedown_id}")
        changed = sorted(k for k in ROW_FIELDS if old[k] != values[k])
        if old["urls"] != loaded["urls"]:
            changed.append("urls")
        db.execute(f"UPDATE takedowns SET {', '.join(f'{k} = ?' for k in ROW_FIELDS)}, updated_at = ?"
                   " WHERE id = ?", (*values.values(), utcnow(), takedown_id))
        sha256 = save_document(db, settings, takedown_id, doc) if doc else None
        if sha256:
            changed.append("document")
        _set_urls(db, takedown_id, loaded["urls"])
        target = f"takedown:{takedown_id}"
        audit.record(db, user_id, "takedown.update", target, {"changed": changed, "document_sha256": sha256})
        if old["published"] != values["published"]:
            audit.record(db, user_id, "takedown.publish" if values["published"] else "takedown.unpublish", target)
        _watch(db, settings, takedown_id, loaded["urls"])
    _reindex(db, settings, backend, [*old["urls"], *loaded["urls"]])  # dropped URLs lose the order too


def set_published(db: sqlite3.Connection, takedown_id: int, published: bool, user_id: int | None = None,
                  settings: Settings | None = None, backend: Any = None) -> None:
    """Show an order to the public (or withdraw it); logged. Raises ``LookupError`` if there is none.
    With ``settings`` and a search ``backend``, its URLs' captures are reindexed."""
    with transaction(db):
        cur = db.execute("UPDATE takedowns SET published = ?, updated_at = ? WHERE id = ?",
                         (int(published), utcnow(), takedown_id))
        if cur.rowcount == 0:
            raise LookupError(f"there is no takedown order {takedown_id}")
        audit.record(db, user_id, "takedown.publish" if published else "takedown.unpublish",
                     f"takedown:{takedown_id}")
    if settings is not None:
        _reindex(db, settings, backend, _with_urls(db, {"id": takedown_id})["urls"])


def _reindex(db: sqlite3.Connection, settings: Settings, backend: Any, urls: list[str]) -> None:
    # After the commit: the index is rebuilt from what the catalog now says.
    if backend is None:
        return
    from archive.capturing.indexing import reindex_url
    from archive.removals.events import vantage_countries

    for url in dict.fromkeys(urls):
        reindex_url(db, backend, warc_store(settings), url, vantage_countries(settings.capture_vantages))


def _with_urls(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    urls, lifted = [], {}
    for url, lifted_on in db.execute("SELECT url, lifted_on FROM takedown_urls WHERE takedown_id = ?"
                                     " ORDER BY position, url", (row["id"],)):
        urls.append(url)
        if lifted_on:
            lifted[url] = lifted_on
    # A register's order may name domains (or addresses) and URLs it withholds (issue 17).
    domains = [dict(r) for r in db.execute("SELECT domain, redacted_count FROM takedown_domains"
                                           " WHERE takedown_id = ? ORDER BY domain", (row["id"],))]
    return dict(row) | {"urls": urls, "lifted_urls": lifted, "domains": domains}


def get_takedown(db: sqlite3.Connection, takedown_id: int, published_only: bool = False) -> dict[str, Any] | None:
    """Order ``takedown_id`` with its ``urls``, or None (also None if unpublished and ``published_only``)."""
    row = db.execute("SELECT * FROM takedowns WHERE id = ?" + (" AND published = 1" if published_only else ""),
                     (takedown_id,)).fetchone()
    return None if row is None else _with_urls(db, row)


def list_takedowns(db: sqlite3.Connection, published_only: bool = True, country: str | None = None,
                   url: str | None = None, limit: int = 50, offset: int = 0, register: str | None = None,
                   authority: str | None = None) -> list[dict[str, Any]]:
    """Orders, most recently issued (then entered) first, optionally of one country, targeting one URL
    (normalised; its http and https forms are one page), imported from one register (``staff``: entered
    by hand), or of one authority (as written or as normalised: ``суд`` or ``court``)."""
    sql, args = "SELECT t.* FROM takedowns t WHERE 1 = 1", []
    if published_only:
        sql += " AND t.published = 1"
    if country:
        sql += " AND t.country = ?"
        args.append(country.upper())
    if register == "staff":
        sql += " AND t.register IS NULL"
    elif register:
        sql += " AND t.register = ?"
        args.append(register)
    if authority:
        sql += " AND (t.authority = ? OR t.authority_normalized = ?)"
        args += [authority.strip(), authority.strip()]
    if url:  # either scheme: one page (urlcheck.url_variants)
        sql += " AND t.id IN (SELECT takedown_id FROM takedown_urls WHERE url IN (?, ?))"
        args += url_variants(url)
    sql += " ORDER BY COALESCE(t.issued_on, t.received_on, substr(t.created_at, 1, 10)) DESC, t.id DESC"
    rows = db.execute(sql + " LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
    return [_with_urls(db, r) for r in rows]


def read_document(settings: Settings, row: Mapping[str, Any]) -> bytes:
    """The order's document, its SHA-256 checked against the row; ``LookupError`` if it has none."""
    if not row.get("document_warc_file"):
        raise LookupError(f"takedown order {row['id']} has no document")
    return _read_document(warc_store(settings), row["document_warc_file"], row["document_offset"],
                          row["document_length"], row["document_sha256"])


def url_evidence(db: sqlite3.Connection, url: str, staff: bool = True) -> dict[str, Any]:
    """What captures show for ``url`` (either scheme): its latest capture and its removal events, oldest first.

    ``staff=False`` reads as the public does: captures staff took out of public view, and events
    resting on one, are left out (the latest capture is then the latest public one).
    """
    urls = url_variants(url)
    latest = db.execute("SELECT id, captured_at, status, outcome, vantage FROM captures c"
                        f" WHERE url IN (?, ?) AND {visible_sql('c', staff)}"
                        " ORDER BY captured_at DESC, id DESC LIMIT 1", urls).fetchone()
    events = db.execute(f"SELECT * FROM removal_events e WHERE url IN (?, ?) AND {event_visible_sql('e', staff)}"
                        " ORDER BY first_removed_at, id", urls)
    removals = [dict(e) for e in events]
    history = [dict(r) for r in db.execute(
        "SELECT id, captured_at, status, outcome, vantage, vantage_country FROM captures c"
        f" WHERE url IN (?, ?) AND {visible_sql('c', staff)} ORDER BY captured_at DESC, id DESC LIMIT ?",
        (*urls, HISTORY))]
    blocking = blocking_evidence(db, url)
    return {"url": url, "latest": dict(latest) if latest else None, "removals": removals, "captures": history,
            "blocking": blocking, "status": url_status(dict(latest) if latest else None, removals, blocking)}


def url_status(latest: dict[str, Any] | None, removals: list[dict[str, Any]],
               blocking: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a URL stands: ``{"state": "not captured" | "up" | "removed" | "blocked", "blocked_in": [...]}``.

    Removed: an open removal event at the source. Blocked: open events in a country, or measurements
    (OONI) that found it blocked, while it is up elsewhere; ``blocked_in`` names those countries."""
    open_events = [e for e in removals if e["closed_at"] is None]
    blocked_in = sorted({e["country"] for e in open_events if e["scope"] == "country" and e["country"]}
                        | {b["country"] for b in blocking})
    if any(e["scope"] == "source" for e in open_events):
        state = "removed"
    elif blocked_in:
        state = "blocked"
    elif latest is None:
        state = "not captured"
    else:
        state = "up" if latest["outcome"] in (None, "ok") else str(latest["outcome"])
    return {"state": state, "blocked_in": blocked_in}
