"""Staff moderation: taking a capture out of public view (private, or removed by us) and back.

A non-public capture stays in the catalog and its WARC files (the evidence is kept), but the
public gets 403 (private) or 410 (removed by us) with the reason instead of it, it leaves the
search index and the removal lists, and staff still see it. Every change is audit-logged in the
same transaction as the change itself. Who may see what is decided by the one rule in
``archive.catalog`` (``visible_sql``, ``is_visible``), which every reader of captures goes through.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from archive.capturing.indexing import index_doc
from archive.catalog import get_capture, get_records, set_indexed, transaction
from archive.removals.events import CountryOf
from archive.staff import audit
from archive.warc.store import read_payload
from search import IndexDoc

VISIBILITIES = ("public", "private", "removed")
# What the public is told, per visibility: the HTTP status and the sentence before the reason.
STATUS = {"private": 403, "removed": 410}
HEADLINES = {"private": "This capture has been made private by the archive's staff.",
             "removed": "This capture has been removed from the archive's public record by its staff."}
# A fixed list, so withdrawals can be counted by cause; the note says the rest.
REASONS = {"personal_data": "Personal data", "legal": "Legal", "error": "Captured in error", "other": "Other"}
MAX_NOTE = 500
# The replay origin never sees the app's session cookie (another host name), so a staff member's
# record page hands it a signed, short-lived pass for that one capture instead.
PASS_SECONDS = 3600


class ModerationError(ValueError):
    """A visibility change that cannot be made as asked; the message says why and what to do."""


def compose_reason(code: str, note: str = "") -> str:
    """The reason shown to the public: the fixed reason's label, then the staff's note."""
    if code not in REASONS:
        raise ModerationError(f"reason {code!r} is not one of {', '.join(REASONS)}; choose one of them")
    note = " ".join((note or "").split())
    if len(note) > MAX_NOTE:
        raise ModerationError(f"the note is {len(note)} characters long; keep it to {MAX_NOTE}")
    if code == "other" and not note:
        raise ModerationError("the reason is 'other': say what it is in the note")
    return f"{REASONS[code]}: {note}" if note else REASONS[code]


def withheld_message(capture: dict[str, Any]) -> str:
    """The sentence the public gets instead of a non-public capture."""
    headline = HEADLINES.get(capture["visibility"], HEADLINES["private"])
    reason = capture.get("visibility_reason")
    return f"{headline} Reason: {reason}." if reason else headline


def _index_doc(db: sqlite3.Connection, warc_dir: Path, capture: dict[str, Any],
               country_of: CountryOf | None) -> IndexDoc | None:
    """The capture's search document, as the worker indexes it; None if it has no text record."""
    refs = get_records(db, capture["id"], role="text")
    if not refs:
        return None
    return index_doc(db, capture, read_payload(warc_dir, refs[0]).decode("utf-8", errors="replace"), country_of)


def set_visibility(db: sqlite3.Connection, backend, capture_id: int, visibility: str, reason: str | None,
                   user_id: int | None, *, warc_dir: Path | None = None,
                   country_of: CountryOf | None = None) -> dict[str, Any]:
    """Make capture ``capture_id`` public, private or removed; return its updated row.

    Hiding removes it from ``backend``'s index *before* the change is committed, so a failure never
    leaves non-public text searchable; making it public again commits first, then re-indexes it from its
    WARC text record (``warc_dir``; ``country_of`` names vantages' countries for the index's country
    facet, as the worker does). Raises ModerationError (nothing changed) for bad input.
    """
    if visibility not in VISIBILITIES:
        raise ModerationError(f"visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}")
    reason = " ".join((reason or "").split()) or None
    if visibility != "public" and not reason:
        raise ModerationError(f"say why the capture is made {visibility}: a reason is required")
    if visibility == "public" and warc_dir is None and backend is not None:
        raise ModerationError("warc_dir is needed to put the capture back into the search index")
    capture = get_capture(db, capture_id)
    if capture is None:
        raise ModerationError(f"there is no capture {capture_id}")
    before = capture["visibility"]
    with transaction(db):
        db.execute("UPDATE captures SET visibility = ?, visibility_reason = ? WHERE id = ?",
                   (visibility, None if visibility == "public" else reason, capture_id))
        audit.record(db, user_id, f"capture.{'publish' if visibility == 'public' else visibility}",
                     f"capture:{capture_id}", {"from": before, "to": visibility, "reason": reason})
        if visibility != "public":
            # indexed = 0 also keeps store.reindex_removed from putting it back.
            set_indexed(db, capture_id, False)
            if backend is not None:
                backend.delete([str(capture_id)])
    capture = get_capture(db, capture_id)
    if visibility == "public" and backend is not None:
        doc = _index_doc(db, warc_dir, capture, country_of)
        if doc is not None:
            backend.add([doc])
            set_indexed(db, capture_id)
    return capture


def replay_pass(key: str, capture_id: int) -> str:
    """A pass letting the replay origin serve non-public capture ``capture_id`` for ``PASS_SECONDS``."""
    return URLSafeTimedSerializer(key, salt="replay-pass").dumps(capture_id)


def pass_allows(key: str, capture_id: int, token: str | None) -> bool:
    """Whether ``token`` is an unexpired pass, signed with ``key``, for exactly this capture."""
    if not token:
        return False
    try:
        return URLSafeTimedSerializer(key, salt="replay-pass").loads(token, max_age=PASS_SECONDS) == capture_id
    except BadSignature:  # also SignatureExpired
        return False
