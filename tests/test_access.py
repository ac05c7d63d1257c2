"""Access control over real HTTP (issue 23, points 1, 2 and 5): where a sign-in may send the browser,
sessions the server can end, `user disable|enable|reset-password`, throttled failed sign-ins with the
client's address in the audit log, ARCHIVE_HOME's file modes, and page numbers too large for SQLite."""
from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import pytest
import requests

from archive import catalog
from archive.staff import audit, throttle
from archive.staff.users import create_user
from archive.web import create_app

from .conftest import run_cli
from .webapp import ArchiveBuilder, LiveServer, csrf_token, make_settings

PASSWORD = "correct horse battery staple"


def login(server: LiveServer, username: str = "editor", password: str = PASSWORD, **extra: str):
    return server.post_form("/login", {"username": username, "password": password, **extra})


@pytest.fixture
def editor(archive_builder) -> int:
    return create_user(archive_builder.db, "editor", PASSWORD)


# 1. Where a sign-in may send the browser.

@pytest.mark.parametrize("target", [
    "/\t/evil.example/phish",  # browsers drop the tab: //evil.example/phish
    "/\n/x", "/\r/x",  # were a 500: a newline in the Location header
    "\t//evil.example/", " //evil.example/", "/\\evil.example/", "\\\\evil.example/",
    "/\t\\evil.example/", "https:/\\evil.example/", "java\tscript:alert(1)",
])
def test_login_never_redirects_off_site_after_browser_normalisation(web_server, editor, target):
    r = login(web_server, next=target)
    assert r.status_code == 303, (target, r.status_code)
    assert r.headers["Location"] == "/takedowns", target


def test_login_still_returns_to_a_path_on_this_site(web_server, editor):
    r = login(web_server, next="/staff/audit?page=1")
    assert r.status_code == 303 and r.headers["Location"] == "/staff/audit?page=1"


def test_a_browser_sent_to_login_with_a_crafted_next_stays_on_this_site(chromium, web_server, editor):
    """The reported attack, in a real browser: a link to our login page that would send the signed-in
    visitor on to a phishing page."""
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{web_server.url}/login?next=/%09/evil.example/phish")
        page.fill("#username", "editor")
        page.fill("#password", PASSWORD)
        with page.expect_navigation(timeout=30_000):  # the post, then where its 303 sends the browser
            page.click("form.stack button[type=submit]")
        assert page.url == f"{web_server.url}/takedowns", page.url
    finally:
        context.close()


# 2. Sessions the server can end.

def copied_browser(server: LiveServer) -> requests.Session:
    """Another client holding a copy of ``server``'s session cookie (a stolen or forgotten one)."""
    other = requests.Session()
    other.cookies.update(server.http.cookies)
    return other


