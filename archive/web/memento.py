"""Memento (RFC 7089): a TimeGate and TimeMaps per original URL, and Memento headers on every memento.

A memento (URI-M) is a capture's page: ``/web/<14-digit timestamp>/<original URL>`` (the form the
TimeGate and TimeMaps link to) and ``/capture/<id>``. Both carry ``Memento-Datetime`` and a ``Link``
header naming the original, the TimeGate, the TimeMap and the first, last, previous and next mementos.
Absolute links start with ``ARCHIVE_URL`` when it is set, else with the request's own host URL.
"""
from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, abort, jsonify, request

from archive.catalog import from_iso, get_capture, is_visible, iso_utc
from archive.lookup import mementos
from archive.web.db import get_db, get_settings
from crawler.netpolicy import URLRejected

bp = Blueprint("memento", __name__)

LINK_FORMAT = "application/link-format"


def absolute(path: str) -> str:
    """``path`` on this archive as an absolute URL: ARCHIVE_URL when set, else the request's host URL."""
    base = (get_settings().archive_url or request.host_url).rstrip("/")
    return base + path


def header_uri(url: str) -> str:
    """``url`` safe inside ``<...>`` in a header: ASCII, no spaces or angle brackets."""
    return quote(url, safe=mementos.URI_SAFE)


def memento_path(capture: dict[str, Any]) -> str:
    return f"/web/{mementos.timestamp(capture['captured_at'])}/{header_uri(capture['url'])}"


def http_date(captured_at: str) -> str:
    """A catalog time as an RFC 1123 date, the form of Memento-Datetime."""
    return format_datetime(from_iso(captured_at).replace(microsecond=0), usegmt=True)


def raw_target(prefix_segments: int) -> str:
    """What follows the first ``prefix_segments`` path segments in the raw request line, query string included.

    Read from the raw request line, not the decoded path, so percent-escapes stay as the URL had them.
    """
    raw = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or request.full_path.rstrip("?")
    if not raw.startswith("/"):  # an absolute-form request line (through a proxy)
        parts = urlsplit(raw)
        raw = parts.path + (f"?{parts.query}" if parts.query else "")
    parts = raw.split("/", prefix_segments + 1)
    return parts[-1] if len(parts) == prefix_segments + 2 else ""


def to_original(target: str) -> str:
    """``target`` (from a path) as a normalised original URL; 400 naming the problem if it is none.

    A scheme whose ``//`` a proxy merged into one slash is repaired; no scheme means http (either
    scheme matches anyway).
    """
    lowered = target.lower()
    for scheme in ("http:/", "https:/"):
        if lowered.startswith(scheme) and not lowered.startswith(scheme + "/"):
            target = target[:len(scheme)] + "/" + target[len(scheme):]
    try:
        return mementos.lookup_url(target, get_settings().max_url_length)
    except URLRejected as exc:
        abort(400, f"{target!r} is not an address the archive can look up: {exc}. "
                   "Put the full original URL after the prefix, e.g. /timegate/https://example.org/page")


def original_url(prefix_segments: int) -> str:
    """The original URL this request's path names after ``prefix_segments`` segments (see to_original)."""
    return to_original(raw_target(prefix_segments))


def link_header(original: str, mementos_by_rel: dict[str, dict[str, Any] | None],
                current: dict[str, Any] | None = None) -> str:
    """An RFC 7089 Link header: the original, TimeGate, TimeMap and the mementos given by relation.

    ``current`` is the memento a TimeGate chose (plain ``rel="memento"``). A memento named by
    several relations (first and prev, say) is one link with all of them.
    """
    links = [f'<{header_uri(original)}>; rel="original"',
             f'<{absolute("/timegate/" + header_uri(original))}>; rel="timegate"',
             f'<{absolute("/timemap/link/" + header_uri(original))}>; rel="timemap"; type="{LINK_FORMAT}"']
    by_id: dict[int, tuple[dict[str, Any], list[str]]] = {}
    if current is not None:
        by_id[current["id"]] = (current, [])
    for rel in ("first", "prev", "next", "last"):
        capture = mementos_by_rel.get(rel)
        if capture is not None:
            by_id.setdefault(capture["id"], (capture, []))[1].append(rel)
    for capture, rels in by_id.values():
        links.append(f'<{absolute(memento_path(capture))}>; rel="{" ".join([*rels, "memento"])}"; '
                     f'datetime="{http_date(capture["captured_at"])}"')
    return ", ".join(links)


