"""The tantivy backend on a real index in a temporary directory."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import tantivy

from search import (
    IndexDoc,
    QuerySyntaxError,
    SearchBackend,
    SearchQuery,
    open_backend,
    query_from_text,
)
from search.tantivy_backend import TantivyBackend

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 4, 1, 12, 0, tzinfo=UTC)


def doc(
    doc_id: str,
    text: str,
    lang: str,
    title: str = "",
    domain: str = "kloop.kg",
    days: int = 0,
    url: str = "",
    status: int = 200,
) -> IndexDoc:
    return IndexDoc(
        id=doc_id,
        url=url or f"https://{domain}/news/{doc_id}",
        domain=domain,
        title=title,
        text=text,
        lang=lang,
        captured_at=T0 + timedelta(days=days),
        status=status,
    )


DOCS = [
    doc(
        "ru-block",
        "Роскомнадзор продолжает блокировки независимых СМИ. Провайдеры получили новое требование от ведомства.",
        "ru",
        title="Блокировки продолжаются",
        days=0,
    ),
    doc(
        "ru-yo",
        "Её сайт заблокировали ещё в сентябре, и он до сих пор недоступен.",
        "ru",
        title="Сайт недоступен",
        domain="azattyk.org",
        days=1,
    ),
    doc(
        "en-tiktok",
        "The security service ordered internet providers to start blocking TikTok across Kyrgyzstan in April.",
        "en",
        title="TikTok blocked in Kyrgyzstan",
        domain="rferl.org",
        days=2,
    ),
    doc(
        "en-kloop",
        "Kloop has been unreachable since September 2023. Readers use VPNs to reach the independent outlet.",
        "en",
        title="Kloop unreachable",
        days=3,
    ),
    doc(
        "ky-tiktok",
        "Кыргызстандын Улуттук коопсуздук мамлекеттик комитети TikTok тиркемесин бөгөттөөнү талап кылды.",
        "ky",
        title="TikTok бөгөттөлдү",
        domain="azattyk.org",
        days=4,
    ),
    doc("zh", "宇航员在太空中喝酒会怎么样？后果很严重。", "zh", title="太空", domain="gmw.cn", days=5),
]


@pytest.fixture
def backend(tmp_path: Path) -> SearchBackend:
    b = open_backend("tantivy", tmp_path / "index")
    assert b.add(DOCS) == len(DOCS)
    yield b
    b.close()


def ids(backend: SearchBackend, q: str, **filters: object) -> list[str]:
    return [hit.id for hit in backend.search(SearchQuery(q=q, **filters)).hits]


def test_open_backend_rejects_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tantivy"):
        open_backend("solr", tmp_path)


def test_count_and_hit_fields(backend: SearchBackend) -> None:
    assert backend.count() == len(DOCS)
    [hit] = backend.search(SearchQuery(q="Роскомнадзор")).hits
    assert hit.id == "ru-block"
    assert hit.url == "https://kloop.kg/news/ru-block"
    assert hit.title == "Блокировки продолжаются"
    assert hit.captured_at == T0
    assert hit.captured_at.tzinfo is not None
    assert (hit.domain, hit.lang, hit.status) == ("kloop.kg", "ru", 200)
    assert hit.score > 0
    assert "<mark>Роскомнадзор</mark>" in hit.snippet


def test_russian_stemming(backend: SearchBackend) -> None:
    # "блокировка" (query) vs "блокировки" (text and title)
    assert ids(backend, "блокировка")[0] == "ru-block"
    assert "ru-yo" in ids(backend, "заблокировал")  # text says "заблокировали"
    hit = backend.search(SearchQuery(q="требования")).hits[0]
    assert "<mark>требование</mark>" in hit.snippet


def test_english_stemming(backend: SearchBackend) -> None:
    # Query "blocked": the title says "blocked", the text "blocking".
    assert ids(backend, "blocked") == ["en-tiktok"]
    hit = backend.search(SearchQuery(q="blocks")).hits[0]
    assert "<mark>blocking</mark>" in hit.snippet
    assert ids(backend, "provider") == ["en-tiktok"]


def test_other_languages_are_not_stemmed_but_match_as_prefixes(backend: SearchBackend) -> None:
    assert ids(backend, "тиркемесин") == ["ky-tiktok"]
    # Kyrgyz is not stemmed: a shorter form finds longer words as their start...
    assert ids(backend, "тиркеме") == ["ky-tiktok"]
    # ...but not the other way round, and never from the middle of a word.
    assert ids(backend, "тиркемесиндеги") == []
    assert ids(backend, "ркемесин") == []


def test_yo_folds_to_ye_both_ways(backend: SearchBackend) -> None:
    assert ids(backend, "еще") == ["ru-yo"]
    assert ids(backend, "ещё") == ["ru-yo"]
    assert ids(backend, "ЕЁ") == ["ru-yo"]
    # The snippet shows the text as written.
    assert "<mark>ещё</mark>" in backend.search(SearchQuery(q="еще")).hits[0].snippet
    backend.add([doc("yo-query", "Ёлки растут в лесу.", "en")])
    assert ids(backend, "елки") == ["yo-query"]


def test_case_insensitive(backend: SearchBackend) -> None:
    assert ids(backend, "TIKTOK") == ids(backend, "tiktok") == ids(backend, "TikTok")
    assert set(ids(backend, "tiktok")) == {"en-tiktok", "ky-tiktok"}
    assert ids(backend, "РОСКОМНАДЗОР") == ["ru-block"]


def test_phrases(backend: SearchBackend) -> None:
    assert ids(backend, '"независимых СМИ"') == ["ru-block"]
    assert ids(backend, '"СМИ независимых"') == []
    assert ids(backend, '"independent outlet"') == ["en-kloop"]
    assert ids(backend, '"outlet independent"') == []


def test_boolean_operators(backend: SearchBackend) -> None:
    assert set(ids(backend, "tiktok kyrgyzstan")) == {"en-tiktok"}  # AND by default
    assert set(ids(backend, "tiktok AND kyrgyzstan")) == {"en-tiktok"}
    assert set(ids(backend, "kloop OR роскомнадзор")) == {"en-kloop", "ru-block"}
    assert set(ids(backend, "tiktok -kyrgyzstan")) == {"ky-tiktok"}
    assert set(ids(backend, "tiktok NOT kyrgyzstan")) == {"ky-tiktok"}
    assert set(ids(backend, "(kloop OR tiktok) AND april")) == {"en-tiktok"}
    assert set(ids(backend, "tiktok AND NOT april")) == {"ky-tiktok"}
    # A query of exclusions alone means "everything except".
    assert set(ids(backend, "-tiktok", limit=50)) == {d.id for d in DOCS} - {"en-tiktok", "ky-tiktok"}


def test_url_and_domain_words_are_searchable(tmp_path: Path) -> None:
    with open_backend("tantivy", tmp_path) as b:
        b.add([doc("u1", "Текст статьи.", "ru", url="https://kloop.kg/2023/%D0%B1%D0%BB%D0%BE%D0%BA")])
        assert ids(b, "kloop.kg") == ["u1"]
        assert ids(b, "блок") == ["u1"]  # percent-decoded path
        assert ids(b, "https://kloop.kg/2023/") == ["u1"]


def test_chinese_words_match_as_character_phrases(backend: SearchBackend) -> None:
    assert ids(backend, "宇航员") == ["zh"]
    assert ids(backend, "喝酒") == ["zh"]
    assert ids(backend, "酒喝") == []


def test_domain_filter_is_exact(backend: SearchBackend, tmp_path: Path) -> None:
    assert set(ids(backend, "", domain="azattyk.org")) == {"ru-yo", "ky-tiktok"}
    assert set(ids(backend, "tiktok", domain="azattyk.org")) == {"ky-tiktok"}
    assert set(ids(backend, "tiktok", domain="WWW.Azattyk.org:443")) == {"ky-tiktok"}
    backend.add([doc("sub", "TikTok news", "en", domain="ru.azattyk.org")])
    assert set(ids(backend, "tiktok", domain="azattyk.org")) == {"ky-tiktok"}
    assert ids(backend, "tiktok", domain="example.com") == []


def test_date_filter_is_inclusive(backend: SearchBackend) -> None:
    day = timedelta(days=1)
    assert set(ids(backend, "", since=T0 + 2 * day, until=T0 + 4 * day)) == {"en-tiktok", "en-kloop", "ky-tiktok"}
    assert set(ids(backend, "tiktok", since=T0 + 3 * day)) == {"ky-tiktok"}
    assert set(ids(backend, "tiktok", until=T0 + 2 * day)) == {"en-tiktok"}
    assert ids(backend, "tiktok", until=T0 + 2 * day - timedelta(seconds=1)) == []
    # Any timezone works; naive datetimes are refused rather than guessed.
    bishkek = T0.astimezone(timezone(timedelta(hours=6)))
    assert "ru-block" in ids(backend, "", since=bishkek, until=bishkek)
    with pytest.raises(ValueError, match="timezone"):
        backend.search(SearchQuery(q="", since=datetime(2024, 1, 1)))  # noqa: DTZ001


def test_empty_query_lists_newest_first(backend: SearchBackend) -> None:
    result = backend.search(SearchQuery(q="  ", limit=3))
    assert result.total == len(DOCS)
    assert [h.id for h in result.hits] == ["zh", "ky-tiktok", "en-kloop"]
    assert all(h.snippet for h in result.hits)


def test_ranking_prefers_more_relevant_documents(tmp_path: Path) -> None:
    with open_backend("tantivy", tmp_path) as b:
        b.add(
            [
                doc(
                    "passing",
                    "A long report on many things. " * 20 + "Censorship is mentioned once.",
                    "en",
                    title="Annual report",
                ),
                doc(
                    "focused",
                    "Censorship of news sites grew. Censorship laws passed.",
                    "en",
                    title="Censorship in Kyrgyzstan",
                ),
            ]
        )
        result = b.search(SearchQuery(q="censorship"))
        assert [h.id for h in result.hits] == ["focused", "passing"]
        assert result.hits[0].score > result.hits[1].score


def test_paging(tmp_path: Path) -> None:
    with open_backend("tantivy", tmp_path) as b:
        b.add(doc(f"r{i:02}", f"Weekly report number {i}" + " report" * (i % 5), "en", days=i) for i in range(25))
        pages = [b.search(SearchQuery(q="report", limit=10, offset=o)) for o in (0, 10, 20)]
        assert [p.total for p in pages] == [25, 25, 25]
        assert [len(p.hits) for p in pages] == [10, 10, 5]
        seen = [h.id for p in pages for h in p.hits]
        assert sorted(seen) == [f"r{i:02}" for i in range(25)]
        scores = [h.score for p in pages for h in p.hits]
        assert scores == sorted(scores, reverse=True)
        assert b.search(SearchQuery(q="report", offset=100)).hits == []
        only_total = b.search(SearchQuery(q="report", limit=0))
        assert (only_total.total, only_total.hits) == (25, [])
        with pytest.raises(QuerySyntaxError):
            b.search(SearchQuery(q="report", offset=-1))
        with pytest.raises(QuerySyntaxError):
            b.search(SearchQuery(q="report", offset=1_000_000))


def test_same_id_replaces(backend: SearchBackend) -> None:
    backend.add([doc("en-kloop", "Kloop is reachable again through mirrors.", "en", title="Back")])
    assert backend.count() == len(DOCS)
    assert ids(backend, "unreachable") == []
    assert ids(backend, "mirrors") == ["en-kloop"]
    # Within one batch the last version wins.
    backend.add([doc("dup", "first version", "en"), doc("dup", "second version", "en")])
    assert backend.count() == len(DOCS) + 1
    assert ids(backend, "first") == []
    assert ids(backend, "second") == ["dup"]


def test_delete(backend: SearchBackend) -> None:
    backend.delete(["ru-block", "no-such-id"])
    assert backend.count() == len(DOCS) - 1
    assert ids(backend, "роскомнадзор") == []
    backend.delete([])
    assert backend.count() == len(DOCS) - 1


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ('"unbalanced phrase', "quote"),
        ("AND", "AND"),
        ("tiktok AND", "AND"),
        ("OR tiktok", "OR"),
        ("(tiktok OR kloop", "parenthes"),
        ("tiktok)", "parenthes"),
        ("()", "parenthes"),
        ("NOT", "NOT"),
        ('""', "phrase"),
        ("(" * 50 + "a" + ")" * 50, "nested"),
        ("word " * 1000, "long"),
    ],
)
def test_syntax_errors(backend: SearchBackend, q: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError, match=message) as error:
        backend.search(SearchQuery(q=q))
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    "q",
    [
        "https://kloop.kg/news?id=1&x=2",
        "c++",
        "title:foo",
        "a:b:c",
        "foo*",
        "[1 TO 5]",
        "x^2",
        "it's",
        "a - b",
        "~",
        "\\",
        "&& ||",
        "*",
        "-",
    ],
)
def test_lenient_queries_do_not_raise(backend: SearchBackend, q: str) -> None:
    result = backend.search(SearchQuery(q=q))
    # An answer, not an exception: hits that are real documents, and a total that agrees with them.
    assert {hit.id for hit in result.hits} <= {d.id for d in DOCS}
    assert result.total == len(result.hits) <= len(DOCS)


def test_query_from_text_makes_any_text_searchable(backend: SearchBackend) -> None:
    q = query_from_text('He said: "TikTok (the app) -- AND NOT blocked" in Kyrgyzstan')
    assert '"' not in q and "(" not in q and "AND" not in q.split()
    assert ids(backend, q) == []  # all words required; "said" is nowhere
    assert ids(backend, query_from_text("TikTok (blocked) in Kyrgyzstan!")) == ["en-tiktok"]


def test_snippets_are_escaped_html(tmp_path: Path) -> None:
    hostile = 'Before <script>alert("x")</script> & <img src=x onerror=alert(1)> the blocked page said it.'
    with open_backend("tantivy", tmp_path) as b:
        b.add([doc("xss", hostile, "en", title="<b>Title</b>")])
        for q in ("alert", "blocked", "script"):
            snippet = b.search(SearchQuery(q=q)).hits[0].snippet
            without_marks = snippet.replace("<mark>", "").replace("</mark>", "")
            assert "<" not in without_marks and ">" not in without_marks
            assert "&lt;script&gt;" in without_marks
            assert "&amp;" in without_marks
        hit = b.search(SearchQuery(q="blocked")).hits[0]
        assert "<mark>blocked</mark>" in hit.snippet
        assert hit.title == "<b>Title</b>"  # plain text: the page escapes it


def test_snippet_falls_back_to_start_of_text(tmp_path: Path) -> None:
    with open_backend("tantivy", tmp_path) as b:
        b.add([doc("t", "Body text < that does not mention it. " * 20, "en", title="Unique heading")])
        snippet = b.search(SearchQuery(q="heading")).hits[0].snippet
        assert snippet.startswith("Body text &lt; that does not mention it.")
        assert "<mark>" not in snippet
        assert len(snippet) < 300


def test_indexing_rejects_naive_datetimes(tmp_path: Path) -> None:
    with open_backend("tantivy", tmp_path) as b:
        bad = IndexDoc("x", "https://a.kg/", "a.kg", "t", "text", "en", datetime(2024, 1, 1), 200)  # noqa: DTZ001
        with pytest.raises(ValueError, match="timezone"):
            b.add([doc("ok", "fine", "en"), bad])
        # The batch was rolled back whole, and the index still works.
        assert b.count() == 0
        assert b.add([doc("ok", "fine", "en")]) == 1


def test_invalid_unicode_is_replaced_not_fatal(tmp_path: Path) -> None:
    with open_backend("tantivy", tmp_path) as b:
        assert b.add([doc("s", "broken \ud800 surrogate, blocked page", "en", title="T\udfff")]) == 1
        [hit] = b.search(SearchQuery(q="surrogate")).hits
        assert "\ud800" not in hit.snippet and "blocked" in hit.snippet


def test_two_backends_on_one_directory_see_each_other(tmp_path: Path) -> None:
    with open_backend("tantivy", tmp_path) as web, open_backend("tantivy", tmp_path) as worker:
        assert web.count() == worker.count() == 0
        worker.add([doc("a", "captured by the worker", "en")])
        assert ids(web, "worker") == ["a"]
        web.add([doc("b", "indexed by the web server", "en")])
        assert ids(worker, "server") == ["b"]
        worker.delete(["b"])
        assert web.count() == 1
        assert ids(web, "server") == []


def test_writer_waits_for_the_lock(tmp_path: Path) -> None:
    with open_backend("tantivy", tmp_path) as b:
        b.add([doc("a", "first", "en")])
        # Another writer (as a worker process would) holds the lock for a while.
        holder = tantivy.Index.open(str(tmp_path)).writer(heap_size=15_000_000, num_threads=1)
        release = threading.Timer(1.0, holder.wait_merging_threads)
        release.start()
        started = time.monotonic()
        assert b.add([doc("b", "second", "en")]) == 1
        assert time.monotonic() - started >= 0.9
        assert b.count() == 2
        release.join()


def test_writer_gives_up_after_the_timeout(tmp_path: Path) -> None:
    b = TantivyBackend(tmp_path, lock_timeout=0.5)
    holder = tantivy.Index.open(str(tmp_path)).writer(heap_size=15_000_000, num_threads=1)
    try:
        with pytest.raises(TimeoutError, match="locked"):
            b.add([doc("a", "text", "en")])
    finally:
        holder.wait_merging_threads()
    assert b.add([doc("a", "text", "en")]) == 1
    b.close()


WRITER = """
import sys
from datetime import datetime, timezone
from pathlib import Path
from search import IndexDoc, open_backend
index, name = Path(sys.argv[1]), sys.argv[2]
with open_backend("tantivy", index) as b:
    for batch in range(5):
        b.add(IndexDoc(f"{name}-{batch}-{i}", f"https://{name}.kg/{i}", f"{name}.kg", "t",
                       f"text from {name}", "en", datetime.now(timezone.utc), 200)
              for i in range(20))
"""


def test_processes_write_concurrently(tmp_path: Path) -> None:
    index = tmp_path / "index"
    with open_backend("tantivy", index) as reader:
        procs = [
            subprocess.Popen([sys.executable, "-c", WRITER, str(index), name], cwd=REPO) for name in ("web", "worker")
        ]
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
        assert reader.count() == 200
        assert reader.search(SearchQuery(q="worker", limit=0)).total == 100
        assert reader.search(SearchQuery(q="text", domain="web.kg", limit=0)).total == 100


def test_closed_backend_refuses_work(tmp_path: Path) -> None:
    b = open_backend("tantivy", tmp_path)
    b.close()
    with pytest.raises(RuntimeError, match="closed"):
        b.search(SearchQuery(q="x"))
    with pytest.raises(RuntimeError, match="closed"):
        b.add([doc("a", "text", "en")])
