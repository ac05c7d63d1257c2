"""Signed session cookies: the flags they carry; the key that signs them is ``archive.keys.secret_key``."""
from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

from archive.keys import secret_key
from archive.settings import Settings


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, marked Secure whenever the request came over HTTPS.

    ``SESSION_COOKIE_SECURE`` is one value for the whole app, but the same archive is
    served over plain http on 127.0.0.1 and over https behind a proxy; a cookie marked
    Secure on http would never come back. So the flag follows each request: on https
    (``request.is_secure``, which a TLS-terminating proxy sets through waitress's
    ``trusted_proxy``/X-Forwarded-Proto) the cookie is never sent over plain http again.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_app(app: Flask, settings: Settings) -> None:
    app.secret_key = secret_key(settings)
    # Not readable by scripts; not sent on cross-site subrequests or form posts.
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.session_interface = SessionInterface()
