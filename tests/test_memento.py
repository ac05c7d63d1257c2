"""Memento (RFC 7089): TimeGate, TimeMaps and memento headers, read by hand and by the reference client."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest
from memento_client import MementoClient

from archive import catalog
from archive.lookup import mementos

from .test_wayback import T0, URL, build_history
from .webapp import LiveServer, make_settings

LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[a-z]+="[^"]*")*)')
PARAM = re.compile(r'([a-z]+)="([^"]*)"')


def parse_links(header: str) -> list[tuple[str, dict[str, str]]]:
    """An RFC 8288 Link header as (URI, params) pairs: our own small reader, independent of the app's writer."""
    return [(uri, dict(PARAM.findall(params))) for uri, params in LINK.findall(header)]


def by_rel(links: list[tuple[str, dict[str, str]]]) -> dict[str, tuple[str, str | None]]:
    """Each relation (first, prev, memento, …) → (URI, datetime)."""
    out = {}
    for uri, params in links:
        for rel in params.get("rel", "").split():
            out[rel] = (uri, params.get("datetime"))
    return out


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


@pytest.fixture
def history(archive_builder):
    return build_history(archive_builder)


def memento_uri(server, builder, capture_id: int) -> str:
    capture = catalog.get_capture(builder.db, capture_id)
    return f"{server.url}/web/{mementos.timestamp(capture['captured_at'])}/{capture['url']}"


def test_timegate_redirects_to_the_memento_nearest_accept_datetime(web_server, archive_builder, history):
    r = web_server.get(f"/timegate/{URL}", headers={"Accept-Datetime": "Fri, 19 Apr 2024 10:00:00 GMT"})
    assert r.status_code == 302
    assert "accept-datetime" in [v.strip() for v in r.headers["Vary"].lower().split(",")]
    assert "Memento-Datetime" not in r.headers  # a TimeGate is not a memento
    middle = memento_uri(web_server, archive_builder, history.ids[1])
    assert r.headers["Location"] == middle
    rels = by_rel(parse_links(r.headers["Link"]))
    assert rels["original"][0] == URL
    assert rels["timegate"][0] == f"{web_server.url}/timegate/{URL}"
    assert rels["timemap"][0] == f"{web_server.url}/timemap/link/{URL}"
    chosen = [(u, p["datetime"]) for u, p in parse_links(r.headers["Link"]) if p["rel"] == "memento"]
    assert chosen == [(middle, "Fri, 19 Apr 2024 09:30:15 GMT")]
    assert rels["first"][0] == rels["prev"][0] == memento_uri(web_server, archive_builder, history.ids[0])
    assert rels["last"][0] == rels["next"][0] == memento_uri(web_server, archive_builder, history.ids[2])
    # Without Accept-Datetime: now, so the latest.
    r = web_server.get(f"/timegate/{URL}")
    assert r.status_code == 302 and r.headers["Location"] == memento_uri(web_server, archive_builder, history.ids[2])


@pytest.mark.parametrize("value", ["yesterday", "2024-04-18T09:30:15Z", "Fri, 19 Apr 2024 10:00:00 +0600",
                                   "Fri, 45 Apr 2024 10:00:00 GMT"])
def test_timegate_refuses_a_bad_accept_datetime(web_server, history, value):
    r = web_server.get(f"/timegate/{URL}", headers={"Accept-Datetime": value})
    assert r.status_code == 400
    assert "RFC 1123" in r.text


def test_timegate_without_captures_is_404_with_links(web_server, history):
    r = web_server.get("/timegate/https://kloop.kg/never-captured")
    assert r.status_code == 404
    assert "accept-datetime" in [v.strip() for v in r.headers["Vary"].lower().split(",")]
    assert by_rel(parse_links(r.headers["Link"]))["original"][0] == "https://kloop.kg/never-captured"


def test_mementos_carry_memento_datetime_and_links(web_server, archive_builder, history):
    first, middle, last = history.ids
    for path in (f"/capture/{middle}", memento_uri(web_server, archive_builder, middle).removeprefix(web_server.url)):
        r = web_server.get(path)
        assert r.status_code == 200, path
        assert parsedate_to_datetime(r.headers["Memento-Datetime"]) == (T0 + timedelta(days=1)).replace(microsecond=0)
        rels = by_rel(parse_links(r.headers["Link"]))
        assert rels["original"][0] == URL
        assert rels["timegate"][0].endswith(f"/timegate/{URL}")
        assert rels["timemap"][0].endswith(f"/timemap/link/{URL}")
        assert rels["prev"][0] == rels["first"][0] == memento_uri(web_server, archive_builder, first)
        assert rels["next"][0] == rels["last"][0] == memento_uri(web_server, archive_builder, last)
        assert rels["next"][1] == http_date((T0 + timedelta(days=30)).replace(microsecond=0))
    # The first memento has no prev; it is its own first.
    rels = by_rel(parse_links(web_server.get(f"/capture/{first}").headers["Link"]))
    assert "prev" not in rels and rels["first"][0] == memento_uri(web_server, archive_builder, first)
    # A URL captured once: first and last are that one memento, no prev or next.
    rels = by_rel(parse_links(web_server.get(f"/capture/{history.other}").headers["Link"]))
    assert "prev" not in rels and "next" not in rels and rels["first"] == rels["last"]


