"""One suite, every backend: tantivy and Elasticsearch must give the same answers.

The Elasticsearch side runs against ELASTICSEARCH_URL when set, else against
the real OpenSearch 2.19.1 node the session starts (see tests/elastic.py).
Scores differ between engines, so ranking is checked only where it is clear.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from search import IndexDoc, QuerySyntaxError, SearchBackend, SearchQuery, open_backend
from tests.elastic import EsService, drop_alias

BACKENDS = ["tantivy", "elasticsearch"]
SAME_URL = "https://kloop.kg/ru/blokirovka"


def _doc(doc_id: str, url: str, lang: str, title: str, text: str, when: str, **extra: object) -> IndexDoc:
    return IndexDoc(
        id=doc_id,
        url=url,
        domain=url.split("/")[2],
        title=title,
        text=text,
        lang=lang,
        captured_at=datetime.fromisoformat(when).replace(tzinfo=UTC),
        status=extra.pop("status", 200),
        **extra,
    )


CORPUS = [
    _doc("ru1", SAME_URL, "ru", "Роскомнадзор потребовал блокировки сайта",
         "Роскомнадзор потребовал блокировки сайта независимого издания. Редакция получила письмо "
         "с требованием удалить статью о ёлке на площади.",
         "2024-01-15T10:00:00", outcome="ok", countries=("RU",), authorities=("Роскомнадзор",), removed=True,
         orders=("3",), registers=("rkn", "ooni")),
    _doc("ru2", "https://meduza.io/news/2024/03/10/sud", "ru", "Суд оштрафовал издание",
         "Суд в Москве оштрафовал издание за публикацию о протестах. Статья была заблокирована.",
         "2024-03-10T08:30:00", outcome="legal", countries=("RU",), authorities=("Мосгорсуд",), status=451,
         orders=("7", "12"), registers=("lumen",)),
    _doc("en1", "https://www.bbc.com/news/world-1", "en", "Websites blocked by court order",
         "Several news websites were blocked by a court order on Tuesday. The blocking affected readers in Russia.",
         "2024-02-20T12:00:00", outcome="ok", countries=("GB",)),
    _doc("en2", "https://www.bbc.com/news/world-2", "en", "Journalists protest censorship",
         "Journalists gathered to protest against censorship and the removal of their articles.",
         "2024-05-05T09:15:00", outcome="changed", countries=("GB",)),
    _doc("ky1", "https://www.azattyk.org/a/32000001.html", "ky", "Сайттар бөгөттөлдү",
         "Кыргызстанда бир нече маалымат сайттары бөгөттөлдү. Маданият министрлиги буйрук чыгарды.",
         "2024-04-01T06:00:00", outcome="blockpage", countries=("KG",), authorities=("Маданият министрлиги",),
         removed=True, orders=("9",)),
    _doc("ky2", "https://kloop.kg/ky/2024/06/12/kabar", "ky", "Журналисттер кармалды",
         "Бишкекте журналисттер кармалды. Алардын макалалары сайттан өчүрүлдү.",
         "2024-06-12T15:45:00", outcome="not_found", countries=("KG",), status=404),
    _doc("ru3", SAME_URL, "ru", "Страница недоступна",
         "Материал удалён по требованию Роскомнадзора.",
         "2024-07-01T00:00:00", outcome="legal", countries=("RU",), authorities=("Роскомнадзор",), status=451,
         orders=("3",), registers=("rkn", "ooni")),
    _doc("en3", "https://example.com/hostile", "en", "Breaking <b>news</b>",
         "<script>alert('x')</script> Breaking: the site was blocked & readers were told to use a VPN.",
         "2023-12-31T23:30:00", outcome="ok"),
]
NEWEST_FIRST = ["ru3", "ky2", "en2", "ky1", "ru2", "en1", "ru1", "en3"]


def _open(name: str, tmp_path: Path, es_service: EsService | None) -> tuple[SearchBackend, str]:
    if name == "tantivy":
        return open_backend("tantivy", tmp_path / "index"), ""
    assert es_service is not None
    alias = f"conformance-{uuid.uuid4().hex[:10]}"
    settings = es_service.settings(alias)
    return open_backend("elasticsearch", settings.index_dir, settings), alias


@pytest.fixture(params=BACKENDS, scope="module")
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchBackend]:
    """The corpus in each backend, shared by the tests that only read."""
    service = request.getfixturevalue("es_service") if request.param == "elasticsearch" else None
    backend, alias = _open(request.param, tmp_path_factory.mktemp(request.param), service)
    backend.add(CORPUS)
    yield backend
    backend.close()
    if alias:
        with service.client() as client:
            drop_alias(client, alias)


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchBackend]:
    """The corpus in a backend of the test's own, for tests that write."""
    service = request.getfixturevalue("es_service") if request.param == "elasticsearch" else None
    backend, alias = _open(request.param, tmp_path, service)
    backend.add(CORPUS)
    yield backend
    backend.close()
    if alias:
        with service.client() as client:
            drop_alias(client, alias)


