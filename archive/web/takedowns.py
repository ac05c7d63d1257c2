"""Takedown orders on the web: the public register, each order with its evidence, and staff forms.

Unpublished orders do not exist for the public (404). The order document is
never rendered here: it is downloaded as an attachment under a sandbox CSP.
The JSON under ``/api/takedowns`` is read-only; orders are entered only through
the staff forms, which a session and a CSRF token authorise.
"""
from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

import pycountry
from flask import Blueprint, Flask, Response, abort, g, jsonify, redirect, render_template, request, url_for

from archive.lookup.mementos import lookup_url
from archive.orders import takedowns as orders
from archive.orders.claims import check_claim
from archive.orders.registers import REGISTER_NAMES
from archive.web.api_schemas import TakedownListArgs
from archive.web.auth import staff_required
from archive.web.db import get_db, get_search, get_settings, is_staff
from archive.web.errors import error_response
from archive.web.removals_api import blocking_json
from archive.web.schemas import load, page_number
from archive.web.security import SANDBOX_CSP
from crawler.netpolicy import URLRejected

bp = Blueprint("takedowns", __name__)

FORM_FIELDS = ("authority", "recipient", "country", "legal_basis", "issued_on", "received_on", "effective_on",
               "action_demanded", "action_reported", "summary", "urls")
UPLOAD_ENDPOINTS = ("takedowns.new", "takedowns.edit")
FORM_OVERHEAD = 1_000_000  # the order's text fields beside its document
PAGE_SIZE = 50
LIST_FILTERS = ("register", "authority", "country")  # what the public list narrows by (the API too)


def country_name(code: str | None) -> str:
    found = pycountry.countries.get(alpha_2=code) if code else None
    return found.name if found else (code or "")


def attachment(filename: str) -> str:
    """A Content-Disposition for a download; names in other scripts (often Russian) per RFC 6266."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'  # documents.safe_filename leaves no quote or backslash
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def init_app(app: Flask) -> None:
    """Let the two upload forms take a document; register this before CSRF, which reads the form."""
    @app.before_request
    def upload_limit() -> None:
        if request.endpoint not in UPLOAD_ENDPOINTS:
            return
        limit = get_settings().takedown_max_document_bytes + FORM_OVERHEAD
        if (request.content_length or 0) > limit:
            abort(413, f"The upload is larger than {limit} bytes; an order's document may be at most "
                       f"{get_settings().takedown_max_document_bytes} bytes (TAKEDOWN_MAX_DOCUMENT_BYTES).")
        request.max_content_length = limit

    app.add_template_filter(country_name)


def _visible(takedown_id: int) -> dict[str, Any]:
    """The order, if this reader may see it: published, or any to signed-in staff."""
    found = orders.get_takedown(get_db(), takedown_id, published_only=g.get("user") is None)
    if found is None:
        abort(404, f"There is no published takedown order {takedown_id}.")
    return found


@bp.get("/takedowns")
def index() -> str:
    """Published takedown orders, most recently issued first (staff also see unpublished ones)."""
    page = page_number(request.args)  # bad input: 400 saying why (errors.handle_invalid)
    args = load(TakedownListArgs(), {k: v for k, v in request.args.items() if k in LIST_FILTERS and v.strip()})
    filters = {k: args[k].strip() for k in LIST_FILTERS if args[k]}
    rows = orders.list_takedowns(get_db(), published_only=g.get("user") is None, limit=PAGE_SIZE + 1,
                                 offset=(page - 1) * PAGE_SIZE, **filters)
    return render_template("takedowns.html", takedowns=rows[:PAGE_SIZE], page=page, more=len(rows) > PAGE_SIZE,
                           filters=filters, registers=REGISTER_NAMES)


@bp.get("/takedowns/<int:takedown_id>")
def detail(takedown_id: int) -> str:
    """An order, its document's digest, and for each targeted URL what captures show."""
    takedown = _visible(takedown_id)
    return render_template("takedown.html", t=takedown, evidence=_evidence(takedown, staff=is_staff()))


def _evidence(takedown: dict[str, Any], staff: bool) -> list[dict[str, Any]]:
    """Per targeted URL what captures show (as the public sees them unless ``staff``), and whether that
    bears out the action the recipient reports."""
    db = get_db()
    return [orders.url_evidence(db, url, staff=staff) | {"claim": check_claim(db, takedown, url).to_json()}
            for url in takedown["urls"]]


@bp.get("/takedowns/<int:takedown_id>/document")
def document(takedown_id: int) -> Response:
    """The order's document as archived, as a download: never shown as a page of this site."""
    takedown = _visible(takedown_id)
    if not takedown["document_warc_file"]:
        abort(404, f"Takedown order {takedown_id} has no archived document.")
    data = orders.read_document(get_settings(), takedown)
    response = Response(data, mimetype=takedown["document_type"])
    response.headers["Content-Disposition"] = attachment(f"takedown-{takedown_id}-{takedown['document_name']}")
    response.headers["Content-Security-Policy"] = SANDBOX_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"  # staff may withdraw an order from view
    return response


def _form_input() -> tuple[dict[str, Any], tuple[str, bytes] | None]:
    data: dict[str, Any] = {k: request.form.get(k, "") for k in FORM_FIELDS}
    data["published"] = request.form.get("published") == "on"
    upload = request.files.get("document")
    document = (upload.filename, upload.read()) if upload is not None and upload.filename else None
    return data, document


