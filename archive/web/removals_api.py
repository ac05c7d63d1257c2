"""The removals as JSON: the same lists, facets, events and timelines as the pages."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, jsonify, request, url_for

from archive.catalog import iso_utc
from archive.lookup.present import capture_json, capture_links
from archive.removals.reports import events_by_month, get_event, orders_for_url
from archive.removals.reports import timeline as url_timeline
from archive.web.db import get_db, get_settings
from archive.web.errors import error_response
from archive.web.removal_queries import attach_claims, event_diff, query_events
from detect.outcomes import OUTCOME_LABELS

bp = Blueprint("removals_api", __name__, url_prefix="/api")



def takedown_brief(t: dict[str, Any]) -> dict[str, Any]:
    """A published order naming a URL, as the removal, capture and timeline JSON list it (with ``claim``
    when the reader set it beside captures)."""
    out = {"id": t["id"], "authority": t["authority"], "country": t["country"],
           "links": {"page": f"/takedowns/{t['id']}", "self": f"/api/takedowns/{t['id']}"}}
    if "claim" in t:
        out["claim"] = t["claim"]
    return out


def capture_reply(capture: dict[str, Any], records: list) -> dict[str, Any]:
    """A capture as ``GET /api/captures/<id>`` gives it: its JSON and the published orders naming its URL."""
    orders = orders_for_url(get_db(), capture["url"])
    return capture_json(capture, records) | {"takedowns": [takedown_brief(t) for t in orders]}


def event_json(event: dict[str, Any]) -> dict[str, Any]:
    """One removal event as the list and the event page show it."""
    timeline = f"/timeline?url={quote(event['url'], safe='')}"
    return {
        "id": event["id"],
        "url": event["url"],
        "site": event["site"],
        "vantage": event["vantage"],
        "country": event["country"],
        "outcome": event["outcome"],
        "outcome_label": OUTCOME_LABELS.get(event["outcome"], event["outcome"]),
        "scope": event["scope"],
        "last_ok_at": iso_utc(event["last_ok_at"]),
        "first_removed_at": iso_utc(event["first_removed_at"]),
        "closed_at": iso_utc(event["closed_at"]),
        "open": event["open"],
        "before_capture_id": event["before_capture_id"],
        "after_capture_id": event["after_capture_id"],
        "restored_capture_id": event["restored_capture_id"],
        "evidence_capture_id": event["evidence_capture_id"] or event["after_capture_id"],  # the strongest seen
        "takedowns": [takedown_brief(t) for t in event.get("takedowns", [])],
        "links": {"self": f"/api/removals/{event['id']}", "page": f"/removals/{event['id']}",
                  "timeline": f"/api{timeline}", "timeline_page": timeline},
    }


def blocking_json(m: dict[str, Any]) -> dict[str, Any]:
    """An imported measurement (OONI) that found a URL blocked."""
    return {"source": m["source"], "measurement_id": m["measurement_id"], "url": m["url"], "country": m["country"],
            "asn": m["asn"], "measured_at": iso_utc(m["measured_at"]), "blocking": m["blocking"],
            "accessible": None if m["accessible"] is None else bool(m["accessible"])}


def capture_brief(capture: dict[str, Any] | None) -> dict[str, Any] | None:
    """A capture as a removal shows it: when, from where, what came back, and why it was labelled so."""
    if capture is None:
        return None
    if capture.get("withheld"):  # made non-public by staff: only that and why
        return {"id": capture["id"], "visibility": capture["visibility"], "reason": capture["visibility_reason"]}
    return {
        "id": capture["id"],
        "captured_at": iso_utc(capture["captured_at"]),
        "vantage": capture["vantage"],
        "vantage_country": capture["vantage_country"],
        "status": capture["status"],
        "final_url": capture["final_url"],
        "title": capture["title"] or "",
        "outcome": capture["outcome"],
        "evidence": capture["evidence"],
        "links": capture_links(capture["id"], capture["has_screenshot"]),
    }


@bp.get("/removals")
def removals() -> Response:
    """Removal events: filters ``country``, ``authority``, ``site``, ``outcome``, ``month``, ``state``;
    ``limit`` (1-100) and ``cursor`` (from ``next``)."""
    filters, result = query_events(request.args)
    next_link = None
    if result["next"]:
        next_link = url_for("removals_api.removals", **filters.active(), cursor=result["next"],
                            limit=request.args.get("limit"))
    return jsonify({
        "total": result["total"],
        "filters": filters.active(),
        "events": [event_json(e) for e in result["events"]],
        "facets": {name: [{"value": f["value"], "count": f["count"], "selected": f["selected"]} for f in values]
                   for name, values in result["facets"].items()},
        "months": [{"month": m["month"], "count": m["count"]} for m in events_by_month(get_db(), filters)],
        "next": result["next"],
        "links": {"next": next_link, "feed": "/removals.atom"},
    })


@bp.get("/removals/<int:event_id>")
def removal(event_id: int) -> Response:
    """One event with both captures, their evidence, and the text diff."""
    found = get_event(get_db(), event_id)
    if found is None:
        abort(404, f"There is no removal event {event_id} in this archive.")
    diff, no_text = event_diff(found)
    attach_claims(found)
    return jsonify(event_json(found) | {
        "before": capture_brief(found["before"]), "after": capture_brief(found["after"]),
        "restored": capture_brief(found["restored"]), "strongest": capture_brief(found["strongest"]),
        "diff": {"after_has_text": not no_text, "lines": [{"op": op, "text": text} for op, text in diff]},
        "blocking": [blocking_json(m) for m in found.get("blocking", [])],
    })


@bp.get("/timeline")
def timeline() -> Response:
    """Every capture of ``url`` per vantage, oldest first, and its removal events."""
    url = request.args.get("url", "").strip()
    if not url or len(url) > get_settings().max_url_length:
        return error_response(400, "Give the URL whose captures to show, e.g. /api/timeline?url=https://example.org/page.",
                              fields={"url": ["Give a URL."]})
    found = url_timeline(get_db(), url)
    return jsonify({
        "url": found["url"],
        "vantages": [{"name": v["name"], "country": v["country"],
                      "captures": [capture_brief(c) | {"marks": c["marks"]} for c in v["captures"]]}
                     for v in found["vantages"]],
        "events": [event_json(e) for e in found["events"]],
        "takedowns": [takedown_brief(t) for t in found["takedowns"]],
        "blocking": [blocking_json(m) for m in found.get("blocking", [])],
    })
