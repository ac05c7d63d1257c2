"""Checking the archive against itself: WARC digests, and the catalog against the WARC files.

Each record is re-read from disk: its gzip member must inflate whole (zlib
checks the CRC), warcio recomputes its block and payload digests against its
WARC headers (a revisit's block digest is recomputed here, since warcio skips
revisits), and what the catalog says of it (record id, type, URI, length,
digests) must match what is at its offset. ``verify_archive`` with no capture
ids also reads every WARC file from end to end, so damage to records that no
capture points to is found too.
"""
from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator

from archive import catalog
from archive.warc.arc import arc_record_id, is_arc_record, separator
from archive.warc.gzipmember import GZIP_MAGIC, DamagedMember, inflate_member, record_head
from archive.warc.objects import WarcStore, as_store
from archive.warc.store import IMPORT_PREFIX, OPEN_SUFFIX, digest_bytes, hex_digest  # noqa: F401 (hex_digest: public here too)

CHUNK = 64 * 1024
MEMBER_START = GZIP_MAGIC + b"\x08"  # gzip's magic and deflate: where a record may start again


@dataclass(frozen=True)
class Problem:
    """One thing that does not check out, and where."""

    warc_file: str
    offset: int | None
    record_id: str | None
    message: str
    captures: tuple[int, ...] = ()  # the captures whose records these are, as far as the catalog knows

    def __str__(self) -> str:
        where = self.warc_file + (f" offset {self.offset}" if self.offset is not None else "")
        text = f"{where} {self.record_id or '(record id unknown)'}: {self.message}"
        if self.captures:
            shown = ", ".join(map(str, self.captures[:5])) + (", ..." if len(self.captures) > 5 else "")
            text += f" [capture{'s' if len(self.captures) > 1 else ''} {shown}]"
        return text


@dataclass
class Report:
    files: int = 0
    records: int = 0  # records read back and checked
    cataloged: int = 0  # of them, records the catalog points to
    captures: int = 0
    skipped_bytes: int = 0  # unreadable bytes stepped over to reach the next record
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        text = (f"{_count(self.records, 'record')} in {_count(self.files, 'WARC file')} checked "
                f"({self.cataloged} in the catalog, for {_count(self.captures, 'capture')}): ")
        text += "all digests and catalog entries match." if self.ok else f"{len(self.problems)} problem(s)."
        if self.skipped_bytes:
            text += f" {self.skipped_bytes} unreadable bytes were skipped."
        return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


class Unreadable(Exception):
    """No whole WARC record can be read at an offset."""


@dataclass
class _Read:
    """The record found at an offset."""

    offset: int
    length: int
    record_id: str | None
    rec_type: str | None
    target_uri: str
    payload_digest: str | None
    block_digest: str | None
    problems: list[str]


@dataclass
class _Expected:
    ref: catalog.RecordRef
    captures: set[int]


def _hex_or_none(value: str | None) -> str | None:
    try:
        return hex_digest(value)
    except ValueError:
        return None


def _member_length(fh: BinaryIO, offset: int) -> int:
    """Bytes of the gzip member starting at ``offset``; Unreadable unless it inflates whole."""
    fh.seek(offset)
    try:
        return inflate_member(fh)
    except DamagedMember as exc:
        raise Unreadable(str(exc)) from None


def _block_digest_problem(fh: BinaryIO, offset: int, expected: str) -> str | None:
    """Recompute a record's block digest (warcio skips revisit records)."""
    try:
        algo, want = digest_bytes(expected)
    except ValueError as exc:
        return f"block digest cannot be checked: {exc}"
    fh.seek(offset)
    record = next(iter(ArchiveIterator(fh, no_record_parse=True)))
    digester = hashlib.new(algo)
    while data := record.raw_stream.read(CHUNK):
        digester.update(data)
    return None if digester.digest() == want else f"block digest failed: {expected} does not match the block"


