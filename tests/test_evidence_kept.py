"""Evidence is kept as it was seen (issue 23, point 11).

The country of a capture's vantage is stored with the capture, so renaming, moving or dropping
the vantage in today's settings does not rewrite history (record page, removal page, timeline,
JSON); older rows get it from their WARC provenance record. `Blocked by` is links, not a Python
list. An open event keeps the strongest evidence seen: a 451 naming who demanded the block,
seen after a plain 404, becomes the event's outcome and evidence.
"""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import sync_playwright

from archive import catalog
from archive.capturing.worker import capture_now
from archive.settings import Settings
from crawler.browser import find_chromium, launch_args

from . import vantages
from .conftest import run_cli
from .statefulsite import BLOCKED_BY, StatefulNewsSite
from .webapp import LiveServer


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
def history(tmp_path_factory, news, blocking_proxy, host_rules):
    """ok → 404 → 451 with blocked-by, directly; a blockpage through ru-isp (then in RU)."""
    env = dict(os.environ, ARCHIVE_HOME=str(tmp_path_factory.mktemp("kept")), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
               CAPTURE_HOST_RULES=", ".join([host_rules, *news.host_rules()]), CAPTURE_TIMEOUT="30",
               CAPTURE_SETTLE_TIMEOUT="2",
               CAPTURE_VANTAGES=f"ru-isp=RU=http://127.0.0.1:{blocking_proxy.server_address[1]}")
    settings = Settings.from_env(env)
    rows = {}
    for state in ("ok", "not_found", "legal"):
        news.state = state
        rows[state] = capture_now(settings, news.article_url)
    news.state = "ok"
    rows["restored"] = capture_now(settings, news.article_url)
    rows["ru"] = capture_now(settings, news.article_url, "ru-isp")
    # Later the vantage is moved: the same name now stands in Kazakhstan.
    env["CAPTURE_VANTAGES"] = f"ru-isp=KZ=http://127.0.0.1:{blocking_proxy.server_address[1]}"
    return env, Settings.from_env(env), rows


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=find_chromium(), args=launch_args())
        yield chromium
        chromium.close()


def events_of(settings: Settings) -> dict[str, dict]:
    db = catalog.connect(settings.catalog_path)
    return {e["vantage"]: dict(e) for e in db.execute("SELECT * FROM removal_events ORDER BY id")}


def test_the_capture_keeps_its_vantage_country(history):
    _, settings, rows = history
    assert rows["ru"]["vantage_country"] == "RU" and rows["ok"]["vantage_country"] is None
    assert events_of(settings)["ru-isp"]["country"] == "RU"


def test_moving_a_vantage_does_not_rewrite_history(history, browser):
    _, settings, rows = history
    ru = rows["ru"]["id"]
    event = events_of(settings)["ru-isp"]["id"]
    with LiveServer(settings) as server:
        assert server.get(f"/api/captures/{ru}").json()["vantage_country"] == "RU"
        timeline = server.get("/api/timeline", params={"url": rows["ru"]["url"]}).json()
        assert {v["name"]: v["country"] for v in timeline["vantages"]} == {"direct": None, "ru-isp": "RU"}
        page = browser.new_page()
        try:
            page.goto(f"{server.url}/capture/{ru}")
            assert page.locator("#vantage").inner_text() == "ru-isp (RU)"
            page.goto(f"{server.url}/removals/{event}")
            assert page.locator("#after .vantage").inner_text() == "ru-isp (RU)"
            page.goto(f"{server.url}/timeline?url={rows['ru']['url']}")
            assert "ru-isp (RU)" in page.locator("main").inner_text()
            assert "KZ" not in page.locator("main").inner_text()
        finally:
            page.close()


def test_rows_from_before_get_the_country_from_their_provenance(history):
    _, settings, rows = history
    db = catalog.connect(settings.catalog_path)
    db.execute("UPDATE captures SET vantage_country = NULL")  # as the migration leaves older rows
    # A row with no provenance record to read: today's settings are all there is.
    orphan = catalog.add_capture(db, {"url": "http://news.example.org/gone", "final_url": "http://news.example.org/gone",
                                      "captured_at": rows["ok"]["captured_at"], "ended_at": rows["ok"]["captured_at"],
                                      "vantage": "ru-isp", "outcome": "unreachable"}, [])
    with LiveServer(settings):  # the app fills them when it starts
        pass
    got = dict(db.execute("SELECT id, vantage_country FROM captures").fetchall())
    assert got[rows["ru"]["id"]] == "RU" and got[orphan] == "KZ" and got[rows["ok"]["id"]] is None


def test_a_rebuilt_catalog_restores_the_country_from_provenance(history, tmp_path):
    env, settings, rows = history
    import shutil

    home = tmp_path / "copy"
    shutil.copytree(settings.archive_home, home)
    for path in home.glob("catalog.sqlite3*"):
        path.unlink()
    env = dict(env, ARCHIVE_HOME=str(home), CAPTURE_VANTAGES="")  # the vantage is gone from settings
    proc = run_cli(env, "reindex", "--catalog")
    assert proc.returncode == 0, proc.stderr
    db = catalog.connect(Settings.from_env(env).catalog_path)
    assert dict(db.execute("SELECT vantage, vantage_country FROM captures WHERE vantage = 'ru-isp'").fetchall()) == {
        "ru-isp": "RU"}
    assert db.execute("SELECT country FROM removal_events WHERE vantage = 'ru-isp'").fetchone()[0] == "RU"


def test_an_event_keeps_the_strongest_evidence_seen(history, browser):
    _, settings, rows = history
    event = events_of(settings)["direct"]
    assert (event["after_capture_id"], event["evidence_capture_id"]) == (rows["not_found"]["id"], rows["legal"]["id"])
    assert event["outcome"] == "legal"
    with LiveServer(settings) as server:
        api = server.get(f"/api/removals/{event['id']}").json()
        assert api["outcome"] == "legal" and api["evidence_capture_id"] == rows["legal"]["id"]
        assert api["strongest"]["evidence"]["blocked_by"] == [BLOCKED_BY]
        page = browser.new_page()
        try:
            page.goto(f"{server.url}/removals/{event['id']}")
            assert page.locator("#summary .badge").inner_text() == "unavailable for legal reasons"
            assert page.locator(f"#strongest a[href='/capture/{rows['legal']['id']}']").count() == 1
            # Blocked by: a link to the register, not a printed list.
            link = page.locator(f"#evidence a[href='{BLOCKED_BY}']")
            assert link.inner_text() == BLOCKED_BY
            assert "['" not in page.locator("#evidence").inner_text()
            page.goto(f"{server.url}/capture/{rows['legal']['id']}")
            assert page.locator(f"#evidence a[href='{BLOCKED_BY}']").inner_text() == BLOCKED_BY
            assert "['" not in page.locator("#evidence").inner_text()
        finally:
            page.close()
