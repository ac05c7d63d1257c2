"""The CDX API and the availability API over real HTTP, read back against the catalog and the WARC files."""
from __future__ import annotations

from urllib.parse import quote

import pytest
import surt

from archive import catalog
from archive.lookup import mementos

from .test_wayback import CYRILLIC, URL, build_history


@pytest.fixture
def history(archive_builder):
    h = build_history(archive_builder)
    # An unreachable site: a capture without a response (no status, no page record).
    h.unreachable = catalog.add_capture(archive_builder.db, {
        "url": "https://news.kloop.kg/gone", "captured_at": "2024-04-20T00:00:00.000000Z", "status": None,
        "outcome": "unreachable"}, [])
    return h


def lines(server, query: str) -> list[list[str]]:
    r = server.get("/cdx?" + query)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    return [line.split(" ") for line in r.text.splitlines()]


def test_default_fields_match_the_catalog_and_the_warc(web_server, archive_builder, history):
    rows = lines(web_server, f"url={URL}")
    assert len(rows) == 3  # public only
    for row, capture_id in zip(rows, history.ids, strict=True):
        capture = catalog.get_capture(archive_builder.db, capture_id)
        main = catalog.get_records(archive_builder.db, capture_id, role="main")[0]
        assert row == [surt.surt(URL), mementos.timestamp(capture["captured_at"]), URL, "text/html", "200",
                       f"sha256:{capture['sha256']}", str(main.length), "ok"]
    assert rows[0][0] == "kg,kloop)/news/1?id=5"


def test_json_output_has_field_names_first(web_server, archive_builder, history):
    body = web_server.get(f"/cdx?url={URL}&output=json&fl=timestamp,statuscode,id").json()
    assert body[0] == ["timestamp", "statuscode", "id"]
    assert [int(r[2]) for r in body[1:]] == history.ids
    assert web_server.get("/cdx?url=kloop.kg/never&output=json").json() == []


def test_match_types_and_wildcards(web_server, archive_builder, history):
    def ids(query):
        return sorted(int(r[0]) for r in lines(web_server, query + "&fl=id"))

    news = sorted(history.ids + [history.other])
    assert ids("url=https://kloop.kg/news/&matchType=prefix") == news
    assert ids("url=kloop.kg/news/*") == news  # wildcard form, no scheme
    host = sorted(news + [history.cyrillic, history.http_only])  # http:// and https:// of the host
    assert ids("url=kloop.kg&matchType=host") == host
    assert ids("url=https://kloop.kg/anything&matchType=host") == host  # the path is ignored
    assert ids("url=*.kloop.kg") == sorted(host + [history.unreachable])  # with news.kloop.kg
    # The url parameter URL-encoded as it should be, and a pasted IRI: both are the percent-encoded URL.
    assert ids("url=" + quote(CYRILLIC, safe="")) == [history.cyrillic]
    assert ids("url=" + quote("https://kloop.kg/новости", safe=":/")) == [history.cyrillic]
    assert ids("url=http://kloop.kg/old") == ids("url=https://kloop.kg/old") == [history.http_only]


def test_time_range_limit_sort_and_offset(web_server, archive_builder, history):
    first, middle, last = history.ids

    def ids(query):
        return [int(r[0]) for r in lines(web_server, f"url={URL}&fl=id&" + query)]

    assert ids("from=20240419&to=20240419") == [middle]
    assert ids("from=202404") == [first, middle, last]
    assert ids("to=202404") == [first, middle]
    assert ids("limit=2") == [first, middle]
    assert ids("limit=-1") == [last]
    assert ids("sort=reverse") == [last, middle, first]
    assert ids("sort=closest&closest=20240517") == [last, middle, first]
    assert ids("closest=20240419120000&limit=1") == [middle]
    assert ids("offset=1&limit=1") == [middle]


