"""`python -m archive crawl ...`: crawl a whole site, follow it, package it, crawl it again, compare."""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from contextlib import closing

from archive.settings import Settings
from archive.warc.objects import warc_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``crawl`` subcommands."""
    c = sub.add_parser("crawl", help="crawl whole sites; pause, resume, export, recrawl and compare crawls")
    cs = c.add_subparsers(dest="crawl_command", required=True)

    s = cs.add_parser("start", help="start a crawl from seed URLs (pages, sitemaps, RSS/Atom feeds)")
    s.add_argument("seeds", nargs="+", metavar="SEED")
    s.add_argument("--scope", choices=("page", "prefix", "host", "domain"), default="host",
                   help="page: the seeds only; prefix: URLs under a seed's path; host: a seed's host; "
                        "domain: a seed's domain with its subdomains (default host)")
    s.add_argument("--include", metavar="RE", help="also crawl URLs matching this regular expression")
    s.add_argument("--exclude", metavar="RE", help="never crawl URLs matching this regular expression")
    s.add_argument("--max-depth", type=int, metavar="N", help="links followed from a seed (default: no limit)")
    s.add_argument("--max-pages", type=int, metavar="N", help="pages captured at most")
    s.add_argument("--max-bytes", type=int, metavar="N", help="bytes captured at most")
    s.add_argument("--max-seconds", type=int, metavar="S", help="seconds the crawl may run")
    s.add_argument("--host-delay", type=float, default=1.0, metavar="S",
                   help="seconds between two captures of one host (default 1; robots.txt's Crawl-delay if longer)")
    s.add_argument("--host-concurrency", type=int, default=2, metavar="N",
                   help="captures of one host at once, across all workers (default 2)")
    s.add_argument("--vantage", default="direct", help="capture through this vantage point (CAPTURE_VANTAGES)")
    s.add_argument("--name", default="", help="a name for the crawl (default: the first seed's host)")
    s.add_argument("--ignore-robots", action="store_true", help="do not obey robots.txt (needs --robots-reason)")
    s.add_argument("--robots-reason", help="why robots.txt is overridden; kept in every capture's provenance")
    s.add_argument("--screenshots", action="store_true", help="take a screenshot of every page (slower)")
    s.add_argument("--no-sitemaps", action="store_true", help="do not read the sitemaps robots.txt names")
    _waiting(s)

    for name, what in (("status", "a crawl's progress and summary"), ("pause", "pause a crawl"),
                       ("resume", "resume a paused crawl"), ("cancel", "cancel a crawl")):
        p = cs.add_parser(name, help=what)
        p.add_argument("id", type=int)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(run=status if name == "status" else change)
    w = cs.add_parser("wait", help="work on a crawl in this process (or only watch it) until it ends")
    w.add_argument("id", type=int)
    _waiting(w, wait_flag=False)
    w.set_defaults(run=wait_cmd)

    ls = cs.add_parser("list", help="the crawls, newest first")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=list_cmd)

    lg = cs.add_parser("log", help="the per-URL log: captured, skipped and why, failed and why")
    lg.add_argument("id", type=int)
    lg.add_argument("--state", choices=("pending", "queued", "captured", "skipped", "failed"))
    lg.add_argument("--json", action="store_true", help="one JSON object per line")
    lg.set_defaults(run=log_cmd)

    e = cs.add_parser("export", help="the crawl as one WACZ package (pages.jsonl with titles)")
    e.add_argument("id", type=int)
    e.add_argument("-o", "--output", required=True, metavar="FILE.wacz")
    e.set_defaults(run=export_cmd)

    r = cs.add_parser("recrawl", help="crawl again what a crawl covered (its pages and seeds)")
    r.add_argument("id", type=int)
    r.add_argument("--every", metavar="INTERVAL",
                   help="also repeat it on a schedule (e.g. 7d), through the watch scheduler")
    _waiting(r)
    r.set_defaults(run=recrawl_cmd)

    cmp_ = cs.add_parser("compare", help="what a later crawl shows the site lost since an earlier one")
    cmp_.add_argument("earlier", type=int)
    cmp_.add_argument("later", type=int)
    fmt = cmp_.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object: removed, changed, added, unchanged…")
    fmt.add_argument("--csv", action="store_true", help="one row per page")
    cmp_.set_defaults(run=compare_cmd)
    s.set_defaults(run=start)


def _waiting(p: argparse.ArgumentParser, wait_flag: bool = True) -> None:
    if wait_flag:
        p.add_argument("--wait", action="store_true",
                       help="work on the crawl in this process until it ends, with a progress bar on stderr")
    p.add_argument("--no-worker", action="store_true",
                   help="with --wait: only watch; the workers of `serve` or `worker` do the captures")
    p.add_argument("--json", action="store_true", help="print one JSON object (id, state, pages, …)")


def _db(settings: Settings):
    from archive import catalog

    return catalog.connect(settings.catalog_location)


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def start(settings: Settings, args) -> int:
    from archive.crawls.frontier import CrawlError, CrawlSpec, create_crawl, validate
    from archive.urlcheck import url_checker

    spec = CrawlSpec(seeds=tuple(args.seeds), scope=args.scope, name=args.name, include=args.include,
                     exclude=args.exclude, max_depth=args.max_depth, max_pages=args.max_pages,
                     max_bytes=args.max_bytes, max_seconds=args.max_seconds, host_delay=args.host_delay,
                     host_concurrency=args.host_concurrency, vantage=args.vantage, ignore_robots=args.ignore_robots,
                     robots_reason=args.robots_reason, screenshots=args.screenshots, sitemaps=not args.no_sitemaps)
    try:
        from crawler.vantage import UnknownVantage, vantage_named

        vantage_named(settings.capture_vantages, args.vantage)
        spec = validate(spec, url_checker(settings))
    except (CrawlError, UnknownVantage) as exc:
        return _fail(str(exc))
    with closing(_db(settings)) as db:
        crawl_id = create_crawl(db, spec)
    if not args.json:
        print(f"crawl {crawl_id} queued: {', '.join(spec.seeds)} (scope {spec.scope})", file=sys.stderr)
    return _finish(settings, crawl_id, args, args.wait)


def _finish(settings: Settings, crawl_id: int, args, wait: bool) -> int:
    from archive.crawls.frontier import progress

    if wait:
        run_until_over(settings, crawl_id, worker=not args.no_worker)
    with closing(_db(settings)) as db:
        state = progress(db, crawl_id)
    _print_state(state, args.json)
    return 0


def run_until_over(settings: Settings, crawl_id: int, worker: bool = True) -> None:
    """Work on (or watch) crawl ``crawl_id`` until it is no longer queued or running, drawing progress."""
    import signal

    from archive.crawls.frontier import ACTIVE, progress
    from archive.progress import CountBar

    stop = threading.Event()
    bar = CountBar(f"crawl {crawl_id}")

    def draw(force: bool = False) -> str:
        with closing(_db(settings)) as db:
            p = progress(db, crawl_id)
        total = p["pages"] + p["queued"] + p["failed"]
        bar.update(p["pages"], total, p["pages_per_minute"], p["eta_seconds"], p["bytes"],
                   extra=f"queued {p['queued']} failed {p['failed']} skipped {p['skipped']}", force=force)
        return p["state"]

    def watch() -> None:
        while not stop.wait(1.0):
            if draw() not in ACTIVE and not worker:
                stop.set()

    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    watcher = threading.Thread(target=watch, name="crawl-progress", daemon=True)
    watcher.start()
    try:
        if worker:
            from archive.capturing.worker import run_worker
            from archive.crawls.hooks import CrawlHooks

            run_worker(settings, stop, hooks=CrawlHooks(settings, only=crawl_id))
        else:
            while not stop.wait(0.5):
                pass
    finally:
        stop.set()
        watcher.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        draw(force=True)
        bar.done()


def _print_state(state: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(state, ensure_ascii=False))
        return
    print(f"crawl {state['id']} ({state['name']}): {state['state']}"
          f"{' - ' + state['stop_reason'] if state['stop_reason'] else ''}\n"
          f"  pages captured {state['pages']}, queued {state['queued']}, failed {state['failed']}, "
          f"skipped {state['skipped']}, {state['bytes']} bytes, {state['pages_per_minute']} pages/min"
          + (f", about {state['eta_seconds']:.0f} s left" if state["eta_seconds"] else ""))
    if state["outcomes"]:
        print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(state["outcomes"].items(), key=str)))


def status(settings: Settings, args) -> int:
    from archive.crawls.export import summary
    from archive.crawls.frontier import CrawlError, progress

    with closing(_db(settings)) as db:
        try:
            state = progress(db, args.id)
            info = summary(db, args.id)
        except CrawlError as exc:
            return _fail(str(exc))
    if args.json:
        print(json.dumps(state | {"summary": info}, ensure_ascii=False))
        return 0
    _print_state(state, False)
    print(f"  seeds: {', '.join(info['seeds'])}; scope {info['scope']}; robots.txt {info['politeness']['robots_txt']}")
    if info["not_captured_because"]:
        print("  not captured: " + ", ".join(f"{k} {v}" for k, v in info["not_captured_because"].items()))
    return 0


def change(settings: Settings, args) -> int:
    from archive.crawls.frontier import CrawlError, change_state, progress

    with closing(_db(settings)) as db:
        try:
            change_state(db, args.id, args.crawl_command)
            state = progress(db, args.id)
        except CrawlError as exc:
            return _fail(str(exc))
    _print_state(state, args.json)
    return 0


def _unknown(db, crawl_id: int) -> str | None:
    """Why there is no crawl ``crawl_id`` (naming the fix), or None when there is one."""
    from archive.crawls.frontier import CrawlError, require_crawl

    try:
        require_crawl(db, crawl_id)
    except CrawlError as exc:
        return str(exc)
    return None


def wait_cmd(settings: Settings, args) -> int:
    with closing(_db(settings)) as db:
        if problem := _unknown(db, args.id):
            return _fail(problem)
    return _finish(settings, args.id, args, True)


def list_cmd(settings: Settings, args) -> int:
    from archive.crawls.frontier import list_crawls

    with closing(_db(settings)) as db:
        crawls = list_crawls(db)
    if args.json:
        print(json.dumps(crawls, ensure_ascii=False))
        return 0
    for c in crawls:
        print(f"{c['id']:>5}  {c['state']:<9} {c['pages']:>6} pages  {c['created_at'][:19]}  {c['name']}"
              f"{'  (recrawl of ' + str(c['previous_crawl_id']) + ')' if c['previous_crawl_id'] else ''}")
    return 0


def log_cmd(settings: Settings, args) -> int:
    from archive.crawls.frontier import crawl_log

    with closing(_db(settings)) as db:
        if problem := _unknown(db, args.id):
            return _fail(problem)
        offset = 0
        while rows := crawl_log(db, args.id, args.state, limit=1000, offset=offset):
            for row in rows:
                if args.json:
                    print(json.dumps(row, ensure_ascii=False))
                else:
                    what = (f"capture {row['capture_id']} ({row['outcome']})" if row["state"] == "captured"
                            else row["reason"] or "")
                    print(f"{row['state']:<9} {row['url']}  {what}")
            offset += len(rows)
    return 0


def export_cmd(settings: Settings, args) -> int:
    from archive.crawls.export import export_crawl
    from archive.crawls.frontier import CrawlError
    from archive.progress import CountBar
    from archive.warc.store import WarcStoreError
    from archive.warc.wacz import WaczError

    bar = CountBar(f"crawl {args.id} WACZ", every=0.5)
    started = time.monotonic()

    def step(done: int, total: int, capture_id: int) -> None:
        elapsed = time.monotonic() - started
        rate = done / elapsed * 60 if elapsed else 0.0
        bar.update(done, total, rate, (total - done) / rate * 60 if rate else None, 0, extra="pages")

    with closing(_db(settings)) as db:
        try:
            package = export_crawl(db, warc_store(settings), args.id, args.output, progress_cb=step)
        except (CrawlError, WaczError, WarcStoreError) as exc:
            return _fail(str(exc), 1)
    bar.done()
    size = sum(r["bytes"] for r in package["resources"])
    print(f"wrote {args.output}: crawl {args.id}, {len(package['resources']) - 2} page WARC(s), "
          f"{size} bytes of content")
    return 0


def recrawl_cmd(settings: Settings, args) -> int:
    from archive.crawls.frontier import CrawlError, recrawl
    from archive.crawls.schedule import schedule_recrawls
    from archive.urlcheck import url_checker
    from archive.watches.watchlist import parse_every

    with closing(_db(settings)) as db:
        try:
            if args.every:
                schedule_recrawls(db, args.id, parse_every(args.every))
            crawl_id = recrawl(db, args.id, url_checker(settings))
        except (CrawlError, ValueError) as exc:
            return _fail(str(exc))
    if not args.json:
        print(f"crawl {crawl_id} queued: recrawl of crawl {args.id}", file=sys.stderr)
    return _finish(settings, crawl_id, args, args.wait)


def compare_cmd(settings: Settings, args) -> int:
    from archive.crawls.compare import compare, to_csv
    from archive.crawls.frontier import CrawlError

    with closing(_db(settings)) as db:
        try:
            result = compare(db, warc_store(settings), args.earlier, args.later, settings.change_threshold)
        except CrawlError as exc:
            return _fail(str(exc))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    elif args.csv:
        sys.stdout.write(to_csv(result))
    else:
        counts = result["counts"]
        print(f"crawl {args.earlier} -> crawl {args.later}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for row in result["rows"]:
            if row["kind"] == "unchanged":
                continue
            extra = (f" ({row['later_outcome']})" if row["kind"] == "removed" else
                     f" (similarity {row['similarity']})" if row["similarity"] is not None else "")
            print(f"  {row['kind']:<9} {row['url']}{extra}")
    return 0
