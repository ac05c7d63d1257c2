"""The Elasticsearch index layout: the index template and documents in it.

Like the tantivy layout (search/tantivy_schema.py), each page's title and text
go into the sub-field of its language only: `text.ru` (russian analyzer),
`text.en` (english), `text.xx` (standard tokenizer, lower-cased: Kyrgyz and
every other language). A Russian stemmer would mangle Kyrgyz words, so the
text is not copied into every analyzer. Facet values are keyword fields.

ё is folded to е twice: by a char_filter in every analyzer (so a real
Elasticsearch is right whatever is sent to it) and by us before indexing and
querying (osmem-server, the test stand-in, skips char filters when indexing).
Indexed text is stored folded; the original is kept unindexed in `orig` only
when it differs, as the tantivy backend does.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from crawler.netpolicy import site_host
from search.backend import IndexDoc
from search.snippet import fold

if TYPE_CHECKING:
    from datetime import datetime

LANGS = ("ru", "en", "xx")  # sub-field per analysed language; "xx" is everything else
STEMMED = {"ru": "russian", "en": "english"}
TEMPLATE_PRIORITY = 200  # above Elasticsearch's built-in templates (100)
# Snippet markers: private-use characters, removed from indexed text so a page cannot forge them.
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"


def lang_key(lang: str) -> str:
    """The sub-field for a document language."""
    return lang if lang in STEMMED else "xx"


def analysis() -> dict[str, Any]:
    """Analyzers: ё→е folding, lower-casing, Snowball stemming for ru and en."""
    filters: dict[str, Any] = {}
    analyzers: dict[str, Any] = {
        "lang_xx": {"type": "custom", "tokenizer": "standard", "char_filter": ["fold_yo"], "filter": ["lowercase"]},
    }
    for key, language in STEMMED.items():
        filters[f"stem_{key}"] = {"type": "stemmer", "language": language}
        # No stop words: tantivy keeps them, and "to be or not to be" should stay findable.
        analyzers[f"lang_{key}"] = {
            "type": "custom",
            "tokenizer": "standard",
            "char_filter": ["fold_yo"],
            "filter": ["lowercase", f"stem_{key}"],
        }
    return {
        "char_filter": {"fold_yo": {"type": "mapping", "mappings": ["ё => е", "Ё => Е"]}},
        "filter": filters,
        "analyzer": analyzers,
    }


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
            "orig": {"type": "object", "enabled": False},  # originals, when ё-folding changed them
            "captured_at": {"type": "date"},
            "year": keyword,
            "month": keyword,
            "status": {"type": "integer"},
            "removed": {"type": "boolean"},
            "outcome": keyword,
            "countries": keyword,
            "authorities": keyword,
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
    title, text = _clean(doc.title), _clean(doc.text)
    at = utc(doc.captured_at, "captured_at")
    body: dict[str, Any] = {
        "id": doc.id,
        "url": doc.url,
        "url_words": url_words(doc.url),
        "domain": site_host(doc.domain),
        "lang": doc.lang,
        "title": {key: fold(title)},
        "text": {key: fold(text)},
        "captured_at": at.isoformat(),
        "year": f"{at.year:04d}",
        "month": f"{at.year:04d}-{at.month:02d}",
        "status": int(doc.status),
        "removed": bool(doc.removed),
        "outcome": doc.outcome,
        "countries": list(doc.countries),
        "authorities": list(doc.authorities),
    }
    orig = {name: value for name, value in (("title", title), ("text", text)) if fold(value) != value}
    if orig:
        body["orig"] = orig
    return body


def url_words(url: str) -> str:
    """The URL's words, split at every non-letter as tantivy does ("kloop.kg/news" is
    three words); split here, as the standard tokenizer keeps "kloop.kg" whole."""
    return "".join(ch if ch.isalnum() or unicodedata.category(ch).startswith("M") else " " for ch in fold(unquote(url)))


def original(src: dict[str, Any], name: str) -> str:
    """A document's title or text as written (not ё-folded)."""
    kept = (src.get("orig") or {}).get(name)
    if kept is not None:
        return kept
    return next(iter((src.get(name) or {}).values()), "")


def utc(value: datetime, what: str) -> datetime:
    """The datetime in UTC; naive ones are refused rather than guessed."""
    if value.tzinfo is None:
        msg = f"{what} must be timezone-aware, got {value!r}"
        raise ValueError(msg)
    return value.astimezone(UTC)


def _clean(value: str) -> str:
    # Same length, so offsets in the indexed text hold for the original; lone
    # surrogates would make the JSON body unencodable.
    value = value.replace(MARK_OPEN, " ").replace(MARK_CLOSE, " ")
    return value.encode("utf-8", errors="replace").decode("utf-8") if _has_surrogates(value) else value


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
