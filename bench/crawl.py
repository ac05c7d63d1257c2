"""Crawling the fixture outlet (tests/outlet.py) against the same pages captured one by one; the frontier at scale.

    python bench/crawl.py [--pages 120] [--urls 1000000] [--concurrency 4] [--smoke]

(a) Pages per minute of a host-scoped crawl of kloop.kg limited to ``--pages`` pages, with 1 and then
    2 worker processes (`python -m archive worker`, each CAPTURE_CONCURRENCY captures at once), against
    the baseline: the very URLs that crawl captured, queued as single captures and run by 1 worker. The
    crawl does more per page (its links decided and added to the frontier in the storing
    transaction) and takes no screenshots by default; the single captures do. Each run's time
    includes its workers' start (Chromium's launch), the same for both.
(b) The frontier with ``--urls`` URLs in one crawl of a real on-disk catalog: inserts per second (the
    ``add_urls`` of a page's links, 500 per transaction), then duplicate checks per second (the
    ``IN (...)`` lookup a page's links go through before they are decided, half of them known), and
    the process's peak memory (RSS).
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archive import catalog  # noqa: E402
from archive.capturing import jobs  # noqa: E402
from archive.catalog import transaction  # noqa: E402
from archive.crawls.frontier import CrawlSpec, add_urls, create_crawl  # noqa: E402


def env_for(home: Path, rules: str, concurrency: int) -> dict:
    return dict(os.environ, ARCHIVE_HOME=str(home), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32", CAPTURE_HOST_RULES=rules,
                CAPTURE_TIMEOUT="30", CAPTURE_SETTLE_TIMEOUT="2", CAPTURE_CONCURRENCY=str(concurrency),
                PYTHONPATH=str(ROOT))


def cli(env: dict, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "archive", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=3600)
    if proc.returncode:
        raise SystemExit(f"archive {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return proc.stdout


def crawl_run(home: Path, rules: str, seed: str, pages: int, workers: int, concurrency: int) -> tuple[float, list[str]]:
    """Seconds a crawl of ``pages`` pages takes with ``workers`` worker processes; the URLs it captured."""
    import json

    env = env_for(home, rules, concurrency)
    started = time.monotonic()
    crawl_id = json.loads(cli(env, "crawl", "start", seed, "--scope", "host", "--host-delay", "0",
                              "--host-concurrency", str(workers * concurrency), "--max-pages", str(pages),
                              "--json"))["id"]
    procs = [subprocess.Popen([sys.executable, "-m", "archive", "worker", "--no-scheduler"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        cli(env, "crawl", "wait", str(crawl_id), "--no-worker", "--json")
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    db = catalog.connect(home / "catalog.sqlite3")
    urls = [r[0] for r in db.execute("SELECT url FROM crawl_urls WHERE crawl_id = ? AND state = 'captured'",
                                     (crawl_id,))]
    db.close()
    return elapsed, urls


def single_run(home: Path, rules: str, urls: list[str], concurrency: int) -> float:
    """Seconds one worker takes to capture ``urls`` queued as single captures."""
    env = env_for(home, rules, concurrency)
    db = catalog.connect(home / "catalog.sqlite3")
    with transaction(db):
        for url in urls:
            jobs.enqueue(db, url)
    db.close()
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "archive", "worker", "--once", "--no-scheduler"], env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=3600)
    return time.monotonic() - started


def frontier(n: int, rng: random.Random) -> tuple[float, float, float]:
    """(inserts/s, duplicate checks/s, peak RSS MB) for a frontier of ``n`` URLs."""
    with tempfile.TemporaryDirectory() as tmp:
        db = catalog.connect(Path(tmp) / "catalog.sqlite3")
        crawl_id = create_crawl(db, CrawlSpec(seeds=("http://kloop.kg/",)))
        urls = [f"http://host{i % 50}.kloop.kg/ky/{i // 1000}/{i}/article-{rng.randrange(10**9)}/" for i in range(n)]
        started = time.monotonic()
        for start in range(0, n, 500):
            with transaction(db):
                add_urls(db, crawl_id, [(u, 2, "link", "pending", None, None) for u in urls[start:start + 500]])
        inserts = n / (time.monotonic() - started)
        probes = [rng.choice(urls) if i % 2 else f"http://kloop.kg/new/{i}/" for i in range(min(n, 200_000))]
        started = time.monotonic()
        for start in range(0, len(probes), 500):
            chunk = probes[start:start + 500]
            db.execute(f"SELECT url FROM crawl_urls WHERE crawl_id = ? AND url IN ({', '.join('?' * len(chunk))})",
                       (crawl_id, *chunk)).fetchall()
        checks = len(probes) / (time.monotonic() - started)
        db.close()
    return inserts, checks, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=120, help="pages per crawl (default 120)")
    p.add_argument("--urls", type=int, default=1_000_000, help="frontier size (default 1,000,000)")
    p.add_argument("--concurrency", type=int, default=4, help="CAPTURE_CONCURRENCY of each worker (default 4)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--only", choices=("crawl", "frontier"), help="run only this half")
    p.add_argument("--smoke", action="store_true", help="a few pages and 5,000 URLs: only checks that it runs")
    args = p.parse_args()
    if args.smoke:
        args.pages, args.urls = 3, 5000
    if args.only != "frontier":
        crawls(args)
    if args.only != "crawl":
        inserts, checks, peak = frontier(args.urls, random.Random(args.seed))
        print(f"frontier with {args.urls} URLs: {inserts:,.0f} inserts/s, {checks:,.0f} duplicate checks/s, "
              f"peak RSS {peak:.0f} MB")


def crawls(args: argparse.Namespace) -> None:
    from tests.crawling import serve_both
    from tests.outlet import Outlet

    print(f"crawl benchmark: {args.pages} pages of the fixture outlet, CAPTURE_CONCURRENCY {args.concurrency}")
    with Outlet() as outlet, tempfile.TemporaryDirectory() as tmp:
        server, rules = serve_both(outlet)
        try:
            rates = {}
            urls: list[str] = []
            for workers in (1, 2):
                seconds, urls = crawl_run(Path(tmp) / f"crawl{workers}", rules, outlet.url("/"), args.pages,
                                          workers, args.concurrency)
                rates[workers] = len(urls) / seconds * 60
                print(f"  crawl, {workers} worker(s)  {rates[workers]:8.1f} pages/min "
                      f"({len(urls)} pages in {seconds:.1f} s)")
            seconds = single_run(Path(tmp) / "single", rules, urls, args.concurrency)
            single = len(urls) / seconds * 60
            print(f"  single captures, 1 worker  {single:8.1f} pages/min ({len(urls)} pages in {seconds:.1f} s)")
            print(f"  ratio crawl / single captures (1 worker): {rates[1] / single:.2f}; 2 workers / 1: "
                  f"{rates[2] / rates[1]:.2f}")
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