def _render_form(takedown: dict[str, Any] | None, values: dict[str, Any], errors: dict[str, list[str]],
                 status: int = 200) -> tuple[str, int]:
    return render_template("takedown_form.html", t=takedown, values=values, errors=errors,
                           actions_demanded=orders.ACTIONS_DEMANDED, actions_reported=orders.ACTIONS_REPORTED), status


@bp.route("/takedowns/new", methods=("GET", "POST"))
@staff_required
def new() -> Response | tuple[str, int]:
    """Enter an order with its document; bad input shows the form again with what to fix."""
    if request.method == "GET":
        return _render_form(None, {"action_reported": "unknown"}, {})
    data, document = _form_input()
    try:
        takedown_id = orders.create_takedown(get_db(), get_settings(), data, document, g.user["id"],
                                             backend=get_search())
    except orders.InvalidTakedown as exc:
        return _render_form(None, data, exc.fields, 400)
    return redirect(url_for("takedowns.detail", takedown_id=takedown_id), 303)


@bp.route("/takedowns/<int:takedown_id>/edit", methods=("GET", "POST"))
@staff_required
def edit(takedown_id: int) -> Response | tuple[str, int]:
    """Correct an order; a new document replaces the one shown (the old one stays in its WARC file)."""
    takedown = orders.get_takedown(get_db(), takedown_id)
    if takedown is None:
        abort(404, f"There is no takedown order {takedown_id}.")
    if request.method == "GET":
        values = {k: takedown[k] or "" for k in FORM_FIELDS if k != "urls"}
        values |= {"urls": "\n".join(takedown["urls"]), "published": bool(takedown["published"])}
        return _render_form(takedown, values, {})
    data, document = _form_input()
    try:
        orders.update_takedown(get_db(), get_settings(), takedown_id, data, document, g.user["id"],
                               backend=get_search())
    except orders.InvalidTakedown as exc:
        return _render_form(takedown, data, exc.fields, 400)
    return redirect(url_for("takedowns.detail", takedown_id=takedown_id), 303)


@bp.post("/takedowns/<int:takedown_id>/publish")
@staff_required
def publish(takedown_id: int) -> Response:
    """Publish (``published=1``) or withdraw (``published=0``) an order."""
    try:
        orders.set_published(get_db(), takedown_id, request.form.get("published") == "1", g.user["id"],
                             settings=get_settings(), backend=get_search())
    except LookupError:
        abort(404, f"There is no takedown order {takedown_id}.")
    return redirect(url_for("takedowns.detail", takedown_id=takedown_id), 303)


def takedown_json(t: dict[str, Any], evidence: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An order as the API gives it; with ``evidence``, each URL's latest capture and removal events."""
    doc = None
    if t["document_warc_file"]:
        doc = {"name": t["document_name"], "content_type": t["document_type"], "sha256": t["document_sha256"],
               "record_id": t["document_record_id"], "warc_file": t["document_warc_file"],
               "offset": t["document_offset"], "length": t["document_length"],
               "link": url_for("takedowns.document", takedown_id=t["id"])}
    out = {k: t[k] for k in ("id", "authority", "recipient", "country", "legal_basis", "issued_on", "received_on",
                             "effective_on", "action_demanded", "action_reported", "summary", "created_at",
                             "updated_at")}
    out |= {"country_name": country_name(t["country"]), "urls": t["urls"], "document": doc,
            "register": _register_json(t),
            "links": {"self": url_for("takedowns.api_detail", takedown_id=t["id"]),
                      "page": url_for("takedowns.detail", takedown_id=t["id"])}}
    if evidence is not None:
        out["evidence"] = evidence
    return out


def _register_json(t: dict[str, Any]) -> dict[str, Any] | None:
    """Where an imported order came from (issue 17), None for one staff entered."""
    if not t.get("register"):
        return None
    return {"name": t["register"], "key": t["register_key"], "source": t["register_source"],
            "listed_at": t["listed_at"], "lifted_on": t["lifted_on"], "authority_normalized": t["authority_normalized"],
            "lifted_urls": t.get("lifted_urls", {}), "domains": t.get("domains", []),
            "redacted_urls": t["redacted_urls"]}


@bp.get("/api/takedowns")
def api_list() -> Response:
    """Published orders as JSON: ``limit`` (1-100), ``offset``, optional ``country``, ``url`` (http or https),
    ``register`` (rkn, lumen, github-gov, ooni; staff: entered by hand) and ``authority``."""
    args = load(TakedownListArgs(), request.args)
    url = (args["url"] or "").strip() or None
    if url:  # in the form the catalog keeps, as the lookup pages take it; either scheme matches
        try:
            url = lookup_url(url, get_settings().max_url_length)
        except URLRejected as exc:
            return error_response(400, f"url: {exc}", fields={"url": [str(exc)]})
    rows = orders.list_takedowns(get_db(), published_only=True, country=args["country"] or None,
                                 url=url, limit=args["limit"], offset=args["offset"],
                                 register=args["register"] or None, authority=(args["authority"] or "").strip() or None)
    return jsonify(takedowns=[takedown_json(t) for t in rows], limit=args["limit"], offset=args["offset"])


@bp.get("/api/takedowns/<int:takedown_id>")
def api_detail(takedown_id: int) -> Response:
    """One published order as JSON, with what captures show for each targeted URL."""
    found = orders.get_takedown(get_db(), takedown_id, published_only=True)
    if found is None:
        abort(404, f"There is no published takedown order {takedown_id}.")
    # The API is read as the public reads it, signed in or not (it ignores the session's staff rights).
    evidence = [e | {"blocking": [blocking_json(m) for m in e["blocking"]]} for e in _evidence(found, staff=False)]
    return jsonify(takedown_json(found, evidence))
