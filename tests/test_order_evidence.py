"""Orders set beside what captures saw (issue 23, points 9 and 10).

9: the http and https forms of a URL are one page for orders, watches and removal events, as they
   already are for the lookup pages: a direct ok of https://… followed by a vantage blockpage of
   http://… opens an event; an order naming http://… shows the event on https://…;
   ``/api/takedowns?url=`` matches either form.
10: each order's reported action is checked against the captures made since the order's date, on
   the order page, in its JSON and on the removal page; record pages, ``/api/captures/<id>`` and
   timelines link to the orders naming the URL.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

import pytest
from playwright.sync_api import sync_playwright

from archive import catalog
from archive.capturing.worker import capture_now
from archive.orders.takedowns import create_takedown
from archive.settings import Settings
from archive.watches.watchlist import add_watch
from crawler.browser import find_chromium, launch_args

from . import vantages
from .statefulsite import StatefulNewsSite
from .webapp import LiveServer

HTTPS_URL = "https://media.example.kg/"
HTTP_URL = "http://media.example.kg/"
EFFECTIVE = "2026-12-04"


def day(value: str) -> str:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
    return f"{moment.day} {moment.strftime('%b')} {moment.year}"


@pytest.fixture(scope="module")
def news():
    with StatefulNewsSite() as site:
        yield site


@pytest.fixture(scope="module")
def blocking_proxy():
    server = vantages.start(vantages.BlockpageHandler)
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=find_chromium(), args=launch_args())
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def archive(tmp_path_factory, news, blocking_proxy, https_site, host_rules):
    """media.example.kg over https (direct: ok) and http (kg-isp: blockpage); the news article ok."""
    https_port = https_site.rsplit(":", 1)[1]
    env = dict(os.environ, ARCHIVE_HOME=str(tmp_path_factory.mktemp("orders")), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
               CAPTURE_HOST_RULES=", ".join([host_rules, *news.host_rules(),
                                             f"MAP media.example.kg 127.0.0.1:{https_port}"]),
               CAPTURE_TIMEOUT="30", CAPTURE_SETTLE_TIMEOUT="2",
               CAPTURE_VANTAGES=f"kg-isp=KG=http://127.0.0.1:{blocking_proxy.server_address[1]}")
    settings = Settings.from_env(env)
    rows = {"https_ok": capture_now(settings, HTTPS_URL), "http_blocked": capture_now(settings, HTTP_URL, "kg-isp")}
    news.state = "ok"
    rows["article_ok"] = capture_now(settings, news.article_url)
    db = catalog.connect(settings.catalog_path)
    common = {"recipient": "Media outlet", "country": "KG", "action_demanded": "block", "effective_on": EFFECTIVE,
              "published": True}
    orders = {
        "blocked": create_takedown(db, settings, common | {"authority": "GKNB", "action_reported": "blocked",
                                                           "urls": [HTTP_URL]}),
        "removed": create_takedown(db, settings, common | {"authority": "Ministry of Culture",
                                                           "action_reported": "removed", "urls": [news.article_url]}),
    }
    return settings, rows, orders


def test_https_ok_then_http_blockpage_from_a_vantage_opens_one_event(archive):
    settings, rows, _ = archive
    assert rows["https_ok"]["outcome"] == "ok" and rows["http_blocked"]["outcome"] == "blockpage"
    db = catalog.connect(settings.catalog_path)
    events = [dict(e) for e in db.execute("SELECT * FROM removal_events")]
    assert len(events) == 1, events
    event = events[0]
    assert (event["vantage"], event["scope"], event["country"]) == ("kg-isp", "country", "KG")
    assert event["before_capture_id"] == rows["https_ok"]["id"]
    assert event["after_capture_id"] == rows["http_blocked"]["id"]


def test_takedowns_api_matches_either_scheme(archive):
    settings, _, orders = archive
    with LiveServer(settings) as server:
        for asked in (HTTPS_URL, HTTP_URL, "media.example.kg/"):
            found = server.get("/api/takedowns", params={"url": asked}).json()["takedowns"]
            assert [t["id"] for t in found] == [orders["blocked"]], asked
        bad = server.get("/api/takedowns", params={"url": "ftp://media.example.kg/"})
        assert bad.status_code == 400 and "url" in bad.json()["fields"], bad.text
        detail = server.get(f"/api/takedowns/{orders['blocked']}").json()
        evidence = detail["evidence"][0]
        assert evidence["url"] == HTTP_URL and len(evidence["removals"]) == 1
        assert evidence["latest"]["vantage"] in ("direct", "kg-isp")


def test_a_watch_on_either_scheme_is_the_same_watch(archive):
    settings, _, orders = archive
    db = catalog.connect(settings.catalog_path)
    made = db.execute("SELECT id FROM watches WHERE source = ?", (f"takedown:{orders['blocked']}",)).fetchone()[0]
    with LiveServer(settings) as server:
        again = server.post("/api/watches", json={"url": HTTPS_URL, "every": "6h", "vantage": "direct"})
        assert again.status_code == 200 and again.json()["id"] == made, again.text
    assert add_watch(db, HTTPS_URL, 3600) == made
    assert db.execute("SELECT count(*) FROM watches WHERE url IN (?, ?)", (HTTP_URL, HTTPS_URL)).fetchone()[0] == 1


def test_order_page_says_whether_captures_bear_out_the_claim(archive, browser, news):
    settings, rows, orders = archive
    with LiveServer(settings) as server:
        page = browser.new_page()
        try:
            page.goto(f"{server.url}/takedowns/{orders['blocked']}")
            # The event on the other scheme is listed with the order naming http://.
            assert page.locator("#targets table.removals tbody tr").count() == 1
            assert page.locator("#claim-1 .verdict").inner_text() == "confirmed"
            assert page.locator("#claim-1 .summary").inner_text() == (
                f"reported blocked on {day(EFFECTIVE)}; blocked in KG only")
            page.goto(f"{server.url}/takedowns/{orders['removed']}")
            assert page.locator("#claim-1 .verdict").inner_text() == "contradicted"
            assert page.locator("#claim-1 .summary").inner_text() == (
                f"reported removed on {day(EFFECTIVE)}; "
                f"still served on {day(rows['article_ok']['captured_at'])} from direct")
            api = server.get(f"/api/takedowns/{orders['removed']}").json()["evidence"][0]["claim"]
            assert (api["verdict"], api["claim"]) == ("contradicted", "removed")
            assert api["capture_id"] == rows["article_ok"]["id"]
            # Later captures confirm it. (The browser's event loop runs in this thread: capture in another.)
            news.state = "not_found"
            with ThreadPoolExecutor(1) as pool:
                gone = pool.submit(capture_now, settings, news.article_url).result(timeout=300)
            news.state = "ok"
            page.goto(f"{server.url}/takedowns/{orders['removed']}")
            assert page.locator("#claim-1 .verdict").inner_text() == "confirmed"
            assert page.locator("#claim-1 .summary").inner_text() == (
                f"reported removed on {day(EFFECTIVE)}; confirmed removed at source on {day(gone['captured_at'])}")
            api = server.get(f"/api/takedowns/{orders['removed']}").json()["evidence"][0]["claim"]
            assert (api["verdict"], api["seen"], api["capture_id"]) == ("confirmed", "removed-at-source", gone["id"])
        finally:
            page.close()


def test_removal_record_and_timeline_pages_link_the_orders(archive, browser):
    settings, rows, orders = archive
    db = catalog.connect(settings.catalog_path)
    event_id = db.execute("SELECT id FROM removal_events WHERE vantage = 'kg-isp'").fetchone()[0]
    order_link = f"#orders a[href='/takedowns/{orders['blocked']}']"
    with LiveServer(settings) as server:
        page = browser.new_page()
        try:
            page.goto(f"{server.url}/removals/{event_id}")
            assert page.locator(order_link).inner_text() == "GKNB"
            assert page.locator("#orders .claim").inner_text() == (
                f"reported blocked on {day(EFFECTIVE)}; blocked in KG only")
            for path in (f"/capture/{rows['https_ok']['id']}", f"/capture/{rows['http_blocked']['id']}",
                         f"/timeline?url={HTTPS_URL}"):
                page.goto(server.url + path)
                assert page.locator(order_link).count() == 1, path
        finally:
            page.close()
        removal = server.get(f"/api/removals/{event_id}").json()
        assert removal["takedowns"][0]["claim"]["summary"].endswith("blocked in KG only")
        for capture in (rows["https_ok"], rows["http_blocked"]):
            got = server.get(f"/api/captures/{capture['id']}").json()["takedowns"]
            assert [t["id"] for t in got] == [orders["blocked"]]
            assert got[0]["links"]["page"] == f"/takedowns/{orders['blocked']}"
        timeline = server.get("/api/timeline", params={"url": HTTPS_URL}).json()
        assert [t["id"] for t in timeline["takedowns"]] == [orders["blocked"]]
        assert {v["name"] for v in timeline["vantages"]} == {"direct", "kg-isp"}
