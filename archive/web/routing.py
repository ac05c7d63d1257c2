"""URL converters of the app's routes."""
from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

# The largest id SQLite can store (a signed 64-bit integer).
SQLITE_MAX_INT = 2**63 - 1


class CatalogId(IntegerConverter):
    """``<int:...>`` bounded to SQLite's integers: a longer number is no route (404), not an
    OverflowError in the query behind it (500)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any):
        kwargs.setdefault("max", SQLITE_MAX_INT)
        super().__init__(url_map, *args, **kwargs)