def ids(backend: SearchBackend, q: str, **kw: object) -> list[str]:
    kw.setdefault("limit", 50)
    return [hit.id for hit in backend.search(SearchQuery(q, **kw)).hits]


def found(backend: SearchBackend, q: str, **kw: object) -> set[str]:
    return set(ids(backend, q, **kw))


# -- matching ------------------------------------------------------------


def test_clear_ranking(loaded: SearchBackend) -> None:
    # In the title and twice in the text beats once in the text.
    assert ids(loaded, "blocked")[:1] == ["en1"]
    assert ids(loaded, "Роскомнадзор")[0] == "ru1"
    assert found(loaded, "censorship") == {"en2"}


def test_phrases(loaded: SearchBackend) -> None:
    assert found(loaded, '"court order"') == {"en1"}
    assert found(loaded, '"order court"') == set()
    assert found(loaded, '"потребовал блокировки"') == {"ru1"}


def test_and_or_not(loaded: SearchBackend) -> None:
    assert found(loaded, "blocked court") == {"en1"}
    assert found(loaded, "blocked AND court") == {"en1"}
    assert found(loaded, "censorship OR VPN") == {"en2", "en3"}
    assert found(loaded, "blocked NOT court") == {"en3"}
    assert found(loaded, "blocked -court") == {"en3"}
    assert found(loaded, "(kloop OR azattyk) AND кармалды") == {"ky2"}
    assert found(loaded, "kloop") == {"ru1", "ru3", "ky2"}  # words of the URL


def test_prefix(loaded: SearchBackend) -> None:
    assert found(loaded, "блок*") == {"ru1"}
    assert found(loaded, "websit*") == {"en1"}
    assert found(loaded, "бөгөт*") == {"ky1"}
    with pytest.raises(QuerySyntaxError, match="too short"):  # the query parser's rule, for both
        loaded.search(SearchQuery("б*"))


def test_kyrgyz_words_match_their_longer_forms(loaded: SearchBackend) -> None:
    # Kyrgyz is not stemmed: a word of four letters or more also matches as a prefix.
    assert found(loaded, "бөгөт") == {"ky1"}
    assert found(loaded, "журналист") == {"ky2"}
    assert found(loaded, "сайт") >= {"ky1"}  # сайттары; Russian сайта is stemmed to сайт


def test_yo_and_case(loaded: SearchBackend) -> None:
    assert found(loaded, "ёлке") == found(loaded, "елке") == {"ru1"}
    assert found(loaded, "удален") == found(loaded, "удалён") == {"ru3", "ru1"}  # удалён, удалить: stem удал
    assert found(loaded, "РОСКОМНАДЗОР") == found(loaded, "роскомнадзор") == {"ru1", "ru3"}
    assert found(loaded, "WEBSITES") == {"en1"}


def test_stemming(loaded: SearchBackend) -> None:
    assert found(loaded, "блокировка") == {"ru1"}  # блокировки
    assert found(loaded, "оштрафовали") == {"ru2"}  # оштрафовал
    assert found(loaded, "block") == {"en1", "en3"}  # blocked, blocking
    assert found(loaded, "protesting") == {"en2"}  # protest