def memento_headers(capture: dict[str, Any]) -> dict[str, str]:
    """The headers a memento page carries: Memento-Datetime and its Link header."""
    around = mementos.neighbours(get_db(), capture)
    return {"Memento-Datetime": http_date(capture["captured_at"]),
            "Link": link_header(capture["url"], around)}


@bp.after_app_request
def add_memento_headers(response: Response) -> Response:
    """Record pages (``/capture/<id>``) are mementos too: give them their Memento headers."""
    if request.endpoint == "captures.record" and response.status_code == 200:
        capture = get_capture(get_db(), request.view_args["capture_id"])
        if capture is not None and is_visible(capture):
            response.headers.update(memento_headers(capture))
    return response


def accept_datetime() -> datetime:
    """The request's Accept-Datetime (RFC 1123), or now; 400 if it is not such a date."""
    value = request.headers.get("Accept-Datetime", "").strip()
    if not value:
        return datetime.now(UTC)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        moment = None
    if moment is None or not value.endswith("GMT"):
        abort(400, f"Accept-Datetime {value!r} is not an RFC 1123 date in GMT, "
                   "e.g. Accept-Datetime: Thu, 18 Apr 2024 09:30:15 GMT")
    return moment.astimezone(UTC)


@bp.route("/timegate/<path:target>", merge_slashes=False)
def timegate(target: str) -> Response:
    """RFC 7089 TimeGate: 302 to the memento nearest the Accept-Datetime (default: now)."""
    original = original_url(1)
    when = accept_datetime()
    capture = mementos.nearest(get_db(), original, when)
    headers = {"Vary": "accept-datetime"}
    if capture is None:
        response = Response(f"The archive has no capture of {original}.\n", 404, mimetype="text/plain")
        response.headers.update(headers)
        response.headers["Link"] = link_header(original, {})
        return response
    around = mementos.neighbours(get_db(), capture)
    response = Response("", 302)
    response.headers.update(headers)
    response.headers["Location"] = absolute(memento_path(capture))
    response.headers["Link"] = link_header(original, around, current=capture)
    return response


def _timemap_captures(original: str) -> list[dict[str, Any]]:
    captures = mementos.captures_of(get_db(), original)
    if not captures:
        abort(404, f"The archive has no capture of {original}.")
    return captures


@bp.route("/timemap/link/<path:target>", merge_slashes=False)
def timemap_link(target: str) -> Response:
    """RFC 7089 TimeMap in application/link-format: every public memento of the URL, oldest first."""
    original = original_url(2)
    captures = _timemap_captures(original)
    first, last = captures[0], captures[-1]
    lines = [f'<{header_uri(original)}>; rel="original"',
             f'<{absolute("/timemap/link/" + header_uri(original))}>; rel="self"; type="{LINK_FORMAT}"; '
             f'from="{http_date(first["captured_at"])}"; until="{http_date(last["captured_at"])}"',
             f'<{absolute("/timegate/" + header_uri(original))}>; rel="timegate"']
    for capture in captures:
        rel = " ".join([*(["first"] if capture is first else []), *(["last"] if capture is last else []), "memento"])
        lines.append(f'<{absolute(memento_path(capture))}>; rel="{rel}"; '
                     f'datetime="{http_date(capture["captured_at"])}"')
    return Response(",\n".join(lines) + "\n", mimetype=LINK_FORMAT)


@bp.route("/timemap/json/<path:target>", merge_slashes=False)
def timemap_json(target: str) -> Response:
    """The same TimeMap as JSON, in the Memento aggregator's shape, with each capture's status and outcome."""
    original = original_url(2)
    captures = _timemap_captures(original)

    def entry(capture: dict[str, Any]) -> dict[str, Any]:
        return {"datetime": iso_utc(capture["captured_at"]), "uri": absolute(memento_path(capture)),
                "id": capture["id"], "status": capture["status"], "outcome": capture["outcome"],
                "permalink": absolute(f"/p/{capture['permalink']}")}

    body = {
        "original_uri": original,
        "timegate_uri": absolute("/timegate/" + header_uri(original)),
        "timemap_uri": {"link_format": absolute("/timemap/link/" + header_uri(original)),
                        "json_format": absolute("/timemap/json/" + header_uri(original))},
        "mementos": {"first": entry(captures[0]), "last": entry(captures[-1]),
                     "list": [entry(c) for c in captures]},
    }
    return jsonify(body)
