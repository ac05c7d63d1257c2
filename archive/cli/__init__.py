"""`python -m archive`: a thin dispatcher.

Each module of this package owns one command group: its ``add_parser(sub)`` adds the subcommands and
sets ``run`` on each, so there is no dispatch table to keep in step with the parsers.
"""
from __future__ import annotations

import argparse
import logging
import sys

from archive.cli import capture, crawl, migrate, orders, rebuild, search, serve, settings, token, user, warc, watch
from archive.settings import SettingError, Settings

COMMAND_GROUPS = (serve, capture, crawl, search, warc, watch, orders, rebuild, migrate, token, user, settings)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, assembled from each command group's own ``add_parser``."""
    p = argparse.ArgumentParser(prog="python -m archive", description="Content takedown transparency archive.")
    sub = p.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        current = Settings.from_env()
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return args.run(current, args)
