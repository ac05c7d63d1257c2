"""`python -m archive search QUERY`: the search index from the command line."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from archive.settings import Settings


def _date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``search`` subcommand."""
    q = sub.add_parser("search", help="search archived text")
    q.add_argument("query")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument("--domain")
    q.add_argument("--since", type=_date)
    q.add_argument("--until", type=_date)
    q.add_argument("--limit", type=int, default=10)
    q.add_argument("--removed", action="store_true", help="only text that has since been removed")
    q.add_argument("--sort", choices=("relevance", "newest", "oldest"), default="relevance")
    q.add_argument("--outcome", help="only captures with this outcome (ok, blockpage, legal, ...)")
    q.add_argument("--country", help="only captures tied to this ISO country (vantage or published order)")
    q.add_argument("--author", help="only posts and videos by this author (as the page or yt-dlp named them)")
    q.add_argument("--lang", help="only pages in this language (ISO 639-1, e.g. ky)")
    q.add_argument("--group", action="store_true", help="one result per URL, with its number of captures")
    q.set_defaults(run=search)


def search(settings: Settings, args) -> int:
    from archive.lookup.present import search_json
    from search import QuerySyntaxError, SearchQuery, open_backend

    backend = open_backend(settings.search_backend, settings.index_dir, settings)
    try:
        result = backend.search(SearchQuery(args.query, domain=args.domain, since=args.since,
                                            until=args.until, limit=args.limit, removed_only=args.removed,
                                            sort=args.sort, outcome=args.outcome, country=args.country,
                                            lang=args.lang, author=args.author, group_by_url=args.group))
    except QuerySyntaxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = search_json(result)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"{out['total']} result(s)")
        for hit in out["hits"]:
            group = f"  ({hit['group_count']} captures)" if args.group else ""
            print(f"[{hit['id']}] {hit['title']}\n    {hit['url']}  {hit['captured_at']}  {hit['outcome'] or ''}"
                  + group)
    return 0
