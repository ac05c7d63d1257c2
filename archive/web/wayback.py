"""Wayback-style links and permalinks: links that last.

``/web/<timestamp>/<original URL>`` (4 to 14 digits; a partial one stands for the end of its period,
as in pywb) answers 302 with the exact address of the public capture nearest that time,
``/web/<14 digits>/<URL>``, which shows that capture's record page (a Memento). ``/web/<URL>``
goes to the latest capture, ``/web/*/<URL>`` lists every capture of the URL and ``/web/*/<prefix>*``
every capture of URLs starting so. ``/p/<code>`` is a capture's short permalink.
"""
from __future__ import annotations

import itertools

from flask import Blueprint, Response, abort, make_response, redirect, render_template, url_for

from archive.catalog import canonical_permalink
from archive.lookup import mementos
from archive.web.captures import record
from archive.web.db import capture_or_404, get_db
from archive.web.memento import (
    absolute,
    header_uri,
    memento_headers,
    memento_path,
    original_url,
    raw_target,
    to_original,
)

bp = Blueprint("wayback", __name__)

LIST_LIMIT = 2000  # most rows one listing page shows; the CDX API pages on


@bp.route("/web/<path:rest>", merge_slashes=False)
def web(rest: str) -> Response | str:
    """A Wayback URL: a timestamp (or ``*``, or nothing) and then the original URL with its query."""
    first = rest.split("/", 1)[0]
    if first == "*":
        return listing(raw_target(2))
    if first.isdigit():
        return at_time(first)
    return at_time(None)


def at_time(ts: str | None) -> Response:
    """The capture nearest ``ts`` (none: now): shown if it was made in that very second, else 302 to its URL."""
    original = original_url(2 if ts else 1)
    try:
        when = mementos.parse_timestamp(ts, upper=True) if ts else None
    except mementos.BadTimestamp as exc:
        abort(400, f"{exc}. Wayback addresses look like /web/20240418093015/https://example.org/page.")
    db = get_db()
    if ts and len(ts) == 14:
        capture = mementos.in_second(db, original, ts)
        if capture is not None and capture["url"] == original:
            return memento_page(capture)
    capture = mementos.nearest(db, original, when) if when else mementos.latest(db, original)
    if capture is None:
        abort(404, f"The archive has no capture of {original}. You can ask for one at /submit.")
    return redirect(absolute(memento_path(capture)), 302)


def memento_page(capture: dict) -> Response:
    """A capture's record page at its Wayback address, with its Memento headers."""
    response = make_response(record(capture["id"]))
    if response.status_code == 200:
        response.headers.update(memento_headers(capture))
    return response


def listing(target: str) -> str:
    """Every capture of a URL by date, or with a trailing ``*`` of every URL that starts so."""
    prefix = target.endswith("*")
    original = to_original(target[:-1] if prefix else target)
    if prefix:
        if "/" not in target[:-1].split("://", 1)[-1]:
            original = original.rstrip("/")  # "example.com*": the host name's prefix, not only its root page
        found = mementos.find_captures(get_db(), original, "prefix")
        rows = list(itertools.islice(found, LIST_LIMIT + 1))
    else:
        rows = mementos.captures_of(get_db(), original, limit=LIST_LIMIT + 1)
    for row in rows:
        row["href"] = memento_path(row)
    return render_template("wayback_list.html", original=original, prefix=prefix,
                           timemap_path="/timemap/link/" + header_uri(original),
                           timemap_json_path="/timemap/json/" + header_uri(original),
                           captures=rows[:LIST_LIMIT], more=len(rows) > LIST_LIMIT, limit=LIST_LIMIT)


@bp.get("/p/<code>")
def permalink(code: str) -> Response:
    """A short permalink: 301 to its canonical lower-case spelling, then 302 to the capture's record page."""
    canonical = canonical_permalink(code)
    if canonical is None:
        abort(404, f"{code!r} is not a permalink of this archive: permalinks are 8 letters and digits.")
    if canonical != code:
        return redirect(url_for("wayback.permalink", code=canonical), 301)
    capture = mementos.by_permalink(get_db(), canonical)
    if capture is None:
        abort(404, f"No capture has the permalink {canonical}.")
    capture_or_404(capture["id"])  # 403 / 410 with the staff's reason unless it is public (or you are staff)
    return redirect(url_for("captures.record", capture_id=capture["id"]), 302)
