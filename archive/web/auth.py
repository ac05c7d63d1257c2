"""Staff sign-in: ``/login``, ``/logout``, ``staff_required`` and ``current_user`` in templates.

A session holds the account's id and its ``session_version``; every request checks both against
the catalog, so logging out (which raises the version: every session of the account ends),
disabling the account or resetting its password ends sessions whose cookies were copied too.
Failed sign-ins are throttled per account and per address (``archive.staff.throttle``): 429
with Retry-After.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, g, redirect, render_template, request, session, url_for
from flask_babel import gettext

from archive.staff import audit, throttle
from archive.staff.users import ROLES, authenticate, end_sessions, get_user
from archive.web.db import get_db

bp = Blueprint("auth", __name__)


@bp.before_app_request
def load_user() -> None:
    """The signed-in account (or None) on ``g.user`` for this request."""
    user_id = session.get("user_id")
    user = get_user(get_db(), user_id) if isinstance(user_id, int) else None
    if user is not None and (user["disabled_at"] is not None
                             or session.get("session_version") != user["session_version"]):
        user = None  # ended on the server: logged out elsewhere, disabled, or its password reset
    if user is None and "user_id" in session:
        session.clear()
    g.user = user


@bp.app_context_processor
def current_user() -> dict[str, Any]:
    return {"current_user": g.get("user")}


def staff_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send anonymous visitors to the login page (then back); refuse accounts without a staff role."""
    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        if g.get("user") is None:
            here = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
            return redirect(url_for("auth.login", next=here), 303)
        if g.user["role"] not in ROLES:
            abort(403, "Your account may not do this.")
        return view(**kwargs)

    return wrapped


# Browsers drop tabs and newlines anywhere in a URL, trim leading and trailing spaces and controls, and
# read "\\" as "/" in http(s) URLs; a target is judged as the browser will read it.
_DROPPED = dict.fromkeys(map(ord, "\t\n\r"))
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def _safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site once normalised as browsers do; else the takedowns page.

    Anything else (``//other.example``, ``/\\other``, ``/%09/other``, an absolute URL) would be an open
    redirect, and a newline would be a 500 (header values may not hold one).
    """
    path = (target or "").translate(_DROPPED).strip(_C0_AND_SPACE).replace("\\", "/")
    if (path.startswith("/") and not path.startswith("//") and path.isprintable()
            and not urlsplit(path).scheme and not urlsplit(path).netloc):
        return path
    return url_for("takedowns.index")


@bp.route("/login", methods=("GET", "POST"))
def login() -> Response | tuple[str, int] | str:
    """The staff sign-in form; a right name and password start a session."""
    next_url = request.values.get("next", "")
    if request.method == "GET":
        return render_template("login.html", next_url=next_url, username="", error=None)
    username = request.form.get("username", "").strip()
    db, address = get_db(), request.remote_addr
    wait = throttle.retry_after(db, username, address)
    if wait is not None:  # too many failures: the password is not even checked
        audit.record(db, None, "login.throttled", f"user:{username[:64]}", {"address": address})
        response = Response(render_template(
            "login.html", next_url=next_url, username=username,
            error=f"Too many failed sign-ins for this account or from this address; try again in {wait} s."),
            status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    user = authenticate(db, username, request.form.get("password", ""))
    if user is None:
        throttle.record_failure(db, username, address)
        audit.record(db, None, "login.failed", f"user:{username[:64]}", {"address": address})
        return render_template("login.html", next_url=next_url, username=username,
                               error=gettext("Wrong user name or password.")), 400
    throttle.forget_account(db, username)
    session.clear()  # a fresh session (and form token) for the signed-in account
    session["user_id"] = user["id"]
    session["session_version"] = user["session_version"]
    audit.record(db, user["id"], "login", f"user:{user['username']}", {"address": address})
    return redirect(_safe_next(next_url), 303)


@bp.post("/logout")
def logout() -> Response:
    """End the session, and every other session of the account (a copied cookie stops working too)."""
    if g.get("user") is not None:
        end_sessions(get_db(), g.user["id"])
        audit.record(get_db(), g.user["id"], "logout", f"user:{g.user['username']}")
    session.clear()
    return redirect(url_for("search.index"), 303)
