"""WARC files: a rolling writer on local disk and a reader by file and offset from the WARC store.

Each process writes its own file, named with its pid; while open it carries a
``.open`` suffix so nothing mistakes it for a finished file. Every capture's
records are appended together and fsynced before the catalog learns of them.
With an object store (``archive/warc/objects.py``) each capture's file is closed and
stored (uploaded and checked) before the catalog learns of it.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecordLoader
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from archive.catalog import RecordRef
from archive.keys import create_private, private_dir
from archive.warc.arc import is_arc_record
from archive.warc.gzipmember import GZIP_MAGIC, DamagedMember, whole_member
from archive.warc.objects import OPEN_SUFFIX, WarcStore, as_store, pid_alive

PAGEINFO = "urn:pageinfo:"  # a capture's provenance record is at urn:pageinfo:<url>, as Browsertrix names it
IMPORT_PREFIX = "import-"  # files another tool wrote, copied in by `import` (archive/rebuild/importer.py)


def pageinfo_uri(url: str) -> str:
    """The provenance record's target URI: not the page's own, so no replay tool serves it as the page."""
    return PAGEINFO + url


def page_of_pageinfo(uri: str) -> str:
    """The page URL a provenance record is about, from its target URI (files before 2026-12 used the URL itself)."""
    return uri.removeprefix(PAGEINFO)


class Sha256WARCWriter(WARCWriter):
    """warcio's writer with SHA-256 block and payload digests (warcio defaults to SHA-1)."""

    @staticmethod
    def _create_digester():
        return Digester("sha256")


@dataclass
class PendingRecord:
    """A warcio record and the role it plays in its capture."""

    role: str
    record: object  # warcio ArcWarcRecord


class WarcStoreError(RuntimeError):
    """A WARC record cannot be read; the message names the file and offset."""


def digest_bytes(value: str) -> tuple[str, bytes]:
    """A WARC digest ``algo:value`` (base32 or hex) as (algorithm, raw bytes)."""
    algo, _, text = value.partition(":")
    try:
        size = hashlib.new(algo).digest_size
        raw = bytes.fromhex(text) if len(text) == 2 * size else base64.b32decode(text.upper())
    except (ValueError, binascii.Error):
        raise ValueError(f"{value!r} is not a digest (an algorithm, ':', then base32 or hex)") from None
    return algo.lower(), raw


def hex_digest(value: str | None) -> str | None:
    """A WARC digest as the hex that ``sha256sum`` prints."""
    return digest_bytes(value)[1].hex() if value else None


