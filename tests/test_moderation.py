"""Staff moderation over real HTTP: a really captured page made private, removed by us, public again.

The public gets 403/410 with the reason on every route that serves the capture (app and replay
origin), search and the removal lists lose it, staff still see it, and every change is audited.
"""
from __future__ import annotations

import os
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

import lxml.html
import pytest
import requests

from archive import catalog
from archive.capturing.worker import capture_now
from archive.settings import Settings
from archive.staff import audit
from archive.staff.users import create_user
from archive.warc.wacz import select_captures

from .replaying import replay_origin_server
from .statefulsite import StatefulNewsSite
from .webapp import LiveServer, csrf_token

PASSWORD = "correct horse battery staple"
ATOM = {"a": "http://www.w3.org/2005/Atom"}
WORDS = "residents procurement"  # in the article's text, only in the "before" capture


@pytest.fixture(scope="module")
def removal(tmp_path_factory, host_rules):
    """A real article captured by Chromium while up (ok), then gone (404): one removal event."""
    with StatefulNewsSite() as news:
        env = dict(os.environ, ARCHIVE_HOME=str(tmp_path_factory.mktemp("moderation")),
                   CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
                   CAPTURE_HOST_RULES=", ".join([host_rules, *news.host_rules()]), CAPTURE_TIMEOUT="30",
                   CAPTURE_SETTLE_TIMEOUT="2", ARCHIVE_URL="", SECRET_KEY="")
        settings = Settings.from_env(env)
        before = capture_now(settings, news.article_url)
        news.state = "not_found"
        after = capture_now(settings, news.article_url)
    assert (before["outcome"], after["outcome"]) == ("ok", "not_found")
    return settings, before, after, news.article_url


def public_get(url: str) -> requests.Response:
    """A request from someone who is not signed in."""
    return requests.get(url, timeout=30, allow_redirects=False)


def moderate(server: LiveServer, capture_id: int, **form: str) -> requests.Response:
    return server.post_form(f"/capture/{capture_id}/visibility", form, form_page=f"/capture/{capture_id}")


def capture_routes(app: str, replay: str, capture_id: int) -> list[str]:
    return [f"{app}/capture/{capture_id}", f"{app}/capture/{capture_id}/screenshot.png",
            f"{app}/capture/{capture_id}/warc", f"{app}/capture/{capture_id}/wacz",
            f"{app}/api/captures/{capture_id}", f"{app}/api/captures/{capture_id}/cite",
            f"{replay}/embed/{capture_id}", f"{replay}/wacz/{capture_id}.wacz", f"{replay}/safe/{capture_id}"]


def search_ids(app: str) -> list[int]:
    r = public_get(f"{app}/api/search?q={quote(WORDS)}")
    assert r.status_code == 200, r.text
    return [hit["id"] for hit in r.json()["hits"]]


def listed_event_ids(app: str, url: str) -> dict[str, set[int]]:
    """Where the public sees removal events: the list (JSON and page), the feed, the timeline."""
    page = lxml.html.fromstring(public_get(f"{app}/removals").text)
    feed = ElementTree.fromstring(public_get(f"{app}/removals.atom").content)
    timeline = public_get(f"{app}/api/timeline?url={quote(url, safe='')}").json()
    return {
        "api": {e["id"] for e in public_get(f"{app}/api/removals").json()["events"]},
        "page": {int(h.rsplit("/", 1)[1]) for h in page.xpath("//a/@href") if h.startswith("/removals/")},
        "feed": {int(i.text.rsplit("/", 1)[1]) for i in feed.iterfind("a:entry/a:id", ATOM)},
        "timeline": {e["id"] for e in timeline["events"]},
        "timeline_captures": {c["id"] for v in timeline["vantages"] for c in v["captures"]},
    }


