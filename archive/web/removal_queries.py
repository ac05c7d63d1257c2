"""What the removal pages and their JSON both read: the query-string filters, a page of events,
an event's text diff. No views here: ``removals.py`` renders HTML, ``removals_api.py`` JSON."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate

from archive.catalog import get_records, is_visible
from archive.orders.claims import check_claim
from archive.orders.takedowns import get_takedown
from archive.removals.reports import MONTH, EventFilters, list_events
from archive.warc.objects import warc_store
from archive.warc.store import read_payload
from archive.web.db import get_db, get_settings
from archive.web.schemas import InvalidInput, load
from detect.outcomes import OUTCOME_LABELS
from detect.textdiff import diff_lines


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
    return read_payload(warc_store(get_settings()), refs[0]).decode("utf-8", "replace")


def text_diff(before: str | None, after: str | None) -> tuple[list[tuple[str, str]], bool]:
    """The line diff from the last ok text to the removal's, and whether the removal had no text at all."""
    if after is None or not after.strip():
        # Nothing replaced the page: everything it said is gone.
        return [("removed", line.strip()) for line in (before or "").splitlines() if line.strip()], True
    return diff_lines(before or "", after), False


def attach_claims(event: dict) -> None:
    """Set beside each published order naming the event's URL what captures say of its reported action."""
    for t in event["takedowns"]:
        order = get_takedown(get_db(), t["id"], published_only=True)
        t["claim"] = check_claim(get_db(), order, event["url"]).to_json() if order else None


def event_diff(event: dict) -> tuple[list[tuple[str, str]], bool]:
    """An event's text diff and whether the removal had no text; none at all when either capture is
    not public (a diff against nothing would be misleading)."""
    if any(c and c.get("withheld") for c in (event["before"], event["after"])):
        return [], False
    return text_diff(capture_text(event["before_capture_id"]), capture_text(event["after_capture_id"]))