class RollingWarcWriter:
    """Appends captures to ``<dir>/<prefix>-<time>-<pid>-<n>.warc.gz`` up to ``max_size`` bytes.

    Given a ``store`` that keeps files elsewhere (an object store), every capture's file is closed and
    published to it before ``write`` returns, so the catalog never names records that are not stored.
    """

    def __init__(self, warc_dir: Path | WarcStore, max_size: int, software: str, prefix: str = "archive"):
        self.store = as_store(warc_dir)
        self.warc_dir = self.store.spool
        self.max_size = max_size
        self.software = software
        self.prefix = prefix
        self._lock = threading.Lock()
        self._fh: BinaryIO | None = None
        self._name: str | None = None
        self._warcinfo: RecordRef | None = None
        self._seq = 0
        private_dir(self.warc_dir)

    def _open(self) -> None:
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        self._name = f"{self.prefix}-{stamp}-{os.getpid()}-{self._seq:05d}.warc.gz"
        self._fh = create_private(self.warc_dir / (self._name + OPEN_SUFFIX))
        writer = Sha256WARCWriter(self._fh, gzip=True, warc_version="1.1")
        info = writer.create_warcinfo_record(self._name, {
            "software": self.software,
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        })
        writer.write_record(info)
        self._warcinfo = self._ref("warcinfo", info, 0, self._fh.tell())
        self._sync()

    def _ref(self, role: str, rec, offset: int, length: int) -> RecordRef:
        h = rec.rec_headers
        return RecordRef(
            role, rec.rec_type, h.get_header("WARC-Target-URI") or "", h.get_header("WARC-Record-ID"),
            rec.content_type or "", self._name, offset, length, h.get_header("WARC-Payload-Digest"),
            h.get_header("WARC-Block-Digest"),
            refers_to=h.get_header("WARC-Refers-To") if rec.rec_type == "revisit" else None,
            warc_date=h.get_header("WARC-Date"), truncated=h.get_header("WARC-Truncated"))

    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write(self, records: Iterable[PendingRecord]) -> list[RecordRef]:
        """Append one capture's records; return where each landed (warcinfo first).

        With a remote store the file is then closed and published (raises ObjectStoreError if that
        fails: the closed file stays in the spool for the next start to publish).
        """
        # Append and close under one hold of the lock: another capture thread must not append to
        # (or close) this capture's file between the two, or its own close would find none.
        with self._lock:
            refs = self._append(records)
            closed = self._close() if self.store.remote else None
        if closed is not None:
            self.store.publish(closed)
        return refs

    def _append(self, records: Iterable[PendingRecord]) -> list[RecordRef]:
        """Write one capture's records; the caller holds ``_lock``."""
        if self._fh is None:
            self._open()
        writer = Sha256WARCWriter(self._fh, gzip=True, warc_version="1.1")
        refs = [self._warcinfo]
        start_of_capture = self._fh.tell()
        try:
            for pending in records:
                rec = pending.record
                offset = self._fh.tell()
                writer.write_record(rec)
                refs.append(self._ref(pending.role, rec, offset, self._fh.tell() - offset))
            self._sync()
        except BaseException:
            # Leave the file as it was before this capture so it stays valid.
            self._fh.seek(start_of_capture)
            self._fh.truncate()
            raise
        if self._fh.tell() >= self.max_size and not self.store.remote:
            self._close()
        return refs

    def _close(self) -> Path | None:
        if self._fh is None:
            return None
        self._sync()
        self._fh.close()
        final = self.warc_dir / self._name
        os.replace(self.warc_dir / (self._name + OPEN_SUFFIX), final)
        self._fh = None
        return final

    def close(self) -> None:
        with self._lock:
            closed = self._close()
        if closed is not None and self.store.remote:
            self.store.publish(closed)


def valid_length(path: Path) -> int:
    """Bytes from the start of ``path`` that hold whole WARC records.

    Each record is its own gzip member; a member is whole when zlib reaches its
    end and its CRC and length check out. The first one that is not ends it.
    """
    end = 0
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        try:
            for record in it:
                it.read_to_end(record)
                offset, length = it.get_record_offset(), it.get_record_length()
                if offset != end:
                    break
                fh_pos = fh.tell()
                fh.seek(offset)
                member = fh.read(length)
                fh.seek(fh_pos)
                try:
                    whole_member(member, keep=False)
                except DamagedMember:
                    break
                end = offset + length
        except Exception:
            pass  # unreadable from here on: keep what was whole
    return end


def recover_orphans(warc_dir: Path) -> list[str]:
    """Finish ``.open`` files left by dead writers: cut any torn record off the end, then rename."""
    recovered = []
    for path in sorted(Path(warc_dir).glob("*.warc.gz" + OPEN_SUFFIX)):
        try:
            pid = int(path.name[: -len(".warc.gz" + OPEN_SUFFIX)].rsplit("-", 2)[1])
        except (IndexError, ValueError):
            continue
        if pid_alive(pid) and pid != os.getpid():
            continue
        good = valid_length(path)
        with open(path, "r+b") as fh:
            fh.truncate(good)
            fh.flush()
            os.fsync(fh.fileno())
        final = path.with_name(path.name[: -len(OPEN_SUFFIX)])
        if good == 0:
            path.unlink()
        else:
            os.replace(path, final)
        recovered.append(final.name)
    return recovered


def open_warc(warc_dir: Path | WarcStore, name: str) -> BinaryIO:
    """WARC file ``name``, opened for reading, whether finished or still being written."""
    try:
        return as_store(warc_dir).open(name)
    except FileNotFoundError as exc:
        raise WarcStoreError(str(exc)) from None


