"""What the public must not see through side doors (issue 23, points 3 and 4), over real HTTP and in
a real Chromium: watches of unpublished takedown orders, and captures staff took out of public view
as orders, watches and jobs show them. Staff still see all of it."""
from __future__ import annotations

from datetime import timedelta

import lxml.html
import pytest

from archive.capturing import jobs
from archive.orders.takedowns import create_takedown, set_published
from archive.removals.events import update_events
from archive.staff.users import create_user
from archive.watches.scheduler import schedule_due

from .webapp import CAPTURED_AT, ArchiveBuilder, LiveServer, csrf_token

PASSWORD = "correct horse battery staple"
URL = "https://kloop.kg/blog/2024/04/18/tiktok/"
ORDER = {"authority": "Ministry of Culture", "recipient": "Kloop Media", "country": "KG",
         "action_demanded": "remove", "urls": [URL]}


def sign_in(server: LiveServer) -> None:
    assert server.post_form("/login", {"username": "editor", "password": PASSWORD}).status_code == 303


def sign_out(server: LiveServer) -> None:
    page = server.get("/takedowns")
    assert server.post("/logout", data={"csrf_token": csrf_token(page.text)}).status_code == 303


@pytest.fixture
def editor(archive_builder: ArchiveBuilder) -> int:
    return create_user(archive_builder.db, "editor", PASSWORD)


# 3. Watches of unpublished orders.

def count_shown(server: LiveServer) -> str:
    return lxml.html.fromstring(server.get("/watches").text).get_element_by_id("count").text_content().strip()


def test_watches_of_an_unpublished_order_are_hidden_from_the_public(web_server, archive_builder, editor):
    db = archive_builder.db
    takedown_id = create_takedown(db, web_server.settings, ORDER, None, editor)
    watch_id = db.execute("SELECT id FROM watches WHERE source = ?", (f"takedown:{takedown_id}",)).fetchone()[0]

    api = web_server.get("/api/watches").json()
    assert (api["watches"], api["total"]) == ([], 0)
    assert URL not in web_server.get("/watches").text
    assert count_shown(web_server) == "0 watched URLs"
    assert web_server.get(f"/api/watches/{watch_id}").status_code == 404
    # Asking to watch the same URL neither tells that it is watched nor shows the order.
    r = web_server.post("/api/watches", json={"url": URL, "every": "6h"})
    assert r.status_code == 201 and r.json()["source"] == "web" and "takedown" not in r.text

    sign_in(web_server)  # staff see it
    assert [w["source"] for w in web_server.get("/api/watches").json()["watches"]] == [f"takedown:{takedown_id}"]
    assert URL in web_server.get("/watches").text
    sign_out(web_server)

    set_published(db, takedown_id, True, editor)  # published: its watches are public too
    api = web_server.get("/api/watches").json()
    assert [(w["id"], w["source"]) for w in api["watches"]] == [(watch_id, f"takedown:{takedown_id}")]
    assert api["total"] == 1 and URL in web_server.get("/watches").text
    assert count_shown(web_server) == "1 watched URL"
    set_published(db, takedown_id, False, editor)  # withdrawn again: hidden again
    assert web_server.get("/api/watches").json()["total"] == 0


# 4. Captures staff took out of public view.

@pytest.fixture
def hidden(web_server, archive_builder, editor):
    """A published order naming URL; URL seen ok, then 404 (a removal event), the 404 captured by the
    order's watch through a job; then staff make the 404 capture private through the moderation form."""
    db = archive_builder.db
    takedown_id = create_takedown(db, web_server.settings, ORDER | {"published": True}, None, editor)
    before = archive_builder.add(URL, "TikTok ban", ["The ban is unlawful."])
    db.execute("UPDATE captures SET outcome = 'ok' WHERE id = ?", (before,))
    (job_id,) = schedule_due(db, web_server.settings)
    assert jobs.claim(db, "tests:1")["id"] == job_id
    after = archive_builder.add(URL, "Not found", ["Page not found"], status=404,
                                captured_at=CAPTURED_AT + timedelta(days=2))
    db.execute("UPDATE captures SET outcome = 'not_found' WHERE id = ?", (after,))
    event_id = update_events(db, after, lambda vantage: None)["opened"]
    jobs.finish(db, job_id, after)

    sign_in(web_server)
    r = web_server.post_form(f"/capture/{after}/visibility", {"visibility": "private", "reason": "personal_data"},
                             form_page=f"/capture/{after}")
    assert r.status_code == 303
    sign_out(web_server)
    return {"takedown": takedown_id, "before": before, "after": after, "event": event_id, "job": job_id,
            "watch": db.execute("SELECT id FROM watches").fetchone()[0]}


