"""Deduplication: a response whose payload is already archived is written as a revisit.

A WARC 1.1 ``identical-payload-digest`` revisit keeps the HTTP response headers
as they were received and, instead of the payload, names the record holding it:
``WARC-Refers-To`` (its WARC-Record-ID), ``WARC-Refers-To-Target-URI`` and
``WARC-Refers-To-Date``. That original is the first complete ``response`` with
the same SHA-256 payload digest, in any earlier capture (through the catalog)
or earlier in the same capture (the same image under two URLs).

Only whole payloads take part. A response cut short (``WARC-Truncated``) is
never an original, since its payload is not the resource's, and is never
replaced either: its own record says what was cut, and how.

Which payloads are worth a revisit. Measured with this writer, a revisit's
headers take about 95 bytes more, gzipped, than a response's (WARC-Profile and
the three WARC-Refers-To fields), and every reader of it pays a second lookup
and read, possibly in another file. What it saves is the payload as stored,
gzipped. So a payload is deduplicated only when it takes at least
``MIN_GZIPPED_PAYLOAD`` bytes gzipped: the revisit then saves at least ~160
bytes, over a fifth of the smallest such response record. Below that (empty
bodies, 304s, tracking pixels, small icons, a few lines of CSS) the saving is
a few dozen bytes at best, and often negative. The raw length alone says
little: 1 KB of repetitive CSS gzips to less than the revisit's extra headers,
while 300 bytes of PNG hardly shrink.
"""
from __future__ import annotations

import sqlite3
import zlib
from typing import IO, NamedTuple

from archive.catalog import find_original
from archive.warc.store import Sha256WARCWriter

MIN_GZIPPED_PAYLOAD = 256
# No real payload this long gzips to under MIN_GZIPPED_PAYLOAD bytes (that would
# take a 256:1 ratio), so longer ones are not compressed to check.
ALWAYS_WORTH = 64 * 1024

_builder = Sha256WARCWriter(None, warc_version="1.1")


class Original(NamedTuple):
    """What a revisit record says about the record that holds its payload."""

    record_id: str
    target_uri: str
    warc_date: str


def worth_a_revisit(body: IO[bytes], length: int) -> bool:
    """Whether a payload takes enough room, stored gzipped, to be replaced by a revisit."""
    if length < MIN_GZIPPED_PAYLOAD:
        return False  # gzipped, it cannot take MIN_GZIPPED_PAYLOAD bytes
    if length >= ALWAYS_WORTH:
        return True
    body.seek(0)
    data = body.read(length)
    body.seek(0)
    return len(zlib.compress(data)) >= MIN_GZIPPED_PAYLOAD


class Deduplicator:
    """Turns one capture's responses into revisits where their payload is already archived."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self._this_capture: dict[str, Original] = {}

    def original(self, digest: str) -> Original | None:
        """The archived complete response with this payload digest, oldest first, if any."""
        ref = find_original(self.db, digest)
        if ref is not None:
            return Original(ref.record_id, ref.target_uri, ref.warc_date)
        return self._this_capture.get(digest)

    def dedup(self, response, body: IO[bytes], length: int, truncated: str | None = None):
        """``response`` (a warcio record whose payload is ``body``), or a revisit in its place."""
        h = response.rec_headers
        digest = h.get_header("WARC-Payload-Digest")
        if truncated or response.rec_type != "response" or not digest or not worth_a_revisit(body, length):
            return response
        original = self.original(digest)
        if original is None:
            self._this_capture.setdefault(digest, Original(
                h.get_header("WARC-Record-ID"), h.get_header("WARC-Target-URI"), h.get_header("WARC-Date")))
            return response
        warc_headers = {"WARC-Date": h.get_header("WARC-Date"), "WARC-Refers-To": original.record_id}
        if h.get_header("WARC-IP-Address"):
            warc_headers["WARC-IP-Address"] = h.get_header("WARC-IP-Address")
        return _builder.create_revisit_record(
            h.get_header("WARC-Target-URI"), digest, original.target_uri, original.warc_date,
            http_headers=response.http_headers, warc_headers_dict=warc_headers)
