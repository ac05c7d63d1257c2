"""The re-capture scheduler on a real catalog: due selection, jitter, politeness, the cap, restarts.

Part of the catalog conformance suite: tests taking ``db`` or ``settings`` run on SQLite and PostgreSQL."""
from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from archive import catalog
from archive.capturing import jobs
from archive.catalog import from_iso, to_iso
from archive.watches.scheduler import (
    DUE_SQL,
    HOST_SLOTS_SQL,
    PENDING_SQL,
    next_due,
    schedule_due,
    start_scheduler_thread,
)
from archive.watches.watchlist import add_watch

from .conftest import ROOT
from .postgres import sqlite_only
from .waiting import wait_until
from .webapp import make_settings

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path, database_url):
    return make_settings(tmp_path / "home", watch_jitter="0.1", watch_host_delay="10", watch_max_pending="20",
                         database_url=database_url)


@pytest.fixture
def db(settings):
    conn = catalog.connect(settings.catalog_location)
    yield conn
    conn.close()


def watch(db, url: str, every: int = 3600, due: datetime = T0 - timedelta(minutes=1)) -> int:
    return add_watch(db, url, every, first_due=to_iso(due))


def job_rows(db) -> list[dict]:
    return [dict(r) for r in db.execute("SELECT * FROM jobs ORDER BY id")]


def plan(db, sql: str, args: tuple) -> list[str]:
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args)]


@sqlite_only  # SQLite's query plans; bench/scale.py times the query on PostgreSQL
def test_due_selection_is_one_indexed_query(db):
    for i in range(2000):
        watch(db, f"https://site{i % 50}.kg/{i}", due=T0 + timedelta(minutes=i - 1000))
    db.execute("ANALYZE")
    steps = plan(db, DUE_SQL, (to_iso(T0), 20))
    assert any("watches_due" in s and s.startswith("SEARCH w") for s in steps), steps
    assert not any(s.startswith("SCAN") or "TEMP B-TREE" in s for s in steps), steps  # no full scan, no sort
    for sql in (PENDING_SQL, HOST_SLOTS_SQL):
        assert any("jobs_status" in s for s in plan(db, sql, ())), plan(db, sql, ())
        assert not any(s.startswith("SCAN") for s in plan(db, sql, ())), plan(db, sql, ())
    # And it takes the due ones, oldest first.
    rows = db.execute(DUE_SQL, (to_iso(T0), 5)).fetchall()
    assert [r["next_due"] for r in rows] == [to_iso(T0 + timedelta(minutes=m)) for m in range(-1000, -995)]


def test_next_due_jitter_stays_within_bounds():
    rng = random.Random(3)
    offsets = [(next_due(T0, 3600, 0.1, rng) - T0).total_seconds() for _ in range(2000)]
    assert all(3240 <= s <= 3960 for s in offsets)
    assert min(offsets) < 3300 and max(offsets) > 3900  # it does spread over the whole range
    assert next_due(T0, 3600, 0.0, rng) == T0 + timedelta(hours=1)


def test_a_round_queues_due_watches_and_moves_them_on(db, settings):
    due_a = watch(db, "https://kloop.kg/a", every=3600)
    due_b = watch(db, "https://rus.azattyk.org/b", every=86400, due=T0)  # due exactly now counts
    later = watch(db, "https://kloop.kg/later", due=T0 + timedelta(seconds=1))
    queued = schedule_due(db, settings, now=T0, rng=random.Random(1))
    assert len(queued) == 2
    rows = job_rows(db)
    assert [(r["url"], r["watch_id"], r["status"], r["vantage"]) for r in rows] == [
        ("https://kloop.kg/a", due_a, "queued", "direct"), ("https://rus.azattyk.org/b", due_b, "queued", "direct")]
    for watch_id, every in ((due_a, 3600), (due_b, 86400)):
        row = db.execute("SELECT * FROM watches WHERE id = ?", (watch_id,)).fetchone()
        assert row["last_job_id"] in queued
        assert 0.9 * every <= (from_iso(row["next_due"]) - T0).total_seconds() <= 1.1 * every
    assert db.execute("SELECT last_job_id FROM watches WHERE id = ?", (later,)).fetchone()[0] is None


def test_same_host_jobs_are_spaced_other_hosts_are_not(db, settings):
    for i in range(3):
        watch(db, f"https://kloop.kg/{i}", due=T0 - timedelta(minutes=10 - i))
    watch(db, "https://rus.azattyk.org/x", due=T0 - timedelta(minutes=5))
    watch(db, "https://24.kg/y", due=T0 - timedelta(minutes=4))
    schedule_due(db, settings, now=T0)
    starts = {r["url"]: from_iso(r["not_before"]) for r in job_rows(db)}
    assert [starts[f"https://kloop.kg/{i}"] - T0 for i in range(3)] == [timedelta(seconds=s) for s in (0, 10, 20)]
    assert starts["https://rus.azattyk.org/x"] == T0 and starts["https://24.kg/y"] == T0

    # A later round continues after the host's last pending job, not from now.
    watch(db, "https://kloop.kg/3", due=T0)
    watch(db, "https://24.kg/z", due=T0)
    schedule_due(db, settings, now=T0 + timedelta(seconds=5))
    starts = {r["url"]: from_iso(r["not_before"]) for r in job_rows(db)}
    assert starts["https://kloop.kg/3"] == T0 + timedelta(seconds=30)
    assert starts["https://24.kg/z"] == T0 + timedelta(seconds=10)