# -- filters and facets --------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"domain": "kloop.kg"}, {"ru1", "ru3", "ky2"}),
        ({"domain": "www.bbc.com"}, {"en1", "en2"}),
        ({"since": datetime(2024, 4, 1, tzinfo=UTC)}, {"ky1", "en2", "ky2", "ru3"}),
        ({"until": datetime(2024, 1, 15, 10, tzinfo=UTC)}, {"en3", "ru1"}),
        ({"outcome": "legal"}, {"ru2", "ru3"}),
        ({"country": "KG"}, {"ky1", "ky2"}),
        ({"authority": "Роскомнадзор"}, {"ru1", "ru3"}),
        ({"order": 3}, {"ru1", "ru3"}),  # issue 17: the captures of an order's URLs
        ({"order": 12}, {"ru2"}),
        ({"order": 9}, {"ky1"}),
        ({"register": "rkn"}, {"ru1", "ru3"}),  # ... of orders imported from a register
        ({"register": "lumen"}, {"ru2"}),
        ({"register": "ooni"}, {"ru1", "ru3"}),
        ({"register": "github-gov"}, set()),
        ({"lang": "en"}, {"en1", "en2", "en3"}),
        ({"year": 2023}, {"en3"}),
        ({"month": "2024-04"}, {"ky1"}),
        ({"removed_only": True}, {"ru1", "ky1"}),
    ],
)
def test_filters(loaded: SearchBackend, filters: dict, expected: set[str]) -> None:
    assert found(loaded, "", **filters) == expected


def test_filters_apply_to_text_queries(loaded: SearchBackend) -> None:
    assert found(loaded, "Роскомнадзор", outcome="legal") == {"ru3"}
    assert found(loaded, "blocked", domain="example.com") == {"en3"}


def test_facets_count_every_hit(loaded: SearchBackend) -> None:
    result = loaded.search(SearchQuery("", limit=1, facets=True))
    facets = {name: dict(values) for name, values in result.facets.items()}
    assert facets["domain"] == {"kloop.kg": 3, "bbc.com": 2, "meduza.io": 1, "azattyk.org": 1, "example.com": 1}
    assert result.facets["domain"][0] == ("kloop.kg", 3)
    assert facets["outcome"] == {"ok": 3, "legal": 2, "changed": 1, "blockpage": 1, "not_found": 1}
    assert facets["country"] == {"RU": 3, "GB": 2, "KG": 2}
    assert facets["authority"] == {"Роскомнадзор": 2, "Мосгорсуд": 1, "Маданият министрлиги": 1}
    assert facets["lang"] == {"ru": 3, "en": 3, "ky": 2}
    assert facets["year"] == {"2024": 7, "2023": 1}
    assert facets["month"]["2024-01"] == 1 and sum(facets["month"].values()) == 8
    narrowed = loaded.search(SearchQuery("Роскомнадзор", facets=True))
    assert dict(narrowed.facets["outcome"]) == {"ok": 1, "legal": 1}


# -- snippets ------------------------------------------------------------


def test_snippets_mark_matches_and_escape_the_rest(loaded: SearchBackend) -> None:
    [hit] = loaded.search(SearchQuery("VPN")).hits
    assert "<mark>VPN</mark>" in hit.snippet
    assert "<script>" not in hit.snippet and "&lt;script&gt;" in hit.snippet
    assert "&amp;" in hit.snippet
    [hit] = loaded.search(SearchQuery("блокировка")).hits
    assert "<mark>блокировки</mark>" in hit.snippet
    [hit] = loaded.search(SearchQuery("елке")).hits
    assert "<mark>ёлке</mark>" in hit.snippet  # shown as written


def test_browsing_shows_the_start_of_the_text(loaded: SearchBackend) -> None:
    hit = next(h for h in loaded.search(SearchQuery("", limit=10)).hits if h.id == "en3")
    assert hit.snippet.startswith("&lt;script&gt;") and "<mark>" not in hit.snippet
    assert hit.title == "Breaking <b>news</b>"  # titles are text; the templates escape them


# -- order and paging ----------------------------------------------------


def test_sorting(loaded: SearchBackend) -> None:
    assert ids(loaded, "") == NEWEST_FIRST
    assert ids(loaded, "", sort="oldest") == NEWEST_FIRST[::-1]
    assert ids(loaded, "Роскомнадзор", sort="oldest") == ["ru1", "ru3"]
    assert ids(loaded, "Роскомнадзор", sort="newest") == ["ru3", "ru1"]


def test_paging_with_offset(loaded: SearchBackend) -> None:
    pages = [ids(loaded, "", limit=3, offset=offset) for offset in (0, 3, 6)]
    assert [hit for page in pages for hit in page] == NEWEST_FIRST
    assert loaded.search(SearchQuery("", limit=3, offset=6)).total == 8


def _walk(backend: SearchBackend, q: str, **kw: object) -> Iterator[list[str]]:
    cursor = None
    while True:
        result = backend.search(SearchQuery(q, limit=3, cursor=cursor, **kw))
        yield [hit.id for hit in result.hits]
        cursor = result.next_cursor
        if cursor is None:
            return


