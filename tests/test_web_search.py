"""The search page and the search API, over real HTTP against a real index."""
from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import lxml.html
import pytest

from archive.lookup.present import search_json
from search import SearchQuery

KLOOP = ("https://kloop.kg/blog/2024/04/18/tiktok/", "ГКНБ обязал провайдеров заблокировать TikTok",
         ["Служба безопасности потребовала заблокировать TikTok по всей стране.",
          "Провайдеры получили письмо <script>alert(1)</script> в пятницу."])
AZATTYK = ("https://rus.azattyk.org/a/32900000.html", "Azattyk returns after removing content",
           ["RFE/RL's Kyrgyz service was blacked out for months.", "It came back after removing an article."])
OLD = ("https://kloop.kg/blog/2023/09/01/unreachable/", "Kloop unreachable in Kyrgyzstan",
       ["Readers in Kyrgyzstan can no longer open the site without a VPN."])


@pytest.fixture
def three(archive_builder):
    """Three indexed captures on two sites and two dates; returns their ids by name."""
    return {
        "kloop": archive_builder.add(*KLOOP, lang="ru", captured_at=datetime(2024, 4, 18, 9, 30, 15, tzinfo=UTC)),
        "azattyk": archive_builder.add(*AZATTYK, captured_at=datetime(2024, 5, 2, 14, 0, 0, tzinfo=UTC)),
        "old": archive_builder.add(*OLD, captured_at=datetime(2023, 9, 1, 6, 0, 0, tzinfo=UTC)),
    }


def results(page: str) -> list[dict]:
    doc = lxml.html.fromstring(page)
    out = []
    for item in doc.xpath("//ol[@class='results']/li"):
        link = item.xpath(".//h3/a")[0]
        snippet = item.xpath(".//p[@class='snippet']")
        out.append({"href": link.get("href"), "title": link.text_content(),
                    "url": item.xpath(".//p[@class='url']")[0].text_content(),
                    "time": item.xpath(".//time")[0].text_content(),
                    "snippet": lxml.html.tostring(snippet[0], encoding="unicode") if snippet else ""})
    return out


def test_search_finds_text_with_highlighted_snippet(three, web_server):
    r = web_server.get("/", params={"q": "заблокировать"})
    assert r.status_code == 200
    [hit] = results(r.text)
    assert hit["href"] == f"/capture/{three['kloop']}"
    assert hit["title"] == KLOOP[1]
    assert hit["url"] == KLOOP[0]
    assert hit["time"] == "2024-04-18 09:30:15 UTC"
    assert "<mark>заблокировать</mark>" in hit["snippet"]
    assert "1 capture found" in r.text


def test_snippet_html_from_archived_text_is_escaped(three, web_server):
    page = web_server.get("/", params={"q": "провайдеры письмо"}).text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_empty_query_lists_newest_first(three, web_server):
    r = web_server.get("/")
    assert r.status_code == 200
    assert "Newest captures" in r.text
    assert [h["href"] for h in results(r.text)] == [f"/capture/{three[k]}" for k in ("azattyk", "kloop", "old")]


def test_filters_by_site_and_date(three, web_server):
    by_site = results(web_server.get("/", params={"domain": "kloop.kg"}).text)
    assert {h["href"] for h in by_site} == {f"/capture/{three['kloop']}", f"/capture/{three['old']}"}
    april = results(web_server.get("/", params={"from": "2024-04-18", "to": "2024-04-18"}).text)
    assert [h["href"] for h in april] == [f"/capture/{three['kloop']}"]
    both = results(web_server.get("/", params={"q": "Kyrgyzstan", "to": "2023-12-31"}).text)
    assert [h["href"] for h in both] == [f"/capture/{three['old']}"]


def test_form_keeps_what_was_typed(three, web_server):
    doc = lxml.html.fromstring(web_server.get("/", params={"q": "TikTok", "domain": "kloop.kg",
                                                           "from": "2024-01-01"}).text)
    assert doc.get_element_by_id("q").get("value") == "TikTok"
    assert doc.get_element_by_id("domain").get("value") == "kloop.kg"
    assert doc.get_element_by_id("from").get("value") == "2024-01-01"


def test_links_with_extra_parameters_still_work(three, web_server):
    assert len(results(web_server.get("/", params={"q": "TikTok", "utm_source": "telegram"}).text)) == 1
    assert web_server.get("/api/search", params={"q": "TikTok", "fbclid": "x"}).json()["total"] == 1


