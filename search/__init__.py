"""Text extraction and full-text search over archived captures."""

from search.backend import (
    IndexDoc,
    QuerySyntaxError,
    SearchBackend,
    SearchHit,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
)
from search.engines import open_backend, open_search
from search.extract import Extracted, extract
from search.query import query_from_text

__all__ = [
    "Extracted",
    "IndexDoc",
    "QuerySyntaxError",
    "SearchBackend",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "SearchUnavailable",
    "extract",
    "open_backend",
    "open_search",
    "query_from_text",
]