def test_pending_cap_and_no_doubling(db, settings):
    for i in range(30):
        watch(db, f"https://site{i}.kg/", every=60, due=T0 - timedelta(seconds=30 - i))
    user_job = jobs.enqueue(db, "https://kloop.kg/user")  # a person's capture does not count against the cap
    first = schedule_due(db, settings, now=T0)
    assert len(first) == 20
    assert schedule_due(db, settings, now=T0 + timedelta(hours=1)) == []  # full: nothing more, nothing twice

    # Five captures finish; five slots open. The 20 watches whose jobs still wait are due
    # again, but are skipped: the five go to the watches that have not had a turn.
    finished = []
    for _ in range(6):
        finished.append(jobs.claim(db, "tests:1")["id"])
        jobs.finish(db, finished[-1], None)
    assert user_job in finished
    later = T0 + timedelta(hours=1)
    second = schedule_due(db, settings, now=later)
    assert len(second) == 5
    urls = [jobs.get_job(db, j)["url"] for j in second]
    assert urls == [f"https://site{i}.kg/" for i in range(20, 25)]
    per_watch = db.execute("SELECT watch_id, count(*) FROM jobs WHERE status IN ('queued', 'running')"
                           " AND watch_id IS NOT NULL GROUP BY watch_id HAVING count(*) > 1").fetchall()
    assert per_watch == []


def test_a_watch_whose_capture_is_pending_is_skipped_until_it_ran(db, settings):
    watch_id = watch(db, "https://kloop.kg/", every=60)
    [first] = schedule_due(db, settings, now=T0)
    assert schedule_due(db, settings, now=T0 + timedelta(hours=2)) == []  # due again, but still queued
    jobs.claim(db, "tests:1")
    assert schedule_due(db, settings, now=T0 + timedelta(hours=2)) == []  # running
    jobs.fail(db, first, "net::ERR_TIMED_OUT", max_attempts=1)
    [second] = schedule_due(db, settings, now=T0 + timedelta(hours=2))
    assert jobs.get_job(db, second)["watch_id"] == watch_id


def test_removed_watches_are_not_scheduled(db, settings):
    from archive.watches.watchlist import remove_watch

    remove_watch(db, watch(db, "https://kloop.kg/gone"))
    assert schedule_due(db, settings, now=T0) == []


def test_restart_neither_loses_nor_doubles(db, settings):
    for i in range(8):
        watch(db, f"https://site{i}.kg/", due=T0 - timedelta(minutes=8 - i))
    assert len(schedule_due(db, settings, now=T0)) == 8
    db.close()
    again = catalog.connect(settings.catalog_location)  # as a restarted process would
    assert schedule_due(again, settings, now=T0) == []
    assert again.execute("SELECT count(*) FROM jobs").fetchone()[0] == 8
    again.close()


@sqlite_only  # the failure is made by a SQLite trigger
def test_a_failure_inside_a_watch_transaction_leaves_it_due(db, settings):
    ids = [watch(db, f"https://site{i}.kg/", due=T0 - timedelta(minutes=5 - i)) for i in range(5)]
    # The third watch's job cannot be written: its watch must not move on without it.
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON jobs WHEN NEW.url = 'https://site2.kg/'"
               " BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    with pytest.raises(Exception, match="disk says no"):
        schedule_due(db, settings, now=T0)
    assert [r["url"] for r in job_rows(db)] == ["https://site0.kg/", "https://site1.kg/"]
    third = db.execute("SELECT next_due, last_job_id FROM watches WHERE id = ?", (ids[2],)).fetchone()
    assert (third["next_due"], third["last_job_id"]) == (to_iso(T0 - timedelta(minutes=3)), None)
    db.execute("DROP TRIGGER refuse")
    schedule_due(db, settings, now=T0)
    assert sorted(r["url"] for r in job_rows(db)) == [f"https://site{i}.kg/" for i in range(5)]


KILLED_MIDWAY = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime
    from archive import catalog
    from archive.watches.scheduler import schedule_due
    from archive.settings import Settings

    settings = Settings.from_env()
    db = catalog.connect(settings.catalog_path)
    # Die like a killed process, right after the 40th job is written and before its
    # watch is moved on and the transaction committed.
    db.create_function("die_at", 1, lambda job_id: os.kill(os.getpid(), signal.SIGKILL) if job_id == 40 else 0)
    db.execute("CREATE TEMP TRIGGER crash AFTER INSERT ON main.jobs BEGIN SELECT die_at(NEW.id); END")
    schedule_due(db, settings, now=datetime.fromisoformat(sys.argv[1]))
    print("finished without being killed")
