"""Submission rate limits over real HTTP: per address without a token, per token with one,
429 with Retry-After (JSON on the API, a page on the form), and the session cookie lifts nothing."""
from __future__ import annotations

from collections.abc import Iterator

import lxml.html
import pytest

from archive.capturing import jobs
from archive.settings import SettingError
from archive.staff.tokens import create_token
from archive.staff.users import create_user
from archive.web import create_app

from .webapp import ArchiveBuilder, LiveServer, make_settings

URL = "https://kloop.kg/article"


@pytest.fixture
def limited(tmp_path) -> Iterator[tuple[LiveServer, ArchiveBuilder]]:
    settings = make_settings(tmp_path / "home", rate_limit_anonymous="3/minute", rate_limit_token="5/hour")
    builder = ArchiveBuilder(settings)
    with LiveServer(settings) as server:
        yield server, builder
    builder.close()


def queued(builder: ArchiveBuilder) -> int:
    return sum(jobs.counts(builder.db).values())


def assert_retry_after(r) -> int:
    assert r.status_code == 429, r.text
    seconds = int(r.headers["Retry-After"])
    assert 0 < seconds <= 60  # a per-minute window
    return seconds


def test_anonymous_api_submissions_are_limited_per_address(limited):
    server, builder = limited
    for _ in range(3):
        assert server.post("/api/captures", json={"url": URL}).status_code == 202
    r = server.post("/api/captures", json={"url": URL})
    assert_retry_after(r)
    assert r.headers["Content-Type"] == "application/json"
    assert "Too many capture submissions from your address" in r.json()["error"]
    assert "3 per 1 minute" in r.json()["error"]
    assert queued(builder) == 3
    # The form shares the limit: the same address is refused there too, with a page.
    page = server.post_form("/submit", data={"url": URL})
    assert_retry_after(page)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Too many capture submissions" in lxml.html.fromstring(page.text).text_content()
    assert queued(builder) == 3
    # Reading is never limited.
    for _ in range(5):
        assert server.get("/submit").status_code == 200
        assert server.get("/api/jobs/1").status_code == 200


def test_form_posts_are_limited_with_a_page(limited):
    server, builder = limited
    for _ in range(3):
        assert server.post_form("/submit", data={"url": URL}).status_code == 303
    r = server.post_form("/submit", data={"url": URL})
    assert_retry_after(r)
    doc = lxml.html.fromstring(r.text)
    assert "Try again in" in doc.text_content() and not doc.xpath("//script")
    assert queued(builder) == 3


def test_token_holders_have_their_own_limit(limited):
    server, builder = limited
    _, secret = create_token(builder.db, "bot")
    _, other = create_token(builder.db, "other bot")
    for _ in range(3):
        server.post("/api/captures", json={"url": URL})
    assert server.post("/api/captures", json={"url": URL}).status_code == 429  # this address is done
    auth = {"Authorization": f"Bearer {secret}"}
    for _ in range(5):
        assert server.post("/api/captures", json={"url": URL}, headers=auth).status_code == 202
    r = server.post("/api/captures", json={"url": URL}, headers=auth)
    assert r.status_code == 429 and "from this API token" in r.json()["error"]
    assert int(r.headers["Retry-After"]) > 60  # 5 per hour
    # A bulk request counts once against the same token limit.
    assert server.post("/api/captures/bulk", json={"urls": [URL]}, headers=auth).status_code == 429
    # Another token is counted apart.
    assert server.post("/api/captures/bulk", json={"urls": [URL, URL + "2"]},
                       headers={"Authorization": f"Bearer {other}"}).status_code == 207
    assert queued(builder) == 3 + 5 + 2


def test_a_signed_in_session_does_not_lift_the_api_limit(limited):
    server, builder = limited
    create_user(builder.db, "editor", "correct horse battery staple")
    r = server.post_form("/login", {"username": "editor", "password": "correct horse battery staple"})
    assert r.status_code in (302, 303)
    assert server.http.cookies  # signed in
    codes = [server.post("/api/captures", json={"url": URL}).status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]


def test_a_bad_limit_setting_is_named(tmp_path):
    with pytest.raises(SettingError, match="RATE_LIMIT_TOKEN='lots' is not a rate limit"):
        create_app(make_settings(tmp_path / "home", rate_limit_token="lots"))
