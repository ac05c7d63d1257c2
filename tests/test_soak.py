"""The multi-worker soak (issue 22 point 5): 200 capture jobs, three worker processes sharing one
PostgreSQL catalog, one of them killed with SIGKILL mid-run and started again.

Every job must end `done` exactly once with one capture; every record the catalog names must be in
the WARC files once and `verify` must be clean. The only WARC records no capture names are those of
the captures the killed worker had in hand (written before it died, never committed).

Slow by nature (real Chromium in four processes): marked ``soak``, so `-m "not soak"` leaves it out
and `--durations` shows its time. The WARC store comes from the ``warc_store`` fixture: local disk
here; an object store plugs in there.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive import catalog
from archive.capturing import jobs

from .conftest import ROOT, run_cli
from .sites import send
from .waiting import wait_until

JOBS = 200
WORKERS = 3
CONCURRENCY = 2


@dataclass
class WarcStore:
    """Where the workers keep WARC files: the settings that say so, and the files to read back."""

    env: dict[str, str] = field(default_factory=dict)
    folder: Path | None = None

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.warc.gz"))


@pytest.fixture
def warc_store(env) -> WarcStore:
    """Local disk: ARCHIVE_HOME/warcs, shared by the workers of this machine."""
    return WarcStore({}, Path(env["ARCHIVE_HOME"]) / "warcs")


@pytest.fixture(scope="module")
def soak_pages(site) -> list[str]:
    """Small pages, one per job, with nothing else to fetch."""
    urls = []
    for i in range(JOBS):
        body = f"<!doctype html><title>Soak {i}</title><p>Page {i} of the soak.</p>".encode()
        site.routes[f"/soak/{i}"] = lambda h, body=body: send(h, 200, body)
        urls.append(f"http://news.example.com/soak/{i}")
    return urls


class Worker:
    def __init__(self, env: dict, n: int):
        log = Path(env["ARCHIVE_HOME"]) / f"worker-{n}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log
        with log.open("a") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "archive", "worker", "--no-scheduler"], env=env,
                                         cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    @property
    def name(self) -> str:
        return f"{jobs.worker_name().rpartition(':')[0]}:{self.proc.pid}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.soak
@pytest.mark.timeout(1500)
def test_three_workers_one_killed_every_job_done_once(env, postgres_catalog, soak_pages, warc_store):
    env = env | warc_store.env | {
        "DATABASE_URL": postgres_catalog, "CAPTURE_CONCURRENCY": str(CONCURRENCY), "CAPTURE_NICE": "0",
        "JOB_HEARTBEAT_SECONDS": "1", "JOB_LEASE_SECONDS": "120", "CAPTURE_SETTLE_TIMEOUT": "1",
        "CAPTURE_SCROLL_STEPS": "1", "CAPTURE_MAX_ATTEMPTS": "3"}
    db = catalog.connect(postgres_catalog)
    ids = [jobs.enqueue(db, url) for url in soak_pages]
    workers = [Worker(env, n) for n in range(WORKERS)]

    def state() -> str:
        return f"{jobs.counts(db)}; last worker log:\n{workers[-1].log()}"

    try:
        victim = workers[0]
        # Mid-run: a fifth of the jobs done, and the victim in the middle of a capture.
        wait_until(lambda: jobs.counts(db).get("done", 0) >= JOBS // 5 and db.execute(
            "SELECT count(*) FROM jobs WHERE status = 'running' AND worker = ?", (victim.name,)).fetchone()[0],
            "a fifth of the jobs done and the first worker capturing", timeout=900, seen=state)
        in_hand = [r[0] for r in db.execute("SELECT id FROM jobs WHERE status = 'running' AND worker = ?",
                                            (victim.name,))]
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait()
        workers.append(Worker(env, WORKERS))  # started again
        wait_until(lambda: jobs.counts(db).get("done", 0) == JOBS, "every job done", timeout=1200, seen=state)
    finally:
        for w in workers:
            w.stop()

    rows = db.execute("SELECT id, status, capture_id, attempts FROM jobs ORDER BY id").fetchall()
    assert [r["id"] for r in rows] == ids and {r["status"] for r in rows} == {"done"}
    captures = db.execute("SELECT id, job_id, url FROM captures").fetchall()
    assert Counter(c["job_id"] for c in captures) == Counter(ids)  # one capture per job, none twice
    assert {r["capture_id"] for r in rows} == {c["id"] for c in captures}
    assert {r["id"] for r in rows if r["attempts"] > 1} <= set(in_hand)  # only the killed worker's jobs ran again

    # Every cataloged record is in the WARC files exactly once, and only one capture names it (but a
    # WARC file's warcinfo record, which every capture in that file names).
    cataloged = Counter((r["warc_file"], r["record_id"])
                        for r in db.execute("SELECT warc_file, record_id FROM records WHERE role != 'warcinfo'"))
    assert max(cataloged.values()) == 1
    cataloged.update(set(tuple(r) for r in db.execute("SELECT warc_file, record_id FROM records"
                                                       " WHERE role = 'warcinfo'")))
    in_files: Counter = Counter()
    for path in warc_store.files():
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                in_files[(path.name, record.rec_headers.get_header("WARC-Record-ID"))] += 1
    assert max(in_files.values()) == 1
    assert set(cataloged) <= set(in_files), "cataloged records missing from the WARC files"
    # Records nobody names: only in the killed worker's files, from the captures it had in hand.
    stray = {name for name, _ in set(in_files) - set(cataloged)}
    assert all(f"-{victim.proc.pid}-" in name for name in stray), stray
    stray_pages = {r for r in set(in_files) - set(cataloged)}
    assert len(stray_pages) <= len(in_hand) * 12 + 1  # at most the in-hand captures' records (and a warcinfo)

    verified = run_cli(env, "verify", timeout=600)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]
    assert "all digests and catalog entries match" in verified.stdout, verified.stdout[-2000:]
    assert f"for {JOBS} captures" in verified.stdout
    db.close()
