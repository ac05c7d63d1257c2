"""Who is submitting, and how often they may: API bearer tokens and submission rate limits.

A request to ``/api/...`` with ``Authorization: Bearer <token>`` is made by that token's holder;
an unknown or revoked token is refused with 401 whatever the route. Only that header counts:
the session cookie never raises anyone above the anonymous limit.

Capture submissions (``POST /api/captures``, ``POST /api/captures/bulk``, the ``/submit`` form's
POST) share one flask-limiter limit: ``RATE_LIMIT_TOKEN`` per token for token holders,
``RATE_LIMIT_ANONYMOUS`` per client address for everyone else (a bulk request counts once).
Over it: 429 with ``Retry-After``, JSON on the API and an HTML page on the form. Counters are kept
where ``RATE_LIMIT_STORAGE`` says (flask-limiter's own storages): in memory, right for ``serve``'s
single process, or in Redis, so every web server behind a load balancer counts against one limit.
"""
from __future__ import annotations

import math
import time

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from archive.settings import SettingError, Settings
from archive.staff.tokens import ApiToken, find_token
from archive.web.db import get_db, get_settings
from archive.web.errors import error_response

# The views that submit captures; they share one limit (scope) per submitter.
SUBMISSION_ENDPOINTS = ("api.submit_capture", "api.submit_bulk", "submit.submit")
TOKEN_HELP = "Send Authorization: Bearer <token>; staff make tokens with `python -m archive token create NAME`."


def current_token() -> ApiToken | None:
    """The API token this request was made with (checked already), or None."""
    return g.get("api_token")


def submitter_key() -> str:
    token = current_token()
    return f"token:{token.id}" if token else f"ip:{request.remote_addr}"


def submission_limit() -> str:
    settings = get_settings()
    return settings.rate_limit_token if current_token() else settings.rate_limit_anonymous


def unauthorized(message: str) -> Response:
    response = error_response(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="api", error="invalid_token"'
    return response


def authenticate() -> Response | None:
    """Check an API request's bearer token; a bad one ends the request with 401."""
    if not (request.path == "/api" or request.path.startswith("/api/")):
        return None
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return unauthorized(f"The Authorization header must be a bearer token. {TOKEN_HELP}")
    token = find_token(get_db(), secret.strip())
    if token is None:
        return unauthorized(f"This API token is not known here. {TOKEN_HELP}")
    if not token.active:
        return unauthorized(f"This API token ({token.name!r}) was revoked at {token.revoked_at}; "
                            "ask the archive's staff for a new one.")
    g.api_token = token
    return None


def _retry_after(limiter: Limiter) -> int:
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


def check_limit_settings(settings: Settings) -> None:
    """Refuse to start with a limit or storage flask-limiter cannot use, naming the setting."""
    try:
        storage_from_string(settings.rate_limit_storage)
    except ConfigurationError as exc:
        shown = settings.shown("RATE_LIMIT_STORAGE")
        raise SettingError(f"RATE_LIMIT_STORAGE={shown!r} cannot be used: {exc}") from None
    for name in ("RATE_LIMIT_ANONYMOUS", "RATE_LIMIT_TOKEN"):
        value = getattr(settings, name.lower())
        try:
            parse_many(value)
        except ValueError:
            raise SettingError(f"{name}={value!r} is not a rate limit; use a count per period "
                               "such as 5/minute or 100/hour") from None


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Authenticate API tokens and limit submissions; call after the blueprints are registered."""
    check_limit_settings(settings)
    app.before_request(authenticate)  # before the limits are checked (in the views), so keys know the token
    limiter = Limiter(submitter_key, app=app, storage_uri=settings.rate_limit_storage, headers_enabled=True)
    shared = limiter.shared_limit(submission_limit, scope="capture-submissions", methods=["POST"])
    for endpoint in SUBMISSION_ENDPOINTS:
        if endpoint in app.view_functions:
            app.view_functions[endpoint] = shared(app.view_functions[endpoint])

    @app.errorhandler(RateLimitExceeded)
    def too_many(exc: RateLimitExceeded) -> Response:
        """Over the submission limit: 429, when to try again, and how to get a higher limit."""
        retry = _retry_after(limiter)
        who = "this API token" if current_token() else "your address"
        hint = "" if current_token() else " API token holders have a higher limit."
        response = error_response(429, f"Too many capture submissions from {who} (the limit is {exc.description}). "
                                       f"Try again in {retry} seconds.{hint}")
        response.headers["Retry-After"] = str(retry)
        return response

    return limiter


__all__ = ["current_token", "init_app", "SUBMISSION_ENDPOINTS"]
