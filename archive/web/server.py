"""`serve`: the web app, the replay origin beside it, an in-process capture worker and watch scheduler."""
from __future__ import annotations

import threading
from urllib.parse import urlsplit

from waitress import create_server

from archive.capturing.worker import start_worker_thread
from archive.replay.origin import create_replay_app
from archive.settings import Settings
from archive.watches.scheduler import start_scheduler_thread
from archive.web import create_app


def serve(settings: Settings, host: str, port: int, worker: bool = True) -> None:
    """Serve until interrupted. The replay origin listens on REPLAY_PORT (same interface)."""
    app_origin = f"http://{host}:{port}"
    replay = urlsplit(settings.replay_origin)
    if (replay.hostname, replay.port) == (host, port):
        raise SystemExit("REPLAY_URL must not be the app's own origin: archived pages would run with its cookies")
    replay_server = create_server(create_replay_app(settings, app_origin), host=host,
                                  port=settings.replay_port, threads=8, ident="takedown-archive-replay")
    threading.Thread(target=replay_server.run, name="replay-origin", daemon=True).start()
    stop = start_worker_thread(settings)[1] if worker else None
    # Due watches are queued where captures are run: the scheduler goes with the worker.
    scheduler_stop = start_scheduler_thread(settings)[1] if worker else None
    # Readers keep connections alive: waitress's default of 100 open connections would leave
    # the 101st client waiting for someone else to hang up.
    app_server = create_server(create_app(settings), host=host, port=port, threads=8, ident="takedown-archive",
                               connection_limit=1000, channel_timeout=60)
    print(f"Archive at {app_origin}/ , replay origin at {settings.replay_origin}/ "
          f"(data in {settings.archive_home})", flush=True)
    try:
        app_server.run()
    finally:
        if stop:
            stop.set()
        if scheduler_stop:
            scheduler_stop.set()
        replay_server.close()
