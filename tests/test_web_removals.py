"""The read side of removals over real HTTP: list, facets, chart, before/after, timeline, feed and JSON.

Captures are real WARC records in a real catalog (ArchiveBuilder); their outcomes, the removal
events and takedown orders are catalog rows as the write side leaves them.
"""
from __future__ import annotations

import difflib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from archive import catalog
from archive.settings import Settings
from detect.outcomes import OUTCOME_LABELS

from .sites import send
from .webapp import OWN_SCRIPT, OWN_SCRIPT_XPATH, ArchiveBuilder, LiveServer, make_settings

VANTAGES = "kg-bishkek=KG=socks5://203.0.113.5:1080"
ATOM = "{http://www.w3.org/2005/Atom}"

URL_BLOCKED = "https://kloop.kg/news/a"
URL_LEGAL = "https://www.kloop.kg/news/b"
URL_GONE = "https://rus.azattyk.org/news/1"
URL_HOSTILE = 'https://azattyk.org/x?q=<script>alert(1)</script>&"quote"'
HOSTILE_TITLE = "<script>alert('title')</script> Статья"
HOSTILE_WHY = "<img src=x onerror=alert(1)> notice page"

BEFORE_TEXT = ["Президент подписал указ о СМИ.", "Hostile <b>bold</b> & co", "Shared closing line"]
BLOCK_TEXT = ["Доступ к ресурсу ограничен по решению суда", "Shared closing line"]


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@dataclass
class Scenario:
    """The ids of what was built, by name."""

    captures: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    takedowns: dict[str, int] = field(default_factory=dict)


def add_capture(builder: ArchiveBuilder, url: str, when: datetime, paragraphs: list[str], *, status: int = 200,
                outcome: str | None = "ok", evidence: dict | None = None, vantage: str = "direct",
                title: str = "Article", screenshot: bytes | None = None) -> int:
    """A real capture (WARC records, catalog row), then labelled as the write side labels it."""
    capture_id = builder.add(url, title, paragraphs, captured_at=when, status=status, index=False,
                             screenshot=screenshot)
    builder.db.execute("UPDATE captures SET outcome = ?, evidence = ?, vantage = ? WHERE id = ?",
                       (outcome, json.dumps(evidence or {}), vantage, capture_id))
    return capture_id


def add_event(db, url: str, before: int, after: int, *, outcome: str, scope: str, vantage: str = "direct",
              country: str | None = None, closed_at: str | None = None, restored: int | None = None) -> int:
    times = {r["id"]: r["captured_at"] for r in db.execute(
        "SELECT id, captured_at FROM captures WHERE id IN (?, ?)", (before, after))}
    return db.execute(
        "INSERT INTO removal_events (url, vantage, country, outcome, scope, before_capture_id, after_capture_id,"
        " last_ok_at, first_removed_at, closed_at, restored_capture_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (url, vantage, country, outcome, scope, before, after, times[before], times[after], closed_at, restored),
    ).lastrowid


def add_takedown(db, authority: str, country: str, urls: list[str], *, published: bool) -> int:
    now = catalog.utcnow()
    takedown_id = db.execute(
        "INSERT INTO takedowns (authority, recipient, country, legal_basis, issued_on, action_demanded, published,"
        " created_at, updated_at) VALUES (?, 'Kloop Media', ?, 'Law 123', '2024-04-30', 'remove', ?, ?, ?)",
        (authority, country, int(published), now, now)).lastrowid
    db.executemany("INSERT INTO takedown_urls (takedown_id, url) VALUES (?, ?)", [(takedown_id, u) for u in urls])
    return takedown_id


