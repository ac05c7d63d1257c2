"""API tokens: made once, shown once, kept only as their SHA-256.

A token is ``secrets.token_urlsafe(32)`` (256 random bits), so a plain SHA-256 is enough to
keep it: nothing to brute-force, and a lookup by hash is one index probe. A revoked token
stays in the table (with ``revoked_at``) so the API can say it was revoked.
"""
from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass

from archive.catalog import utcnow

NAME_MAX = 100


class TokenError(ValueError):
    """A token request that cannot be carried out; the message says why and what to do."""


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    created_at: str
    user_id: int | None
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _token(row: sqlite3.Row) -> ApiToken:
    return ApiToken(row["id"], row["name"], row["created_at"], row["user_id"], row["revoked_at"])


def create_token(db: sqlite3.Connection, name: str, user_id: int | None = None) -> tuple[ApiToken, str]:
    """Make a token named ``name``; return it and its secret, which is not kept anywhere."""
    name = (name or "").strip()
    if not name:
        raise TokenError("a token needs a name saying who or what uses it, e.g. `token create newsroom-bot`")
    if len(name) > NAME_MAX:
        raise TokenError(f"the token name is {len(name)} characters long; use at most {NAME_MAX}")
    secret = secrets.token_urlsafe(32)
    row = db.execute("INSERT INTO api_tokens (token_hash, name, created_at, user_id) VALUES (?, ?, ?, ?)"
                     " RETURNING *", (hash_token(secret), name, utcnow(), user_id)).fetchone()
    return _token(row), secret


def find_token(db: sqlite3.Connection, secret: str) -> ApiToken | None:
    """The token whose secret is ``secret`` (revoked or not), or None."""
    row = db.execute("SELECT * FROM api_tokens WHERE token_hash = ?", (hash_token(secret),)).fetchone()
    return _token(row) if row else None


def list_tokens(db: sqlite3.Connection) -> list[ApiToken]:
    return [_token(r) for r in db.execute("SELECT * FROM api_tokens ORDER BY id")]


def revoke_token(db: sqlite3.Connection, token_id: int) -> ApiToken:
    """Revoke token ``token_id`` (again is harmless); TokenError if there is none."""
    db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (utcnow(), token_id))
    row = db.execute("SELECT * FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
    if row is None:
        raise TokenError(f"there is no API token {token_id}; `token list` shows them")
    return _token(row)


__all__ = ["ApiToken", "TokenError", "create_token", "find_token", "hash_token", "list_tokens", "revoke_token"]
