"""`python -m archive serve` and `worker`: the long-running processes."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import closing

from archive.settings import SettingError, Settings, check_shared_deployment


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``serve`` subcommands."""
    s = sub.add_parser("serve", help="run the web app and a capture worker")
    s.add_argument("--host", help="address to listen on (default ARCHIVE_HOST)")
    s.add_argument("--port", type=int, help="port to listen on (default ARCHIVE_PORT)")
    s.add_argument("--no-worker", action="store_true", help="do not start the in-process capture worker")
    w = sub.add_parser("worker", help="run queued captures without the web app")
    w.add_argument("--once", action="store_true", help="exit when the queue is empty")
    w.add_argument("--no-scheduler", action="store_true", help="do not queue captures of due watched URLs")
    sc = sub.add_parser("scheduler", help="only queue captures of due watched URLs (workers run them elsewhere)")
    s.set_defaults(run=serve)
    w.set_defaults(run=worker)
    sc.set_defaults(run=scheduler)


def refused(settings: Settings) -> bool:
    """Say why these settings cannot run a shared deployment's process, if they cannot."""
    try:
        check_shared_deployment(settings)
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return True
    return False


def serve(settings: Settings, args) -> int:
    from archive.web.server import serve

    if refused(settings):
        return 2

    serve(settings, args.host or settings.archive_host, args.port or settings.archive_port,
          worker=not args.no_worker)
    return 0


def worker(settings: Settings, args) -> int:
    from archive import catalog
    from archive.capturing.worker import run_worker
    from archive.crawls.hooks import CrawlHooks
    from archive.watches.scheduler import schedule_due, start_scheduler_thread

    if refused(settings):
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scheduler_stop = None
    if not args.no_scheduler and args.once:
        # One round, so watches due now are captured before the queue runs dry.
        with closing(catalog.connect(settings.catalog_location)) as db:
            schedule_due(db, settings)
    elif not args.no_scheduler:
        scheduler_stop = start_scheduler_thread(settings)[1]
    try:
        run_worker(settings, stop, once=args.once, hooks=CrawlHooks(settings))
    finally:
        if scheduler_stop:
            scheduler_stop.set()
    return 0


def scheduler(settings: Settings, args) -> int:
    """The watch scheduler alone, in the foreground, until SIGTERM or SIGINT (a deployment's own process)."""
    from archive.watches.scheduler import run_scheduler

    if refused(settings):
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_scheduler(settings, stop)
    return 0
