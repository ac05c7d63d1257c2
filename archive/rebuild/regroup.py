"""Our WARC files read back into captures, and a lost catalog row rebuilt from one.

A capture's records are written together (archive/capturing/store.py build_records): each exchange as
response (or revisit) then request, the resource records ``urn:screenshot:``, ``urn:dom:``,
``urn:text:``, and last a ``metadata`` record with the capture's provenance as JSON, which
names the main response (``WARC-Refers-To``). A site that could not be reached is that
metadata record alone. So a capture is every record since the previous capture's metadata
record, up to and including its own. The media records (archive/capturing/media.py) come before it:
yt-dlp's file and tracks as ``resource`` records and its info and the capture's media listing as
``metadata`` records at ``urn:media:`` URIs, which belong to the capture and do not end it.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from archive.capturing.countries import provenance_country
from archive.capturing.media import media_role
from archive.capturing.store import extract_capture
from archive.catalog import RecordRef, payload_ref, to_iso
from archive.removals.outcomes import OutcomeJudge
from archive.warc.store import hex_digest, page_of_pageinfo, read_record
from archive.warc.walk import Walked, WarcWalk
from crawler.httpwire import Exchange
from detect import Observation, observe_failure
from detect.observe import MAX_BODY, body_text, redirect_hops

_RESOURCE_ROLES = ("screenshot", "dom", "text", "timestamp")


@dataclass
class CaptureGroup:
    """One capture's records as found in a WARC file."""

    warc_file: str
    refs: list[RecordRef]  # the file's warcinfo first, then the capture's records in file order
    provenance: dict[str, Any]
    metadata_uri: str  # the metadata record's target URI: urn:pageinfo:<the URL asked for> (older files: the URL)
    metadata_date: str
    end: int  # offset just past the capture's last record: where the next one starts
    text: str | None = None
    dom: str | None = None
    media: dict[str, Any] = field(default_factory=dict)  # the media listing (items, post), if the capture has one
    hops: list[Exchange] = field(default_factory=list)  # every response's URL, status and headers

    @property
    def key(self) -> str:
        """The record id that identifies the capture in the catalog: its provenance record's."""
        return self.refs[-1].record_id

    @property
    def main(self) -> RecordRef | None:
        return next((r for r in self.refs if r.role == "main"), None)


def _wanted(record) -> bool:
    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
    return record.rec_type == "metadata" or (record.rec_type == "resource" and uri.startswith(("urn:text:",
                                                                                               "urn:dom:")))


def record_ref(warc_file: str, role: str, walked: Walked) -> RecordRef:
    """Where a walked record is, with the facts the catalog keeps of it."""
    rec_type = walked.rec_type
    return RecordRef(
        role, rec_type, walked.header("WARC-Target-URI") or "", walked.header("WARC-Record-ID") or "",
        walked.header("Content-Type") or "", warc_file, walked.offset, walked.length,
        walked.header("WARC-Payload-Digest"), walked.header("WARC-Block-Digest"),
        refers_to=walked.header("WARC-Refers-To") if rec_type == "revisit" else None,
        warc_date=walked.header("WARC-Date"), truncated=walked.header("WARC-Truncated"))


def read_warcinfo(path: Path) -> RecordRef | None:
    """The file's first record when it is a warcinfo record (every capture's refs start with it)."""
    for walked in WarcWalk(path):
        return record_ref(path.name, "warcinfo", walked) if walked.rec_type == "warcinfo" else None
    return None


def _hop(walked: Walked) -> Exchange:
    head = walked.record.http_headers.to_bytes() if walked.record.http_headers else b""
    status = walked.record.http_headers.get_statuscode() if walked.record.http_headers else "0"
    return Exchange(url=walked.header("WARC-Target-URI") or "", method="GET", started=datetime.now(),
                    ip="", request_head=b"", request_body=b"", response_head=head,
                    status=int(status) if str(status).isdigit() else 0)


def iter_captures(walk: WarcWalk, warcinfo: RecordRef | None) -> Iterator[CaptureGroup]:
    """The captures in ``walk``'s file, in order; records of no capture (a takedown document,
    a torn capture at the end) are passed over."""
    name = walk.path.name
    pending: list[tuple[Walked, str]] = []
    texts: dict[str, bytes] = {}
    hops: list[Exchange] = []
    for walked in walk:
        rec_type, uri = walked.rec_type, walked.header("WARC-Target-URI") or ""
        if rec_type == "warcinfo":
            continue
        if rec_type == "resource" and uri.startswith("urn:takedown:"):
            pending, texts, hops = [], {}, []
            continue
        role = media_role(rec_type, uri) if rec_type in ("resource", "metadata") else None
        if role is not None:
            pending.append((walked, role))
            if role == "media" and walked.payload is not None:
                texts[role] = walked.payload
        elif rec_type in ("response", "revisit"):
            pending.append((walked, "response"))
            hops.append(_hop(walked))
        elif rec_type == "request":
            pending.append((walked, "request"))
        elif rec_type == "resource":
            kind = uri.split(":", 2)[1] if uri.startswith("urn:") else "resource"
            # yt-dlp's file at the media's own URL (the only resource a capture keeps at an http URL)
            role = kind if kind in _RESOURCE_ROLES else "media-file" if uri.startswith("http") else "resource"
            pending.append((walked, role))
            if walked.payload is not None and role in ("text", "dom"):
                texts[role] = walked.payload
        elif rec_type == "metadata":
            try:
                provenance = json.loads(walked.payload or b"{}")
            except ValueError:
                provenance = {}
            main_id = walked.header("WARC-Refers-To")
            refs = [warcinfo] if warcinfo else []
            for w, role in pending:
                if role == "response" and w.header("WARC-Record-ID") == main_id:
                    role = "main"
                refs.append(record_ref(name, role, w))
            refs.append(record_ref(name, "provenance", walked))
            yield CaptureGroup(name, refs, provenance if isinstance(provenance, dict) else {}, uri,
                               walked.header("WARC-Date") or "", walked.offset + walked.length,
                               text=_utf8(texts.get("text")), dom=_utf8(texts.get("dom")), hops=hops,
                               media=_json(texts.get("media")))
            pending, texts, hops = [], {}, []


