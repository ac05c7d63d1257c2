"""The watchlist page and /api/watches over real HTTP: adding, listing, removing, refusing bad input."""
from __future__ import annotations

import lxml.html
import pytest

from archive.capturing import jobs
from archive.staff.users import create_user
from archive.watches.watchlist import add_watch, get_watch, list_watches

from .webapp import LiveServer, make_settings


def watches(builder) -> list[dict]:
    return list_watches(builder.db)


def post_form(server, data: dict) -> object:
    """POST the watch form as a browser does: with the form token the page gave it (if any)."""
    page = lxml.html.fromstring(server.get("/watches").text)
    token = page.xpath("//form[@id='watch-form']//input[@name='csrf_token']/@value")
    return server.post("/watches", data=data | ({"csrf_token": token[0]} if token else {}))


def test_form_adds_a_watch_and_the_list_shows_it(web_server, archive_builder):
    r = web_server.get("/watches")
    assert r.status_code == 200
    doc = lxml.html.fromstring(r.text)
    assert doc.get_element_by_id("count").text_content() == "0 watched URLs"
    assert doc.get_element_by_id("every").get("value") == "6h"  # WATCH_EVERY
    assert doc.xpath("//header//a[@href='/watches']")

    r = post_form(web_server, {"url": " https://KLOOP.kg/news/7#top ", "every": "30m", "vantage": "direct"})
    assert r.status_code == 303
    [watch] = watches(archive_builder)
    assert r.headers["Location"] == f"/watches?added={watch['id']}"
    assert (watch["url"], watch["every_seconds"], watch["vantage"], watch["source"]) == (
        "https://kloop.kg/news/7", 1800, "direct", "web")

    doc = lxml.html.fromstring(web_server.get(r.headers["Location"]).text)
    added = " ".join(doc.get_element_by_id("added").text_content().split())
    assert "Watching https://kloop.kg/news/7 every 30m" in added
    row = doc.get_element_by_id(f"watch-{watch['id']}")
    cells = [" ".join(td.text_content().split()) for td in row.findall("td")]
    assert cells[:3] == ["https://kloop.kg/news/7", "direct", "30m"]
    assert cells[4] == "not yet"


def test_list_shows_last_capture_and_its_outcome(web_server, archive_builder):
    db = archive_builder.db
    watch_id = add_watch(db, "https://kloop.kg/blocked", 3600)
    job_id = jobs.enqueue(db, "https://kloop.kg/blocked", watch_id=watch_id)
    db.execute("UPDATE watches SET last_job_id = ? WHERE id = ?", (job_id, watch_id))
    page = lxml.html.fromstring(web_server.get("/watches").text)
    assert page.xpath(f"//tr[@id='watch-{watch_id}']//a/@href") == [f"/jobs/{job_id}"]

    jobs.claim(db, "tests:1")
    capture_id = archive_builder.add("https://kloop.kg/blocked", "Blocked", ["Access restricted."], status=451)
    jobs.finish(db, job_id, capture_id)
    page = lxml.html.fromstring(web_server.get("/watches").text)
    cell = page.xpath(f"//tr[@id='watch-{watch_id}']/td")[4]
    assert cell.xpath(".//a/@href") == [f"/capture/{capture_id}"]
    assert "HTTP 451" in cell.text_content()
    db.execute("UPDATE captures SET outcome = 'blocked' WHERE id = ?", (capture_id,))
    cell = lxml.html.fromstring(web_server.get("/watches").text).xpath(f"//tr[@id='watch-{watch_id}']/td")[4]
    assert "blocked" in cell.text_content() and "2024-04-18 09:30:15 UTC" in cell.text_content()