def _http_payload_problem(fh: BinaryIO, offset: int, expected: str) -> str | None:
    """Check a payload digest over the block after its HTTP head, for a record warcio read without one.

    warcio parses HTTP heads only under http(s) URIs; Scoop writes ``file:///screenshot.png``
    records as HTTP responses, digested (rightly) after the head.
    """
    try:
        algo, want = digest_bytes(expected)
    except ValueError as exc:
        return f"payload digest cannot be checked: {exc}"
    fh.seek(offset)
    record = next(iter(ArchiveIterator(fh, no_record_parse=True)))
    block = record.raw_stream.read()
    head_end = block.find(b"\r\n\r\n")
    if head_end >= 0 and hashlib.new(algo, block[head_end + 4:]).digest() == want:
        return None
    return f"payload digest failed: {expected} does not match the payload"


def read_at(fh: BinaryIO, offset: int, gzipped: bool = True, foreign: bool = False) -> _Read:
    """Read and check the record at ``offset``; Unreadable if there is none whole.

    ``foreign``: another tool wrote the file, so a record may lack the digests ours always have."""
    member = _member_length(fh, offset) if gzipped else None
    fh.seek(offset)
    it = ArchiveIterator(fh, check_digests=True, arc2warc=True)
    try:
        record = next(it)
        stream = record.raw_stream
        while stream.read(CHUNK):
            pass
        it.read_to_end(record)
        length = it.get_record_length()
    except StopIteration:
        raise Unreadable("no WARC record here (end of file)") from None
    except Exception as exc:
        raise Unreadable(f"not a readable WARC record: {exc}".strip()) from None
    fh.seek(offset)
    stored = fh.read(member if member is not None else length)
    head = record_head(stored)
    arc = is_arc_record(head)
    if arc:  # the id the walk gave it (archive/warc/arc.py)
        record.rec_headers.replace_header("WARC-Record-ID", arc_record_id(stored))
    if member is None:  # uncompressed: the record ends with its separator, which is part of it here
        expected = separator(head)
        if fh.read(len(expected)) != expected:
            raise Unreadable(f"record not followed by {expected!r}: cut off, or its Content-Length is wrong")
        length += len(expected)
    h = record.rec_headers
    found = _Read(offset, member if member is not None else length, h.get_header("WARC-Record-ID"),
                  record.rec_type, h.get_header("WARC-Target-URI") or "", h.get_header("WARC-Payload-Digest"),
                  h.get_header("WARC-Block-Digest"), [])
    for problem in record.digest_checker.problems:
        # warcio words the same failure two ways ("payload digest failed[:] <digest>"): say it one way.
        for kind, value in (("payload", found.payload_digest), ("block", found.block_digest)):
            if problem.startswith(f"{kind} digest failed"):
                problem = f"{kind} digest failed: {value} does not match the {kind}"
        http_typed = (h.get_header("Content-Type") or "").startswith("application/http")
        if problem.startswith("payload digest failed") and record.http_headers is None and http_typed:
            problem = _http_payload_problem(fh, offset, found.payload_digest or "")
        if problem:
            found.problems.append(problem)
    if stream.limit:
        found.problems.append(f"record is {stream.limit} bytes shorter than its Content-Length")
    if member is not None and member != length:
        found.problems.append(f"gzip member is {member} bytes but the record in it {length}")
    if not found.block_digest and not (arc or foreign):  # ours always have one; ARC records never
        found.problems.append("no WARC-Block-Digest to check")
    elif record.rec_type == "revisit":
        problem = _block_digest_problem(fh, offset, found.block_digest)
        if problem:
            found.problems.append(problem)
    return found


def _compare(ref: catalog.RecordRef, found: _Read) -> list[str]:
    """Where the catalog and the record at its offset disagree."""
    pairs = (("record id", ref.record_id, found.record_id), ("record type", ref.record_type, found.rec_type),
             ("target URI", ref.target_uri, found.target_uri), ("length", ref.length, found.length),
             ("payload digest", ref.payload_digest, found.payload_digest),
             ("block digest", ref.block_digest, found.block_digest))
    return [f"catalog says {name} {ours}, the WARC has {theirs}" for name, ours, theirs in pairs if ours != theirs]