def build(builder: ArchiveBuilder) -> Scenario:
    s = Scenario()
    c, db = s.captures, builder.db
    # 1. Blocked in Kyrgyzstan only: the KG vantage sees a blockpage while direct still sees the article.
    c["a_ok_kg"] = add_capture(builder, URL_BLOCKED, at("2024-03-01"), BEFORE_TEXT, vantage="kg-bishkek")
    c["a_ok_direct"] = add_capture(builder, URL_BLOCKED, at("2024-03-02"), BEFORE_TEXT)
    old, new = ["Same start"] + BEFORE_TEXT, ["Same start", "Rewritten <i>entirely</i>"]
    changed = [["equal" if op == " " else "removed" if op == "-" else "added", line[2:]]
               for op, line in ((d[0], d) for d in difflib.ndiff(old, new)) if op in " -+"]
    c["a_changed"] = add_capture(builder, URL_BLOCKED, at("2024-03-05"), new, outcome="changed",
                                 evidence={"similarity": 0.41, "threshold": 0.8, "diff": changed})
    c["a_block"] = add_capture(builder, URL_BLOCKED, at("2024-03-10"), BLOCK_TEXT, vantage="kg-bishkek",
                               outcome="blockpage", title="Blocked", evidence={
                                   "status": 200, "authorities": [], "laws": [], "fingerprints": [{
                                       "name": "kg_<ktnet>_block", "scope": "isp", "countries": ["KG"],
                                       "location": "body", "pattern": "ktnet"}],
                                   "blocked_by": "https://block.example/?from=<x>"})
    s.events["blocked"] = add_event(db, URL_BLOCKED, c["a_ok_kg"], c["a_block"], outcome="blockpage",
                                    scope="country", vantage="kg-bishkek", country="KG")
    # 2. Unavailable for legal reasons at the source, later restored; a published order names it.
    c["b_ok"] = add_capture(builder, URL_LEGAL, at("2024-04-28"), BEFORE_TEXT)
    c["b_451"] = add_capture(builder, URL_LEGAL, at("2024-05-02"), ["Unavailable for legal reasons"], status=451,
                             outcome="legal", evidence={  # the shapes detect.classify records
                                 "status": 451, "blocked_by": "https://www.kloop.kg/", "fingerprints": [],
                                 "authorities": ["Ministry of Culture (KG)"], "laws": ["Law 123 <art. 5>"]})
    c["b_back"] = add_capture(builder, URL_LEGAL, at("2024-06-01"), BEFORE_TEXT)
    s.events["legal"] = add_event(db, URL_LEGAL, c["b_ok"], c["b_451"], outcome="legal", scope="source",
                                  closed_at=catalog.to_iso(at("2024-06-01")), restored=c["b_back"])
    s.takedowns["published"] = add_takedown(db, "Ministry of Culture", "KG", [URL_LEGAL], published=True)
    # 3. Gone (404, no text at all); only a draft order names it, which must not show anywhere.
    c["g_ok"] = add_capture(builder, URL_GONE, at("2024-05-10"), BEFORE_TEXT)
    c["g_404"] = add_capture(builder, URL_GONE, at("2024-05-20"), [], status=404, outcome="not_found",
                             evidence={"status": 404}, screenshot=b"")
    s.events["gone"] = add_event(db, URL_GONE, c["g_ok"], c["g_404"], outcome="not_found", scope="source")
    s.takedowns["draft"] = add_takedown(db, "Secret Draft Authority", "RU", [URL_GONE], published=False)
    # 4. Hostile strings everywhere: URL, title, evidence.
    c["h_ok"] = add_capture(builder, URL_HOSTILE, at("2024-05-21"), ["<script>alert('text')</script>"],
                            title=HOSTILE_TITLE)
    c["h_notice"] = add_capture(builder, URL_HOSTILE, at("2024-05-25"), ["Notice"], status=302,
                                outcome="redirect_notice", title=HOSTILE_TITLE, evidence={
                                    "from": URL_HOSTILE, "to": "javascript:alert(1)",
                                    "hops": [{"status": 302, "location": "https://azattyk.org/<hop>"}],
                                    "why": [HOSTILE_WHY],
                                    "<odd key>": "<odd value>", "fingerprints": "not a list",
                                    "similarity": "high", "diff": [["removed"], "junk", ["added", "<new>"]]})
    s.events["hostile"] = add_event(db, URL_HOSTILE, c["h_ok"], c["h_notice"], outcome="redirect_notice",
                                    scope="source")
    return s