BAD_FORMS = [
    ({"url": "http://intranet.kloop.kg/admin"}, "url", "private address"),
    ({"url": "kloop.kg/news"}, "url", "is not a URL"),
    ({"url": "javascript:alert(1)"}, "url", "only http and https"),
    ({"url": "https://kloop.kg/", "every": "5m"}, "every", "too short; the shortest is 15m"),
    ({"url": "https://kloop.kg/", "every": "30s"}, "every", "too short; the shortest is 15m"),
    ({"url": "https://kloop.kg/", "every": "whenever"}, "every", "'whenever' is not a duration"),
    ({"url": "https://kloop.kg/", "every": "900d"}, "every", "too long"),
    ({"url": "https://kloop.kg/", "vantage": "mars"}, "vantage", "no vantage point 'mars'"),
]


@pytest.mark.parametrize("data, field, words", BAD_FORMS)
def test_form_refuses_bad_input_and_keeps_it(web_server, archive_builder, data, field, words):
    r = post_form(web_server, {"every": "1h", "vantage": "direct"} | data)
    assert r.status_code == 400
    doc = lxml.html.fromstring(r.text)
    assert words in doc.get_element_by_id("watch-error").text_content()
    assert doc.get_element_by_id("url").get("value") == data["url"]
    if field != "vantage":
        assert doc.get_element_by_id(field).get("aria-invalid") == "true"
    assert watches(archive_builder) == []


def test_form_offers_the_vantages(tmp_path):
    settings = make_settings(tmp_path / "home", capture_vantages="ru-isp=RU=socks5://127.0.0.1:1080")
    with LiveServer(settings) as server:
        doc = lxml.html.fromstring(server.get("/watches").text)
        assert doc.xpath("//select[@id='vantage']/option/@value") == ["direct", "ru-isp"]
        r = post_form(server, {"url": "https://kloop.kg/", "every": "1d", "vantage": "ru-isp"})
        assert r.status_code == 303
        watch_id = int(r.headers["Location"].rsplit("=", 1)[1])
        from archive import catalog

        db = catalog.connect(settings.catalog_path)
        assert (get_watch(db, watch_id)["vantage"], get_watch(db, watch_id)["every_seconds"]) == ("ru-isp", 86400)
        db.close()


def test_api_add_list_get_remove(web_server, archive_builder):
    assert web_server.get("/api/watches").json() == {"watches": [], "total": 0, "limit": 100, "offset": 0}
    r = web_server.post("/api/watches", json={"url": "https://rus.azattyk.org/a/1.html", "every": "2h"})
    assert r.status_code == 201
    body = r.json()
    watch_id = body["id"]
    assert r.headers["Location"] == f"/api/watches/{watch_id}"
    assert {k: body[k] for k in ("url", "vantage", "every", "every_seconds", "active", "source", "last")} == {
        "url": "https://rus.azattyk.org/a/1.html", "vantage": "direct", "every": "2h", "every_seconds": 7200,
        "active": True, "source": "web", "last": None}
    assert body["next_due"].endswith("Z")

    again = web_server.post("/api/watches", json={"url": "https://rus.azattyk.org/a/1.html", "every": "1h"})
    assert (again.status_code, again.json()["id"], again.json()["every"]) == (200, watch_id, "1h")
    default = web_server.post("/api/watches", json={"url": "https://kloop.kg/"}).json()
    assert default["every"] == "6h"

    listed = web_server.get("/api/watches?limit=1").json()
    assert (listed["total"], [w["id"] for w in listed["watches"]]) == (2, [watch_id])
    assert web_server.get(f"/api/watches/{watch_id}").json()["every_seconds"] == 3600

    anonymous = web_server.http.delete(f"{web_server.url}/api/watches/{watch_id}")
    assert anonymous.status_code == 401 and "staff" in anonymous.json()["error"]
    assert web_server.get(f"/api/watches/{watch_id}").json()["active"] is True
    create_user(archive_builder.db, "editor", "correct horse battery staple")
    assert web_server.post_form("/login", {"username": "editor", "password": "correct horse battery staple"}
                                ).status_code == 303
    assert web_server.http.delete(f"{web_server.url}/api/watches/{watch_id}").status_code == 204
    assert archive_builder.db.execute("SELECT action FROM audit_log WHERE target = ?",
                                      (f"watch:{watch_id}",)).fetchone()[0] == "watch.remove"
    gone = web_server.http.delete(f"{web_server.url}/api/watches/{watch_id}")
    assert (gone.status_code, gone.json()["error"]) == (404, f"Watch {watch_id} was already removed.")
    assert web_server.get(f"/api/watches/{watch_id}").json()["active"] is False
    assert [w["id"] for w in web_server.get("/api/watches").json()["watches"]] == [default["id"]]
    missing = web_server.http.delete(f"{web_server.url}/api/watches/999")
    assert (missing.status_code, missing.json()["error"]) == (404, "There is no watch 999.")


