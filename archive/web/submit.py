"""Submitting a URL for capture, and watching its job until it is done."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request
from flask_babel import lazy_gettext as _l

from archive.capturing.jobs import STEPS, get_job
from archive.catalog import get_capture
from archive.web.db import get_db, get_settings, is_staff
from archive.web.security import allow_own_scripts
from archive.web.submitting import submit_url
from crawler.vantage import UnknownVantage, vantage_named

bp = Blueprint("submit", __name__)

# Seconds between reloads of a job page while its capture is pending.
REFRESH_SECONDS = 2
# A job's status in words for the page (the status itself stays in the element's class).
STATUS_WORDS = {"queued": _l("queued"), "running": _l("running"), "done": _l("done"), "failed": _l("failed")}
# The steps a capture goes through, as its job page lists them (jobs.STEPS in between).
STEP_WORDS = {"queued": _l("Queued: waiting for a browser"), "loading": _l("Loading the page"),
              "recording": _l("Recording it in a WARC file"), "indexing": _l("Indexing its text for search"),
              "done": _l("Done"), "failed": _l("Failed")}
STATE_WORDS = {"passed": _l("(finished)"), "current": _l("(now)"), "failed": _l("(failed here)"),
               "todo": _l("(to come)")}


@bp.route("/submit", methods=("GET", "POST"))
def submit() -> Response | tuple[str, int, dict[str, str]]:
    """A form for one URL with the API's options; a valid one is queued and the browser sent to its job page.

    It goes through the API's own submission (``submit_url``): the same checks, limits and messages."""
    url, error = request.args.get("url", ""), None  # ?url= prefills, e.g. "submit it again"
    vantage, outlinks = "direct", False
    status, headers = 200, {}
    if request.method == "POST":
        url = request.form.get("url", "")
        vantage = request.form.get("vantage", "direct")
        outlinks = request.form.get("capture_outlinks") == "1"
        try:
            vantage_named(get_settings().capture_vantages, vantage)
        except UnknownVantage as exc:
            error, status = str(exc), 400
        else:
            result = submit_url(url, vantage, {"capture_outlinks": outlinks}, None)
            if result.status == 202:
                # 303: reloading the job page must not submit the form again.
                return redirect(result.body["links"]["page"], 303)
            error, status, headers = result.body["error"], result.status, result.headers
    return render_template("submit.html", url=url, error=error, vantage=vantage, outlinks=outlinks,
                           outlinks_max=get_settings().outlinks_max), status, headers


def job_steps(job: dict[str, Any], indexed: bool) -> list[tuple[str, str]]:
    """(step, state) for each step of ``job``; state is passed, current, failed or todo.

    A job is done once its capture is stored; the capture is indexed right after, so a done job whose
    capture is not indexed yet is at "indexing". A failed job failed at the step it had reached.
    """
    names = ["queued", *STEPS, "failed" if job["status"] == "failed" else "done"]
    if job["status"] == "queued":
        at, state = "queued", "current"
    elif job["status"] == "running":
        at, state = job.get("step") or "loading", "current"
    elif job["status"] == "failed":
        at, state = job.get("step") or "loading", "failed"
    else:
        at, state = ("done", "passed") if indexed else ("indexing", "current")
    here = names.index(at)
    steps = [(name, "passed" if i < here else state if i == here else "todo") for i, name in enumerate(names)]
    if job["status"] == "failed":
        steps[-1] = ("failed", "failed")
    return steps


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> Response:
    """A capture job's steps; the page follows the job (a small script, or a reload without one)
    until it is done or failed."""
    found = get_job(get_db(), job_id, staff=is_staff())
    if found is None:
        abort(404, f"There is no capture job {job_id}.")
    capture = get_capture(get_db(), found["capture_id"]) if found["capture_id"] else None
    indexed = capture is None or bool(capture.get("indexed"))
    pending = found["status"] in ("queued", "running") or not indexed
    response = Response(render_template(
        "job.html", job=found, pending=pending, refresh_seconds=REFRESH_SECONDS, status_words=STATUS_WORDS,
        steps=job_steps(found, indexed), step_words=STEP_WORDS, state_words=STATE_WORDS))
    # Each reload must see the job's current state, not a cached page.
    response.headers["Cache-Control"] = "no-store"
    return allow_own_scripts(response, connect=True)  # follow.js: follows the job without a reload