def test_link_format_timemap_lists_every_public_memento(web_server, archive_builder, history):
    r = web_server.get(f"/timemap/link/{URL}")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/link-format")
    links = parse_links(r.text)
    rels = by_rel(links)
    assert rels["original"][0] == URL
    assert rels["self"][0] == f"{web_server.url}/timemap/link/{URL}"
    self_params = next(p for u, p in links if "self" in p["rel"].split())
    assert self_params["from"] == "Thu, 18 Apr 2024 09:30:15 GMT"
    assert self_params["until"] == "Sat, 18 May 2024 09:30:15 GMT"
    listed = [u for u, p in links if "memento" in p["rel"].split()]
    assert listed == [memento_uri(web_server, archive_builder, i) for i in history.ids]  # no private, no removed
    assert web_server.get("/timemap/link/https://kloop.kg/never-captured").status_code == 404


def test_json_timemap(web_server, archive_builder, history):
    body = web_server.get(f"/timemap/json/{URL}").json()
    assert body["original_uri"] == URL
    assert body["timegate_uri"] == f"{web_server.url}/timegate/{URL}"
    assert [m["id"] for m in body["mementos"]["list"]] == history.ids
    assert body["mementos"]["first"]["datetime"] == "2024-04-18T09:30:15.250000Z"
    assert body["mementos"]["last"]["uri"] == memento_uri(web_server, archive_builder, history.ids[2])
    assert {m["outcome"] for m in body["mementos"]["list"]} == {"ok"}


def test_absolute_links_use_archive_url(tmp_path, archive_builder):
    """With ARCHIVE_URL set, every absolute link starts with it, whatever host the request came to."""
    settings = make_settings(archive_builder.settings.archive_home, archive_url="https://archive.example/")
    history = build_history(archive_builder)
    with LiveServer(settings) as server:
        r = server.get(f"/timegate/{URL}")
        assert r.headers["Location"].startswith("https://archive.example/web/")
        assert all(uri.startswith("https://archive.example/") for uri, _ in parse_links(r.headers["Link"])
                   if uri != URL)
        body = server.get(f"/timemap/json/{URL}").json()
        assert body["mementos"]["list"][0]["permalink"].startswith("https://archive.example/p/")
        assert len(body["mementos"]["list"]) == len(history.ids)


def test_the_reference_memento_client_reads_our_timegate(web_server, archive_builder, history):
    """py-memento-client (the Memento team's library) against the live server: no knowledge of our code."""
    middle = memento_uri(web_server, archive_builder, history.ids[1])
    client = MementoClient(timegate_uri=f"{web_server.url}/timegate/", check_native_timegate=False)
    assert client.is_memento(middle)
    assert not client.is_memento(f"{web_server.url}/timegate/{URL}")
    assert client.is_timegate(f"{web_server.url}/timegate/{URL}")
    # Given a memento, the client finds its original through rel="original", then asks our TimeGate.
    info = client.get_memento_info(middle, datetime(2024, 5, 20, 0, 0, 0))
    assert info["original_uri"] == URL
    assert info["timegate_uri"] == f"{web_server.url}/timegate/{URL}"
    found = info["mementos"]
    assert found["closest"]["uri"] == [memento_uri(web_server, archive_builder, history.ids[2])]
    assert found["closest"]["datetime"] == datetime(2024, 5, 18, 9, 30, 15)
    assert found["closest"]["http_status_code"] == 200
    assert found["first"]["uri"] == [memento_uri(web_server, archive_builder, history.ids[0])]
    assert found["first"]["datetime"] == datetime(2024, 4, 18, 9, 30, 15)
    assert found["prev"]["uri"] == [middle]
    assert "next" not in found
    # The memento is not an original resource, so it announces no native TimeGate of its own.
    assert client.get_native_timegate_uri(middle, datetime(2024, 5, 20)) is None
    info = client.get_memento_info(middle, datetime(2024, 4, 1))
    assert info["mementos"]["closest"]["uri"] == [memento_uri(web_server, archive_builder, history.ids[0])]
    assert "prev" not in info["mementos"]
