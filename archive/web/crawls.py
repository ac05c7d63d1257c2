"""Crawls on the web: staff pages (list and start, one crawl's progress and log, a comparison) and a
JSON API for API token holders and staff.

A crawl reaches a whole site for the archive, so starting, pausing and reading crawls is for staff
(a signed-in session) and API token holders; the pages each capture is of stay public as any capture.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, g, jsonify, redirect, render_template, request, url_for

from archive.crawls.compare import KINDS, compare, to_csv
from archive.crawls.export import summary, write_crawl_wacz
from archive.crawls.frontier import (
    ACTIVE,
    URL_STATES,
    CrawlError,
    CrawlSpec,
    change_state,
    crawl_log,
    create_crawl,
    list_crawls,
    progress,
    recrawl,
    require_crawl,
    validate,
)
from archive.urlcheck import url_checker
from archive.warc.objects import warc_store
from archive.warc.wacz import WaczError
from archive.web.db import get_db, get_settings, is_staff
from archive.web.errors import error_response
from archive.web.limits import current_token
from archive.web.security import allow_own_scripts
from archive.web.wacz import send_package
from crawler.vantage import UnknownVantage, vantage_named

bp = Blueprint("crawls", __name__)
api_bp = Blueprint("crawls_api", __name__, url_prefix="/api/crawls")

LOG_PAGE = 200
REFRESH_SECONDS = 5


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)


def _staff_only() -> None:
    if not is_staff():
        abort(403, "Crawls are for archive staff: sign in at /login first.")


def _crawl_or_404(crawl_id: int) -> dict[str, Any]:
    try:
        return require_crawl(get_db(), crawl_id)
    except CrawlError as exc:
        abort(404, str(exc))


def _spec(data: dict[str, Any]) -> CrawlSpec:
    """A crawl request (form fields or JSON) as a checked spec; CrawlError naming what is wrong."""
    def number(name: str, kind=int):
        value = data.get(name)
        if value in (None, ""):
            return None
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise CrawlError(f"{name} must be a number, not {value!r}") from None

    seeds = data.get("seeds") or []
    if isinstance(seeds, str):
        seeds = seeds.split()
    if not isinstance(seeds, list) or not all(isinstance(s, str) for s in seeds):
        raise CrawlError('seeds must be a list of URLs, e.g. {"seeds": ["https://example.org/"]}')
    settings = get_settings()
    vantage = str(data.get("vantage") or "direct")
    try:
        vantage_named(settings.capture_vantages, vantage)
    except UnknownVantage as exc:
        raise CrawlError(str(exc)) from None
    spec = CrawlSpec(
        seeds=tuple(seeds), scope=str(data.get("scope") or "host"), name=str(data.get("name") or ""),
        include=data.get("include") or None, exclude=data.get("exclude") or None,
        max_depth=number("max_depth"), max_pages=number("max_pages"), max_bytes=number("max_bytes"),
        max_seconds=number("max_seconds"),
        host_delay=number("host_delay", float) if number("host_delay", float) is not None else 1.0,
        host_concurrency=number("host_concurrency") or 2, vantage=vantage,
        ignore_robots=data.get("ignore_robots") in (True, "1", "on", "true"),
        robots_reason=data.get("robots_reason") or None,
        screenshots=data.get("screenshots") in (True, "1", "on", "true"),
        token_id=current_token().id if current_token() else None)
    return validate(spec, url_checker(settings))


# -- pages (staff) ------------------------------------------------------------------------------


@bp.route("/crawls", methods=("GET", "POST"))
def index() -> Response | tuple[str, int]:
    """Every crawl, newest first, and a form to start one."""
    _staff_only()
    error, form = None, {"seeds": "", "scope": "host", "max_depth": "", "max_pages": "", "host_delay": "1"}
    if request.method == "POST":
        form |= {k: request.form.get(k, "").strip() for k in ("seeds", "scope", "max_depth", "max_pages",
                                                                "host_delay", "include", "exclude")}
        try:
            crawl_id = create_crawl(get_db(), _spec(form))
        except CrawlError as exc:
            error = str(exc)
        else:
            return redirect(url_for("crawls.detail", crawl_id=crawl_id), 303)
    crawls = [c | {"progress": progress(get_db(), c["id"])} for c in list_crawls(get_db())]
    return render_template("crawls.html", crawls=crawls, form=form, error=error), 400 if error else 200


@bp.get("/crawls/<int:crawl_id>")
def detail(crawl_id: int) -> Response:
    """One crawl: progress (the page reloads itself while it runs), summary, per-URL log."""
    _staff_only()
    crawl = _crawl_or_404(crawl_id)
    state = request.args.get("state") if request.args.get("state") in URL_STATES else None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows = crawl_log(get_db(), crawl_id, state, limit=LOG_PAGE + 1, offset=(page - 1) * LOG_PAGE)
    later = [c for c in list_crawls(get_db()) if c["previous_crawl_id"] == crawl_id]
    page = render_template("crawl.html", crawl=crawl, progress=progress(get_db(), crawl_id),
                           summary=summary(get_db(), crawl_id), rows=rows[:LOG_PAGE], state=state, page=page,
                           more=len(rows) > LOG_PAGE, states=URL_STATES, later=later,
                           refresh=REFRESH_SECONDS if crawl["state"] in ACTIVE else None)
    return allow_own_scripts(Response(page), connect=True)  # follow.js: the progress without a reload


@bp.post("/crawls/<int:crawl_id>/<any(pause, resume, cancel, recrawl):action>")
def act(crawl_id: int, action: str) -> Response:
    """Pause, resume, cancel or recrawl (a form button)."""
    _staff_only()
    _crawl_or_404(crawl_id)
    try:
        if action == "recrawl":
            crawl_id = recrawl(get_db(), crawl_id, url_checker(get_settings()))
        else:
            change_state(get_db(), crawl_id, action)
    except CrawlError as exc:
        abort(409, str(exc))
    return redirect(url_for("crawls.detail", crawl_id=crawl_id), 303)


@bp.get("/crawls/<int:earlier>/compare/<int:later>")
def compare_page(earlier: int, later: int) -> str:
    """What the later crawl shows the site lost, one row per page, filterable by kind."""
    _staff_only()
    result = _compare(earlier, later)
    kind = request.args.get("kind") if request.args.get("kind") in KINDS else None
    rows = [r for r in result["rows"] if kind is None or r["kind"] == kind]
    return render_template("crawl_compare.html", result=result, rows=rows, kind=kind, kinds=KINDS,
                           earlier=_crawl_or_404(earlier), later=_crawl_or_404(later))


@bp.get("/crawls/<int:earlier>/compare/<int:later>.csv")
def compare_csv(earlier: int, later: int) -> Response:
    _staff_only()
    response = Response(to_csv(_compare(earlier, later)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="crawl-{earlier}-vs-{later}.csv"'
    return response


def _compare(earlier: int, later: int) -> dict[str, Any]:
    _crawl_or_404(earlier), _crawl_or_404(later)
    try:
        return compare(get_db(), warc_store(get_settings()), earlier, later, get_settings().change_threshold)
    except CrawlError as exc:
        abort(400, str(exc))


@bp.get("/crawls/<int:crawl_id>/wacz")
def wacz(crawl_id: int) -> Response:
    _staff_only()
    return _wacz(crawl_id)


def _wacz(crawl_id: int) -> Response:
    """The crawl's WACZ, written to a temporary file record by record and streamed from it."""
    _crawl_or_404(crawl_id)
    return send_package(lambda package: write_crawl_wacz(package, get_db(), warc_store(get_settings()), crawl_id),
                        f"crawl-{crawl_id}.wacz", {WaczError: 409})


