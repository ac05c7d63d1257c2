"""Helpers for replay tests and the fidelity benchmark: capture pages whose server is then
stopped, and run the replay origin on a free port."""
from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

from waitress import create_server

from archive import catalog
from archive.capturing import jobs
from archive.capturing.worker import Worker
from archive.replay.origin import create_replay_app
from archive.settings import Settings

from .conftest import free_port
from .sites import CORPUS, DATA, FixtureSite


def corpus_pages(count: int) -> list[str]:
    """The first ``count`` real news pages of the corpus (the larger ones: the small ones are unit cases)."""
    pages = sorted(p.name for p in CORPUS.iterdir() if (p / "source.html").is_file()
                   and (p / "source.html").stat().st_size > 40_000)
    return pages[:count]


def capture_pages(home: Path, names: list[str], with_fixture: bool, environ: dict) -> tuple[Settings, list[int]]:
    """Capture corpus pages (and the fixture site) through the worker; the servers are gone on return."""
    with FixtureSite(CORPUS) as corpus, FixtureSite(DATA / "site") as site:
        rules = ", ".join([corpus.rule("pages.example.org"), site.rule("news.example.com")])
        settings = Settings.from_env(dict(environ, ARCHIVE_HOME=str(home), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
                                          CAPTURE_HOST_RULES=rules, CAPTURE_SETTLE_TIMEOUT="5"))
        db = catalog.connect(settings.catalog_path)
        urls = [f"http://pages.example.org/{name}/source.html" for name in names]
        if with_fixture:
            urls.append("http://news.example.com/")
        job_ids = [jobs.enqueue(db, url) for url in urls]
        asyncio.run(Worker(settings).run(threading.Event(), once=True))
        found = [jobs.get_job(db, j) for j in job_ids]
        db.close()
    failed = [j for j in found if j["status"] != "done"]
    if failed:
        raise AssertionError(f"captures failed: {failed}")
    return settings, [j["capture_id"] for j in found]


@contextlib.contextmanager
def replay_origin_server(settings: Settings, app_origin: str = "http://127.0.0.1:9"):
    """The replay origin on a free port, as http://localhost:PORT (not the app's 127.0.0.1)."""
    port = free_port()
    server = create_server(create_replay_app(settings, app_origin), host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.close()
