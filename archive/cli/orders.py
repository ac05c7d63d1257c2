"""`python -m archive import-orders --format rkn|lumen|github-gov|ooni FILE…`: orders from the registers.

Each bad row is printed as FILE:LINE: why, and the rest imported; the summary counts rows read and
orders added, updated, lifted and rejected. Exit status 1 if any row was rejected, 2 if nothing
could be read at all.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from archive import catalog
from archive.orders.registers import REGISTERS, Report, import_entries, parse_listed, watcher
from archive.settings import Settings
from archive.warc.objects import warc_store
from archive.watches.watchlist import WatchError, parse_every


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``import-orders`` command."""
    p = sub.add_parser("import-orders", help="import takedown orders (and OONI blocking evidence) from the "
                                             "registers that publish them")
    p.set_defaults(run=run)
    p.add_argument("--format", required=True, choices=REGISTERS, help="the register's format")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="files to read: rkn dump.csv or dump-00.csv … dump-NN.csv (in order); Lumen notice or "
                        "search JSON; gov-takedowns .md; OONI measurement JSON or JSONL")
    p.add_argument("--listed-at", help="rkn: when the register listed these rows, for a dump without its "
                                       "'Updated:' line (e.g. 2024-01-31T00:00:00Z)")
    p.add_argument("--lumen-id", action="append", default=[], metavar="ID",
                   help="lumen: fetch this notice through Lumen's API (needs LUMEN_API_TOKEN); repeatable")
    p.add_argument("--lumen-search", metavar="TERM", help="lumen: fetch the notices a search finds (LUMEN_API_TOKEN)")
    p.add_argument("--lumen-pages", type=int, default=1, help="lumen: search result pages to fetch (default 1)")
    watch = p.add_mutually_exclusive_group()
    watch.add_argument("--watch", action="store_true", default=None,
                       help="watch every imported URL (default: the REGISTER_WATCH setting)")
    watch.add_argument("--no-watch", dest="watch", action="store_false")
    p.add_argument("--every", help="watch interval, e.g. 1d (default WATCH_EVERY)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from archive.orders.registers import lumen

    if not args.files and not (args.format == "lumen" and (args.lumen_id or args.lumen_search)):
        print("error: give the files to import" + (", or --lumen-id / --lumen-search" if args.format == "lumen"
                                                   else ""), file=sys.stderr)
        return 2
    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:  # before anything is written: a typo in the last name must not leave half an import
        print(f"error: no such file: {', '.join(missing)}; nothing was imported", file=sys.stderr)
        return 2
    try:
        every = parse_every(args.every) if args.every else settings.watch_every
        listed_at = parse_listed(args.listed_at) if args.listed_at else None
    except (WatchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    db = catalog.connect(settings.catalog_path)
    report = Report(args.format)
    watching = settings.register_watch if args.watch is None else args.watch
    watch = watcher(db, settings, every, report) if watching else None
    reindex: list[str] = []

    def progress(r: Report) -> None:
        print(f"{r.rows} rows read, {r.added} added, {r.rejected} rejected", file=sys.stderr, flush=True)

    common = {"watch": watch, "report": report, "progress": progress, "reindex": reindex}
    try:
        if args.format == "rkn":
            from archive.orders.registers import rkn

            for when, dumps in rkn.snapshots(args.files, listed_at):
                entries = (e for d in dumps for e in d.entries())
                import_entries(db, settings, "rkn", entries, source=",".join(d.name for d in dumps),
                               listed_at=when, snapshot=True, **common)
        elif args.format == "lumen":
            notices = lumen.read_files(args.files)
            if args.lumen_id or args.lumen_search:
                client = lumen.LumenClient.from_settings(settings)
                fetched = client.notices(args.lumen_id, args.lumen_search, args.lumen_pages)
                notices = (*notices, fetched) if args.files else (fetched,)
            for items in notices:
                import_entries(db, settings, "lumen", items, source="lumen", **common)
        elif args.format == "github-gov":
            from archive.orders.registers import github_gov

            import_entries(db, settings, "github-gov", github_gov.read_files(args.files), source="github-gov",
                           **common)
        else:
            from archive.orders.registers import ooni
            from detect.fingerprints import FingerprintSet

            fingerprints, _problems = FingerprintSet.load(settings.fingerprints_path)
            ooni.import_measurements(db, args.files, report, watch=watch, fingerprints=fingerprints)
    except (ValueError, OSError, lumen.LumenError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(report.summary(), file=sys.stderr)
        return 2
    _reindex(db, settings, reindex)
    for bad in report.bad:
        print(bad, file=sys.stderr)
    if report.rejected > len(report.bad):
        print(f"… and {report.rejected - len(report.bad)} more rejected row(s)", file=sys.stderr)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps(report.as_dict()) if args.json else report.summary())
    return 1 if report.rejected else 0


def _reindex(db, settings: Settings, urls: list[str]) -> None:
    # Captured pages newly named by a published order: their search entries now carry it.
    if not urls:
        return
    from archive.capturing.indexing import reindex_url
    from archive.removals.events import vantage_countries
    from search.engines import open_search

    backend = open_search(settings)
    try:
        for url in dict.fromkeys(urls):
            reindex_url(db, backend, warc_store(settings), url, vantage_countries(settings.capture_vantages))
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()
