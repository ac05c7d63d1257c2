"""Staff accounts: creating them, checking their passwords, disabling them, ending their sessions.

Passwords are kept only as werkzeug's salted scrypt hashes. Checking a login
costs one hash whether or not the user exists, so response times do not tell
which user names are real. A session names its account's ``session_version``;
raising it (``end_sessions``: on logout, disabling, a password reset) ends every
session of that account at its next request, wherever its cookie was copied to.
"""
from __future__ import annotations

import re
import sqlite3
from functools import cache
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from archive.catalog import transaction, utcnow
from archive.staff import audit

ROLES = ("staff", "admin")
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class UserError(ValueError):
    """An account cannot be created as asked; the message says why and what to do."""


@cache
def _decoy_hash() -> str:
    # Checked against when the user does not exist, so that path costs a hash too.
    return generate_password_hash("decoy password that matches nothing")


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")


def create_user(db: sqlite3.Connection, username: str, password: str, role: str = "staff") -> int:
    """Add an account; return its id. Raises ``UserError`` for a bad name, weak password or taken name."""
    if not _USERNAME.fullmatch(username or ""):
        raise UserError(f"user name {username!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit")
    _check_password(password)
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    try:
        cur = db.execute("INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)"
                         " RETURNING id", (username, generate_password_hash(password), role, utcnow()))
    except sqlite3.IntegrityError:
        raise UserError(f"there is already a user named {username!r}; choose another name") from None
    return cur.fetchone()[0]


def _public(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    user = dict(row)
    user.pop("password_hash", None)  # never handed beyond this module
    return user


def authenticate(db: sqlite3.Connection, username: str, password: str) -> dict[str, Any] | None:
    """The user (without its hash) if ``password`` is theirs and the account is not disabled, else None."""
    row = db.execute("SELECT * FROM users WHERE username = ?", (username or "",)).fetchone()
    stored = row["password_hash"] if row is not None else _decoy_hash()
    ok = check_password_hash(stored, password or "")
    return _public(row) if ok and row is not None and row["disabled_at"] is None else None


def get_user(db: sqlite3.Connection, user_id: int) -> dict[str, Any] | None:
    """Account ``user_id`` (id, username, role, created_at, session_version, disabled_at), or None."""
    return _public(db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone())


def _named(db: sqlite3.Connection, username: str) -> sqlite3.Row:
    row = db.execute("SELECT id FROM users WHERE username = ?", (username or "",)).fetchone()
    if row is None:
        names = [r[0] for r in db.execute("SELECT username FROM users ORDER BY username LIMIT 20")]
        raise UserError(f"there is no user named {username!r}; users: {', '.join(names) or 'none yet'}")
    return row


def end_sessions(db: sqlite3.Connection, user_id: int) -> None:
    """End every session of account ``user_id`` (each is refused at its next request)."""
    db.execute("UPDATE users SET session_version = session_version + 1 WHERE id = ?", (user_id,))


def set_disabled(db: sqlite3.Connection, username: str, disabled: bool) -> int:
    """Disable (no sign-in, sessions ended) or enable account ``username``; return its id. UserError if none."""
    user_id = _named(db, username)["id"]
    with transaction(db):
        db.execute("UPDATE users SET disabled_at = ? WHERE id = ?", (utcnow() if disabled else None, user_id))
        if disabled:
            end_sessions(db, user_id)
        audit.record(db, None, "user.disable" if disabled else "user.enable", f"user:{username}")
    return user_id


def reset_password(db: sqlite3.Connection, username: str, password: str) -> int:
    """Give account ``username`` a new password and end its sessions; return its id. UserError if it cannot."""
    user_id = _named(db, username)["id"]
    _check_password(password)
    with transaction(db):
        db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (generate_password_hash(password), user_id))
        end_sessions(db, user_id)
        audit.record(db, None, "user.reset_password", f"user:{username}")
    return user_id
