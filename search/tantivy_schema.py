"""The tantivy index layout: fields and the analyzers behind them.

Each document's title and text go into the fields of its language: ru and en
get Snowball stemming, every other language (Kyrgyz included) is only
lower-cased. A query is analyzed for every language's fields, so
"блокировка" finds a Russian page saying "блокировки" and a Kyrgyz page
saying "блокировка".
"""

from __future__ import annotations

import tantivy

# Languages with their own stemmed fields; the rest share the "xx" fields.
STEMMED = {"ru": "russian", "en": "english"}
SUFFIXES = (*STEMMED, "xx")

# Words are runs of letters, digits and marks. Scripts written without spaces
# arrive here as space-separated bigrams (search/normalize.py), so each bigram is a word.
WORD_PATTERN = r"[\p{L}\p{N}\p{M}]+"
# In bytes: long enough for agglutinative Kyrgyz words in Cyrillic.
MAX_TOKEN_BYTES = 100


def analyzer(language: str | None) -> tantivy.TextAnalyzer:
    """The analyzer for a Snowball language, or the catch-all one for None.

    Stemmed analyzers keep tantivy's fast simple tokenizer (their pages are
    Russian or English); the catch-all one handles any script."""
    if language:
        tokenizer = tantivy.Tokenizer.simple()
    else:
        tokenizer = tantivy.Tokenizer.regex(WORD_PATTERN)
    builder = (
        tantivy.TextAnalyzerBuilder(tokenizer)
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
        .filter(tantivy.Filter.lowercase())
    )
    if language:
        builder = builder.filter(tantivy.Filter.stemmer(language))
    return builder.build()


def analyzers() -> dict[str, tantivy.TextAnalyzer]:
    """Analyzer per field suffix; each is registered as "lang_<suffix>"."""
    return {suffix: analyzer(STEMMED.get(suffix)) for suffix in SUFFIXES}


def suffix(lang: str) -> str:
    """The field suffix for a document language."""
    return lang if lang in STEMMED else "xx"



def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    for name in ("domain", "lang", "outcome", "countries", "authorities", "orders", "registers"):
        builder.add_text_field(name, stored=True, tokenizer_name="raw", fast=True)
    for name in ("year", "month"):  # of captured_at (UTC), as text: "2024", "2024-05"
        builder.add_text_field(name, tokenizer_name="raw", fast=True)
    # URL words are searchable; the URL as given is stored apart, and kept
    # as a keyword column so that hits can be grouped by URL.
    builder.add_text_field("url", tokenizer_name="lang_xx")
    builder.add_bytes_field("url_s", stored=True)
    builder.add_text_field("url_k", tokenizer_name="raw", fast=True)
    for name in SUFFIXES:
        # Stored ё-folded; the original is stored beside it only if it differs.
        builder.add_text_field(f"title_{name}", stored=True, tokenizer_name=f"lang_{name}")
        builder.add_text_field(f"text_{name}", stored=True, tokenizer_name=f"lang_{name}")
    builder.add_bytes_field("title_orig", stored=True)
    builder.add_bytes_field("text_orig", stored=True)
    builder.add_date_field("captured_at", stored=True)
    # Capture time in microseconds since the epoch: tantivy keeps dates to
    # the second in its columns, too coarse for sorting and cursors.
    builder.add_integer_field("at_us", indexed=True, fast=True)
    builder.add_integer_field("status", stored=True, indexed=True)
    builder.add_integer_field("removed", stored=True, indexed=True)
    return builder.build()
