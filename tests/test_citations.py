"""Citations of a capture in every style, against strings written out by hand."""
from __future__ import annotations

import json

import lxml.html

from archive import catalog
from archive.lookup import citations
from archive.lookup.citations import facts_of

from .webapp import ARCHIVE_NAME, ArchiveBuilder, LiveServer, make_settings

RUSSIAN = {
    "id": 42, "permalink": "k7m2x9qa", "lang": "ru",
    "url": "https://kloop.kg/blog/2024/04/17/genprokuratura-potrebovala/",
    "title": "Генпрокуратура потребовала удалить статью о «Кумтөре»",
    "captured_at": "2024-04-18T09:30:15.123456Z",
}
BASE = "https://archive.example/"  # ARCHIVE_URL, with the trailing slash people type
NAME = "Takedown Archive"
LINK = "https://archive.example/p/k7m2x9qa"


def test_russian_title_every_style():
    f = facts_of(RUSSIAN, BASE, NAME)
    title = "Генпрокуратура потребовала удалить статью о «Кумтөре»"
    url = RUSSIAN["url"]
    assert citations.apa(f) == (
        f"{title}. (n.d.). kloop.kg. {url}. Archived April 18, 2024, 09:30:15 UTC, by Takedown Archive: {LINK}")
    assert citations.mla(f) == (
        f"“{title}.” kloop.kg, {url}. Takedown Archive, archived 18 Apr. 2024, 09:30:15 UTC, {LINK}.")
    assert citations.chicago(f) == (
        f"“{title}.” kloop.kg. {url}, archived April 18, 2024, 09:30:15 UTC, at Takedown Archive, {LINK}.")
    assert citations.bluebook(f) == (
        f"{title}, kloop.kg, {url} (archived Apr. 18, 2024, 09:30:15 UTC, by Takedown Archive) [{LINK}].")
    assert citations.bibtex(f) == (
        "@misc{takedownarchive-k7m2x9qa,\n"
        "  title = {{Генпрокуратура потребовала удалить статью о «Кумтөре»}},\n"
        "  howpublished = {kloop.kg},\n"
        "  url = {https://archive.example/p/k7m2x9qa},\n"
        "  urldate = {2024-04-18},\n"
        "  note = {Archived 2024-04-18 09:30:15 UTC at Takedown Archive. Original URL:"
        " https://kloop.kg/blog/2024/04/17/genprokuratura-potrebovala/},\n"
        "  year = {2024},\n"
        "  month = apr,\n"
        "}")
    assert citations.csl_json(f) == """[
  {
    "id": "takedownarchive-k7m2x9qa",
    "type": "webpage",
    "title": "Генпрокуратура потребовала удалить статью о «Кумтөре»",
    "container-title": "kloop.kg",
    "URL": "https://archive.example/p/k7m2x9qa",
    "archive": "Takedown Archive",
    "archive_location": "https://kloop.kg/blog/2024/04/17/genprokuratura-potrebovala/",
    "accessed": {
      "date-parts": [
        [
          2024,
          4,
          18
        ]
      ]
    },
    "note": "Captured 2024-04-18T09:30:15Z. Original URL: https://kloop.kg/blog/2024/04/17/genprokuratura-potrebovala/",
    "language": "ru"
  }
]"""
    assert set(citations.citations(f)) == set(citations.STYLES)


HOSTILE = {
    "id": 7, "permalink": "abcd2345", "lang": "en",
    "url": "https://www.example.org/a_b?x=1&y=50%25#top",
    "title": 'Fees: $5 & 50% off {today} #1 ~ ^_^ \\ "quoted"?',
    "captured_at": "2023-09-02T23:59:59.000000Z",
}


def test_bibtex_escapes_every_special_character_and_keeps_braces_balanced():
    entry = citations.bibtex(facts_of(HOSTILE, "http://127.0.0.1:8000", "Архив «Тест» & Co"))
    assert entry == (
        "@misc{co-abcd2345,\n"
        r"  title = {{Fees: \$5 \& 50\% off \{today\} \#1 \textasciitilde{} \textasciicircum{}\_"
        r"\textasciicircum{} \textbackslash{} "'"quoted"?}},\n'
        "  howpublished = {example.org},\n"
        "  url = {http://127.0.0.1:8000/p/abcd2345},\n"
        "  urldate = {2023-09-02},\n"
        r"  note = {Archived 2023-09-02 23:59:59 UTC at Архив «Тест» \& Co. Original URL:"
        r" https://www.example.org/a\_b?x=1\&y=50\%25\#top},"
        "\n  year = {2023},\n"
        "  month = sep,\n"
        "}")
    # Braces balance once escaped braces are set aside: the entry cannot swallow the next one.
    bare = entry.replace(r"\{", "").replace(r"\}", "")
    depth = 0
    for char in bare:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0


