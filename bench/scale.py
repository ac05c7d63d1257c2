"""Scaling out: capture workers sharing a PostgreSQL catalog, and the catalog's queries on both engines.

    python bench/scale.py [--jobs 24] [--workers 1,2,4] [--captures 1000000] [--runs 300] [--database-url URL]

(a) Captures per minute with 1, 2 and 4 worker processes (`python -m archive worker --once`, each its
    own Chromium, CAPTURE_CONCURRENCY=2) against one PostgreSQL catalog, on small pages of a local
    fixture site; printed with the ratio to one worker (the baseline, same run).
(b) At ``--captures`` captures (one record each, a watch per ten captures, a tenth of them due), the
    lookups every page view makes (a capture by id; the capture of a URL nearest a time with its
    records) and the scheduler's due-watch query (scheduler.DUE_SQL), p50 on PostgreSQL and on SQLite,
    printed as the ratio PostgreSQL / SQLite (the baseline, same run, same rows).

PostgreSQL: a throwaway server (initdb in a temporary folder, as the tests start one), or the empty
database at ``--database-url``. Loading 1M rows takes minutes; --smoke uses a few thousand.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archive import catalog  # noqa: E402
from archive.capturing import jobs  # noqa: E402
from archive.catalog import to_iso  # noqa: E402
from archive.lookup import mementos  # noqa: E402
from archive.watches.scheduler import DUE_SQL  # noqa: E402
from tests.conftest import ALLOWED, free_port  # noqa: E402
from tests.postgres import PostgresServer, create_database  # noqa: E402
from tests.sites import DATA, FixtureSite, send  # noqa: E402

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOSTS = 2000


def postgres(stack: ExitStack, url: str | None) -> str:
    """An empty PostgreSQL database: ``url``, or one on a server started for this run."""
    if url:
        return url
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    server = PostgresServer(folder, free_port()).start()
    stack.callback(lambda: (server.stop(), __import__("shutil").rmtree(folder, ignore_errors=True)))
    return server.url


def fresh_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return create_database(admin_url, name)


# -- (a) captures per minute -------------------------------------------------------------------------

def captures_per_minute(admin_url: str, site: FixtureSite, workers: int, n_jobs: int, home: Path) -> float:
    url = fresh_database(admin_url, f"bench_workers_{workers}")
    env = dict(os.environ) | {
        "ARCHIVE_HOME": str(home / f"w{workers}"), "DATABASE_URL": url, "CAPTURE_ALLOW_NETWORKS": ALLOWED,
        "CAPTURE_HOST_RULES": site.rule("news.example.com"), "CAPTURE_CONCURRENCY": "2", "CAPTURE_NICE": "0",
        "CAPTURE_SETTLE_TIMEOUT": "1", "CAPTURE_SCROLL_STEPS": "1", "CAPTURE_TIMEOUT": "30"}
    with closing(catalog.connect(url)) as db:
        for i in range(n_jobs):
            jobs.enqueue(db, f"http://news.example.com/scale/{i}")
        began = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-m", "archive", "worker", "--once", "--no-scheduler"], env=env,
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(workers)]
        for p in procs:
            p.wait(timeout=1800)
        took = time.monotonic() - began
        counts = jobs.counts(db)
        errors = {r[0] for r in db.execute("SELECT error FROM jobs WHERE status != 'done'")}
    if counts.get("done", 0) != n_jobs:
        raise SystemExit(f"{workers} worker(s) left jobs undone: {counts}; {errors}")
    return n_jobs / took * 60


# -- (b) the catalog's queries at size ---------------------------------------------------------------

def rows(n: int, rng: random.Random):
    """Captures (one per URL visit: n/4 URLs seen four times), their records, and watches."""
    urls = max(n // 4, 1)
    captures, records, watches = [], [], []
    for i in range(1, n + 1):
        url = f"https://site{i % HOSTS}.kg/news/{i % urls}/"
        when = to_iso(T0 - timedelta(minutes=i))
        captures.append((i, url, url, when, 200, f"page {i}", "en", 0, "[]", "[]", 0, "direct", "{}",
                         f"p{i:07d}", "public"))
        records.append((i, i, "response", "response", url, f"<urn:uuid:{i}>", "application/http",
                        f"f{i // 10000}.warc.gz", (i % 10000) * 2000, 2000, f"sha256:{i}"))
    for i in range(1, n // 10 + 1):
        host = f"site{i % HOSTS}.kg"
        due = T0 - timedelta(seconds=rng.uniform(1, 3600)) if i % 10 == 0 else T0 + timedelta(
            seconds=rng.uniform(1, 6 * 3600))
        watches.append((i, f"https://{host}/w/{i}/", host, "direct", 21600, to_iso(due), 1, to_iso(T0), "bench"))
    return captures, records, watches


CAPTURE_COLS = ("id, url, final_url, captured_at, status, title, lang, partial, partial_reasons, blocked, indexed,"
                " vantage, evidence, permalink, visibility")
RECORD_COLS = ("id, capture_id, role, record_type, target_uri, record_id, content_type, warc_file, offset, length,"
               " payload_digest")
WATCH_COLS = "id, url, host, vantage, every_seconds, next_due, active, created_at, source"


def load_sqlite(path: Path, data) -> None:
    db = catalog.connect(path)
    db.execute("BEGIN")
    for table, cols, values in zip(("captures", "records", "watches"), (CAPTURE_COLS, RECORD_COLS, WATCH_COLS),
                                   data, strict=True):
        db.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(cols.split(',')))})", values)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def load_postgres(url: str, data) -> None:
    import psycopg

    catalog.connect(url).close()  # the schema, by the catalog's own migrations
    with psycopg.connect(url) as conn:
        for table, cols, values in zip(("captures", "records", "watches"), (CAPTURE_COLS, RECORD_COLS, WATCH_COLS),
                                       data, strict=True):
            quoted = cols.replace("offset", '"offset"')  # a reserved word in PostgreSQL
            with conn.cursor().copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    with closing(catalog.connect(url)) as db:
        for table in ("captures", "records", "watches"):
            db.reset_ids(table)


def p50(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def queries(db, n: int, runs: int, rng: random.Random) -> dict[str, float]:
    urls = max(n // 4, 1)
    out = {}
    out["by id"] = p50(lambda: catalog.get_capture(db, rng.randrange(1, n + 1)), runs)

    def nearest():
        i = rng.randrange(urls)
        found = mementos.nearest(db, f"https://site{i % HOSTS}.kg/news/{i}/", T0 - timedelta(minutes=rng.randrange(n)))
        if found:
            catalog.get_records(db, found["id"])

    out["nearest + records"] = p50(nearest, runs)
    out["due watches"] = p50(lambda: db.execute(DUE_SQL, (to_iso(T0), 500)).fetchall(), max(runs // 10, 3))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=24, help="capture jobs per worker count")
    p.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    p.add_argument("--captures", type=int, default=1_000_000, help="captures in the catalog for (b)")
    p.add_argument("--runs", type=int, default=300, help="lookups timed per query and engine")
    p.add_argument("--database-url", help="an empty PostgreSQL database to use instead of a throwaway server")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes, one worker (tests/test_bench_smoke.py); the figures mean nothing then")
    args = p.parse_args(argv)
    if args.smoke:
        args.jobs, args.workers, args.captures, args.runs = 2, "1", 2000, 20
    rng = random.Random(args.seed)
    with ExitStack() as stack:
        admin = postgres(stack, args.database_url)
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-")))
        site = stack.enter_context(FixtureSite(DATA / "site"))
        for i in range(args.jobs):
            body = f"<!doctype html><title>Scale {i}</title><p>Page {i}.</p>".encode()
            site.routes[f"/scale/{i}"] = lambda h, body=body: send(h, 200, body)

        counts = [int(w) for w in args.workers.split(",")]
        print(f"scale benchmark (a): {args.jobs} captures per run, workers {counts}, one PostgreSQL catalog")
        rates = {w: captures_per_minute(admin, site, w, args.jobs, home) for w in counts}
        for w, rate in rates.items():
            print(f"  {w} worker(s) {rate:8.1f} captures/min   ratio to 1 worker {rate / rates[counts[0]]:.2f}")

        data = rows(args.captures, rng)
        sqlite_path = home / "big.sqlite3"
        load_sqlite(sqlite_path, data)
        pg_url = fresh_database(admin, "bench_big") if not args.database_url else admin
        load_postgres(pg_url, data)
        del data
        print(f"scale benchmark (b): {args.captures} captures, {args.captures // 10} watches, p50 of {args.runs} runs")
        with closing(catalog.connect(sqlite_path, migrate_schema=False)) as lite, \
                closing(catalog.connect(pg_url, migrate_schema=False)) as pg:
            on_sqlite = queries(lite, args.captures, args.runs, random.Random(args.seed))
            on_pg = queries(pg, args.captures, args.runs, random.Random(args.seed))
        for name in on_sqlite:
            print(f"  {name:<18} postgresql {on_pg[name]:7.3f} ms  sqlite {on_sqlite[name]:7.3f} ms"
                  f"  ratio postgresql/sqlite {on_pg[name] / max(on_sqlite[name], 1e-6):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
