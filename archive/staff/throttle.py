"""Throttling failed sign-ins, per account and per client address.

Failures are rows in the catalog, so every process serving the archive (several waitress
threads, several servers on one catalog) counts the same ones. Once an account, or an
address, has failed ``LIMITS[kind]`` times within ``WINDOW``, sign-ins for it are refused
without checking the password until the oldest of those failures is ``WINDOW`` old. A
successful sign-in forgets the account's failures (not the address's).
"""
from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime, timedelta

from archive.catalog import from_iso, to_iso, transaction

WINDOW = timedelta(minutes=15)
# An account is guessed at from many addresses; an address guesses at many accounts.
LIMITS = {"account": 5, "address": 20}


def _keys(username: str, address: str | None) -> dict[str, str]:
    keys = {"account": (username or "")[:64]}
    if address:
        keys["address"] = address
    return keys


def retry_after(db: sqlite3.Connection, username: str, address: str | None,
                now: datetime | None = None) -> int | None:
    """Seconds until a sign-in as ``username`` from ``address`` may be tried again; None if it may now."""
    now = now or datetime.now(UTC)
    since = to_iso(now - WINDOW)
    waits = []
    for kind, key in _keys(username, address).items():
        limit = LIMITS[kind]
        times = [r[0] for r in db.execute(
            "SELECT at FROM login_failures WHERE kind = ? AND key = ? AND at > ? ORDER BY at DESC LIMIT ?",
            (kind, key, since, limit))]
        if len(times) >= limit:  # free again when the oldest of the last `limit` leaves the window
            waits.append((from_iso(times[-1]) + WINDOW - now).total_seconds())
    return max(1, math.ceil(max(waits))) if waits else None


def record_failure(db: sqlite3.Connection, username: str, address: str | None) -> None:
    """Count a failed sign-in against the account and the address; forget every failure older than WINDOW
    (so the table holds one window's failures, however many names and addresses were tried)."""
    now = datetime.now(UTC)
    with transaction(db):
        db.execute("DELETE FROM login_failures WHERE at <= ?", (to_iso(now - WINDOW),))
        for kind, key in _keys(username, address).items():
            db.execute("INSERT INTO login_failures (kind, key, at) VALUES (?, ?, ?)", (kind, key, to_iso(now)))


def forget_account(db: sqlite3.Connection, username: str) -> None:
    """A right password: the account's earlier failures no longer count."""
    db.execute("DELETE FROM login_failures WHERE kind = 'account' AND key = ?", (_keys(username, None)["account"],))
