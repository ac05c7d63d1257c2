"""Signed session cookies: the key that signs them, and the flags they carry.

The key is ``SECRET_KEY`` if set; otherwise one is made on first start and kept
in ``ARCHIVE_HOME/secret_key`` (mode 0600), so sessions and form tokens survive
restarts and every process serving the same archive agrees on it.
"""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

from ..settings import Settings

log = logging.getLogger(__name__)
SECRET_FILE = "secret_key"


def secret_key(settings: Settings) -> str:
    """``SECRET_KEY``, or the archive's own key from its secret file (made once, mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.archive_home) / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); made it 0600", path, mode)
        os.chmod(path, 0o600)
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key; delete it to have a new one made, or set SECRET_KEY")
    return key


def _create_secret(path: Path) -> None:
    # Written whole under a temporary name, then linked into place: a second process
    # starting at the same moment either wins or reads the first one's complete key.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


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
