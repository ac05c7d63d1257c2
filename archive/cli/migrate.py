"""`python -m archive migrate-catalog --to postgresql://...`: the SQLite catalog copied into PostgreSQL."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archive.catalogcopy import CopyError, copy_catalog
from archive.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``migrate-catalog`` command."""
    p = sub.add_parser("migrate-catalog", help="copy the SQLite catalog into PostgreSQL, resumable, then verify it",
                       description="Copies every table of the SQLite catalog (ARCHIVE_HOME/catalog.sqlite3, or --from) "
                                   "into the PostgreSQL database --to, keeping ids; run it again to resume a copy "
                                   "that stopped. Stop workers and `serve` first. Then set DATABASE_URL to --to.")
    p.add_argument("--to", required=True, metavar="URL", help="postgresql://user:password@host:5432/dbname")
    p.add_argument("--from", dest="source", type=Path, help="the SQLite catalog (default: ARCHIVE_HOME's)")
    p.set_defaults(run=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        report = copy_catalog(args.source or settings.catalog_path, args.to)
    except CopyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not report.verified:
        return 1
    print(f"copied and verified ({sum(report.copied.values())} rows by this run); set DATABASE_URL to use it")
    return 0