@pytest.fixture
def removals_settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "home", capture_vantages=VANTAGES)


@pytest.fixture
def scenario(removals_settings) -> Iterator[Scenario]:
    builder = ArchiveBuilder(removals_settings)
    yield build(builder)
    builder.close()


@pytest.fixture
def server(removals_settings, scenario) -> Iterator[LiveServer]:
    with LiveServer(removals_settings) as live:
        yield live


def doc(response) -> lxml.html.HtmlElement:
    assert response.status_code == 200, response.text
    return lxml.html.fromstring(response.text)


def text_of(element) -> str:
    return " ".join(element.text_content().split())


def timeline_of(href: str) -> str:
    """The URL a timeline link is for."""
    parts = urlsplit(href)
    assert parts.path == "/timeline"
    return parse_qs(parts.query)["url"][0]


def evidence_of(page) -> dict[str, str]:
    """The evidence list as {label: text}."""
    dl = page.get_element_by_id("evidence")
    return {text_of(dt): text_of(dt.getnext()) for dt in dl.xpath("./dt")}


def facet(page, name: str) -> dict[str, int]:
    return {li.xpath(".//a")[0].get("data-value"): int(li.xpath(".//span[@class='count']")[0].text)
            for li in page.xpath(f"//section[@id='facet-{name}']//li")}


def test_facets_count_every_event_and_filters_narrow(scenario, server):
    e = scenario.events
    body = server.get("/api/removals").json()
    assert body["total"] == 4
    assert [ev["id"] for ev in body["events"]] == [e["hostile"], e["gone"], e["legal"], e["blocked"]]
    counts = {name: {f["value"]: f["count"] for f in values} for name, values in body["facets"].items()}
    # The legal event has no country of its own: it takes the published order's. The draft order's RU never shows.
    assert counts["country"] == {"KG": 2}
    assert counts["authority"] == {"Ministry of Culture": 1}
    assert counts["site"] == {"kloop.kg": 2, "azattyk.org": 1, "rus.azattyk.org": 1}
    assert counts["outcome"] == {"blockpage": 1, "legal": 1, "not_found": 1, "redirect_notice": 1}
    assert counts["month"] == {"2024-05": 3, "2024-03": 1}
    assert counts["state"] == {"open": 3, "closed": 1}

    kg = server.get("/api/removals?country=kg").json()
    assert [ev["id"] for ev in kg["events"]] == [e["legal"], e["blocked"]]
    assert {f["value"]: f["count"] for f in kg["facets"]["outcome"]} == {"blockpage": 1, "legal": 1}
    # A facet's own filter does not narrow it: the alternatives stay visible.
    assert {f["value"]: f["selected"] for f in kg["facets"]["country"]} == {"KG": True}
    def ids(query: str) -> list[int]:
        return [ev["id"] for ev in server.get(f"/api/removals?{query}").json()["events"]]

    assert ids("authority=Ministry of Culture") == [e["legal"]]
    assert ids("authority=Secret Draft Authority") == []
    assert ids("site=kloop.kg&state=open") == [e["blocked"]]
    assert server.get("/api/removals?month=2024-05&outcome=not_found").json()["total"] == 1

    page = doc(server.get("/removals"))
    assert facet(page, "site") == {"kloop.kg": 2, "azattyk.org": 1, "rus.azattyk.org": 1}
    assert facet(page, "country") == {"KG": 2}
    assert "Secret Draft Authority" not in server.get("/removals").text
    link = page.xpath("//section[@id='facet-site']//a[@data-value='kloop.kg']/@href")[0]
    narrowed = doc(server.get(link))
    assert [int(li.get("data-event-id")) for li in narrowed.xpath("//li[@class='event']")] == [e["legal"], e["blocked"]]
    assert "kloop.kg" in text_of(narrowed.get_element_by_id("active-filters"))


