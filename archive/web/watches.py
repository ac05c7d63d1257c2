"""Watched URLs on the web: a page listing them with a form to add one, and a JSON API.

Anonymous watches come due at most every WEB_MIN_EVERY (15 minutes); the command
line may go down to a minute. Every input is checked before anything is stored.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, g, jsonify, redirect, render_template, request, url_for
from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from archive.staff import audit
from archive.urlcheck import url_checker, url_variants
from archive.watches.watchlist import (
    WEB_MIN_EVERY,
    WatchError,
    add_watch,
    check_vantage,
    count_watches,
    format_every,
    get_watch,
    list_watches,
    parse_every,
    remove_watch,
    watch_json,
)
from archive.web.db import get_db, get_settings, is_staff
from archive.web.errors import error_response
from archive.web.routing import SQLITE_MAX_INT
from archive.web.schemas import load, page_number
from crawler.netpolicy import URLRejected, normalize_url
from crawler.vantage import UnknownVantage

bp = Blueprint("watches", __name__)
api_bp = Blueprint("watches_api", __name__, url_prefix="/api/watches")

PAGE_SIZE = 50
COUNT_AT_MOST = 10_000  # the page says "10000+" beyond this, rather than count every watch per view
SOURCE = "web"  # how watches added here are marked in the catalog


def init_app(app: Flask) -> None:
    """Register the page and the API (the API takes JSON only, so it needs no form token)."""
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)


class BadWatch(ValueError):
    """One input of a watch request is wrong: ``field`` names it, the message says why."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def watch_from_input(url: str, every: str | None, vantage: str | None) -> int:
    """Check a watch request from a person and store it; return the watch id or raise BadWatch."""
    settings = get_settings()
    try:
        seconds = parse_every(every, WEB_MIN_EVERY) if every else max(settings.watch_every, WEB_MIN_EVERY)
    except WatchError as exc:
        raise BadWatch("every", str(exc)) from None
    try:
        vantage = check_vantage(settings, vantage)
    except UnknownVantage as exc:
        raise BadWatch("vantage", str(exc)) from None
    try:
        normalized = url_checker(get_settings())(url)
    except URLRejected as exc:
        raise BadWatch("url", str(exc)) from None
    return add_watch(get_db(), normalized, seconds, vantage, source=SOURCE)


@bp.route("/watches", methods=("GET", "POST"))
def index() -> Response | tuple[str, int]:
    """Watched URLs with their last capture, and a form to watch one more."""
    form = {"url": "", "every": format_every(max(get_settings().watch_every, WEB_MIN_EVERY)), "vantage": "direct"}
    error = None
    if request.method == "POST":
        form |= {k: request.form.get(k, "").strip() for k in form}
        try:
            watch_id = watch_from_input(form["url"], form["every"], form["vantage"])
        except BadWatch as exc:
            error = exc
        else:
            # 303: reloading the list must not add the watch again.
            return redirect(url_for("watches.index", added=watch_id), 303)
    page = page_number(request.args)
    db, staff = get_db(), is_staff()
    total = count_watches(db, at_most=COUNT_AT_MOST, staff=staff)
    # One more than a page: is there a next page.
    watches = list_watches(db, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE, staff=staff)
    more, watches = len(watches) > PAGE_SIZE, watches[:PAGE_SIZE]
    added = request.args.get("added", type=int)
    added = added if added is not None and 0 < added <= SQLITE_MAX_INT else None
    body = render_template("watches.html", watches=watches, total=total, form=form, error=error,
                           added=get_watch(db, added, staff=staff) if added else None, every=format_every,
                           min_every=format_every(WEB_MIN_EVERY), count_at_most=COUNT_AT_MOST,
                           prev_url=url_for("watches.index", page=page - 1) if page > 1 else None,
                           next_url=url_for("watches.index", page=page + 1) if more else None)
    return body, 400 if error else 200