def test_private_removed_and_public_again(removal):
    settings, before, after, url = removal
    capture_id = before["id"]
    with LiveServer(settings) as server, replay_origin_server(settings, "http://127.0.0.1") as replay:
        app = server.url
        db = catalog.connect(settings.catalog_path)
        user_id = create_user(db, "moderator", PASSWORD)
        event_id = db.execute("SELECT id FROM removal_events WHERE before_capture_id = ?", (capture_id,)).fetchone()[0]

        # Public at first: served everywhere, found by search, listed everywhere.
        for address in capture_routes(app, replay, capture_id):
            assert public_get(address).status_code == 200, address
        assert capture_id in search_ids(app)
        shown = listed_event_ids(app, url)
        assert all(event_id in shown[k] for k in ("api", "page", "feed", "timeline")), shown
        assert capture_id in shown["timeline_captures"]

        assert server.post_form("/login", {"username": "moderator", "password": PASSWORD}).status_code == 303
        r = moderate(server, capture_id, visibility="private", reason="personal_data", note="names a private person")
        assert r.status_code == 303 and r.headers["Location"].endswith(f"/capture/{capture_id}#moderation")

        # The public: 403 with the reason, on every route of both origins.
        for address in capture_routes(app, replay, capture_id):
            r = public_get(address)
            assert r.status_code == 403, address
            assert "Personal data: names a private person" in r.text, address
        assert "Hundreds of residents" not in public_get(f"{app}/capture/{capture_id}").text
        # ... and it is gone from search, the removal lists, the feed and the timeline.
        assert capture_id not in search_ids(app)
        shown = listed_event_ids(app, url)
        assert not any(event_id in shown[k] for k in ("api", "page", "feed", "timeline")), shown
        assert capture_id not in shown["timeline_captures"] and after["id"] in shown["timeline_captures"]
        assert capture_id not in select_captures(db, "A", everything=True).ids
        # Its permalink answers the same; its Wayback-style link now leads to the nearest public capture.
        r = public_get(f"{app}/p/{before['permalink']}")
        assert r.status_code == 403 and "names a private person" in r.text
        def stamp(capture: dict) -> str:
            return capture["captured_at"][:19].translate(str.maketrans("", "", "-T:"))

        r = public_get(f"{app}/web/{stamp(before)}/{url}")
        assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == f"/web/{stamp(after)}/{url}"
        # The event's own page names the reason instead of the withdrawn capture.
        page = public_get(f"{app}/removals/{event_id}").text
        assert "names a private person" in page and "Hundreds of residents" not in page
        assert public_get(f"{app}/api/removals/{event_id}").json()["before"] == {
            "id": capture_id, "visibility": "private", "reason": "Personal data: names a private person"}

        # Staff still see all of it, uncached, the replay origin too (through the pass on the record page).
        r = server.get(f"/capture/{capture_id}")
        assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store"
        doc = lxml.html.fromstring(r.text)
        assert "names a private person" in doc.get_element_by_id("visibility-notice").text_content()
        assert server.get(f"/capture/{capture_id}/screenshot.png").status_code == 200
        embed = doc.xpath("//iframe[@id='replay']/@src")[0]
        assert embed.startswith(f"{settings.replay_origin}/embed/{capture_id}?pass=")
        query = embed.split("?", 1)[1]
        for path in (f"/embed/{capture_id}", f"/wacz/{capture_id}.wacz", f"/safe/{capture_id}"):
            r = public_get(f"{replay}{path}?{query}")
            assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store", path
        assert f"/wacz/{capture_id}.wacz?{query}" in public_get(f"{replay}/embed/{capture_id}?{query}").text
        # A pass is for one capture only.
        assert public_get(f"{replay}/safe/{after['id']}?{query}").status_code == 200  # public anyway
        other = server.post_form(f"/capture/{after['id']}/visibility", {"visibility": "private", "reason": "error"},
                                 form_page=f"/capture/{after['id']}")
        assert other.status_code == 303
        assert public_get(f"{replay}/safe/{after['id']}?{query}").status_code == 403
        assert moderate(server, after["id"], visibility="public").status_code == 303

        # Removed by us: 410, with its reason.
        assert moderate(server, capture_id, visibility="removed", reason="legal",
                        note="court order 2-123/2024").status_code == 303
        for address in capture_routes(app, replay, capture_id):
            r = public_get(address)
            assert r.status_code == 410, address
            assert "Legal: court order 2-123/2024" in r.text, address

        # Public again: served, searchable and listed again.
        assert moderate(server, capture_id, visibility="public").status_code == 303
        for address in capture_routes(app, replay, capture_id):
            assert public_get(address).status_code == 200, address
        assert public_get(f"{app}/p/{before['permalink']}").headers["Location"] == f"/capture/{capture_id}"
        assert capture_id in search_ids(app)
        shown = listed_event_ids(app, url)
        assert all(event_id in shown[k] for k in ("api", "page", "feed", "timeline")), shown
        row = catalog.get_capture(db, capture_id)
        assert (row["visibility"], row["visibility_reason"], row["indexed"]) == ("public", None, 1)

        # Every change is in the audit log, by whom, with the reason; staff can page through it.
        entries = audit.list_entries(db, target=f"capture:{capture_id}")
        assert [(e["action"], e["user_id"], e["detail"]["reason"]) for e in entries] == [
            ("capture.publish", user_id, None),
            ("capture.removed", user_id, "Legal: court order 2-123/2024"),
            ("capture.private", user_id, "Personal data: names a private person")]
        log = lxml.html.fromstring(server.get("/staff/audit").text)
        rows = [" ".join(tr.text_content().split()) for tr in log.xpath("//tr[@class='audit-entry']")]
        assert any("capture.private" in t and f"capture:{capture_id}" in t and "moderator" in t for t in rows), rows
        assert rows[0].split(" UTC")[0] >= rows[-1].split(" UTC")[0]  # newest first
        assert public_get(f"{app}/staff/audit").status_code == 303  # to the login page
        db.close()


