"""Crawl scope and trap bounds (crawler/scope.py): pure, no network, no browser."""
from __future__ import annotations

import re

import pytest

from crawler.scope import Scope, TrapGuard, url_pattern

from .outlet import Outlet

SEED = "http://kloop.kg/"


@pytest.mark.parametrize("kind, url, reason", [
    ("host", "http://kloop.kg/ky/2024/06/30/x/", None),
    ("host", "https://www.kloop.kg/ky/", None),  # www. and https: the same site
    ("host", "http://KLOOP.kg:80/", None),
    ("host", "http://ru.kloop.kg/news/", "other host"),
    ("host", "https://twitter.com/kloopnews", "other host"),
    ("host", "http://notkloop.kg/", "other host"),
    ("domain", "http://ru.kloop.kg/news/", None),
    ("domain", "http://a.b.kloop.kg/", None),
    ("domain", "http://notkloop.kg/", "other host"),
    ("domain", "http://kloop.kg.evil.example/", "other host"),
    ("host", "mailto:editor@kloop.kg", "not http(s)"),
    ("host", "javascript:alert(1)", "not http(s)"),
    ("host", "ftp://kloop.kg/file", "not http(s)"),
    ("page", "http://kloop.kg/", None),
    ("page", "http://kloop.kg/ky/", "not a seed page"),
    ("page", "http://kloop.kg/?page=2", "not a seed page"),
    ("page", "http://kloop.kg:8080/", "not a seed page"),
])
def test_scope_kinds(kind, url, reason):
    assert Scope(kind, (SEED,)).check(url) == reason


def test_prefix_is_the_seed_folder():
    scope = Scope("prefix", ("http://kloop.kg/ky/category/politics",))
    assert scope.check("http://kloop.kg/ky/category/economy") is None
    assert scope.check("http://kloop.kg/ky/category/politics?page=2") is None
    assert scope.check("http://kloop.kg/ky/2024/06/30/x/") == "outside prefix"
    assert scope.check("http://ru.kloop.kg/ky/category/x") == "other host"
    folder = Scope("prefix", ("http://kloop.kg/ky/",))
    assert folder.check("http://kloop.kg/ky/2024/06/30/x/") is None
    assert folder.check("http://kloop.kg/ru/2024/06/30/x/") == "outside prefix"


def test_several_seeds_report_the_closest_miss():
    scope = Scope("prefix", ("http://kloop.kg/ky/", "http://ru.kloop.kg/news/"))
    assert scope.check("http://ru.kloop.kg/news/1/") is None and scope.check("http://kloop.kg/ky/a") is None
    assert scope.check("http://kloop.kg/ru/a") == "outside prefix"
    assert scope.check("http://azattyk.org/") == "other host"


def test_include_and_exclude():
    scope = Scope("host", (SEED,), include=(r"/ky/",), exclude=(r"\?replytocom=", r"/tag/"))
    assert scope.check("http://kloop.kg/ky/2024/06/30/x/") is None
    assert scope.check("http://kloop.kg/ru/2024/06/30/x/") == "not included"
    assert scope.check("http://kloop.kg/ky/tag/osh/") == "excluded by /tag/"
    assert scope.check("http://kloop.kg/ky/x/?replytocom=5") == r"excluded by \?replytocom="
    assert scope.check("http://ru.kloop.kg/ky/") == "other host"  # include does not widen the scope


@pytest.mark.parametrize("args, message", [
    (("site", (SEED,)), "use one of page, prefix, host, domain"),
    (("host", ()), "at least one seed"),
    (("host", SEED), "at least one seed"),  # a bare string is not a tuple of seeds
    (("host", ("kloop.kg",)), r"not an http\(s\) URL"),
    (("host", (SEED,), ("(unclosed",)), "include regular expression '\\(unclosed'"),
    (("host", (SEED,), (), "/tag/"), "give a tuple of regular expressions"),
])
def test_bad_scopes_say_what_to_fix(args, message):
    with pytest.raises(ValueError, match=message):
        Scope(*args)


