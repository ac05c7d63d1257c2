"""`python -m archive user add|disable|enable|reset-password`: staff accounts."""
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
    ud = u_sub.add_parser("disable", help="refuse the account's sign-ins and end its sessions")
    ud.add_argument("name")
    ue = u_sub.add_parser("enable", help="let a disabled account sign in again")
    ue.add_argument("name")
    ur = u_sub.add_parser("reset-password", help="set a new password (asks twice) and end the account's sessions")
    ur.add_argument("name")
    ur.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    u.set_defaults(run=user)


def _read_password(args) -> str | None:
    """The new password, from stdin or asked for twice; None (after saying why) if the two differ."""
    import getpass

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("The same password again: ") != password:
        print("error: the two passwords differ; nothing was saved", file=sys.stderr)
        return None
    return password


def user(settings: Settings, args) -> int:
    from archive import catalog
    from archive.staff.users import UserError, create_user, reset_password, set_disabled

    password = None
    if args.user_command in ("add", "reset-password"):
        password = _read_password(args)
        if password is None:
            return 2
    with closing(catalog.connect(settings.catalog_location)) as db:
        try:
            if args.user_command == "add":
                user_id = create_user(db, args.name, password, args.role)
                done = f"{args.name} ({args.role})"
            elif args.user_command == "reset-password":
                user_id = reset_password(db, args.name, password)
                done = f"{args.name}: password changed, sessions ended"
            else:
                user_id = set_disabled(db, args.name, args.user_command == "disable")
                done = (f"{args.name}: disabled, sessions ended" if args.user_command == "disable"
                        else f"{args.name}: enabled")
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"user {user_id}: {done}")
    return 0
