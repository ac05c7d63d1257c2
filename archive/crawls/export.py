"""A crawl as one package: its summary, and a WACZ of every page it captured.

The WACZ is the single-capture export (``archive.warc.wacz.write_wacz``) given every capture of
the crawl: one WARC per page, the CDXJ index, ``pages/pages.jsonl`` with each page's title and
text. It is written record by record to a file (or a temporary file streamed to the client), never
built in memory.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from archive.crawls.frontier import progress, require_crawl
from archive.warc.wacz import Progress, WaczError, export_wacz, write_wacz


def capture_ids(db: sqlite3.Connection, crawl_id: int) -> list[int]:
    return [r[0] for r in db.execute("SELECT capture_id FROM crawl_urls WHERE crawl_id = ? AND state = 'captured'"
                                     " AND capture_id IS NOT NULL ORDER BY id", (crawl_id,))]


def summary(db: sqlite3.Connection, crawl_id: int) -> dict[str, Any]:
    """Seeds, scope, limits, counts by frontier state, by outcome and by reason skipped, bytes, duration."""
    crawl = require_crawl(db, crawl_id)
    state = progress(db, crawl_id)
    reasons = {}
    for reason, n in db.execute("SELECT reason, count(*) FROM crawl_urls WHERE crawl_id = ? AND state IN"
                                " ('skipped', 'failed') GROUP BY reason ORDER BY count(*) DESC LIMIT 50", (crawl_id,)):
        reasons[_reason_kind(reason)] = reasons.get(_reason_kind(reason), 0) + n
    return {"id": crawl_id, "name": crawl["name"], "state": crawl["state"], "stop_reason": crawl["stop_reason"],
            "seeds": crawl["seeds"], "scope": crawl["scope"], "include": crawl["include_re"],
            "exclude": crawl["exclude_re"],
            "limits": {k: crawl[k] for k in ("max_depth", "max_pages", "max_bytes", "max_seconds")},
            "politeness": {"host_delay": crawl["host_delay"], "host_concurrency": crawl["host_concurrency"],
                           "robots_txt": f"ignored: {crawl['robots_reason']}" if crawl["ignore_robots"] else "obeyed"},
            "vantage": crawl["vantage"], "previous_crawl": crawl["previous_crawl_id"],
            "created_at": crawl["created_at"], "started_at": crawl["started_at"], "finished_at": crawl["finished_at"],
            "duration_seconds": state["seconds"], "pages": state["pages"], "bytes": state["bytes"],
            "by_state": state["by_state"], "outcomes": state["outcomes"], "not_captured_because": reasons}


def _reason_kind(reason: str | None) -> str:
    """A reason without its particulars (``out of scope: host x.org`` -> ``out of scope``)."""
    return (reason or "unknown").split(":", 1)[0]


def describe(info: dict[str, Any]) -> str:
    outcomes = ", ".join(f"{k or 'unjudged'} {v}"
                         for k, v in sorted(info["outcomes"].items(), key=lambda kv: str(kv[0])))
    return (f"Crawl {info['id']} ({info['name']}): seeds {', '.join(info['seeds'])}; scope {info['scope']}; "
            f"{info['pages']} page(s) ({outcomes}); {info['bytes']} bytes; {info['duration_seconds']:.0f} s; "
            f"{info['state']}{' (' + info['stop_reason'] + ')' if info['stop_reason'] else ''}")


def write_crawl_wacz(out, db: sqlite3.Connection, warc_dir: Path, crawl_id: int,
                     progress_cb: Progress | None = None) -> dict[str, Any]:
    """The crawl's WACZ into ``out`` (a seekable binary file); WaczError if it captured nothing."""
    info = summary(db, crawl_id)
    ids = capture_ids(db, crawl_id)
    if not ids:
        raise WaczError(f"crawl {crawl_id} has captured no page yet: nothing to package")
    return write_wacz(out, db, warc_dir, ids, title=f"Crawl {crawl_id}: {info['name']}", description=describe(info),
                      progress=progress_cb)


def export_crawl(db: sqlite3.Connection, warc_dir: Path, crawl_id: int, path: Path,
                 progress_cb: Progress | None = None) -> dict[str, Any]:
    """The crawl's WACZ at ``path`` (appears only once whole)."""
    info = summary(db, crawl_id)
    ids = capture_ids(db, crawl_id)
    if not ids:
        raise WaczError(f"crawl {crawl_id} has captured no page yet: nothing to package")
    return export_wacz(db, warc_dir, ids, path, title=f"Crawl {crawl_id}: {info['name']}", progress=progress_cb,
                       description=describe(info))


__all__ = ["capture_ids", "describe", "export_crawl", "summary", "write_crawl_wacz"]