@pytest.fixture
def captured(archive_builder):
    return archive_builder.add("https://kloop.kg/blog/2024/04/18/tiktok/", "ГКНБ обязал заблокировать TikTok",
                               ["Служба безопасности потребовала заблокировать TikTok."], lang="ru")


def visibility_of(db, capture_id: int) -> str:
    return catalog.get_capture(db, capture_id)["visibility"]


def test_only_signed_in_staff_with_the_form_token_can_moderate(web_server, archive_builder, captured):
    db = archive_builder.db
    form = {"visibility": "private", "reason": "legal"}
    # Not signed in: even with a valid form token (from the public submit form) it is sent to the
    # login page, nothing changes, and the record page has no moderation form.
    r = web_server.post_form(f"/capture/{captured}/visibility", form, form_page="/submit")
    assert r.status_code == 303 and "/login?next=" in r.headers["Location"]
    assert web_server.post(f"/capture/{captured}/visibility", data=form).status_code == 400  # no token at all
    assert "moderation-form" not in web_server.get(f"/capture/{captured}").text
    assert visibility_of(db, captured) == "public"

    create_user(db, "moderator", PASSWORD)
    assert web_server.post_form("/login", {"username": "moderator", "password": PASSWORD}).status_code == 303
    # Signed in, but without the CSRF token: 400, nothing changes.
    assert web_server.post(f"/capture/{captured}/visibility", data=form).status_code == 400
    assert visibility_of(db, captured) == "public"
    # Bad input: a clear message naming the fix, nothing changes.
    for bad, says in (({"visibility": "hidden", "reason": "legal"}, "not one of public, private, removed"),
                      ({"visibility": "private", "reason": "other"}, "say what it is in the note"),
                      ({"visibility": "private", "reason": "spite"}, "not one of personal_data, legal, error, other"),
                      ({"visibility": "removed", "reason": "legal", "note": "x" * 501}, "keep it to 500")):
        r = moderate(web_server, captured, **bad)
        assert r.status_code == 400 and says in r.text and "was not changed" in r.text, bad
        assert visibility_of(db, captured) == "public"
    assert audit.list_entries(db, target=f"capture:{captured}") == []
    # A non-staff role cannot exist (accounts are staff or admin); the signed-in form works.
    assert moderate(web_server, captured, visibility="private", reason="error").status_code == 303
    assert visibility_of(db, captured) == "private"
    assert csrf_token(web_server.get(f"/capture/{captured}").text)  # staff still get the page and its form
