"""Web servers that share nothing local: two `serve` processes behind one address.

Each has its own ARCHIVE_HOME (its own catalog, no shared folder); what they share is what a
deployment shares: SECRET_KEY, and the rate-limit counters in a real Redis (RATE_LIMIT_STORAGE).
A session cookie and a form token one server hands out are accepted by the other, over real HTTP.
"""
from __future__ import annotations

import os
import secrets
from types import SimpleNamespace

import pytest
import redis
import requests

from archive.settings import SettingError, check_shared_deployment

from .conftest import ROOT, free_port, run_cli
from .waiting import Served
from .webapp import csrf_token

PASSWORD = "correct horse battery staple"
URL = "https://kloop.kg/article"


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory, redis_url):
    secret = secrets.token_urlsafe(32)
    envs = []
    for name in ("a", "b"):
        env = dict(os.environ, ARCHIVE_HOME=str(tmp_path_factory.mktemp(f"server-{name}") / "home"),
                   SECRET_KEY=secret, RATE_LIMIT_STORAGE=redis_url, RATE_LIMIT_ANONYMOUS="4/minute",
                   REPLAY_PORT=str(free_port()), PYTHONPATH=str(ROOT))
        added = run_cli(env, "user", "add", "editor", "--password-stdin", input=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
        envs.append(env)
    with Served(envs[0], "--no-worker") as a, Served(envs[1], "--no-worker") as b:
        yield a, b


def test_two_servers_count_submissions_against_one_limit_in_redis(two_servers, redis_url):
    a, b = two_servers
    counters = redis.Redis.from_url(redis_url)
    counters.flushdb()

    def submit(server: Served) -> int:
        return requests.post(server.base + "/api/captures", json={"url": URL}, timeout=30).status_code

    assert [submit(a), submit(b), submit(a), submit(b)] == [202] * 4  # 4/minute, spread over both
    assert submit(b) == 429 and submit(a) == 429  # each alone has seen only two
    assert any(b"capture-submissions" in key for key in counters.keys("*")), counters.keys("*")


def test_a_session_and_form_token_from_one_server_are_taken_by_the_other(two_servers):
    a, b = two_servers
    with requests.Session() as browser:  # one cookie jar for 127.0.0.1: a load balancer's view
        token = csrf_token(browser.get(a.base + "/login", timeout=30).text)
        signed_in = browser.post(b.base + "/login", data={"username": "editor", "password": PASSWORD,
                                                          "csrf_token": token}, allow_redirects=False, timeout=30)
        assert signed_in.status_code == 303, signed_in.text  # a's form token, accepted by b
        for server in (a, b):  # b's session cookie is a session on a too
            page = browser.get(server.base + "/takedowns/new", allow_redirects=False, timeout=30)
            assert page.status_code == 200 and "Signed in as editor" in page.text
        forged = browser.post(a.base + "/logout", data={"csrf_token": token[:-2] + "xx"}, allow_redirects=False,
                              timeout=30)
        assert forged.status_code == 400  # the token is checked there, not waved through
        token = csrf_token(browser.get(b.base + "/takedowns/new", timeout=30).text)
        out = browser.post(a.base + "/logout", data={"csrf_token": token}, allow_redirects=False, timeout=30)
        assert out.status_code == 303
        assert browser.get(a.base + "/takedowns/new", allow_redirects=False, timeout=30).status_code == 303


def test_a_shared_catalog_refuses_an_embedded_index():
    with pytest.raises(SettingError, match="set SEARCH_BACKEND=elasticsearch"):
        check_shared_deployment(SimpleNamespace(database_url="postgresql://db.example/archive",
                                                search_backend="tantivy"))
    check_shared_deployment(SimpleNamespace(database_url="postgresql://db.example/archive",
                                            search_backend="elasticsearch"))
    check_shared_deployment(SimpleNamespace(database_url="", search_backend="tantivy"))
    # A catalog only this machine can reach: every process sharing it shares this machine's index too.
    for local in ("postgresql://archive@127.0.0.1:5432/archive", "postgresql://localhost/archive",
                  "postgresql:///archive?host=/run/postgresql", "postgresql://[::1]/archive"):
        check_shared_deployment(SimpleNamespace(database_url=local, search_backend="tantivy"))


def test_serve_and_worker_with_a_shared_catalog_refuse_tantivy(tmp_path):
    env = dict(os.environ, ARCHIVE_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT), SEARCH_BACKEND="tantivy",
               DATABASE_URL="postgresql://archive@db.example.invalid:5432/archive")
    for command in (["serve", "--port", str(free_port())], ["worker", "--once"]):
        proc = run_cli(env, *command)
        assert proc.returncode == 2, proc.stderr
        assert "SEARCH_BACKEND=tantivy" in proc.stderr and "set SEARCH_BACKEND=elasticsearch" in proc.stderr
