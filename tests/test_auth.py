"""Staff accounts, sign-in over real HTTP, session cookies, CSRF tokens, and `user add`."""
from __future__ import annotations

import stat
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from archive import catalog
from archive.capturing import jobs
from archive.keys import secret_key
from archive.settings import Settings
from archive.staff import audit
from archive.staff.users import UserError, authenticate, create_user, get_user
from archive.web import create_app

from .conftest import run_cli
from .webapp import LiveServer, csrf_token, make_settings

PASSWORD = "correct horse battery staple"


def login(server: LiveServer, username: str = "editor", password: str = PASSWORD, **extra: str):
    return server.post_form("/login", {"username": username, "password": password, **extra})


@pytest.fixture
def editor(archive_builder) -> int:
    return create_user(archive_builder.db, "editor", PASSWORD)


def test_passwords_are_hashed_and_checked(archive_builder):
    db = archive_builder.db
    user_id = create_user(db, "editor", PASSWORD)
    stored = db.execute("SELECT password_hash FROM users WHERE id = ?", (user_id,)).fetchone()[0]
    assert PASSWORD not in stored and stored.split(":")[0] in ("scrypt", "pbkdf2")
    assert authenticate(db, "editor", PASSWORD) == get_user(db, user_id)
    assert "password_hash" not in get_user(db, user_id)
    assert authenticate(db, "editor", PASSWORD + "!") is None
    assert authenticate(db, "nobody", PASSWORD) is None
    assert authenticate(db, "editor", "") is None


@pytest.mark.parametrize("name, password, role, words", [
    ("editor", PASSWORD, "staff", "already a user named 'editor'"),
    ("new one", PASSWORD, "staff", "not valid"),
    ("", PASSWORD, "staff", "not valid"),
    ("short", "2short", "staff", "at least 10 characters"),
    ("boss", PASSWORD, "owner", "not one of staff, admin"),
])
def test_bad_accounts_are_refused(archive_builder, name, password, role, words):
    create_user(archive_builder.db, "editor", PASSWORD)
    with pytest.raises(UserError, match=words):
        create_user(archive_builder.db, name, password, role)
    assert archive_builder.db.execute("SELECT count(*) FROM users").fetchone()[0] == 1


