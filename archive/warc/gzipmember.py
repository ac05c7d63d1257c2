"""Whether stored bytes are one whole gzip member: the check every reader of our WARC files makes.

Each WARC record is its own gzip member. warcio stops quietly at a cut-off member; zlib's
end-of-stream and CRC check do not, so a member is whole only when zlib reaches its end.
Writing a file's tail back (``store.valid_length``), walking files (``walk``), reading one
record (``store.read_record``) and ``verify`` all decide "whole or damaged" here.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from io import BytesIO
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 64 * 1024


class DamagedMember(ValueError):
    """The bytes are not one whole gzip member; the message says how (cut off, corrupt, extra bytes)."""


def inflate_member(fh: BinaryIO, sink: Callable[[bytes], object] | None = None) -> int:
    """Inflate the gzip member at ``fh``'s position, giving what it holds to ``sink`` piece by piece;
    return its length in the file. DamagedMember unless it is whole."""
    inflater = zlib.decompressobj(wbits=31)
    fed = 0
    while not inflater.eof:
        data = fh.read(CHUNK)
        if not data:
            raise DamagedMember(f"gzip member cut off after {fed} bytes (truncated file?)")
        fed += len(data)
        try:
            while data and not inflater.eof:
                out = inflater.decompress(data, 16 * CHUNK)  # bounded: a small member may inflate hugely
                if sink is not None:
                    sink(out)
                data = inflater.unconsumed_tail
        except zlib.error as exc:
            raise DamagedMember(f"corrupt gzip data: {exc}") from None
    return fed - len(inflater.unused_data)


def whole_member(data: bytes, keep: bool = True) -> bytes:
    """``data`` inflated, if it is exactly one whole gzip member (b"" with ``keep=False``, which only
    checks); DamagedMember otherwise."""
    parts: list[bytes] = []
    length = inflate_member(BytesIO(data), parts.append if keep else None)
    if length != len(data):
        raise DamagedMember(f"{len(data) - length} bytes follow the gzip member")
    return b"".join(parts)


def record_head(stored: bytes, size: int = 16) -> bytes:
    """The first ``size`` bytes of a stored record, inflated if it is a gzip member (enough to tell a
    WARC record from an ARC one)."""
    if stored.startswith(GZIP_MAGIC):
        return zlib.decompressobj(wbits=31).decompress(stored, size)
    return stored[:size]


__all__ = ["GZIP_MAGIC", "DamagedMember", "inflate_member", "record_head", "whole_member"]
