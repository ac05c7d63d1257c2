"""`python -m archive reindex` and `python -m archive import`: the subcommands that read whole WARC files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archive.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("reindex", help="rebuild the search index (and with --catalog the catalog) from the WARC files")
    r.add_argument("--catalog", action="store_true",
                   help="also add to the catalog every capture in the WARC files it lacks "
                        "(done anyway when catalog.sqlite3 is missing)")
    r.add_argument("--batch", type=int, default=200, metavar="N",
                   help="documents per commit of the new index, and per checkpoint (default 200)")
    i = sub.add_parser("import", help="import WARC files made by other tools (wget, warcio, Browsertrix, pywb)")
    r.set_defaults(run=run_reindex)
    i.set_defaults(run=run_import)
    i.add_argument("files", nargs="+", type=Path, metavar="FILE.warc.gz")


def run_reindex(settings: Settings, args) -> int:
    from archive.rebuild.reindex import ReindexBusy, reindex
    from search import SearchUnavailable

    if args.batch < 1:
        print(f"error: --batch must be at least 1, not {args.batch}", file=sys.stderr)
        return 2
    try:
        report = reindex(settings, rebuild_catalog=args.catalog, stream=sys.stderr, batch=args.batch)
    except ReindexBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: run `python -m archive reindex` again to continue where it stopped; "
              "the live index was not touched", file=sys.stderr)
        return 130
    except SearchUnavailable as exc:
        print(f"error: {exc}; run `python -m archive reindex` again to continue where it stopped; "
              "the live index was not touched", file=sys.stderr)
        return 1
    print(report.summary())
    return 1 if report.damage else 0


def run_import(settings: Settings, args) -> int:
    from archive.rebuild.importer import ImportFileError, import_warcs

    try:
        report = import_warcs(settings, args.files, stream=sys.stderr)
    except ImportFileError as exc:
        print(f"error: {exc}; nothing was imported", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1