def test_user_add_cli(env):
    added = run_cli(env, "user", "add", "editor", "--password-stdin", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "editor (staff)" in added.stdout
    again = run_cli(env, "user", "add", "editor", "--password-stdin", input="another long password\n")
    assert again.returncode == 2 and "already a user named 'editor'" in again.stderr
    weak = run_cli(env, "user", "add", "admin2", "--password-stdin", "--role", "admin", input="short\n")
    assert weak.returncode == 2 and "at least 10 characters" in weak.stderr
    db = catalog.connect(Settings.from_env(env).catalog_path)
    assert authenticate(db, "editor", PASSWORD)["role"] == "staff"
    assert authenticate(db, "editor", "another long password") is None
    assert [r[0] for r in db.execute("SELECT username FROM users")] == ["editor"]


def test_secret_key_is_made_once_and_kept_private(tmp_path):
    settings = make_settings(tmp_path / "home")
    key = secret_key(settings)
    path = tmp_path / "home" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32 and secret_key(settings) == key
    assert create_app(settings).secret_key == key
    path.chmod(0o644)
    assert secret_key(settings) == key and stat.S_IMODE(path.stat().st_mode) == 0o600
    given = make_settings(tmp_path / "other", secret_key="k" * 40)
    assert create_app(given).secret_key == "k" * 40
    assert not (tmp_path / "other" / "secret_key").exists()


def test_login_sets_a_safe_session_cookie_and_logout_ends_it(web_server, editor, archive_builder):
    anonymous = web_server.get("/takedowns/new")
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"] == "/login?next=/takedowns/new"
    r = login(web_server, next="/takedowns/new")
    assert r.status_code == 303 and r.headers["Location"] == "/takedowns/new"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    page = web_server.get("/takedowns/new")
    assert page.status_code == 200
    assert "Signed in as editor" in page.text
    out = web_server.post("/logout", data={"csrf_token": csrf_token(page.text)})
    assert out.status_code == 303
    assert web_server.get("/takedowns/new").status_code == 303
    actions = [e["action"] for e in audit.list_entries(archive_builder.db)]
    assert actions == ["logout", "login"]


def test_wrong_password_is_rejected(web_server, editor, archive_builder):
    for name, password in (("editor", "not the password"), ("nobody", PASSWORD)):
        r = login(web_server, name, password)
        assert r.status_code == 400
        doc = lxml.html.fromstring(r.text)
        assert doc.get_element_by_id("login-error").text_content() == "Wrong user name or password."
        assert doc.get_element_by_id("username").get("value") == name
        assert web_server.get("/takedowns/new").status_code == 303
    failed = audit.list_entries(archive_builder.db)
    assert [(e["action"], e["target"], e["user_id"]) for e in failed] == [
        ("login.failed", "user:nobody", None), ("login.failed", "user:editor", None)]


def test_login_never_redirects_off_site(web_server, editor):
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        web_server.http.cookies.clear()
        r = login(web_server, next=target)
        assert r.status_code == 303 and r.headers["Location"] == "/takedowns", target


def test_session_cookie_is_secure_over_https(web_settings, archive_builder):
    create_user(archive_builder.db, "editor", PASSWORD)
    client = create_app(web_settings).test_client()
    page = client.get("/login", base_url="https://archive.example").get_data(as_text=True)
    r = client.post("/login", base_url="https://archive.example",
                    data={"username": "editor", "password": PASSWORD, "csrf_token": csrf_token(page)})
    assert r.status_code == 303  # no Referer is needed (our Referrer-Policy sends none)
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_form_post_without_token_is_refused_and_stores_nothing(web_server, archive_builder, editor):
    for data in ({"url": "https://kloop.kg/article"}, {"url": "https://kloop.kg/article", "csrf_token": "forged"}):
        r = web_server.post("/submit", data=data)
        assert r.status_code == 400
        assert "nothing was changed" in lxml.html.fromstring(r.text).text_content()
    assert sum(jobs.counts(archive_builder.db).values()) == 0
    # Nor can a forged sign-in plant a session.
    r = web_server.post("/login", data={"username": "editor", "password": PASSWORD})
    assert r.status_code == 400 and "Set-Cookie" not in r.headers
    assert audit.list_entries(archive_builder.db) == []


def test_a_token_from_another_session_is_refused(web_server, archive_builder):
    token = csrf_token(web_server.get("/submit").text)
    web_server.http.cookies.clear()  # another browser: same token, no matching session
    r = web_server.post("/submit", data={"url": "https://kloop.kg/article", "csrf_token": token})
    assert r.status_code == 400
    assert sum(jobs.counts(archive_builder.db).values()) == 0


def test_json_api_needs_no_token_and_ignores_the_session(web_server, archive_builder, editor):
    login(web_server)
    r = web_server.post("/api/captures", json={"url": "https://kloop.kg/article"})
    assert r.status_code == 202
    # Takedown orders cannot be written through the API, signed in or not.
    assert web_server.post("/api/takedowns", json={"authority": "x"}).status_code == 405
    assert archive_builder.db.execute("SELECT count(*) FROM takedowns").fetchone()[0] == 0


def test_every_post_form_carries_a_token(web_server, editor, archive_builder):
    login(web_server)
    from archive.orders.takedowns import create_takedown

    takedown_id = create_takedown(archive_builder.db, web_server.settings, {
        "authority": "Ministry", "recipient": "Kloop", "country": "KG", "action_demanded": "remove",
        "urls": ["https://kloop.kg/a"]}, None, editor)
    for path in ("/submit", "/login", "/takedowns/new", f"/takedowns/{takedown_id}",
                 f"/takedowns/{takedown_id}/edit", "/watches"):
        doc = lxml.html.fromstring(web_server.get(path).text)
        forms = doc.xpath("//form[translate(@method, 'POST', 'post') = 'post']")
        assert forms, path
        for form in forms:
            assert form.xpath(".//input[@type='hidden'][@name='csrf_token']/@value"), (path, form.get("action"))


def test_next_survives_the_login_form(web_server, editor):
    r = web_server.get("/takedowns/new?x=1")
    target = parse_qs(urlsplit(r.headers["Location"]).query)["next"][0]
    assert target == "/takedowns/new?x=1"
    form = lxml.html.fromstring(web_server.get(r.headers["Location"]).text)
    assert form.xpath("//input[@name='next']/@value") == [target]
