"""search/charset.py: each HTML response decoded as the HTML standard says, and extract() on the bytes."""
from __future__ import annotations

import codecs

import pytest

from search import extract
from search.charset import codec_name, decide, decode

from .charset_pages import LEGACY, MORE_LEGACY, MULTILINGUAL, Legacy, page_with

RUSSIAN = "Доступ к сайту ограничен по требованию Генеральной прокуратуры. " * 4


@pytest.mark.parametrize("legacy", LEGACY, ids=lambda p: p.encoding)
def test_undeclared_legacy_encodings_are_detected(legacy) -> None:
    body = legacy.body()
    text, charset = decode(body, "text/html")
    assert charset.source == "detected" and charset.http is None and charset.meta is None
    assert charset.encoding == codec_name(legacy.encoding)
    assert legacy.phrase in text and "\ufffd" not in text


@pytest.mark.parametrize("legacy", LEGACY, ids=lambda p: p.encoding)
def test_extract_from_undeclared_legacy_bytes(legacy) -> None:
    result = extract(legacy.body(), "http://example.org/", content_type="text/html")
    assert result.title == legacy.title
    assert legacy.phrase in result.text.replace("\n", " ")
    assert "\ufffd" not in result.text
    assert result.provenance()["source"] == "detected"


@pytest.mark.parametrize("name", ["seb_ru_vse-diety.com-atkins", "seb_ko_entermedia.co.kr-8576"])
def test_undeclared_utf8_is_utf8(name) -> None:
    # The two real pages of the corpus that declare no charset: both are UTF-8.
    body = (MULTILINGUAL / name / "source.html").read_bytes()
    text, charset = decode(body, "text/html")
    assert (charset.encoding, charset.source) == ("utf-8", "detected")
    assert text == body.decode("utf-8")


def test_meta_in_the_first_1024_bytes() -> None:
    body = page_with('<meta charset="windows-1251">', RUSSIAN).encode("cp1251")
    assert decide(body, "text/html") == decide(body, None)
    charset = decide(body, "text/html")
    assert (charset.encoding, charset.source, charset.meta) == ("cp1251", "meta", "windows-1251")


def test_http_equiv_meta() -> None:
    body = page_with('<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">', RUSSIAN).encode("koi8-r")
    text, charset = decode(body)
    assert (charset.encoding, charset.source) == ("koi8-r", "meta")
    assert RUSSIAN in text


def test_late_meta_after_the_prescan_is_still_followed() -> None:
    # 3 KB of head before the <meta>: the prescan misses it; the parser's "change the encoding" does not.
    body = page_with('<meta charset="windows-1251">', RUSSIAN, padding=3000).encode("cp1251")
    assert body.index(b"<meta") > 1024
    text, charset = decode(body, "text/html")
    assert (charset.encoding, charset.source) == ("cp1251", "late-meta")
    assert RUSSIAN in text
    result = extract(body, content_type="text/html")
    assert "Генеральной прокуратуры" in result.text and result.lang == "ru"


def test_a_meta_in_a_comment_or_the_body_is_not_a_declaration() -> None:
    body = page_with("<!-- <meta charset=koi8-r> -->", '<meta charset="koi8-r">' + RUSSIAN).encode("utf-8")
    text, charset = decode(body, "text/html")
    assert (charset.encoding, charset.source, charset.meta) == ("utf-8", "detected", None)
    assert RUSSIAN in text


def test_header_wins_over_a_disagreeing_meta() -> None:
    # The server says windows-1251; the markup (a template left as it was) says utf-8.
    body = page_with('<meta charset="utf-8">', RUSSIAN).encode("cp1251")
    text, charset = decode(body, "text/html; charset=windows-1251")
    assert (charset.encoding, charset.source, charset.http, charset.meta) == (
        "cp1251", "http", "windows-1251", "utf-8")
    assert RUSSIAN in text
    assert "Генеральной прокуратуры" in extract(body, content_type="text/html; charset=windows-1251").text


@pytest.mark.parametrize(("bom", "encoding"), [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                                               (codecs.BOM_UTF16_BE, "utf-16-be")])
def test_a_bom_wins_over_header_and_meta(bom, encoding) -> None:
    body = bom + page_with('<meta charset="windows-1251">', RUSSIAN).encode(encoding)
    text, charset = decode(body, "text/html; charset=windows-1251")
    assert (charset.encoding, charset.source) == (encoding, "bom")
    assert RUSSIAN in text and not text.startswith("\ufeff")


@pytest.mark.parametrize(("label", "codec"), [("ISO-8859-1", "cp1252"), ("gb2312", "gb18030"), ("EUC-KR", "cp949"),
                                              ("Shift_JIS", "cp932"), ("utf8", "utf-8"), ("windows-874", "cp874"),
                                              ("x-no-such", None)])
def test_labels_map_to_the_decoders_browsers_use(label, codec) -> None:
    assert codec_name(label) == codec


def test_an_unknown_label_is_passed_over() -> None:
    body = page_with('<meta charset="x-no-such"><meta charset="koi8-r">', RUSSIAN).encode("koi8-r")
    charset = decide(body, "text/html; charset=bogus")
    assert (charset.encoding, charset.source, charset.http) == ("koi8-r", "meta", "bogus")


def test_mojibake_dom_is_not_used_and_is_said() -> None:
    # Chromium read the undeclared cp1251 page as windows-1252: its DOM is mojibake.
    body = page_with("", RUSSIAN).encode("cp1251")
    dom = body.decode("cp1252", errors="replace")
    result = extract(body, content_type="text/html", dom=dom, dom_charset="windows-1252")
    assert result.dom_mojibake and result.source == "response"
    assert "Генеральной прокуратуры" in result.text
    assert result.provenance() == {"encoding": "cp1251", "source": "detected", "http_charset": None,
                                   "meta_charset": None, "text_from": "response", "dom_mojibake": True}


def test_a_page_built_by_scripts_takes_its_text_from_the_dom() -> None:
    body = b"<html><head><title>App</title></head><body><div id=app></div><script src=/app.js></script></body></html>"
    dom = page_with("", RUSSIAN)
    result = extract(body, content_type="text/html; charset=utf-8", dom=dom, dom_charset="UTF-8")
    assert result.source == "dom" and not result.dom_mojibake
    assert "Генеральной прокуратуры" in result.text and result.lang == "ru"


def test_replacement_characters_are_never_text() -> None:
    # Declared utf-8, but a stray cp1251 byte in the middle: the word stays, the junk goes.
    body = page_with('<meta charset="utf-8">', RUSSIAN).encode("utf-8").replace("ограничен".encode(), b"\xee")
    result = extract(body, content_type="text/html")
    assert "\ufffd" not in result.text and "Генеральной" in result.text


def test_utf8_bytes_under_a_legacy_declaration_stay_utf8() -> None:
    # A page saved again as UTF-8 with its old <meta charset=gb2312> (readability's "qq" page).
    body = page_with('<meta charset="gb2312">', "中美合作共赢符合国际社会利益。" * 5).encode("utf-8")
    text, charset = decode(body, "text/html")
    assert (charset.encoding, charset.source, charset.meta) == ("utf-8", "valid-utf-8", "gb2312")
    assert "中美合作共赢" in text


@pytest.mark.parametrize(("page", "encoding"), MORE_LEGACY)
def test_more_undeclared_encodings(page, encoding) -> None:
    body = Legacy(page, encoding, "", "").body()
    text, charset = decode(body, "text/html")
    assert charset.source == "detected"
    assert text == body.decode(encoding), charset.encoding
