"""The Elasticsearch backend's own parts, on the real engine the session starts (OpenSearch
2.19.1, tests/elastic.py; the server at ELASTICSEARCH_URL when set): connection settings, the
alias and its template, rebuilds with an atomic alias swap, bulk retries, cursors, and the
compatibility shim (tools/es_compat.py) the 9.x client needs in front of OpenSearch.
Matching and ranking are in test_search_conformance.py, shared with tantivy.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import ApiError, Elasticsearch

from archive.settings import Settings
from search import IndexDoc, QuerySyntaxError, SearchQuery, open_backend, open_search
from search.elasticsearch_backend import ElasticsearchBackend
from tests.elastic import EsService
from tools.es_compat import CompatProxy, plain_media_type

BASE = datetime(2024, 3, 1, tzinfo=UTC)


def docs(prefix: str, n: int, word: str = "блокировка") -> list[IndexDoc]:
    return [
        IndexDoc(
            id=f"{prefix}{i}",
            url=f"https://kloop.kg/{prefix}/{i}",
            domain="kloop.kg",
            title=f"Материал {i}",
            text=f"{word} сайта номер {i}. Кыргызстандагы сайттар бөгөттөлдү.",
            lang="ru",
            captured_at=BASE + timedelta(minutes=i),
            status=200,
        )
        for i in range(n)
    ]


def test_vendor_media_types_become_plain_ones() -> None:
    assert plain_media_type("application/vnd.elasticsearch+json; compatible-with=9") == "application/json"
    assert plain_media_type("application/vnd.elasticsearch+x-ndjson; compatible-with=9") == "application/x-ndjson"
    assert plain_media_type("text/plain") == "text/plain"


def test_the_shim_makes_opensearch_answer_the_9x_client(es_service: EsService, es_alias: str) -> None:
    if es_service.engine is None:
        pytest.skip("ELASTICSEARCH_URL's server is used as it is")
    with Elasticsearch(es_service.engine.url) as direct, pytest.raises(ApiError) as refused:
        direct.indices.create(index=f"{es_alias}-direct", settings={"number_of_shards": 1})
    assert refused.value.status_code == 406  # the 9.x vendor media type, unknown to OpenSearch
    with CompatProxy(es_service.engine.url) as proxy, Elasticsearch(proxy.url) as client:
        reply = client.indices.create(index=f"{es_alias}-proxied")
        assert reply["acknowledged"] and reply.meta.headers["X-Elastic-Product"] == "Elasticsearch"
        assert not client.indices.exists(index="no-such-index")


def test_open_backend_takes_settings(es_service: EsService, es_alias: str, tmp_path) -> None:
    settings = es_service.settings(es_alias, archive_home=str(tmp_path))
    with open_search(settings) as backend:
        assert isinstance(backend, ElasticsearchBackend)
        backend.add(docs("a", 3))
    # A second process (the web app beside a worker) finds the same alias.
    with open_backend("elasticsearch", settings.index_dir, settings) as other:
        assert other.count() == 3
        assert other.client.indices.exists_alias(name=es_alias)


def test_missing_url_is_a_clear_error(tmp_path) -> None:
    settings = Settings.from_env({"ARCHIVE_HOME": str(tmp_path), "SEARCH_BACKEND": "elasticsearch"})
    with pytest.raises(RuntimeError, match="needs ELASTICSEARCH_URL"):
        open_search(settings)


def test_an_index_named_like_the_alias_is_refused(es_service: EsService, es_alias: str) -> None:
    with es_service.client() as client:
        client.indices.create(index=es_alias)
        try:
            with pytest.raises(RuntimeError, match="names an index, not an alias"):
                ElasticsearchBackend.from_settings(es_service.settings(es_alias))
        finally:
            client.indices.delete(index=es_alias)


def test_bad_cursors_are_refused(es_backend: ElasticsearchBackend) -> None:
    es_backend.add(docs("c", 4))
    first = es_backend.search(SearchQuery("", limit=2))
    assert first.next_cursor
    with pytest.raises(QuerySyntaxError, match="cursor"):
        es_backend.search(SearchQuery("", cursor="not-a-cursor"))
    with pytest.raises(QuerySyntaxError, match="not both"):
        es_backend.search(SearchQuery("", cursor=first.next_cursor, offset=2))


def test_rebuild_swaps_the_alias_while_searches_go_on(es_backend: ElasticsearchBackend) -> None:
    client, alias = es_backend.client, es_backend.alias
    es_backend.add(docs("old", 20))
    [old_index] = client.indices.get_alias(name=alias).body
    failures: list[BaseException] = []
    totals: set[int] = set()
    stop = threading.Event()

    def search_continuously() -> None:
        while not stop.is_set():
            try:
                totals.add(es_backend.search(SearchQuery("блокировка", limit=5)).total)
            except Exception as error:  # noqa: BLE001 - any failure is what this test looks for
                failures.append(error)

    searcher = threading.Thread(target=search_continuously)
    searcher.start()
    try:
        with es_backend.rebuild() as rebuild:
            loading = client.indices.get_settings(index=rebuild.index).body[rebuild.index]["settings"]["index"]
            assert loading["refresh_interval"] == "-1"
            assert str(loading["number_of_replicas"]) == "0"
            assert rebuild.add(docs("new", 30)) == 30
            assert es_backend.count() == 20  # not live yet
            rebuild.finish()
        after = es_backend.search(SearchQuery("блокировка", limit=5)).total
    finally:
        stop.set()
        searcher.join()
    assert failures == []
    assert totals <= {20, 30} and after == 30
    assert list(client.indices.get_alias(name=alias).body) == [rebuild.index]
    assert not client.indices.exists(index=old_index)
    live = client.indices.get_settings(index=rebuild.index).body[rebuild.index]["settings"]["index"]
    assert live.get("refresh_interval") != "-1"
    es_backend.add(docs("later", 1))  # writes go through the alias to the new index
    assert es_backend.count() == 31


def test_an_aborted_rebuild_leaves_the_live_index(es_backend: ElasticsearchBackend) -> None:
    es_backend.add(docs("live", 5))
    with pytest.raises(ValueError, match="boom"), es_backend.rebuild() as rebuild:
        rebuild.add(docs("half", 2))
        raise ValueError("boom")
    assert not es_backend.client.indices.exists(index=rebuild.index)
    assert es_backend.count() == 5
    with pytest.raises(RuntimeError, match="is over"):
        rebuild.add(docs("late", 1))


def test_bulk_retries_when_the_cluster_is_busy(es_service: EsService, es_alias: str) -> None:
    # A real node refuses bulk requests with 429 only under load no test can make happen on cue,
    # so a shim in front of it refuses the first two; the documents then go to the real engine.
    with CompatProxy(es_service.url, reject_bulk=2) as busy:
        backend = ElasticsearchBackend(Elasticsearch(busy.url), es_alias)
        assert backend.add(docs("b", 10)) == 10
        assert busy.bulk_requests == 3  # refused twice, then taken
        assert backend.count() == 10
        backend.close()


def test_refused_documents_are_reported(es_backend: ElasticsearchBackend) -> None:
    naive = IndexDoc(id="x", url="https://a.kg/", domain="a.kg", title="t", text="t", lang="ky",
                     captured_at=datetime(2024, 1, 1), status=200)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        es_backend.add([naive])
    assert es_backend.count() == 0


def test_engine_errors_are_not_swallowed(es_backend: ElasticsearchBackend) -> None:
    es_backend.add(docs("e", 1))
    with pytest.raises(QuerySyntaxError):
        es_backend.search(SearchQuery("x", sort="sideways"))
    with pytest.raises(ApiError):
        es_backend.client.search(index=es_backend.alias, query={"no_such_query": {}})


def test_an_interrupted_rebuild_resumes(es_backend: ElasticsearchBackend) -> None:
    es_backend.add(docs("live", 2))
    first = es_backend.rebuild()
    first.add(docs("r", 3))  # then the process dies; reindex kept first.name
    again = es_backend.rebuild(resume=first.name)
    again.add(docs("s", 2))
    again.finish()
    assert es_backend.count() == 5
    with pytest.raises(ValueError, match="already the live index"):
        es_backend.rebuild(resume=first.name)
    with pytest.raises(ValueError, match="no unfinished rebuild"):
        es_backend.rebuild(resume="elsewhere-1")


def test_a_cursor_whose_point_in_time_is_gone_still_pages(es_backend: ElasticsearchBackend) -> None:
    """The engine says so by the error's type (search_context_missing_exception), which is what is read."""
    es_backend.add(docs("p", 5))
    first = es_backend.search(SearchQuery("", limit=2, sort="oldest"))
    state = json.loads(base64.urlsafe_b64decode(first.next_cursor + "=" * (-len(first.next_cursor) % 4)))
    assert state.get("p"), state  # the cursor holds a point in time ...
    es_backend._close_pit(state["p"])  # ... which the server then forgets
    second = es_backend.search(SearchQuery("", limit=2, sort="oldest", cursor=first.next_cursor))
    assert [h.id for h in first.hits + second.hits] == ["p0", "p1", "p2", "p3"]
