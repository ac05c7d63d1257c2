"""The country a capture was made from, kept with the capture.

The vantage's country is written into each capture's WARC provenance record and its catalog row
at capture time. Settings may later rename a vantage, move it or drop it; history must not follow,
so every reader takes the stored country, never today's settings. Rows from before the catalog
kept it are filled once from their provenance record or, failing that, today's settings.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from archive.catalog import get_records
from archive.removals.events import CountryOf
from archive.warc.store import WarcStoreError, read_payload

log = logging.getLogger("archive.countries")


def provenance_country(provenance: dict[str, Any] | None) -> str | None:
    """The vantage's country named in a capture's provenance record (None for direct)."""
    vantage = (provenance or {}).get("vantage")
    country = vantage.get("country") if isinstance(vantage, dict) else None
    return country.upper() if isinstance(country, str) and country else None


def recorded_country(db: sqlite3.Connection, warc_dir: Path, capture_id: int) -> str | None:
    """The country in capture ``capture_id``'s WARC provenance record; None if none is readable."""
    for ref in get_records(db, capture_id, role="provenance"):
        try:
            return provenance_country(json.loads(read_payload(warc_dir, ref)))
        except (OSError, WarcStoreError, ValueError) as exc:
            log.warning("cannot read the provenance of capture %s: %s", capture_id, exc)
    return None


def fill_vantage_countries(db: sqlite3.Connection, warc_dir: Path, country_of: CountryOf) -> int:
    """Give captures made through a vantage before the catalog kept its country that country:
    from their provenance record, else from today's settings. Returns how many were filled."""
    rows = db.execute("SELECT id, vantage FROM captures WHERE vantage != 'direct' AND vantage_country IS NULL"
                      ).fetchall()
    filled = 0
    for row in rows:
        country = recorded_country(db, warc_dir, row["id"]) or country_of(row["vantage"])
        if country:
            db.execute("UPDATE captures SET vantage_country = ? WHERE id = ?", (country, row["id"]))
            filled += 1
    return filled
