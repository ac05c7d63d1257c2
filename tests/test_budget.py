"""The daily byte budget per host: real captures counted into host_bytes, submissions for a host over
budget refused (API, form, bulk, outlinks) with when it resets, and a watch over budget postponed."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import lxml.html
import pytest

from archive import catalog
from archive.capturing import budget, jobs
from archive.capturing.budget import OverBudget, add_bytes, bytes_today, check_budget, next_reset
from archive.capturing.outlinks import choose_outlinks
from archive.capturing.worker import capture_now, run_worker
from archive.settings import Settings
from archive.staff.tokens import create_token
from archive.urlcheck import url_checker
from archive.watches.scheduler import schedule_due
from archive.watches.watchlist import add_watch

from .webapp import ArchiveBuilder, LiveServer, make_settings

NOON = datetime(2024, 4, 18, 12, 0, tzinfo=UTC)


def test_bytes_add_up_per_host_and_day(archive_builder):
    db = archive_builder.db
    add_bytes(db, "kloop.kg", 700, NOON)
    add_bytes(db, "KLOOP.kg", 300, NOON + timedelta(hours=11))
    add_bytes(db, "kloop.kg", 5, NOON + timedelta(days=1))  # the next UTC day starts afresh
    add_bytes(db, "rus.azattyk.org", 0, NOON)  # nothing captured: no row
    assert bytes_today(db, "kloop.kg", NOON) == 1000
    assert bytes_today(db, "kloop.kg", NOON + timedelta(days=1)) == 5
    assert db.execute("SELECT count(*) FROM host_bytes").fetchone()[0] == 2
    check_budget(db, "https://kloop.kg/a", 1001, NOON)  # under: passes
    with pytest.raises(OverBudget) as caught:
        check_budget(db, "https://kloop.kg/a", 1000, NOON)  # at the limit: refused
    assert caught.value.resets_at == datetime(2024, 4, 19, tzinfo=UTC) == next_reset(NOON)
    assert "kloop.kg" in str(caught.value) and "resets at 2024-04-19 00:00 UTC" in str(caught.value)
    assert caught.value.retry_after(NOON) == 12 * 3600 + 1


def test_a_capture_counts_its_bytes_against_its_host(settings, site):
    row = capture_now(settings, "http://news.example.com/")
    assert row["bytes"] and row["bytes"] > 1000
    db = catalog.connect(settings.catalog_path)
    assert bytes_today(db, "news.example.com") == row["bytes"]
    second = capture_now(settings, "http://news.example.com/gallery.html")
    assert bytes_today(db, "news.example.com") == row["bytes"] + second["bytes"]


@pytest.fixture
def spent(tmp_path):
    """An app whose budget for kloop.kg is used up today."""
    settings = make_settings(tmp_path / "home", host_daily_bytes="1000")
    builder = ArchiveBuilder(settings)
    add_bytes(builder.db, "kloop.kg", 1000)
    with LiveServer(settings) as server:
        yield server, builder
    builder.close()


def seconds_to_midnight() -> float:
    return (budget.next_reset() - datetime.now(UTC)).total_seconds()


def test_submissions_for_a_spent_host_are_refused_with_the_reset(spent):
    server, builder = spent
    r = server.post("/api/captures", json={"url": "https://kloop.kg/news"})
    assert r.status_code == 429 and r.headers["Content-Type"] == "application/json"
    assert "kloop.kg has used up today's capture budget" in r.json()["error"] and "resets at" in r.json()["error"]
    assert abs(int(r.headers["Retry-After"]) - seconds_to_midnight()) < 5
    form = server.post_form("/submit", data={"url": "https://kloop.kg/news"})
    assert form.status_code == 429 and int(form.headers["Retry-After"]) > 0
    doc = lxml.html.fromstring(form.text)
    assert "resets at" in doc.get_element_by_id("url-error").text_content()
    assert doc.get_element_by_id("url").get("value") == "https://kloop.kg/news"
    assert sum(jobs.counts(builder.db).values()) == 0
    # Another host is not affected, and one bad host does not sink a bulk submission.
    assert server.post("/api/captures", json={"url": "https://rus.azattyk.org/a/1.html"}).status_code == 202
    _, secret = create_token(builder.db, "bot")
    bulk = server.post("/api/captures/bulk", headers={"Authorization": f"Bearer {secret}"},
                       json={"urls": ["https://kloop.kg/a", "https://rus.azattyk.org/a/2.html"]})
    assert bulk.status_code == 207
    spent_item, ok_item = bulk.json()["results"]
    assert spent_item["code"] == 429 and "resets at" in spent_item["error"] and spent_item["retry_after"] > 0
    assert ok_item["code"] == 202 and ok_item["job"]["url"] == "https://rus.azattyk.org/a/2.html"
    assert [j["url"] for j in builder.db.execute("SELECT url FROM jobs ORDER BY id")] == [
        "https://rus.azattyk.org/a/1.html", "https://rus.azattyk.org/a/2.html"]


def test_outlinks_to_a_spent_host_are_not_chosen(tmp_path):
    settings = make_settings(tmp_path / "home", host_daily_bytes="1000")
    db = catalog.connect(settings.catalog_path)
    add_bytes(db, "kloop.kg", 5000)
    dom = ('<a href="https://kloop.kg/one">spent</a><a href="https://rus.azattyk.org/a/1.html">ok</a>'
           '<a href="https://www.kloop.kg/two">another host name</a>')
    parent = {"id": 1, "url": "https://rus.azattyk.org/", "vantage": "direct"}
    chosen = choose_outlinks(db, parent, dom, parent["url"], url_checker(settings), 10, settings.host_daily_bytes)
    assert chosen == ["https://rus.azattyk.org/a/1.html", "https://www.kloop.kg/two"]


def test_a_watch_over_budget_is_postponed_not_failed(env, settings, site):
    settings = Settings.from_env(env, host_daily_bytes="1000")
    db = catalog.connect(settings.catalog_path)
    add_bytes(db, "news.example.com", 1000)
    add_watch(db, "http://news.example.com/watched.html", every_seconds=3600)
    schedule_due(db, settings)
    watched = db.execute("SELECT * FROM jobs WHERE watch_id IS NOT NULL").fetchone()
    accepted = jobs.enqueue(db, "http://news.example.com/gallery.html")  # accepted before the budget ran out
    site.hits.clear()
    run_worker(settings, once=True)  # returns: the postponed job is not due before the reset
    job = jobs.get_job(db, watched["id"])
    assert (job["status"], job["attempts"], job["worker"]) == ("queued", 0, None)
    assert job["not_before"] == catalog.to_iso(next_reset()) and "postponed" in job["error"]
    assert "resets at" in job["error"]
    assert not [path for path, _ in site.hits if path.startswith("/watched")]  # never fetched
    assert jobs.get_job(db, accepted)["status"] == "done"  # what was accepted is still captured
    assert bytes_today(db, "news.example.com") > 1000
