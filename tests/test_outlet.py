"""The fixture outlet itself (tests/outlet.py), checked with plain HTTP (no Chromium): what the
crawl tests rely on must hold, or their failures would be the fixture's."""
from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
import requests

from detect.textdiff import similarity
from search.extract import extract

from .outlet import Outlet

NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def get(outlet: Outlet, url: str) -> requests.Response:
    direct, host = outlet.direct(url)
    return requests.get(direct, headers={"Host": host}, allow_redirects=False, timeout=30)


def locs(body: bytes, tag: str) -> list[str]:
    return [e.findtext(f"{NS}loc") for e in ET.fromstring(body).iter(f"{NS}{tag}")]


def sitemap_urls(outlet: Outlet) -> set[str]:
    found = set()
    for child in locs(get(outlet, outlet.url("/sitemap_index.xml")).content, "sitemap"):
        body = get(outlet, child).content
        found |= set(locs(gzip.decompress(body) if child.endswith(".gz") else body, "url"))
    return found


def test_the_same_seed_gives_the_same_site():
    one, two, other = Outlet(), Outlet(), Outlet(seed=7)
    assert one.articles == two.articles
    assert one.articles != other.articles
    assert one.host_rules.startswith("MAP kloop.kg 127.0.0.1:")


def test_articles_in_two_languages_with_distinct_titles(outlet):
    assert len(outlet.articles) >= 320 and len(outlet.host_articles()) >= 290
    assert outlet.host_articles(outlet.SUBHOST) and outlet.script_articles and outlet.private_articles
    titles, langs = set(), {"ky": 0, "ru": 0}
    for url in sorted(outlet.articles)[::16]:
        page = get(outlet, url)
        assert page.status_code == 200, url
        declared = re.search(r"<html lang='(\w+)'", page.text)[1]
        got = extract(page.content, url, content_type=page.headers["Content-Type"])
        assert got.lang == declared, (url, got.lang, declared)
        assert len(got.text) > 800 and re.search(r"\d\d\.\d\d\.\d{4}", page.text)
        langs[declared] += 1
        titles.add(got.title)
    assert min(langs.values()) >= 5 and len(titles) == sum(langs.values())


def test_robots_sitemap_index_gzip_child_and_feed(outlet):
    robots = get(outlet, outlet.url("/robots.txt")).text
    assert f"Disallow: {outlet.disallowed_prefix}" in robots
    assert "Sitemap: http://kloop.kg/sitemap_index.xml" in robots
    children = locs(get(outlet, outlet.url("/sitemap_index.xml")).content, "sitemap")
    assert any(c.endswith(".xml.gz") for c in children) and any(c.endswith(".xml") for c in children)
    gz = get(outlet, next(c for c in children if c.endswith(".gz"))).content
    assert gz[:2] == b"\x1f\x8b" and locs(gzip.decompress(gz), "url")
    listed = sitemap_urls(outlet)
    # Every open article of the host is in the sitemaps, and so is the disallowed section.
    assert outlet.host_articles() - outlet.script_articles <= listed
    assert outlet.private_articles <= listed
    feed = ET.fromstring(get(outlet, outlet.url("/rss.xml")).content)
    links = [i.findtext("link") for i in feed.iter("item")]
    assert len(links) == 20 and set(links) <= outlet.host_articles()


def test_listings_link_every_article_and_traps_never_end(outlet):
    seen = set()
    for lang in ("ky", "ru"):
        for category in ("politics", "society", "economy", "investigations"):
            page, url = 1, outlet.url(f"/{lang}/category/{category}")
            while url:
                html = get(outlet, url).text
                seen |= set(re.findall(r"href='(http://kloop\.kg/(?:ky|ru)/[^']+)'", html))
                page += 1
                url = outlet.url(f"/{lang}/category/{category}?page={page}") if "rel='next'" in html else None
    assert seen == outlet.host_articles() - outlet.script_articles
    home = get(outlet, outlet.url("/")).text
    for url in outlet.script_articles:  # only a script builds them: no href in the source
        assert urlsplit(url).path not in home
    month = get(outlet, outlet.url("/calendar/1970/01")).text
    assert "/calendar/1969/12" in month and not outlet.in_scope_host(outlet.url("/calendar/1969/12"))
    assert outlet.in_scope_host(outlet.url("/calendar/2024/04"))
    query = "tag=politics"
    for _ in range(14):
        query = re.search(r"href='/ky/search\?([^']+)'", get(outlet, outlet.url(f"/ky/search?{query}")).text)[1]
        query = query.replace("&amp;", "&")
    assert query.count("&") == 14 and not outlet.in_scope_host(outlet.url(f"/ky/search?{query}"))
    session = re.search(r"href='(/ky/category/society;jsessionid=\w+)'", home)[1]
    deeper = re.search(r"jsessionid=(\w+)", get(outlet, outlet.url(session)).text)[1]
    assert deeper not in session and not outlet.in_scope_host(outlet.url(session))
    assert not outlet.in_scope_host(outlet.url("/about/team/team/team/"))
    assert not outlet.in_scope_host("http://ru.kloop.kg/") and not outlet.in_scope_host("https://twitter.com/x")


def test_redirect_chain_dead_link_and_throttle(outlet):
    first = get(outlet, outlet.url("/old/1"))
    second = get(outlet, first.headers["Location"])
    assert first.status_code == second.status_code == 301
    assert second.headers["Location"] in outlet.host_articles()
    assert get(outlet, outlet.url("/ky/2019/01/01/zhok-bolgon-makala/")).status_code == 404
    url = sorted(outlet.host_articles())[0]
    outlet.throttle(url)
    busy = get(outlet, url)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert get(outlet, url).status_code == 200
    assert any(host == "kloop.kg" and path == "/old/1" for host, path, _ in outlet.requests)


def test_standard_changes_remove_ten_and_rewrite_five():
    with Outlet() as before, Outlet() as after:
        removed, changed = after.standard_changes()
        assert len(removed) == 10 and len(changed) == 5 and not removed & changed
        assert removed <= before.host_articles() and changed <= before.host_articles()
        statuses = sorted(get(after, url).status_code for url in removed)
        assert statuses == [301] * 3 + [404] * 4 + [451] * 3
        for url in removed:
            answer = get(after, url)
            if answer.status_code == 301:
                assert answer.headers["Location"] == "http://kloop.kg/"
        assert set(after.articles) == set(before.articles) - removed
        assert not removed & sitemap_urls(after) and removed & sitemap_urls(before)
        feed = get(after, after.url("/rss.xml")).text
        assert not any(url in feed for url in removed)
        for url in changed:
            old, new = (extract(get(o, url).content, url).text for o in (before, after))
            assert similarity(old, new) < 0.5, url
        # Articles left alone keep their main text, though their related links changed.
        for url in sorted(after.host_articles() - changed)[:40]:
            old, new = (extract(get(o, url).content, url).text for o in (before, after))
            assert old == new, url


def test_bad_takedowns_are_refused(outlet):
    with pytest.raises(ValueError, match="how must be one of"):
        outlet.delete(sorted(outlet.host_articles())[0], "vanish")
    with pytest.raises(ValueError, match="not a published article"):
        outlet.rewrite(outlet.url("/no/such/article/"))
    removed = Outlet()
    url = removed.articles[0]
    removed.delete(url, "notice")
    with removed:
        assert get(removed, url).headers["Location"] == removed.url("/notice/removed")
        assert get(removed, removed.url("/notice/removed")).status_code == 200
