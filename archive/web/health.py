"""`GET /healthz`: whether this process can take, run and serve captures.

For a load balancer or a supervisor, and for a person wondering why a job stays queued. JSON with
the catalog, the search index, the in-process worker and scheduler (`serve` starts them; with
`--no-worker` they run elsewhere and are not counted) and the queue: 200 when all are well, 503
otherwise.
"""
from __future__ import annotations

import sqlite3

from flask import Blueprint, current_app, jsonify

from archive.capturing import jobs
from archive.web.db import get_db, get_search

bp = Blueprint("health", __name__)

# app.extensions key: {"worker": Supervised, "scheduler": Supervised}, set by `serve`.
BACKGROUND = "archive.background"


@bp.get("/healthz")
def healthz():
    """Catalog, index, background threads and queue, each with what is wrong if anything is."""
    body: dict = {}
    try:
        db = get_db()
        body["queue"] = jobs.queue_state(db)
        body["catalog"] = {"ok": True}
    except sqlite3.Error as exc:
        body["queue"] = None
        body["catalog"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        body["index"] = {"ok": True, "documents": get_search().count()}
    except Exception as exc:  # any engine's failure is the answer here, not a 500
        body["index"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    background = current_app.extensions.get(BACKGROUND, {})
    for name in ("worker", "scheduler"):
        thread = background.get(name)
        body[name] = thread.status() if thread is not None else {"alive": None, "in_this_process": False}
    healthy = (body["catalog"]["ok"] and body["index"]["ok"]
               and all(thread.running for thread in background.values()))
    response = jsonify({"ok": healthy, **body})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