""")


@sqlite_only  # the kill comes from a SQLite trigger calling Python
def test_a_process_killed_mid_round_neither_loses_nor_doubles(db, settings, tmp_path):
    for i in range(100):
        watch(db, f"https://site{i}.kg/", due=T0 - timedelta(seconds=100 - i))
    env = {"ARCHIVE_HOME": str(settings.archive_home), "WATCH_MAX_PENDING": "1000", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", KILLED_MIDWAY, T0.isoformat()], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stdout + proc.stderr
    rows = job_rows(db)
    assert len(rows) == 39  # the 40th was rolled back with its transaction
    moved = db.execute("SELECT count(*) FROM watches WHERE last_job_id IS NOT NULL").fetchone()[0]
    assert moved == 39
    wide = make_settings(settings.archive_home, watch_max_pending="1000")
    schedule_due(db, wide, now=T0)
    counts = db.execute("SELECT count(*), count(DISTINCT watch_id) FROM jobs").fetchone()
    assert tuple(counts) == (100, 100)  # every watch has exactly one job


def test_claim_skips_jobs_not_yet_due(db):
    now = datetime.now(UTC)
    later = jobs.enqueue(db, "https://kloop.kg/later", watch_id=1, not_before=to_iso(now + timedelta(hours=1)))
    plain = jobs.enqueue(db, "https://kloop.kg/now")
    ready = jobs.enqueue(db, "https://kloop.kg/ready", watch_id=2, not_before=to_iso(now - timedelta(seconds=1)))
    assert jobs.claim(db, "tests:1")["id"] == plain
    assert jobs.claim(db, "tests:1")["id"] == ready
    assert jobs.claim(db, "tests:1") is None
    assert jobs.get_job(db, later)["status"] == "queued"
    db.execute("UPDATE jobs SET not_before = ? WHERE id = ?", (to_iso(now - timedelta(seconds=1)), later))
    assert jobs.claim(db, "tests:1")["id"] == later


def test_scheduler_thread_queues_due_watches(db, settings):
    watch_id = add_watch(db, "https://kloop.kg/", 3600)
    thread, stop = start_scheduler_thread(settings, interval=0.05)
    try:
        wait_until(lambda: db.execute("SELECT count(*) FROM jobs").fetchone()[0], "the thread to run a round")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert [(r["watch_id"], r["status"]) for r in job_rows(db)] == [(watch_id, "queued")]


@sqlite_only
def test_recent_starts_are_one_indexed_query(db):
    steps = plan(db, jobs.RECENT_STARTS_SQL, (to_iso(T0),))
    assert any("jobs_watch_started" in s for s in steps), steps
    assert not any(s.startswith("SCAN j") for s in steps), steps


def test_host_delay_is_kept_from_the_last_start_over_many_rounds(tmp_path):
    """Issue 23 point 13: watches on one host coming due in different rounds, each capture quick.
    Measured only against pending jobs, the next one started a round after the last, under the delay."""
    delay = 0.5
    settings = make_settings(tmp_path / "home", watch_jitter="0", watch_host_delay=str(delay))
    db = catalog.connect(settings.catalog_path)
    now = datetime.now(UTC)
    for i in range(6):  # due a little apart, closer than the delay
        watch(db, f"https://kloop.kg/{i}", due=now + timedelta(seconds=0.15 * i))
    watch(db, "https://rus.azattyk.org/other", due=now)  # another host is not held back

    def round_then_quick_captures() -> bool:
        schedule_due(db, settings)
        while (job := jobs.claim(db, "tests:1")) is not None:  # a worker that is never late
            jobs.fail(db, job["id"], "not captured in this test", max_attempts=1, retry=False)
        return db.execute("SELECT count(*) FROM jobs WHERE started_at IS NOT NULL").fetchone()[0] == 7

    wait_until(round_then_quick_captures, "every watch's capture to start", timeout=120, seen=lambda: job_rows(db))
    starts = [from_iso(r[0]) for r in db.execute(
        "SELECT j.started_at FROM jobs j JOIN watches w ON w.id = j.watch_id WHERE w.host = 'kloop.kg'"
        " ORDER BY j.started_at")]
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    assert len(gaps) == 5 and min(gaps) >= delay, gaps


def test_a_scheduled_job_claimed_too_soon_after_its_hosts_last_start_waits(db):
    a_watch, b_watch = watch(db, "https://kloop.kg/a"), watch(db, "https://kloop.kg/b")
    other_watch = watch(db, "https://rus.azattyk.org/c")
    for watch_id, url in ((a_watch, "https://kloop.kg/a"), (b_watch, "https://kloop.kg/b"),
                          (other_watch, "https://rus.azattyk.org/c")):
        jobs.enqueue(db, url, watch_id=watch_id)
    a, b, other = (jobs.claim(db, "tests:1") for _ in range(3))  # a worker was late: all start at once
    assert jobs.too_soon_after(db, a, 10) is None  # the first start on the host goes ahead
    assert jobs.too_soon_after(db, b, 10) == from_iso(a["started_at"]) + timedelta(seconds=10)
    assert jobs.too_soon_after(db, other, 10) is None  # another host
    assert jobs.too_soon_after(db, jobs.get_job(db, jobs.enqueue(db, "https://kloop.kg/user")), 10) is None