# -- the engine's own analysis (search/es_template.py) ------------------------------------------


def _page(doc_id: str, lang: str, text: str) -> IndexDoc:
    return IndexDoc(id=doc_id, url=f"https://example.org/{doc_id}", domain="example.org", title="", text=text,
                    lang=lang, captured_at=BASE, status=200)


def _found(backend: ElasticsearchBackend, q: str) -> set[str]:
    return {hit.id for hit in backend.search(SearchQuery(q, limit=20)).hits}


def test_the_engine_segments_and_folds_every_script(es_backend: ElasticsearchBackend) -> None:
    """ICU word segmentation and folding, done by the engine for documents and queries alike.
    Elasticsearch only for now: tantivy's analyzers split Thai and CJK otherwise (one token per run
    or per ideograph) and keep accents, until the shared normalisation of issue 12 does the same
    before text reaches either engine."""
    es_backend.add([
        _page("th", "th", "สวัสดีครับ เว็บไซต์ถูกปิดกั้น"),  # no spaces between Thai words
        _page("zh", "zh", "我们是中国人"),
        _page("fr", "fr", "Le café est fermé par ordre du tribunal."),
        _page("wide", "en", "ＫＬＯＯＰ reported it first."),
        _page("ru", "ru", "Мой сайт заблокировали, и ёж тоже."),
        _page("ky", "ky", "Бийик тоодо сайт бөгөттөлдү."),
    ])
    assert _found(es_backend, "ครับ") == {"th"}  # a word inside a run of Thai letters
    assert _found(es_backend, "中国人") == {"zh"}
    assert _found(es_backend, "cafe") == _found(es_backend, "CAFÉ") == {"fr"}
    assert _found(es_backend, "ferme") == {"fr"}
    assert _found(es_backend, "kloop") == {"wide"}  # full-width letters, NFKC-folded
    assert _found(es_backend, "ЕЖ") == {"ru"}  # ё→е and case, in the query too
    assert _found(es_backend, "бийик") == {"ky"} and _found(es_backend, "биик") == set()  # й is not folded to и
    assert _found(es_backend, "бөгөттөлдү") == {"ky"} and _found(es_backend, "боготтолду") == set()  # nor ө to о
    [hit] = es_backend.search(SearchQuery("cafe")).hits
    assert "<mark>café</mark>" in hit.snippet  # shown as written


