"""The OpenAPI 3 document of the JSON API, generated from the app's routes and marshmallow schemas.

Every ``/api/`` rule in ``app.url_map`` becomes an operation. What each one reads (query
schema, JSON body schema) and returns (response schemas in ``api_schemas.py``) is declared
once in ``OPERATIONS`` by endpoint name; apispec's marshmallow plugin turns the schemas into
JSON Schema, so the document follows the same schemas the views validate with. A route with no
entry still appears (with its docstring) and ``undocumented()`` names it, which a test checks.
``/api/openapi.json`` serves the document and ``/api`` a page rendered from it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from marshmallow import Schema

from archive.web import api_schemas as out
from archive.web.api_page import code_spans, operations_for_page
from archive.web.db import get_settings
from archive.web.removal_queries import RemovalArgs
from archive.web.routing import SQLITE_MAX_INT
from archive.web.schemas import BulkCaptureRequest, CaptureRequest, SearchArgs, UTCDateTime
from archive.web.watches import WatchListArgs, WatchRequest

bp = Blueprint("openapi", __name__)
bp.add_app_template_filter(code_spans)

API_VERSION = "1"
PATH_PARAM = re.compile(r"<(?:(?P<converter>[a-z_]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
ERROR = (out.Error, "")


@dataclass(frozen=True)
class Operation:
    """What one endpoint reads and returns: status -> (schema or None, description)."""

    responses: dict[int, tuple[type[Schema] | None, str]]
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    security: list[dict[str, list[str]]] | None = None  # None: no authentication at all
    tag: str = ""
    headers: dict[int, dict[str, str]] = field(default_factory=dict)  # status -> header -> description


# Submissions may carry an API token (a higher rate limit); anonymous ones are allowed too.
OPTIONAL_TOKEN = [{}, {"bearerAuth": []}]
NOT_FOUND = {404: (out.Error, "There is no such object.")}
BAD_INPUT = {400: (out.Error, "An input failed its check; `fields` says which and why.")}
BAD_TOKEN = {401: (out.Error, "An unknown or revoked API token (none at all is fine).")}
LIMITED = {429: (out.Error, "Too many submissions from this address or token, or the host's daily byte budget "
                            "is spent; `Retry-After` says when to retry.")}
WITHHELD = {403: (out.Error, "Archive staff made the capture private."),
            410: (out.Error, "Archive staff removed the capture from public view.")}

# Crawls reach whole sites: token holders and staff only.
CRAWL_SECURITY = [{"bearerAuth": []}, {"sessionCookie": []}]
TOKEN_ONLY = {401: (out.Error, "No API token (or a revoked one) and no staff session.")}

OPERATIONS: dict[str, Operation] = {
    "api.submit_capture": Operation(
        {202: (out.JobAccepted, "Queued; poll the job (also in `Location`)."),
         200: (out.Capture, "With if_not_archived_within: a public capture that recent, nothing queued."),
         **BAD_INPUT, **BAD_TOKEN, 413: (out.Error, "The body is too large."), **LIMITED},
        body=CaptureRequest, security=OPTIONAL_TOKEN, tag="Captures",
        headers={202: {"Location": "The job's API address."}, 200: {"Content-Location": "The capture's address."},
                 429: {"Retry-After": "Seconds to wait."}}),
    "api.submit_bulk": Operation(
        {207: (out.BulkResult, "One result per URL, each with the status a single submission would have had."),
         **BAD_INPUT, 401: (out.Error, "No API token, or an unknown or revoked one."),
         413: (out.Error, "The body is too large."), **LIMITED},
        body=BulkCaptureRequest, security=[{"bearerAuth": []}], tag="Captures",
        headers={429: {"Retry-After": "Seconds to wait."}}),
    "api.cite": Operation({200: (out.Citation, "The capture cited in every style."), **NOT_FOUND, **WITHHELD},
                          tag="Captures"),
    "api.job": Operation({200: (out.Job, "The job's state."), **NOT_FOUND}, tag="Captures"),
    "api.capture": Operation({200: (out.Capture, "The capture with its WARC records."), **NOT_FOUND, **WITHHELD},
                             tag="Captures"),
    "api.search": Operation({200: (out.SearchResult, "Hits, best first."), **BAD_INPUT}, query=SearchArgs,
                            tag="Search"),
    "removals_api.removals": Operation({200: (out.RemovalList, "Removal events, newest first, with facets."),
                                        **BAD_INPUT}, query=RemovalArgs, tag="Removals"),
    "removals_api.removal": Operation({200: (out.Removal, "The event, both captures and the text diff."),
                                       **NOT_FOUND}, tag="Removals"),
    "removals_api.timeline": Operation({200: (out.Timeline, "Captures per vantage, oldest first, and events."),
                                        **BAD_INPUT}, query=out.TimelineArgs, tag="Removals"),
    "takedowns.api_list": Operation({200: (out.TakedownList, "Published orders, most recently issued first."),
                                     **BAD_INPUT}, query=out.TakedownListArgs, tag="Takedown orders"),
    "takedowns.api_detail": Operation({200: (out.TakedownDetail, "The order and what captures show per URL."),
                                       **NOT_FOUND}, tag="Takedown orders"),
    "watches_api.api_list": Operation({200: (out.WatchList, "Active watches, oldest first."), **BAD_INPUT},
                                      query=WatchListArgs, tag="Watches"),
    "watches_api.api_add": Operation(
        {201: (out.Watch, "Now watched."), 200: (out.Watch, "It was already watched."), **BAD_INPUT,
         413: (out.Error, "The body is too large.")},
        body=WatchRequest, tag="Watches", headers={201: {"Location": "The watch's API address."},
                                                   200: {"Location": "The watch's API address."}}),
    "watches_api.api_get": Operation({200: (out.Watch, "The watch (active or removed)."), **NOT_FOUND},
                                     tag="Watches"),
    "watches_api.api_remove": Operation(
        {204: (None, "No longer watched."), 401: (out.Error, "Not signed in as staff."),
         403: (out.Error, "The watch follows a takedown order."), **NOT_FOUND},
        security=[{"sessionCookie": []}], tag="Watches"),
    "crawls_api.api_list": Operation({200: (None, "Crawls, newest first, with their progress."), **TOKEN_ONLY},
                                     security=CRAWL_SECURITY, tag="Crawls"),
    "crawls_api.api_start": Operation(
        {201: (None, "The crawl, queued: `id`, `state`, `pages`, …"), **BAD_INPUT, **TOKEN_ONLY},
        security=CRAWL_SECURITY, tag="Crawls", headers={201: {"Location": "The crawl's API address."}}),
    "crawls_api.api_get": Operation({200: (None, "Progress (pages, queued, failed, skipped, bytes, rate, time left)"
                                                 " and summary."), **NOT_FOUND, **TOKEN_ONLY},
                                    security=CRAWL_SECURITY, tag="Crawls"),
    "crawls_api.api_act": Operation({200: (None, "The crawl's progress after the change."),
                                     201: (None, "The new crawl (recrawl)."),
                                     409: (out.Error, "Not possible in the crawl's state."), **NOT_FOUND,
                                     **TOKEN_ONLY}, security=CRAWL_SECURITY, tag="Crawls"),
    "crawls_api.api_log": Operation({200: (None, "Each URL: state, reason, depth, how found, capture."),
                                     **BAD_INPUT, **NOT_FOUND, **TOKEN_ONLY}, security=CRAWL_SECURITY, tag="Crawls"),
    "crawls_api.api_compare": Operation(
        {200: (None, "`removed`, `changed`, `added`, `dropped` (URLs), `unchanged` (a count), `rows`."),
         **BAD_INPUT, **NOT_FOUND, **TOKEN_ONLY}, security=CRAWL_SECURITY, tag="Crawls"),
    "crawls_api.api_wacz": Operation({200: (None, "The crawl as a WACZ package (application/wacz)."),
                                      409: (out.Error, "The crawl has captured nothing yet."), **NOT_FOUND,
                                      **TOKEN_ONLY}, security=CRAWL_SECURITY, tag="Crawls"),
    "cdx.available": Operation({200: (out.Available, "The nearest capture, if any."), **BAD_INPUT},
                               query=out.AvailableArgs, tag="Mementos"),
    "openapi.document": Operation({200: (None, "This document.")}, tag="About the API"),
    "openapi.page": Operation({200: (None, "This API described for people (HTML).")}, tag="About the API"),
}

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "An API token: `Authorization: Bearer <token>` (made by archive staff with "
                                  "`python -m archive token create`)."},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session",
                      "description": "A staff session: sign in at /login."},
}

DESCRIPTION = """JSON over HTTP. Bodies are JSON objects sent with `Content-Type: application/json`.
Every error is a JSON object `{"error": "<sentence>"}` with a 4xx status (and `"fields"` when
particular inputs were wrong). Times are ISO 8601 in UTC with a `Z`. Links in replies are paths
on this site."""


def openapi_path(rule: str) -> str:
    """``/api/jobs/<int:job_id>`` as ``/api/jobs/{job_id}``."""
    return PATH_PARAM.sub(lambda m: "{" + m["name"] + "}", rule)


def _path_parameters(rule: str) -> list[dict[str, Any]]:
    params = []
    for m in PATH_PARAM.finditer(rule):
        schema: dict[str, Any] = {"type": "string", "minLength": 1}
        if m["converter"] == "int":
            # werkzeug's int converter takes digits only; routing.CatalogId bounds them as SQLite does
            schema = {"type": "integer", "minimum": 0, "maximum": SQLITE_MAX_INT}
        params.append({"in": "path", "name": m["name"], "required": True, "schema": schema, "example": 1
                       if m["converter"] == "int" else "x"})
    return params


def _docstring(view: Any) -> tuple[str, str]:
    """The view's docstring as (first paragraph, the rest), reST ``literals`` as Markdown `literals`."""
    paragraphs = [" ".join(p.split()).replace("``", "`") for p in (view.__doc__ or "").strip().split("\n\n")]
    return paragraphs[0], "\n\n".join(paragraphs[1:])