def test_list_rows_show_scope_window_and_order(scenario, server):
    page = doc(server.get("/removals"))
    rows = {int(li.get("data-event-id")): text_of(li) for li in page.xpath("//li[@class='event']")}
    blocked, legal = rows[scenario.events["blocked"]], rows[scenario.events["legal"]]
    assert "blockpage" in blocked and "blocked in KG" in blocked and "from kg-bishkek" in blocked
    assert "Last seen available 2024-03-01 12:00:00 UTC → first seen removed 2024-03-10 12:00:00 UTC" in blocked
    assert "still removed" in blocked
    assert "removed at source" in legal and "available again" in legal and "Ordered by Ministry of Culture" in legal
    orders = page.xpath("//li[@class='event']//a[text()='Ministry of Culture']/@href")
    assert orders == [f"/takedowns/{scenario.takedowns['published']}"]


def test_cursor_pages_through_every_event_once(scenario, server):
    first = server.get("/api/removals?limit=3").json()
    assert len(first["events"]) == 3 and first["next"]
    second = server.get(first["links"]["next"]).json()
    assert len(second["events"]) == 1 and second["next"] is None and second["links"]["next"] is None
    assert {ev["id"] for ev in first["events"] + second["events"]} == set(scenario.events.values())

    html_next = doc(server.get("/removals?limit=3")).xpath("//a[@rel='next']/@href")[0]
    assert [int(li.get("data-event-id")) for li in doc(server.get(html_next)).xpath("//li[@class='event']")] == [
        scenario.events["blocked"]]

    bad = server.get("/api/removals?cursor=bm90LWEtY3Vyc29y")
    assert bad.status_code == 400 and "cursor" in bad.json()["fields"]
    assert server.get("/api/removals?month=2024-13").status_code == 400
    assert server.get("/api/removals?outcome=gone").json()["fields"]["outcome"]
    assert server.get("/removals?state=maybe").status_code == 400


def test_chart_has_a_bar_per_month_with_its_count(scenario, server):
    def bars(path: str) -> list[tuple[str, int, float, str]]:
        page = doc(server.get(path))
        return [(r.get("data-month"), int(r.get("data-count")), float(r.get("height")), r.get("class"))
                for r in page.xpath("//svg[@class='chart']//rect")]

    all_bars = bars("/removals")
    assert [(m, n) for m, n, _, _ in all_bars] == [("2024-03", 1), ("2024-04", 0), ("2024-05", 3)]
    heights = {m: h for m, _, h, _ in all_bars}
    assert heights["2024-05"] > heights["2024-03"] > heights["2024-04"] == 0
    assert [(m, n) for m, n, _, _ in bars("/removals?country=KG")] == [("2024-03", 1), ("2024-04", 0), ("2024-05", 1)]
    # Choosing a month keeps the whole span and marks it; the list narrows to it.
    chosen = bars("/removals?month=2024-05")
    assert [(m, c) for m, _, _, c in chosen] == [("2024-03", "bar"), ("2024-04", "bar"), ("2024-05", "bar selected")]
    page = doc(server.get("/removals?month=2024-05"))
    assert len(page.xpath("//li[@class='event']")) == 3
    assert page.xpath("//svg//a[rect/@data-month='2024-03']/@href") == ["/removals?month=2024-03"]
    assert server.get("/api/removals").json()["months"] == [
        {"month": "2024-03", "count": 1}, {"month": "2024-04", "count": 0}, {"month": "2024-05", "count": 3}]