def test_logout_ends_a_copied_session_cookie(web_server, editor):
    assert login(web_server).status_code == 303
    copy = copied_browser(web_server)
    assert copy.get(f"{web_server.url}/staff/audit", allow_redirects=False, timeout=30).status_code == 200
    page = web_server.get("/staff/audit")
    assert web_server.post("/logout", data={"csrf_token": csrf_token(page.text)}).status_code == 303
    r = copy.get(f"{web_server.url}/staff/audit", allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["Location"].startswith("/login?next=")


def test_disable_enable_and_reset_password_from_the_command_line(web_server, editor, env, archive_builder):
    assert login(web_server).status_code == 303
    copy = copied_browser(web_server)

    disabled = run_cli(env, "user", "disable", "editor")
    assert disabled.returncode == 0 and "editor: disabled" in disabled.stdout, disabled.stderr
    for client in (web_server.http, copy):  # both holders of the session are out at their next request
        assert client.get(f"{web_server.url}/staff/audit", allow_redirects=False, timeout=30).status_code == 303
    r = login(web_server)
    assert r.status_code == 400 and "Wrong user name or password." in r.text

    enabled = run_cli(env, "user", "enable", "editor")
    assert enabled.returncode == 0 and "editor: enabled" in enabled.stdout, enabled.stderr
    assert login(web_server).status_code == 303
    copy = copied_browser(web_server)

    new_password = "a different long passphrase"
    reset = run_cli(env, "user", "reset-password", "editor", "--password-stdin", input=new_password + "\n")
    assert reset.returncode == 0 and "password changed" in reset.stdout, reset.stderr
    assert copy.get(f"{web_server.url}/staff/audit", allow_redirects=False, timeout=30).status_code == 303
    assert login(web_server).status_code == 400  # the old password no longer works
    assert login(web_server, password=new_password).status_code == 303
    actions = [e["action"] for e in audit.list_entries(archive_builder.db) if e["target"] == "user:editor"]
    assert {"user.disable", "user.enable", "user.reset_password"} <= set(actions)


@pytest.mark.parametrize("args, stdin, says", [
    (("disable", "nobody"), None, "there is no user named 'nobody'; users: editor"),
    (("enable", "nobody"), None, "there is no user named 'nobody'"),
    (("reset-password", "nobody", "--password-stdin"), PASSWORD + "\n", "there is no user named 'nobody'"),
    (("reset-password", "editor", "--password-stdin"), "short\n", "at least 10 characters"),
])
def test_user_commands_refuse_bad_input_and_change_nothing(env, editor, archive_builder, args, stdin, says):
    before = archive_builder.db.execute("SELECT * FROM users").fetchall()
    r = run_cli(env, "user", *args, input=stdin)
    assert r.returncode == 2 and says in r.stderr, (r.returncode, r.stderr)
    assert archive_builder.db.execute("SELECT * FROM users").fetchall() == before


def test_failed_logins_are_throttled_per_account(web_server, editor, archive_builder):
    create_user(archive_builder.db, "other", PASSWORD)
    limit = throttle.LIMITS["account"]
    for _ in range(limit):
        assert login(web_server, password="not the password").status_code == 400
    r = login(web_server)  # even the right password: it is not checked any more
    assert r.status_code == 429, r.status_code
    assert 0 < int(r.headers["Retry-After"]) <= throttle.WINDOW.total_seconds()
    says = lxml.html.fromstring(r.text).get_element_by_id("login-error").text_content()
    assert "Too many failed sign-ins" in says and f"try again in {r.headers['Retry-After']} s" in says
    assert web_server.get("/staff/audit").status_code == 303  # no session was started
    # Another account from the same address is not locked out by these.
    assert login(web_server, "other").status_code == 303


def test_failed_logins_are_throttled_per_address_across_servers(web_settings, archive_builder):
    """Two app processes on one catalog count the same failures (the state is in the catalog)."""
    create_user(archive_builder.db, "editor", PASSWORD)
    with LiveServer(web_settings) as first, LiveServer(web_settings) as second:
        limit = throttle.LIMITS["address"]
        for n in range(limit):
            server = first if n % 2 else second
            assert login(server, f"guess{n}", "not the password").status_code == 400
        for server in (first, second):
            r = login(server)  # a real account, the right password, but from this address
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_throttle_lifts_when_the_failures_leave_the_window(archive_builder):
    db = archive_builder.db
    for _ in range(throttle.LIMITS["account"]):
        assert throttle.retry_after(db, "editor", "192.0.2.7") is None
        throttle.record_failure(db, "editor", "192.0.2.7")
    wait = throttle.retry_after(db, "editor", "198.51.100.1")  # the account is locked from any address
    assert wait is not None and 0 < wait <= throttle.WINDOW.total_seconds()
    later = datetime.now(UTC) + throttle.WINDOW + timedelta(seconds=1)
    assert throttle.retry_after(db, "editor", "192.0.2.7", now=later) is None
    throttle.forget_account(db, "editor")  # a right password: the account's failures stop counting
    assert throttle.retry_after(db, "editor", "192.0.2.7") is None


def test_login_audit_entries_name_the_client_address(web_server, editor, archive_builder):
    assert login(web_server, password="not the password").status_code == 400
    assert login(web_server).status_code == 303
    entries = audit.list_entries(archive_builder.db)
    assert [(e["action"], e["detail"].get("address")) for e in entries] == [
        ("login", "127.0.0.1"), ("login.failed", "127.0.0.1")]


def test_archive_home_is_private(tmp_path: Path):
    old = os.umask(0o022)  # the common default, under which files were made readable by everyone
    try:
        settings = make_settings(tmp_path / "home")
        builder = ArchiveBuilder(settings)
        builder.add("https://kloop.kg/a", "A", ["Some text."])
        builder.close()
        create_app(settings)  # makes the session key
    finally:
        os.umask(old)

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    home = tmp_path / "home"
    dirs = [home, settings.warc_dir, settings.index_dir]
    files = [settings.catalog_path, home / "secret_key", *settings.warc_dir.iterdir()]
    files += [p for p in home.glob("catalog.sqlite3-*")]  # SQLite's -wal and -shm, while they exist
    assert len(files) >= 3
    assert {str(p): oct(mode(p)) for p in dirs} == {str(p): oct(0o700) for p in dirs}
    assert {str(p): oct(mode(p)) for p in files} == {str(p): oct(0o600) for p in files}

    # A catalog left readable by an older version is made private when the archive opens it.
    settings.catalog_path.chmod(0o644)
    catalog.connect(settings.catalog_path).close()
    assert mode(settings.catalog_path) == 0o600


# 5. Page numbers.

HUGE = "999999999999999999"


@pytest.mark.parametrize("path", ["/takedowns", "/watches", "/staff/audit"])
def test_page_numbers_out_of_range_are_a_clear_400(web_server, editor, path):
    assert login(web_server).status_code == 303
    for bad in (HUGE, "0", "-3", "two", "1e3"):
        r = web_server.get(f"{path}?page={bad}")
        assert r.status_code == 400, (path, bad, r.status_code)
        assert "page must be a number from 1 to 100000" in r.text, (path, bad)
    assert web_server.get(f"{path}?page=2").status_code == 200
    assert web_server.get(f"{path}?page=100000").status_code == 200


def test_watch_page_ignores_an_added_id_too_large_for_sqlite(web_server):
    assert web_server.get(f"/watches?added={HUGE}0").status_code == 200
