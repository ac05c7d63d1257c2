"""The audit log: who did what to which record, and when.

``record`` only inserts, so a caller that holds a transaction gets the entry
committed (or rolled back) together with the change it describes.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from archive.catalog import utcnow


def record(db: sqlite3.Connection, user_id: int | None, action: str, target: str,
           detail: dict[str, Any] | None = None) -> int:
    """Log ``action`` (e.g. ``takedown.create``) on ``target`` (e.g. ``takedown:7``) by ``user_id``."""
    cur = db.execute("INSERT INTO audit_log (at, user_id, action, target, detail) VALUES (?, ?, ?, ?, ?) RETURNING id",
                     (utcnow(), user_id, action, target, json.dumps(detail or {}, ensure_ascii=False,
                                                                     sort_keys=True, default=str)))
    return cur.fetchone()[0]


def list_entries(db: sqlite3.Connection, target: str | None = None, limit: int = 100,
                 offset: int = 0) -> list[dict[str, Any]]:
    """Newest entries first (skipping ``offset``), optionally only those about ``target``; ``detail`` decoded,
    user names joined."""
    sql = ("SELECT a.id, a.at, a.user_id, u.username, a.action, a.target, a.detail"
           " FROM audit_log a LEFT JOIN users u ON u.id = a.user_id")
    args: tuple = ()
    if target is not None:
        sql += " WHERE a.target = ?"
        args = (target,)
    rows = db.execute(sql + " ORDER BY a.id DESC LIMIT ? OFFSET ?", (*args, limit, offset))
    return [dict(r) | {"detail": json.loads(r["detail"])} for r in rows]