def test_before_after_page_shows_statuses_evidence_and_diff(scenario, server):
    c = scenario.captures
    page = doc(server.get(f"/removals/{scenario.events['legal']}"))
    before, after = page.get_element_by_id("before"), page.get_element_by_id("after")
    assert text_of(before.find_class("http-status")[0]) == "200"
    assert text_of(after.find_class("http-status")[0]) == "451"
    assert text_of(before.find_class("captured-at")[0]) == "2024-04-28 12:00:00 UTC"
    assert text_of(after.find_class("vantage")[0]) == "direct"
    assert before.xpath(".//img/@src") == [f"/capture/{c['b_ok']}/screenshot.png"]
    assert after.xpath(".//img/@src") == [f"/capture/{c['b_451']}/screenshot.png"]
    for src in page.xpath("//img/@src"):
        assert server.get(src).headers["Content-Type"] == "image/png"
    assert before.xpath(".//a[@class='record-link']/@href") == [f"/capture/{c['b_ok']}"]
    evidence = text_of(page.get_element_by_id("evidence"))
    facts = evidence_of(page)
    assert facts["HTTP status"] == "451" and facts["Authority named"] == "Ministry of Culture (KG)"
    assert facts["Law cited"] == "Law 123 <art. 5>"
    assert page.xpath("//dl[@id='evidence']//a/@href") == ["https://www.kloop.kg/"]
    assert timeline_of(page.get_element_by_id("timeline-link").get("href")) == URL_LEGAL
    assert page.xpath("//section[@id='orders']//a/@href") == [f"/takedowns/{scenario.takedowns['published']}"]
    assert "available again" in text_of(page.get_element_by_id("state"))

    removed = [text_of(li) for li in page.xpath("//ol[@id='diff']/li[@class='diff-removed']")]
    assert "− Hostile <b>bold</b> & co" in removed and "− Президент подписал указ о СМИ." in removed
    assert [text_of(li) for li in page.xpath("//ol[@id='diff']/li[@class='diff-added']")] == [
        "+ Unavailable for legal reasons"]

    blocked = server.get(f"/removals/{scenario.events['blocked']}")
    assert "Hostile &lt;b&gt;bold&lt;/b&gt; &amp; co" in blocked.text
    page = doc(blocked)
    evidence = text_of(page.get_element_by_id("evidence"))
    assert "kg_<ktnet>_block · scope isp · seen in KG · matched in the body" in evidence
    assert page.xpath("//dl[@id='evidence']//a/@href") == ["https://block.example/?from=<x>"]
    assert "Authority named" not in evidence  # empty lists say nothing
    assert "blocked in KG" in text_of(page.get_element_by_id("scope"))
    assert [text_of(li) for li in page.xpath("//ol[@id='diff']/li[@class='diff-equal']")] == ["Shared closing line"]


def test_removal_without_text_shows_everything_removed(scenario, server):
    page = doc(server.get(f"/removals/{scenario.events['gone']}"))
    assert "No text: the page was removed" in text_of(page.get_element_by_id("no-text"))
    assert [text_of(li) for li in page.xpath("//ol[@id='diff']/li")] == ["− " + line for line in BEFORE_TEXT]
    assert page.get_element_by_id("after").find_class("no-screenshot")
    assert text_of(page.get_element_by_id("after").find_class("http-status")[0]) == "404"


def test_unknown_event_is_404(scenario, server):
    assert server.get("/removals/9999").status_code == 404
    r = server.get("/api/removals/9999")
    assert r.status_code == 404 and "9999" in r.json()["error"]


def test_timeline_groups_vantages_in_time_order(scenario, server):
    c, e = scenario.captures, scenario.events
    page = doc(server.get("/timeline", params={"url": URL_BLOCKED}))
    direct = [int(tr.get("data-capture-id")) for tr in page.xpath("//section[@id='vantage-direct']//tbody/tr")]
    kg = [int(tr.get("data-capture-id")) for tr in page.xpath("//section[@id='vantage-kg-bishkek']//tbody/tr")]
    assert direct == [c["a_ok_direct"], c["a_changed"]]
    assert kg == [c["a_ok_kg"], c["a_block"]]
    assert "(KG)" in text_of(page.xpath("//section[@id='vantage-kg-bishkek']/h2")[0])
    block_row = page.xpath(f"//tr[@data-capture-id='{c['a_block']}']")[0]
    assert "blockpage" in text_of(block_row) and f"first removed: event {e['blocked']}" in text_of(block_row)
    assert page.xpath(f"//li[@id='event-{e['blocked']}']/a/@href") == [f"/removals/{e['blocked']}"]

    body = server.get("/api/timeline", params={"url": URL_LEGAL}).json()
    assert [v["name"] for v in body["vantages"]] == ["direct"]
    captures = body["vantages"][0]["captures"]
    assert [(x["id"], x["outcome"], x["status"]) for x in captures] == [
        (c["b_ok"], "ok", 200), (c["b_451"], "legal", 451), (c["b_back"], "ok", 200)]
    assert [m["role"] for m in captures[2]["marks"]] == ["restored"]
    assert [ev["id"] for ev in body["events"]] == [e["legal"]]
    assert server.get("/api/timeline").status_code == 400
    assert "no capture" in server.get("/timeline?url=https://nowhere.example/").text


