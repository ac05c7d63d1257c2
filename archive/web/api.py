"""The JSON API: submit captures, poll jobs, read captures and search.

Every input goes through a marshmallow schema in ``schemas.py``; every error
is ``{"error": "<sentence>"}``, with ``"fields"`` when particular inputs were wrong.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request, url_for

from crawler.netpolicy import URLRejected
from crawler.vantage import UnknownVantage, vantage_named
from search import QuerySyntaxError, SearchQuery

from ..catalog import get_records
from ..jobs import enqueue, get_job
from ..present import capture_json, job_json, search_json
from .db import capture_or_404, get_db, get_search, get_settings
from .errors import error_response
from .schemas import CaptureRequest, InvalidInput, SearchArgs, load
from .submit import check_submission

bp = Blueprint("api", __name__, url_prefix="/api")

JSON_HELP = 'Send a JSON object with Content-Type: application/json, e.g. {"url": "https://example.org/page"}.'


@bp.errorhandler(InvalidInput)
def invalid_input(exc: InvalidInput) -> Response:
    """Input that failed its schema: 400 with the reason per field."""
    return error_response(400, str(exc), fields=exc.fields)


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
        url = check_submission(data["url"])
    except URLRejected as exc:
        return error_response(400, str(exc), fields={"url": [str(exc)]})
    try:
        vantage_named(get_settings().capture_vantages, data["vantage"])
    except UnknownVantage as exc:
        return error_response(400, str(exc), fields={"vantage": [str(exc)]})
    job_id = enqueue(get_db(), url, data["vantage"])
    job_link = url_for("api.job", job_id=job_id)
    response = jsonify(job_id=job_id, status="queued", url=url, vantage=data["vantage"],
                       links={"job": job_link, "page": url_for("submit.job", job_id=job_id)})
    response.status_code = 202
    response.headers["Location"] = job_link
    return response


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> Response:
    """A capture job's state, with a link to the capture once it is done."""
    found = get_job(get_db(), job_id)
    if found is None:
        abort(404, f"There is no capture job {job_id}.")
    response = jsonify(job_json(found))
    response.headers["Cache-Control"] = "no-store"  # clients poll this
    return response


@bp.get("/captures/<int:capture_id>")
def capture(capture_id: int) -> Response:
    """A capture's metadata, its WARC records with digests, and links."""
    return jsonify(capture_json(capture_or_404(capture_id), get_records(get_db(), capture_id)))


@bp.get("/search")
def search() -> Response:
    """Full-text search: ``q``, ``domain``, ``since``, ``until``, ``removed`` (true: only removed text),
    ``limit`` (1-100), ``offset``."""
    args = load(SearchArgs(), request.args)
    query = SearchQuery(args["q"], domain=args["domain"], since=args["since"], until=args["until"],
                        limit=args["limit"], offset=args["offset"], removed_only=args["removed"])
    try:
        result = get_search().search(query)
    except QuerySyntaxError as exc:
        return error_response(400, str(exc), fields={"q": [str(exc)]})
    return jsonify(search_json(result) | {"limit": query.limit, "offset": query.offset})

