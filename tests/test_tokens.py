"""API tokens: `token create|list|revoke` as a user runs them, only hashes stored, bearer auth over HTTP."""
from __future__ import annotations

import hashlib
import re

import pytest

from archive import catalog
from archive.staff.tokens import TokenError, create_token, find_token, list_tokens, revoke_token

from .conftest import run_cli

URL = "https://kloop.kg/article"


def test_token_cli_prints_the_token_once_and_keeps_only_its_hash(env, settings):
    made = run_cli(env, "token", "create", "newsroom bot")
    assert made.returncode == 0, made.stderr
    match = re.fullmatch(r"token (\d+) \(newsroom bot\): (\S+)\n", made.stdout)
    assert match, made.stdout
    token_id, secret = int(match[1]), match[2]
    assert len(secret) >= 43  # secrets.token_urlsafe(32)
    assert "not stored" in made.stderr
    db = catalog.connect(settings.catalog_path)
    stored = db.execute("SELECT token_hash, name, revoked_at FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
    assert tuple(stored) == (hashlib.sha256(secret.encode()).hexdigest(), "newsroom bot", None)
    db.close()
    # The secret is nowhere on disk, in the catalog or its write-ahead log.
    for path in settings.archive_home.rglob("catalog.sqlite3*"):
        assert secret.encode() not in path.read_bytes(), path

    listed = run_cli(env, "token", "list")
    assert listed.returncode == 0 and "newsroom bot" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout

    revoked = run_cli(env, "token", "revoke", str(token_id))
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "revoked" in run_cli(env, "token", "list").stdout

    missing = run_cli(env, "token", "revoke", "999")
    assert missing.returncode == 2 and "no API token 999" in missing.stderr
    unnamed = run_cli(env, "token", "create", "  ")
    assert unnamed.returncode == 2 and "needs a name" in unnamed.stderr
    assert len(list_tokens(catalog.connect(settings.catalog_path))) == 1


def test_tokens_module(archive_builder):
    db = archive_builder.db
    first, secret = create_token(db, "one")
    second, other = create_token(db, "two")
    assert secret != other and first.id != second.id
    assert find_token(db, secret) == first and find_token(db, "not a token") is None
    assert revoke_token(db, first.id).revoked_at is not None
    assert not find_token(db, secret).active and find_token(db, other).active
    with pytest.raises(TokenError, match="at most 100"):
        create_token(db, "x" * 101)


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_bearer_auth_on_the_api(web_server, archive_builder):
    db = archive_builder.db
    token, secret = create_token(db, "bot")
    ok = web_server.post("/api/captures", json={"url": URL}, headers=bearer(secret))
    assert ok.status_code == 202, ok.text
    assert db.execute("SELECT token_id FROM jobs WHERE id = ?", (ok.json()["job_id"],)).fetchone()[0] == token.id
    anonymous = web_server.post("/api/captures", json={"url": URL})
    assert anonymous.status_code == 202
    assert db.execute("SELECT token_id FROM jobs WHERE id = ?", (anonymous.json()["job_id"],)).fetchone()[0] is None

    revoke_token(db, token.id)
    for headers, words in ((bearer(secret), "was revoked"), (bearer("made-up"), "not known"),
                           ({"Authorization": "Basic Ym90OnB3"}, "must be a bearer token"),
                           ({"Authorization": "Bearer "}, "must be a bearer token")):
        for method, path, kw in (("post", "/api/captures", {"json": {"url": URL}}),
                                 ("get", "/api/search?q=x", {})):
            r = getattr(web_server, method)(path, headers=headers, **kw)
            assert r.status_code == 401, (headers, path, r.text)
            assert r.headers["Content-Type"] == "application/json"
            assert words in r.json()["error"]
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 2  # nothing queued by the refused ones
    # Outside the API the header means nothing (pages never take tokens).
    assert web_server.get("/submit", headers=bearer("made-up")).status_code == 200
