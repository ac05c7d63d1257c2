"""WACZ 1.1.1 packages of captures: portable, verifiable citation bundles.

A package holds, per capture, ``archive/capture-<id>-<time>.warc.gz`` with the
capture's WARC records exactly as stored (warcinfo first, then its records,
then the originals its revisit records refer to); ``indexes/index.cdx``, a
sorted CDXJ index of every WARC; ``pages/pages.jsonl``, one page per capture
with its extracted text; ``datapackage.json`` with the SHA-256 and size of each
file; and ``datapackage-digest.json`` with the hash of ``datapackage.json``.
WARCs are stored uncompressed in the zip (they are gzip members already), so
a reader can fetch single records from the package with HTTP Range requests.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import IO, Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.timeutils import iso_date_to_timestamp, timestamp_to_iso_date

from archive import catalog
from archive.catalog import to_utc, visible_sql
from archive.warc.cdxj import SortedLines, index_line
from archive.warc.objects import WarcStore, as_store
from archive.warc.store import capture_warc, export_length
from crawler.version import __version__

WACZ_VERSION = "1.1.1"
MEDIA_TYPE = "application/wacz"
SOFTWARE = f"takedown-archive/{__version__} (WACZ writer)"
INDEX_PATH = "indexes/index.cdx"
PAGES_PATH = "pages/pages.jsonl"

Progress = Callable[[int, int, int], None]  # (captures done, captures in all, capture id)


class WaczError(ValueError):
    """A package cannot be made from what was asked for (e.g. an unknown capture)."""


def _stamp(capture: dict[str, Any]) -> str:
    return f"{to_utc(capture['captured_at']):%Y%m%d%H%M%S}"


def warc_name(capture: dict[str, Any]) -> str:
    """The capture's WARC as the WARC download and the package name it."""
    return f"capture-{capture['id']}-{_stamp(capture)}.warc.gz"


def wacz_name(capture: dict[str, Any]) -> str:
    return f"capture-{capture['id']}-{_stamp(capture)}.wacz"


def warc_layout(refs: Iterable[catalog.RecordRef],
                warc_dir: Path | WarcStore | None = None) -> list[tuple[catalog.RecordRef, int]]:
    """Each record of a capture's standalone WARC (as ``capture_warc`` writes it) and its offset there.

    ``warc_dir`` is needed only for records of imported files not stored as .warc.gz (export_length).
    """
    layout, seen, offset = [], set(), 0
    for ref in refs:
        if (ref.warc_file, ref.offset) not in seen:
            seen.add((ref.warc_file, ref.offset))
            layout.append((ref, offset))
            offset += ref.length if warc_dir is None else export_length(warc_dir, ref)
    return layout


class _Entry:
    """A file being written into the zip, its SHA-256 and size taken on the way."""

    def __init__(self, zf: zipfile.ZipFile, path: str, size: int, compress: int,
                 date_time: tuple[int, ...] | None = None):
        info = zipfile.ZipInfo(path, date_time or datetime.now(UTC).timetuple()[:6])
        info.compress_type = compress
        info.file_size = size  # known up front, so zipfile knows whether ZIP64 is needed
        self.path = path
        self._out = zf.open(info, "w")
        self._hash = hashlib.sha256()
        self._bytes = 0

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self._bytes += len(data)
        self._out.write(data)

    def close(self) -> dict[str, Any]:
        """Finish the file; its datapackage resource."""
        self._out.close()
        return {"name": os.path.basename(self.path).lower(), "path": self.path,
                "hash": "sha256:" + self._hash.hexdigest(), "bytes": self._bytes}


def _add_file(zf: zipfile.ZipFile, path: str, source: IO[bytes], compress: int) -> dict[str, Any]:
    source.seek(0, os.SEEK_END)
    size = source.tell()
    source.seek(0)
    entry = _Entry(zf, path, size, compress)
    while chunk := source.read(1024 * 1024):
        entry.write(chunk)
    return entry.close()


def _add_capture(zf: zipfile.ZipFile, warc_dir: Path | WarcStore, capture: dict[str, Any],
                 refs: list[catalog.RecordRef], index: SortedLines) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write one capture's WARC into the package and index it; return (resource, page)."""
    layout = warc_layout(refs, warc_dir)
    refs = [ref for ref, _ in layout]
    name = warc_name(capture)
    entry = _Entry(zf, f"archive/{name}", sum(export_length(warc_dir, r) for r in refs), zipfile.ZIP_STORED,
                   to_utc(capture["captured_at"]).timetuple()[:6])
    page = {"id": f"capture-{capture['id']}", "url": capture["url"],
            "ts": timestamp_to_iso_date(iso_date_to_timestamp(capture["captured_at"])),
            "title": capture["title"] or capture["url"]}
    try:
        for (ref, offset), stored in zip(layout, capture_warc(warc_dir, refs), strict=True):
            entry.write(stored)
            record = next(iter(ArchiveIterator(BytesIO(stored))))
            line = index_line(record, offset, len(stored), name, stored)
            if line:
                index.add(line)
            if ref.role == "main":
                page["url"] = record.rec_headers.get_header("WARC-Target-URI")
                page["ts"] = timestamp_to_iso_date(iso_date_to_timestamp(record.rec_headers.get_header("WARC-Date")))
            elif ref.role == "text":
                text = record.content_stream().read().decode("utf-8", "replace").strip()
                if text:
                    page["text"] = text
    except BaseException:
        entry.close()  # the zip is being abandoned, but must be closable
        raise
    return entry.close(), page