def test_a_server_without_the_icu_plugin_is_named_at_start_up(tmp_path) -> None:
    from tools.search_engine import Engine

    engine = Engine(tmp_path / "engine", icu=False).start()  # a real node, without analysis-icu
    try:
        with CompatProxy(engine.url) as proxy:
            env = {"ARCHIVE_HOME": str(tmp_path / "home"), "SEARCH_BACKEND": "elasticsearch",
                   "ELASTICSEARCH_URL": proxy.url, "ELASTICSEARCH_INDEX": "archive"}
            with pytest.raises(RuntimeError) as refused:
                open_search(Settings.from_env(env))
            message = str(refused.value)
            assert "lacks icu_tokenizer, icu_normalizer, icu_folding (from analysis-icu)" in message
            assert "bin/opensearch-plugin install analysis-icu" in message
            with Elasticsearch(proxy.url) as client:  # refused before anything was made
                assert not client.indices.exists_index_template(name="archive")
                assert not client.indices.exists_alias(name="archive")
    finally:
        engine.stop()


def test_a_server_that_stays_away_is_reported_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from search import SearchUnavailable, es_rebuild
    from tests.conftest import free_port

    monkeypatch.setattr(es_rebuild, "UNAVAILABLE_GRACE", 2.0)  # not five minutes in a test
    with CompatProxy(f"http://127.0.0.1:{free_port()}") as gone, Elasticsearch(gone.url) as client:
        # Nothing listens behind the shim, which answers 502 as a load balancer would.
        with pytest.raises(SearchUnavailable, match=r"has not taken documents for 2 s .*502"):
            es_rebuild.bulk_load(client, "archive", docs("d", 3))
        assert gone.bulk_requests >= 2  # tried again before giving up
