"""Capture throughput: the archive against bare Playwright on the same pages, same run.

    python bench/capture.py [--pages 40] [--concurrency 2] [--path /]

The archive path is the real one: jobs queued in a temporary ARCHIVE_HOME, a
worker capturing through the recording proxy, WARC writing, text extraction and
indexing. Bare Playwright does goto + full-page screenshot, no recording. Prints
pages per minute for each, their ratio, and how many cores were busy; then the
bytes stored per capture with deduplication (revisit records, the normal path)
and without it (WARC_DEDUP=off), the same pages captured again.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from archive import catalog  # noqa: E402
from archive.capturing import jobs  # noqa: E402
from archive.capturing.worker import Worker  # noqa: E402
from archive.settings import Settings  # noqa: E402
from crawler.browser import find_chromium, launch_args  # noqa: E402
from tests.sites import DATA, FixtureSite  # noqa: E402


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies over all cores, from /proc/stat."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def run_timed(fn) -> tuple[float, float]:
    """Seconds taken by ``fn()`` and the average number of busy cores meanwhile."""
    b0, t0 = busy_jiffies()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    b1, t1 = busy_jiffies()
    cores = (b1 - b0) / max(t1 - t0, 1) * os.cpu_count()
    return elapsed, cores


async def bare_playwright(urls: list[str], rules: str, concurrency: int) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=find_chromium(os.environ.get("CHROMIUM_PATH", "")),
                                           args=launch_args(rules))
        queue = list(urls)

        async def one_worker():
            while queue:
                url = queue.pop()
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await page.goto(url)
                await page.screenshot(full_page=True)
                await page.close()

        await asyncio.gather(*(one_worker() for _ in range(concurrency)))
        await browser.close()


def archive_capture(urls: list[str], rules: str, concurrency: int, home: Path, dedup: bool = True) -> None:
    settings = Settings.from_env(dict(os.environ, ARCHIVE_HOME=str(home), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
                                      CAPTURE_HOST_RULES=rules, CAPTURE_CONCURRENCY=str(concurrency),
                                      CAPTURE_SETTLE_TIMEOUT="5", WARC_DEDUP="on" if dedup else "off"))
    db = catalog.connect(settings.catalog_path)
    for url in urls:
        jobs.enqueue(db, url)
    asyncio.run(Worker(settings).run(threading.Event(), once=True))
    done = jobs.counts(db)
    if done.get("done", 0) != len(urls):
        raise SystemExit(f"archive captures did not all finish: {done}")


def stored_per_capture(home: Path) -> tuple[float, float]:
    """Mean bytes per capture: in all its records, and in its response and revisit records."""
    db = catalog.connect(home / "catalog.sqlite3")
    n = db.execute("SELECT count(*) FROM captures").fetchone()[0]
    every = db.execute("SELECT sum(length) FROM records WHERE role != 'warcinfo'").fetchone()[0]
    http = db.execute("SELECT sum(length) FROM records WHERE record_type IN ('response', 'revisit')").fetchone()[0]
    db.close()
    return every / n, http / n


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pages", type=int, default=40)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--path", default="/", help="fixture page to capture (e.g. /gallery.html, with a photo)")
    p.add_argument("--fidelity", type=int, default=20, metavar="N",
                   help="also measure replay fidelity on N corpus pages and the fixture site (0: skip)")
    p.add_argument("--smoke", action="store_true",
                  help="tiny sizes, to check that the script runs and prints its figures "
                       "(tests/test_bench_smoke.py); the figures mean nothing then")
    args = p.parse_args(argv)
    if args.smoke:
        vars(args).update({"pages": 1, "concurrency": 1, "fidelity": 0})
    with FixtureSite(DATA / "site") as site, tempfile.TemporaryDirectory() as tmp:
        rules = site.rule("news.example.com")
        urls = [f"http://news.example.com{args.path}?page={i}" for i in range(args.pages)]
        # Warm up both paths once so neither pays for first-launch costs.
        asyncio.run(bare_playwright(urls[:2], rules, 1))
        archive_capture(urls[:2], rules, 1, Path(tmp) / "warm")
        rows = []
        for label, fn in (
            ("bare Playwright, 1 at a time", lambda: asyncio.run(bare_playwright(urls, rules, 1))),
            (f"bare Playwright, {args.concurrency} at a time",
             lambda: asyncio.run(bare_playwright(urls, rules, args.concurrency))),
            (f"archive, {args.concurrency} at a time",
             lambda: archive_capture(urls, rules, args.concurrency, Path(tmp) / "home")),
        ):
            elapsed, cores = run_timed(fn)
            rows.append((label, args.pages / elapsed * 60, cores))
        warc_bytes = sum(f.stat().st_size for f in (Path(tmp) / "home" / "warcs").iterdir())
        elapsed, cores = run_timed(lambda: archive_capture(urls, rules, args.concurrency, Path(tmp) / "off",
                                                           dedup=False))
        no_dedup = (f"archive, {args.concurrency} at a time, no dedup", args.pages / elapsed * 60, cores)
        dedup_on, dedup_off = stored_per_capture(Path(tmp) / "home"), stored_per_capture(Path(tmp) / "off")
    print(f"capture benchmark: {args.pages} pages of the fixture site ({args.path}), {os.cpu_count()} cores")
    for label, ppm, cores in rows:
        print(f"  {label:32s} {ppm:7.1f} pages/min   {cores:4.2f} cores busy")
    archive = rows[2][1]
    print(f"  ratio archive / bare Playwright (1 at a time):  {archive / rows[0][1]:.2f}  (target >= 0.70)")
    print(f"  ratio archive / bare Playwright (same concurrency): {archive / rows[1][1]:.2f}")
    print(f"  WARC bytes written: {warc_bytes}")
    print(f"  {no_dedup[0]:32s} {no_dedup[1]:7.1f} pages/min   {no_dedup[2]:4.2f} cores busy")
    for label, on, off in (("all records", dedup_on[0], dedup_off[0]),
                           ("response/revisit records", dedup_on[1], dedup_off[1])):
        print(f"  bytes stored per capture, {label + ':':26s} dedup {on:9.0f}   no dedup {off:9.0f}"
              f"   dedup/no dedup {on / off:.2f}")
    if args.fidelity:
        sys.path.insert(0, str(ROOT / "bench"))
        from fidelity import main as fidelity

        fidelity(["--pages", str(args.fidelity)])


if __name__ == "__main__":
    main()
