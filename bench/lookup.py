"""Catalog lookups in a catalog of 100,000 captures: a URL's capture nearest a time, and its records.

    python bench/lookup.py [--captures 100000] [--lookups 2000] [--seed 7]

Builds a synthetic catalog with the real schema (catalog.connect, then bulk
inserts): one watch-listed URL captured every hour (a tenth of the captures),
the rest spread over 30,000 URLs, two years of capture times, twelve records
per capture, its subresources drawn from shared assets so most are revisits.
Then times what a Wayback-style ``/web/<timestamp>/<url>`` runs (archive/web/wayback.py
``at_time``): the capture made in that second (``mementos.in_second``), else the
public capture of the URL or its other scheme nearest the time (``mementos.nearest``),
and its records with their originals (``catalog.get_records(..., with_originals=True)``);
and the dedup lookup of a payload digest (``catalog.find_original``).
Target: p95 of a URL-and-time lookup under 20 ms.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive import catalog  # noqa: E402
from archive.lookup import mementos  # noqa: E402

START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
HOT = "https://kloop.kg/"
RECORD_SQL = ("INSERT INTO records (capture_id, role, record_type, target_uri, record_id, content_type, warc_file,"
              " offset, length, payload_digest, block_digest, refers_to, warc_date, truncated)"
              " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def digest(text: str) -> str:
    return "sha256:" + base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()


def build(db, n_captures: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Fill the catalog; return the URLs and the asset digests used."""
    urls = [f"https://site{i % 400}.kg/news/{i}/" for i in range(30_000)]
    assets = [digest(f"asset {i}") for i in range(5_000)]
    originals: dict[str, str] = {}  # digest -> record id of its first, whole response
    captures, records = [], []
    n_hot = n_captures // 10
    for capture_id in range(1, n_captures + 1):
        if capture_id <= n_hot:
            url, when = HOT, START + timedelta(hours=capture_id)
        else:
            url, when = rng.choice(urls), START + SPAN * rng.random()
        at = catalog.to_iso(when)
        captures.append((capture_id, url, url, at, at, 200, f"Page {capture_id}", "ru", "0" * 64, 0, "[]", "[]", 1))
        warc = f"archive-{when:%Y%m%d}-1-00001.warc.gz"
        offset = rng.randrange(10**9)
        rows = [("warcinfo", "warcinfo", "", f"<urn:uuid:info-{warc}>", "application/warc-fields", None)]
        page = digest(f"page {url} {capture_id % 3}")
        rows.append(("main", "response", url, f"<urn:uuid:{capture_id}-main>", "application/http", page))
        rows.append(("request", "request", url, f"<urn:uuid:{capture_id}-req>", "application/http", None))
        for k in range(3):
            asset = rng.choice(assets)
            rows.append(("response", "response", f"{url}asset{k}.png", f"<urn:uuid:{capture_id}-{k}>",
                         "application/http", asset))
            rows.append(("request", "request", f"{url}asset{k}.png", f"<urn:uuid:{capture_id}-{k}-req>",
                         "application/http", None))
        for kind in ("screenshot", "dom", "text", "provenance"):
            rows.append((kind, "metadata" if kind == "provenance" else "resource", f"urn:{kind}:{url}",
                         f"<urn:uuid:{capture_id}-{kind}>", "application/octet-stream", None))
        for n, (role, rec_type, target, record_id, content_type, payload) in enumerate(rows):
            refers_to = None
            if rec_type == "response" and payload in originals:
                rec_type, refers_to = "revisit", originals[payload]
            elif rec_type == "response":
                originals[payload] = record_id
            records.append((capture_id, role, rec_type, target, record_id, content_type, warc, offset + n * 5000,
                            5000, payload, digest(record_id), refers_to, at, None))
    db.execute("BEGIN")
    db.executemany("INSERT INTO captures (id, url, final_url, captured_at, ended_at, status, title, lang, sha256,"
                   " partial, partial_reasons, blocked, indexed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   captures)
    db.executemany(RECORD_SQL, records)
    db.execute("COMMIT")
    return urls, assets


def percentiles(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return (f"p50 {q[49] * 1e3:6.2f} ms   p95 {q[94] * 1e3:6.2f} ms   p99 {q[98] * 1e3:6.2f} ms"
            f"   max {max(samples) * 1e3:6.2f} ms")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--captures", type=int, default=100_000)
    p.add_argument("--lookups", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--smoke", action="store_true",
                  help="tiny sizes, to check that the script runs and prints its figures "
                       "(tests/test_bench_smoke.py); the figures mean nothing then")
    args = p.parse_args(argv)
    if args.smoke:
        vars(args).update({"captures": 300, "lookups": 20})
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.sqlite3"
        db = catalog.connect(path)
        start = time.perf_counter()
        urls, assets = build(db, args.captures, rng)
        built = time.perf_counter() - start
        n_records = db.execute("SELECT count(*) FROM records").fetchone()[0]
        n_revisits = db.execute("SELECT count(*) FROM records WHERE record_type = 'revisit'").fetchone()[0]
        db.close()
        db = catalog.connect(path, migrate_schema=False)  # a fresh connection, as a web request has

        near, found_records = [], 0
        for i in range(args.lookups):
            url = HOT if i % 2 else rng.choice(urls)
            when = START + SPAN * rng.random()
            t0 = time.perf_counter()
            hit = mementos.in_second(db, url, mementos.timestamp(when)) or mementos.nearest(db, url, when)
            refs = catalog.get_records(db, hit["id"], with_originals=True) if hit else []
            near.append(time.perf_counter() - t0)
            found_records += len(refs)

        dedup = []
        for i in range(args.lookups):
            wanted = rng.choice(assets) if i % 2 else digest(f"never archived {i}")
            t0 = time.perf_counter()
            catalog.find_original(db, wanted)
            dedup.append(time.perf_counter() - t0)
        db.close()
    print(f"catalog lookup benchmark: {args.captures} captures, {n_records} records ({n_revisits} revisits), "
          f"built in {built:.1f} s; {args.lookups} lookups each")
    print(f"  capture of URL nearest a time + its records: {percentiles(near)}   (target p95 < 20 ms)")
    print(f"    {found_records / args.lookups:.1f} records per lookup, originals included")
    print(f"  original for a payload digest (dedup):       {percentiles(dedup)}")


if __name__ == "__main__":
    main()
