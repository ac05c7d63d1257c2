"""`python -m archive`: a thin dispatcher; each subcommand hands off to one function."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from contextlib import closing
from datetime import UTC, datetime

from . import rebuild_cli, token_cli, watch_cli
from .settings import SETTINGS, SettingError, Settings


def _date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m archive", description="Content takedown transparency archive.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the web app and a capture worker")
    s.add_argument("--host", help="address to listen on (default ARCHIVE_HOST)")
    s.add_argument("--port", type=int, help="port to listen on (default ARCHIVE_PORT)")
    s.add_argument("--no-worker", action="store_true", help="do not start the in-process capture worker")
    w = sub.add_parser("worker", help="run queued captures without the web app")
    w.add_argument("--once", action="store_true", help="exit when the queue is empty")
    w.add_argument("--no-scheduler", action="store_true", help="do not queue captures of due watched URLs")
    c = sub.add_parser("capture", help="capture a URL now")
    c.add_argument("url")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--vantage", default="direct", help="capture through this vantage point (CAPTURE_VANTAGES)")
    q = sub.add_parser("search", help="search archived text")
    q.add_argument("query")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument("--domain")
    q.add_argument("--since", type=_date)
    q.add_argument("--until", type=_date)
    q.add_argument("--limit", type=int, default=10)
    q.add_argument("--removed", action="store_true", help="only text that has since been removed")
    q.add_argument("--sort", choices=("relevance", "newest", "oldest"), default="relevance")
    q.add_argument("--outcome", help="only captures with this outcome (ok, blockpage, legal, ...)")
    q.add_argument("--country", help="only captures tied to this ISO country (vantage or published order)")
    q.add_argument("--lang", help="only pages in this language (ISO 639-1, e.g. ky)")
    q.add_argument("--group", action="store_true", help="one result per URL, with its number of captures")
    e = sub.add_parser("export-wacz", help="package captures as a WACZ file (WARCs, CDXJ index, pages)")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--capture", type=int, action="append", metavar="ID", help="a capture id (repeatable)")
    which.add_argument("--query", metavar="Q", help="the captures a search finds")
    which.add_argument("--all", action="store_true", help="every capture in the archive")
    e.add_argument("-o", "--output", required=True, metavar="FILE.wacz", help="where to write the package")
    e.add_argument("--title", help="the package's title (default: the capture's, or the selection's)")
    e.add_argument("--limit", type=int, default=1000, help="most search results to export (default 1000)")
    v = sub.add_parser("verify", help="re-read WARC files; check digests and the catalog against them")
    v.add_argument("--capture", type=int, action="append", metavar="ID",
                   help="check only this capture's records (repeatable; default: every WARC file)")
    watch_cli.add_parser(sub)
    rebuild_cli.add_parsers(sub)
    token_cli.add_parser(sub)
    u = sub.add_parser("user", help="staff accounts")
    u_sub = u.add_subparsers(dest="user_command", required=True)
    ua = u_sub.add_parser("add", help="add a staff account (asks for its password twice)")
    ua.add_argument("name")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    ua.add_argument("--role", default="staff", choices=("staff", "admin"))
    st = sub.add_parser("settings", help="list every setting with its default and current value")
    st.add_argument("--markdown", action="store_true", help="print README's settings table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return {"serve": _serve, "worker": _worker, "capture": _capture, "search": _search,
            "export-wacz": _export_wacz, "verify": _verify, "settings": _settings,
            "watch": watch_cli.run, "reindex": rebuild_cli.run_reindex, "import": rebuild_cli.run_import,
            "token": token_cli.run, "user": _user}[args.command](settings, args)


def _serve(settings: Settings, args) -> int:
    from .server import serve

    serve(settings, args.host or settings.archive_host, args.port or settings.archive_port,
          worker=not args.no_worker)
    return 0


def _worker(settings: Settings, args) -> int:
    from . import catalog
    from .scheduler import schedule_due, start_scheduler_thread
    from .worker import run_worker

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scheduler_stop = None
    if not args.no_scheduler and args.once:
        # One round, so watches due now are captured before the queue runs dry.
        with closing(catalog.connect(settings.catalog_path)) as db:
            schedule_due(db, settings)
    elif not args.no_scheduler:
        scheduler_stop = start_scheduler_thread(settings)[1]
    try:
        run_worker(settings, stop, once=args.once)
    finally:
        if scheduler_stop:
            scheduler_stop.set()
    return 0


def _capture(settings: Settings, args) -> int:
    from crawler import CaptureFailed, URLRejected
    from crawler.browser import BrowserNotFound
    from crawler.vantage import UnknownVantage

    from .present import capture_json
    from .worker import capture_now

    try:
        row = capture_now(settings, args.url, args.vantage)
    except (URLRejected, CaptureFailed, BrowserNotFound, UnknownVantage) as exc:
        if args.json:
            print(json.dumps({"error": str(exc), "url": args.url}))
        print(f"error: capture of {args.url} failed: {exc}", file=sys.stderr)
        return 1
    records = row.pop("records")
    out = capture_json(row, records)
    out["warc_files"] = sorted({r.warc_file for r in records})
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        status = f"HTTP {out['status']}" if out["status"] else "no response"
        print(f"capture {out['id']}: {out['url']} -> {out['final_url']} {status}, outcome {out.get('outcome')}"
              f"{' (partial)' if out['partial'] else ''}\n  title: {out['title']}\n  sha256: {out['sha256']}"
              f"\n  warc: {', '.join(out['warc_files'])}")
    return 0


def _search(settings: Settings, args) -> int:
    from search import QuerySyntaxError, SearchQuery, open_backend

    from .present import search_json

    backend = open_backend(settings.search_backend, settings.index_dir, settings)
    try:
        result = backend.search(SearchQuery(args.query, domain=args.domain, since=args.since,
                                            until=args.until, limit=args.limit, removed_only=args.removed,
                                            sort=args.sort, outcome=args.outcome, country=args.country,
                                            lang=args.lang, group_by_url=args.group))
    except QuerySyntaxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = search_json(result)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"{out['total']} result(s)")
        for hit in out["hits"]:
            group = f"  ({hit['group_count']} captures)" if args.group else ""
            print(f"[{hit['id']}] {hit['title']}\n    {hit['url']}  {hit['captured_at']}  {hit['outcome'] or ''}"
                  + group)
    return 0


def _export_wacz(settings: Settings, args) -> int:
    from search import QuerySyntaxError, open_backend

    from . import catalog
    from .wacz import WaczError, export_wacz, select_captures
    from .warcstore import WarcStoreError

    db = catalog.connect(settings.catalog_path)
    backend = open_backend(settings.search_backend, settings.index_dir, settings) if args.query is not None else None
    try:
        chosen = select_captures(db, settings.archive_name, ids=args.capture or (), query=args.query,
                                 everything=args.all, backend=backend, limit=args.limit)
    except QuerySyntaxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not chosen.ids:
        print("error: no captures to export", file=sys.stderr)
        return 1
    if chosen.total > len(chosen.ids):
        print(f"exporting the first {len(chosen.ids)} of {chosen.total} captures found (see --limit)",
              file=sys.stderr)

    def progress(done: int, count: int, capture_id: int) -> None:
        print(f"[{done}/{count}] capture {capture_id}", file=sys.stderr, flush=True)

    try:
        package = export_wacz(db, settings.warc_dir, chosen.ids, args.output, title=args.title or chosen.title,
                              progress=progress)
    except (WaczError, WarcStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = sum(r["bytes"] for r in package["resources"])
    print(f"wrote {args.output}: {len(chosen.ids)} capture(s), {size} bytes of content")
    return 0


def _verify(settings: Settings, args) -> int:
    from . import catalog
    from .verify import verify_archive

    db = catalog.connect(settings.catalog_path)
    try:
        report = verify_archive(db, settings.warc_dir, args.capture,
                                progress=lambda line: print(line, file=sys.stderr, flush=True),
                                on_problem=lambda problem: print(problem, flush=True))
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


def _user(settings: Settings, args) -> int:
    import getpass

    from . import catalog
    from .users import UserError, create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("The same password again: ") != password:
            print("error: the two passwords differ; nothing was saved", file=sys.stderr)
            return 2
    with closing(catalog.connect(settings.catalog_path)) as db:
        try:
            user_id = create_user(db, args.name, password, args.role)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"user {user_id}: {args.name} ({args.role})")
    return 0


def _settings(settings: Settings, args) -> int:
    if args.markdown:
        from .settings import settings_table

        print(settings_table())
        return 0
    for s in SETTINGS:
        print(f"{s.name}={getattr(settings, s.name.lower())}\n    default {s.default!r}: {s.help}")
    return 0
