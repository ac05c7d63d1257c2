"""The one gzip-member check: whole, cut off, corrupt, or followed by more bytes; on real WARC files."""
from __future__ import annotations

import gzip
from io import BytesIO

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.catalog import RecordRef
from archive.warc.gzipmember import DamagedMember, inflate_member, whole_member
from archive.warc.store import WarcStoreError, read_record, valid_length
from archive.warc.walk import WarcWalk

from .sites import DATA

WHOLE = DATA / "warcs" / "example.warc.gz"
TRUNCATED = DATA / "warcs" / "example-truncated.warc.gz"


def members(path) -> list[tuple[int, int]]:
    """(offset, length) of each record, as warcio finds them."""
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        out = []
        for record in it:
            it.read_to_end(record)
            out.append((it.get_record_offset(), it.get_record_length()))
    return out


def test_each_record_of_a_real_warc_is_one_whole_member():
    data = WHOLE.read_bytes()
    for offset, length in members(WHOLE):
        raw = whole_member(data[offset:offset + length])
        assert raw.startswith(b"WARC/1."), raw[:20]
        fh = BytesIO(data)
        fh.seek(offset)
        assert inflate_member(fh) == length


@pytest.mark.parametrize("damage, words", [
    (lambda m: m[:-9], "cut off after"),  # a torn last write
    (lambda m: m[:12] + bytes([m[12] ^ 0xFF]) + m[13:], "corrupt gzip data"),  # a flipped byte
    (lambda m: m[:-8] + bytes(8), "corrupt gzip data"),  # a wrong CRC and length
    (lambda m: m + b"WARC/1.1\r\n", "10 bytes follow the gzip member"),
])
def test_a_damaged_member_is_refused_saying_how(damage, words):
    member = gzip.compress(b"WARC/1.1\r\n" + b"x" * 5000)
    assert whole_member(member) == b"WARC/1.1\r\n" + b"x" * 5000
    with pytest.raises(DamagedMember, match=words):
        whole_member(damage(member))


def test_a_check_without_keeping_keeps_nothing():
    assert whole_member(gzip.compress(b"a" * 1_000_000), keep=False) == b""


def crc_flipped(tmp_path, index: int):
    """A copy of the whole example file with record ``index``'s gzip CRC damaged."""
    offset, length = members(WHOLE)[index]
    data = bytearray(WHOLE.read_bytes())
    data[offset + length - 8] ^= 0xFF
    path = tmp_path / f"crc-{index}.warc.gz"
    path.write_bytes(bytes(data))
    return path, offset, length


@pytest.mark.parametrize("index", [1, 2])
def test_the_readers_agree_where_a_damaged_file_stops(tmp_path, index):
    path, offset, length = crc_flipped(tmp_path, index)
    walk = WarcWalk(path)
    walked = [w.offset for w in walk]
    assert walked == [o for o, _ in members(WHOLE)][:index]
    assert walk.damage is not None and walk.damage.offset == offset == valid_length(path)
    ref = RecordRef(role="response", record_type="response", target_uri="x", record_id="<urn:uuid:x>",
                    content_type="", warc_file=path.name, offset=offset, length=length)
    with pytest.raises(WarcStoreError, match=f"offset {offset}: not one whole gzip member .*corrupt gzip data"):
        read_record(tmp_path, ref)


def test_the_truncated_example_ends_where_every_reader_says():
    walk = WarcWalk(TRUNCATED)
    walked = [w.offset for w in walk]
    end = valid_length(TRUNCATED)
    assert walk.damage is not None and walk.damage.offset == end
    assert walked == [o for o, _ in members(WHOLE) if o < end]
