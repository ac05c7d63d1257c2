"""Staff accounts, API tokens, sign-in throttling, the audit log, moderation and removal events on
both catalog engines (part of the catalog conformance suite: each test runs on SQLite and PostgreSQL).

The web tests drive the same functions through the app on SQLite; these call them on the catalog,
so a query PostgreSQL reads differently fails here, next to the function that runs it.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from archive import catalog
from archive.catalog import to_iso
from archive.removals.events import update_events
from archive.staff import audit
from archive.staff.moderation import ModerationError, set_visibility
from archive.staff.throttle import forget_account, record_failure, retry_after
from archive.staff.tokens import TokenError, create_token, find_token, list_tokens, revoke_token
from archive.staff.users import UserError, authenticate, create_user, get_user, reset_password, set_disabled

PASSWORD = "correct horse battery"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(catalog_location):
    conn = catalog.connect(catalog_location)
    yield conn
    conn.close()


def test_accounts(db):
    user_id = create_user(db, "editor", PASSWORD)
    assert authenticate(db, "editor", PASSWORD) == get_user(db, user_id)
    assert authenticate(db, "editor", PASSWORD + "!") is None
    with pytest.raises(UserError, match="already a user named 'editor'"):
        create_user(db, "editor", PASSWORD)
    create_user(db, "second", PASSWORD, "admin")
    version = get_user(db, user_id)["session_version"]
    reset_password(db, "editor", PASSWORD + " again")
    assert get_user(db, user_id)["session_version"] == version + 1
    set_disabled(db, "editor", True)
    assert get_user(db, user_id)["disabled_at"] is not None
    assert [e["action"] for e in audit.list_entries(db)] == ["user.disable", "user.reset_password"]


def test_tokens(db):
    first, secret = create_token(db, "one")
    second, other = create_token(db, "two")
    assert find_token(db, secret) == first and find_token(db, "not a token") is None
    assert revoke_token(db, first.id).revoked_at is not None
    assert not find_token(db, secret).active and find_token(db, other).active
    assert [t.name for t in list_tokens(db)] == ["one", "two"]
    with pytest.raises(TokenError, match="at most 100"):
        create_token(db, "x" * 101)


def test_sign_in_throttle(db):
    assert retry_after(db, "editor", "192.0.2.1") is None
    for _ in range(10):
        record_failure(db, "editor", "192.0.2.1")
    assert retry_after(db, "editor", "192.0.2.9") >= 1  # the account is held back from any address
    forget_account(db, "editor")
    assert retry_after(db, "editor", "192.0.2.9") is None


def add(db, outcome: str, minutes: int, url: str = "https://kloop.kg/a") -> int:
    when = to_iso(T0 + timedelta(minutes=minutes))
    return catalog.add_capture(db, {"url": url, "final_url": url, "captured_at": when, "status": 200,
                                    "outcome": outcome}, [])


def test_removal_events_and_moderation(db):
    first = add(db, "ok", 0)
    assert update_events(db, first, lambda v: None) is None
    removed = add(db, "not_found", 10)
    opened = update_events(db, removed, lambda v: None)
    assert opened["scope"] == "source"
    event = db.execute("SELECT * FROM removal_events WHERE id = ?", (opened["opened"],)).fetchone()
    assert (event["before_capture_id"], event["after_capture_id"], event["closed_at"]) == (first, removed, None)
    restored = add(db, "ok", 20, url="http://kloop.kg/a")  # the other scheme is the same page
    assert update_events(db, restored, lambda v: None) == {"closed": opened["opened"]}

    staff = create_user(db, "editor", PASSWORD)
    hidden = set_visibility(db, None, first, "private", "privacy", staff)
    assert hidden["visibility"] == "private"
    assert not catalog.is_visible(catalog.get_capture(db, first))
    public = f"SELECT count(*) FROM removal_events e WHERE {catalog.event_visible_sql('e')}"
    everyone = f"SELECT count(*) FROM removal_events e WHERE {catalog.event_visible_sql('e', staff=True)}"
    assert (db.execute(public).fetchone()[0], db.execute(everyone).fetchone()[0]) == (0, 1)
    with pytest.raises(ModerationError):
        set_visibility(db, None, first, "gone", None, staff)
