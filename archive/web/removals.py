"""Removal pages: the list with facets and a chart, one event's before/after, a URL's timeline, the feed.

Everything archived (URLs, titles, evidence, text) is shown escaped; screenshots come from the
record pages' own screenshot route, never archived HTML.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext
from marshmallow import EXCLUDE, Schema, fields, pre_load, validate

from archive.catalog import get_records, is_visible
from archive.removals.reports import (
    MONTH,
    OUTCOME_LABELS,
    EventFilters,
    events_by_month,
    get_event,
    list_events,
    recent_events,
)
from archive.removals.reports import timeline as url_timeline
from archive.warc.store import read_payload
from archive.web.atom import removals_feed
from archive.web.barchart import month_bars
from archive.web.db import get_db, get_settings
from archive.web.schemas import InvalidInput, load
from detect.textdiff import diff_lines

bp = Blueprint("removals", __name__)

FEED_SIZE = 50


@bp.app_template_filter("outcome_label")
def outcome_label(outcome: str | None) -> str:
    """An outcome as words for readers (the record page uses it too)."""
    if not outcome:
        return gettext("not assessed")
    return gettext(OUTCOME_LABELS[outcome]) if outcome in OUTCOME_LABELS else outcome


class RemovalArgs(Schema):
    """Query string of ``/removals`` and ``/api/removals``: the facet filters and the page."""

    class Meta:
        unknown = EXCLUDE  # shared links pick up utm_source and the like

    country = fields.String(load_default=None, validate=validate.Length(min=2, max=64))
    authority = fields.String(load_default=None, validate=validate.Length(max=500))
    site = fields.String(load_default=None, validate=validate.Length(max=253))
    outcome = fields.String(load_default=None, validate=validate.OneOf(sorted(OUTCOME_LABELS)))
    month = fields.String(load_default=None, validate=validate.Regexp(MONTH, error="Use a month such as 2024-04."))
    state = fields.String(load_default=None, validate=validate.OneOf(["open", "closed"]))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))

    @pre_load
    def drop_empty(self, data: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        # "" means "not given", as an HTML form sends it; countries are ISO codes, upper case.
        out = {k: v.strip() for k, v in data.items() if isinstance(v, str) and v.strip()}
        if "country" in out:
            out["country"] = out["country"].upper()
        return out


def read_args(args: Mapping[str, Any]) -> tuple[EventFilters, str | None, int]:
    """Filters, cursor and page size from a query string; InvalidInput if any is wrong."""
    data = load(RemovalArgs(), args)
    filters = EventFilters(**{k: data[k] for k in ("country", "authority", "site", "outcome", "month", "state")})
    return filters, data["cursor"], data["limit"]


def query_events(args: Mapping[str, Any]) -> tuple[EventFilters, dict[str, Any]]:
    """The page of events a query string asks for; a bad cursor is InvalidInput like any bad field."""
    filters, cursor, limit = read_args(args)
    try:
        return filters, list_events(get_db(), filters, cursor, limit)
    except ValueError as exc:
        raise InvalidInput({"cursor": [str(exc)]}) from None


def capture_text(capture_id: int | None) -> str | None:
    """The main text extracted from a capture, or None if it has none."""
    if capture_id is None:
        return None
    row = get_db().execute("SELECT visibility FROM captures WHERE id = ?", (capture_id,)).fetchone()
    if row is None or not is_visible(row):  # withdrawn by staff: its text is not shown
        return None
    refs = get_records(get_db(), capture_id, role="text")
    if not refs:
        return None
    return read_payload(get_settings().warc_dir, refs[0]).decode("utf-8", "replace")


def text_diff(before: str | None, after: str | None) -> tuple[list[tuple[str, str]], bool]:
    """The line diff from the last ok text to the removal's, and whether the removal had no text at all."""
    if after is None or not after.strip():
        # Nothing replaced the page: everything it said is gone.
        return [("removed", line.strip()) for line in (before or "").splitlines() if line.strip()], True
    return diff_lines(before or "", after), False


def event_diff(event: dict) -> tuple[list[tuple[str, str]], bool]:
    """An event's text diff and whether the removal had no text; none at all when either capture is
    not public (a diff against nothing would be misleading)."""
    if any(c and c.get("withheld") for c in (event["before"], event["after"])):
        return [], False
    return text_diff(capture_text(event["before_capture_id"]), capture_text(event["after_capture_id"]))


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
                           next_url=next_url, paged=bool(request.args.get("cursor"))), 200


@bp.get("/removals/<int:event_id>")
def event(event_id: int) -> str:
    """One removal: the last ok capture beside the first removed one, the evidence and the text diff."""
    found = get_event(get_db(), event_id)
    if found is None:
        abort(404, f"There is no removal event {event_id} in this archive.")
    diff, no_text = event_diff(found)
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
