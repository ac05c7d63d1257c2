"""OONI Web Connectivity measurements as evidence that a URL was blocked in a country.

A measurement (JSON, or JSONL one a line, as the OONI API and ``ooniprobe`` give them; the API's
``measurement_meta`` with its ``raw_measurement`` too) whose ``test_keys.blocking`` is a kind of
blocking (``dns``, ``tcp_ip``, ``http-failure``, ``http-diff``), or whose response body matched a
blockpage fingerprint, says ``input`` was blocked in ``probe_cc`` on ``probe_asn`` at
``measurement_start_time``. It is kept with its measurement id (the same measurement twice is one)
and read beside our own vantage points' captures: OONI's verdict compares the probe's view with
its control's, which reached the page, so the page was up at its source then (removal events near
it are blocks in a country, not removals; ``archive.removals.events``). ``blocking: false`` is no
evidence, nor is ``null`` (OONI could not tell).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive.catalog import to_iso, transaction, utcnow
from archive.orders.registers import BATCH, BadRow, Report
from archive.removals.events import rescope_for_blocking
from crawler.netpolicy import URLRejected, normalize_url


def measurements(path: Path) -> Iterator[tuple[int, Any] | BadRow]:
    """(line, parsed JSON) of each measurement in a file: one JSON document, or JSONL."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
        f.seek(0)
        try:  # one measurement (pretty-printed, as ooniprobe writes it) or one API answer
            whole = json.loads(f.read()) if head.lstrip().startswith(b"{") else None
        except json.JSONDecodeError:
            whole = None
        if whole is not None:
            for item in whole if isinstance(whole, list) else [whole]:
                yield 1, item
            return
        f.seek(0)
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield BadRow(path.name, number, f"not JSON ({exc.msg}); give one measurement a line (JSONL) or "
                                                "one JSON measurement a file")


def evidence(item: Any, file: str, line: int, fingerprints: Any = None) -> dict[str, Any] | BadRow | None:
    """The blocking evidence in one measurement, None if it shows no blocking, or why it cannot be read."""
    if isinstance(item, dict) and isinstance(item.get("raw_measurement"), str):  # the API's measurement_meta
        try:
            item = json.loads(item["raw_measurement"])
        except json.JSONDecodeError:
            return BadRow(file, line, "raw_measurement is not JSON")
    if not isinstance(item, dict) or not isinstance(item.get("test_keys"), dict):
        return BadRow(file, line, "not an OONI measurement: no test_keys object")
    if item.get("test_name", "web_connectivity") != "web_connectivity":
        return BadRow(file, line, f"a {item.get('test_name')!r} measurement; only web_connectivity ones say whether "
                                  "a URL was blocked")
    missing = [k for k in ("input", "probe_cc", "measurement_start_time") if not item.get(k)]
    if missing:
        return BadRow(file, line, f"no {', '.join(missing)}: a measurement names the URL, the country and the time")
    try:
        url = normalize_url(str(item["input"]), max_length=None)
    except URLRejected as exc:
        return BadRow(file, line, f"input {item['input']!r}: {exc}")
    try:
        at = datetime.strptime(str(item["measurement_start_time"]).replace("T", " ").rstrip("Z"), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return BadRow(file, line, f"measurement_start_time {item['measurement_start_time']!r} is not "
                                  "YYYY-MM-DD HH:MM:SS (UTC)")
    keys = item["test_keys"]
    blocking = keys.get("blocking")
    if blocking is False or blocking is None:
        if fingerprints is None or not _blockpage(keys, fingerprints):
            return None
        blocking = "blockpage"
    # OONI's own id; else the report and URL; else (a probe's local file) a digest of the measurement.
    measurement_id = item.get("measurement_uid") or (
        f"{item['report_id']}:{url}" if item.get("report_id")
        else "sha256:" + hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest())
    accessible = keys.get("accessible")
    return {"measurement_id": str(measurement_id), "url": url, "country": str(item["probe_cc"]).upper(),
            "asn": str(item.get("probe_asn") or ""), "measured_at": to_iso(at.replace(tzinfo=UTC)),
            "blocking": str(blocking), "accessible": None if accessible is None else int(bool(accessible))}


def _blockpage(keys: dict[str, Any], fingerprints: Any) -> bool:
    for request in keys.get("requests") or []:
        response = (request or {}).get("response") or {}
        body = response.get("body")
        if isinstance(body, dict):  # OONI's {"format": "base64", "data": ...} for binary bodies
            body = ""
        headers = [(k, v) for k, v in (response.get("headers") or {}).items() if isinstance(v, str)]
        if fingerprints.match(headers, body or ""):
            return True
    return False


def import_measurements(db: sqlite3.Connection, paths: Iterable[str | Path], report: Report,
                        watch: Callable[[int | None, str], bool] | None = None,
                        fingerprints: Any = None) -> Report:
    """Keep the blocking evidence in ``paths``; ``report.added`` counts new evidence, ``updated`` evidence
    already kept. Open removal events it bears on are re-judged (``rescope_for_blocking``)."""
    now = utcnow()
    stream = ((str(p), m) for p in paths for m in measurements(Path(p)))
    while True:
        batch = [next(stream, None) for _ in range(BATCH)]
        batch = [b for b in batch if b is not None]
        if not batch:
            break
        with transaction(db):
            for path, m in batch:
                report.rows += 1
                if isinstance(m, BadRow):
                    report.reject(m)
                    continue
                found = evidence(m[1], Path(path).name, m[0], fingerprints)
                if isinstance(found, BadRow):
                    report.reject(found)
                    continue
                if found is None:
                    report.not_blocked += 1
                    continue
                inserted = db.execute(
                    "INSERT INTO blocking_measurements (source, measurement_id, url, country, asn, measured_at,"
                    " blocking, accessible, imported_from, imported_at) VALUES ('ooni', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (measurement_id) DO NOTHING",
                    (found["measurement_id"], found["url"], found["country"], found["asn"], found["measured_at"],
                     found["blocking"], found["accessible"], f"{Path(path).name}:{m[0]}", now)).rowcount
                if inserted:
                    report.added += 1
                    rescope_for_blocking(db, found["url"], found["measured_at"])
                else:
                    report.updated += 1
                if watch is not None and watch(None, found["url"]):
                    report.watched += 1
    return report
