"""An order's claim set beside what captures saw.

The recipient reports an action (``action_reported``: removed, blocked, geo-blocked, refused, ...).
For each URL the order names, the public captures made from the order's date on (either scheme)
say what happened: whether the page is still served at the source (the archive's own connection,
``direct``), removed there, or blocked only where a vantage stands. ``check_claim`` says whether
the claim holds, in a verdict and a sentence such as "reported removed on 4 Dec 2026; still served
on 7 Dec 2026 from direct".
"""
from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from archive.catalog import from_iso, visible_sql
from archive.removals.events import REMOVAL_OUTCOMES
from archive.urlcheck import url_variants

# What each reported action claims about the page: gone at the source, or blocked in the order's country.
CLAIMS = {"removed": "source", "blocked": "country", "geo-blocked": "country", "refused": "served"}
VERDICTS = ("confirmed", "contradicted", "partly", "unchecked", "no-claim")


@dataclass(frozen=True)
class ClaimCheck:
    url: str
    claim: str  # the reported action
    since: str | None  # the order's date the captures are counted from (ISO date)
    verdict: str  # one of VERDICTS
    summary: str  # one sentence, English (the pages translate nothing archived or computed)
    seen: str  # served, removed-at-source, blocked-in-country, not-seen
    capture_id: int | None  # the capture the finding rests on

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def order_date(order: dict[str, Any]) -> str | None:
    """The day from which the reported action should show: effective, else received, else issued."""
    return order.get("effective_on") or order.get("received_on") or order.get("issued_on")


def day(text: str) -> str:
    """A catalog time or ISO date as "7 Dec 2026"."""
    moment = from_iso(text) if "T" in text else date.fromisoformat(text)
    return f"{moment.day} {moment:%b %Y}"


def _start(since: str | None) -> str:
    """The catalog time the order's day starts at ("" when the order has no date: every capture counts)."""
    return f"{since}T00:00:00.000000Z" if since else ""


def _latest_per_vantage(db: sqlite3.Connection, url: str, since: str | None) -> list[sqlite3.Row]:
    """The latest classified public capture from each vantage since ``since``, newest first."""
    sql = ("SELECT id, vantage, vantage_country, outcome, captured_at FROM captures c WHERE url IN (?, ?)"
           f" AND outcome IS NOT NULL AND outcome != 'error' AND {visible_sql('c')} AND captured_at >= ?")
    latest: dict[str, sqlite3.Row] = {}
    for row in db.execute(sql + " ORDER BY captured_at, id", (*url_variants(url), _start(since))):
        latest[row["vantage"]] = row
    return sorted(latest.values(), key=lambda r: r["captured_at"], reverse=True)


def _first_removed(db: sqlite3.Connection, url: str, vantage: str, since: str | None) -> sqlite3.Row | None:
    """The first removal capture in the run of removals that ends in the vantage's latest capture."""
    rows = db.execute(
        "SELECT id, outcome, captured_at FROM captures c WHERE url IN (?, ?) AND vantage = ? AND outcome IS NOT NULL"
        f" AND outcome != 'error' AND {visible_sql('c')} AND captured_at >= ? ORDER BY captured_at DESC, id DESC",
        (*url_variants(url), vantage, _start(since))).fetchall()
    first = None
    for row in rows:
        if row["outcome"] not in REMOVAL_OUTCOMES:
            break
        first = row
    return first


def check_claim(db: sqlite3.Connection, order: dict[str, Any], url: str) -> ClaimCheck:
    """The order's reported action for ``url`` against the captures made since the order's date."""
    claim, since = order.get("action_reported") or "unknown", order_date(order)
    reported = f"reported {claim} on {day(since)}" if since else f"reported {claim}"
    if claim in ("unknown", "no-response"):
        reported = "no action reported" if claim == "unknown" else "no response reported"
    latest = _latest_per_vantage(db, url, since)
    direct = next((r for r in latest if r["vantage"] == "direct"), None)
    served = [r for r in latest if r["outcome"] == "ok"]
    blocked = [r for r in latest if r["vantage"] != "direct" and r["outcome"] in REMOVAL_OUTCOMES]

    def result(verdict: str, seen: str, finding: str, row: sqlite3.Row | None) -> ClaimCheck:
        return ClaimCheck(url, claim, since, verdict, f"{reported}; {finding}", seen, row["id"] if row else None)

    if not latest:
        return result("unchecked" if claim in CLAIMS else "no-claim", "not-seen", "not captured since", None)
    if direct is not None and direct["outcome"] in REMOVAL_OUTCOMES and not served:
        first = _first_removed(db, url, "direct", since) or direct
        verdict = {"source": "confirmed", "country": "confirmed", "served": "contradicted"}.get(CLAIMS.get(claim))
        word = "confirmed removed" if verdict == "confirmed" else "removed"
        return result(verdict or "no-claim", "removed-at-source", f"{word} at source on {day(first['captured_at'])}",
                      first)
    country = order.get("country")
    in_country = [r for r in blocked if r["vantage_country"] == country] or blocked
    if in_country and direct is not None and direct["outcome"] == "ok":
        where = ", ".join(sorted({r["vantage_country"] or r["vantage"] for r in in_country}))
        verdict = {"source": "partly", "country": "confirmed", "served": "contradicted"}.get(CLAIMS.get(claim))
        return result(verdict or "no-claim", "blocked-in-country", f"blocked in {where} only", in_country[0])
    row = (direct if direct is not None and direct["outcome"] == "ok" else None) or (served[0] if served else None)
    if row is None:  # removals seen only from vantages, and nothing from direct to compare with
        row = latest[0]
        where = row["vantage_country"] or row["vantage"]
        verdict = {"country": "confirmed", "source": "unchecked", "served": "contradicted"}.get(CLAIMS.get(claim))
        return result(verdict or "no-claim", "blocked-in-country",
                      f"{row['outcome'].replace('_', ' ')} in {where} on {day(row['captured_at'])}", row)
    from_where = row["vantage"] + (f" ({row['vantage_country']})" if row["vantage_country"] else "")
    if CLAIMS.get(claim) == "country" and row["vantage"] == "direct" and not any(
            r["vantage_country"] == country for r in latest):
        # Seen only from outside the country: a block there cannot show from here.
        return result("unchecked", "served", f"served on {day(row['captured_at'])} from {from_where}; not captured "
                                             f"from a vantage in {country}", row)
    verdict = {"source": "contradicted", "country": "contradicted", "served": "confirmed"}.get(CLAIMS.get(claim))
    return result(verdict or "no-claim", "served", f"still served on {day(row['captured_at'])} from {from_where}", row)


def check_order(db: sqlite3.Connection, order: dict[str, Any]) -> list[ClaimCheck]:
    """``check_claim`` for every URL the order names, in the order's order."""
    return [check_claim(db, order, url) for url in order["urls"]]
