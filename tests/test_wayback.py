"""Wayback-style URLs and permalinks over real HTTP, on real WARC files and a real catalog."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import lxml.html
import pytest

from archive import catalog
from archive.lookup import mementos

from .webapp import ArchiveBuilder

URL = "https://kloop.kg/news/1?id=5"
CYRILLIC = "https://kloop.kg/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8"
T0 = datetime(2024, 4, 18, 9, 30, 15, 250000, tzinfo=UTC)


@dataclass
class History:
    """Captures of URL at T0, T0+1d, T0+30d (public), one private and one removed between them."""

    ids: list[int]  # the public ones, oldest first
    private: int
    removed: int
    other: int  # same path, other query string
    cyrillic: int
    http_only: int  # submitted as http://, found from https:// too


def set_visibility(builder: ArchiveBuilder, capture_id: int, visibility: str, reason: str) -> None:
    builder.db.execute("UPDATE captures SET visibility = ?, visibility_reason = ? WHERE id = ?",
                       (visibility, reason, capture_id))


def build_history(builder: ArchiveBuilder) -> History:
    """The captures every lasting-link test reads (outcome ok: the builder does not classify)."""
    ids = [builder.add(URL, f"Новость, версия {n}", [f"Текст версии {n}."], captured_at=T0 + delta)
           for n, delta in enumerate((timedelta(0), timedelta(days=1), timedelta(days=30)))]
    private = builder.add(URL, "Private one", ["personal data"], captured_at=T0 + timedelta(days=2))
    removed = builder.add(URL, "Removed one", ["error"], captured_at=T0 + timedelta(days=3))
    set_visibility(builder, private, "private", "personal data of a reader")
    set_visibility(builder, removed, "removed", "captured in error")
    other = builder.add("https://kloop.kg/news/1?id=6", "Other story", ["other"], captured_at=T0)
    cyrillic = builder.add(CYRILLIC, "Новости", ["новости"], captured_at=T0)
    http_only = builder.add("http://kloop.kg/old", "Old page", ["old"], captured_at=T0, status=404)
    builder.db.execute("UPDATE captures SET outcome = CASE status WHEN 200 THEN 'ok' ELSE 'not_found' END")
    return History(ids, private, removed, other, cyrillic, http_only)


def ts(capture_id: int, builder: ArchiveBuilder) -> str:
    return mementos.timestamp(catalog.get_capture(builder.db, capture_id)["captured_at"])


@pytest.fixture
def history(archive_builder) -> History:
    return build_history(archive_builder)


def test_partial_timestamp_redirects_to_the_nearest_capture_then_shows_it(web_server, archive_builder, history):
    # 2024 stands for 2024-12-31 23:59:59 (pywb's padding): the newest capture of 2024 is nearest.
    r = web_server.get(f"/web/2024/{URL}")
    assert r.status_code == 302
    newest = ts(history.ids[2], archive_builder)
    assert r.headers["Location"] == f"{web_server.url}/web/{newest}/{URL}"
    page = web_server.get(r.headers["Location"].removeprefix(web_server.url))
    assert page.status_code == 200
    assert "Новость, версия 2" in page.text
    assert lxml.html.fromstring(page.text).xpath("//h1")[0].text_content().strip() == "Новость, версия 2"
    # A day-precise timestamp picks that day's capture.
    r = web_server.get(f"/web/20240419/{URL}")
    assert r.headers["Location"].endswith(f"/web/{ts(history.ids[1], archive_builder)}/{URL}")


def test_exact_timestamp_shows_the_capture_and_a_near_miss_redirects(web_server, archive_builder, history):
    first = ts(history.ids[0], archive_builder)
    assert first == "20240418093015"
    page = web_server.get(f"/web/{first}/{URL}")
    assert page.status_code == 200 and "Новость, версия 0" in page.text
    r = web_server.get(f"/web/20240418093000/{URL}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/web/{first}/{URL}")


def test_query_string_scheme_and_escapes_are_part_of_the_original_url(web_server, archive_builder, history):
    r = web_server.get("/web/20240418093015/https://kloop.kg/news/1?id=6")
    assert r.status_code == 200 and "Other story" in r.text
    # Percent-escapes stay as the URL had them (not decoded by the router).
    r = web_server.get(f"/web/20240418093015/{CYRILLIC}")
    assert r.status_code == 200 and "Новости" in r.text
    # A capture submitted as http:// answers for https:// too, redirecting to its own URL.
    r = web_server.get("/web/20240418093015/https://kloop.kg/old")
    assert r.status_code == 302 and r.headers["Location"].endswith("/web/20240418093015/http://kloop.kg/old")
    # A proxy that merged the scheme's // into one slash; and no scheme at all.
    for path in ("/web/2024/https:/kloop.kg/news/1?id=5", "/web/2024/kloop.kg/news/1?id=5"):
        r = web_server.get(path)
        assert r.status_code == 302, path
        assert r.headers["Location"].endswith(f"/web/{ts(history.ids[2], archive_builder)}/{URL}"), path


def test_no_timestamp_goes_to_the_latest(web_server, archive_builder, history):
    r = web_server.get(f"/web/{URL}")
    assert r.status_code == 302
    assert r.headers["Location"].endswith(f"/web/{ts(history.ids[2], archive_builder)}/{URL}")


def test_non_public_captures_are_never_chosen(web_server, archive_builder, history):
    # Nearest in time to the private (day 2) and removed (day 3) captures is a public one.
    for day in ("20240420", "20240421"):
        r = web_server.get(f"/web/{day}/{URL}")
        assert r.status_code == 302
        chosen = r.headers["Location"].split("/web/")[1].split("/")[0]
        assert chosen in {ts(i, archive_builder) for i in history.ids}
    hidden = ts(history.private, archive_builder)
    r = web_server.get(f"/web/{hidden}/{URL}")
    assert r.status_code == 302 and hidden not in r.headers["Location"]


def test_listing_by_date_and_by_prefix(web_server, archive_builder, history):
    page = web_server.get(f"/web/*/{URL}")
    assert page.status_code == 200
    rows = lxml.html.fromstring(page.text).xpath("//table[@id='captures']/tbody/tr")
    assert [int(r.get("data-capture-id")) for r in rows] == history.ids  # oldest first, public only
    links = [r.xpath(".//a[@class='memento']/@href")[0] for r in rows]
    assert links == [f"/web/{ts(i, archive_builder)}/{URL}" for i in history.ids]
    assert "Private one" not in page.text and "Removed one" not in page.text
    prefix = web_server.get("/web/*/https://kloop.kg/news/*")
    ids = [int(r.get("data-capture-id")) for r in
           lxml.html.fromstring(prefix.text).xpath("//table[@id='captures']/tbody/tr")]
    assert sorted(ids) == sorted(history.ids + [history.other])
    empty = web_server.get("/web/*/https://kloop.kg/never-captured")
    assert empty.status_code == 200 and 'id="no-captures"' in empty.text


@pytest.mark.parametrize("path, status, words", [
    ("/web/20241399/https://kloop.kg/news/1", 400, "month 13"),
    ("/web/2024041/https://kloop.kg/news/1", 400, "even number of digits"),
    ("/web/2024/ftp://kloop.kg/file", 400, "not an address"),
    ("/web/2024/https://kloop.kg/never-captured", 404, "no capture of https://kloop.kg/never-captured"),
])
def test_bad_wayback_addresses_say_what_is_wrong(web_server, history, path, status, words):
    r = web_server.get(path)
    assert r.status_code == status
    assert words in lxml.html.fromstring(r.text).text_content()


def test_permalinks(web_server, archive_builder, history):
    code = catalog.get_capture(archive_builder.db, history.ids[0])["permalink"]
    assert re.fullmatch(f"[{catalog.PERMALINK_ALPHABET}]{{8}}", code)
    r = web_server.get(f"/p/{code.upper()}")
    assert r.status_code == 301 and r.headers["Location"].endswith(f"/p/{code}")
    r = web_server.get(f"/p/{code}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/capture/{history.ids[0]}")
    assert web_server.get(f"/p/{code}", allow_redirects=True).url.endswith(f"/capture/{history.ids[0]}")
    # The record page shows the short link, absolute.
    record = lxml.html.fromstring(web_server.get(f"/capture/{history.ids[0]}").text)
    assert record.xpath("//a[@id='permalink']/@href") == [f"{web_server.url}/p/{code}"]


def test_permalinks_of_non_public_captures_answer_403_and_410_with_the_reason(web_server, archive_builder, history):
    private = catalog.get_capture(archive_builder.db, history.private)["permalink"]
    removed = catalog.get_capture(archive_builder.db, history.removed)["permalink"]
    r = web_server.get(f"/p/{private}")
    assert r.status_code == 403 and "personal data of a reader" in r.text
    assert f"/capture/{history.private}" not in r.headers.get("Location", "")
    r = web_server.get(f"/p/{removed}")
    assert r.status_code == 410 and "captured in error" in r.text


@pytest.mark.parametrize("code", ["abc", "0000oooo", "abcdefgh1"])
def test_what_is_not_a_permalink_is_404(web_server, history, code):
    r = web_server.get(f"/p/{code}")
    assert r.status_code == 404 and "not a permalink" in r.text


def test_nearest_capture_query_uses_the_url_index(archive_builder, history):
    """Speed: the nearest-capture statement is range scans on captures_url, never a table scan."""
    sql, args = mementos.nearest_sql(URL, T0)
    plan = [row["detail"] for row in archive_builder.db.execute("EXPLAIN QUERY PLAN " + sql, args)]
    on_captures = [d for d in plan if re.match(r"(SCAN|SEARCH) captures\b", d)]
    assert len(on_captures) == 4, plan  # before and after ``when``, for each scheme
    indexed = "SEARCH captures USING INDEX captures_url (url=? AND captured_at"
    assert all(d.startswith(indexed) for d in on_captures), plan
    # And it finds the nearest: 13 hours after T0 is nearer the next day's capture.
    near = mementos.nearest(archive_builder.db, URL, T0 + timedelta(hours=13))
    assert near["id"] == history.ids[1]
