"""The daily byte budget per host: how much the archive may capture from one host per UTC day.

Each stored capture adds its bytes to ``host_bytes(host, day)`` with one UPSERT; a submission
for a host already at or over ``HOST_DAILY_BYTES`` today is refused until the next UTC midnight.
The host is the submitted URL's host name (as watches key it), so every capture of a site's
pages counts against that site, whatever third-party resources the pages pulled in.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def utc_day(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d")


def next_reset(now: datetime | None = None) -> datetime:
    """The next UTC midnight, when every host's budget starts again."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


@dataclass
class OverBudget(Exception):
    """A host has used up today's bytes; ``str()`` says which, how much, and when it resets."""

    host: str
    used: int
    limit: int
    resets_at: datetime

    def __str__(self) -> str:
        return (f"{self.host} has used up today's capture budget ({self.used:,} of {self.limit:,} bytes, "
                f"HOST_DAILY_BYTES); it resets at {self.resets_at:%Y-%m-%d %H:%M} UTC. Submit it again then.")

    def retry_after(self, now: datetime | None = None) -> int:
        """Whole seconds until the reset (at least 1), for a Retry-After header."""
        return max(1, int((self.resets_at - (now or datetime.now(UTC))).total_seconds()) + 1)


def add_bytes(db: sqlite3.Connection, host: str, nbytes: int | None, now: datetime | None = None) -> None:
    """Count ``nbytes`` captured from ``host`` today."""
    if not host or not nbytes:
        return
    db.execute("INSERT INTO host_bytes (host, day, bytes) VALUES (?, ?, ?)"
               " ON CONFLICT (host, day) DO UPDATE SET bytes = host_bytes.bytes + excluded.bytes",
               (host.lower(), utc_day(now), int(nbytes)))


def bytes_today(db: sqlite3.Connection, host: str, now: datetime | None = None) -> int:
    row = db.execute("SELECT bytes FROM host_bytes WHERE host = ? AND day = ?",
                     (host.lower(), utc_day(now))).fetchone()
    return row[0] if row else 0


def check_budget(db: sqlite3.Connection, url: str, limit: int, now: datetime | None = None) -> None:
    """Raise OverBudget if ``url``'s host is at or over ``limit`` bytes today."""
    host = host_of(url)
    used = bytes_today(db, host, now)
    if used >= limit:
        raise OverBudget(host, used, limit, next_reset(now))


__all__ = ["OverBudget", "add_bytes", "bytes_today", "check_budget", "host_of", "next_reset", "utc_day"]
