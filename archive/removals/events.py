"""Removal events: when a URL's outcome moves from `ok` to a removal outcome, and back.

An event belongs to one URL seen from one vantage. It opens at the first removal
capture (the "after") and names the last `ok` capture before it (the "before"),
so the window in which the page went away is [last seen ok, first seen removed].
It closes at the next `ok` capture from that vantage (the page came back).

Scope: if another vantage saw the page `ok` at about the same time, the page was
not removed at the source but blocked where that vantage stands (`country`);
otherwise it is `source`. A `source` event is re-scoped to `country` when a later
`ok` from elsewhere shows the page was still up. Imported measurements count too
(``blocking_measurements``, from OONI; issue 17): OONI calls a page blocked only when its
control reached it, so a measurement within SAME_TIME says the page was up at its source
(``blocked_near`` when an event opens, ``rescope_for_blocking`` when the measurement comes later).

A URL is one page whatever its scheme (``urlcheck.url_variants``): the http and https
captures of it feed the same events. An open event keeps the strongest evidence seen
(``STRENGTH``): its outcome and ``evidence_capture_id`` move to a later capture that
says more, e.g. a 451 naming who demanded the block after a plain 404.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from archive.catalog import from_iso, to_iso, transaction
from archive.urlcheck import url_variants
from detect.outcomes import REMOVAL_OUTCOMES

# How far apart two vantages' captures may be and still count as "at the same time".
SAME_TIME = timedelta(hours=24)

CountryOf = Callable[[str], "str | None"]

# How much an outcome says about why the page is gone, weakest first. A 451 that names the
# blocking authority (RFC 7725 blocked-by) says the most; a capture that reached nothing the least
# (a network may fail for many reasons). `legal+` is `legal` with a blocked-by link.
STRENGTH = ("unreachable", "changed", "not_found", "redirect_notice", "blockpage", "withheld", "legal", "legal+")


def update_events(db: sqlite3.Connection, capture_id: int, country_of: CountryOf) -> dict[str, Any] | None:
    """Open, close or re-scope events for a newly classified capture; return what changed, if anything.

    Runs in one transaction, so a crash leaves the events as they were before this capture.
    """
    with transaction(db):
        change = apply_capture(db, capture_id, country_of)
    return change


def apply_capture(db: sqlite3.Connection, capture_id: int, country_of: CountryOf) -> dict[str, Any] | None:
    """What update_events does, inside the caller's transaction (so a capture and its event commit together)."""
    c = db.execute("SELECT id, url, vantage, vantage_country, outcome, evidence, captured_at FROM captures"
                   " WHERE id = ?", (capture_id,)).fetchone()
    if c is None or c["outcome"] is None:
        return None
    urls = url_variants(c["url"])
    open_event = db.execute(
        "SELECT * FROM removal_events WHERE url IN (?, ?) AND vantage = ? AND closed_at IS NULL"
        " ORDER BY id DESC LIMIT 1", (*urls, c["vantage"])).fetchone()
    if c["outcome"] == "ok":
        _rescope_others(db, c, country_of)
        if open_event is None:
            return None
        db.execute("UPDATE removal_events SET closed_at = ?, restored_capture_id = ? WHERE id = ?",
                   (c["captured_at"], c["id"], open_event["id"]))
        return {"closed": open_event["id"]}
    if c["outcome"] not in REMOVAL_OUTCOMES:
        return None
    if open_event is not None:
        return _strengthen(db, open_event, c)
    before = _last_ok(db, urls, c["captured_at"], c["vantage"]) or _last_ok(db, urls, c["captured_at"])
    if before is None:
        return None  # never seen whole: nothing to say was removed
    ok_elsewhere = _ok_elsewhere(db, urls, c["vantage"], c["captured_at"]) or blocked_near(db, urls, c["captured_at"])
    scope = "country" if ok_elsewhere else "source"
    cur = db.execute(
        "INSERT INTO removal_events (url, vantage, country, outcome, scope, before_capture_id, after_capture_id,"
        " last_ok_at, first_removed_at, evidence_capture_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (c["url"], c["vantage"], c["vantage_country"] or country_of(c["vantage"]), c["outcome"], scope,
         before["id"], c["id"], before["captured_at"], c["captured_at"], c["id"]))
    return {"opened": cur.fetchone()[0], "scope": scope}


def strength(outcome: str | None, evidence: str | dict | None) -> int:
    """Where an outcome with its evidence stands in ``STRENGTH`` (-1 for one that is not a removal)."""
    if isinstance(evidence, str):
        try:
            evidence = json.loads(evidence or "{}")
        except ValueError:
            evidence = {}
    if outcome == "legal" and isinstance(evidence, dict) and evidence.get("blocked_by"):
        outcome = "legal+"
    return STRENGTH.index(outcome) if outcome in STRENGTH else -1


def _strengthen(db: sqlite3.Connection, event: sqlite3.Row, capture: sqlite3.Row) -> dict[str, Any] | None:
    """Point an open event at ``capture`` if it is stronger evidence than what the event holds."""
    held = db.execute("SELECT outcome, evidence FROM captures WHERE id = ?",
                      (event["evidence_capture_id"] or event["after_capture_id"],)).fetchone()
    if held is not None and strength(capture["outcome"], capture["evidence"]) <= strength(held["outcome"],
                                                                                          held["evidence"]):
        return None
    db.execute("UPDATE removal_events SET outcome = ?, evidence_capture_id = ? WHERE id = ?",
               (capture["outcome"], capture["id"], event["id"]))
    return {"strengthened": event["id"]}


