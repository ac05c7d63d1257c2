"""The search page: full-text search of archived text, or the newest captures."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

from search import QuerySyntaxError, SearchQuery

from .db import get_search
from .schemas import InvalidInput, SearchForm, load

bp = Blueprint("search", __name__)

PER_PAGE = 20
FORM_FIELDS = ("q", "domain", "from", "to", "removed")


def page_url(page: int) -> str:
    """This search's URL at ``page``, keeping the filled-in fields."""
    args = {k: request.args[k] for k in FORM_FIELDS if request.args.get(k, "").strip()}
    return url_for("search.index", **args, page=page) if page > 1 else url_for("search.index", **args)


@bp.get("/")
def index() -> tuple[str, int]:
    """Search captures by text, site and date; with nothing filled in, list the newest."""
    form = {k: request.args.get(k, "") for k in FORM_FIELDS}
    context: dict[str, Any] = {"form": form, "result": None, "error": None}
    try:
        args = load(SearchForm(), request.args)
        offset = (args["page"] - 1) * PER_PAGE
        result = get_search().search(SearchQuery(
            args["q"], domain=args["domain"], since=args["since"], until=args["until"],
            limit=PER_PAGE, offset=offset, removed_only=args["removed"]))
    except (InvalidInput, QuerySyntaxError) as exc:
        context["error"] = str(exc)
        return render_template("search.html", **context), 400
    context.update(
        result=result, searching=any(form.values()), first=offset + 1, last=offset + len(result.hits),
        prev_url=page_url(args["page"] - 1) if args["page"] > 1 else None,
        next_url=page_url(args["page"] + 1) if offset + PER_PAGE < result.total else None)
    return render_template("search.html", **context), 200
