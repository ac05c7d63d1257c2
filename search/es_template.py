"""The Elasticsearch index layout: the index template and documents in it.

Like the tantivy layout (search/tantivy_schema.py), each page's title and text
go into the sub-field of its language only: `text.ru` (russian analyzer),
`text.en` (english), `text.xx` (standard tokenizer, lower-cased: Kyrgyz and
every other language). A Russian stemmer would mangle Kyrgyz words, so the
text is not copied into every analyzer. Facet values are keyword fields.

The engine's own analysis does the folding, for documents and queries alike:
ё→е (a char filter), NFKC and case folding (`icu_normalizer`), accents off Latin
and other non-Cyrillic letters (`icu_folding`; й and Kyrgyz ө, ү, ң stay
letters of their own), words found by `icu_tokenizer` (dictionary segmentation
for Thai, Lao, Khmer, Burmese, Chinese, Japanese), Snowball stemming for ru
and en. Text is stored as written. The ICU parts need the analysis-icu plugin;
`required_components()` names what the template needs from the server.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from crawler.netpolicy import site_host
from search.backend import IndexDoc

if TYPE_CHECKING:
    from datetime import datetime

LANGS = ("ru", "en", "xx")  # sub-field per analysed language; "xx" is everything else
# The engine's names of the Snowball stemmers tantivy uses: its `english` is the older Porter
# stemmer, which conflates other words than tantivy's (Snowball English, "porter2") does.
STEMMED = {"ru": "russian", "en": "porter2"}
TEMPLATE_PRIORITY = 200  # above Elasticsearch's built-in templates (100)
# Snippet markers: private-use characters, removed from indexed text so a page cannot forge them.
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"


def lang_key(lang: str) -> str:
    """The sub-field for a document language."""
    return lang if lang in STEMMED else "xx"


def analysis() -> dict[str, Any]:
    """Analyzers: folding as the module says, then Snowball stemming for ru and en."""
    filters: dict[str, Any] = {
        "fold_case": {"type": "icu_normalizer", "name": "nfkc_cf"},  # ＡＢＣ → abc, ß → ss
        # Cyrillic is left out: folding would turn й into и before the Russian stemmer sees it.
        "fold_marks": {"type": "icu_folding", "unicode_set_filter": "[^\\p{Cyrillic}]"},  # café → cafe
    }
    folding = ["fold_case", "fold_marks"]
    analyzers: dict[str, Any] = {"lang_xx": _analyzer(folding)}
    for key, language in STEMMED.items():
        filters[f"stem_{key}"] = {"type": "stemmer", "language": language}
        # No stop words: tantivy keeps them, and "to be or not to be" should stay findable.
        analyzers[f"lang_{key}"] = _analyzer([*folding, f"stem_{key}"])
    return {
        "char_filter": {"fold_yo": {"type": "mapping", "mappings": ["ё => е", "Ё => Е"]}},
        "filter": filters,
        "analyzer": analyzers,
    }


def _analyzer(filters: list[str]) -> dict[str, Any]:
    return {"type": "custom", "tokenizer": "icu_tokenizer", "char_filter": ["fold_yo"], "filter": filters}


# Where each analysis component comes from: a server without its plugin refuses the template.
PLUGIN_OF = {
    "icu_tokenizer": "analysis-icu",
    "icu_normalizer": "analysis-icu",
    "icu_folding": "analysis-icu",
    "mapping": "analysis-common",
    "stemmer": "analysis-common",
}


def required_components() -> list[tuple[str, dict[str, Any]]]:
    """Each analysis component the template uses, as (kind, definition) for `_analyze`:
    kind is tokenizer, char_filter or filter; a definition names its type."""
    spec = analysis()
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for analyzer in spec["analyzer"].values():
        found.setdefault(analyzer["tokenizer"], ("tokenizer", {"type": analyzer["tokenizer"]}))
        for kind, table in (("char_filter", "char_filter"), ("filter", "filter")):
            for name in analyzer[kind]:
                definition = spec[table][name]
                found.setdefault(definition["type"], (kind, definition))
    return list(found.values())


def mappings() -> dict[str, Any]:
    """Field types; `dynamic: strict` turns a misspelt field into an error, not a new field."""
    keyword = {"type": "keyword"}
    by_lang = {"type": "object", "properties": {k: {"type": "text", "analyzer": f"lang_{k}"} for k in LANGS}}
    return {
        "dynamic": "strict",
        "properties": {
            "id": keyword,
            "url": keyword,
            "url_words": {"type": "text", "analyzer": "lang_xx"},
            "domain": keyword,
            "lang": keyword,
            "title": by_lang,
            "text": by_lang,
            "captured_at": {"type": "date"},
            "year": keyword,
            "month": keyword,
            "status": {"type": "integer"},
            "removed": {"type": "boolean"},
            "outcome": keyword,
            "countries": keyword,
            "authorities": keyword,
            "orders": keyword,
            "registers": keyword,
        },
    }


def index_settings(*, loading: bool = False) -> dict[str, Any]:
    """Index settings; `loading` turns off refreshes and replicas for a bulk rebuild."""
    settings: dict[str, Any] = {"number_of_shards": 1, "analysis": analysis()}
    if loading:
        settings.update(refresh_interval="-1", number_of_replicas=0)
    return settings


def template_body(alias: str) -> dict[str, Any]:
    """The composable index template for `alias`'s indices (`<alias>-<timestamp>`)."""
    return {
        "index_patterns": [f"{alias}-*"],
        "priority": TEMPLATE_PRIORITY,
        "template": {"settings": index_settings(), "mappings": mappings()},
        "_meta": {"description": "takedown archive search index (search/es_template.py)"},
    }


def source(doc: IndexDoc) -> dict[str, Any]:
    """The indexed document for an IndexDoc."""
    key = lang_key(doc.lang)
    at = utc(doc.captured_at, "captured_at")
    body: dict[str, Any] = {
        "id": doc.id,
        "url": doc.url,
        "url_words": url_words(doc.url),
        "domain": site_host(doc.domain),
        "lang": doc.lang,
        "title": {key: _clean(doc.title)},
        "text": {key: _clean(doc.text)},
        "captured_at": at.isoformat(),
        "year": f"{at.year:04d}",
        "month": f"{at.year:04d}-{at.month:02d}",
        "status": int(doc.status),
        "removed": bool(doc.removed),
        "outcome": doc.outcome,
        "countries": list(doc.countries),
        "authorities": list(doc.authorities),
        "orders": list(doc.orders),
        "registers": list(doc.registers),
    }
    return body


def url_words(url: str) -> str:
    """The URL's words, split at every non-letter as tantivy does ("kloop.kg/news" is
    three words); split here, as the ICU (and standard) tokenizer keeps "kloop.kg" whole."""
    return "".join(ch if ch.isalnum() or unicodedata.category(ch).startswith("M") else " " for ch in unquote(url))


def original(src: dict[str, Any], name: str) -> str:
    """A document's title or text, from the sub-field of its language."""
    return next(iter((src.get(name) or {}).values()), "")


def utc(value: datetime, what: str) -> datetime:
    """The datetime in UTC; naive ones are refused rather than guessed."""
    if value.tzinfo is None:
        msg = f"{what} must be timezone-aware, got {value!r}"
        raise ValueError(msg)
    return value.astimezone(UTC)


def _clean(value: str) -> str:
    # Our snippet markers out; lone surrogates would make the JSON body unencodable.
    value = value.replace(MARK_OPEN, " ").replace(MARK_CLOSE, " ")
    return value.encode("utf-8", errors="replace").decode("utf-8") if _has_surrogates(value) else value


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