def test_filters(web_server, archive_builder, history):
    def ids(*filters, url="kloop.kg&matchType=host"):
        query = f"url={url}&fl=id" + "".join(f"&filter={f}" for f in filters)
        return sorted(int(r[0]) for r in lines(web_server, query))

    assert ids("statuscode:200") == sorted(history.ids + [history.other, history.cyrillic])
    assert ids("!statuscode:200") == [history.http_only]
    assert ids("=status:404") == [history.http_only]  # pywb's field name
    assert ids("~original:.*id=[56]$") == sorted(history.ids + [history.other])
    assert ids("!~original:.*id=", "statuscode:200") == [history.cyrillic]
    assert ids("outcome:not_found") == [history.http_only]
    assert ids("=mimetype:text/html", "!=original:" + URL) == sorted(
        [history.other, history.cyrillic, history.http_only])


def test_a_capture_without_a_response_has_dashes(web_server, history):
    [row] = lines(web_server, "url=https://news.kloop.kg/gone")
    assert row == ["kg,kloop,news)/gone", "20240420000000", "https://news.kloop.kg/gone", "-", "-", "-", "-",
                   "unreachable"]


@pytest.mark.parametrize("query, words", [
    ("", "url is required"),
    ("url=ftp://kloop.kg/x", "only http and https"),
    (f"url={URL}&matchType=everything", "matchType='everything' is not one of exact, prefix, host, domain"),
    (f"url={URL}&from=2024-04-01", "from: timestamp '2024-04-01' must be 4 to 14 digits"),
    (f"url={URL}&to=20241301", "month 13"),
    (f"url={URL}&limit=ten", "limit='ten' is not a whole number"),
    (f"url={URL}&limit=0", "limit=0 must be 1 to 10000"),
    (f"url={URL}&sort=random", "sort='random' is not reverse or closest"),
    (f"url={URL}&sort=closest", "sort=closest needs closest="),
    ("url=kloop.kg/*&sort=closest&closest=2024", "matchType=exact only"),
    (f"url={URL}&fl=timestamp,size", "fl: unknown field 'size'"),
    (f"url={URL}&filter=statuscode", "is not [!][=|~]field:expression"),
    (f"url={URL}&filter=~original:(", "is not a regular expression"),
    (f"url={URL}&output=xml", "output='xml' is not text (the default) or json"),
])
def test_bad_parameters_are_400_with_the_reason(web_server, history, query, words):
    r = web_server.get("/cdx?" + query)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain")
    assert words in r.text
    r = web_server.get("/cdx?" + query + "&output=json")
    if "output=xml" not in query:
        assert r.status_code == 400 and words in r.json()["error"]


def test_availability_api(web_server, archive_builder, history):
    body = web_server.get("/api/available?url=kloop.kg/news/1?id=5&timestamp=20240419").json()
    closest = body["archived_snapshots"]["closest"]
    middle = catalog.get_capture(archive_builder.db, history.ids[1])
    assert closest == {
        "available": True, "url": f"{web_server.url}/web/{mementos.timestamp(middle['captured_at'])}/{URL}",
        "timestamp": mementos.timestamp(middle["captured_at"]), "status": "200", "outcome": "ok",
        "permalink": f"{web_server.url}/p/{middle['permalink']}"}
    latest = web_server.get("/api/available", params={"url": URL}).json()["archived_snapshots"]["closest"]
    assert latest["timestamp"] == mementos.timestamp(catalog.get_capture(archive_builder.db, history.ids[2])
                                                     ["captured_at"])
    assert web_server.get("/api/available?url=kloop.kg/never").json() == {
        "url": "kloop.kg/never", "archived_snapshots": {}}
    r = web_server.get("/api/available?url=kloop.kg&timestamp=yesterday")
    assert r.status_code == 400 and "must be 4 to 14 digits" in r.json()["error"]
    r = web_server.get("/api/available")
    assert r.status_code == 400 and "url is required" in r.json()["error"]
