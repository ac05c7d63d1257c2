"""`serve`: the web app, the replay origin beside it, an in-process capture worker and watch scheduler.

The catalog is opened (created, migrated) by the app before either background thread starts, so
they never race each other for a new file. Both threads are supervised: one that dies is started
again and shows as not alive on `/healthz` meanwhile. SIGINT and SIGTERM stop the app taking
requests and the worker taking jobs; running captures get SHUTDOWN_GRACE seconds, then the WARC
file is closed.
"""
from __future__ import annotations

import logging
import signal
import threading
from urllib.parse import urlsplit

from waitress import create_server

from archive.capturing.worker import start_worker_thread
from archive.crawls.hooks import CrawlHooks
from archive.replay.origin import create_replay_app, missing_replay_assets
from archive.settings import Settings
from archive.watches.scheduler import start_scheduler_thread
from archive.web import create_app
from archive.web.health import BACKGROUND

log = logging.getLogger("archive.serve")

# Storing a capture that was running when the grace period ended, and closing Chromium, take a
# little longer; past this the process exits anyway and the next worker finishes the WARC file.
WIND_DOWN_EXTRA = 60


class ShutdownRequested(KeyboardInterrupt):
    """SIGTERM (or SIGINT) asked `serve` to stop. A KeyboardInterrupt, so waitress's loop lets it through."""


def _request_shutdown(signum: int, frame) -> None:
    # A second signal while winding down stops at once (the default action).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise ShutdownRequested(signal.Signals(signum).name)


def serve(settings: Settings, host: str, port: int, worker: bool = True) -> None:
    """Serve until SIGINT or SIGTERM. The replay origin listens on REPLAY_PORT (same interface)."""
    app_origin = f"http://{host}:{port}"
    replay = urlsplit(settings.replay_origin)
    if (replay.hostname, replay.port) == (host, port):
        raise SystemExit("REPLAY_URL must not be the app's own origin: archived pages would run with its cookies")
    app = create_app(settings)  # creates or migrates the catalog: before any thread opens it
    missing = missing_replay_assets(settings)
    if missing:
        log.warning("archived pages cannot be replayed: %s", missing)
    replay_server = create_server(create_replay_app(settings, app_origin), host=host,
                                  port=settings.replay_port, threads=8, ident="takedown-archive-replay")
    threading.Thread(target=replay_server.run, name="replay-origin", daemon=True).start()
    # Due watches are queued where captures are run: the scheduler goes with the worker.
    background = {"worker": start_worker_thread(settings, CrawlHooks(settings)),
                  "scheduler": start_scheduler_thread(settings)[0]} if worker else {}
    app.extensions[BACKGROUND] = background
    # Readers keep connections alive: waitress's default of 100 open connections would leave
    # the 101st client waiting for someone else to hang up.
    app_server = create_server(app, host=host, port=port, threads=8, ident="takedown-archive",
                               connection_limit=1000, channel_timeout=60)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _request_shutdown)
        signal.signal(signal.SIGINT, _request_shutdown)
    try:
        print(f"Archive at {app_origin}/ , replay origin at {settings.replay_origin}/ "
              f"(data in {settings.archive_home})", flush=True)
        app_server.run()
    except KeyboardInterrupt as exc:
        log.info("stopping (%s): no new requests or jobs; running captures have %g s to finish",
                 exc or "SIGINT", settings.shutdown_grace)
    finally:
        app_server.close()
        for thread in background.values():
            thread.stop.set()
        for name, thread in background.items():
            thread.join(settings.shutdown_grace + WIND_DOWN_EXTRA)
            if thread.is_alive():
                log.warning("the %s did not stop in time; its WARC file is finished by the next worker", name)
        replay_server.close()
        log.info("stopped")
