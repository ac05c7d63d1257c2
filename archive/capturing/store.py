"""Turning a finished capture into WARC records, catalog rows and an index entry.

Order matters for crash safety: WARC records are written and fsynced first,
then the catalog row, its removal-event change, its bytes and its job's
completion are committed in one transaction, then the page is indexed. A crash
leaves at worst WARC records nobody points to, never a catalog row without its
records, a removal with no event, or a stored capture whose job runs again.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser

from archive.capturing import jobs
from archive.capturing.budget import OverBudget, add_bytes, check_budget, host_of
from archive.capturing.countries import provenance_country
from archive.capturing.indexing import domain_of, index_doc, reindex_url  # noqa: F401 (domain_of: public here too)
from archive.capturing.outlinks import queue_children
from archive.catalog import RecordRef, insert_capture, set_indexed, transaction
from archive.removals.events import CountryOf, apply_capture
from archive.removals.outcomes import OutcomeJudge
from archive.warc.dedup import Deduplicator
from archive.warc.store import PendingRecord, RollingWarcWriter, Sha256WARCWriter, hex_digest, pageinfo_uri
from crawler import CaptureFailed, CaptureResult
from crawler.httpwire import Exchange
from crawler.version import __version__
from detect import observe, observe_failure
from detect.observe import payload
from search import Extracted, SearchBackend, extract

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


# Main documents of these types are HTML the server sent; anything else (a PDF, an image, plain
# text) is known only through what the browser rendered of it.
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def extract_capture(main: Exchange | None, dom: str, url: str, browser_charset: str | None) -> Extracted:
    """Title, text and language of a capture: from the main response's bytes, decoded as the
    HTML standard says, with the rendered DOM beside them (search.extract chooses); from the
    DOM alone when the main document is not HTML."""
    content_type = (main.header("content-type") or "") if main is not None else ""
    if main is None or not main.body_length or (content_type and not content_type.lower().startswith(_HTML_TYPES)):
        return extract(dom, url)
    return extract(payload(main), url, content_type=content_type or None, dom=dom, dom_charset=browser_charset)


@dataclass(frozen=True)
class Storage:
    """Where captures are stored and how they are judged: one per worker thread, or per capture_now.

    Without a ``judge`` a capture is left unclassified (outcome NULL); with ``dedup``, payloads
    already in the archive are written as revisit records; with ``host_daily_bytes``, outlinks to
    hosts this capture's bytes put over budget are not queued.
    """

    db: sqlite3.Connection
    writer: RollingWarcWriter
    backend: SearchBackend | None = None
    dedup: bool = True
    judge: OutcomeJudge | None = None
    country_of: CountryOf | None = None
    host_daily_bytes: int | None = None


@dataclass(frozen=True)
class Found:
    """What one capture of ``url`` found, to be stored: the page (``result``), or why the site could
    not be reached (``failed``). ``job`` is the job row it answers (marked done when it is stored);
    ``outlinks`` are URLs to queue as that job's children in the same transaction."""

    url: str
    result: CaptureResult | None = None
    failed: CaptureFailed | None = None
    job: dict[str, Any] | None = None
    outlinks: tuple[str, ...] = ()
    # Run in the storing transaction with (db, capture id): a crawl's frontier moves with its page.
    on_stored: Callable[[sqlite3.Connection, int], None] | None = None


@dataclass(frozen=True)
class Stored:
    capture_id: int
    refs: list[RecordRef]
    children: list[int]  # job ids of the queued outlinks


def store(found: Found, into: Storage) -> Stored:
    """Store what a capture found (the page, or the failure to reach its site); the one way in."""
    if found.result is not None:
        return store_capture(found, into)
    if found.failed is not None:
        return store_unreachable(found, into)
    raise ValueError(f"nothing to store for {found.url}: Found needs a result or a failure")


def _commit(found: Found, into: Storage, row: dict[str, Any], refs: list[RecordRef],
            nbytes: int | None) -> tuple[int, dict[str, Any] | None, list[int]]:
    """The capture row, its removal-event change, its bytes, its job's children and ``done``: all or none."""
    with transaction(into.db):
        capture_id = insert_capture(into.db, row, refs)
        change = apply_capture(into.db, capture_id, into.country_of or _no_country) if row["outcome"] else None
        add_bytes(into.db, host_of(found.url), nbytes)
        children: list[int] = []
        if found.job is not None:
            children = queue_children(into.db, found.job, _within_budget(into, found.outlinks))
            jobs.finish(into.db, found.job["id"], capture_id, found.job.get("worker"))
        if found.on_stored is not None:
            found.on_stored(into.db, capture_id)
    return capture_id, change, children


