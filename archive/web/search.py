"""The search page: full-text search of archived text, or the newest captures, with
filters, facet links, grouping by URL and cursor paging (no JavaScript)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from archive.web.db import get_search
from archive.web.schemas import InvalidInput, SearchForm, load
from archive.web.search_queries import next_url, search_query
from search import QuerySyntaxError

bp = Blueprint("search", __name__)

PER_PAGE = 20
# The first pages have numbers (shareable, with "Previous"); further ones go by cursor.
NUMBERED_PAGES = 5
FILTERS = ("outcome", "country", "authority", "order", "register", "lang", "year", "month")
FORM_FIELDS = ("q", "domain", "from", "to", "removed", "sort", "group", *FILTERS)
# Facet name -> the query argument that filters on it.
FACET_ARGS = {"domain": "domain", "outcome": "outcome", "country": "country", "authority": "authority",
              "lang": "lang", "year": "year", "month": "month"}
# Words on the page, translated when rendered (lazy: the reader's language is known only then).
FACET_TITLES = {"domain": _l("Site"), "outcome": _l("Outcome"), "country": _l("Country"),
                "authority": _l("Ordering authority"), "order": _l("Takedown order"), "register": _l("Register"),
                "lang": _l("Language"), "year": _l("Year"), "month": _l("Month")}
FACET_TOP = 5  # values a facet shows before its "more"
SORT_TITLES = {"relevance": _l("Best match"), "newest": _l("Newest first"), "oldest": _l("Oldest first")}


def link(**changes: Any) -> str:
    """The search page with the current fields, ``changes`` applied (None removes a field), from the first page."""
    args = {k: request.args[k] for k in FORM_FIELDS if request.args.get(k, "").strip()}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for("search.index", **args)


def page_url(page: int) -> str:
    """This search's URL at ``page``, keeping the filled-in fields."""
    return link(page=page) if page > 1 else link()


@bp.get("/")
def index() -> tuple[str, int]:
    """Search captures by text, site, date, outcome, country, authority and language; with nothing
    filled in, list the newest. Facet links narrow the search; "Next" follows a cursor."""
    form = {k: request.args.get(k, "") for k in FORM_FIELDS}
    context: dict[str, Any] = {"form": form, "result": None, "error": None, "sorts": SORT_TITLES,
                               "facet_titles": FACET_TITLES, "facet_args": FACET_ARGS, "link": link,
                               "facet_top": FACET_TOP}
    try:
        args = load(SearchForm(), request.args)
        offset = 0 if args["cursor"] else (args["page"] - 1) * PER_PAGE
        result = get_search().search(search_query(args, PER_PAGE, offset, facets=True))
    except (InvalidInput, QuerySyntaxError) as exc:
        context["error"] = str(exc)
        return render_template("search.html", **context), 400
    filters = {k: request.args[k] for k in ("domain", *FILTERS) if request.args.get(k, "").strip()}
    context.update(
        result=result, searching=any(v for k, v in form.items() if k != "sort"), filters=filters,
        first=offset + 1, last=offset + len(result.hits), paged_by_cursor=bool(args["cursor"]),
        prev_url=page_url(args["page"] - 1) if args["page"] > 1 and not args["cursor"] else None,
        first_url=link() if args["cursor"] else None,
        next_url=_next(args, result.next_cursor))
    return render_template("search.html", **context), 200


def _next(args: dict[str, Any], cursor: str | None) -> str | None:
    if cursor is None:
        return None
    if not args["cursor"] and args["page"] < NUMBERED_PAGES:
        return page_url(args["page"] + 1)
    return next_url("search.index", cursor)
