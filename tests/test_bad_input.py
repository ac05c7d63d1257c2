"""Bad URLs get a clear error; private addresses are never fetched, whatever the route to them."""
from __future__ import annotations

import json

import pytest

from crawler.netpolicy import HostRules, URLRejected, check_url, normalize_url

from .conftest import run_cli


@pytest.mark.parametrize("url, message", [
    ("javascript:alert(1)", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("ftp://ftp.example.org/file", "only http and https"),
    ("data:text/html,<b>x</b>", "only http and https"),
    ("kloop", "is not a URL"),
    ("http://" + "a" * 2100 + ".org/", "limit is 2048"),
    ("http://127.0.0.1/", "loopback"),
    ("http://localhost:8000/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.0.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://user:pw@example.org/", "user name or password"),
    ("http://exa mple.org/", "not valid"),
])
def test_rejected_urls_say_why(url, message):
    with pytest.raises(URLRejected) as err:
        check_url(url)
    assert message in str(err.value)


def test_host_that_resolves_to_a_private_address_is_rejected():
    rules = HostRules("MAP intranet.example 127.0.0.2")
    with pytest.raises(URLRejected, match="intranet.example resolves to a loopback address"):
        check_url("http://intranet.example/", rules=rules)


def test_allowed_network_lets_a_test_site_through():
    import ipaddress
    rules = HostRules("MAP news.example.com 127.0.0.1:9")
    assert check_url("HTTP://News.Example.COM", allow=[ipaddress.ip_network("127.0.0.1/32")],
                     rules=rules) == "http://news.example.com/"


def test_normalize_keeps_path_and_query_and_drops_fragment():
    assert normalize_url("https://kloop.kg/blog/2024/04/01/a?x=1#top") == "https://kloop.kg/blog/2024/04/01/a?x=1"


def test_cli_rejects_private_and_malformed_urls(env):
    env = dict(env, CAPTURE_ALLOW_NETWORKS="")
    for url in ("javascript:alert(1)", "http://127.0.0.1/", "http://169.254.169.254/", "bare words"):
        proc = run_cli(env, "capture", url, "--json")
        assert proc.returncode != 0
        assert "error" in json.loads(proc.stdout.splitlines()[0])
        assert "failed" in proc.stderr


def test_host_resolving_privately_is_never_fetched(env, private_site):
    before = len(private_site.hits)
    proc = run_cli(env, "capture", "http://intranet.example/secret", "--json")
    assert proc.returncode != 0
    assert "loopback address" in proc.stderr
    assert len(private_site.hits) == before


def test_redirect_to_private_address_is_blocked(env, private_site):
    before = len(private_site.hits)
    proc = run_cli(env, "capture", "http://news.example.com/redirect-private", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == 302  # the evidence kept is the redirect itself
    urls = [b["url"] for b in out["blocked"]]
    assert urls[0] == "http://intranet.example/secret"
    assert all(u.startswith("http://intranet.example/") for u in urls)  # the favicon too
    assert "loopback address 127.0.0.2" in out["blocked"][0]["reason"]
    assert out["partial"] is True
    assert len(private_site.hits) == before


def test_script_fetching_private_address_is_blocked(env, private_site):
    before = len(private_site.hits)
    proc = run_cli(env, "capture", "http://news.example.com/fetch-private.html", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == 200
    blocked = {b["url"] for b in out["blocked"]}
    assert blocked >= {"http://intranet.example/pixel.png", "http://intranet.example/secret"}
    assert len(private_site.hits) == before


@pytest.mark.parametrize("host, site", [
    ("kloop.kg", "kloop.kg"), ("WWW.Kloop.KG", "kloop.kg"), ("www.kloop.kg.", "kloop.kg"),
    ("www.kloop.kg:8443", "kloop.kg"), ("[::1]:8080", "[::1]"), ("::1", "::1"), ("wwwkloop.kg", "wwwkloop.kg"),
    ("news.www.kloop.kg", "news.www.kloop.kg"), ("", ""), (None, ""),
])
def test_site_host_is_the_one_rule_for_the_same_site(host, site):
    from crawler.netpolicy import site_host

    assert site_host(host) == site


@pytest.mark.parametrize("url", ["https://www.Kloop.kg/a", "http://kloop.kg./b", "https://WWW.kloop.kg:8443/c",
                                 "https://rus.azattyk.org/d"])
def test_every_reader_of_a_site_uses_that_rule(url):
    from urllib.parse import urlsplit

    from archive.capturing.indexing import domain_of
    from archive.lookup.citations import CiteFacts
    from archive.removals.reports import site_of
    from crawler.netpolicy import site_host

    expected = site_host(urlsplit(url).hostname)
    facts = CiteFacts(title="t", url=url, captured_at=None, link="l", archive_name="a", key="k")
    assert (domain_of(url), site_of(url), facts.site) == (expected, expected, expected)


def test_no_other_module_strips_www_itself():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    found = []
    for package in ("archive", "crawler", "detect", "search"):
        for path in sorted((root / package).rglob("*.py")):
            if path == root / "crawler" / "netpolicy.py":
                continue
            found += [(str(path.relative_to(root)), node.lineno)
                      for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                      if isinstance(node, ast.Constant) and node.value == "www."]
    assert found == []
