"""Turning a finished capture into WARC records, catalog rows and an index entry.

Order matters for crash safety: WARC records are written and fsynced first,
then the catalog row is committed, then the page is indexed. A crash leaves at
worst WARC records nobody points to, never a catalog row without its records.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from io import BytesIO

from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser

from archive.capturing.indexing import domain_of, index_doc, reindex_url  # noqa: F401 (domain_of: public here too)
from archive.catalog import RecordRef, add_capture, set_indexed
from archive.removals.events import CountryOf, update_events
from archive.removals.outcomes import OutcomeJudge
from archive.warc.dedup import Deduplicator
from archive.warc.store import PendingRecord, RollingWarcWriter, Sha256WARCWriter, hex_digest, pageinfo_uri
from crawler import CaptureFailed, CaptureResult
from crawler.version import __version__
from detect import observe, observe_failure
from search import extract

SOFTWARE = f"takedown-archive/{__version__} (warcio, Playwright + Chromium, recording proxy)"

_builder = Sha256WARCWriter(None, warc_version="1.1")


class RawHeaders(StatusAndHeaders):
    """HTTP headers that are written back exactly as they were received."""

    raw: bytes = b""

    def compute_headers_buffer(self, header_filter=None):
        self.headers_buff = self.raw


def _http_headers(head: bytes, request: bool) -> RawHeaders:
    text = head.decode("latin-1")
    parsed = StatusAndHeadersParser([], verify=False).parse(BytesIO(head))
    if request:
        # warcio keeps a request line's method as its status line; nothing to change.
        pass
    headers = RawHeaders(parsed.statusline, parsed.headers, protocol=parsed.protocol)
    headers.raw = head if head.endswith(b"\r\n\r\n") else (text.rstrip("\r\n") + "\r\n\r\n").encode("latin-1")
    return headers


def _warc_date(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_records(result: CaptureResult, text: str, dedup: Deduplicator | None = None) -> list[PendingRecord]:
    """Every exchange as response then request, then screenshot, DOM, text and provenance.

    With ``dedup``, a response whose payload is already archived is a revisit record instead.
    """
    records: list[PendingRecord] = []
    main_id = None
    for ex in result.exchanges:
        ex.body.seek(0)
        warc_headers = {"WARC-Date": _warc_date(ex.started)}
        if ex.ip:  # unknown when a vantage's proxy made the connection
            warc_headers["WARC-IP-Address"] = ex.ip
        if ex.truncated:
            warc_headers["WARC-Truncated"] = ex.truncated
        response = _builder.create_warc_record(
            ex.url, "response", payload=ex.body, length=ex.body_length,
            http_headers=_http_headers(ex.response_head, False), warc_headers_dict=warc_headers)
        if dedup is not None:
            response = dedup.dedup(response, ex.body, ex.body_length, ex.truncated)
        response_id = response.rec_headers.get_header("WARC-Record-ID")
        request = _builder.create_warc_record(
            ex.url, "request", payload=BytesIO(ex.request_body), length=len(ex.request_body),
            http_headers=_http_headers(ex.request_head, True),
            warc_headers_dict={"WARC-Date": _warc_date(ex.started), "WARC-Concurrent-To": response_id})
        is_main = ex is result.main
        if is_main:
            main_id = response_id
        records.append(PendingRecord("main" if is_main else "response", response))
        records.append(PendingRecord("request", request))

    def resource(kind: str, data: bytes, content_type: str, rec_type: str = "resource") -> PendingRecord:
        headers = {"WARC-Date": _warc_date(result.ended)}
        if main_id:
            headers["WARC-Concurrent-To" if rec_type == "resource" else "WARC-Refers-To"] = main_id
        rec = _builder.create_warc_record(
            f"urn:{kind}:{result.url}" if rec_type == "resource" else pageinfo_uri(result.url), rec_type,
            payload=BytesIO(data), length=len(data), warc_content_type=content_type,
            warc_headers_dict=headers)
        return PendingRecord(kind, rec)

    if result.screenshot:
        records.append(resource("screenshot", result.screenshot, "image/png"))
    records.append(resource("dom", result.dom.encode("utf-8"), "text/html; charset=utf-8"))
    records.append(resource("text", text.encode("utf-8"), "text/plain; charset=utf-8"))
    provenance = json.dumps(result.provenance, indent=1, ensure_ascii=False, default=str).encode("utf-8")
    records.append(resource("provenance", provenance, "application/json", rec_type="metadata"))
    return records


def store_capture(result: CaptureResult, db, writer: RollingWarcWriter, backend=None,
                  job_id: int | None = None, dedup: bool = True, judge: OutcomeJudge | None = None,
                  country_of: CountryOf | None = None, watch_id: int | None = None) -> tuple[int, list[RecordRef]]:
    """Write ``result`` to WARC, catalog it with its outcome, update removal events, index it;
    return (capture id, record refs).

    With ``dedup``, payloads already in the archive are written as revisit records. Without a
    ``judge`` the capture is left unclassified (outcome NULL).
    """
    extracted = extract(result.dom, result.final_url)
    # The article title (as a reader sees it) rather than the tab title with its " - Site" suffix.
    title = extracted.title or result.title
    outcome = judge.judge(db, observe(result, extracted.text), result.url, result.vantage) if judge else None
    refs = writer.write(build_records(result, extracted.text, Deduplicator(db) if dedup else None))
    main = next((r for r in refs if r.role == "main"), None)
    capture_id = add_capture(db, {
        "url": result.url, "final_url": result.final_url, "captured_at": _warc_date(result.started),
        "ended_at": _warc_date(result.ended), "status": result.status, "title": title,
        "lang": extracted.lang, "sha256": hex_digest(main.payload_digest) if main else None,
        "partial": result.partial, "partial_reasons": result.partial_reasons,
        "blocked": result.blocked, "job_id": job_id, "vantage": result.vantage,
        "outcome": outcome.label if outcome else None, "evidence": outcome.evidence if outcome else {},
        "watch_id": watch_id, "bytes": result.provenance.get("bytes"),
    }, refs)
    change = update_events(db, capture_id, country_of or (lambda name: None)) if outcome else None
    if backend is not None:
        row = db.execute("SELECT * FROM captures WHERE id = ?", (capture_id,)).fetchone()
        backend.add([index_doc(db, row, extracted.text, country_of)])
        set_indexed(db, capture_id)
        if change:  # an event opened or closed: earlier captures' "removed" flags changed
            reindex_url(db, backend, writer.warc_dir, result.url, country_of)
    return capture_id, refs


def store_unreachable(failed: CaptureFailed, url: str, db, writer: RollingWarcWriter, backend=None,
                      job_id: int | None = None, judge: OutcomeJudge | None = None,
                      country_of: CountryOf | None = None, watch_id: int | None = None) -> tuple[int, list[RecordRef]]:
    """Keep a capture that reached nothing as evidence: a metadata record saying what failed
    (DNS, refused, reset, TLS, timeout), and a catalog row with the outcome `unreachable`."""
    started = failed.started or datetime.now(UTC)
    ended = failed.ended or started
    provenance = json.dumps(failed.provenance, indent=1, ensure_ascii=False, default=str).encode("utf-8")
    record = _builder.create_warc_record(
        pageinfo_uri(url), "metadata", payload=BytesIO(provenance), length=len(provenance),
        warc_content_type="application/json", warc_headers_dict={"WARC-Date": _warc_date(ended)})
    refs = writer.write([PendingRecord("provenance", record)])
    failure = failed.failure or {"kind": "unknown", "error": str(failed)}
    outcome = judge.judge(db, observe_failure(url, failure), url, failed.vantage) if judge else None
    capture_id = add_capture(db, {
        "url": url, "final_url": url, "captured_at": _warc_date(started), "ended_at": _warc_date(ended),
        "status": None, "title": "", "lang": "", "sha256": None, "partial": False, "partial_reasons": [],
        "blocked": [], "job_id": job_id, "vantage": failed.vantage,
        "outcome": outcome.label if outcome else "unreachable",
        "evidence": outcome.evidence if outcome else {"kind": failure.get("kind"), "error": failure.get("error")},
        "watch_id": watch_id,
    }, refs)
    change = update_events(db, capture_id, country_of or (lambda name: None))
    if backend is not None and change:
        reindex_url(db, backend, writer.warc_dir, url, country_of)
    return capture_id, refs