@pytest.mark.parametrize("url, pattern", [
    ("http://kloop.kg/calendar/2024/05", "/calendar/{n}/{n}"),
    ("http://kloop.kg/ky/category/politics?page=3", "/ky/category/politics?page"),
    ("https://www.azattyk.org/a/32900000.html", "/a/{id}.html"),
    ("http://x.kg/archive/20240512/", "/archive/{n}/"),  # a compact date is a calendar's
    ("http://x.kg/item/123e4567-e89b-12d3-a456-426614174000", "/item/{id}"),
    ("http://x.kg/p/9f86d081884c7d659a2feaa0c55ad015/", "/p/{id}/"),
    ("http://x.kg/s?tag=a&f=1&f=2", "/s?f&tag"),
])
def test_url_pattern(url, pattern):
    assert url_pattern(url) == pattern


def test_trap_guard_bounds_each_kind_and_counts_the_cuts():
    guard = TrapGuard(max_per_pattern=3)
    months = [f"http://kloop.kg/calendar/2024/{m:02d}" for m in range(1, 7)]
    assert [guard.check(u) for u in months] == [None] * 3 + ["pattern /calendar/{n}/{n} seen 3 times"] * 3
    assert guard.check("http://kloop.kg/ky;jsessionid=0A1B2C3D/x") == "session id in path"
    assert guard.check("http://x.kg/(S(lit3py55t21z5v55vlm25s55))/page.aspx") == "session id in path"
    assert guard.check("http://x.kg/about/team/team/") is None
    assert guard.check("http://x.kg/about/team/team/team/") == "repeated path segment"
    assert guard.check("http://x.kg/2011/11/11/11/x") is None  # numbers repeat in dates
    assert guard.check("http://x.kg/s?" + "&".join(["f=1"] * 12)) is None
    assert guard.check("http://x.kg/s?" + "&".join(["f=1"] * 13)) == "too many query parameters"
    assert guard.check("http://x.kg/" + "a" * 500) == "url longer than 500"
    for n in range(10):  # an id names one item each: not a trap
        assert guard.check(f"https://www.azattyk.org/a/{32900000 + n}.html") is None
    assert guard.cut() == {"pattern /calendar/{n}/{n} seen 3 times": 3, "session id in path": 2,
                           "repeated path segment": 1, "too many query parameters": 1,
                           "url longer than 500": 1}


def test_trap_guard_remembers_across_a_restart_and_limits_can_be_off():
    guard = TrapGuard(max_per_pattern=2)
    guard.remember("http://kloop.kg/calendar/2024/01")
    guard.remember("http://kloop.kg/calendar/2024/02")
    assert guard.check("http://kloop.kg/calendar/2024/03") == "pattern /calendar/{n}/{n} seen 2 times"
    free = TrapGuard(max_url_length=0, max_per_pattern=0, max_query_params=0, max_repeated_segment=0)
    assert all(free.check(f"http://x.kg/a/a/a/{n}?" + "f=1&" * 20 + "b" * 600) is None for n in range(100))
    with pytest.raises(ValueError, match="max_per_pattern=-1"):
        TrapGuard(max_per_pattern=-1)


def test_outlet_traps_are_cut_and_its_articles_are_not():
    """Walk the fixture outlet's links as a crawler would, without the network: every article of
    the host passes scope and guard, and the traps stop where `Outlet.in_scope_host` says."""
    outlet = Outlet()
    scope, guard = Scope("host", (outlet.url("/"),)), TrapGuard()
    for url in sorted(outlet.host_articles()):
        assert scope.check(url) is None and guard.check(url) is None, url
    walked = [outlet.url("/calendar/2024/05")]
    for step in range(1, 80):  # one direction of the endless calendar
        year, month = divmod(2024 * 12 + 4 + step, 12)
        walked.append(outlet.url(f"/calendar/{year}/{month + 1:02d}"))
    admitted = [u for u in walked if guard.check(u) is None]
    assert len(admitted) == 50 and all(outlet.in_scope_host(u) for u in admitted)
    assert not outlet.in_scope_host(walked[-1])
    query = "tag=politics"
    while guard.check(outlet.url(f"/ky/search?{query}")) is None:
        assert outlet.in_scope_host(outlet.url(f"/ky/search?{query}"))
        query += f"&f={query.count('&') + 1}"
    assert not outlet.in_scope_host(outlet.url(f"/ky/search?{query}"))
    assert re.search("jsessionid", outlet.url("/ky/category/society;jsessionid=AB12"))
    assert guard.check(outlet.url("/ky/category/society;jsessionid=AB12")) == "session id in path"
    assert scope.check(outlet.url("/", outlet.SUBHOST)) == "other host"
    assert Scope("domain", (outlet.url("/"),)).check(outlet.url("/", outlet.SUBHOST)) is None