def test_atom_feed_parses_and_has_an_entry_per_event(scenario, server):
    r = server.get("/removals.atom")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(r.content)
    assert feed.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{tag}") is not None, tag
    assert feed.find(f"{ATOM}updated").text == "2024-06-01T12:00:00Z"  # the legal event closing
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 4
    for entry in entries:
        for tag in ("id", "title", "updated", "summary"):
            assert entry.find(f"{ATOM}{tag}").text, tag
        assert entry.find(f"{ATOM}id").text.startswith("tag:127.0.0.1,2024:removal/")
    newest = entries[0]
    assert newest.find(f"{ATOM}title").text == f"Removed: {URL_HOSTILE} (redirected to a notice)"
    assert newest.find(f"{ATOM}link").get("href") == f"{server.url}/removals/{scenario.events['hostile']}"
    legal = entries[2]
    assert "Ordered by Ministry of Culture" in legal.find(f"{ATOM}summary").text
    assert legal.find(f"{ATOM}updated").text == "2024-06-01T12:00:00Z"
    assert "Secret Draft Authority" not in r.text


def test_json_event_mirrors_the_page(scenario, server):
    c, e = scenario.captures, scenario.events
    body = server.get(f"/api/removals/{e['legal']}").json()
    assert body["outcome"] == "legal" and body["scope"] == "source" and body["open"] is False
    assert body["country"] == "KG" and body["site"] == "kloop.kg"
    assert (body["first_removed_at"], body["closed_at"]) == ("2024-05-02T12:00:00Z", "2024-06-01T12:00:00Z")
    assert [t["authority"] for t in body["takedowns"]] == ["Ministry of Culture"]
    assert (body["before"]["id"], body["before"]["status"]) == (c["b_ok"], 200)
    assert (body["after"]["id"], body["after"]["status"], body["after"]["evidence"]["status"]) == (c["b_451"], 451, 451)
    assert body["restored"]["id"] == c["b_back"]
    assert {"op": "removed", "text": "Hostile <b>bold</b> & co"} in body["diff"]["lines"]
    assert body["diff"]["after_has_text"] is True
    for link in (*body["links"].values(), *body["after"]["links"].values()):
        if link:
            assert server.get(link).status_code == 200, link
    gone = server.get(f"/api/removals/{e['gone']}").json()
    assert gone["takedowns"] == [] and gone["country"] is None and gone["diff"]["after_has_text"] is False
    assert gone["after"]["links"]["screenshot"] is None


def test_hostile_strings_are_escaped_everywhere(scenario, server):
    e = scenario.events
    pages = [server.get("/removals"), server.get(f"/removals/{e['hostile']}"),
             server.get("/timeline", params={"url": URL_HOSTILE}),
             server.get(f"/capture/{scenario.captures['h_notice']}")]
    for r in pages:
        assert r.status_code == 200
        assert "<script" not in r.text.replace(OWN_SCRIPT, "") and "<img src=x" not in r.text and "<odd" not in r.text
        page = lxml.html.fromstring(r.text)
        assert not page.xpath(OWN_SCRIPT_XPATH) and not page.xpath("//*[@onerror]")
        assert not page.xpath("//a[starts-with(@href, 'javascript:')]")
    event_page = pages[1].text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in event_page
    assert "&lt;img src=x onerror=alert(1)&gt; notice page" in event_page
    assert "&lt;odd key&gt;" in event_page and "&lt;odd value&gt;" in event_page
    evidence = text_of(lxml.html.fromstring(event_page).get_element_by_id("evidence"))
    assert "javascript:alert(1)" in evidence and "https://azattyk.org/<hop>" in evidence
    assert text_of(lxml.html.fromstring(event_page).xpath("//h1")[0]) == URL_HOSTILE
    # Evidence of an unexpected shape is shown as far as it makes sense, never a server error.
    assert [text_of(li) for li in lxml.html.fromstring(event_page).xpath("//details//li")] == ["+ <new>"]


