"""search/normalize.py: the text both engines index and search, and its map back to the original."""
from __future__ import annotations

import pytest

from search.normalize import normalize, normalize_map

from .charset_pages import MULTILINGUAL


@pytest.mark.parametrize(("a", "b"), [
    ("কুষ্টি\u09dfা", "কুষ্টি\u09af\u09bcা"),  # Bengali য়: one code point or য + nukta
    ("İstanbul", "istanbul"), ("ISTANBUL", "ıstanbul"), ("Ёлка", "елка"),
    ("الْعَرَبِيَّة", "العربيه"), ("الموقـــع", "الموقع"), ("إلكتروني", "الكتروني"),
    ("کتاب یک", "كتاب يك"), ("٢٠٢٤", "2024"), ("۲۰۲۴", "2024"), ("２０２４年", "2024年"), ("ｶﾀｶﾅ", "カタカナ"),
])
def test_spellings_that_are_one(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


def test_scripts_without_spaces_become_bigrams_and_keep_latin_and_digits_apart() -> None:
    assert normalize("中华人民") == " 中华 华人 人民 "
    assert normalize("2023年11月发布iPhone15") == "2023 年 11 月发 发布 iphone15"
    # A Thai letter keeps its vowel and tone marks: no bigram starts with a mark.
    assert normalize("ปิดกั้น") == " ปิด ดกั้ กั้น "


def test_a_phrase_is_a_run_of_the_page_bigrams() -> None:
    page = normalize("国家互联网信息办公室称")
    for phrase in ("互联网", "信息办公室", "国家互联网信息办公室称"):
        assert normalize(phrase).strip() in page


@pytest.mark.parametrize("name", sorted(p.name for p in MULTILINGUAL.iterdir() if p.is_dir()))
def test_map_agrees_with_normalize_on_real_pages(name: str) -> None:
    text = (MULTILINGUAL / name / "source.html").read_bytes().decode("utf-8")
    folded, spans = normalize_map(text)
    assert folded == normalize(text) and len(spans) == len(folded)
    assert all(0 <= a <= b <= len(text) for a, b in spans)
    assert normalize(folded).split() == folded.split()  # the same words when normalised twice


def test_map_points_at_the_original_words() -> None:
    text = "Кыргызстан: 国家互联网 İSTANBUL"
    folded, spans = normalize_map(text)
    start = folded.index("互联")
    assert text[spans[start][0] : spans[start + 1][1]] == "互联"
    start = folded.index("istanbul")
    assert text[spans[start][0] : spans[start + 7][1]] == "İSTANBUL"