def write_wacz(out: BinaryIO, db: sqlite3.Connection, warc_dir: Path | WarcStore, capture_ids: Iterable[int], *,
               title: str | None = None, description: str | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
    """Write a WACZ of ``capture_ids`` to ``out`` (a seekable binary file); return its datapackage.

    ``title`` defaults to the capture's title when there is one capture.
    Raises WaczError for an unknown capture and WarcStoreError for unreadable records.
    """
    capture_ids = list(dict.fromkeys(capture_ids))
    if not capture_ids:
        raise WaczError("no captures to package")
    index = SortedLines()
    pages: list[dict[str, Any]] = []
    resources = []
    with tempfile.SpooledTemporaryFile(8 * 1024 * 1024) as pages_file, \
            zipfile.ZipFile(out, "w", allowZip64=True) as zf:
        for done, capture_id in enumerate(capture_ids, start=1):
            capture = catalog.get_capture(db, capture_id)
            if capture is None:
                raise WaczError(f"there is no capture {capture_id} in this archive")
            resource, page = _add_capture(zf, as_store(warc_dir), capture,
                                          catalog.get_records(db, capture_id, with_originals=True), index)
            resources.append(resource)
            pages_file.write((json.dumps(page, ensure_ascii=False) + "\n").encode("utf-8"))
            pages.append({k: page[k] for k in ("url", "ts", "title")} | {"has_text": "text" in page})
            if progress:
                progress(done, len(capture_ids), capture_id)
        if title is None and len(capture_ids) == 1:
            title = pages[0]["title"]

        with tempfile.TemporaryFile() as index_file:
            for line in index:
                index_file.write(line.encode("utf-8"))
            resources.append(_add_file(zf, INDEX_PATH, index_file, zipfile.ZIP_DEFLATED))

        header = {"format": "json-pages-1.0", "id": "pages", "title": title or "Pages"}
        if any(p["has_text"] for p in pages):
            header["hasText"] = True
        with tempfile.SpooledTemporaryFile(8 * 1024 * 1024) as jsonl:
            jsonl.write((json.dumps(header, ensure_ascii=False) + "\n").encode("utf-8"))
            pages_file.seek(0)
            shutil.copyfileobj(pages_file, jsonl)
            resources.append(_add_file(zf, PAGES_PATH, jsonl, zipfile.ZIP_DEFLATED))

        package: dict[str, Any] = {"profile": "data-package", "resources": resources}
        if title:
            package["title"] = title
        if description:
            package["description"] = description
        if len(pages) == 1:
            package.update(mainPageURL=pages[0]["url"], mainPageDate=pages[0]["ts"])
        package.update(created=f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}", wacz_version=WACZ_VERSION,
                       software=SOFTWARE)
        data = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
        zf.writestr("datapackage.json", data)
        digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(data).hexdigest()}
        zf.writestr("datapackage-digest.json", json.dumps(digest, indent=2))
    return package


def export_wacz(db: sqlite3.Connection, warc_dir: Path | WarcStore, capture_ids: Iterable[int], path: Path, *,
                title: str | None = None, progress: Progress | None = None,
                description: str | None = None) -> dict[str, Any]:
    """Write the WACZ to ``path``, which appears only once it is whole; return its datapackage."""
    path = Path(path)
    partial = path.with_name(path.name + ".part")
    try:
        with open(partial, "wb") as fh:
            package = write_wacz(fh, db, warc_dir, capture_ids, title=title, progress=progress,
                                 description=description)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return package


@dataclass(frozen=True)
class Selection:
    """The captures an export asked for."""

    ids: list[int]
    total: int  # how many matched: a search may find more than its limit
    title: str | None  # None: the single capture's own title


def select_captures(db: sqlite3.Connection, archive_name: str, *, ids: Iterable[int] = (),
                    query: str | None = None, everything: bool = False, backend=None,
                    limit: int = 1000) -> Selection:
    """Captures by id, the first ``limit`` a search ``query`` finds in ``backend``, or ``everything``.

    Raises search.QuerySyntaxError for a query that does not parse.
    """
    if everything:  # "all" is all the public may see; a capture staff withdrew is exported only by its id
        found = [row[0] for row in db.execute(f"SELECT id FROM captures WHERE {visible_sql()} ORDER BY id")]
        return Selection(found, len(found), f"{archive_name}: all captures")
    if query is not None:
        from search import SearchQuery

        result = backend.search(SearchQuery(query, limit=limit))
        hits = [int(hit.id) for hit in result.hits]
        # Withdrawn captures leave the index; this also covers an index not yet updated.
        public = {row[0] for row in db.execute(
            f"SELECT id FROM captures WHERE {visible_sql()} AND id IN ({', '.join('?' * len(hits))})", hits)}
        return Selection([h for h in hits if h in public], result.total,
                         f'{archive_name}: captures matching "{query}"')
    found = list(dict.fromkeys(ids))
    return Selection(found, len(found), None if len(found) == 1 else f"{archive_name}: {len(found)} captures")