def test_api_does_not_remove_a_takedown_watch(web_server, archive_builder):
    watch_id = add_watch(archive_builder.db, "https://kloop.kg/ordered", 3600, source="takedown:4")
    create_user(archive_builder.db, "editor", "correct horse battery staple")
    web_server.post_form("/login", {"username": "editor", "password": "correct horse battery staple"})
    r = web_server.http.delete(f"{web_server.url}/api/watches/{watch_id}")
    assert r.status_code == 403 and "takedown order 4" in r.json()["error"]
    assert get_watch(archive_builder.db, watch_id)["active"] == 1


@pytest.mark.parametrize("kwargs, field, words", [
    ({"data": "url=https://kloop.kg/"}, None, "not JSON"),
    ({"json": ["https://kloop.kg/"]}, "_schema", "Invalid input type"),
    ({"json": {}}, "url", "Give the URL to watch"),
    ({"json": {"url": 7}}, "url", "url must be a string"),
    ({"json": {"url": "https://kloop.kg/", "every": 3600}}, "every", 'such as "6h"'),
    ({"json": {"url": "https://kloop.kg/", "priority": "high"}}, "priority", "Unknown field"),
    ({"json": {"url": "https://kloop.kg/", "every": "1m"}}, "every", "too short; the shortest is 15m"),
    ({"json": {"url": "https://kloop.kg/", "every": "soon"}}, "every", "'soon' is not a duration"),
    ({"json": {"url": "https://kloop.kg/", "vantage": "mars"}}, "vantage", "no vantage point 'mars'"),
    ({"json": {"url": "http://169.254.169.254/latest/"}}, "url", "link-local"),
    ({"json": {"url": "http://intranet.kloop.kg/"}}, "url", "private address"),
    ({"json": {"url": "ftp://kloop.kg/"}}, "url", "only http and https"),
])
def test_api_refuses_bad_input(web_server, archive_builder, kwargs, field, words):
    r = web_server.post("/api/watches", **kwargs)
    assert r.status_code == 400
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert words in body["error"]
    if field:
        assert field in body["fields"]
    assert watches(archive_builder) == []


def test_api_list_arguments_are_checked(web_server):
    r = web_server.get("/api/watches?limit=0")
    assert r.status_code == 400 and "limit" in r.json()["fields"]


def test_list_pages(web_server, archive_builder):
    ids = [add_watch(archive_builder.db, f"https://kloop.kg/n/{i}", 3600) for i in range(51)]
    first = lxml.html.fromstring(web_server.get("/watches").text)
    assert first.get_element_by_id("count").text_content() == "51 watched URLs"
    assert len(first.xpath("//table[@id='watches']/tbody/tr")) == 50
    assert first.xpath("//nav[@class='pager']/a/@href") == ["/watches?page=2"]
    second = lxml.html.fromstring(web_server.get("/watches?page=2").text)
    assert second.xpath("//table[@id='watches']/tbody/tr/@id") == [f"watch-{ids[-1]}"]
    assert second.xpath("//nav[@class='pager']/a/@href") == ["/watches?page=1"]
    assert web_server.get("/watches?page=0").status_code == 400
