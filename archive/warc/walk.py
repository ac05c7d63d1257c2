"""Reading a WARC (or ARC) file from end to end (or from an offset) with warcio, stopping at damage.

`reindex` and `import` both walk whole files, gzipped per record or not. Each record is yielded with its offset and
stored length, and its payload when the caller wants it. A gzip member that does not inflate
whole (a truncated file, flipped bytes) ends the walk: what came before it is good, and
``damage`` says where and why, for the command's report.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from archive.warc.arc import arc_record_id, is_arc_record, separator
from archive.warc.gzipmember import GZIP_MAGIC, DamagedMember, record_head, whole_member


@dataclass(frozen=True)
class Walked:
    """One whole record: where it is, its parsed headers, and its decoded payload if asked for."""

    offset: int
    length: int
    record: ArcWarcRecord  # headers only are usable: its stream has been read to the end
    payload: bytes | None

    @property
    def rec_type(self) -> str:
        return self.record.rec_type

    def header(self, name: str) -> str | None:
        return self.record.rec_headers.get_header(name)


@dataclass(frozen=True)
class Damage:
    """Where a file stops holding whole records."""

    warc_file: str
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"{self.warc_file} offset {self.offset}: {self.reason}"


class WarcWalk:
    """Iterate the whole records of ``path`` from ``start`` (a record's offset).

    ``want_payload(record)`` says which records' payloads to read (decoded: de-chunked and
    decompressed, as warcio's content_stream gives them); the rest are skipped unread.
    """

    def __init__(self, path: Path, start: int = 0,
                 want_payload: Callable[[ArcWarcRecord], bool] = lambda record: False):
        self.path = Path(path)
        self.start = start
        self.want_payload = want_payload
        self.damage: Damage | None = None
        self.end = start  # bytes from the file's start known to be whole records

    def __iter__(self) -> Iterator[Walked]:
        size = self.path.stat().st_size
        with open(self.path, "rb") as fh, open(self.path, "rb") as check:
            fh.seek(self.start)
            it = ArchiveIterator(fh, no_record_parse=False, arc2warc=True)
            try:
                for record in it:
                    payload = record.content_stream().read() if self.want_payload(record) else None
                    it.read_to_end(record)
                    offset, length = it.get_record_offset(), it.get_record_length()
                    if offset != self.end:
                        self._damaged(self.end, "bytes here are not a WARC record")
                        return
                    problem = _member_problem(check, offset, length)
                    if problem:
                        self._damaged(offset, problem)
                        return
                    length, problem = _whole(check, offset, length, record)
                    if problem:
                        self._damaged(offset, problem)
                        return
                    self.end = offset + length
                    yield Walked(offset, length, record, payload)
            except Exception as exc:  # warcio gives up on bytes it cannot parse: that is the damage
                self._damaged(self.end, f"unreadable record ({type(exc).__name__}: {exc})")
                return
        if self.end < size:
            self._damaged(self.end, f"{size - self.end} bytes at the end are not a whole record (truncated?)")

    def _damaged(self, offset: int, reason: str) -> None:
        self.damage = Damage(self.path.name, offset, reason)


def _whole(fh, offset: int, length: int, record: ArcWarcRecord) -> tuple[int, str | None]:
    """The record's stored length, separator included, or why it is not whole.

    warcio leaves an uncompressed record's closing separator out of its length and only warns
    when the separator is missing (a record cut short, a wrong Content-Length): here that is
    damage. An ARC record gets a stable WARC-Record-ID (archive/warc/arc.py).
    """
    fh.seek(offset)
    start = fh.read(min(length, 1024))  # enough to inflate the record's first bytes
    gzipped = start.startswith(GZIP_MAGIC)
    head = record_head(start)
    if is_arc_record(head):
        fh.seek(offset)
        record.rec_headers.replace_header("WARC-Record-ID", arc_record_id(fh.read(length)))
    if gzipped:
        return length, None  # the member holds the separator
    expected = separator(head)
    fh.seek(offset + length)
    if fh.read(len(expected)) != expected:
        return length, (f"record not followed by {expected!r}: cut off, or its Content-Length is wrong")
    return length + len(expected), None


def _member_problem(fh, offset: int, length: int) -> str | None:
    """Why the stored bytes of the record at ``offset`` are not one whole gzip member, if they are not.

    warcio stops quietly at a cut-off member; zlib's end-of-stream and CRC check do not.
    """
    fh.seek(offset)
    data = fh.read(length)
    if not data.startswith(GZIP_MAGIC):
        return None  # an uncompressed WARC: warcio's parse is the check
    try:
        whole_member(data, keep=False)
    except DamagedMember as exc:
        return str(exc)
    return None