def test_order_json_leaves_out_a_hidden_capture_and_its_event(web_server, hidden):
    evidence = web_server.get(f"/api/takedowns/{hidden['takedown']}").json()["evidence"]
    assert [(e["url"], e["latest"]["id"], e["removals"]) for e in evidence] == [(URL, hidden["before"], [])]


def test_watch_json_leaves_out_a_hidden_last_capture(web_server, hidden):
    for watch in (web_server.get("/api/watches").json()["watches"][0],
                  web_server.get(f"/api/watches/{hidden['watch']}").json()):
        last = watch["last"]
        assert last["job_id"] == hidden["job"] and last["status"] == "done"
        assert (last["capture_id"], last["captured_at"], last["http_status"], last["outcome"]) == (None,) * 4
    sign_in(web_server)
    assert web_server.get(f"/api/watches/{hidden['watch']}").json()["last"]["capture_id"] == hidden["after"]


def test_job_json_leaves_out_a_hidden_capture(web_server, hidden):
    job = web_server.get(f"/api/jobs/{hidden['job']}").json()
    assert job["status"] == "done" and job["capture_id"] is None
    assert "capture" not in job["links"] and "record" not in job["links"]
    assert f"/capture/{hidden['after']}" not in web_server.get(f"/jobs/{hidden['job']}").text
    sign_in(web_server)
    assert web_server.get(f"/api/jobs/{hidden['job']}").json()["capture_id"] == hidden["after"]


def test_a_visitor_sees_no_hidden_capture_on_order_watch_and_job_pages(chromium, web_server, hidden):
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{web_server.url}/takedowns/{hidden['takedown']}")
        target = page.locator("div.target")
        assert f"#{hidden['before']}" in target.inner_text() and f"#{hidden['after']}" not in target.inner_text()
        assert target.locator("strong.outcome").inner_text() == "ok"
        assert page.locator(f"a[href='/removals/{hidden['event']}']").count() == 0
        assert page.locator(f"a[href='/capture/{hidden['after']}']").count() == 0

        page.goto(f"{web_server.url}/watches")
        assert page.locator("td.url", has_text=URL).count() == 1  # the order is published: its watch is listed
        assert page.locator(f"a[href='/capture/{hidden['after']}']").count() == 0
        page.click(f"a[href='/jobs/{hidden['job']}']")  # the last job, instead of its capture
        page.wait_for_url(f"**/jobs/{hidden['job']}")
        assert "out of public view" in page.locator("#capture-withheld").inner_text()
        assert page.locator("#capture-link").count() == 0

        # Staff, signed in in this browser, still see the capture everywhere.
        page.goto(f"{web_server.url}/login")
        page.fill("#username", "editor")
        page.fill("#password", PASSWORD)
        page.click("form.stack button[type=submit]")
        page.wait_for_url("**/takedowns")
        page.goto(f"{web_server.url}/takedowns/{hidden['takedown']}")
        assert page.locator(f"a[href='/capture/{hidden['after']}']").count() >= 1
        assert page.locator(f"a[href='/removals/{hidden['event']}']").count() == 1
        page.goto(f"{web_server.url}/jobs/{hidden['job']}")
        assert page.locator("#capture-link").get_attribute("href") == f"/capture/{hidden['after']}"
    finally:
        context.close()