def _last_ok(db: sqlite3.Connection, urls: tuple[str, str], before: str,
             vantage: str | None = None) -> sqlite3.Row | None:
    if vantage is None:
        sql = ("SELECT id, captured_at FROM captures WHERE url IN (?, ?) AND captured_at < ? AND outcome = 'ok'"
               " ORDER BY captured_at DESC LIMIT 1")
        return db.execute(sql, (*urls, before)).fetchone()
    sql = ("SELECT id, captured_at FROM captures WHERE url IN (?, ?) AND vantage = ? AND captured_at < ?"
           " AND outcome = 'ok' ORDER BY captured_at DESC LIMIT 1")
    return db.execute(sql, (*urls, vantage, before)).fetchone()


def _ok_elsewhere(db: sqlite3.Connection, urls: tuple[str, str], vantage: str, at: str) -> bool:
    """Did another vantage's latest capture near ``at`` find the page `ok`?"""
    moment = from_iso(at)
    low, high = to_iso(moment - SAME_TIME), to_iso(moment + SAME_TIME)
    rows = db.execute(
        "SELECT vantage, outcome, captured_at FROM captures WHERE url IN (?, ?) AND vantage != ?"
        " AND captured_at BETWEEN ? AND ? AND outcome IS NOT NULL ORDER BY captured_at",
        (*urls, vantage, low, high)).fetchall()
    latest: dict[str, str] = {}
    for row in rows:
        if row["captured_at"] <= at or row["vantage"] not in latest:
            latest[row["vantage"]] = row["outcome"]
    return "ok" in latest.values()


def blocked_near(db: sqlite3.Connection, urls: tuple[str, str], at: str) -> bool:
    """Did an imported measurement (OONI) find the page blocked near ``at``? Its verdict rests on a
    control that reached the page, so the page was up at its source then: what we saw is a block."""
    moment = from_iso(at)
    return db.execute("SELECT 1 FROM blocking_measurements WHERE url IN (?, ?) AND measured_at BETWEEN ? AND ?"
                      " LIMIT 1", (*urls, to_iso(moment - SAME_TIME), to_iso(moment + SAME_TIME))).fetchone() \
        is not None


def rescope_for_blocking(db: sqlite3.Connection, url: str, measured_at: str) -> int:
    """A measurement found ``url`` blocked at ``measured_at`` (so up at its source): open `source` events
    that began near it were blocks where their vantage stands. Returns how many were re-scoped."""
    moment = from_iso(measured_at)
    return db.execute(
        "UPDATE removal_events SET scope = 'country' WHERE url IN (?, ?) AND scope = 'source'"
        " AND closed_at IS NULL AND first_removed_at BETWEEN ? AND ?",
        (*url_variants(url), to_iso(moment - SAME_TIME), to_iso(moment + SAME_TIME))).rowcount


def _rescope_others(db: sqlite3.Connection, ok_capture: sqlite3.Row, country_of: CountryOf) -> None:
    """The page is up from here: open `source` events elsewhere were blocks in those vantages' countries."""
    low = to_iso(from_iso(ok_capture["captured_at"]) - SAME_TIME)
    for event in db.execute(
            "SELECT e.id, e.vantage, a.vantage_country FROM removal_events e"
            " JOIN captures a ON a.id = e.after_capture_id WHERE e.url IN (?, ?) AND e.vantage != ?"
            " AND e.closed_at IS NULL AND e.scope = 'source' AND e.first_removed_at >= ?",
            (*url_variants(ok_capture["url"]), ok_capture["vantage"], low)).fetchall():
        db.execute("UPDATE removal_events SET scope = 'country', country = ? WHERE id = ?",
                   (event["vantage_country"] or country_of(event["vantage"]), event["id"]))


def rebuild_events(db: sqlite3.Connection, country_of: CountryOf) -> int:
    """Recompute every event from the captures' outcomes, in capture order; return how many exist after."""
    db.execute("DELETE FROM removal_events")
    for row in db.execute("SELECT id FROM captures WHERE outcome IS NOT NULL ORDER BY captured_at, id").fetchall():
        update_events(db, row["id"], country_of)
    return db.execute("SELECT count(*) FROM removal_events").fetchone()[0]


def open_event_before_ids(db: sqlite3.Connection, url: str) -> set[int]:
    """Capture ids whose content is currently removed: the "before" of each open event for ``url``."""
    return {r[0] for r in db.execute(
        "SELECT before_capture_id FROM removal_events WHERE url IN (?, ?) AND closed_at IS NULL", url_variants(url))}


def vantage_countries(vantages: dict) -> CountryOf:
    """A country lookup for vantage names from the CAPTURE_VANTAGES setting; direct has none."""
    def country_of(name: str) -> str | None:
        vantage = vantages.get(name)
        return getattr(vantage, "country", None) if vantage else None
    return country_of
