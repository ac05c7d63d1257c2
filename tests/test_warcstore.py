"""The rolling WARC writer: rollover, the .open suffix, and recovery of a torn file."""
from __future__ import annotations

import os
import shutil
from io import BytesIO

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.catalog import RecordRef
from archive.warc.store import (
    OPEN_SUFFIX,
    PendingRecord,
    RollingWarcWriter,
    Sha256WARCWriter,
    WarcStoreError,
    read_payload,
    recover_orphans,
    valid_length,
)

from .conftest import warcio_check
from .sites import DATA

_builder = Sha256WARCWriter(None, warc_version="1.1")


def resource(n: int, size: int = 1000) -> PendingRecord:
    data = os.urandom(size)
    rec = _builder.create_warc_record(f"urn:test:{n}", "resource", payload=BytesIO(data), length=len(data),
                                      warc_content_type="application/octet-stream")
    return PendingRecord("test", rec)


def test_open_file_is_renamed_when_closed(tmp_path):
    writer = RollingWarcWriter(tmp_path, max_size=10**9, software="test")
    refs = writer.write([resource(1)])
    assert [p.name.endswith(OPEN_SUFFIX) for p in tmp_path.iterdir()] == [True]
    assert refs[0].role == "warcinfo" and refs[1].offset == refs[0].length
    assert len(read_payload(tmp_path, refs[1])) == 1000  # readable while still open
    writer.close()
    assert [p.name.endswith(".warc.gz") for p in tmp_path.iterdir()] == [True]
    assert len(read_payload(tmp_path, refs[1])) == 1000


def test_rollover_at_size(tmp_path):
    writer = RollingWarcWriter(tmp_path, max_size=3000, software="test")
    files = {writer.write([resource(i, 3000)])[1].warc_file for i in range(4)}
    writer.close()
    assert len(files) == 4
    for path in tmp_path.iterdir():
        types = [r.rec_type for r in ArchiveIterator(open(path, "rb"))]
        assert types[0] == "warcinfo" and types.count("warcinfo") == 1


def test_torn_tail_is_cut_off_on_recovery(tmp_path):
    writer = RollingWarcWriter(tmp_path, max_size=10**9, software="test")
    writer.write([resource(1), resource(2)])
    path = next(tmp_path.iterdir())
    good = path.stat().st_size
    # A capture being written when the process was killed: half a record.
    partial = BytesIO()
    Sha256WARCWriter(partial, gzip=True).write_record(resource(3, 5000).record)
    with open(path, "ab") as fh:
        fh.write(partial.getvalue()[: len(partial.getvalue()) // 2])
    writer._fh = None  # as if this process had died: nobody closes the file
    # Pretend the file belongs to a dead process.
    dead = path.with_name(path.name.replace(f"-{os.getpid()}-", "-999999999-"))
    path.rename(dead)
    assert valid_length(dead) == good
    assert recover_orphans(tmp_path) == [dead.name[: -len(OPEN_SUFFIX)]]
    final = tmp_path / dead.name[: -len(OPEN_SUFFIX)]
    assert final.stat().st_size == good
    assert "digest pass" in warcio_check([final])


def test_live_writers_files_are_left_alone(tmp_path):
    writer = RollingWarcWriter(tmp_path, max_size=10**9, software="test")
    writer.write([resource(1)])
    path = next(tmp_path.iterdir())
    # pid 1 is always alive: its file is being written by someone else.
    alive = path.with_name(path.name.replace(f"-{os.getpid()}-", "-1-"))
    path.rename(alive)
    assert recover_orphans(tmp_path) == []
    assert alive.exists()


def record_offsets(path):
    it = ArchiveIterator(open(path, "rb"))
    out = []
    for rec in it:
        it.read_to_end(rec)
        out.append((rec.rec_type, it.get_record_offset(), it.get_record_length()))
    return out


def test_valid_length_of_whole_and_truncated_files():
    whole = DATA / "warcs" / "example.warc.gz"
    truncated = DATA / "warcs" / "example-truncated.warc.gz"
    assert valid_length(whole) == whole.stat().st_size
    offsets = record_offsets(whole)
    assert [t for t, _, _ in offsets] == ["warcinfo", "response", "response"]
    assert valid_length(truncated) == offsets[2][1]  # everything before the torn record


def test_reading_a_torn_record_names_file_and_offset(tmp_path):
    whole = DATA / "warcs" / "example.warc.gz"
    _, offset, length = record_offsets(whole)[2]
    shutil.copy(DATA / "warcs" / "example-truncated.warc.gz", tmp_path / "example.warc.gz")
    ref = RecordRef("main", "response", "http://news.example.com/1", "<urn:uuid:x>", "", "example.warc.gz",
                    offset, length)
    with pytest.raises(WarcStoreError, match=f"example.warc.gz.*offset {offset}|shorter than the catalog"):
        read_payload(tmp_path, ref)
    # The records before the damage still read.
    _, offset1, length1 = record_offsets(whole)[1]
    ok = RecordRef("main", "response", "http://news.example.com/0", "<urn:uuid:y>", "", "example.warc.gz",
                   offset1, length1)
    assert "Первая статья".encode() in read_payload(tmp_path, ok)


def test_recovering_a_real_truncated_file(tmp_path):
    orphan = tmp_path / "archive-20240401120000-999999999-00001.warc.gz.open"
    shutil.copy(DATA / "warcs" / "example-truncated.warc.gz", orphan)
    assert recover_orphans(tmp_path) == ["archive-20240401120000-999999999-00001.warc.gz"]
    final = tmp_path / "archive-20240401120000-999999999-00001.warc.gz"
    assert [t for t, _, _ in record_offsets(final)] == ["warcinfo", "response"]
    warcio_check([final])