class WatchRequest(Schema):
    """``POST /api/watches`` body."""

    class Meta:
        unknown = RAISE

    url = fields.String(required=True, metadata={"example": "https://example.org/page"}, error_messages={
        "required": 'Give the URL to watch, e.g. {{"url": "https://example.org/page", "every": "6h"}}.',
        "invalid": "url must be a string.",
    })
    every = fields.String(load_default=None, validate=validate.Length(min=1, max=32),
                          error_messages={"invalid": 'every must be a string such as "6h" or "30m".'})
    vantage = fields.String(load_default="direct", validate=validate.Length(min=1, max=64))


class WatchListArgs(Schema):
    """``GET /api/watches`` query string."""

    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, SQLITE_MAX_INT))  # larger: OverflowError



@api_bp.get("")
def api_list() -> Response:
    """Active watches, oldest first: ``limit`` (1-1000), ``offset``."""
    args = load(WatchListArgs(), request.args)
    db, staff = get_db(), is_staff()
    return jsonify(watches=[watch_json(w) for w in list_watches(db, args["limit"], args["offset"], staff=staff)],
                   total=count_watches(db, staff=staff), limit=args["limit"], offset=args["offset"])


@api_bp.post("")
def api_add() -> Response:
    """Watch a URL; 201 with the watch (200 if it was already watched)."""
    body = request.get_json(silent=True) if request.is_json else None
    if body is None:
        return error_response(400, "The request body is not JSON. Send a JSON object with Content-Type: "
                                   'application/json, e.g. {"url": "https://example.org/page", "every": "6h"}.')
    data = load(WatchRequest(), body)
    url = _normalized_or_raw(data["url"])
    same = url_variants(url) if "://" in url else (url, url)  # http and https: one page, one watch
    existed = get_db().execute("SELECT 1 FROM watches WHERE url IN (?, ?) AND vantage = ? AND active = 1",
                               (*same, data["vantage"])).fetchone()
    try:
        watch_id = watch_from_input(data["url"], data["every"], data["vantage"])
    except BadWatch as exc:
        return error_response(400, str(exc), fields={exc.field: [str(exc)]})
    shown = get_watch(get_db(), watch_id, staff=is_staff())
    if shown is None:
        # Already watched for an order not yet published: say only what the caller asked for, as if
        # new, so the answer does not tell that the URL is named in a draft order.
        hidden = get_watch(get_db(), watch_id)
        body = watch_json(hidden | {"source": SOURCE, "last_job_id": None})
        body["links"] = {}
        response = jsonify(body)
        response.status_code = 201
        return response
    response = jsonify(watch_json(shown))
    response.status_code = 200 if existed else 201
    response.headers["Location"] = url_for("watches_api.api_get", watch_id=watch_id)
    return response


def _normalized_or_raw(url: str) -> str:
    try:
        return normalize_url(url, max_length=None)  # only to find it; watch_from_input checks it
    except URLRejected:
        return url


@api_bp.get("/<int:watch_id>")
def api_get(watch_id: int) -> Response:
    """One watch (active or removed) with its last job and capture."""
    return jsonify(watch_json(_watch_or_404(watch_id)))


@api_bp.delete("/<int:watch_id>")
def api_remove(watch_id: int) -> Response:
    """Stop watching; 204. Staff only (a signed-in session): anyone may add a watch, but one
    visitor must not silence another's. Watches that follow a takedown order are not removed here."""
    if g.get("user") is None:
        abort(401, "Only archive staff may stop watching a URL: sign in at /login first.")
    watch = _watch_or_404(watch_id)
    if watch["source"].startswith("takedown:"):
        abort(403, f"Watch {watch_id} follows takedown order {watch['source'].split(':', 1)[1]}; "
                   "archive staff remove it with the order.")
    if not remove_watch(get_db(), watch_id):
        abort(404, f"Watch {watch_id} was already removed.")
    audit.record(get_db(), g.user["id"], "watch.remove", f"watch:{watch_id}", {"url": watch["url"]})
    return Response(status=204)


def _watch_or_404(watch_id: int) -> dict[str, Any]:
    watch = get_watch(get_db(), watch_id, staff=is_staff())
    if watch is None:
        abort(404, f"There is no watch {watch_id}.")
    return watch
