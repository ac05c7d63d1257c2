"""`python -m archive token create|list|revoke`: API tokens from the command line.

``add_parser`` adds the subcommands and sets ``run`` as what they call.
"""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing

from archive import catalog
from archive.settings import Settings
from archive.staff.tokens import TokenError, create_token, list_tokens, revoke_token


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``token`` subcommand group."""
    p = sub.add_parser("token", help="API tokens (bulk submission, higher rate limit)")
    p.set_defaults(run=run)
    group = p.add_subparsers(dest="token_command", required=True)
    c = group.add_parser("create", help="make a token and print it once (only its SHA-256 is kept)")
    c.add_argument("name", help="who or what uses it, e.g. newsroom-bot")
    ls = group.add_parser("list", help="list tokens (never their secrets)")
    ls.add_argument("--json", action="store_true", help="print one JSON object per line")
    r = group.add_parser("revoke", help="revoke a token; requests with it get 401")
    r.add_argument("id", type=int, help="the token's id (see token list)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    with closing(catalog.connect(settings.catalog_location)) as db:
        try:
            if args.token_command == "create":
                token, secret = create_token(db, args.name)
                print(f"token {token.id} ({token.name}): {secret}")
                print("Keep it now: it is not stored and cannot be shown again.", file=sys.stderr)
            elif args.token_command == "list":
                for token in list_tokens(db):
                    if args.json:
                        print(json.dumps({"id": token.id, "name": token.name, "created_at": token.created_at,
                                          "revoked_at": token.revoked_at}, ensure_ascii=False))
                    else:
                        state = f"revoked {token.revoked_at}" if token.revoked_at else "active"
                        print(f"{token.id}\t{token.name}\tcreated {token.created_at}\t{state}")
            else:
                token = revoke_token(db, args.id)
                print(f"token {token.id} ({token.name}) revoked at {token.revoked_at}")
        except TokenError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0
