"""CDXJ index lines (SURT key, 14-digit timestamp, JSON) and sorting them.

The lines are the ones Webrecorder's ``cdxj-indexer --sort --post-append
--digest-records`` (what py-wacz writes into a WACZ) gives for the same WARC:
response, revisit, resource and metadata records are indexed, requests and
``application/warc-fields`` records are not; values are strings, as there.
Two differences. A ``metadata`` record about a web page (our provenance
record names the page's http(s) URL) is left out: replayweb.page takes an
entry without a status as a 200 of that URL and could serve the JSON in the
page's place. And POST and PUT responses are indexed under their plain URL,
without the ``__wb_method=post`` query that py-wacz appends for replay.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import re
import tempfile
from collections.abc import Iterator
from typing import IO

import surt
from warcio.timeutils import iso_date_to_timestamp

INDEXED_TYPES = ("response", "revisit", "resource", "metadata")
_MIME_END = re.compile(r"[;\s]")


def url_key(url: str) -> str:
    """The SURT form of ``url`` that CDXJ sorts on; ``url`` itself if it has none (as cdxj-indexer)."""
    try:
        return surt.surt(url)
    except Exception:
        return url


def _mime(record) -> str | None:
    if record.rec_type == "revisit":
        return "warc/revisit"
    if record.rec_type in ("response", "request"):
        value = record.http_headers.get_header("Content-Type") if record.http_headers else None
    else:
        value = record.rec_headers.get_header("Content-Type")
    return _MIME_END.split(value, 1)[0].strip() if value else value


def index_line(record, offset: int, length: int, filename: str, stored: bytes) -> str | None:
    """The CDXJ line for ``record`` (parsed by warcio, headers only) stored as ``stored`` at ``offset``.

    None for records a CDXJ index leaves out.
    """
    if record.rec_type not in INDEXED_TYPES:
        return None
    if record.rec_type in ("resource", "metadata") and \
            record.rec_headers.get_header("Content-Type") == "application/warc-fields":
        return None
    url = record.rec_headers.get_header("WARC-Target-URI")
    if record.rec_type == "metadata" and url.lower().startswith(("http://", "https://")):
        return None
    fields: dict[str, str] = {"url": url}
    mime = _mime(record)
    if mime is not None:
        fields["mime"] = mime
    if record.rec_type in ("response", "revisit") and record.http_headers:
        fields["status"] = record.http_headers.get_statuscode()
    digest = record.rec_headers.get_header("WARC-Payload-Digest")
    if digest:
        fields["digest"] = digest
    fields.update(length=str(length), offset=str(offset), filename=filename,
                  recordDigest="sha256:" + hashlib.sha256(stored).hexdigest())
    timestamp = iso_date_to_timestamp(record.rec_headers.get_header("WARC-Date"))
    return f"{url_key(url)} {timestamp} {json.dumps(fields)}\n"


class SortedLines:
    """Collects text lines and gives them back sorted, without duplicates.

    Up to ``buffer_bytes`` stay in memory; beyond that, sorted runs spill to
    temporary files that are merged at the end (an index of a whole archive
    may not fit in memory).
    """

    def __init__(self, buffer_bytes: int = 32 * 1024 * 1024):
        self.buffer_bytes = buffer_bytes
        self._lines: list[str] = []
        self._size = 0
        self._runs: list[IO[str]] = []

    def add(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self.buffer_bytes:
            self._spill()

    def _spill(self) -> None:
        run = tempfile.TemporaryFile("w+", encoding="utf-8")
        run.writelines(sorted(self._lines))
        run.seek(0)
        self._runs.append(run)
        self._lines, self._size = [], 0

    def __iter__(self) -> Iterator[str]:
        """The lines in order, each once; the collector is spent afterwards."""
        self._lines.sort()
        last = None
        try:
            for line in heapq.merge(self._lines, *self._runs):
                if line != last:
                    yield line
                last = line
        finally:
            self.close()

    def close(self) -> None:
        for run in self._runs:
            run.close()
        self._runs, self._lines = [], []