def walk_captures(path: Path, start: int = 0) -> tuple[WarcWalk, Iterator[CaptureGroup]]:
    """A walk of ``path`` from ``start`` (its ``damage`` is known once the iterator is spent)."""
    walk = WarcWalk(path, start, want_payload=_wanted)
    return walk, iter_captures(walk, read_warcinfo(path))


def _json(data: bytes | None) -> dict[str, Any]:
    try:
        found = json.loads(data) if data else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _utf8(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def _iso(text: str | None, fallback: str) -> str:
    try:
        return to_iso(datetime.fromisoformat(str(text).replace("Z", "+00:00")))
    except ValueError:
        return to_iso(datetime.fromisoformat(fallback.replace("Z", "+00:00")))


def capture_row(db: sqlite3.Connection, warc_dir: Path, group: CaptureGroup, judge: OutcomeJudge) -> dict[str, Any]:
    """The catalog row store_capture (or store_unreachable) wrote for this capture, rebuilt.

    Title and language are extracted again from the main response and the DOM record (the same
    extract_capture() on the same bytes); the outcome is judged again from the main response,
    against the catalog as rebuilt so far (captures are rebuilt in file order, which is time order).
    """
    p = group.provenance
    url = p.get("requested_url") or page_of_pageinfo(group.metadata_uri)
    vantage = (p.get("vantage") or {}).get("name") or "direct"
    started = _iso(p.get("started_at"), group.metadata_date)
    ended = _iso(p.get("ended_at"), group.metadata_date)
    main = group.main
    if main is None:  # the site was not reached: the metadata record is the whole capture
        failure = p.get("failure") or {"kind": "unknown", "error": "no response was recorded"}
        outcome = judge.judge(db, observe_failure(url, failure), url, vantage)
        return {"url": url, "final_url": url, "captured_at": started, "ended_at": ended, "status": None,
                "title": "", "lang": "", "sha256": None, "partial": False, "partial_reasons": [], "blocked": [],
                "vantage": vantage, "vantage_country": provenance_country(p), "outcome": outcome.label,
                "evidence": outcome.evidence}
    final_url = p.get("final_url") or url
    main_ex, headers = _main_exchange(db, warc_dir, group, main)
    extracted = extract_capture(main_ex, group.dom or "", final_url, p.get("browser_charset"))
    text = group.text if group.text is not None else extracted.text
    observation = Observation(requested_url=url, final_url=final_url, status=main_ex.status or None,
                              headers=headers, body_text=body_text(main_ex), main_text=text,
                              redirects=redirect_hops(url, group.hops))
    outcome = judge.judge(db, observation, url, vantage)
    return {"url": url, "final_url": final_url, "captured_at": started, "ended_at": ended,
            "status": p.get("status", observation.status), "title": extracted.title or _media_title(group.media),
            "lang": extracted.lang,
            "sha256": hex_digest(main.payload_digest), "partial": bool(p.get("partial")),
            "partial_reasons": p.get("partial_reasons") or [], "blocked": p.get("blocked_requests") or [],
            "vantage": vantage, "vantage_country": provenance_country(p), "outcome": outcome.label,
            "evidence": outcome.evidence, "bytes": p.get("bytes"),
            "author": (group.media.get("post") or {}).get("author")}


def _media_title(listing: dict[str, Any]) -> str:
    """yt-dlp's title of the media, which store_capture takes when the page itself has none (a bare
    video or playlist URL)."""
    return next((item["info"].get("title") or "" for item in listing.get("items") or []
                 if item.get("source") == "yt-dlp" and isinstance(item.get("info"), dict)), "")


def _main_exchange(db: sqlite3.Connection, warc_dir: Path, group: CaptureGroup,
                   main: RecordRef) -> tuple[Exchange, list]:
    """The main response as stored, as the capture had it (the classifier's and extraction's input)."""
    record = read_record(warc_dir, main)
    holder = main
    if main.record_type == "revisit":  # its payload is in the original, maybe earlier in this capture
        holder = next((r for r in group.refs if r.record_id == main.refers_to), None) or payload_ref(db, main)
    raw = (record if holder is main else read_record(warc_dir, holder)).raw_stream.read(MAX_BODY)
    headers = record.http_headers
    status = int(headers.get_statuscode()) if headers and headers.get_statuscode().isdigit() else None
    main_ex = Exchange(url=main.target_uri, method="GET", started=datetime.now(), ip="", request_head=b"",
                       request_body=b"", response_head=headers.to_bytes() if headers else b"",
                       body=BytesIO(raw), body_length=len(raw), status=status or 0)
    return main_ex, list(headers.headers) if headers else []
