"""One capture submission through the API, as ``POST /api/captures`` and each URL of a bulk
submission take it: check the URL, answer with a recent capture if one was asked for and
exists, refuse a host over today's byte budget, or queue a job.

The result is a status, a JSON body and headers, so a single submission returns it as the
response and a bulk one puts each body (with its status) in its list.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import url_for

from archive.capturing.budget import OverBudget, check_budget
from archive.capturing.jobs import enqueue
from archive.catalog import get_capture, get_records, to_iso, visible_sql
from archive.urlcheck import url_checker
from archive.web.db import get_db, get_settings
from archive.web.removals_api import capture_reply
from crawler.netpolicy import URLRejected


@dataclass
class Submitted:
    status: int
    body: dict[str, Any]  # a job (202), a capture (200), or {"error", "fields"?} as every API error
    headers: dict[str, str] = field(default_factory=dict)


def recent_public_capture(db: sqlite3.Connection, url: str, vantage: str, within_seconds: int) -> dict | None:
    """The newest public capture of ``url`` from ``vantage`` made in the last ``within_seconds``."""
    since = to_iso(datetime.now(UTC) - timedelta(seconds=within_seconds))
    row = db.execute("SELECT id FROM captures WHERE url = ? AND vantage = ? AND captured_at >= ?"
                     f" AND {visible_sql()} ORDER BY captured_at DESC LIMIT 1", (url, vantage, since)).fetchone()
    return None if row is None else get_capture(db, row[0])


def submit_url(url: Any, vantage: str, options: dict[str, Any], token_id: int | None) -> Submitted:
    """Submit one URL (``vantage`` already checked); never raises for bad input."""
    if not isinstance(url, str):
        return _refused(400, "url must be a string.")
    try:
        normalized = url_checker(get_settings())(url)
    except URLRejected as exc:
        return _refused(400, str(exc), fields={"url": [str(exc)]})
    db = get_db()
    within = options.get("if_not_archived_within")
    if within:
        recent = recent_public_capture(db, normalized, vantage, within)
        if recent is not None:
            body = capture_reply(recent, get_records(db, recent["id"]))
            # The body is exactly GET /api/captures/<id>; 200 instead of 202 says nothing was queued.
            return Submitted(200, body, {"Content-Location": body["links"]["self"]})
    try:
        check_budget(db, normalized, get_settings().host_daily_bytes)
    except OverBudget as exc:
        return _refused(429, str(exc), headers={"Retry-After": str(exc.retry_after())})
    wanted = {"capture_outlinks": True} if options.get("capture_outlinks") else {}
    if options.get("ytdlp"):
        wanted["ytdlp"] = options["ytdlp"]
    job_id = enqueue(db, normalized, vantage, options=wanted, token_id=token_id)
    job_link = url_for("api.job", job_id=job_id)
    return Submitted(202, {"job_id": job_id, "status": "queued", "url": normalized, "vantage": vantage,
                           "links": {"job": job_link, "page": url_for("submit.job", job_id=job_id)}},
                     {"Location": job_link})


def bulk_item(given: Any, result: Submitted) -> dict[str, Any]:
    """One URL's line in a bulk reply: the URL as given, ``code`` (the status a single submission
    would have had), and its ``job`` (202), ``capture`` (200) or ``error`` (4xx)."""
    item = {"url": given, "code": result.status}
    if result.status == 202:
        return item | {"job": result.body}
    if result.status == 200:
        return item | {"capture": result.body}
    item["error"] = result.body["error"]
    if "Retry-After" in result.headers:  # no header per URL: say it in the item
        item["retry_after"] = int(result.headers["Retry-After"])
    return item


def _refused(status: int, error: str, headers: dict[str, str] | None = None, **extra: Any) -> Submitted:
    return Submitted(status, {"error": error, **extra}, headers or {})


__all__ = ["Submitted", "bulk_item", "recent_public_capture", "submit_url"]
