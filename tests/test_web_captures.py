"""Record pages, screenshots and WARC downloads, over real HTTP."""
from __future__ import annotations

import hashlib
from io import BytesIO

import lxml.html
from warcio.archiveiterator import ArchiveIterator

from archive import catalog

from .webapp import ARCHIVE_NAME, OWN_SCRIPT, page_html, tiny_png

URL = "https://kloop.kg/blog/2024/04/18/tiktok-blocked/"
FINAL = "https://www.kloop.kg/blog/2024/04/18/tiktok-blocked/"
TITLE = "ГКНБ обязал провайдеров заблокировать TikTok"
TEXT = ["Служба безопасности потребовала от провайдеров закрыть доступ к TikTok.",
        "Ссылаясь на закон 2023 года <b>о защите детей</b> & вредной информации.",
        "Kloop itself has been unreachable in Kyrgyzstan since September 2023."]
BLOCKED = [{"url": "http://10.0.0.1/tracker.js", "reason": "private address 10.0.0.1 is not allowed"},
           {"url": "http://intranet.kloop.kg/pixel.png", "reason": "private address 10.1.2.3 is not allowed"}]


def element_text(page: str, element_id: str) -> str:
    return " ".join(lxml.html.fromstring(page).get_element_by_id(element_id).text_content().split())


def add_article(builder, **kw) -> int:
    return builder.add(URL, TITLE, TEXT, final_url=FINAL, lang="ru", **kw)


def test_record_page_shows_every_fact(archive_builder, web_server):
    capture_id = add_article(archive_builder, partial_reasons=["capture timed out after 60 s"], blocked=BLOCKED)
    r = web_server.get(f"/capture/{capture_id}")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    page = r.text

    assert element_text(page, "original-url") == URL
    assert element_text(page, "final-url").startswith(FINAL)
    assert element_text(page, "captured-at") == "18 April 2024, 09:30 UTC 2024-04-18T09:30:15Z"
    assert element_text(page, "http-status") == "200"
    assert element_text(page, "title") == TITLE
    assert element_text(page, "lang") == "ru"
    assert "partial" in element_text(page, "partial-flag").lower()
    assert "capture timed out after 60 s" in element_text(page, "partial")
    sha = hashlib.sha256(page_html(TITLE, TEXT)).hexdigest()
    assert element_text(page, "sha256") == sha
    for item in BLOCKED:
        assert item["url"] in element_text(page, "blocked")
        assert item["reason"] in element_text(page, "blocked")

    # The extracted text, escaped, one paragraph each; archived markup never becomes ours.
    doc = lxml.html.fromstring(page)
    assert "&lt;b&gt;о защите детей&lt;/b&gt; &amp; вредной" in page
    assert "PWNED" not in page and "<script" not in page.replace(OWN_SCRIPT, "")

    records = catalog.get_records(archive_builder.db, capture_id)
    table = element_text(page, "records")
    for ref in records:
        assert ref.record_type in table
        assert ref.target_uri in table
        for digest in (ref.payload_digest, ref.block_digest):
            if digest:
                assert digest in table

    record_url = f"{web_server.url}/capture/{capture_id}"
    assert element_text(page, "citation") == (
        f'"{TITLE}." {ARCHIVE_NAME}, archived 2024-04-18 09:30:15 UTC from {URL}. {record_url}. SHA-256 {sha}.')
    assert doc.get_element_by_id("warc-link").get("href") == f"/capture/{capture_id}/warc"
    assert doc.xpath("//section[@id='screenshot']//img/@src") == [f"/capture/{capture_id}/screenshot.png"]


def test_record_page_paragraphs(archive_builder, web_server):
    capture_id = add_article(archive_builder)
    doc = lxml.html.fromstring(web_server.get(f"/capture/{capture_id}").text)
    paragraphs = doc.xpath("//div[@class='archived-text']/p")
    assert [p.text_content() for p in paragraphs] == TEXT
    assert all(len(p) == 0 for p in paragraphs), "archived text must not produce elements"


def test_screenshot_is_our_png(archive_builder, web_server):
    capture_id = add_article(archive_builder)
    r = web_server.get(f"/capture/{capture_id}/screenshot.png")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age" in r.headers["Cache-Control"]
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert r.content == tiny_png()
    again = web_server.get(f"/capture/{capture_id}/screenshot.png", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304


def test_capture_without_screenshot(archive_builder, web_server):
    capture_id = add_article(archive_builder, screenshot=b"")
    assert "has no screenshot" in web_server.get(f"/capture/{capture_id}").text
    r = web_server.get(f"/capture/{capture_id}/screenshot.png")
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/html")


def test_screenshot_that_is_not_a_png_is_not_served(archive_builder, web_server):
    capture_id = add_article(archive_builder, screenshot=b"<html><script>alert(1)</script></html>")
    r = web_server.get(f"/capture/{capture_id}/screenshot.png")
    assert r.status_code == 404
    assert "alert(1)" not in r.text


def test_warc_download_verifies(archive_builder, web_server):
    capture_id = add_article(archive_builder)
    other = archive_builder.add("https://rus.azattyk.org/a/33000000.html", "Другая статья", ["Другой текст."])
    r = web_server.get(f"/capture/{capture_id}/warc")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/warc"
    assert r.headers["Content-Disposition"] == f'attachment; filename="capture-{capture_id}-20240418093015.warc.gz"'
    assert int(r.headers["Content-Length"]) == len(r.content)

    seen = []
    for record in ArchiveIterator(BytesIO(r.content), check_digests=True):
        record.content_stream().read()
        assert not record.digest_checker.problems, record.digest_checker.problems
        seen.append(record.rec_headers.get_header("WARC-Record-ID"))
    expected = [ref.record_id for ref in catalog.get_records(archive_builder.db, capture_id)]
    assert seen == expected
    assert not set(seen) & {ref.record_id for ref in catalog.get_records(archive_builder.db, other)
                            if ref.role != "warcinfo"}
    types = [ref.record_type for ref in catalog.get_records(archive_builder.db, capture_id)]
    # As the worker writes them (the builder uses its build_records): the provenance metadata record last.
    assert types == ["warcinfo", "response", "request", "resource", "resource", "resource", "metadata"]


def test_missing_warc_file_is_an_error_page(archive_builder, web_server, web_settings):
    capture_id = add_article(archive_builder)
    archive_builder.writer.close()
    for path in web_settings.warc_dir.iterdir():
        path.rename(path.with_name("moved-" + path.name))
    for address in (f"/capture/{capture_id}/warc", f"/capture/{capture_id}/screenshot.png",
                    f"/capture/{capture_id}"):
        r = web_server.get(address)
        assert r.status_code == 500, address
        assert r.headers["Content-Type"].startswith("text/html")
        assert "could not be read" in r.text
        assert str(web_settings.warc_dir) not in r.text  # no server paths for the public


def test_unknown_capture_is_404(web_server):
    for address in ("/capture/999", "/capture/999/screenshot.png", "/capture/999/warc"):
        r = web_server.get(address)
        assert r.status_code == 404, address
        assert r.headers["Content-Type"].startswith("text/html")
        assert "There is no capture 999" in r.text
    assert web_server.get("/capture/not-a-number").status_code == 404
