"""Error responses: JSON under /api/, an HTML page everywhere else."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException, InternalServerError

from archive.removals.reports import N_
from archive.warc.store import WarcStoreError
from archive.web.schemas import InvalidInput

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


def wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


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


def handle_warcstore(exc: WarcStoreError) -> Response:
    """A capture whose WARC data cannot be read: the catalog and the files disagree."""
    current_app.logger.error("WARC store: %s", exc)
    return error_response(500, WARC_UNREADABLE)


def handle_invalid_input(exc: InvalidInput) -> Response:
    """A query string or body that failed its schema where no blueprint says otherwise: 400 with why."""
    return error_response(400, str(exc), fields=exc.fields)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(InvalidInput, handle_invalid_input)
    app.register_error_handler(WarcStoreError, handle_warcstore)
