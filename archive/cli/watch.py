"""`python -m archive watch add|import|list|remove`: the watchlist from the command line.

``add_parser`` adds the subcommands and sets ``run`` as what they call.
"""
from __future__ import annotations

import argparse
import json
import sys

from archive import catalog
from archive.settings import Settings
from archive.urlcheck import url_checker
from archive.watches.watchlist import (
    WatchError,
    add_watch,
    check_vantage,
    format_every,
    get_watch,
    import_watches,
    list_watches,
    parse_every,
    remove_watch,
    watch_json,
)
from crawler.netpolicy import URLRejected
from crawler.vantage import UnknownVantage


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``watch`` subcommand group."""
    p = sub.add_parser("watch", help="watch URLs: capture them again every interval")
    p.set_defaults(run=run)
    group = p.add_subparsers(dest="watch_command", required=True)
    a = group.add_parser("add", help="watch a URL")
    a.add_argument("url")
    i = group.add_parser("import", help="watch every URL in a file (one a line, # comments)")
    i.add_argument("file", help="the file of URLs, or - for standard input")
    for q in (a, i):
        q.add_argument("--every", help="interval, e.g. 30m, 6h, 1d (default WATCH_EVERY; at least 1m)")
        q.add_argument("--vantage", default="direct", help="capture through this vantage point (CAPTURE_VANTAGES)")
    ls = group.add_parser("list", help="list watched URLs")
    ls.add_argument("--json", action="store_true", help="print one JSON object per line")
    r = group.add_parser("remove", help="stop watching a URL")
    r.add_argument("id", type=int, help="the watch's id (see watch list)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    return {"add": _add, "import": _import, "list": _list, "remove": _remove}[args.watch_command](settings, args)


def _interval_and_vantage(settings: Settings, args: argparse.Namespace) -> tuple[int, str]:
    every = parse_every(args.every) if args.every else settings.watch_every
    return every, check_vantage(settings, args.vantage)


def _add(settings: Settings, args: argparse.Namespace) -> int:
    try:
        every, vantage = _interval_and_vantage(settings, args)
        url = url_checker(settings)(args.url)
    except (WatchError, URLRejected, UnknownVantage) as exc:
        print(f"error: cannot watch {args.url}: {exc}", file=sys.stderr)
        return 2
    db = catalog.connect(settings.catalog_location)
    watch_id = add_watch(db, url, every, vantage, source="cli")
    print(f"watch {watch_id}: {url} from {vantage} every {format_every(every)}")
    return 0


def _import(settings: Settings, args: argparse.Namespace) -> int:
    try:
        every, vantage = _interval_and_vantage(settings, args)
        lines = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8", errors="replace")  # noqa: SIM115
    except (WatchError, UnknownVantage, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def progress(number: int, report) -> None:
        print(f"{number} lines read, {report.added} added, {len(report.bad)} bad", file=sys.stderr, flush=True)

    db = catalog.connect(settings.catalog_location)
    with lines:
        report = import_watches(db, lines, every, vantage, url_checker(settings), source="cli", progress=progress)
    for number, line, reason in report.bad:
        print(f"{args.file}:{number}: {line}: {reason}", file=sys.stderr)
    print(report.summary())
    return 1 if report.bad else 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    db = catalog.connect(settings.catalog_location)
    offset = 0
    while batch := list_watches(db, limit=1000, offset=offset):
        for watch in batch:
            if args.json:
                print(json.dumps(watch_json(watch), ensure_ascii=False))
            else:
                last = watch["last_outcome"] or watch["last_job_status"] or "never captured"
                print(f"{watch['id']:>6}  {format_every(watch['every_seconds']):>5}  {watch['vantage']:<12} "
                      f"next {watch['next_due'][:19]}Z  {last:<14} {watch['url']}")
        offset += len(batch)
    return 0


def _remove(settings: Settings, args: argparse.Namespace) -> int:
    db = catalog.connect(settings.catalog_location)
    watch = get_watch(db, args.id)
    if not remove_watch(db, args.id):
        print(f"error: there is no watch {args.id}" + (" (it was removed before)" if watch else "")
              + "; see `python -m archive watch list`", file=sys.stderr)
        return 1
    print(f"stopped watching {watch['url']} (watch {args.id})")
    return 0