def test_record_page_and_capture_json_show_outcome(scenario, server):
    c = scenario.captures
    page = doc(server.get(f"/capture/{c['b_451']}"))
    outcome = page.get_element_by_id("outcome")
    assert "unavailable for legal reasons" in text_of(outcome) and "Ministry of Culture" in text_of(outcome)
    assert timeline_of(page.get_element_by_id("timeline-link").get("href")) == URL_LEGAL
    changed = doc(server.get(f"/capture/{c['a_changed']}"))
    assert "41% of the last available text (changed below 80%)" in text_of(changed.get_element_by_id("evidence"))
    assert [text_of(li) for li in changed.xpath("//details//li[@class='diff-added']")] == [
        "+ Rewritten <i>entirely</i>"]
    assert server.get(f"/api/captures/{c['b_451']}").json()["outcome"] == "legal"
    assert server.get(f"/api/captures/{c['b_451']}").json()["evidence"]["laws"] == ["Law 123 <art. 5>"]
    # Captures from before outcomes existed say so rather than claiming one.
    server_db = catalog.connect(server.settings.catalog_path)
    server_db.execute("UPDATE captures SET outcome = NULL, evidence = '{}' WHERE id = ?", (c["g_ok"],))
    server_db.close()
    assert "not assessed" in text_of(doc(server.get(f"/capture/{c['g_ok']}")).get_element_by_id("outcome"))
    assert server.get(f"/api/captures/{c['g_ok']}").json()["outcome"] is None


def test_real_captures_before_and_after(site, settings):
    """A page captured for real by the browser, then gone with a 451: both screenshots and the lost text show."""
    from archive.capturing.worker import capture_now  # the browser stack: only this test needs it

    served = iter([(200, b"<html><head><title>Report</title></head><body><h1>Report</h1>"
                         b"<p>The minister signed the order on Monday.</p></body></html>"),
                   (451, b"<html><head><title>451</title></head><body><p>Blocked by court order.</p></body></html>")])
    site.routes["/removals/report.html"] = lambda h: send(h, *next(served))
    url = "http://news.example.com/removals/report.html"
    before, after = capture_now(settings, url), capture_now(settings, url)
    db = catalog.connect(settings.catalog_path)
    db.execute("UPDATE captures SET outcome = 'ok' WHERE id = ?", (before["id"],))
    db.execute("UPDATE captures SET outcome = 'legal', evidence = ? WHERE id = ?",
               (json.dumps({"status": 451}), after["id"]))
    event_id = add_event(db, url, before["id"], after["id"], outcome="legal", scope="source")
    db.close()
    with LiveServer(settings) as live:
        page = doc(live.get(f"/removals/{event_id}"))
        statuses = [text_of(page.get_element_by_id(side).find_class("http-status")[0]) for side in ("before", "after")]
        assert statuses == ["200", "451"]
        for src in page.xpath("//div[@class='before-after']//img/@src"):
            shot = live.get(src)
            assert shot.headers["Content-Type"] == "image/png" and shot.content.startswith(b"\x89PNG")
        diff = [(li.get("class"), text_of(li)) for li in page.xpath("//ol[@id='diff']/li")]
        assert ("diff-removed", "− The minister signed the order on Monday.") in diff
        assert ("diff-added", "+ Blocked by court order.") in diff


def test_every_outcome_has_words():
    from detect import LABELS

    assert set(OUTCOME_LABELS) == set(LABELS)
