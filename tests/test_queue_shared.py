"""The job queue and the scheduler shared by many processes, on both catalog engines (issue 22).

Leases: a job is claimed by one worker only, even when many claim at once; a worker silent past
its lease loses the job to another, and can then no longer mark it done. Scheduling: two scheduler
processes never queue a watch twice; on PostgreSQL only the one holding the advisory lock runs a round.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta

import pytest

from archive import catalog
from archive.capturing import jobs
from archive.catalog import to_iso
from archive.pgcatalog import SCHEDULER_LOCK
from archive.watches.scheduler import scheduling_round
from archive.watches.watchlist import add_watch

from .conftest import ROOT
from .webapp import make_settings

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path, database_url):
    return make_settings(tmp_path / "home", watch_jitter="0", watch_host_delay="0", watch_max_pending="1000",
                         database_url=database_url)


@pytest.fixture
def db(settings):
    conn = catalog.connect(settings.catalog_location)
    yield conn
    conn.close()


def test_workers_claiming_at_once_take_each_job_once(db, settings):
    queued = [jobs.enqueue(db, f"https://site{i}.kg/") for i in range(120)]
    taken: dict[str, list[int]] = {}
    errors: list[Exception] = []

    def worker(name: str) -> None:
        conn = catalog.connect(settings.catalog_location, migrate_schema=False)
        mine = taken.setdefault(name, [])
        try:
            while (job := jobs.claim(conn, name)) is not None:
                mine.append(job["id"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(f"elsewhere:{n}",)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    claimed = [job_id for ids in taken.values() for job_id in ids]
    assert sorted(claimed) == queued  # every job once, none twice
    rows = db.execute("SELECT worker, attempts FROM jobs WHERE status = 'running'").fetchall()
    assert len(rows) == 120 and {r["attempts"] for r in rows} == {1}


def test_a_silent_workers_lease_expires_and_another_worker_finishes_the_job(db):
    job_id = jobs.enqueue(db, "https://kloop.kg/")
    first = jobs.claim(db, "other-machine:41")  # another host: only its heartbeat says it is alive
    assert jobs.heartbeat(db, job_id, "other-machine:41")
    assert jobs.recover(db, max_attempts=3, stale_after=60) == []  # it beat just now: still its job
    silent = to_iso(datetime.now(UTC) - timedelta(seconds=120))
    db.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ?", (silent, job_id))
    assert jobs.recover(db, max_attempts=3, stale_after=60) == [job_id]
    assert jobs.recover(db, max_attempts=3, stale_after=60) == []  # handed back once, not twice
    second = jobs.claim(db, "other-machine:42")
    assert (second["id"], second["attempts"]) == (job_id, 2)
    assert "other-machine:41 stopped" in jobs.get_job(db, job_id)["error"]
    # The first worker comes back: it can neither renew the lease nor store its capture.
    assert not jobs.heartbeat(db, job_id, first["worker"])
    with pytest.raises(jobs.LeaseLost, match="taken over"), catalog.transaction(db):
        jobs.finish(db, job_id, None, first["worker"])
    jobs.finish(db, job_id, None, second["worker"])
    done = jobs.get_job(db, job_id)
    assert (done["status"], done["attempts"], done["error"]) == ("done", 2, None)


def test_a_lease_expired_on_its_last_attempt_fails_the_job(db):
    job_id = jobs.enqueue(db, "https://kloop.kg/")
    jobs.claim(db, "other-machine:41")
    db.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ?", (to_iso(T0), job_id))
    assert jobs.recover(db, max_attempts=1, stale_after=60) == [job_id]
    failed = jobs.get_job(db, job_id)
    assert (failed["status"], failed["finished_at"] is not None) == ("failed", True)
    assert jobs.claim(db, "other-machine:42") is None


SCHEDULER = textwrap.dedent("""
    import sys
    from datetime import datetime
    from archive import catalog
    from archive.settings import Settings
    from archive.watches.scheduler import scheduling_round

    settings = Settings.from_env()
    db = catalog.connect(settings.catalog_location)
    now = datetime.fromisoformat(sys.argv[1])
    rounds = [scheduling_round(db, settings, now) for _ in range(int(sys.argv[2]))]
    print(sum(len(r) for r in rounds if r), sum(r is None for r in rounds))
""")


def test_two_scheduler_processes_never_queue_a_watch_twice(db, settings):
    ids = [add_watch(db, f"https://site{i % 40}.kg/{i}", 3600, first_due=to_iso(T0 - timedelta(seconds=i)))
           for i in range(300)]
    env = {"ARCHIVE_HOME": str(settings.archive_home), "DATABASE_URL": settings.database_url,
           "WATCH_MAX_PENDING": "1000", "WATCH_HOST_DELAY": "0", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", SCHEDULER, T0.isoformat(), "5"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    queued = [int(out.split()[0]) for out, _ in outputs]
    assert sum(queued) == 300, outputs
    per_watch = db.execute("SELECT watch_id, count(*) FROM jobs GROUP BY watch_id").fetchall()
    assert sorted(r[0] for r in per_watch) == ids and {r[1] for r in per_watch} == {1}


@pytest.mark.parametrize("catalog_engine", ["postgresql"])
def test_a_scheduler_skips_its_round_while_another_holds_the_lock(db, settings):
    add_watch(db, "https://kloop.kg/", 3600, first_due=to_iso(T0))
    other = catalog.connect(settings.catalog_location, migrate_schema=False)
    try:
        with other.only_one(SCHEDULER_LOCK) as held:
            assert held
            assert scheduling_round(db, settings, T0) is None  # the other process is scheduling
            assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    finally:
        other.close()  # its lock goes with it (so it would with a killed process's session)
    assert len(scheduling_round(db, settings, T0)) == 1
