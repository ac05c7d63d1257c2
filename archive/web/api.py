"""The JSON API: submit captures, poll jobs, read captures and search.

Every input goes through a marshmallow schema in ``schemas.py``; every error
is ``{"error": "<sentence>"}``, with ``"fields"`` when particular inputs were wrong.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from archive.capturing.jobs import children, get_job
from archive.catalog import get_records
from archive.lookup.citations import citations, csl_item, facts_of
from archive.lookup.present import job_json, search_json
from archive.web.db import capture_or_404, get_db, get_search, get_settings, is_staff
from archive.web.errors import error_response
from archive.web.limits import TOKEN_HELP, current_token, unauthorized
from archive.web.removals_api import capture_reply
from archive.web.schemas import BulkCaptureRequest, CaptureRequest, SearchArgs, load
from archive.web.search_queries import next_url, search_query
from archive.web.submitting import bulk_item, submit_url
from crawler.vantage import UnknownVantage, vantage_named
from search import QuerySyntaxError

bp = Blueprint("api", __name__, url_prefix="/api")

JSON_HELP = 'Send a JSON object with Content-Type: application/json, e.g. {"url": "https://example.org/page"}.'



@bp.post("/captures")
def submit_capture() -> Response:
    """Queue a URL for capture; 202 with the job to poll."""
    # Requiring the JSON content type also keeps other sites' forms from
    # submitting here: a browser must ask (CORS preflight) before sending it.
    body = request.get_json(silent=True) if request.is_json else None
    if body is None:
        return error_response(400, f"The request body is not JSON. {JSON_HELP}")
    data = load(CaptureRequest(), body)
    try:
        vantage_named(get_settings().capture_vantages, data["vantage"])
    except UnknownVantage as exc:
        return error_response(400, str(exc), fields={"vantage": [str(exc)]})
    token = current_token()
    result = submit_url(data["url"], data["vantage"], data, token.id if token else None)
    response = jsonify(result.body)
    response.status_code = result.status
    response.headers.update(result.headers)
    return response


@bp.post("/captures/bulk")
def submit_bulk() -> Response:
    """Queue up to BULK_MAX URLs with the same options (API token holders only); 207 with one result
    per URL (``status`` 202 with its ``job_id``, 200 with a recent capture, or 4xx with its ``error``)."""
    if current_token() is None:
        return unauthorized(f"Bulk submission is for API token holders. {TOKEN_HELP}")
    body = request.get_json(silent=True) if request.is_json else None
    if body is None:
        return error_response(400, 'The request body is not JSON. Send {"urls": ["https://example.org/a", ...]} '
                                   "with Content-Type: application/json.")
    data = load(BulkCaptureRequest(), body)
    most = get_settings().bulk_max
    if len(data["urls"]) > most:
        return error_response(400, f"{len(data['urls'])} URLs in one bulk submission; send at most {most} "
                                   "(BULK_MAX) and the rest in further requests.", fields={"urls": ["too many"]})
    try:
        vantage_named(get_settings().capture_vantages, data["vantage"])
    except UnknownVantage as exc:
        return error_response(400, str(exc), fields={"vantage": [str(exc)]})
    token_id = current_token().id
    items = [bulk_item(url, submit_url(url, data["vantage"], data, token_id)) for url in data["urls"]]
    accepted = sum(1 for item in items if item["code"] < 400)
    response = jsonify(accepted=accepted, refused=len(items) - accepted, results=items)
    response.status_code = 207  # Multi-Status: each URL has its own
    return response


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> Response:
    """A capture job's state, with a link to the capture once it is done."""
    found = get_job(get_db(), job_id, staff=is_staff())
    if found is None:
        abort(404, f"There is no capture job {job_id}.")
    response = jsonify(job_json(found, children(get_db(), job_id)))
    response.headers["Cache-Control"] = "no-store"  # clients poll this
    return response


@bp.get("/captures/<int:capture_id>")
def capture(capture_id: int) -> Response:
    """A capture's metadata, its WARC records with digests, links, and the published orders naming its URL."""
    return jsonify(capture_reply(capture_or_404(capture_id), get_records(get_db(), capture_id)))


@bp.get("/captures/<int:capture_id>/cite")
def cite(capture_id: int) -> Response:
    """How to cite a capture: ``apa``, ``mla``, ``chicago``, ``bluebook``, ``bibtex`` (text) and ``csl_json``
    (the CSL-JSON array itself, not a string), all naming its permanent link."""
    settings = get_settings()
    facts = facts_of(capture_or_404(capture_id), settings.archive_url or request.url_root, settings.archive_name)
    return jsonify(citations(facts) | {"csl_json": [csl_item(facts)], "permalink": facts.link})


@bp.get("/search")
def search() -> Response:
    """Full-text search: ``q``, ``domain``, ``since``, ``until``, ``removed`` (true: only removed text),
    ``outcome``, ``country``, ``authority``, ``order`` (a takedown order's id), ``register`` (rkn, lumen,
    github-gov, ooni), ``lang``, ``year``, ``month``, ``sort`` (relevance, newest,
    oldest), ``group`` (true: one hit per URL), ``facets`` (true: counts per value), ``limit`` (1-100),
    ``offset`` or ``cursor`` (a previous reply's ``next_cursor``; ``links.next`` is that page's URL)."""
    args = load(SearchArgs(), request.args)
    query = search_query(args, args["limit"], args["offset"], facets=args["facets"])
    try:
        result = get_search().search(query)
    except QuerySyntaxError as exc:
        return error_response(400, str(exc), fields={exc.field: [str(exc)]})
    links = {"next": next_url("api.search", result.next_cursor)} if result.next_cursor else {}
    return jsonify(search_json(result) | {"limit": query.limit, "offset": query.offset, "links": links})