def read_bytes(warc_dir: Path | WarcStore, ref: RecordRef) -> bytes:
    """The stored (gzip member) bytes of one record, exactly as stored (from an object store: one ranged GET)."""
    try:
        data = as_store(warc_dir).read_range(ref.warc_file, ref.offset, ref.length)
    except FileNotFoundError as exc:
        raise WarcStoreError(str(exc)) from None
    if len(data) != ref.length:
        raise WarcStoreError(f"{ref.warc_file} is shorter than the catalog says (record at offset {ref.offset})")
    return data


def _inflate(data: bytes, ref: RecordRef) -> bytes:
    """One record's gzip member, inflated in one go (an uncompressed record is left as it is)."""
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return whole_member(data)
    except DamagedMember as exc:
        raise WarcStoreError(f"{ref.warc_file} offset {ref.offset}: not one whole gzip member "
                             f"of {ref.length} bytes there ({exc})") from None


def read_record(warc_dir: Path | WarcStore, ref: RecordRef):
    """The record at ``ref`` parsed by warcio, with its payload loaded (content_stream decoded).

    warcio's record loader parses it; the gzip member is inflated whole first,
    which for one record is faster than warcio's block-by-block reader.
    """
    data = read_bytes(warc_dir, ref)
    try:
        raw = _inflate(data, ref)
        if is_arc_record(raw[:16]):  # an imported ARC file: read as WARC, with the id the walk gave it
            record = ArcWarcRecordLoader(arc2warc=True).parse_record_stream(BytesIO(raw), known_format="arc")
            record.rec_headers.replace_header("WARC-Record-ID", ref.record_id)
            return record
        return ArcWarcRecordLoader().parse_record_stream(BytesIO(raw), known_format="warc")
    except WarcStoreError:
        raise
    except Exception as exc:
        raise WarcStoreError(f"{ref.warc_file} offset {ref.offset}: unreadable record: {exc}") from exc


def read_payload(warc_dir: Path | WarcStore, ref: RecordRef) -> bytes:
    """The decoded payload (content) of the record at ``ref``.

    A revisit record has none: resolve it first with ``catalog.payload_ref``.
    """
    if ref.record_type == "revisit":
        raise WarcStoreError(f"{ref.warc_file} offset {ref.offset}: a revisit record holds no payload; "
                             f"it is in record {ref.refers_to}")
    return read_record(warc_dir, ref).content_stream().read()


def export_bytes(warc_dir: Path | WarcStore, ref: RecordRef) -> bytes:
    """The record as one gzip member of a WARC file: byte for byte when stored so (ours, any .warc.gz).

    A record from an imported plain WARC is gzipped whole (its bytes unchanged inside); one from an
    ARC file is rewritten as the WARC record warcio reads it as, with its id and SHA-256 digests.
    """
    data = read_bytes(warc_dir, ref)
    if not is_arc_record(_inflate(data, ref)[:16]):
        return data if data.startswith(b"\x1f\x8b") else gzip.compress(data, mtime=0)
    record = read_record(warc_dir, ref)
    body = record.raw_stream.read()
    headers = {name: record.rec_headers.get_header(name) for name in ("WARC-Record-ID", "WARC-Date",
                                                                       "WARC-IP-Address", "WARC-Filename")}
    out = BytesIO()
    writer = Sha256WARCWriter(out, gzip=True, warc_version="1.0")
    writer.write_record(writer.create_warc_record(
        record.rec_headers.get_header("WARC-Target-URI") or "", record.rec_type, payload=BytesIO(body),
        length=len(body), http_headers=record.http_headers,
        warc_content_type=record.rec_headers.get_header("Content-Type") or "",
        warc_headers_dict={k: v for k, v in headers.items() if v}))
    return out.getvalue()


def export_length(warc_dir: Path | WarcStore, ref: RecordRef) -> int:
    """Bytes of ``export_bytes(ref)``, without reading a record that is exported as stored."""
    if ref.warc_file.endswith(".warc.gz"):
        return ref.length
    return len(export_bytes(warc_dir, ref))


def capture_warc(warc_dir: Path | WarcStore, refs: Iterable[RecordRef]) -> Iterator[bytes]:
    """A standalone .warc.gz of one capture: its file's warcinfo then its records, each as ``export_bytes``."""
    seen = set()
    for ref in refs:
        key = (ref.warc_file, ref.offset)
        if key not in seen:
            seen.add(key)
            yield export_bytes(warc_dir, ref)
