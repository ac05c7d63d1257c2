"""The crawl frontier in a real catalog, without a browser: how it feeds the job queue (politeness,
limits), pause / resume / cancel, and that a URL is one row per crawl however often it is met."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from archive import catalog
from archive.capturing import jobs
from archive.catalog import from_iso, transaction
from archive.crawls.frontier import (
    CrawlError,
    CrawlSpec,
    add_urls,
    change_state,
    create_crawl,
    feed,
    finish_if_done,
    get_crawl,
    progress,
    reconcile,
    validate,
)
from crawler.netpolicy import normalize_url

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path):
    conn = catalog.connect(tmp_path / "catalog.sqlite3")
    yield conn
    conn.close()


def running_crawl(db, **spec) -> dict:
    crawl_id = create_crawl(db, CrawlSpec(seeds=("http://kloop.kg/",), **spec))
    db.execute("UPDATE crawls SET state = 'running', started_at = ? WHERE id = ?", (catalog.to_iso(NOW), crawl_id))
    with transaction(db):
        add_urls(db, crawl_id, [(f"http://kloop.kg/a{i}/", 0, "sitemap", "pending", None, None) for i in range(6)]
                 + [(f"http://ru.kloop.kg/b{i}/", 1, "link", "pending", None, None) for i in range(3)])
    return get_crawl(db, crawl_id)


def queued_jobs(db, crawl_id: int) -> list[dict]:
    return [dict(r) for r in db.execute("SELECT * FROM jobs WHERE crawl_id = ? AND status = 'queued' ORDER BY id",
                                        (crawl_id,))]


def test_feed_keeps_per_host_concurrency_and_delay(db):
    crawl = running_crawl(db, host_delay=2.0, host_concurrency=2)
    assert feed(db, crawl, now=NOW) == 4  # two per host
    queued = queued_jobs(db, crawl["id"])
    by_host: dict[str, list] = {}
    for job in queued:
        by_host.setdefault(job["url"].split("/")[2], []).append(job["not_before"])
    assert sorted(by_host) == ["kloop.kg", "ru.kloop.kg"] and all(len(v) == 2 for v in by_host.values())
    for starts in by_host.values():  # the first may start now, the second a delay later
        assert starts[0] is None and from_iso(starts[1]) == NOW + timedelta(seconds=2)
    assert feed(db, crawl, now=NOW) == 0  # hosts full: nothing more until a job ends
    # Depth first: the seeds' own pages before links found on them.
    assert [j["url"] for j in queued if "kloop.kg/a" in j["url"]] == ["http://kloop.kg/a0/", "http://kloop.kg/a1/"]


def test_a_url_is_one_row_however_often_it_is_met(db):
    crawl = running_crawl(db)
    with transaction(db):
        assert add_urls(db, crawl["id"], [("http://kloop.kg/a0/", 3, "link", "pending", None, 1)]) == 0
        add_urls(db, crawl["id"], [("http://kloop.kg/a1/", 0, "sitemap", "pending", None, None)], listed=True)
    rows = {r[0]: (r[1], r[2]) for r in db.execute("SELECT url, depth, listed FROM crawl_urls WHERE crawl_id = ?",
                                                   (crawl["id"],))}
    assert rows["http://kloop.kg/a0/"] == (0, 0) and rows["http://kloop.kg/a1/"] == (0, 1)
    assert len(rows) == 9


def test_pause_takes_jobs_off_the_queue_and_resume_feeds_them_again(db):
    crawl = running_crawl(db, host_concurrency=3, host_delay=0)
    feed(db, crawl, now=NOW)
    claimed = jobs.claim(db, "w:1")  # one is running when the crawl is paused: it finishes
    change_state(db, crawl["id"], "pause")
    assert queued_jobs(db, crawl["id"]) == []
    assert progress(db, crawl["id"])["by_state"]["queued"] == 1  # the running one
    assert feed(db, get_crawl(db, crawl["id"]), now=NOW) == 0
    change_state(db, crawl["id"], "resume")
    assert get_crawl(db, crawl["id"])["state"] == "running"
    with pytest.raises(CrawlError, match="only a paused crawl can be resumed"):
        change_state(db, crawl["id"], "resume")
    assert feed(db, get_crawl(db, crawl["id"]), now=NOW) == 5  # 3 + 3 per host, less the running one
    jobs.fail(db, claimed["id"], "boom", max_attempts=1)
    reconcile(db, crawl["id"])
    failed = db.execute("SELECT state, reason FROM crawl_urls WHERE job_id = ?", (claimed["id"],)).fetchone()
    assert tuple(failed) == ("failed", "boom")
    change_state(db, crawl["id"], "cancel")
    assert queued_jobs(db, crawl["id"]) == [] and get_crawl(db, crawl["id"])["state"] == "cancelled"
    with pytest.raises(CrawlError, match="crawl 1 is cancelled; only a queued or running crawl can be paused"):
        change_state(db, crawl["id"], "pause")
    with pytest.raises(CrawlError, match="already cancelled"):
        change_state(db, crawl["id"], "cancel")


def test_page_limit_stops_feeding_and_ends_the_crawl(db):
    crawl = running_crawl(db, max_pages=2, host_concurrency=5, host_delay=0)
    assert feed(db, crawl, now=NOW) == 2
    for job in queued_jobs(db, crawl["id"]):
        db.execute("UPDATE crawl_urls SET state = 'captured' WHERE job_id = ?", (job["id"],))
        db.execute("UPDATE jobs SET status = 'done' WHERE id = ?", (job["id"],))
    assert feed(db, crawl, now=NOW) == 0
    assert finish_if_done(db, crawl, now=NOW) == "page limit of 2 reached"
    assert get_crawl(db, crawl["id"])["stop_reason"] == "page limit of 2 reached"


def test_time_limit_ends_a_crawl_and_unqueues_its_jobs(db):
    crawl = running_crawl(db, max_seconds=60, host_delay=0)
    feed(db, crawl, now=NOW)
    assert finish_if_done(db, crawl, now=NOW + timedelta(seconds=30)) is None
    assert finish_if_done(db, crawl, now=NOW + timedelta(seconds=61)) == "time limit"
    assert queued_jobs(db, crawl["id"]) == [] and get_crawl(db, crawl["id"])["state"] == "done"


@pytest.mark.parametrize("spec, words", [
    (dict(seeds=()), "at least one seed"),
    (dict(seeds=("http://kloop.kg/",), scope="site"), "scope 'site' is not one of"),
    (dict(seeds=("http://kloop.kg/",), exclude="[a-"), "--exclude '[a-' is not a regular expression"),
    (dict(seeds=("http://kloop.kg/",), host_concurrency=0), "--host-concurrency must be at least 1"),
    (dict(seeds=("http://kloop.kg/",), ignore_robots=True), "needs --robots-reason"),
    (dict(seeds=("javascript:alert(1)",)), "seed javascript:alert(1): only http and https"),
])
def test_bad_specs_are_refused_naming_the_fix(spec, words):
    with pytest.raises(CrawlError, match=re.escape(words)):
        validate(CrawlSpec(**spec), lambda url: normalize_url(url))


def test_a_scheduled_recrawl_starts_when_due_and_waits_for_the_last(db):
    from archive.crawls.schedule import schedule_recrawls, start_due_recrawls

    crawl = running_crawl(db)
    schedule_recrawls(db, crawl["id"], 3600, now=NOW)
    check = normalize_url
    assert start_due_recrawls(db, check, now=NOW + timedelta(minutes=30)) == []  # not due yet
    assert start_due_recrawls(db, check, now=NOW + timedelta(hours=2)) == []  # due, but the crawl still runs
    change_state(db, crawl["id"], "cancel")
    [again] = start_due_recrawls(db, check, now=NOW + timedelta(hours=2))
    recrawl = get_crawl(db, again)
    assert recrawl["previous_crawl_id"] == crawl["id"] and recrawl["state"] == "queued"
    assert recrawl["seeds"] == crawl["seeds"] and recrawl["scope"] == crawl["scope"]
    assert start_due_recrawls(db, check, now=NOW + timedelta(hours=2)) == []  # moved on by its interval
