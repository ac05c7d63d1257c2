"""Error responses: JSON where a JSON reply was asked for, an HTML page everywhere else.

The one error shape of every JSON route is ``{"error": "<sentence>"}``, with ``"fields"`` (per input,
its messages) when particular inputs were wrong. JSON routes get it by ``abort(status, sentence)``
or, with fields, by returning ``error_response``; a schema's InvalidInput needs neither (see
handle_invalid). Replies are serialised one way too: ``jsonify``, through the app's JSON provider.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException, InternalServerError

from archive.warc.store import WarcStoreError
from archive.web.schemas import InvalidInput
from detect.outcomes import N_  # the one translation mark, defined in the lowest layer that marks texts

# Shown instead of werkzeug's defaults, which talk to developers, not readers.
# The API says them in English; the HTML page in the reader's language (see error_response).
MESSAGES = {
    400: N_("The request could not be understood."),
    404: N_("There is nothing at this address."),
    405: N_("This address does not accept that method."),
    413: N_("The request is too large."),
    500: N_("Something went wrong on our side; the error has been logged."),
}
WARC_UNREADABLE = N_("The archived data for this capture could not be read; the error has been logged.")
TRANSLATED = {*MESSAGES.values(), WARC_UNREADABLE}


# Paths whose replies are JSON besides /api/: the JSON TimeMap. /cdx is JSON when asked (output=json).
JSON_PATHS = ("/api/", "/timemap/json/")


def wants_json() -> bool:
    """Whether this request's route replies in JSON, so its errors must too."""
    path = request.path
    if path == "/api" or path.startswith(JSON_PATHS):
        return True
    return path == "/cdx" and request.args.get("output", "").strip() == "json"


def error_response(status: int, message: str, **extra: Any) -> Response:
    """An error as ``{"error": message, ...}`` for the API, or an HTML page for people."""
    if wants_json():
        response = jsonify(error=message, **extra)
    else:
        shown = gettext(message) if message in TRANSLATED else message  # specific messages stay as they are
        response = Response(render_template("error.html", status=status, message=shown))
    response.status_code = status
    return response


def handle_http(exc: HTTPException) -> Response:
    """Any HTTP error, from routing, ``abort()`` or an unexpected exception (as a 500)."""
    status = exc.code or 500
    # abort(404, "No capture 7.") carries a message for the reader; werkzeug's
    # stock descriptions and the text of unexpected exceptions do not.
    message = exc.description if exc.description != type(exc).description else None
    if isinstance(exc, InternalServerError):
        message = None
    if status == 405 and exc.valid_methods:
        message = f"{request.method} is not allowed here; use {', '.join(sorted(exc.valid_methods))}."
    response = error_response(status, message or MESSAGES.get(status, exc.name))
    allowed = dict(exc.get_headers()).get("Allow")
    if allowed:
        response.headers["Allow"] = allowed
    return response


def handle_invalid(exc: InvalidInput) -> Response:
    """Input that failed its schema and that no view turned into a message of its own: 400 with
    the reason per field (the API's ``fields``)."""
    return error_response(400, str(exc), fields=exc.fields)


def handle_warcstore(exc: WarcStoreError) -> Response:
    """A capture whose WARC data cannot be read: the catalog and the files disagree."""
    current_app.logger.error("WARC store: %s", exc)
    return error_response(500, WARC_UNREADABLE)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(InvalidInput, handle_invalid)
    app.register_error_handler(WarcStoreError, handle_warcstore)
