"""Opening a search engine by name: the one module that knows both implementations.

The engines import the interface (``search.backend``); only this module imports the engines, each
when it is asked for, so neither needs the other's library installed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from search.backend import BACKENDS, SearchBackend


def open_search(settings: Any) -> SearchBackend:
    """The search backend the settings name (SEARCH_BACKEND), opened."""
    return open_backend(settings.search_backend, settings.index_dir, settings)


def open_backend(name: str, index_dir: Path, settings: Any = None) -> SearchBackend:
    """Open (creating if needed) the named backend's index: tantivy's at
    `index_dir`; Elasticsearch's at ELASTICSEARCH_URL and _INDEX from `settings`
    (any object with those attributes, such as archive.settings.Settings)."""
    if name == "tantivy":
        # Imported here so that other backends do not need tantivy installed.
        from search.tantivy_backend import TantivyBackend

        return TantivyBackend(index_dir)
    if name == "elasticsearch":
        from search.elasticsearch_backend import ElasticsearchBackend

        if settings is None:
            raise ValueError("the elasticsearch backend needs the settings that name its server "
                             "(ELASTICSEARCH_URL, ELASTICSEARCH_INDEX, credentials)")
        return ElasticsearchBackend.from_settings(settings)
    choices = ", ".join(BACKENDS)
    msg = f"unknown search backend {name!r}; choose one of: {choices}"
    raise ValueError(msg)
