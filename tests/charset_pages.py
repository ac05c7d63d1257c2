"""Pages in legacy encodings, made from the real pages of ../shared/corpus/multilingual.

Each is the page's own text, its charset declarations taken out, encoded as sites in that
language long did (windows-1251, EUC-KR, GB2312, Shift_JIS): what a server that declares no
charset sends. Tests serve them as plain ``text/html`` or decode them straight.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .sites import SHARED

MULTILINGUAL = SHARED / "corpus" / "multilingual"
_CHARSET_META = re.compile(r"<meta[^>]*charset[^>]*>", re.I)


@dataclass(frozen=True)
class Legacy:
    """One real page re-encoded: its name, the encoding, and a phrase and title to find."""

    page: str
    encoding: str
    phrase: str  # from the page's reference text
    title: str  # the article title as extract() gives it (site suffix dropped, spaces folded)

    def body(self) -> bytes:
        html = (MULTILINGUAL / self.page / "source.html").read_bytes().decode("utf-8")
        return _CHARSET_META.sub("", html).encode(self.encoding, errors="xmlcharrefreplace")


LEGACY = (
    Legacy("seb_ru_vse-diety.com-atkins", "windows-1251", "ограничение на количество углеводов",
           "Диета Аткинса (14 дней) - потеря веса до 10 кг. Отзывы"),
    Legacy("seb_ko_entermedia.co.kr-8576", "euc-kr", "엘제이의 일방적인 사진 공개로부터 비롯됐다",
           "엘제이-류화영 진흙탕 싸움, 공적인 사안으로 봐야하는 이유"),
    Legacy("np4k_zh_chinese_article_001", "gb2312", "中美合作共赢符合国际社会利益",
           "外国专家：中美合作共赢符合国际社会利益"),
    Legacy("np4k_ja_japanese_article", "shift_jis", "米朝首脳会談を巡って戦っていた",
           "米朝首脳直通電話 習氏に挑むトランプ戦術の成否 （写真＝ロイター） ：日本経済新聞"),
)


def page_with(head: str, body: str, padding: int = 0) -> str:
    """A small page: ``head`` markup, then ``padding`` bytes of comment-free filler, then ``body``."""
    filler = f'<link rel="stylesheet" href="/{"x" * padding}.css">' if padding else ""
    return (f"<!doctype html><html><head>{filler}{head}<title>Новости</title></head>"
            f"<body><article>{body}</article></body></html>")


# More encodings, for the decoder's tests only (no Chromium): single-byte code pages that a
# detector confuses with each other unless the page's language is taken into account.
MORE_LEGACY = (("seb_ru_wday.ru-model", "koi8-r"), ("np4k_ja_japanese_article", "euc-jp"),
               ("np4k_th_thai_article", "cp874"), ("np4k_ar_arabic_article", "windows-1256"),
               ("np4k_lv_latvian_article", "windows-1257"), ("seb_pt_jaraguadosul.com.br-news", "windows-1252"),
               ("goose3_es_elpais", "windows-1252"), ("goose3_fr_lefigaro", "windows-1252"))