def test_quotes_and_question_marks_in_other_styles():
    f = facts_of(HOSTILE, "http://127.0.0.1:8000", NAME)
    title = HOSTILE["title"]
    # A title ending in "?" gets no extra period; the site drops its www.
    assert citations.mla(f).startswith(f"“{title}” example.org, {HOSTILE['url']}. Takedown Archive, archived"
                                       " 2 Sept. 2023, 23:59:59 UTC, http://127.0.0.1:8000/p/abcd2345.")
    assert citations.apa(f).startswith(f"{title} (n.d.). example.org.")
    item = json.loads(citations.csl_json(f))[0]
    assert item["title"] == title  # JSON escaping round-trips quotes and backslashes exactly
    assert item["accessed"] == {"date-parts": [[2023, 9, 2]]}


def test_untitled_page_and_a_capture_without_permalink():
    capture = {"id": 9, "permalink": None, "url": "http://site.example/", "title": "  ",
               "captured_at": "2024-01-05T00:00:00.000000Z"}
    f = facts_of(capture, "https://a.example", "A")
    assert f.link == "https://a.example/capture/9"
    assert citations.chicago(f) == ("[Untitled page]. site.example. http://site.example/, archived January 5, 2024,"
                                    " 00:00:00 UTC, at A, https://a.example/capture/9.")
    assert citations.bluebook(f) == ("[Untitled page], site.example, http://site.example/ (archived Jan. 5, 2024,"
                                     " 00:00:00 UTC, by A) [https://a.example/capture/9].")
    assert "language" not in json.loads(citations.csl_json(f))[0]


def test_record_page_and_api_give_the_same_citations(tmp_path):
    """Over real HTTP: the record page's boxes and /api/captures/<id>/cite, under ARCHIVE_URL."""
    settings = make_settings(tmp_path / "home", archive_url="https://archive.example")
    builder = ArchiveBuilder(settings)
    try:
        capture_id = builder.add(RUSSIAN["url"], RUSSIAN["title"], ["Текст статьи."], lang="ru")
        row = catalog.get_capture(builder.db, capture_id)
        with LiveServer(settings) as server:
            api = server.get(f"/api/captures/{capture_id}/cite")
            page = server.get(f"/capture/{capture_id}")
            script = server.get("/static/copy.js")
    finally:
        builder.close()
    link = f"https://archive.example/p/{row['permalink']}"
    cite = api.json()
    assert cite["permalink"] == link
    assert cite["chicago"] == (f"“{RUSSIAN['title']}.” kloop.kg. {RUSSIAN['url']}, archived April 18, 2024, "
                               f"09:30:15 UTC, at {ARCHIVE_NAME}, {link}.")
    assert cite["csl_json"][0]["URL"] == link and cite["csl_json"][0]["archive_location"] == RUSSIAN["url"]
    doc = lxml.html.fromstring(page.text)
    for style in citations.STYLES:
        box = doc.get_element_by_id(f"cite-{style}")
        assert box.tag == "textarea" and box.get("readonly") is not None
        expected = cite[style] if style != "csl_json" else json.dumps(cite[style], ensure_ascii=False, indent=2)
        assert box.text_content() == expected, style
    assert doc.get_element_by_id("permalink").get("href") == link
    assert doc.get_element_by_id("cite-sha256").text_content() == row["sha256"]
    assert doc.xpath("//section[@id='cite']//a[@id='wacz-link']/@href") == [f"/capture/{capture_id}/wacz"]
    # Copy buttons: our own file, allowed by the record page's CSP and by nothing else.
    assert doc.xpath("//script/@src") == ["/static/copy.js"]
    assert page.headers["Content-Security-Policy"].endswith("; script-src 'self'")
    assert script.status_code == 200 and "clipboard" in script.text
    assert "script-src" not in script.headers["Content-Security-Policy"]
