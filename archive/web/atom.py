"""The removals feed as Atom 1.0 (RFC 4287), built with ElementTree so every value is escaped."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from archive.catalog import iso_utc, utcnow

ATOM = "http://www.w3.org/2005/Atom"
# Tag URIs (RFC 4151) need a date on which the name was ours; a fixed one keeps ids permanent.
TAG_DATE = "2024"
# XML 1.0 cannot carry most control characters even escaped; archived strings may hold them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _sub(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _clean(text)
    return element


def summary(event: dict[str, Any], labels: dict[str, str]) -> str:
    """One sentence on what happened, where and when, and who ordered it if we know."""
    where = ("removed at source" if event["scope"] == "source"
             else f"blocked in {event.get('country') or event['vantage']}")
    text = (f"{event['url']} was last seen available {iso_utc(event['last_ok_at'])} and first seen "
            f"{labels.get(event['outcome'], event['outcome'])} {iso_utc(event['first_removed_at'])} "
            f"from vantage {event['vantage']}: {where}.")
    authorities = sorted({t["authority"] for t in event.get("takedowns", [])})
    if authorities:
        text += f" Ordered by {', '.join(authorities)}."
    if event.get("closed_at"):
        text += f" Available again {iso_utc(event['closed_at'])}."
    return text


def removals_feed(events: list[dict[str, Any]], *, base_url: str, host: str, archive_name: str,
                  labels: dict[str, str]) -> bytes:
    """The feed document for ``events`` (newest first), links absolute under ``base_url``."""
    authority = host.rsplit(":", 1)[0] if not host.endswith("]") else host  # tag URIs take no port
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", f"tag:{authority},{TAG_DATE}:removals")
    _sub(feed, "title", f"{archive_name}: removals")
    _sub(feed, "subtitle", "Pages the archive saw disappear, be blocked or replaced by a notice.")
    updated = [e.get("closed_at") or e["first_removed_at"] for e in events]
    _sub(feed, "updated", iso_utc(max(updated) if updated else utcnow()))
    _sub(_sub(feed, "author"), "name", archive_name)
    _sub(feed, "link", rel="self", type="application/atom+xml", href=f"{base_url}/removals.atom")
    _sub(feed, "link", rel="alternate", type="text/html", href=f"{base_url}/removals")
    for event in events:
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"tag:{authority},{TAG_DATE}:removal/{event['id']}")
        _sub(entry, "title", f"Removed: {event['url']} ({labels.get(event['outcome'], event['outcome'])})")
        _sub(entry, "published", iso_utc(event["first_removed_at"]))
        _sub(entry, "updated", iso_utc(event.get("closed_at") or event["first_removed_at"]))
        _sub(entry, "link", rel="alternate", type="text/html", href=f"{base_url}/removals/{event['id']}")
        _sub(entry, "category", term=event["outcome"], label=labels.get(event["outcome"], event["outcome"]))
        _sub(entry, "summary", summary(event, labels), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
