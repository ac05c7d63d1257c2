"""The CDX API (``/cdx``) and the Wayback availability API (``/api/available``), for scripts.

Both read public captures only. See archive/lookup/cdx.py for the CDX query language.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from archive.lookup import mementos
from archive.lookup.cdx import CdxError, parse_query
from archive.lookup.cdx import run as run_cdx
from archive.warc.objects import warc_store
from archive.web.db import get_db, get_settings
from archive.web.errors import error_response
from archive.web.memento import absolute, memento_path, to_original

bp = Blueprint("cdx", __name__)


def _error(message: str, as_json: bool) -> Response:
    # Scripts read these: the API's JSON error or plain text, as they asked; never an HTML page.
    if as_json:
        return error_response(400, message)
    return Response(f"error: {message}\n", 400, mimetype="text/plain")


@bp.get("/cdx")
def cdx() -> Response:
    """CDX lines for ``url`` (see archive/lookup/cdx.py): space-separated, or a JSON array with ``output=json``."""
    as_json = request.args.get("output", "").strip() == "json"
    try:
        query = parse_query(request.args, request.args.getlist("filter"))
    except CdxError as exc:
        return _error(str(exc), as_json)
    lines = run_cdx(get_db(), query, warc_store(get_settings()))
    if query.output == "json":
        return jsonify([list(query.fields), *lines] if lines else [])
    return Response("".join(" ".join(line) + "\n" for line in lines), mimetype="text/plain")


@bp.get("/api/available")
def available() -> Response:
    """The capture nearest ``timestamp`` (default: the latest), in the Wayback availability API's shape."""
    url = request.args.get("url", "").strip()
    if not url:
        abort(400, "url is required, e.g. /api/available?url=example.com&timestamp=20240418")
    stamp = request.args.get("timestamp", "").strip()
    try:
        when = mementos.parse_timestamp(stamp, upper=True) if stamp else None  # padded as /web/ pads
    except mementos.BadTimestamp as exc:
        abort(400, f"timestamp: {exc}")
    original = to_original(url)
    db = get_db()
    capture = mementos.nearest(db, original, when) if when else mementos.latest(db, original)
    snapshots = {}
    if capture is not None:
        snapshots["closest"] = {
            "available": True,
            "url": absolute(memento_path(capture)),
            "timestamp": mementos.timestamp(capture["captured_at"]),
            "status": str(capture["status"]) if capture["status"] is not None else None,
            "outcome": capture["outcome"],
            "permalink": absolute(f"/p/{capture['permalink']}"),
        }
    return jsonify(url=url, archived_snapshots=snapshots)