def _within_budget(into: Storage, urls: tuple[str, ...]) -> list[str]:
    # Outlinks were chosen before this capture's own bytes were counted: check their hosts again.
    if into.host_daily_bytes is None:
        return list(urls)
    kept = []
    for url in urls:
        try:
            check_budget(into.db, url, into.host_daily_bytes)
        except OverBudget:
            continue
        kept.append(url)
    return kept


def _no_country(name: str) -> None:
    return None


def store_capture(found: Found, into: Storage) -> Stored:
    """Write ``found.result`` to WARC, catalog it with its outcome, update removal events and
    finish its job in one transaction, then index it."""
    result = found.result
    if result is None:
        raise ValueError(f"store_capture needs the page captured from {found.url}; use store() for a failure")
    extracted = extract_capture(result.main, result.dom, result.final_url, result.provenance.get("browser_charset"))
    result.provenance["text"] = extracted.provenance()
    # The article title (as a reader sees it) rather than the tab title with its " - Site" suffix.
    # (Chromium's tab title is mojibake too when its DOM is.)
    title = extracted.title or ("" if extracted.dom_mojibake else result.title)
    judge = into.judge
    outcome = judge.judge(into.db, observe(result, extracted.text), result.url, result.vantage) if judge else None
    refs = into.writer.write(build_records(result, extracted.text, Deduplicator(into.db) if into.dedup else None))
    main = next((r for r in refs if r.role == "main"), None)
    job = found.job or {}
    capture_id, change, children = _commit(found, into, {
        "url": result.url, "final_url": result.final_url, "captured_at": _warc_date(result.started),
        "ended_at": _warc_date(result.ended), "status": result.status, "title": title,
        "lang": extracted.lang, "sha256": hex_digest(main.payload_digest) if main else None,
        "partial": result.partial, "partial_reasons": result.partial_reasons,
        "blocked": result.blocked, "job_id": job.get("id"), "vantage": result.vantage,
        "outcome": outcome.label if outcome else None, "evidence": outcome.evidence if outcome else {},
        "watch_id": job.get("watch_id"), "bytes": result.provenance.get("bytes"),
        "vantage_country": provenance_country(result.provenance),
    }, refs, result.provenance.get("bytes"))
    if into.backend is not None:
        row = into.db.execute("SELECT * FROM captures WHERE id = ?", (capture_id,)).fetchone()
        into.backend.add([index_doc(into.db, row, extracted.text, into.country_of)])
        set_indexed(into.db, capture_id)
        if change:  # an event opened or closed: earlier captures' "removed" flags changed
            reindex_url(into.db, into.backend, into.writer.store, result.url, into.country_of)
    return Stored(capture_id, refs, children)


def store_unreachable(found: Found, into: Storage) -> Stored:
    """Keep a capture that reached nothing as evidence: a metadata record saying what failed
    (DNS, refused, reset, TLS, timeout), and a catalog row with the outcome `unreachable`."""
    failed, url = found.failed, found.url
    if failed is None:
        raise ValueError(f"store_unreachable needs the failure to reach {url}; use store() for a page")
    started = failed.started or datetime.now(UTC)
    ended = failed.ended or started
    provenance = json.dumps(failed.provenance, indent=1, ensure_ascii=False, default=str).encode("utf-8")
    record = _builder.create_warc_record(
        pageinfo_uri(url), "metadata", payload=BytesIO(provenance), length=len(provenance),
        warc_content_type="application/json", warc_headers_dict={"WARC-Date": _warc_date(ended)})
    refs = into.writer.write([PendingRecord("provenance", record)])
    failure = failed.failure or {"kind": "unknown", "error": str(failed)}
    judge = into.judge
    outcome = judge.judge(into.db, observe_failure(url, failure), url, failed.vantage) if judge else None
    job = found.job or {}
    capture_id, change, children = _commit(found, into, {
        "url": url, "final_url": url, "captured_at": _warc_date(started), "ended_at": _warc_date(ended),
        "status": None, "title": "", "lang": "", "sha256": None, "partial": False, "partial_reasons": [],
        "blocked": [], "job_id": job.get("id"), "vantage": failed.vantage,
        "outcome": outcome.label if outcome else "unreachable",
        "evidence": outcome.evidence if outcome else {"kind": failure.get("kind"), "error": failure.get("error")},
        "watch_id": job.get("watch_id"), "vantage_country": provenance_country(failed.provenance),
    }, refs, None)
    if into.backend is not None and change:
        reindex_url(into.db, into.backend, into.writer.store, url, into.country_of)
    return Stored(capture_id, refs, children)
