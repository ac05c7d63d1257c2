"""Record pages: what was captured, when, with which digests, and how to cite it."""
from __future__ import annotations

import itertools
import re
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from archive.catalog import RecordRef, get_records, is_visible, to_utc
from archive.lookup.citations import citations, facts_of
from archive.lookup.present import citation
from archive.removals.reports import load_evidence, orders_for_url
from archive.staff.moderation import replay_pass
from archive.warc.objects import warc_store
from archive.warc.store import capture_warc, export_length, read_payload
from archive.web.db import capture_or_404, get_db, get_settings
from archive.web.security import SANDBOX_CSP, allow_own_scripts

bp = Blueprint("captures", __name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Captures never change, but staff may later withdraw one from public view,
# so caches keep a screenshot for a day rather than for ever.
SCREENSHOT_CACHE = "public, max-age=86400"


def paragraphs(text: str) -> list[str]:
    """Extracted text split into paragraphs: blank lines if it has any, else lines."""
    text = text.replace("\r\n", "\n").strip()
    blocks = re.split(r"\n\s*\n", text) if re.search(r"\n\s*\n", text) else text.split("\n")
    return [b.strip() for b in blocks if b.strip()]


def main_text(refs: list[RecordRef]) -> list[str]:
    for ref in refs:
        if ref.role == "text":
            return paragraphs(read_payload(warc_store(get_settings()), ref).decode("utf-8", "replace"))
    return []


@bp.get("/capture/<int:capture_id>")
def record(capture_id: int) -> Response:
    """The record page: screenshot, times, status, digests, text, WARC records and citation."""
    capture = capture_or_404(capture_id)
    refs = get_records(get_db(), capture_id)
    record_url = url_for("captures.record", capture_id=capture_id, _external=True)
    settings = get_settings()
    cite = facts_of(capture, settings.archive_url or request.url_root, settings.archive_name)
    page = render_template(
        "capture.html", capture=capture, records=refs, text=main_text(refs),
        has_screenshot=any(r.role == "screenshot" for r in refs), record_url=record_url,
        evidence=load_evidence(capture.get("evidence")), takedowns=orders_for_url(get_db(), capture["url"]),
        citation=citation(capture, record_url, settings.archive_name),
        permalink=cite.link, citations=citations(cite),
        # Only staff get here for a non-public capture; the replay origin needs its own proof of that.
        replay_query="" if is_visible(capture)
        else "?" + urlencode({"pass": replay_pass(current_app.secret_key, capture_id)}))
    return allow_own_scripts(Response(page, mimetype="text/html"))  # copy.js: the citation copy buttons


@bp.get("/capture/<int:capture_id>/screenshot.png")
def screenshot(capture_id: int) -> Response:
    """The screenshot our browser took of the page, as a PNG."""
    capture_or_404(capture_id)
    refs = get_records(get_db(), capture_id, role="screenshot")
    if not refs:
        abort(404, f"Capture {capture_id} has no screenshot.")
    data = read_payload(warc_store(get_settings()), refs[0])
    if not data.startswith(PNG_SIGNATURE):
        # Never label bytes image/png that are not: they might be anything.
        abort(404, f"Capture {capture_id} has no PNG screenshot.")
    response = Response(data, mimetype="image/png")
    response.headers["Cache-Control"] = SCREENSHOT_CACHE
    response.headers["Content-Security-Policy"] = SANDBOX_CSP
    response.set_etag(refs[0].block_digest or refs[0].record_id)
    return response.make_conditional(request)


@bp.get("/capture/<int:capture_id>/warc")
def warc(capture_id: int) -> Response:
    """The capture as a standalone .warc.gz, byte for byte as archived, to verify offline.

    The records its revisits refer to come last, so the file holds every payload.
    """
    capture = capture_or_404(capture_id)
    refs = get_records(get_db(), capture_id, with_originals=True)
    if not refs:
        abort(404, f"Capture {capture_id} has no WARC records.")
    unique = {(r.warc_file, r.offset): export_length(warc_store(get_settings()), r) for r in refs}
    chunks = capture_warc(warc_store(get_settings()), refs)
    # Read the first record now, so a missing file is an error page rather
    # than a download cut off after its headers were sent.
    first = next(chunks)
    stamp = f"{to_utc(capture['captured_at']):%Y%m%d%H%M%S}"
    response = Response(itertools.chain([first], chunks), mimetype="application/warc")
    response.headers["Content-Disposition"] = f'attachment; filename="capture-{capture_id}-{stamp}.warc.gz"'
    response.headers["Content-Length"] = str(sum(unique.values()))
    response.headers["Content-Security-Policy"] = SANDBOX_CSP
    return response
