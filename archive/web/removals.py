"""Removal pages: the list with facets and a chart, one event's before/after, a URL's timeline, the feed.

Everything archived (URLs, titles, evidence, text) is shown escaped; screenshots come from the
record pages' own screenshot route, never archived HTML.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext

from archive.removals.reports import events_by_month, get_event, recent_events
from archive.removals.reports import timeline as url_timeline
from archive.web.atom import removals_feed
from archive.web.barchart import month_bars
from archive.web.db import get_db, get_settings
from archive.web.removal_queries import attach_claims, event_diff, query_events
from archive.web.schemas import InvalidInput
from archive.web.search import FACET_TOP
from detect.outcomes import OUTCOME_LABELS

bp = Blueprint("removals", __name__)

FEED_SIZE = 50


@bp.app_template_filter("outcome_label")
def outcome_label(outcome: str | None) -> str:
    """An outcome as words for readers (the record page uses it too)."""
    if not outcome:
        return gettext("not assessed")
    return gettext(OUTCOME_LABELS[outcome]) if outcome in OUTCOME_LABELS else outcome


@bp.get("/removals")
def index() -> tuple[str, int]:
    """Removal events with facet links, a chart by month and a cursor to the next page."""
    try:
        filters, result = query_events(request.args)
    except InvalidInput as exc:
        abort(400, str(exc))
    active = filters.active()

    def link(**changes: str | None) -> str:
        """This list's URL with some filters changed (None drops one); always from the first page."""
        return url_for("removals.index", **{k: v for k, v in (active | changes).items() if v})

    chart = month_bars(events_by_month(get_db(), filters))
    for bar in chart["bars"]:
        bar["href"] = link(month=None if bar["selected"] else bar["month"])
    next_url = None
    if result["next"]:
        next_url = url_for("removals.index", **active, cursor=result["next"], limit=request.args.get("limit"))
    return render_template("removals.html", result=result, filters=active, link=link, chart=chart,
                           next_url=next_url, paged=bool(request.args.get("cursor")), facet_top=FACET_TOP), 200


@bp.get("/removals/<int:event_id>")
def event(event_id: int) -> str:
    """One removal: the last ok capture beside the first removed one, the evidence and the text diff."""
    found = get_event(get_db(), event_id)
    if found is None:
        abort(404, f"There is no removal event {event_id} in this archive.")
    diff, no_text = event_diff(found)
    attach_claims(found)
    return render_template("removal.html", event=found, diff=diff, no_text=no_text)


@bp.get("/timeline")
def timeline() -> tuple[str, int]:
    """Every capture of one URL from every vantage, with its outcome, and the removal events."""
    url = request.args.get("url", "").strip()
    if not url or len(url) > get_settings().max_url_length:
        abort(400, "Give the URL whose captures to show, e.g. /timeline?url=https://example.org/page.")
    return render_template("timeline.html", timeline=url_timeline(get_db(), url)), 200


@bp.get("/removals.atom")
def feed() -> Response:
    """An Atom 1.0 feed of the newest removal events."""
    events = recent_events(get_db(), FEED_SIZE)
    body = removals_feed(events, base_url=request.host_url.rstrip("/"), host=request.host,
                         archive_name=get_settings().archive_name, labels=OUTCOME_LABELS)
    return Response(body, mimetype="application/atom+xml")