def _describe(ref: catalog.RecordRef) -> str:
    return f"{ref.record_type} {ref.target_uri}" if ref.target_uri else ref.record_type


class _Verifier:
    def __init__(self, db: sqlite3.Connection, warc_dir: Path | WarcStore, progress: Callable[[str], None] | None,
                 on_problem: Callable[[Problem], None] | None):
        self.db = db
        self.store = as_store(warc_dir)
        self.progress = progress or (lambda message: None)
        self.on_problem = on_problem or (lambda problem: None)
        self.report = Report()
        self.expected: dict[str, dict[int, _Expected]] = {}

    def problem(self, warc_file: str, offset: int | None, record_id: str | None, message: str) -> None:
        expected = self.expected.get(warc_file, {})
        if offset is None:
            captures = set().union(*(e.captures for e in expected.values()))
        else:
            captures = expected[offset].captures if offset in expected else set()
        found = Problem(warc_file, offset, record_id, message, tuple(sorted(captures)))
        self.report.problems.append(found)
        self.on_problem(found)

    def unreadable(self, name: str, ref: catalog.RecordRef, exc: Unreadable) -> None:
        self.problem(name, ref.offset, ref.record_id, f"{exc} (the catalog has {_describe(ref)} here)")

    def add_capture(self, capture_id: int) -> None:
        """Note where the capture's records should be, and check the catalog against itself."""
        capture = catalog.get_capture(self.db, capture_id)
        if capture is None:
            raise LookupError(f"there is no capture {capture_id} in this archive")
        self.report.captures += 1
        refs = catalog.get_records(self.db, capture_id, with_originals=True)
        by_id = {r.record_id: r for r in refs}
        for ref in refs:
            at = self.expected.setdefault(ref.warc_file, {})
            if ref.offset not in at:
                at[ref.offset] = _Expected(ref, {capture_id})
            elif at[ref.offset].ref.record_id != ref.record_id:
                self.problem(ref.warc_file, ref.offset, ref.record_id,
                             f"the catalog also puts {at[ref.offset].ref.record_id} at this offset")
            else:
                at[ref.offset].captures.add(capture_id)
            # Only a SHA-256 payload digest can be compared: imported WARCs (wget) may carry SHA-1,
            # which is still checked against the bytes; the capture's SHA-256 was computed at import.
            sha256_digest = (ref.payload_digest or "").lower().startswith("sha256:")
            if ref.role == "main" and sha256_digest and capture["sha256"] != _hex_or_none(ref.payload_digest):
                self.problem(ref.warc_file, ref.offset, ref.record_id,
                             f"capture {capture_id}'s SHA-256 {capture['sha256']} is not its page's payload digest "
                             f"{ref.payload_digest}")
            if ref.refers_to:
                original = by_id.get(ref.refers_to)
                if original is None:
                    self.problem(ref.warc_file, ref.offset, ref.record_id,
                                 f"revisit refers to {ref.refers_to}, which the catalog does not have")
                elif original.payload_digest != ref.payload_digest:
                    self.problem(ref.warc_file, ref.offset, ref.record_id,
                                 f"revisit payload digest {ref.payload_digest} is not that of {ref.refers_to} "
                                 f"({original.payload_digest})")

    def check(self, name: str, found: _Read) -> None:
        self.report.records += 1
        for message in found.problems:
            self.problem(name, found.offset, found.record_id, message)
        expected = self.expected.get(name, {}).get(found.offset)
        if expected is not None:
            self.report.cataloged += 1
            for message in _compare(expected.ref, found):
                self.problem(name, found.offset, found.record_id, message)

    def check_offsets(self, name: str, fh: BinaryIO, offsets: Iterable[int]) -> None:
        """Read each cataloged record where the catalog says it is."""
        for offset in offsets:
            ref = self.expected[name][offset].ref
            try:
                self.check(name, read_at(fh, offset, name.endswith(".gz"), name.startswith(IMPORT_PREFIX)))
            except Unreadable as exc:
                self.unreadable(name, ref, exc)

    def scan(self, name: str, fh: BinaryIO, end: int) -> None:
        """Read the file from record to record; step over damage to the next record that reads."""
        expected = self.expected.get(name, {})
        pos, lost_from = 0, None
        visited = set()
        while pos < end:
            try:
                found = read_at(fh, pos, name.endswith(".gz"), name.startswith(IMPORT_PREFIX))
            except Unreadable as exc:
                if pos in expected:
                    self.unreadable(name, expected[pos].ref, exc)
                    visited.add(pos)
                elif lost_from is None:
                    self.problem(name, pos, None, str(exc))
                lost_from = pos if lost_from is None else lost_from
                pos = self._next_candidate(fh, name, pos, end)
                continue
            if lost_from is not None:
                self.report.skipped_bytes += pos - lost_from
                lost_from = None
            visited.add(pos)
            self.check(name, found)
            if found.length <= 0:
                break
            pos += found.length
        if lost_from is not None:
            self.report.skipped_bytes += end - lost_from
        for offset in sorted(set(expected) - visited):
            ref = expected[offset].ref
            if offset < end:
                self.problem(name, offset, ref.record_id,
                             f"the catalog has {_describe(ref)} here, but no record starts here")

    def _next_candidate(self, fh: BinaryIO, name: str, pos: int, end: int) -> int:
        """The next offset after ``pos`` where a record may start: a cataloged one or a gzip header."""
        after = [o for o in self.expected.get(name, {}) if o > pos]
        best = min(after, default=end)
        magic = MEMBER_START if name.endswith(".gz") else b"WARC/"
        fh.seek(pos + 1)
        at = pos + 1
        while at < best:
            data = fh.read(CHUNK + len(magic))
            if not data:
                break
            hit = data.find(magic)
            if hit >= 0:
                return min(best, at + hit)
            at += CHUNK
            fh.seek(at)
        return best

    def run(self, full: bool) -> Report:
        names = set(self.expected)
        if full:
            names.update(self.store.names())
        for number, name in enumerate(sorted(names), start=1):
            expected = self.expected.get(name, {})
            try:
                fh = self.store.open(name)
            except FileNotFoundError:
                first = expected[min(expected)].ref
                self.problem(name, None, first.record_id,
                             f"WARC file is missing; the catalog has {len(expected)} records in it")
                continue
            self.report.files += 1
            self.progress(f"[{number}/{len(names)}] {name}: {len(expected)} cataloged records")
            with fh:
                if not full:
                    self.check_offsets(name, fh, sorted(expected))
                    continue
                if problem := self.store.stored_sha256_problem(name):
                    self.problem(name, None, None, problem)
                size = self.store.size(name)
                if (self.store.spool / (name + OPEN_SUFFIX)).exists():
                    # Still being written: past the last cataloged record a record may be half there.
                    size = max((o + e.ref.length for o, e in expected.items()), default=0)
                self.scan(name, fh, size)
        return self.report


def verify_archive(db: sqlite3.Connection, warc_dir: Path | WarcStore, capture_ids: Iterable[int] | None = None, *,
                   progress: Callable[[str], None] | None = None,
                   on_problem: Callable[[Problem], None] | None = None) -> Report:
    """Check the records of ``capture_ids`` (default: every WARC file and every capture).

    ``progress`` gets a line per file, ``on_problem`` each problem as it is found.
    Raises LookupError for an unknown capture.
    """
    verifier = _Verifier(db, warc_dir, progress, on_problem)
    full = capture_ids is None
    if full:
        capture_ids = [row[0] for row in db.execute("SELECT id FROM captures ORDER BY id")]
    for capture_id in dict.fromkeys(capture_ids):
        verifier.add_capture(capture_id)
    return verifier.run(full)
