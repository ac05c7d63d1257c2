"""CSRF tokens on every form that changes something (flask-wtf's ``CSRFProtect``).

The JSON API blueprints (those under the ``/api`` URL prefix) are exempt: their
writes demand ``Content-Type: application/json``, which another site's page
cannot send without a CORS preflight, and nothing there is authorised by the
session cookie. Call ``init_app`` after every blueprint is registered.
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response
from flask_wtf.csrf import CSRFError, CSRFProtect

from archive.web.errors import error_response

# Staff may spend a long time on a takedown order's form; the token lasts a working day.
TOKEN_SECONDS = 12 * 3600


def api_blueprints(app: Flask) -> list[Blueprint]:
    """The registered blueprints that serve the JSON API (URL prefix ``/api``)."""
    prefixes = {bp: (bp.url_prefix or "").rstrip("/") for bp in app.blueprints.values()}
    return [bp for bp, prefix in prefixes.items() if prefix == "/api" or prefix.startswith("/api/")]


def init_app(app: Flask) -> CSRFProtect:
    # flask-wtf's "strict" mode also demands a same-origin Referer on https, but our
    # Referrer-Policy is no-referrer, so browsers send none: the token (with SameSite
    # session cookies) is the check.
    app.config.update(WTF_CSRF_SSL_STRICT=False, WTF_CSRF_TIME_LIMIT=TOKEN_SECONDS)
    csrf = CSRFProtect(app)
    for blueprint in api_blueprints(app):
        csrf.exempt(blueprint)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        """A form sent without its token, or with an expired one: nothing was done."""
        return error_response(400, f"This form could not be accepted ({exc.description.rstrip('.')}): "
                                   "nothing was changed. Reload the page and send the form again.")

    return csrf
