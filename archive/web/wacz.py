"""WACZ downloads: a capture packaged with its index, pages and hashes."""
from __future__ import annotations

import tempfile
from typing import Any

from flask import Blueprint, Response, request, url_for
from werkzeug.wsgi import wrap_file

from archive.catalog import get_records
from archive.lookup.present import citation
from archive.warc.objects import warc_store
from archive.warc.store import hex_digest
from archive.warc.wacz import MEDIA_TYPE, wacz_name, warc_layout, warc_name, write_wacz
from archive.web.db import capture_or_404, get_db, get_settings
from archive.web.security import SANDBOX_CSP

bp = Blueprint("wacz", __name__)


@bp.app_template_global()
def offline_check(capture: dict[str, Any]) -> dict[str, Any]:
    """What the record page's "verify offline" section names: the files, and the record holding the page.

    The page's payload is in its ``response`` record, or for a revisit in the original the revisit
    refers to, which the WARC download carries after the capture's own records.
    """
    layout = warc_layout(get_records(get_db(), capture["id"], with_originals=True), warc_store(get_settings()))
    facts: dict[str, Any] = {"warc": warc_name(capture), "wacz": wacz_name(capture), "page": None}
    main = next((ref for ref, _ in layout if ref.role == "main"), None)
    if main is None:
        return facts
    wanted = main.refers_to if main.record_type == "revisit" else main.record_id
    for ref, offset in layout:
        if ref.record_id == wanted and ref.record_type != "revisit":
            facts.update(page=ref, offset=offset, revisit=main if main is not ref else None,
                         payload_hex=hex_digest(ref.payload_digest))
            break
    return facts


@bp.get("/capture/<int:capture_id>/wacz")
def capture_wacz(capture_id: int) -> Response:
    """The capture as a WACZ 1.1.1 package, built to a temporary file and streamed from it."""
    capture = capture_or_404(capture_id)
    db = get_db()
    settings = get_settings()
    record_url = url_for("captures.record", capture_id=capture_id, _external=True)
    package = tempfile.TemporaryFile()
    try:
        # Built whole before the first byte goes out, so unreadable records are an error page.
        write_wacz(package, db, warc_store(settings), [capture_id],
                   description=citation(capture, record_url, settings.archive_name))
        size = package.tell()
        package.seek(0)
    except BaseException:
        package.close()
        raise
    response = Response(wrap_file(request.environ, package), mimetype=MEDIA_TYPE, direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{wacz_name(capture)}"'
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Security-Policy"] = SANDBOX_CSP
    return response
