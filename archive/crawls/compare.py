"""Two crawls of one site compared: what the later one shows the site lost.

For every page the earlier crawl captured (and found available), its capture in the later crawl:

``removed``    the later capture's outcome is a removal one other than ``changed`` (404/410, 451,
               a redirect to the home page or a notice, a blockpage, withheld, unreachable): the
               outcome classification every capture gets (``detect.classify``);
``changed``    available, but its main text's similarity to the earlier capture's is below
               ``CHANGE_THRESHOLD`` (``detect.textdiff.similarity``, as a single capture is judged);
``unchanged``  available and similar enough;
``unvisited``  the later crawl did not capture it (stopped by a limit, cancelled, failed).

``added`` are pages available in the later crawl that the earlier did not capture; ``dropped``
pages named in a sitemap or feed of the earlier crawl but in none of the later one, though still
served. Removal events are opened by the captures themselves, as for any capture; rows link to
the event when there is one.
"""
from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

from archive.catalog import get_records, payload_ref
from archive.crawls.frontier import CrawlError, require_crawl
from archive.warc.store import WarcStoreError, read_payload
from detect.outcomes import REMOVAL_OUTCOMES
from detect.textdiff import similarity

KINDS = ("removed", "changed", "unchanged", "added", "dropped", "unvisited")
AVAILABLE = ("ok", "changed")  # a later page judged `changed` against an older capture is still served


def _pages(db: sqlite3.Connection, crawl_id: int) -> dict[str, dict[str, Any]]:
    return {r["url"]: dict(r) for r in db.execute(
        "SELECT u.url, u.listed, u.capture_id, c.outcome, c.status, c.title, c.final_url, c.permalink"
        " FROM crawl_urls u JOIN captures c ON c.id = u.capture_id"
        " WHERE u.crawl_id = ? AND u.state = 'captured' ORDER BY u.id", (crawl_id,))}


def capture_text(db: sqlite3.Connection, warc_dir: Path, capture_id: int) -> str:
    refs = get_records(db, capture_id, role="text")
    if not refs:
        return ""
    try:
        return read_payload(warc_dir, payload_ref(db, refs[0])).decode("utf-8", "replace")
    except (OSError, WarcStoreError):
        return ""


def _event(db: sqlite3.Connection, capture_id: int) -> int | None:
    row = db.execute("SELECT id FROM removal_events WHERE after_capture_id = ? OR evidence_capture_id = ?"
                     " ORDER BY id LIMIT 1", (capture_id, capture_id)).fetchone()
    return row[0] if row else None


def compare(db: sqlite3.Connection, warc_dir: Path, earlier_id: int, later_id: int,
            threshold: float) -> dict[str, Any]:
    """The comparison of crawl ``earlier_id`` with crawl ``later_id`` (see the module doc)."""
    if earlier_id == later_id:
        raise CrawlError("compare two different crawls: EARLIER and LATER are the same")
    earlier, later = require_crawl(db, earlier_id), require_crawl(db, later_id)
    if earlier["created_at"] > later["created_at"]:
        raise CrawlError(f"crawl {earlier_id} was made after crawl {later_id}: give the earlier one first")
    before, after = _pages(db, earlier_id), _pages(db, later_id)
    rows: list[dict[str, Any]] = []
    for url, old in before.items():
        if old["outcome"] not in AVAILABLE:
            continue  # already gone in the earlier crawl: nothing to lose
        new = after.get(url)
        row = {"url": url, "title": old["title"], "earlier_capture": old["capture_id"],
               "later_capture": new["capture_id"] if new else None,
               "earlier_outcome": old["outcome"], "later_outcome": new["outcome"] if new else None,
               "similarity": None, "event": None}
        if new is None:
            row["kind"] = "unvisited"
        elif new["outcome"] in REMOVAL_OUTCOMES and new["outcome"] != "changed":
            row["kind"] = "removed"
            row["event"] = _event(db, new["capture_id"])
        else:
            score = similarity(capture_text(db, warc_dir, old["capture_id"]),
                               capture_text(db, warc_dir, new["capture_id"]))
            row["similarity"] = round(score, 4)
            row["kind"] = "changed" if score < threshold or new["outcome"] not in AVAILABLE else "unchanged"
            if row["kind"] == "changed":
                row["event"] = _event(db, new["capture_id"])
            elif old["listed"] and not new["listed"]:
                row["kind"] = "dropped"
        rows.append(row)
    for url, new in after.items():
        old = before.get(url)
        if new["outcome"] in AVAILABLE and (old is None or old["outcome"] not in AVAILABLE):
            rows.append({"url": url, "title": new["title"], "earlier_capture": old["capture_id"] if old else None,
                         "later_capture": new["capture_id"], "earlier_outcome": old["outcome"] if old else None,
                         "later_outcome": new["outcome"], "similarity": None, "event": None, "kind": "added"})
    counts = {kind: sum(1 for r in rows if r["kind"] == kind) for kind in KINDS}
    return {"earlier": earlier_id, "later": later_id, "threshold": threshold,
            "removed": [r["url"] for r in rows if r["kind"] == "removed"],
            "changed": [r["url"] for r in rows if r["kind"] == "changed"],
            "added": [r["url"] for r in rows if r["kind"] == "added"],
            "dropped": [r["url"] for r in rows if r["kind"] == "dropped"],
            "unvisited": [r["url"] for r in rows if r["kind"] == "unvisited"],
            "unchanged": counts["unchanged"], "counts": counts, "rows": rows}


CSV_FIELDS = ("kind", "url", "title", "earlier_capture", "later_capture", "earlier_outcome", "later_outcome",
              "similarity", "event")


def to_csv(result: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in result["rows"]:
        writer.writerow(row)
    return out.getvalue()


__all__ = ["CSV_FIELDS", "KINDS", "capture_text", "compare", "to_csv"]
