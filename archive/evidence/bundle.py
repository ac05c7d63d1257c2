"""One signed WACZ per removal event: everything a court needs to see what vanished, in one file.

The bundle holds the last capture before the removal, every capture that saw the page gone while
the event was open (from every vantage point), the published takedown orders naming the URL (their
record as JSON and their archived document), and a summary page (``evidence/summary.html``, and
printed by Chromium as ``evidence/summary.pdf`` where it starts) saying
what was there, what replaced it, when, from where, under which order, with every digest. It is a
WACZ like any other export (``write_wacz``), so it is signed (and timestamped where TSA_URL is set),
its ``pages.jsonl`` opens each capture in replayweb.page, and ``verify-wacz`` checks every byte.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from jinja2 import Environment

from archive import catalog
from archive.catalog import iso_utc, visible_sql
from archive.evidence.pdf import summary_pdf
from archive.orders import takedowns as orders
from archive.removals.reports import get_event
from archive.settings import Settings
from archive.warc.objects import warc_store
from archive.warc.signing import Signer
from archive.warc.store import hex_digest
from archive.warc.wacz import write_wacz

SUMMARY_PATH = "evidence/summary.html"
PDF_PATH = "evidence/summary.pdf"
EVENT_PATH = "evidence/event.json"
# What of an order goes into a bundle: its public record (not who entered it, nor where it is stored).
ORDER_FIELDS = ("id", "authority", "recipient", "country", "legal_basis", "issued_on", "received_on",
                "effective_on", "action_demanded", "action_reported", "summary", "document_name", "document_type",
                "document_sha256", "urls")


class BundleError(LookupError):
    """No bundle can be made for this event (unknown, or none of its captures is public)."""


@dataclass
class Bundle:
    """What goes into one event's bundle."""

    event: dict[str, Any]
    before: dict[str, Any] | None
    gone: list[dict[str, Any]]
    orders: list[dict[str, Any]] = field(default_factory=list)
    documents: list[tuple[str, bytes]] = field(default_factory=list)  # (path in the package, bytes)

    @property
    def capture_ids(self) -> list[int]:
        return ([self.before["id"]] if self.before else []) + [c["id"] for c in self.gone]

    def name(self) -> str:
        return f"removal-{self.event['id']}-evidence.wacz"


def _variants(url: str) -> tuple[str, str]:
    rest = url.split("://", 1)[-1]
    return f"http://{rest}", f"https://{rest}"


def gather(db: sqlite3.Connection, settings: Settings, event_id: int) -> Bundle:
    """The event, its captures and its published orders with their documents; BundleError if none."""
    event = get_event(db, event_id)
    if event is None:
        raise BundleError(f"there is no removal event {event_id} in this archive")
    before = event["before"] if event["before"] and not event["before"].get("withheld") else None
    # Every public capture of the page, from any vantage, that saw it gone while the event was open.
    until = " AND captured_at < ?" if event["closed_at"] else ""
    params = [*_variants(event["url"]), event["first_removed_at"]] + ([event["closed_at"]] if until else [])
    ids = [r[0] for r in db.execute(
        f"SELECT id FROM captures WHERE url IN (?, ?) AND captured_at >= ?{until} AND outcome IS NOT NULL"
        f" AND outcome != 'ok' AND {visible_sql()} ORDER BY captured_at, id", params)]
    if event["after_capture_id"] not in ids and event["after"] and not event["after"].get("withheld"):
        ids.insert(0, event["after_capture_id"])
    gone = [catalog.get_capture(db, i) for i in ids]
    if before is None and not gone:
        raise BundleError(f"removal event {event_id} has no public capture to put in a bundle")
    bundle = Bundle(event, catalog.get_capture(db, before["id"]) if before else None, gone)
    for brief in event.get("takedowns", []):
        order = orders.get_takedown(db, brief["id"], published_only=True)
        if order is None:
            continue
        bundle.orders.append({k: order.get(k) for k in ORDER_FIELDS})
        if order.get("document_warc_file"):
            name = f"orders/takedown-{order['id']}-{order['document_name'] or 'document'}"
            bundle.documents.append((name, orders.read_document(settings, order)))
    return bundle


def _capture_facts(db: sqlite3.Connection, capture: dict[str, Any]) -> dict[str, Any]:
    records = catalog.get_records(db, capture["id"], with_originals=True)
    return {
        "id": capture["id"], "url": capture["url"], "final_url": capture.get("final_url"),
        "captured_at": iso_utc(capture["captured_at"]), "status": capture.get("status"),
        "title": capture.get("title") or "", "outcome": capture.get("outcome"),
        "vantage": capture.get("vantage") or "direct", "country": capture.get("vantage_country"),
        "sha256": capture.get("sha256"), "evidence": capture.get("evidence") or {},
        "records": [{"type": r.record_type, "role": r.role, "id": r.record_id, "uri": r.target_uri,
                     "payload_sha256": hex_digest(r.payload_digest), "block_sha256": hex_digest(r.block_digest)}
                    for r in records],
    }


def facts(db: sqlite3.Connection, bundle: Bundle, archive_name: str, event_url: str | None = None) -> dict[str, Any]:
    """Everything the summary states, as data (``evidence/event.json``)."""
    event = bundle.event
    return {
        "archive": archive_name, "event_page": event_url,
        "event": {k: event.get(k) for k in ("id", "url", "vantage", "country", "outcome", "scope", "open")}
        | {"last_ok_at": iso_utc(event.get("last_ok_at")), "first_removed_at": iso_utc(event.get("first_removed_at")),
           "closed_at": iso_utc(event.get("closed_at"))},
        "before": _capture_facts(db, bundle.before) if bundle.before else None,
        "gone": [_capture_facts(db, c) for c in bundle.gone],
        "orders": bundle.orders,
        "documents": [{"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                      for path, data in bundle.documents],
    }


# The summary's template sits beside this module; autoescaped, as titles and URLs come from archived pages.
SUMMARY = Environment(autoescape=True).from_string((Path(__file__).parent / "summary.html").read_text("utf-8"))


def write_bundle(out: BinaryIO, db: sqlite3.Connection, settings: Settings, event_id: int, *,
                 signer: Signer | None = None, event_url: str | None = None, pdf: bool = True) -> dict[str, Any]:
    """Write event ``event_id``'s signed evidence WACZ to ``out`` (seekable); return its datapackage.

    With ``pdf``, the summary is also printed to ``evidence/summary.pdf`` by Chromium (when it starts)."""
    bundle = gather(db, settings, event_id)
    found = facts(db, bundle, settings.archive_name, event_url)
    summary = SUMMARY.render(f=found)
    extra: list[tuple[str, bytes]] = [
        (SUMMARY_PATH, summary.encode("utf-8")),
        (EVENT_PATH, json.dumps(found, indent=1, ensure_ascii=False).encode("utf-8")),
    ]
    printed = summary_pdf(summary, settings.chromium_path) if pdf else None
    if printed:
        extra.append((PDF_PATH, printed))
    extra += [(f"orders/takedown-{o['id']}.json", json.dumps(o, indent=1, ensure_ascii=False).encode("utf-8"))
              for o in bundle.orders]
    extra += bundle.documents
    return write_wacz(out, db, warc_store(settings), bundle.capture_ids, signer=signer, extra=extra,
                      title=f"{settings.archive_name}: evidence of removal {event_id} ({bundle.event['url']})",
                      description=f"Removal event {event_id}: {bundle.event['url']}, {bundle.event['outcome']} "
                                  f"from {bundle.event['vantage']} since {iso_utc(bundle.event['first_removed_at'])}")
