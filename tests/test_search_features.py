"""Search features on a real tantivy index on disk: filters, facets, sort orders, cursors,
grouping by URL, prefixes and the languages' word forms; then the same through the catalog
(archive.indexing, takedown orders) and the web page and API over real HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from search import IndexDoc, QuerySyntaxError, SearchQuery, open_backend
from search.backend import SearchBackend

T0 = datetime(2024, 4, 1, 12, 0, tzinfo=UTC)


def doc(doc_id: str, text: str, *, lang: str = "ru", url: str = "", minutes: int = 0, **extra: object) -> IndexDoc:
    fields = {"title": "", "domain": "kloop.kg", "status": 200} | extra
    return IndexDoc(id=doc_id, url=url or f"https://{fields['domain']}/news/{doc_id}", text=text, lang=lang,
                    captured_at=T0 + timedelta(minutes=minutes), **fields)


# Real sentences in the three languages, with the catalog's facts about each capture.
DOCS = [
    doc("1", "Роскомнадзор потребовал блокировки независимых СМИ в апреле.", minutes=0, outcome="ok",
        countries=("RU",), authorities=("Roskomnadzor",), url="https://meduza.io/news/rkn", domain="meduza.io"),
    doc("2", "Блокировка сайта продолжается третий месяц.", minutes=60 * 24 * 40, outcome="blockpage",
        countries=("RU",), authorities=("Roskomnadzor",), url="https://meduza.io/news/rkn", domain="meduza.io"),
    doc("3", "Сайт бөгөттөлдү. Окурмандар VPN аркылуу гана кире алышат.", lang="ky", minutes=10, outcome="ok",
        countries=("KG",), url="https://kloop.kg/ky/1"),
    doc("4", "Kloop сайты бөгөттөлгөн бойдон калууда.", lang="ky", minutes=20, outcome="legal",
        countries=("KG",), authorities=("Ministry of Culture",), url="https://kloop.kg/ky/2", removed=True),
    doc("5", "Providers were ordered to start blocking TikTok across Kyrgyzstan.", lang="en", minutes=30,
        outcome="ok", countries=("KG",), url="https://rferl.org/a/tiktok", domain="rferl.org"),
    doc("6", "TikTok was blocked by the security service last April.", lang="en", minutes=60 * 24 * 400,
        outcome="withheld", countries=("KG", "US"), authorities=("State Committee for National Security",),
        url="https://rferl.org/a/tiktok", domain="rferl.org"),
    doc("7", "Её сайт заблокировали ещё в сентябре.", minutes=40, outcome="not_found",
        url="https://azattyk.org/a/1", domain="azattyk.org"),
]


@pytest.fixture
def backend(tmp_path: Path) -> SearchBackend:
    b = open_backend("tantivy", tmp_path / "index")
    b.add(DOCS)
    yield b
    b.close()


def ids(backend: SearchBackend, q: str = "", **kw: object) -> list[str]:
    return [h.id for h in backend.search(SearchQuery(q, limit=50, **kw)).hits]


# -- word forms ----------------------------------------------------------------


def test_russian_and_english_are_stemmed(backend: SearchBackend) -> None:
    assert set(ids(backend, "блокировка")) == {"1", "2"}  # блокировки, Блокировка
    assert set(ids(backend, "blocking")) == {"5", "6"}  # blocking, blocked


def test_yo_and_case_fold(backend: SearchBackend) -> None:
    assert ids(backend, "ЕЩЕ") == ["7"] and ids(backend, "ещё") == ["7"] and ids(backend, "её") == ["7"]
    assert ids(backend, "KLOOP") == ids(backend, "kloop")


def test_kyrgyz_words_match_as_prefixes(backend: SearchBackend) -> None:
    # "бөгөттөл" is the stem of both бөгөттөлдү and бөгөттөлгөн; neither is found by the other.
    assert set(ids(backend, "бөгөттөл")) == {"3", "4"}
    assert ids(backend, "бөгөттөлдү") == ["3"]
    assert ids(backend, "бөгөттөлгөн") == ["4"]
    assert ids(backend, "БӨГӨТТӨЛГӨН") == ["4"]
    # Short words are matched whole: "сай" is not a prefix query.
    assert ids(backend, "сай") == []


def test_explicit_prefix_in_every_language(backend: SearchBackend) -> None:
    assert set(ids(backend, "блок*")) == {"1", "2"}
    assert set(ids(backend, "забл*")) == {"7"}
    assert set(ids(backend, "block*")) == {"5", "6"}
    assert set(ids(backend, "blocking*")) == {"5", "6"}  # matched against stems: block*
    assert set(ids(backend, "бөгөт*")) == {"3", "4"}
    assert ids(backend, "tik* -kyrgyz*") == ["6"]
    with pytest.raises(QuerySyntaxError, match="prefix"):
        backend.search(SearchQuery("б*"))


# -- filters and facets --------------------------------------------------------


@pytest.mark.parametrize(("filters", "expected"), [
    ({"outcome": "ok"}, {"1", "3", "5"}),
    ({"country": "kg"}, {"3", "4", "5", "6"}),
    ({"country": "US"}, {"6"}),
    ({"authority": "Roskomnadzor"}, {"1", "2"}),
    ({"lang": "ky"}, {"3", "4"}),
    ({"year": 2025}, {"6"}),
    ({"month": "2024-05"}, {"2"}),
    ({"month": "2024-04", "lang": "en"}, {"5"}),
    ({"removed_only": True}, {"4"}),
    ({"domain": "www.rferl.org"}, {"5", "6"}),
])
def test_each_filter(backend: SearchBackend, filters: dict, expected: set[str]) -> None:
    assert set(ids(backend, **filters)) == expected
    assert backend.search(SearchQuery("", **filters)).total == len(expected)


def test_bad_month_is_refused(backend: SearchBackend) -> None:
    with pytest.raises(QuerySyntaxError, match="YYYY-MM"):
        backend.search(SearchQuery("", month="2024-13"))


def test_facets_count_every_hit_not_just_the_page(backend: SearchBackend) -> None:
    result = backend.search(SearchQuery("", limit=1, facets=True))
    assert len(result.hits) == 1
    f = result.facets
    assert f["country"] == [("KG", 4), ("RU", 2), ("US", 1)]
    assert f["outcome"] == [("ok", 3), ("blockpage", 1), ("legal", 1), ("not_found", 1), ("withheld", 1)]
    assert f["authority"] == [("Roskomnadzor", 2), ("Ministry of Culture", 1),
                              ("State Committee for National Security", 1)]
    assert f["lang"] == [("ru", 3), ("en", 2), ("ky", 2)]
    assert f["year"] == [("2024", 6), ("2025", 1)]
    assert f["month"] == [("2024-04", 5), ("2024-05", 1), ("2025-05", 1)]
    assert f["domain"] == [("kloop.kg", 2), ("meduza.io", 2), ("rferl.org", 2), ("azattyk.org", 1)]
    narrowed = backend.search(SearchQuery("блокировка", facets=True, country="RU")).facets
    assert narrowed["outcome"] == [("blockpage", 1), ("ok", 1)]
    assert backend.search(SearchQuery("tiktok")).facets == {}  # only when asked for


# -- sorting and grouping ------------------------------------------------------


def test_sort_orders(backend: SearchBackend) -> None:
    by_time = sorted(DOCS, key=lambda d: d.captured_at)
    assert ids(backend, sort="oldest") == [d.id for d in by_time]
    assert ids(backend, sort="newest") == [d.id for d in reversed(by_time)]
    assert ids(backend) == ids(backend, sort="newest")  # an empty query browses newest first
    assert ids(backend, "tiktok", sort="oldest") == ["5", "6"]
    assert ids(backend, "tiktok", sort="newest") == ["6", "5"]
    with pytest.raises(QuerySyntaxError, match="sort"):
        backend.search(SearchQuery("tiktok", sort="random"))


def test_relevance_puts_the_better_match_first(tmp_path: Path) -> None:
    with open_backend("tantivy", tmp_path / "i") as b:
        b.add([doc("a", "Блокировка упомянута один раз среди многих других слов о новостях дня.", minutes=5),
               doc("b", "Блокировка, блокировки, блокировкой: блокировка сайтов.", minutes=0)])
        assert ids(b, "блокировка") == ["b", "a"]
        assert ids(b, "блокировка", sort="newest") == ["a", "b"]


def test_group_by_url_gives_one_hit_per_url_with_its_count(backend: SearchBackend) -> None:
    result = backend.search(SearchQuery("", group_by_url=True, sort="newest", limit=50))
    assert result.total == 5  # 7 captures of 5 URLs
    urls = [h.url for h in result.hits]
    assert len(urls) == len(set(urls)) == 5
    by_url = {h.url: h for h in result.hits}
    assert by_url["https://rferl.org/a/tiktok"].id == "6"  # the newest capture stands for the URL
    assert by_url["https://rferl.org/a/tiktok"].group_count == 2
    assert by_url["https://meduza.io/news/rkn"].group_count == 2
    assert by_url["https://kloop.kg/ky/1"].group_count == 1
    oldest = backend.search(SearchQuery("", group_by_url=True, sort="oldest", limit=50))
    assert {h.url: h.id for h in oldest.hits}["https://rferl.org/a/tiktok"] == "5"
    # The count is of matching captures only.
    narrowed = backend.search(SearchQuery("tiktok", group_by_url=True, outcome="ok"))
    assert [(h.id, h.group_count) for h in narrowed.hits] == [("5", 1)]


# -- cursors -------------------------------------------------------------------


def page_through(backend: SearchBackend, query: SearchQuery, between=None) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        result = backend.search(SearchQuery(**(vars(query) | {"cursor": cursor})))
        pages.append([h.id for h in result.hits])
        if between:
            between(len(pages))
        cursor = result.next_cursor
        if cursor is None:
            return pages


def many(start: int, count: int, minutes: int, text: str = "Блокировка сайта в Бишкеке.") -> list[IndexDoc]:
    # Several captures share each minute, so ties are broken by id.
    return [doc(f"d{i:03d}", text, minutes=minutes + i // 3, url=f"https://kloop.kg/n/{i % 9}")
            for i in range(start, start + count)]


@pytest.mark.parametrize("sort", ["newest", "oldest", "relevance"])
@pytest.mark.parametrize("group", [False, True])
def test_cursor_pages_are_stable_while_captures_arrive(tmp_path: Path, sort: str, group: bool) -> None:
    with open_backend("tantivy", tmp_path / "i") as b:
        b.add(many(0, 40, 0))
        expected = [h.id for h in b.search(SearchQuery("блокировка", sort=sort, limit=100,
                                                       group_by_url=group)).hits]
        arrivals = iter(range(40, 400, 5))

        def add_more(_page: int) -> None:
            # Captures made now, while paging: left out of the pages that follow.
            start = next(arrivals)
            b.add([replace(d, captured_at=datetime.now(UTC)) for d in many(start, 5, 0)])

        pages = page_through(b, SearchQuery("блокировка", sort=sort, limit=4, group_by_url=group), add_more)
        seen = [i for page in pages for i in page]
        assert all(len(p) <= 4 for p in pages)
        assert len(seen) == len(set(seen))  # no duplicates
        # No skips, same order (for relevance: a one-word query's order does not move as scores do).
        assert seen == expected
        assert len(seen) == (9 if group else 40)


def test_cursor_and_offset_cannot_be_mixed_and_bad_cursors_are_refused(backend: SearchBackend) -> None:
    first = backend.search(SearchQuery("", limit=2, sort="oldest"))
    assert first.next_cursor
    with pytest.raises(QuerySyntaxError, match="cursor"):
        backend.search(SearchQuery("", limit=2, offset=2, sort="oldest", cursor=first.next_cursor))
    with pytest.raises(QuerySyntaxError, match="sorted by oldest"):
        backend.search(SearchQuery("", limit=2, sort="newest", cursor=first.next_cursor))
    with pytest.raises(QuerySyntaxError, match="first page"):
        backend.search(SearchQuery("", limit=2, sort="oldest", cursor=first.next_cursor[:-3] + "xyz"))
    last = backend.search(SearchQuery("", limit=50))
    assert last.next_cursor is None


# -- from the catalog: archive.indexing and takedown orders -------------------

ARTICLE = "https://kloop.kg/blog/2024/04/18/tiktok/"


def classified(builder, url: str, outcome: str, when: datetime, vantage: str, country_of) -> int:
    """A capture written to WARC and the catalog, given its outcome and vantage, with events updated."""
    from archive.removals.events import update_events

    capture_id = builder.add(url, "ГКНБ обязал провайдеров заблокировать TikTok",
                             ["Служба безопасности потребовала заблокировать TikTok по всей стране."],
                             lang="ru", captured_at=when, index=False)
    builder.db.execute("UPDATE captures SET outcome = ?, vantage = ? WHERE id = ?", (outcome, vantage, capture_id))
    update_events(builder.db, capture_id, country_of)
    builder.db.execute("UPDATE captures SET indexed = 1 WHERE id = ?", (capture_id,))
    return capture_id


@pytest.fixture
def catalog_archive(tmp_path: Path):
    from archive.removals.events import vantage_countries

    from .webapp import ArchiveBuilder, make_settings

    settings = make_settings(tmp_path / "home", capture_vantages="kg-bishkek=KG=socks5://127.0.0.1:1080")
    builder = ArchiveBuilder(settings)
    country_of = vantage_countries(settings.capture_vantages)
    before = classified(builder, ARTICLE, "ok", T0, "direct", country_of)
    after = classified(builder, ARTICLE, "blockpage", T0 + timedelta(days=1), "kg-bishkek", country_of)
    yield settings, builder, country_of, before, after
    builder.close()


def test_index_doc_and_reindex_url_take_every_field_from_the_catalog(catalog_archive) -> None:
    from archive.capturing.indexing import index_doc, reindex_url

    settings, builder, country_of, before, after = catalog_archive
    assert reindex_url(builder.db, builder.backend, settings.warc_dir, ARTICLE, country_of) == 2
    row = builder.db.execute("SELECT * FROM captures WHERE id = ?", (after,)).fetchone()
    entry = index_doc(builder.db, row, "text", country_of)
    assert (entry.outcome, entry.countries, entry.removed, entry.domain) == ("blockpage", ("KG",), False, "kloop.kg")
    b = builder.backend
    # The blockpage opened a removal event naming the earlier capture: its text is removed now.
    assert ids(b, "tiktok", removed_only=True) == [str(before)]
    assert ids(b, "tiktok", country="KG") == [str(after)]
    assert ids(b, "tiktok", outcome="blockpage") == [str(after)]
    assert ids(b, "tiktok", authority="Ministry of Culture of the Kyrgyz Republic") == []


def test_takedown_orders_reindex_their_urls_when_published(catalog_archive) -> None:
    from archive.orders.takedowns import create_takedown, set_published

    settings, builder, _, before, after = catalog_archive
    from archive.capturing.indexing import reindex_url

    reindex_url(builder.db, builder.backend, settings.warc_dir, ARTICLE)
    order = {"authority": "Ministry of Culture of the Kyrgyz Republic", "recipient": "Kloop Media",
             "country": "ru", "action_demanded": "remove", "urls": [ARTICLE]}
    takedown_id = create_takedown(builder.db, settings, order, backend=builder.backend)
    # Unpublished orders say nothing to the public index.
    assert ids(builder.backend, "tiktok", country="RU") == []
    set_published(builder.db, takedown_id, True, settings=settings, backend=builder.backend)
    both = {str(before), str(after)}
    assert set(ids(builder.backend, "tiktok", country="RU")) == both
    assert set(ids(builder.backend, "tiktok", authority="Ministry of Culture of the Kyrgyz Republic")) == both
    set_published(builder.db, takedown_id, False, settings=settings, backend=builder.backend)
    assert ids(builder.backend, "tiktok", country="RU") == []


# -- the web page and the API over HTTP ---------------------------------------


@pytest.fixture
def web_archive(archive_builder, web_server):
    """Three captures of one URL and one of another, indexed from the catalog."""
    from archive.capturing.indexing import reindex_url

    db = archive_builder.db
    made = []
    for day, outcome in enumerate(["ok", "ok", "blockpage"]):
        made.append(archive_builder.add(ARTICLE, "TikTok blocked in Kyrgyzstan",
                                        ["Providers were ordered to block TikTok across Kyrgyzstan."],
                                        captured_at=T0 + timedelta(days=day), index=False))
        db.execute("UPDATE captures SET outcome = ?, indexed = 1 WHERE id = ?", (outcome, made[-1]))
    other = "https://rferl.org/a/tiktok-ban"
    made.append(archive_builder.add(other, "TikTok ban", ["The TikTok ban began in April."],
                                    captured_at=T0 + timedelta(days=40), index=False))
    db.execute("UPDATE captures SET outcome = 'ok', indexed = 1 WHERE id = ?", (made[-1],))
    for url in (ARTICLE, other):
        reindex_url(db, archive_builder.backend, web_server.settings.warc_dir, url)
    return made


def facet_links(page: str, name: str) -> dict[str, tuple[str, str]]:
    doc = lxml.html.fromstring(page)
    out = {}
    for li in doc.xpath(f"//section[@id='facet-{name}']//li"):
        a = li.xpath(".//a")[0]
        out[a.get("data-value")] = (a.get("href"), li.xpath(".//span[@class='count']")[0].text_content())
    return out


def test_search_page_facets_badges_groups_and_cursor(web_archive, web_server) -> None:
    r = web_server.get("/", params={"q": "tiktok"})
    assert r.status_code == 200
    outcomes = facet_links(r.text, "outcome")
    assert {k: v[1] for k, v in outcomes.items()} == {"ok": "3", "blockpage": "1"}
    assert {k: v[1] for k, v in facet_links(r.text, "month").items()} == {"2024-04": "3", "2024-05": "1"}
    narrowed = web_server.get(outcomes["blockpage"][0])
    doc = lxml.html.fromstring(narrowed.text)
    assert [a.get("href") for a in doc.xpath("//ol[@class='results']/li//h3/a")] == [f"/capture/{web_archive[2]}"]
    assert doc.xpath("//ol[@class='results']//span[contains(@class, 'outcome-blockpage')]")
    assert "1 capture found" in narrowed.text

    grouped = lxml.html.fromstring(web_server.get("/", params={"q": "tiktok", "group": "1", "sort": "newest"}).text)
    links = grouped.xpath("//p[@class='group']/a")
    assert [a.text_content() for a in links] == ["3 captures of this URL"]
    href = urlsplit(links[0].get("href"))
    assert (href.path, parse_qs(href.query)) == ("/timeline", {"url": [ARTICLE]})



def test_search_page_numbered_pages_then_cursor(archive_builder, web_server) -> None:
    from archive.web.search import NUMBERED_PAGES, PER_PAGE

    count = NUMBERED_PAGES * PER_PAGE + 3
    made = [archive_builder.add(f"https://kloop.kg/n/{i}", f"TikTok {i}", ["TikTok news."], index=False,
                                captured_at=T0 + timedelta(hours=i)) for i in range(count)]
    archive_builder.index(*made)
    url, seen = "/?q=tiktok&sort=oldest", []
    for number in range(1, NUMBERED_PAGES + 2):
        page = lxml.html.fromstring(web_server.get(url).text)
        seen += [a.get("href") for a in page.xpath("//ol[@class='results']/li//h3/a")]
        nxt = page.xpath("//a[@rel='next']/@href")
        if number < NUMBERED_PAGES:
            assert f"page={number + 1}" in nxt[0]
        elif number == NUMBERED_PAGES:
            assert "cursor=" in nxt[0] and "page=" not in nxt[0]
        else:
            assert not nxt and page.xpath("//a[@rel='first']")
        url = nxt[0] if nxt else None
    assert seen == [f"/capture/{i}" for i in made]


def test_api_search_filters_facets_groups_and_cursor(web_archive, web_server) -> None:
    r = web_server.get("/api/search", params={"q": "tiktok", "facets": "true", "limit": 2, "sort": "oldest"})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 4
    assert body["facets"]["outcome"] == [{"value": "ok", "count": 3}, {"value": "blockpage", "count": 1}]
    assert [h["id"] for h in body["hits"]] == web_archive[:2]
    assert body["hits"][0]["outcome"] == "ok"
    assert body["next_cursor"] and "cursor=" in body["links"]["next"]
    rest = web_server.get(body["links"]["next"]).json()
    assert [h["id"] for h in rest["hits"]] == web_archive[2:]
    assert rest["next_cursor"] is None and rest["links"] == {}

    grouped = web_server.get("/api/search", params={"q": "tiktok", "group": "true", "sort": "newest"}).json()
    assert grouped["total"] == 2
    assert [(h["id"], h["group_count"]) for h in grouped["hits"]] == [(web_archive[3], 1), (web_archive[2], 3)]
    only = web_server.get("/api/search", params={"q": "tiktok", "outcome": "blockpage", "month": "2024-04"}).json()
    assert [h["id"] for h in only["hits"]] == [web_archive[2]]

    for params, field in [({"outcome": "gone"}, "outcome"), ({"month": "2024-4"}, "month"),
                          ({"sort": "random"}, "sort"), ({"cursor": "garbage"}, "cursor")]:
        bad = web_server.get("/api/search", params={"q": "tiktok", **params})
        assert bad.status_code == 400, params
        assert field in bad.json()["error"], (params, bad.json())


def test_cursor_keeps_captures_dated_in_the_future(tmp_path: Path) -> None:
    # A capture whose clock ran ahead is there at the first page, so it stays in later ones.
    with open_backend("tantivy", tmp_path / "i") as b:
        future = replace(doc("z", "Блокировка."), captured_at=datetime(2100, 1, 1, tzinfo=UTC))
        b.add([*many(0, 6, 0), future])
        pages = page_through(b, SearchQuery("блокировка", sort="oldest", limit=4))
        assert [i for page in pages for i in page][-1] == "z"


def test_an_index_of_an_older_layout_names_the_reindex_command(tmp_path: Path) -> None:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    (tmp_path / "old").mkdir()
    tantivy.Index(builder.build(), path=str(tmp_path / "old"))
    with pytest.raises(RuntimeError, match="python -m archive reindex"):
        open_backend("tantivy", tmp_path / "old")


def test_cli_search_sorts_filters_and_groups(web_archive, web_settings, monkeypatch, capsys) -> None:
    import json

    from archive.cli import main

    monkeypatch.setenv("ARCHIVE_HOME", str(web_settings.archive_home))
    assert main(["search", "tiktok", "--json", "--sort", "oldest", "--outcome", "ok", "--lang", "en"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [h["id"] for h in out["hits"]] == [web_archive[0], web_archive[1], web_archive[3]]
    assert main(["search", "tiktok", "--group", "--sort", "newest"]) == 0
    text = capsys.readouterr().out
    assert "2 result(s)" in text and "(3 captures)" in text
    assert main(["search", "tiktok", "--json", "--country", "KG"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 0


def test_a_query_error_names_the_input_at_fault(backend: SearchBackend) -> None:
    first = backend.search(SearchQuery("", limit=2, sort="oldest"))
    cases = [
        (SearchQuery("(kloop"), "q"),
        (SearchQuery("", limit=2, sort="newest", cursor=first.next_cursor), "cursor"),
        (SearchQuery("", cursor="not-a-cursor"), "cursor"),
        (SearchQuery("", limit=2, offset=2, sort="oldest", cursor=first.next_cursor), "cursor"),
        (SearchQuery("", sort="sideways"), "sort"),
        (SearchQuery("", offset=-1), "offset"),
        # The message says "page further with the cursor", but the offset is what is wrong.
        (SearchQuery("", limit=10, offset=1_000_000), "offset"),
    ]
    for query, field in cases:
        with pytest.raises(QuerySyntaxError) as caught:
            backend.search(query)
        assert caught.value.field == field, (query, str(caught.value))
