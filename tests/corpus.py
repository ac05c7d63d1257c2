"""The whole shared corpus captured by the real worker, once per test session.

Capturing all 130 pages of ../shared/corpus/readability takes minutes; every module that needs
them (search quality today) shares this one capture instead of making its own.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from archive import catalog
from archive.capturing import jobs
from archive.capturing.worker import Worker
from archive.settings import Settings

from .sites import CORPUS, FixtureSite

HOST = "pages.example.org"


def corpus_url(name: str) -> str:
    return f"http://{HOST}/{name}/source.html"


@pytest.fixture(scope="session")
def captured_corpus(tmp_path_factory) -> tuple[Settings, dict[str, dict]]:
    """Every corpus page captured once for the session: (settings, name -> catalog row).

    Read-only for its users: a test that changes the archive makes its own."""
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}: clone this repository beside ../shared")
    names = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
    home = tmp_path_factory.mktemp("corpus") / "home"
    started = time.monotonic()
    with FixtureSite(CORPUS) as corpus:
        settings = Settings.from_env(dict(
            os.environ, ARCHIVE_HOME=str(home), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
            CAPTURE_HOST_RULES=corpus.rule(HOST), CAPTURE_CONCURRENCY="2", CAPTURE_TIMEOUT="60",
            # The corpus pages' third-party resources are refused at once (not allowed networks);
            # a short settle keeps 130 captures within minutes.
            CAPTURE_SETTLE_TIMEOUT="2", CAPTURE_SCROLL_STEPS="1"))
        db = catalog.connect(settings.catalog_path)
        job_ids = {name: jobs.enqueue(db, corpus_url(name)) for name in names}
        asyncio.run(Worker(settings).run(threading.Event(), once=True))
        found = {name: jobs.get_job(db, job_id) for name, job_id in job_ids.items()}
        failed = {name: (j["status"], j["error"]) for name, j in found.items() if j["status"] != "done"}
        assert not failed, f"captures failed: {failed}"
        rows = {name: catalog.get_capture(db, j["capture_id"]) for name, j in found.items()}
        db.close()
    print(f"\ncaptured {len(rows)} corpus pages in {time.monotonic() - started:.0f} s")
    return settings, rows
