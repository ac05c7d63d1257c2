"""What the search page and ``/api/search`` both read: the query from loaded form or API arguments,
and the link to the next page. No views here."""
from __future__ import annotations

from typing import Any

from flask import request, url_for

from search import SearchQuery


def search_query(args: dict[str, Any], limit: int, offset: int, facets: bool = False) -> SearchQuery:
    """The SearchQuery for loaded SearchArgs / SearchForm values."""
    return SearchQuery(
        args["q"], domain=args["domain"], since=args["since"], until=args["until"], limit=limit, offset=offset,
        removed_only=args["removed"], outcome=args["outcome"], country=args["country"],
        authority=args["authority"], order=args["order"], register=args["register"], lang=args["lang"],
        year=args["year"], month=args["month"],
        sort=args["sort"], cursor=args["cursor"], facets=facets, group_by_url=args["group"])


def next_url(endpoint: str, cursor: str) -> str:
    """This request's URL at ``endpoint`` for the page after ``cursor`` (offset and page dropped)."""
    args = {k: v for k, v in request.args.items() if k not in ("cursor", "offset", "page") and v.strip()}
    return url_for(endpoint, **args, cursor=cursor)
