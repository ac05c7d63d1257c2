"""Catalog rows and search results as the JSON dicts the API and the CLI print.

Plain functions with no Flask in them, so ``python -m archive ... --json`` and
``/api/...`` give the same shapes. Times are ISO 8601 in UTC with a ``Z``.
Links are paths on the web app; the API test follows every one of them.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from archive.capturing.jobs import job_options
from archive.catalog import RecordRef, iso_utc, to_utc
from archive.removals.reports import load_evidence

if TYPE_CHECKING:
    from search import SearchHit, SearchResult


def cite_time(value: datetime | str) -> str:
    """``2024-04-01 12:00:00 UTC``: the form citations use."""
    return f"{to_utc(value):%Y-%m-%d %H:%M:%S} UTC"


def capture_links(capture_id: int, has_screenshot: bool = True) -> dict[str, str | None]:
    """Where a capture can be seen, fetched and downloaded."""
    return {
        "self": f"/api/captures/{capture_id}",
        "record": f"/capture/{capture_id}",
        "screenshot": f"/capture/{capture_id}/screenshot.png" if has_screenshot else None,
        "warc": f"/capture/{capture_id}/warc",
    }


def record_json(ref: RecordRef) -> dict[str, Any]:
    """One WARC record of a capture: what it is, where it lies, and its digests."""
    return {
        "role": ref.role,
        "type": ref.record_type,
        "target_uri": ref.target_uri,
        "record_id": ref.record_id,
        "content_type": ref.content_type,
        "warc_file": ref.warc_file,
        "offset": ref.offset,
        "length": ref.length,
        "payload_digest": ref.payload_digest,
        "block_digest": ref.block_digest,
        "refers_to": ref.refers_to,
    }


def capture_json(capture: dict[str, Any], records: Iterable[RecordRef]) -> dict[str, Any]:
    """A capture's metadata, its WARC records and its links."""
    records = list(records)
    return {
        "id": capture["id"],
        "url": capture["url"],
        "final_url": capture.get("final_url"),
        "captured_at": iso_utc(capture["captured_at"]),
        "ended_at": iso_utc(capture.get("ended_at")),
        "status": capture.get("status"),
        "title": capture.get("title") or "",
        "lang": capture.get("lang") or "",
        "sha256": capture.get("sha256"),
        "partial": bool(capture.get("partial")),
        "partial_reasons": list(capture.get("partial_reasons") or []),
        "blocked": list(capture.get("blocked") or []),
        "job_id": capture.get("job_id"),
        "vantage": capture.get("vantage") or "direct",
        "vantage_country": capture.get("vantage_country"),  # as recorded when captured; None for direct
        "outcome": capture.get("outcome"),  # None: assessed before outcomes existed
        "evidence": load_evidence(capture.get("evidence")),  # why that outcome
        "source": source_json(capture.get("source")),
        "records": [record_json(r) for r in records],
        "links": capture_links(capture["id"], any(r.role == "screenshot" for r in records)),
    }


def source_json(source: Any) -> dict[str, Any]:
    """Where a capture came from: captured here, or imported from a WACZ, WARC or ARC file (signed or not,
    by whom, when, and the trusted timestamp over the signature if it had one)."""
    if isinstance(source, str):
        import json
        source = json.loads(source)
    source = source or {"kind": "captured"}
    keys = ("package", "file", "software", "signed_by", "signed_at", "timestamped_at", "timestamped_by")
    return {"kind": source["kind"], "signed": bool(source.get("signed"))} | {k: source.get(k) for k in keys}


def job_json(job: dict[str, Any], children: list[int] | None = None) -> dict[str, Any]:
    """A capture job's state; ``links.capture`` appears once it is done; ``children`` are its outlinks' jobs."""
    # The worker name (host:pid) is internal plumbing and stays out.
    links: dict[str, str] = {"self": f"/api/jobs/{job['id']}", "page": f"/jobs/{job['id']}"}
    if job["status"] == "done" and job.get("capture_id") is not None:
        links.update(capture=f"/api/captures/{job['capture_id']}", record=f"/capture/{job['capture_id']}")
    return {
        "id": job["id"],
        "url": job["url"],
        "status": job["status"],
        "error": job.get("error"),
        "attempts": job.get("attempts", 0),
        "vantage": job.get("vantage") or "direct",
        "capture_id": job.get("capture_id"),
        "created_at": iso_utc(job.get("created_at")),
        "started_at": iso_utc(job.get("started_at")),
        "finished_at": iso_utc(job.get("finished_at")),
        "options": job_options(job),
        "parent_job_id": job.get("parent_job_id"),
        "children": list(children or []),
        "links": links,
    }


def citation(capture: dict[str, Any], record_url: str, archive_name: str) -> str:
    """One line to cite a capture: title, archive, UTC time, original URL, record URL, digest."""
    title = (capture.get("title") or "").strip()
    parts = []
    if title:
        parts.append(f'"{title}{"" if title[-1] in ".?!" else "."}"')
    parts.append(f"{archive_name}, archived {cite_time(capture['captured_at'])} from {capture['url']}.")
    parts.append(f"{record_url}.")
    if capture.get("sha256"):
        parts.append(f"SHA-256 {capture['sha256']}.")
    return " ".join(parts)


def _capture_id(value: Any) -> int | str:
    # The index stores ids as strings; the catalog and the rest of the API use integers.
    text = str(value)
    return int(text) if text.isdigit() else text


def hit_json(hit: SearchHit) -> dict[str, Any]:
    """One search hit; ``snippet`` is already-escaped HTML with matches in <mark>/<b>."""
    capture_id = _capture_id(hit.id)
    return {
        "id": capture_id,
        "url": hit.url,
        "title": hit.title or "",
        "captured_at": iso_utc(hit.captured_at),
        "snippet": hit.snippet,
        "score": hit.score,
        "domain": hit.domain,
        "lang": hit.lang,
        "status": hit.status,
        "removed": hit.removed,
        "outcome": hit.outcome or None,
        "countries": list(hit.countries),
        "group_count": hit.group_count,
        "links": {"record": f"/capture/{capture_id}", "self": f"/api/captures/{capture_id}"},
    }


def search_json(result: SearchResult) -> dict[str, Any]:
    """A search result: ``{"total": n, "hits": [...], "facets": {name: [{"value", "count"}, ...]},
    "next_cursor"}`` (facets only when asked for; next_cursor null on the last page)."""
    facets = {name: [{"value": v, "count": c} for v, c in values] for name, values in result.facets.items()}
    return {"total": result.total, "hits": [hit_json(h) for h in result.hits], "facets": facets,
            "next_cursor": result.next_cursor}
