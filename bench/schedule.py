"""The watch scheduler with 10,000 and 100,000 watched URLs in a real on-disk catalog.

    python bench/schedule.py [--sizes 10000,100000] [--runs 2000] [--rounds 5] [--requests 300] [--seed 7]

For each size, builds a catalog with the real schema (catalog.connect, then one bulk
insert): the URLs spread over 2,000 hosts, next capture times spread over the next six
hours with a tenth already due. Then measures, each against a baseline in the same
process on the same table:

(a) the due selection (``scheduler.DUE_SQL``, one query on the ``watches_due`` index),
    p50/p95 over many runs, against a bare primary-key ``SELECT`` on ``watches``;
(b) one scheduling round (``scheduler.schedule_due`` with a pending cap of 500), as time
    per job queued, against the writes it cannot do without: a bare ``jobs.enqueue`` and
    ``UPDATE watches`` (to a jittered next time) in one transaction per watch;
(c) the web app's latency (``app.test_client()``) for ordinary pages (the search page and
    a job's JSON) with 0 and with the largest number of watches, requests to the two apps
    interleaved, as a ratio; and the watchlist page itself.
Targets: (a) p95 under 1 ms; (b) within 3x of the bare writes (the rest is the pending
cap's re-count under the write lock, which keeps two schedulers from overfilling the
queue, and Python); (c) ratio under 1.1.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive import catalog
from archive.capturing import jobs  # noqa: E402
from archive.catalog import to_iso  # noqa: E402
from archive.settings import Settings  # noqa: E402
from archive.watches.scheduler import DUE_SQL, next_due, schedule_due  # noqa: E402

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CAP = 500  # WATCH_MAX_PENDING for the scheduling rounds: enough to time per job


def build(path: Path, n: int, rng: random.Random) -> None:
    """``n`` watches, a tenth of them due at NOW, in one transaction."""
    db = catalog.connect(path)
    rows = []
    for i in range(1, n + 1):
        host = f"site{rng.randrange(2000)}.kg"
        due = NOW - timedelta(seconds=rng.uniform(1, 3600)) if i % 10 == 0 else NOW + timedelta(
            seconds=rng.uniform(1, 6 * 3600))
        rows.append((i, f"https://{host}/news/{i}/", host, "direct", 6 * 3600, to_iso(due), to_iso(NOW), "bench"))
    db.execute("BEGIN")
    db.executemany("INSERT INTO watches (id, url, host, vantage, every_seconds, next_due, created_at, source)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def pct(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100)[p - 1] * 1e3


def due_selection(path: Path, n: int, runs: int, rng: random.Random) -> tuple[list[float], list[float]]:
    db = catalog.connect(path, migrate_schema=False)
    at = to_iso(NOW)
    due = timed(lambda: db.execute(DUE_SQL, (at, 20)).fetchall(), runs)
    bare = timed(lambda: db.execute("SELECT * FROM watches WHERE id = ?", (rng.randrange(1, n + 1),)).fetchall(), runs)
    db.close()
    return due, bare


def scheduling(path: Path, settings: Settings, rounds: int) -> tuple[list[float], list[float], int]:
    """Seconds per job queued by a round, and per bare write pair; the jobs queued per round."""
    db = catalog.connect(path, migrate_schema=False)
    # The baseline writes to due watches too, as scattered over the table as the round's.
    bare_due = iter(db.execute(DUE_SQL, (to_iso(NOW), CAP)).fetchall())
    jitter = random.Random(0)  # next times spread as the round spreads them (its index writes scatter alike)

    def bare_writes() -> None:
        watch = next(bare_due)
        db.execute("BEGIN IMMEDIATE")
        job_id = jobs.enqueue(db, watch["url"], "direct", watch_id=watch["id"], not_before=to_iso(NOW))
        db.execute("UPDATE watches SET next_due = ?, last_job_id = ? WHERE id = ?",
                   (to_iso(next_due(NOW, watch["every_seconds"], settings.watch_jitter, jitter)), job_id,
                    watch["id"]))
        db.execute("COMMIT")

    bare = timed(bare_writes, CAP)
    db.execute("UPDATE jobs SET status = 'done'")
    per_job, queued_total = [], 0
    for r in range(rounds):
        t0 = time.perf_counter()
        queued = schedule_due(db, settings, now=NOW + timedelta(seconds=r), rng=random.Random(r))
        if queued:
            per_job.append((time.perf_counter() - t0) / len(queued))
        queued_total += len(queued)
        db.execute("UPDATE jobs SET status = 'done' WHERE status = 'queued'")  # the worker caught up
    db.close()
    return per_job, bare, queued_total // max(1, rounds)


def page_latency(apps: list[Settings], page: str, requests: int) -> list[list[float]]:
    """Latencies of ``page`` in each app, one request to each in turn (so load on the machine hits all alike)."""
    from archive.web import create_app

    clients = [create_app(settings).test_client() for settings in apps]
    for client in clients:
        for _ in range(20):  # warm up templates and caches
            assert client.get(page).status_code == 200, page
    samples: list[list[float]] = [[] for _ in clients]
    for _ in range(requests):
        for client, out in zip(clients, samples, strict=True):
            out.extend(timed(lambda client=client: client.get(page), 1))
    return samples


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000", help="numbers of watches, comma-separated")
    p.add_argument("--runs", type=int, default=2000, help="due selections timed per size")
    p.add_argument("--rounds", type=int, default=5, help="scheduling rounds timed per size")
    p.add_argument("--requests", type=int, default=300, help="requests per page timed")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--smoke", action="store_true",
                  help="tiny sizes, to check that the script runs and prints its figures "
                       "(tests/test_bench_smoke.py); the figures mean nothing then")
    args = p.parse_args(argv)
    if args.smoke:
        vars(args).update({"sizes": "6000", "runs": 20, "rounds": 1, "requests": 5})  # 600 due: the baseline takes CAP
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(args.seed)
    pages = ["/", "/api/jobs/1"]
    with tempfile.TemporaryDirectory() as tmp:
        empty = Settings.from_env({}, archive_home=str(Path(tmp) / "empty"))
        with catalog.connect(empty.catalog_path) as db:
            jobs.enqueue(db, "https://site1.kg/page/")
        print(f"scheduler benchmark: pending cap {CAP} per round, {args.runs} due selections, "
              f"{args.rounds} rounds, {args.requests} requests per page", flush=True)
        for n in sizes:
            settings = Settings.from_env({}, archive_home=str(Path(tmp) / f"w{n}"), watch_max_pending=str(CAP))
            t0 = time.perf_counter()
            build(settings.catalog_path, n, rng)
            print(f"{n:,} watches ({n // 10:,} due), built in {time.perf_counter() - t0:.1f} s", flush=True)
            due, bare = due_selection(settings.catalog_path, n, args.runs, rng)
            print(f"  (a) due selection:   p50 {pct(due, 50):.3f} ms  p95 {pct(due, 95):.3f} ms   "
                  f"bare PK select p50 {pct(bare, 50):.3f} ms  p95 {pct(bare, 95):.3f} ms   "
                  f"ratio p50 {pct(due, 50) / pct(bare, 50):.2f}  (target p95 < 1 ms)", flush=True)
            per_job, bare_enq, per_round = scheduling(settings.catalog_path, settings, args.rounds)
            ours, base = statistics.median(per_job) * 1e3, statistics.median(bare_enq) * 1e3
            print(f"  (b) scheduling round: {per_round} jobs/round, {ours:.3f} ms per job queued   "
                  f"bare enqueue+update+commit {base:.3f} ms   ratio {ours / base:.2f}  (target < 3)", flush=True)
        biggest = Settings.from_env({}, archive_home=str(Path(tmp) / f"w{max(sizes)}"))
        with catalog.connect(biggest.catalog_path) as db:
            jobs.enqueue(db, "https://site1.kg/page/")
        print(f"  (c) page latency, 0 vs {max(sizes):,} watches:")
        for page in pages:
            without, with_watches = page_latency([empty, biggest], page, args.requests)
            a, b = pct(without, 50), pct(with_watches, 50)
            print(f"      GET {page:<12} p50 {a:.3f} ms vs {b:.3f} ms   p95 {pct(without, 95):.3f} ms vs "
                  f"{pct(with_watches, 95):.3f} ms   ratio p50 {b / a:.2f}  (target < 1.1)", flush=True)
        [w] = page_latency([biggest], "/watches", args.requests)
        print(f"      GET /watches     p50 {pct(w, 50):.3f} ms  p95 {pct(w, 95):.3f} ms "
              f"(its first page of {max(sizes):,})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
