"""Submitting a URL for capture, and watching its job until it is done."""
from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from archive.capturing.budget import OverBudget, check_budget
from archive.capturing.jobs import enqueue, get_job
from archive.urlcheck import url_checker
from archive.web.db import get_db, get_settings, is_staff
from crawler.netpolicy import URLRejected
from crawler.vantage import UnknownVantage, vantage_named

bp = Blueprint("submit", __name__)

# Seconds between reloads of a job page while its capture is pending.
REFRESH_SECONDS = 2
# A job's status in words for the page (the status itself stays in the element's class).
STATUS_WORDS = {"queued": _l("queued"), "running": _l("running"), "done": _l("done"), "failed": _l("failed")}


@bp.route("/submit", methods=("GET", "POST"))
def submit() -> Response | tuple[str, int, dict[str, str]]:
    """A form for one URL; a valid one is queued and the browser sent to its job page."""
    url, error = request.args.get("url", ""), None  # ?url= prefills, e.g. "submit it again"
    status, headers = 200, {}
    if request.method == "POST":
        url = request.form.get("url", "")
        vantage = request.form.get("vantage", "direct")
        try:
            normalized = url_checker(get_settings())(url)
            vantage_named(get_settings().capture_vantages, vantage)
            check_budget(get_db(), normalized, get_settings().host_daily_bytes)
        except (URLRejected, UnknownVantage) as exc:
            error, status = str(exc), 400
        except OverBudget as exc:  # the host's bytes for today are used up: try again after the reset
            error, status, headers = str(exc), 429, {"Retry-After": str(exc.retry_after())}
        else:
            job_id = enqueue(get_db(), normalized, vantage)
            # 303: reloading the job page must not submit the form again.
            return redirect(url_for("submit.job", job_id=job_id), 303)
    return render_template("submit.html", url=url, error=error), status, headers


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> Response:
    """A capture job's status; the page reloads itself until the job is done or failed."""
    found = get_job(get_db(), job_id, staff=is_staff())
    if found is None:
        abort(404, f"There is no capture job {job_id}.")
    pending = found["status"] in ("queued", "running")
    response = Response(render_template("job.html", job=found, pending=pending,
                                        refresh_seconds=REFRESH_SECONDS, status_words=STATUS_WORDS))
    # Each reload must see the job's current state, not a cached page.
    response.headers["Cache-Control"] = "no-store"
    return response