def _query_parameter(param: dict[str, Any]) -> dict[str, Any]:
    # A missing query argument is "not given", never null: drop marshmallow's None defaults.
    schema = {k: v for k, v in param["schema"].items() if k != "nullable" and not (k == "default" and v is None)}
    return param | {"schema": schema}


def _operation(endpoint: str, rule: str, view: Any) -> dict[str, Any]:
    summary, description = _docstring(view)
    op = OPERATIONS.get(endpoint) or Operation({200: (None, "Undocumented.")})
    result: dict[str, Any] = {"operationId": endpoint.replace(".", "_"), "summary": summary or endpoint,
                              "parameters": _path_parameters(rule), "responses": {}}
    if description:
        result["description"] = description
    if op.tag:
        result["tags"] = [op.tag]
    if op.query is not None:
        result["parameters"].append({"in": "query", "schema": op.query})
    if op.body is not None:
        result["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
    if op.security is not None:
        result["security"] = op.security
    for status, (schema, text) in sorted(op.responses.items()):
        response: dict[str, Any] = {"description": text or "OK"}
        if schema is not None:
            response["content"] = {"application/json": {"schema": schema}}
        if status in op.headers:
            response["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                                   for name, text in op.headers[status].items()}
        result["responses"][str(status)] = response
    if endpoint == "openapi.document":
        result["responses"]["200"]["content"] = {"application/json": {"schema": {"type": "object"}}}
    elif endpoint == "openapi.page":
        result["responses"]["200"]["content"] = {"text/html": {"schema": {"type": "string"}}}
    return result


def api_rules(app: Flask) -> list[Any]:
    """The app's JSON API routes, in path order."""
    return sorted((r for r in app.url_map.iter_rules() if r.rule == "/api" or r.rule.startswith("/api/")),
                  key=lambda r: r.rule)


def undocumented(app: Flask) -> list[str]:
    """Endpoints under /api/ that have no entry in ``OPERATIONS``."""
    return sorted({r.endpoint for r in api_rules(app)} - OPERATIONS.keys())


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.0 document for ``app``'s /api/ routes, as a dict."""
    marshmallow = MarshmallowPlugin()
    spec = APISpec(title=f"{app.config.get('ARCHIVE_NAME', 'Takedown Archive')} API", version=API_VERSION,
                   openapi_version="3.0.3", plugins=[marshmallow], info={"description": DESCRIPTION})
    # A date or an ISO 8601 time (see schemas.UTCDateTime): a string, no stricter format.
    marshmallow.map_to_openapi_type(UTCDateTime, "string", None)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    paths: dict[str, dict[str, Any]] = {}
    for rule in api_rules(app):
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(openapi_path(rule.rule), {})[method.lower()] = _operation(rule.endpoint, rule.rule, view)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    for operations in document["paths"].values():
        for op in operations.values():
            op["parameters"] = [_query_parameter(p) if p["in"] == "query" else p for p in op["parameters"]]
    return document


def get_spec() -> dict[str, Any]:
    """This app's document, built once (routes do not change after the app is made)."""
    cached = current_app.extensions.get("archive.openapi")
    if cached is None:
        cached = current_app.extensions["archive.openapi"] = build_spec(current_app)
    return cached


@bp.get("/api/openapi.json")
def document() -> Response:
    """The OpenAPI 3 document of this API."""
    return jsonify(get_spec())


@bp.get("/api")
def page() -> str:
    """Every API route with its parameters, replies and an example."""
    spec = get_spec()
    base_url = get_settings().archive_url.rstrip("/") or request.host_url.rstrip("/")
    return render_template("api.html", spec=spec, groups=operations_for_page(spec, base_url))
