"""Staff moderation on the web: a capture's visibility form, and the audit log page.

The form posts to ``/capture/<id>/visibility`` (staff only, with the CSRF token every form
carries); ``archive.moderation.set_visibility`` does the work. ``/staff/audit`` lists every
staff action, newest first.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, g, redirect, render_template, request, url_for

from archive.removals.events import vantage_countries
from archive.staff import audit
from archive.staff.moderation import REASONS, VISIBILITIES, ModerationError, compose_reason, set_visibility
from archive.warc.objects import warc_store
from archive.web.auth import staff_required
from archive.web.db import capture_or_404, get_db, get_search, get_settings, is_staff
from archive.web.errors import error_response
from archive.web.schemas import page_number

bp = Blueprint("moderation", __name__)
AUDIT_PAGE = 50


@bp.post("/capture/<int:capture_id>/visibility")
@staff_required
def visibility(capture_id: int) -> Response:
    """Make a capture public, private or removed by us (with a reason); back to its record page."""
    capture_or_404(capture_id)
    wanted = request.form.get("visibility", "")
    try:
        if wanted not in VISIBILITIES:
            raise ModerationError(f"visibility {wanted!r} is not one of {', '.join(VISIBILITIES)}; "
                                  "choose one in the form")
        reason = None
        if wanted != "public":
            reason = compose_reason(request.form.get("reason", ""), request.form.get("note", ""))
        settings = get_settings()
        set_visibility(get_db(), get_search(), capture_id, wanted, reason, g.user["id"],
                       warc_dir=warc_store(settings), country_of=vantage_countries(settings.capture_vantages))
    except ModerationError as exc:
        return error_response(400, f"The capture's visibility was not changed: {exc}.")
    return redirect(url_for("captures.record", capture_id=capture_id, _anchor="moderation"), 303)


@bp.get("/staff/audit")
@staff_required
def audit_log() -> str:
    """Every staff action (sign-ins, takedown orders, watches, moderation), newest first, paged."""
    number = page_number(request.args)
    rows = audit.list_entries(get_db(), limit=AUDIT_PAGE + 1, offset=(number - 1) * AUDIT_PAGE)
    return render_template("staff_audit.html", entries=rows[:AUDIT_PAGE], page=number,
                           older=url_for("moderation.audit_log", page=number + 1) if len(rows) > AUDIT_PAGE else None,
                           newer=url_for("moderation.audit_log", page=number - 1) if number > 1 else None)


def no_store(response: Response) -> Response:
    """Responses that show staff a non-public capture must not be kept by any cache."""
    if g.get("nonpublic_capture"):
        response.headers["Cache-Control"] = "private, no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(no_store)

    @app.context_processor
    def moderation_globals() -> dict[str, Any]:
        return {"is_staff": is_staff, "moderation_reasons": REASONS}
