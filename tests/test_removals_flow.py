"""A removal as it unfolds: one article captured through every state, with real Chromium.

ok → 404 → 451 with blocked-by → RKN blockpage → redirect to a KG provider's blockpage
→ 60% rewritten → restored; plus a vantage that sees a blockpage while direct sees the
page. Each capture gets its outcome, the event opens and closes at the right captures,
and the removed text is searchable, restricted to removed content.
"""
from __future__ import annotations

import pytest

from archive import catalog
from archive.capturing.worker import capture_now
from archive.settings import Settings
from search import SearchQuery, open_backend

from . import vantages
from .statefulsite import BLOCKED_BY, StatefulNewsSite

STATES = [  # (site state, expected outcome)
    ("ok", "ok"),
    ("not_found", "not_found"),
    ("legal", "legal"),
    ("blockpage", "blockpage"),
    ("redirect", "redirect_notice"),
    ("rewritten", "changed"),
    ("restored", "ok"),
]


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
def flow(tmp_path_factory, news, blocking_proxy, host_rules):
    """Capture the article once per state, then once through the RU vantage; return the settings and rows."""
    import os

    home = tmp_path_factory.mktemp("removals")
    env = dict(os.environ, ARCHIVE_HOME=str(home), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
               CAPTURE_HOST_RULES=", ".join([host_rules, *news.host_rules()]),
               CAPTURE_TIMEOUT="30", CAPTURE_SETTLE_TIMEOUT="2",
               CAPTURE_VANTAGES=f"ru-isp=RU=http://127.0.0.1:{blocking_proxy.server_address[1]}")
    settings = Settings.from_env(env)
    rows = []
    for state, _ in STATES:
        news.state = state
        rows.append(capture_now(settings, news.article_url))
    news.state = "ok"
    rows.append(capture_now(settings, news.article_url, "ru-isp"))
    return settings, rows


def test_each_state_gets_its_outcome(flow):
    settings, rows = flow
    got = [r["outcome"] for r in rows[:len(STATES)]]
    assert got == [expected for _, expected in STATES]
    assert rows[-1]["outcome"] == "blockpage" and rows[-1]["vantage"] == "ru-isp"


def test_evidence_names_why(flow):
    settings, rows = flow
    ev = {r["outcome"]: r["evidence"] for r in rows[:len(STATES)]}
    assert ev["not_found"]["status"] == 404
    assert BLOCKED_BY in str(ev["legal"]) and "149" in str(ev["legal"])
    assert "rkn" in str(ev["blockpage"]).lower()
    assert "homeline.kg" in str(ev["redirect_notice"])
    changed = ev["changed"]
    assert changed["similarity"] < changed["threshold"] == settings.change_threshold
    assert any(op == "removed" and "regulator" in text for op, text in changed["diff"])


def test_event_opens_at_first_removal_and_closes_when_restored(flow):
    settings, rows = flow
    db = catalog.connect(settings.catalog_path)
    events = [dict(e) for e in db.execute("SELECT * FROM removal_events ORDER BY id")]
    direct = [e for e in events if e["vantage"] == "direct"]
    assert len(direct) == 1, direct  # 404, 451, blockpage, redirect and rewrite are one removal
    event = direct[0]
    assert event["before_capture_id"] == rows[0]["id"] and event["after_capture_id"] == rows[1]["id"]
    # The 451 with its blocked-by link is the strongest evidence seen while it was open (issue 23, point 11).
    assert event["outcome"] == "legal" and event["evidence_capture_id"] == rows[2]["id"]
    assert event["scope"] == "source"
    assert event["last_ok_at"] == rows[0]["captured_at"] and event["first_removed_at"] == rows[1]["captured_at"]
    assert event["closed_at"] == rows[6]["captured_at"] and event["restored_capture_id"] == rows[6]["id"]


def test_vantage_blockpage_while_direct_ok_is_blocked_in_that_country(flow):
    settings, rows = flow
    db = catalog.connect(settings.catalog_path)
    event = dict(db.execute("SELECT * FROM removal_events WHERE vantage = 'ru-isp'").fetchone())
    assert event["scope"] == "country" and event["country"] == "RU"
    assert event["before_capture_id"] == rows[6]["id"]  # the direct ok nearest before it
    assert event["after_capture_id"] == rows[-1]["id"] and event["closed_at"] is None


def test_removed_text_is_searchable_and_can_be_restricted(flow):
    settings, rows = flow
    backend = open_backend(settings.search_backend, settings.index_dir)
    everything = backend.search(SearchQuery("regulator procurement"))
    assert {h.id for h in everything.hits} >= {str(rows[0]["id"]), str(rows[6]["id"])}
    removed = backend.search(SearchQuery("regulator procurement", removed_only=True))
    # Only the open event's "before" (the RU block) holds text that is removed now.
    assert [h.id for h in removed.hits] == [str(rows[6]["id"])] and removed.hits[0].removed


def test_before_after_page_shows_the_pair(flow):
    settings, rows = flow
    from archive.web import create_app

    db = catalog.connect(settings.catalog_path)
    event_id = db.execute("SELECT id FROM removal_events WHERE vantage = 'direct'").fetchone()[0]
    client = create_app(settings).test_client()
    page = client.get(f"/removals/{event_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    before, after = rows[0]["id"], rows[1]["id"]
    assert f"/capture/{before}/screenshot" in html and f"/capture/{after}/screenshot" in html
    assert html.index(f"Record page of capture {before}") < html.index(f"Record page of capture {after}")
    assert '<dd class="http-status">200</dd>' in html and '<dd class="http-status">404</dd>' in html
    # The removed text appears in the diff as removed.
    assert "regulator had sent a demand" in html
    api = client.get(f"/api/removals/{event_id}").get_json()
    assert api["before"]["id"] == before and api["after"]["id"] == after and api["closed_at"]
