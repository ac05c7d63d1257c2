"""The archive's WARC layer against bare warcio, writing and reading the same records, same run.

    python bench/warc.py [--bytes 200000000] [--per-call 20] [--seed 7]

Records are HTTP responses with realistic headers and a mix of payloads: half
compressible text (HTML, CSS, JS, JSON), half incompressible (images, fonts),
from 2 KB to 400 KB. The archive writes them through ``RollingWarcWriter.write``
``--per-call`` records at a time, as a capture does (one fsync per call), and
reads each back by its catalog location with ``warcstore.read_payload``. Bare
warcio writes the same records with ``WARCWriter.write_record`` to one file
and reads them with ``ArchiveIterator``. The two run interleaved, batch by
batch and record by record, so both see the same machine load. Building the
records (their digests) is the same for both and is not timed. MB are of
payload, 10^6 bytes. Target: the archive at least 0.9 of bare warcio both ways.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warcio.archiveiterator import ArchiveIterator  # noqa: E402
from warcio.statusandheaders import StatusAndHeaders  # noqa: E402

from archive.warc.store import PendingRecord, RollingWarcWriter, Sha256WARCWriter, read_payload  # noqa: E402

SIZES = (2_000, 8_000, 30_000, 100_000, 400_000)
TEXT_TYPES = ("text/html; charset=utf-8", "text/css", "application/javascript", "application/json")
BINARY_TYPES = ("image/jpeg", "image/png", "font/woff2", "image/webp")
WORDS = ("the court upheld order block outlet ministry law false information provider access appeal "
         "<div class=\"article\"> </div> <p> </p> function var return { } ; = . , \"title\": [ ] "
         "блокировка суд решение закон доступ провайдер статья свобода слова").split()


def make_payloads(rng: random.Random) -> list[tuple[str, bytes]]:
    """Eight distinct payloads of each size, half text and half binary."""
    out = []
    for size in SIZES:
        for i in range(8):
            if i % 2:
                out.append((BINARY_TYPES[i // 2 % 4], rng.randbytes(size)))
            else:
                text = " ".join(rng.choice(WORDS) for _ in range(size // 4)).encode()
                out.append((TEXT_TYPES[i // 2 % 4], text[:size]))
    return out


def batches(total: int, per_call: int, seed: int):
    """Batches of (content type, payload, n) totalling ``total`` payload bytes, deterministically."""
    rng = random.Random(seed)
    payloads = make_payloads(rng)
    sent = n = 0
    while sent < total:
        batch = []
        while len(batch) < per_call and sent < total:
            content_type, body = rng.choice(payloads)
            batch.append((content_type, body, n))
            sent += len(body)
            n += 1
        yield batch


_builder = Sha256WARCWriter(None, warc_version="1.1")


def build(batch) -> list:
    """Fresh warcio records for a batch (a record's payload stream is used up by writing it)."""
    out = []
    for content_type, body, n in batch:
        headers = StatusAndHeaders("200 OK", [
            ("Date", "Thu, 18 Apr 2024 09:30:15 GMT"), ("Server", "nginx"), ("Content-Type", content_type),
            ("Content-Length", str(len(body))), ("Cache-Control", "max-age=3600"), ("ETag", f'"{n:08x}"')],
            protocol="HTTP/1.1")
        out.append(_builder.create_warc_record(
            f"https://kloop.kg/asset/{n}", "response", payload=BytesIO(body), length=len(body), http_headers=headers,
            warc_headers_dict={"WARC-Date": "2024-04-18T09:30:15.000000Z", "WARC-IP-Address": "93.184.216.34"}))
    return out


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def write_both(args, warc_dir: Path, bare_path: Path) -> tuple[dict[str, float], int, list]:
    """Write every batch through both, alternating which goes first; return seconds, payload bytes, refs."""
    seconds = {"archive": 0.0, "bare": 0.0}
    archive = RollingWarcWriter(warc_dir, 10**12, "bench", prefix="bench")
    fh = open(bare_path, "wb")
    bare = Sha256WARCWriter(fh, gzip=True, warc_version="1.1")

    def write_archive(records):
        return archive.write([PendingRecord("response", r) for r in records])[1:]

    def write_bare(records):
        if fh.tell() == 0:
            bare.write_record(bare.create_warcinfo_record(bare_path.name, {"software": "bench"}))
        for rec in records:
            bare.write_record(rec)

    payload, refs = 0, []
    for i, batch in enumerate(batches(args.bytes, args.per_call, args.seed)):
        payload += sum(len(body) for _, body, _ in batch)
        ours, theirs = build(batch), build(batch)
        for who in (("archive", "bare") if i % 2 == 0 else ("bare", "archive")):
            if who == "archive":
                t, new = timed(write_archive, ours)
                refs.extend(new)
            else:
                t, _ = timed(write_bare, theirs)
            seconds[who] += t
    seconds["archive"] += timed(archive.close)[0]
    seconds["bare"] += timed(fh.close)[0]
    return seconds, payload, refs


def read_both(warc_dir: Path, bare_path: Path, refs: list) -> tuple[dict[str, float], dict[str, int]]:
    """Read every payload back through both, record by record, alternating."""
    seconds = {"archive": 0.0, "bare": 0.0}
    read = {"archive": 0, "bare": 0}
    with open(bare_path, "rb") as fh:
        records = iter(ArchiveIterator(fh))

        def next_bare_payload() -> bytes:
            for rec in records:
                if rec.rec_type == "response":
                    return rec.content_stream().read()
            raise AssertionError("bare file ended early")

        for i, ref in enumerate(refs):
            for who in (("archive", "bare") if i % 2 == 0 else ("bare", "archive")):
                if who == "archive":
                    t, data = timed(read_payload, warc_dir, ref)
                else:
                    t, data = timed(next_bare_payload)
                seconds[who] += t
                read[who] += len(data)
    return seconds, read


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bytes", type=int, default=200_000_000, help="payload bytes to write and read (1e9 for 1 GB)")
    p.add_argument("--per-call", type=int, default=20, help="records per RollingWarcWriter.write call")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--smoke", action="store_true",
                  help="tiny sizes, to check that the script runs and prints its figures "
                       "(tests/test_bench_smoke.py); the figures mean nothing then")
    args = p.parse_args(argv)
    if args.smoke:
        vars(args).update({"bytes": 2_000_000})
    with tempfile.TemporaryDirectory() as tmp:
        warc_dir, bare_path = Path(tmp) / "archive", Path(tmp) / "bare.warc.gz"
        write_s, payload, refs = write_both(args, warc_dir, bare_path)
        read_s, read = read_both(warc_dir, bare_path, refs)
        assert read == {"archive": payload, "bare": payload}, (read, payload)
        stored = sum(f.stat().st_size for f in warc_dir.iterdir())
    print(f"WARC benchmark: {payload / 1e6:.0f} MB of payload in {len(refs)} response records, "
          f"{args.per_call} per write call, {stored / 1e6:.0f} MB on disk, {os.cpu_count()} cores")
    for way, seconds in (("write", write_s), ("read", read_s)):
        ours, bare = payload / seconds["archive"] / 1e6, payload / seconds["bare"] / 1e6
        print(f"  {way:5s}  archive {ours:7.1f} MB/s   bare warcio {bare:7.1f} MB/s   "
              f"archive/bare {ours / bare:.2f}   bare/archive {bare / ours:.2f}   (target archive/bare >= 0.90)")


if __name__ == "__main__":
    main()
