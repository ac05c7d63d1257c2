"""Importing Roskomnadzor's register: rows per second on a synthetic dump, and peak memory.

    python bench/orders.py [--rows 1000000] [--seed 17] [--smoke]

Builds a dump of ``--rows`` rows from the distributions of the real sample in
``../shared/registries/rkn/`` (or tests/data when that is absent): each row takes the shape of a
sample row drawn at random (its authority, how many IPs and URLs, whether its URLs carry raw
Windows-1251 bytes or percent-encoded Cyrillic, the form of its decision number), with a fresh
domain and number; rows share a decision as often as in the sample. The file is written in
Windows-1251 and read back by ``import-orders``' own path (``rkn.Dump`` into
``registers.import_entries``: batches of ``BATCH`` rows, each read back from the catalog in a few IN
queries and written with executemany in one transaction, a real on-disk catalog), measured against a
baseline in the same run: reading and splitting the same file with no catalog at all. Then the
same dump is imported again (what a daily re-import of an unchanged register costs). Rates are given
per wall-clock second and per CPU second of this process (the machine may be busy with others). Peak memory
is the process's peak RSS: the importer streams, so it stays far below the dump's size.
"""
from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive import catalog  # noqa: E402
from archive.orders.registers import BATCH, import_entries, rkn  # noqa: E402
from archive.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = (ROOT.parent / "shared/registries/rkn/dump_2014-03-27_cp1251.csv",
           ROOT / "tests/data/registries/rkn/dump_2014-03-27_cp1251.csv")
TLDS = ("ru", "com", "net", "org", "info", "su", "ua", "kz", "biz", "рф")


def sample_rows() -> list[list[str]]:
    path = next((p for p in SAMPLES if p.exists()), None)
    if path is None:
        raise SystemExit(f"no sample dump found at {' or '.join(map(str, SAMPLES))}")
    rows = []
    with path.open("rb") as f:
        for raw in f:
            if raw.startswith(b"Updated:"):
                continue
            text = raw.rstrip(b"\r\n").decode("cp1251")
            head = text.split(";", 2)
            tail = head[-1].rsplit(";", 3)
            rows.append([head[0], head[1], *tail])
    return rows


def build(path: Path, n: int, rng: random.Random) -> int:
    """Write ``n`` rows shaped like the sample's; return the file's size in bytes."""
    rows = sample_rows()
    shared = 1 - len({(r[3], r[4], r[5]) for r in rows}) / len(rows)  # rows that repeat a decision
    decision = None
    with path.open("wb") as f:
        f.write(b"Updated: 2014-03-27 12:05:00 +0000\n")
        for i in range(n):
            ips, domain, urls, authority, number, day = rng.choice(rows)
            host = f"site{i}-{rng.randrange(10**6)}.{rng.choice(TLDS)}"
            new_urls = " | ".join(u.replace(domain, host, 1) if domain and domain in u else u
                                  for u in urls.split(" | ")) if urls else ""
            if decision is None or rng.random() >= shared:
                decision = (authority, f"{number}-{i}", day)
            line = ";".join((ips, host if domain else "", new_urls, *decision))
            f.write(line.encode("cp1251", errors="replace") + b"\n")
    return path.stat().st_size


def baseline(path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds to read and split every row, decoding it as the importer does, with no catalog."""
    start, cpu = time.perf_counter(), time.process_time()
    with path.open("rb") as f:
        for raw in f:
            text = raw.rstrip(b"\r\n").decode("cp1251")
            head = text.split(";", 2)
            head[-1].rsplit(";", 3)[0].split(" | ")
    return time.perf_counter() - start, time.process_time() - cpu


def run_import(home: Path, path: Path) -> tuple[float, float, object]:
    settings = Settings.from_env({}, archive_home=home)
    db = catalog.connect(settings.catalog_path)
    (when, dumps), = rkn.snapshots([path])
    start, cpu = time.perf_counter(), time.process_time()
    report = import_entries(db, settings, "rkn", (e for d in dumps for e in d.entries()), source=path.name,
                            listed_at=when, snapshot=True)
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    db.close()
    return elapsed, used, report


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the synthetic dump (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--smoke", action="store_true", help="a few thousand rows: checks the script runs")
    args = parser.parse_args(argv)
    n = 3000 if args.smoke else args.rows
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        path = Path(tmp) / "dump.csv"
        size = build(path, n, rng)
        before = peak_mb()
        bare, bare_cpu = baseline(path)
        took, cpu, report = run_import(Path(tmp) / "home", path)
        again, again_cpu, second = run_import(Path(tmp) / "home", path)
        peak = peak_mb()
    # Wall-clock rows/s, and per CPU second of this process (the same on a machine others are busy on). The
    # baseline is reading and splitting the same file with no catalog: the ratio is the share of that speed
    # the whole import keeps (parsing URLs, the orders and their URLs written in batches).
    print(f"rkn import benchmark: {n:,} rows, {size / 1e6:.1f} MB dump (Windows-1251), batches of {BATCH:,}")
    print(f"  baseline: bare read+split {n / bare:,.0f} rows/s, {n / bare_cpu:,.0f} rows/CPU-s")
    print(f"  first import    {n / took:,.0f} rows/s, {n / cpu:,.0f} rows/CPU-s, ratio to baseline "
          f"{bare_cpu / cpu:.3f} (CPU)  ({report.added:,} orders added, {report.rejected} rejected)")
    print(f"  same dump again {n / again:,.0f} rows/s, {n / again_cpu:,.0f} rows/CPU-s, ratio to baseline "
          f"{bare_cpu / again_cpu:.3f} (CPU)  ({second.added} added, {second.updated} updated, "
          f"{second.lifted} lifted)")
    print(f"peak RSS: {peak:,.0f} MB (before importing: {before:,.0f} MB; the dump is {size / 1e6:,.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
