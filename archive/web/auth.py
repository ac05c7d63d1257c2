"""Staff sign-in: ``/login``, ``/logout``, ``staff_required`` and ``current_user`` in templates."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, session, url_for
from flask_babel import gettext

from archive.staff import audit
from archive.staff.users import ROLES, authenticate, get_user
from archive.web.db import get_db

bp = Blueprint("auth", __name__)


@bp.before_app_request
def load_user() -> None:
    """The signed-in account (or None) on ``g.user`` for this request."""
    user_id = session.get("user_id")
    g.user = get_user(get_db(), user_id) if isinstance(user_id, int) else None


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


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never "//other.example" or an absolute URL (an open redirect).
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("takedowns.index")


@bp.route("/login", methods=("GET", "POST"))
def login() -> Response | tuple[str, int] | str:
    """The staff sign-in form; a right name and password start a session."""
    next_url = request.values.get("next", "")
    if request.method == "GET":
        return render_template("login.html", next_url=next_url, username="", error=None)
    username = request.form.get("username", "").strip()
    user = authenticate(get_db(), username, request.form.get("password", ""))
    if user is None:
        audit.record(get_db(), None, "login.failed", f"user:{username[:64]}")
        return render_template("login.html", next_url=next_url, username=username,
                               error=gettext("Wrong user name or password.")), 400
    session.clear()  # a fresh session (and form token) for the signed-in account
    session["user_id"] = user["id"]
    audit.record(get_db(), user["id"], "login", f"user:{user['username']}")
    return redirect(_safe_next(next_url), 303)


@bp.post("/logout")
def logout() -> Response:
    """End the session."""
    if g.get("user") is not None:
        audit.record(get_db(), g.user["id"], "logout", f"user:{g.user['username']}")
    session.clear()
    return redirect(url_for("search.index"), 303)
