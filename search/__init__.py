"""Text extraction and full-text search over archived captures."""

from search.backend import (
    IndexDoc,
    QuerySyntaxError,
    SearchBackend,
    SearchHit,
    SearchQuery,
    SearchResult,
    open_backend,
)
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
    "extract",
    "open_backend",
    "query_from_text",
]
