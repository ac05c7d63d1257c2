"""ARC files (the Internet Archive's format before WARC), read as warcio reads them: as WARC.

warcio turns each ARC record into a WARC record (``arc2warc``) but gives it a new random
WARC-Record-ID on every read. The catalog finds records by id, so an ARC record's id here is
derived from its stored bytes: the same record read twice, or imported twice, has the same id.
"""
from __future__ import annotations

import hashlib
import uuid

WARC_START = b"WARC/"
ARCHIVE_SUFFIXES = (".warc.gz", ".warc", ".arc.gz", ".arc")  # the files reindex and verify read
ARC_SEPARATOR = b"\n"  # an ARC record ends with one newline
WARC_SEPARATOR = b"\r\n\r\n"  # a WARC record ends with two CRLFs (ISO 28500)


def is_arc_record(head: bytes) -> bool:
    """Do these first (inflated) bytes of a record start an ARC record rather than a WARC one?"""
    return bool(head) and not head.startswith(WARC_START)


def separator(head: bytes) -> bytes:
    """The bytes that must follow an uncompressed record starting with ``head``."""
    return ARC_SEPARATOR if is_arc_record(head) else WARC_SEPARATOR


def arc_record_id(stored: bytes) -> str:
    """A WARC-Record-ID for an ARC record: a name-based UUID of its stored bytes."""
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'arc:' + hashlib.sha256(stored).hexdigest())}>"