def test_paging_with_cursor(loaded: SearchBackend) -> None:
    pages = list(_walk(loaded, ""))
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [hit for page in pages for hit in page] == NEWEST_FIRST
    relevance = [hit for page in _walk(loaded, "blocked OR Роскомнадзор") for hit in page]
    assert sorted(relevance) == sorted(found(loaded, "blocked OR Роскомнадзор"))


def test_cursor_pages_stay_put_while_captures_arrive(fresh: SearchBackend) -> None:
    first = fresh.search(SearchQuery("", limit=3, sort="oldest"))
    now = datetime.now(UTC) + timedelta(seconds=1)
    fresh.add([_doc("new1", "https://kloop.kg/new", "ru", "Новая", "Свежая заметка.", now.isoformat()[:19])])
    rest, cursor = [], first.next_cursor
    while cursor:
        page = fresh.search(SearchQuery("", limit=3, sort="oldest", cursor=cursor))
        rest += [hit.id for hit in page.hits]
        cursor = page.next_cursor
    assert [hit.id for hit in first.hits] + rest == NEWEST_FIRST[::-1]
    assert ids(fresh, "")[0] == "new1"  # a new search sees it


def test_grouping_by_url(loaded: SearchBackend) -> None:
    result = loaded.search(SearchQuery("", limit=20, group_by_url=True))
    assert result.total == 7
    counts = {hit.url: (hit.id, hit.group_count) for hit in result.hits}
    assert counts[SAME_URL] == ("ru3", 2)  # the newest capture stands for both
    assert counts["https://www.bbc.com/news/world-1"] == ("en1", 1)
    [hit] = loaded.search(SearchQuery("Роскомнадзор", group_by_url=True)).hits
    assert (hit.id, hit.group_count) == ("ru1", 2)  # the best match stands for both


def test_hits_carry_the_document(loaded: SearchBackend) -> None:
    [hit] = loaded.search(SearchQuery("censorship")).hits
    assert (hit.url, hit.domain, hit.lang, hit.status, hit.outcome) == (
        "https://www.bbc.com/news/world-2", "bbc.com", "en", 200, "changed",
    )
    assert hit.countries == ("GB",) and hit.removed is False
    assert hit.captured_at == datetime(2024, 5, 5, 9, 15, tzinfo=UTC)


# -- writes --------------------------------------------------------------


def test_deletes_and_replacements(fresh: SearchBackend) -> None:
    fresh.delete(["ru2", "no-such-id"])
    assert fresh.count() == 7
    assert found(fresh, "оштрафовал") == set()
    replaced = _doc("en2", "https://www.bbc.com/news/world-2", "en", "Journalists protest", "Nothing about it now.",
                    "2024-05-05T09:15:00", outcome="not_found")
    fresh.add([replaced])
    assert fresh.count() == 7
    assert found(fresh, "censorship") == set()
    assert found(fresh, "", outcome="not_found") == {"en2", "ky2"}


# -- every writing system (search/normalize.py, applied before either engine sees the text) --

BENGALI_PRECOMPOSED = "কুষ্টি\u09dfা"  # য় as one code point, as the page has it
BENGALI_DECOMPOSED = "কুষ্টি\u09af\u09bcা"  # য় as য + nukta, as NFC writes it and keyboards type it
SCRIPTS = [
    _doc("bn1", "https://ukbdnews.com/2020/08/23646/", "bn", "সংসদ সদস্যের মৃত্যু",
         f"{BENGALI_PRECOMPOSED}-১ (দৌলতপুর) আসনের সংসদ সদস্য (এমপি) অ্যাডভোকেট মারা গেছেন।", "2020-08-29T07:30:00"),
    _doc("tr1", "https://example.com.tr/haber", "tr", "İSTANBUL'DA GAZETECİLER GÖZALTINA ALINDI",
         "Irak sınırındaki haber sitesi erişime kapatıldı.", "2024-02-01T10:00:00"),
    _doc("ar1", "https://assabah.com.tn/article/1", "ar", "حجب الموقع",
         "قَرَّرَتِ المحكمةُ حَجْبَ الموقـــعِ الإلكترونيّ بعد نشر المقال. أُعلن القرار في ٢٠٢٤.", "2024-03-01T10:00:00"),
    _doc("fa1", "https://example.ir/news", "fa", "ممنوعیت کتاب",
         "وزارت فرهنگ یک کتاب را ممنوع کرد و سایت ناشر مسدود شد.", "2024-03-02T10:00:00"),
    _doc("zh1", "https://china.example.cn/a/1", "zh", "网站被要求删除文章",
         "2023年11月发布的新规定要求网站删除相关文章。国家互联网信息办公室称iPhone15用户也受影响。",
         "2024-03-03T10:00:00"),
    _doc("ja1", "https://www.nikkei.com/article/1", "ja", "記事の削除命令",
         "東京地裁は記事の削除を命じた。サイトは２０２４年に閉鎖された。", "2024-03-04T10:00:00"),
    _doc("th1", "https://prachatai.com/journal/1", "th", "ศาลสั่งปิดเว็บไซต์",
         "ศาลสั่งปิดกั้นเว็บไซต์ข่าวอิสระเมื่อวันอังคาร", "2024-03-05T10:00:00"),
]