def test_bad_input_is_explained_on_the_page(web_server):
    for params, words in (({"q": '"unclosed phrase'}, "quote"), ({"from": "18.04.2024"}, "not a date"),
                          ({"from": "2024-05-01", "to": "2024-04-01"}, "start date is after the end date"),
                          ({"page": "0"}, "page")):
        r = web_server.get("/", params=params)
        assert r.status_code == 400, params
        assert words in r.text.lower(), (params, r.text)
        assert "notice error" in r.text


def test_paging(archive_builder, web_server):
    ids = [archive_builder.add(f"https://kloop.kg/news/{n}", f"Блокировка номер {n}", [f"Сайт заблокирован {n}."],
                               captured_at=datetime(2024, 1, 1 + n, tzinfo=UTC), index=False) for n in range(22)]
    archive_builder.index(*ids)
    first = web_server.get("/", params={"q": "заблокирован"})
    doc = lxml.html.fromstring(first.text)
    assert "22 captures found" in first.text
    assert len(results(first.text)) == 20
    assert not doc.xpath("//a[@rel='prev']")
    [next_link] = doc.xpath("//a[@rel='next']/@href")
    second = web_server.get(next_link)
    doc = lxml.html.fromstring(second.text)
    assert len(results(second.text)) == 2
    assert not doc.xpath("//a[@rel='next']")
    assert doc.xpath("//a[@rel='prev']/@href") == ["/?q=" + quote("заблокирован")]
    seen = {h["href"] for h in results(first.text) + results(second.text)}
    assert seen == {f"/capture/{i}" for i in ids}


def test_capture_indexed_while_running_is_found(web_server, archive_builder):
    """The worker indexes from another backend (or process) while the app serves."""
    assert results(web_server.get("/", params={"q": "Azattyk"}).text) == []
    capture_id = archive_builder.add(*AZATTYK)
    assert [h["href"] for h in results(web_server.get("/", params={"q": "Azattyk"}).text)] == [f"/capture/{capture_id}"]


def test_api_search_shape(three, web_server):
    r = web_server.get("/api/search", params={"q": "TikTok OR Kyrgyzstan OR blacked", "limit": 2})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["total"] == 3
    assert (body["limit"], body["offset"]) == (2, 0)
    assert len(body["hits"]) == 2
    for hit in body["hits"]:
        assert {"id", "url", "title", "captured_at", "snippet", "domain", "lang", "status", "score"} <= hit.keys()
        assert hit["captured_at"].endswith("Z")
        assert isinstance(hit["id"], int)
        assert "<mark>" in hit["snippet"]
    more = web_server.get("/api/search", params={"q": "TikTok OR Kyrgyzstan OR blacked", "limit": 2,
                                                 "offset": 2}).json()
    assert len(more["hits"]) == 1
    assert {h["id"] for h in body["hits"] + more["hits"]} == set(three.values())


def test_api_search_filters(three, web_server):
    body = web_server.get("/api/search", params={"domain": "www.kloop.kg", "since": "2024-01-01"}).json()
    assert [h["id"] for h in body["hits"]] == [three["kloop"]]
    body = web_server.get("/api/search", params={"since": "2024-04-18T09:30:15Z",
                                                 "until": "2024-04-18T09:30:15Z"}).json()
    assert [h["id"] for h in body["hits"]] == [three["kloop"]]
    assert body["hits"][0]["captured_at"] == "2024-04-18T09:30:15Z"


@pytest.mark.parametrize("params, field", [
    ({"q": "x", "limit": "0"}, "limit"), ({"q": "x", "limit": "101"}, "limit"), ({"q": "x", "limit": "ten"}, "limit"),
    ({"q": "x", "offset": "-1"}, "offset"), ({"since": "yesterday"}, "since"), ({"until": "2024-13-01"}, "until"),
    ({"q": "(kloop"}, "q"), ({"since": "2024-05-01", "until": "2024-04-01"}, "_schema"),
    # Named by the error's field, not by the word "cursor" in its message.
    ({"q": "x", "cursor": "not-a-cursor"}, "cursor"), ({"q": "x", "cursor": "eyJ4IjoxfQ", "offset": "3"}, "cursor"),
])
def test_api_search_rejects_bad_input(web_server, params, field):
    r = web_server.get("/api/search", params=params)
    assert r.status_code == 400
    body = r.json()
    assert field in body["fields"], body
    assert body["error"]


def test_search_json_is_what_the_api_returns(three, web_server, archive_builder):
    """present.search_json (used by `python -m archive search --json`) gives the API's hits."""
    body = search_json(archive_builder.backend.search(SearchQuery("TikTok")))
    assert body["total"] == 1
    [hit] = body["hits"]
    assert {"id", "url", "title", "captured_at", "snippet"} <= hit.keys()
    assert hit == web_server.get("/api/search", params={"q": "TikTok"}).json()["hits"][0]
