"""`python -m archive user add`: staff accounts."""
from __future__ import annotations

import argparse
import sys
from contextlib import closing

from archive.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``user`` subcommand."""
    u = sub.add_parser("user", help="staff accounts")
    u_sub = u.add_subparsers(dest="user_command", required=True)
    ua = u_sub.add_parser("add", help="add a staff account (asks for its password twice)")
    ua.add_argument("name")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    ua.add_argument("--role", default="staff", choices=("staff", "admin"))
    u.set_defaults(run=user)


def user(settings: Settings, args) -> int:
    import getpass

    from archive import catalog
    from archive.staff.users import UserError, create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("The same password again: ") != password:
            print("error: the two passwords differ; nothing was saved", file=sys.stderr)
            return 2
    with closing(catalog.connect(settings.catalog_path)) as db:
        try:
            user_id = create_user(db, args.name, password, args.role)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"user {user_id}: {args.name} ({args.role})")
    return 0