@pytest.fixture(params=BACKENDS, scope="module")
def scripts(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchBackend]:
    """Pages in scripts other than Latin and Cyrillic, in each backend."""
    service = request.getfixturevalue("es_service") if request.param == "elasticsearch" else None
    backend, alias = _open(request.param, tmp_path_factory.mktemp(f"scripts-{request.param}"), service)
    backend.add(SCRIPTS)
    yield backend
    backend.close()
    if alias:
        with service.client() as client:
            drop_alias(client, alias)


def test_unicode_forms_are_one(scripts: SearchBackend) -> None:
    assert found(scripts, BENGALI_DECOMPOSED) == found(scripts, BENGALI_PRECOMPOSED) == {"bn1"}
    assert found(scripts, f'"{BENGALI_DECOMPOSED}-১ (দৌলতপুর)"') == {"bn1"}
    assert found(scripts, "ｉｐｈｏｎｅ15") == {"zh1"}  # full-width Latin, NFKC


def test_turkish_dotted_and_dotless_i(scripts: SearchBackend) -> None:
    for q in ("istanbul'da", "İstanbul'da", "ISTANBUL'DA", "ıstanbul'da"):
        assert found(scripts, q) == {"tr1"}, q
    assert found(scripts, "gazeteciler") == found(scripts, "GAZETECİLER") == {"tr1"}
    assert found(scripts, "irak") == found(scripts, "IRAK") == {"tr1"}


def test_arabic_and_persian_letter_variants(scripts: SearchBackend) -> None:
    assert found(scripts, '"قررت المحكمة حجب الموقع"') == {"ar1"}  # no harakat, no tatweel
    assert found(scripts, "الالكتروني") == {"ar1"}  # alef without hamza, no shadda
    assert found(scripts, "2024") == {"ar1", "ja1"}  # Arabic-Indic digits ٢٠٢٤; full-width ２０２４
    assert found(scripts, "كتاب") == found(scripts, "کتاب") == {"fa1"}  # Arabic kaf, Persian keheh
    assert found(scripts, "يك") == found(scripts, "یک") == {"fa1"}  # Arabic yeh, Persian yeh


@pytest.mark.parametrize(("doc", "phrase"), [
    ("zh1", "国家互联网信息办公室"), ("zh1", "删除"), ("zh1", "2023年11月发布的新规定"),
    ("zh1", "办公室称iPhone15用户"), ("ja1", "記事の削除を命じた"), ("ja1", "2024年に閉鎖"),
    ("th1", "ปิดกั้นเว็บไซต์"), ("th1", "ศาลสั่งปิดกั้นเว็บไซต์ข่าวอิสระเมื่อวันอังคาร"),
])
def test_phrases_in_scripts_without_spaces(scripts: SearchBackend, doc: str, phrase: str) -> None:
    assert found(scripts, f'"{phrase}"') == {doc}
    assert found(scripts, phrase) == {doc}


def test_no_false_phrase_in_scripts_without_spaces(scripts: SearchBackend) -> None:
    assert found(scripts, '"删除新规定"') == set()
    assert found(scripts, '"命じた記事"') == set()


def test_snippets_show_the_text_as_written(scripts: SearchBackend) -> None:
    [hit] = scripts.search(SearchQuery('"国家互联网"')).hits
    assert "<mark>" in hit.snippet
    plain = hit.snippet.replace("<mark>", "").replace("</mark>", "")
    assert "国家互联网信息办公室称iPhone15用户" in plain  # no bigram spaces, case kept
    [hit] = scripts.search(SearchQuery(BENGALI_DECOMPOSED)).hits
    assert BENGALI_PRECOMPOSED in hit.snippet.replace("<mark>", "").replace("</mark>", "")
