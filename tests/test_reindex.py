"""`python -m archive reindex`: the index, and a lost catalog, rebuilt from the WARC files alone.

An archive is made once with real Chromium: an article captured as it is removed and comes back
(ok, 404, redirect to a blockpage, rewritten, restored: outcomes and removal events), the fixture
site twice (the second time its payloads are revisit records), and a host that does not resolve
(an unreachable capture: a metadata record alone). Each test works on a copy of it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from archive import catalog
from archive.capturing.worker import capture_now
from archive.rebuild.reindex import PAUSE_AFTER_ENV, PAUSED_FILE
from archive.settings import Settings
from search import SearchQuery, open_backend

from .conftest import ROOT, run_cli
from .statefulsite import PARAGRAPHS, StatefulNewsSite
from .waiting import wait_until

CAPTURE_FIELDS = ("url", "final_url", "captured_at", "ended_at", "status", "title", "lang", "sha256", "partial",
                  "partial_reasons", "blocked", "vantage", "outcome", "evidence", "bytes")
RECORD_FIELDS = ("role", "record_type", "target_uri", "record_id", "content_type", "warc_file", "offset", "length",
                 "payload_digest", "block_digest", "refers_to", "warc_date", "truncated")
EVENT_FIELDS = ("url", "vantage", "outcome", "scope", "last_ok_at", "first_removed_at", "closed_at")


@pytest.fixture(scope="module")
def archive_home(tmp_path_factory, host_rules):
    """ARCHIVE_HOME of the archive described above, and its environment."""
    home = tmp_path_factory.mktemp("reindex") / "home"
    with StatefulNewsSite() as news:
        env = dict(os.environ, ARCHIVE_HOME=str(home), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
                   CAPTURE_HOST_RULES=", ".join([host_rules, *news.host_rules()]), CAPTURE_TIMEOUT="30",
                   CAPTURE_SETTLE_TIMEOUT="2", PYTHONPATH=str(ROOT))
        settings = Settings.from_env(env)
        for state in ("ok", "not_found", "redirect", "rewritten", "restored", "not_found"):
            news.state = state
            capture_now(settings, news.article_url)
        capture_now(settings, "http://news.example.com/")
        capture_now(settings, "http://news.example.com/")
        capture_now(settings, "http://no-such-host.invalid/article")
    return home, env


@pytest.fixture
def copy(archive_home, tmp_path):
    """A copy of the archive for one test: (settings, env)."""
    home, env = archive_home
    target = tmp_path / "home"
    shutil.copytree(home, target)
    env = dict(env, ARCHIVE_HOME=str(target))
    return Settings.from_env(env), env


def _captures(db) -> list[dict]:
    return [{f: row[f] for f in CAPTURE_FIELDS} for row in map(dict, db.execute("SELECT * FROM captures ORDER BY id"))]


def _records(db) -> list[tuple]:
    return [tuple(r) for r in db.execute(f"SELECT {', '.join(RECORD_FIELDS)} FROM records ORDER BY capture_id, id")]


def _events(db) -> list[tuple]:
    return [tuple(r) for r in db.execute(f"SELECT {', '.join(EVENT_FIELDS)} FROM removal_events ORDER BY id")]


def _search_ids(settings: Settings, q: str, **kw) -> list[str]:
    with open_backend(settings.search_backend, settings.index_dir) as backend:
        return sorted(h.id for h in backend.search(SearchQuery(q=q, limit=50, **kw)).hits)


def test_index_is_rebuilt_from_the_warc_files_and_swapped_under_a_running_backend(copy):
    settings, env = copy
    db = catalog.connect(settings.catalog_path)
    indexed = [r[0] for r in db.execute("SELECT id FROM captures WHERE indexed = 1 ORDER BY id")]
    before = _search_ids(settings, "residents protest closure")
    removed_before = _search_ids(settings, "residents", removed_only=True)
    assert before and removed_before
    running = open_backend(settings.search_backend, settings.index_dir)  # as the web app holds it
    running.delete([str(i) for i in indexed])  # the index lost everything
    assert running.count() == 0

    proc = run_cli(env, "reindex")
    assert proc.returncode == 0, proc.stderr
    assert "reindex: index [" in proc.stderr and "ETA" in proc.stderr  # the progress line
    assert f"index: {len(indexed)} document(s)" in proc.stdout
    # The backend opened before the swap sees the new index without being reopened by hand.
    assert running.count() == len(indexed)
    assert sorted(h.id for h in running.search(SearchQuery(q="residents protest closure", limit=50)).hits) == before
    assert _search_ids(settings, "residents", removed_only=True) == removed_before
    running.close()
    assert not list(settings.index_dir.parent.glob("index.rebuild*"))  # the old index is gone
    assert not (settings.archive_home / "reindex-checkpoint.json").exists()


def test_a_lost_catalog_is_rebuilt_with_outcomes_events_and_records(copy):
    settings, env = copy
    db = catalog.connect(settings.catalog_path)
    captures, records, events = _captures(db), _records(db), _events(db)
    assert {c["outcome"] for c in captures} >= {"ok", "not_found", "redirect_notice", "changed", "unreachable"}
    assert any(r[1] == "revisit" for r in records) and events
    db.close()
    for path in settings.archive_home.glob("catalog.sqlite3*"):
        path.unlink()
    shutil.rmtree(settings.index_dir)

    proc = run_cli(env, "reindex")
    assert proc.returncode == 0, proc.stderr
    assert f"catalog: {len(captures)} capture(s) added, {len(events)} removal event(s)" in proc.stdout
    assert "reindex: catalog [" in proc.stderr
    db = catalog.connect(settings.catalog_path)
    assert _captures(db) == captures
    assert _records(db) == records
    assert _events(db) == events
    paragraph = " ".join(PARAGRAPHS[1].split()[:8])
    assert _search_ids(settings, paragraph)
    assert run_cli(env, "verify").returncode == 0

    again = run_cli(env, "reindex", "--catalog")  # nothing is lacking now: nothing is added twice
    assert again.returncode == 0, again.stderr
    assert "catalog: 0 capture(s) added" in again.stdout
    assert _captures(db) == captures


def test_reindex_refuses_to_run_twice_at_once(copy):
    settings, env = copy
    import fcntl

    with open(settings.archive_home / "reindex.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        proc = run_cli(env, "reindex")
    assert proc.returncode == 2 and "another reindex is running" in proc.stderr


def _reindex(env: dict, out: Path) -> subprocess.Popen:
    """A reindex that stops after its second committed batch and waits there to be signalled.

    Its output goes to files (``out``.stdout, .stderr): a pipe nobody reads while it runs could fill
    and block it."""
    env = dict(env, **{PAUSE_AFTER_ENV: "2"})
    with open(f"{out}.stdout", "w") as stdout, open(f"{out}.stderr", "w") as stderr:
        return subprocess.Popen([sys.executable, "-m", "archive", "reindex", "--batch", "1"], env=env, cwd=ROOT,
                                stdout=stdout, stderr=stderr, text=True)


def _wait_for_pause(home: Path, proc: subprocess.Popen, out: Path) -> dict:
    """The checkpoint where the reindex paused (two batches committed, the index phase underway)."""
    paused = home / PAUSED_FILE

    def at_pause() -> dict | None:
        assert proc.poll() is None, f"reindex ended before it paused: {Path(f'{out}.stderr').read_text()[-3000:]}"
        return json.loads(paused.read_text()) if paused.exists() else None

    state = wait_until(at_pause, "the reindex to pause after two batches",
                       seen=lambda: Path(f"{out}.stderr").read_text()[-3000:])
    paused.unlink()
    return state


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_reindex_continues_where_it_stopped(copy, how):
    settings, env = copy
    db = catalog.connect(settings.catalog_path)
    total = db.execute("SELECT count(*) FROM captures WHERE indexed = 1").fetchone()[0]
    live_before = _search_ids(settings, "")
    checkpoint = settings.archive_home / "reindex-checkpoint.json"

    out = settings.archive_home.parent / "reindex"
    proc = _reindex(env, out)
    state = _wait_for_pause(settings.archive_home, proc, out)
    assert state["phase"] == "index" and state["file"], state  # a batch is in: (file, offset) past it
    proc.send_signal(how)
    proc.wait(120)
    err = Path(f"{out}.stderr").read_text()
    assert proc.returncode == (-signal.SIGKILL if how == signal.SIGKILL else 130), err
    if how == signal.SIGINT:
        assert "run `python -m archive reindex` again to continue" in err
    assert _search_ids(settings, "") == live_before  # the live index kept serving, untouched
    after = json.loads(checkpoint.read_text())
    assert (after["file"], after["offset"]) >= (state["file"], state["offset"])
    assert (settings.index_dir.parent / "index.rebuild").is_dir()

    proc = run_cli(env, "reindex")
    assert proc.returncode == 0, proc.stderr
    assert "resumed from index phase" in proc.stdout
    done = int(proc.stdout.split("index: ")[1].split(" document")[0])
    assert 0 <= done < total  # only what was left
    assert _search_ids(settings, "") == live_before  # and every capture is in the new index
    with open_backend(settings.search_backend, settings.index_dir) as backend:
        assert backend.count() == total


def test_imported_files_are_rebuilt_too(env, settings, tmp_path):
    from .test_import import browsertrix_warc

    warc = browsertrix_warc(tmp_path / "crawl.warc.gz")
    assert run_cli(env, "import", str(warc)).returncode == 0
    db = catalog.connect(settings.catalog_path)
    captures, records = _captures(db), _records(db)
    db.close()
    for path in settings.archive_home.glob("catalog.sqlite3*"):
        path.unlink()

    proc = run_cli(env, "reindex")
    assert proc.returncode == 0, proc.stderr
    db = catalog.connect(settings.catalog_path)
    assert _captures(db) == captures and _records(db) == records
    assert _search_ids(settings, "zanzibarite mine") == ["1"]


# -- into Elasticsearch: the session's real engine (tests/elastic.py) ------------------------------


def _es_env(env: dict, url: str, alias: str) -> dict:
    return dict(env, SEARCH_BACKEND="elasticsearch", ELASTICSEARCH_URL=url, ELASTICSEARCH_INDEX=alias)


def test_reindex_into_elasticsearch_swaps_its_alias_while_searches_go_on(copy, es_service, es_alias):
    import threading

    from search import open_search

    settings, env = copy
    db = catalog.connect(settings.catalog_path)
    total = db.execute("SELECT count(*) FROM captures WHERE indexed = 1").fetchone()[0]
    in_tantivy = _search_ids(settings, "residents protest closure")
    env = _es_env(env, es_service.url, es_alias)
    first = run_cli(env, "reindex")
    assert first.returncode == 0, first.stderr
    backend = open_search(Settings.from_env(env))
    assert backend.count() == total
    [old_index] = backend.client.indices.get_alias(name=es_alias).body
    query = SearchQuery(q="residents protest closure", limit=50)
    assert sorted(h.id for h in backend.search(query).hits) == in_tantivy  # both engines find the same

    seen: list[int] = []
    failures: list[BaseException] = []
    searching, stop = threading.Event(), threading.Event()

    def search_continuously() -> None:
        while not stop.is_set():
            try:
                seen.append(backend.search(query).total)
            except Exception as error:  # noqa: BLE001 - any failure is what this test looks for
                failures.append(error)
            searching.set()

    searcher = threading.Thread(target=search_continuously)
    searcher.start()
    try:
        assert searching.wait(60), "the searching thread never finished a search"
        second = run_cli(env, "reindex")
        during = len(seen)
    finally:
        stop.set()
        searcher.join()
    assert second.returncode == 0, second.stderr
    assert failures == [] and during and set(seen) == {len(in_tantivy)}  # never an empty or half index
    [new_index] = backend.client.indices.get_alias(name=es_alias).body
    assert new_index != old_index and not backend.client.indices.exists(index=old_index)
    assert sorted(h.id for h in backend.search(query).hits) == in_tantivy
    backend.close()


def test_reindex_survives_a_search_node_restart(copy, es_service, es_alias):
    import threading

    from search import open_search
    from tools.es_compat import CompatProxy

    if es_service.engine is None:
        pytest.skip("restarting a node needs the engine this session started, not ELASTICSEARCH_URL's")
    engine = es_service.engine
    settings, env = copy
    total = catalog.connect(settings.catalog_path).execute("SELECT count(*) FROM captures WHERE indexed = 1"
                                                           ).fetchone()[0]
    starting: list[threading.Thread] = []
    start_failures: list[BaseException] = []

    def start_again() -> None:
        try:
            engine.start()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            start_failures.append(error)

    def restart_under_the_second_bulk(number: int) -> None:
        # The node goes down under this request and comes back while reindex waits for it.
        if number == 2:
            engine.stop()
            starting.append(threading.Thread(target=start_again))
            starting[0].start()

    with CompatProxy(engine.url, before_bulk=restart_under_the_second_bulk) as proxy:
        env = _es_env(env, proxy.url, es_alias)
        proc = run_cli(env, "reindex", "--batch", "1", timeout=900)
        for thread in starting:
            thread.join()
    assert starting, f"reindex sent fewer than two bulk requests: no restart happened under it; {proc.stdout}"
    assert start_failures == []
    assert proc.returncode == 0, proc.stderr
    assert f"index: {total} document(s)" in proc.stdout
    with open_search(Settings.from_env(_es_env(env, es_service.url, es_alias))) as backend:
        assert backend.count() == total
