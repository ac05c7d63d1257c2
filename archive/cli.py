"""`python -m archive`: a thin dispatcher; each subcommand hands off to one function."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime

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
    c = sub.add_parser("capture", help="capture a URL now")
    c.add_argument("url")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    q = sub.add_parser("search", help="search archived text")
    q.add_argument("query")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument("--domain")
    q.add_argument("--since", type=_date)
    q.add_argument("--until", type=_date)
    q.add_argument("--limit", type=int, default=10)
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
            "settings": _settings}[args.command](settings, args)


def _serve(settings: Settings, args) -> int:
    from waitress import serve

    from .web import create_app
    from .worker import start_worker_thread

    app = create_app(settings)
    stop = None
    if not args.no_worker:
        _, stop = start_worker_thread(settings)
    host, port = args.host or settings.archive_host, args.port or settings.archive_port
    print(f"Archive at http://{host}:{port}/ (data in {settings.archive_home})", flush=True)
    try:
        serve(app, host=host, port=port, threads=8, ident="takedown-archive")
    finally:
        if stop:
            stop.set()
    return 0


def _worker(settings: Settings, args) -> int:
    from .worker import run_worker

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_worker(settings, stop, once=args.once)
    return 0


def _capture(settings: Settings, args) -> int:
    from crawler import CaptureFailed, URLRejected
    from crawler.browser import BrowserNotFound

    from .present import capture_json
    from .worker import capture_now

    try:
        row = capture_now(settings, args.url)
    except (URLRejected, CaptureFailed, BrowserNotFound) as exc:
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
        print(f"capture {out['id']}: {out['url']} -> {out['final_url']} HTTP {out['status']}"
              f"{' (partial)' if out['partial'] else ''}\n  title: {out['title']}\n  sha256: {out['sha256']}"
              f"\n  warc: {', '.join(out['warc_files'])}")
    return 0


def _search(settings: Settings, args) -> int:
    from search import QuerySyntaxError, SearchQuery, open_backend

    from .present import search_json

    backend = open_backend(settings.search_backend, settings.index_dir)
    try:
        result = backend.search(SearchQuery(args.query, domain=args.domain, since=args.since,
                                            until=args.until, limit=args.limit))
    except QuerySyntaxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = search_json(result)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"{out['total']} result(s)")
        for hit in out["hits"]:
            print(f"[{hit['id']}] {hit['title']}\n    {hit['url']}  {hit['captured_at']}")
    return 0


def _settings(settings: Settings, args) -> int:
    if args.markdown:
        from .settings import settings_table

        print(settings_table())
        return 0
    for s in SETTINGS:
        print(f"{s.name}={getattr(settings, s.name.lower())}\n    default {s.default!r}: {s.help}")
    return 0