# -- the API (token holders and staff) ----------------------------------------------------------


@api_bp.before_request
def _token_or_staff() -> Response | None:
    if current_token() is None and g.get("user") is None:
        return error_response(401, "Crawls are for API token holders and archive staff: send Authorization: "
                                   "Bearer <token> (staff make tokens with `python -m archive token create NAME`).")
    return None


@api_bp.get("")
def api_list() -> Response:
    """Crawls, newest first, each with its progress."""
    return jsonify(crawls=[progress(get_db(), c["id"]) for c in list_crawls(get_db())])


@api_bp.post("")
def api_start() -> Response:
    """Start a crawl: ``seeds`` (URLs of pages, sitemaps or feeds), ``scope``, limits, politeness."""
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        return error_response(400, 'The request body is not a JSON object. Send e.g. {"seeds": '
                                   '["https://example.org/"], "scope": "host", "max_pages": 1000}.')
    try:
        crawl_id = create_crawl(get_db(), _spec(body))
    except CrawlError as exc:
        return error_response(400, str(exc))
    response = jsonify(progress(get_db(), crawl_id))
    response.status_code = 201
    response.headers["Location"] = url_for("crawls_api.api_get", crawl_id=crawl_id)
    return response


@api_bp.get("/<int:crawl_id>")
def api_get(crawl_id: int) -> Response:
    """A crawl's progress and summary."""
    _crawl_or_404(crawl_id)
    return jsonify(progress(get_db(), crawl_id) | {"summary": summary(get_db(), crawl_id)})


@api_bp.post("/<int:crawl_id>/<any(pause, resume, cancel, recrawl):action>")
def api_act(crawl_id: int, action: str) -> Response:
    """Pause, resume, cancel, or recrawl (201 with the new crawl)."""
    _crawl_or_404(crawl_id)
    try:
        if action == "recrawl":
            new = recrawl(get_db(), crawl_id, url_checker(get_settings()))
            response = jsonify(progress(get_db(), new))
            response.status_code = 201
            return response
        change_state(get_db(), crawl_id, action)
    except CrawlError as exc:
        return error_response(409, str(exc))
    return jsonify(progress(get_db(), crawl_id))


@api_bp.get("/<int:crawl_id>/log")
def api_log(crawl_id: int) -> Response:
    """The per-URL log: ``state`` filter, ``limit`` (1-1000), ``offset``."""
    _crawl_or_404(crawl_id)
    state = request.args.get("state")
    if state is not None and state not in URL_STATES:
        return error_response(400, f"state must be one of {', '.join(URL_STATES)}")
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 1000)
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    return jsonify(urls=crawl_log(get_db(), crawl_id, state, limit, offset), limit=limit, offset=offset)


@api_bp.get("/<int:earlier>/compare/<int:later>")
def api_compare(earlier: int, later: int) -> Response:
    """What the later crawl shows the site lost: removed, changed, added, dropped (URL lists),
    unchanged (a count) and one row per page."""
    return jsonify(_compare(earlier, later))


@api_bp.get("/<int:crawl_id>/wacz")
def api_wacz(crawl_id: int) -> Response:
    """The crawl as one WACZ package."""
    return _wacz(crawl_id)


__all__ = ["api_bp", "bp", "init_app"]
