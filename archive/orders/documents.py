"""Takedown order documents: what they are (judged by their bytes), kept as WARC records, read back.

An uploaded document is evidence and may be hostile. Its type is decided from
its first bytes, never from its name or the browser's word; only PDF, images
and HTML are taken. Each is written as a WARC ``resource`` record with SHA-256
digests into a WARC file of its own, fsynced and closed before the catalog
learns of it, and every read checks the digest again.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

from archive.catalog import RecordRef
from archive.warc.store import (
    PendingRecord,
    RollingWarcWriter,
    Sha256WARCWriter,
    WarcStoreError,
    hex_digest,
    read_payload,
)
from crawler.version import __version__

SOFTWARE = f"takedown-archive/{__version__} (takedown order documents, warcio)"
ACCEPTED = "PDF, PNG, JPEG, GIF, WebP or HTML"
_builder = Sha256WARCWriter(None, warc_version="1.1")


class DocumentError(ValueError):
    """A document that is not accepted; the message says why and what to send instead."""


@dataclass(frozen=True)
class Document:
    """A checked document: a safe file name with the extension of its real type, the type, the bytes."""

    filename: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class StoredDocument:
    """Where a document's WARC record is, and its SHA-256 (hex), as kept on the takedowns row."""

    name: str
    content_type: str
    sha256: str
    record_id: str
    warc_file: str
    offset: int
    length: int


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the bytes themselves, or None if not an accepted kind."""
    if data.startswith(b"%PDF-"):
        return "application/pdf", ".pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", ".jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif", ".gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    head = data[:512].removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n\f").lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html", ".html"
    return None


def safe_filename(name: str, extension: str) -> str:
    """``name`` without any path, control or markup characters, ending in ``extension``."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = unicodedata.normalize("NFC", base)
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base.lstrip(".")
    # Letters of any script (order documents are often named in Russian), digits, and a few separators.
    stem = "".join(c if c.isalnum() or c in "-_ ." else "_" for c in stem).strip(" ._")[:100]
    return (stem or "document") + extension


def check_document(data: bytes, filename: str, max_bytes: int) -> Document:
    """``data`` as a ``Document``; raises ``DocumentError`` if empty, too large or of another kind."""
    if not data:
        raise DocumentError(f"the file {filename!r} is empty; upload the order as {ACCEPTED}")
    if len(data) > max_bytes:
        raise DocumentError(f"the file {filename!r} is {len(data)} bytes; the limit is {max_bytes} bytes "
                            "(TAKEDOWN_MAX_DOCUMENT_BYTES): upload a smaller scan or a PDF")
    kind = sniff(data)
    if kind is None:
        raise DocumentError(f"the file {filename!r} is not a PDF, image or HTML page (judged by its content, "
                            f"not its name); upload the order as {ACCEPTED}")
    content_type, extension = kind
    return Document(safe_filename(filename, extension), content_type, data)


def store_document(warc_dir: Path, max_size: int, takedown_id: int, doc: Document) -> StoredDocument:
    """Write ``doc`` as a resource record into a new WARC file, fsynced and closed; return where it is."""
    record = _builder.create_warc_record(
        f"urn:takedown:{takedown_id}/{quote(doc.filename)}", "resource", payload=BytesIO(doc.data),
        length=len(doc.data), warc_content_type=doc.content_type,
        warc_headers_dict={"WARC-Date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
    # A file per document: it is finished (renamed from .open) at once, and the random part keeps
    # two documents of one order written within a second apart.
    writer = RollingWarcWriter(warc_dir, max_size, SOFTWARE, prefix=f"takedown-{takedown_id}-{secrets.token_hex(4)}")
    try:
        ref = writer.write([PendingRecord("document", record)])[-1]
    finally:
        writer.close()
    sha256 = hex_digest(ref.payload_digest)
    if sha256 != doc.sha256:  # the writer digested what it wrote; it must be what we were given
        raise WarcStoreError(f"{ref.warc_file} offset {ref.offset}: the written document's digest {sha256} "
                             f"is not the upload's {doc.sha256}")
    return StoredDocument(doc.filename, doc.content_type, sha256, ref.record_id, ref.warc_file, ref.offset,
                          ref.length)


def read_document(warc_dir: Path, warc_file: str, offset: int, length: int, sha256: str) -> bytes:
    """The document's bytes from its WARC record; raises ``WarcStoreError`` unless their SHA-256 is ``sha256``."""
    ref = RecordRef("document", "resource", "", "", "", warc_file, offset, length)
    data = read_payload(warc_dir, ref)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise WarcStoreError(f"{warc_file} offset {offset}: the document's SHA-256 is {actual}, "
                             f"not {sha256} as the catalog says")
    return data
