"""WACZ downloads: a capture packaged with its index, pages and hashes."""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import IO, Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from werkzeug.wsgi import wrap_file

from archive.catalog import get_records
from archive.evidence.bundle import BundleError, write_bundle
from archive.lookup.present import citation
from archive.warc.objects import warc_store
from archive.warc.signing import MAX_CLOCK_SKEW, SPEC_VERSION, Signer, archive_signer
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
    description = citation(capture, url_for("captures.record", capture_id=capture_id, _external=True),
                           settings.archive_name)
    # Built whole before the first byte goes out, so unreadable records are an error page.
    return send_package(lambda package: write_wacz(package, db, warc_store(settings), [capture_id],
                                                   description=description, signer=app_signer()),
                        wacz_name(capture))


def send_package(write: Callable[[IO[bytes]], None], filename: str,
                 refusals: dict[type[Exception], int] | None = None) -> Response:
    """A package ``write`` builds into a temporary file on disk (never held in memory), streamed from it
    as an attachment: sandboxed like archived content, its length known. An exception of a type in
    ``refusals`` becomes that status with its message; any other closes the file and goes on up."""
    package = tempfile.TemporaryFile()
    try:
        write(package)
        size = package.tell()
        package.seek(0)
    except BaseException as exc:
        package.close()
        for kind, status in (refusals or {}).items():
            if isinstance(exc, kind):
                abort(status, str(exc))
        raise
    response = Response(wrap_file(request.environ, package), mimetype=MEDIA_TYPE, direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Security-Policy"] = SANDBOX_CSP
    return response


def app_signer() -> Signer:
    """The archive's signer, as this app's settings say."""
    return archive_signer(get_settings())


@bp.get("/.well-known/wacz-signing-key.pem")
def signing_key() -> Response:
    """The public key every package this archive exports is signed with (and its certificate chain,
    when it signs for a domain), so anyone can check a package with nothing but the file and this."""
    signer = app_signer()
    response = Response(signer.public_pem() + (signer.domain_cert or ""), mimetype="application/x-pem-file")
    response.headers["Access-Control-Allow-Origin"] = "*"  # other verifiers may fetch it from their pages
    return response


@bp.get("/about/signatures")
def about_signatures() -> str:
    """What our signatures and timestamps are, the key, and how to check a package."""
    signer = app_signer()
    return render_template("signatures.html", signer=signer, key_url=url_for("wacz.signing_key", _external=True),
                           tsa_urls=get_settings().tsa_url, spec_version=SPEC_VERSION, skew=MAX_CLOCK_SKEW)


@bp.get("/api/removals/<int:event_id>/evidence.wacz")
@bp.get("/removals/<int:event_id>/evidence.wacz")  # added first: url_for (the event page's link) gives this one
def removal_bundle(event_id: int) -> Response:
    """A removal's evidence as one signed WACZ (archive/evidence/bundle.py), written to a temporary file
    on disk (never held in memory) and streamed from it."""
    return send_package(lambda package: write_bundle(
        package, get_db(), get_settings(), event_id, signer=app_signer(),
        event_url=url_for("removals.event", event_id=event_id, _external=True)),
        f"removal-{event_id}-evidence.wacz", {BundleError: 404})
