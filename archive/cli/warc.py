"""`python -m archive export-wacz` and `verify`: packaging and checking the WARC files."""
from __future__ import annotations

import argparse
import sys

from archive.settings import Settings
from archive.warc.objects import warc_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``warc`` subcommands."""
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
    e.set_defaults(run=export_wacz)
    v.set_defaults(run=verify)


def export_wacz(settings: Settings, args) -> int:
    from archive import catalog
    from archive.warc.store import WarcStoreError
    from archive.warc.wacz import WaczError, export_wacz, select_captures
    from search import QuerySyntaxError, open_backend

    db = catalog.connect(settings.catalog_location)
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
        package = export_wacz(db, warc_store(settings), chosen.ids, args.output, title=args.title or chosen.title,
                              progress=progress)
    except (WaczError, WarcStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = sum(r["bytes"] for r in package["resources"])
    print(f"wrote {args.output}: {len(chosen.ids)} capture(s), {size} bytes of content")
    return 0


def verify(settings: Settings, args) -> int:
    from archive import catalog
    from archive.warc.verify import verify_archive

    db = catalog.connect(settings.catalog_location)
    try:
        report = verify_archive(db, warc_store(settings), args.capture,
                                progress=lambda line: print(line, file=sys.stderr, flush=True),
                                on_problem=lambda problem: print(problem, flush=True))
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1
