"""A realistic news outlet on 127.0.0.1, for whole-site crawls (issue 21).

`Outlet` serves http://kloop.kg and http://ru.kloop.kg (mapped with CAPTURE_HOST_RULES, see
`host_rules`) from one ThreadingHTTPServer, dispatching on the Host header: a few hundred articles
in Kyrgyz and Russian, a home page, paginated category pages, robots.txt with a disallowed section
and a Sitemap line pointing at a sitemap index (a gzipped child and a plain one), an RSS feed, and
the things real sites have that crawlers trip on: an endless calendar, a query string that grows
with every click, session ids in paths, relative links that repeat a path segment forever, a
redirect chain, a dead link, links to other hosts, and links that only a script builds.

The same seed gives the same site, byte for byte. `delete`, `rewrite` and `standard_changes` play
the outlet's takedowns between two crawls; `requests` logs every request served, so a test can
prove what a crawler did (and did not) fetch. Independent of pytest; the `outlet` fixture is below.
"""
from __future__ import annotations

import datetime
import random
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from . import outlet_pages as pages
from .outlet_pages import CALENDAR_START, CATEGORIES, SESSION
from .outlet_text import paragraph, slug, title

CALENDAR_BOUND = 50  # months either side a crawler may walk (TrapGuard's default per-pattern limit)
MAX_QUERY_PARAMS = 12  # TrapGuard's default: the growing query string is in scope up to here
MAX_REPEATED_SEGMENT = 2
DELETIONS = ("404", "410", "451", "home", "notice")


@dataclass
class Article:
    url: str
    host: str
    path: str
    lang: str
    category: str
    date: datetime.datetime
    title: str
    paragraphs: list[str]
    listed: bool = True  # False: only a script on the home page links it
    private: bool = False  # under robots.txt's disallowed section
    revision: int = 0
    changes: list[str] = field(default_factory=list)


class Outlet:
    HOST = "kloop.kg"
    SUBHOST = "ru.kloop.kg"
    disallowed_prefix = "/private/"

    def __init__(self, articles: int = 320, seed: int = 1) -> None:
        if articles < 60:
            raise ValueError(f"Outlet(articles={articles}): needs at least 60 to fill every kind of page")
        self.seed = seed
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str, dict]] = []
        self._gone: dict[str, str] = {}  # url -> how it was deleted
        self._throttled: dict[str, list] = {}  # url -> [times left, Retry-After seconds]
        self._all = _generate(articles, seed)
        self._by_path = {(a.host, a.path): a for a in self._all}
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    # -- serving -------------------------------------------------------------------------------

    def start(self) -> Outlet:
        outlet = self

        class Handler(_Handler):
            site = outlet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True, name="outlet").start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> Outlet:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def host_rules(self) -> str:
        return f"MAP {self.HOST} 127.0.0.1:{self.port}, MAP {self.SUBHOST} 127.0.0.1:{self.port}"

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.HOST}{path}"

    def direct(self, url: str) -> tuple[str, str]:
        """(the loopback URL that reaches ``url``, its Host header), for plain HTTP clients."""
        parts = urlsplit(url)
        return (f"http://127.0.0.1:{self.port}{parts.path or '/'}"
                + (f"?{parts.query}" if parts.query else ""), parts.hostname or self.HOST)

    # -- what is published -----------------------------------------------------------------------

    @property
    def articles(self) -> list[str]:
        """Every article URL currently published, both languages, both hosts, private ones too."""
        return [a.url for a in self._published()]

    def host_articles(self, host: str = HOST) -> set[str]:
        """The articles a host-scoped crawl of ``host`` that obeys robots.txt must find."""
        return {a.url for a in self._published() if a.host == host and not a.private}

    @property
    def script_articles(self) -> set[str]:
        """Articles linked only by a script on the home page (found only by reading the DOM)."""
        return {a.url for a in self._published() if not a.listed}

    @property
    def private_articles(self) -> set[str]:
        """Articles under robots.txt's disallowed section: a crawl obeying it must not fetch them."""
        return {a.url for a in self._published() if a.private}

    def in_scope_host(self, url: str) -> bool:
        """Whether a host-scoped crawl of HOST may fetch ``url``: on HOST, allowed by robots.txt,
        and not a trap beyond its bounded part (TrapGuard's defaults bound the calendar, the growing
        query string and repeated segments; a session id in a path is never in scope)."""
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.scheme != "http" or parts.hostname != self.HOST or len(url) > 500:
            return False
        if path.startswith((self.disallowed_prefix, "/wp-admin/")) or SESSION in path:
            return False
        if len(parse_qsl(parts.query, keep_blank_values=True)) > MAX_QUERY_PARAMS:
            return False
        segments = [s for s in path.split("/") if s]
        if any(segments.count(s) > MAX_REPEATED_SEGMENT for s in segments):
            return False
        month = re.fullmatch(r"/calendar/(\d+)/(\d+)", path)
        if month:
            start = CALENDAR_START[0] * 12 + CALENDAR_START[1]
            return abs(int(month[1]) * 12 + int(month[2]) - start) <= CALENDAR_BOUND
        return True

    # -- takedowns -------------------------------------------------------------------------------

    def delete(self, url: str, how: str) -> None:
        """Take ``url`` down: "404", "410", "451", "home" (301 to the home page) or "notice" (302 to
        a legal notice). It drops out of the sitemaps, feed, listings and script, as in a real CMS."""
        if how not in DELETIONS:
            raise ValueError(f"delete({url!r}, {how!r}): how must be one of {', '.join(DELETIONS)}")
        self._article(url)
        with self._lock:
            self._gone[url] = how

    def rewrite(self, url: str) -> None:
        """Rewrite the main text of ``url`` (all but its first paragraph), keeping its title."""
        article = self._article(url)
        with self._lock:
            article.revision += 1
            rng = random.Random(f"{self.seed}:{url}:rewrite:{article.revision}")
            article.paragraphs = article.paragraphs[:1] + [paragraph(rng, article.lang)
                                                           for _ in range(len(article.paragraphs) + 1)]

    def throttle(self, url: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` requests of ``url`` answer 503 with ``Retry-After``."""
        with self._lock:
            self._throttled[url] = [times, retry_after]

    def standard_changes(self, seed: int = 2) -> tuple[set[str], set[str]]:
        """Delete 10 articles of HOST (4 answer 404, 3 answer 451, 3 redirect home) and rewrite 5
        others; returns (removed, changed)."""
        rng = random.Random(seed)
        pool = sorted(a.url for a in self._published() if a.host == self.HOST and a.listed and not a.private)
        picked = rng.sample(pool, 15)
        removed, changed = picked[:10], picked[10:]
        for url, how in zip(removed, ["404"] * 4 + ["451"] * 3 + ["home"] * 3, strict=True):
            self.delete(url, how)
        for url in changed:
            self.rewrite(url)
        return set(removed), set(changed)

    # -- internals -------------------------------------------------------------------------------

    def _article(self, url: str) -> Article:
        parts = urlsplit(url)
        article = self._by_path.get((parts.hostname, parts.path))
        if article is None or url in self._gone:
            raise ValueError(f"{url}: not a published article of the outlet (see Outlet.articles)")
        return article

    def _published(self) -> list[Article]:
        with self._lock:
            return [a for a in self._all if a.url not in self._gone]

    def _log(self, host: str, path: str, headers: dict) -> None:
        with self._lock:
            self.requests.append((host, path, headers))

    def _take_throttle(self, url: str) -> int | None:
        with self._lock:
            left = self._throttled.get(url)
            if not left or left[0] <= 0:
                return None
            left[0] -= 1
            return left[1]


def _generate(count: int, seed: int) -> list[Article]:
    """``count`` articles: 8 private, 12 on ru.kloop.kg, 5 linked only by script, the rest half
    Kyrgyz and half Russian on kloop.kg; one every 36 hours back from 30 June 2024."""
    rng = random.Random(seed)
    newest = datetime.datetime(2024, 6, 30, 18, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=6)))
    titles: set[str] = set()
    slugs: set[str] = set()
    found = []
    for i in range(count):
        kind = "private" if i % 40 == 7 else "sub" if i % 26 == 3 else "script" if i % 64 == 11 else "main"
        odd = (i // 64) % 2 if kind == "script" else i % 2
        lang = "ru" if kind == "sub" or (kind != "private" and odd) else "ky"
        name = title(rng, lang)
        while name in titles or slug(name) in slugs:
            name = title(rng, lang)
        titles.add(name)
        slugs.add(slug(name))
        date = newest - datetime.timedelta(hours=36 * i)
        day = date.strftime("%Y/%m/%d")
        host = Outlet.SUBHOST if kind == "sub" else Outlet.HOST
        path = (f"/news/{day}/{slug(name)}/" if kind == "sub" else
                f"/private/{day}/{slug(name)}/" if kind == "private" else f"/{lang}/{day}/{slug(name)}/")
        found.append(Article(
            url=f"http://{host}{path}", host=host, path=path, lang=lang, category=CATEGORIES[i % 4],
            date=date, title=name, paragraphs=[paragraph(rng, lang) for _ in range(rng.randint(5, 7))],
            listed=kind != "script", private=kind == "private"))
    return found


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: Outlet

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        self.site._log(host, self.path, dict(self.headers.items()))
        status, headers, content = pages.respond(self.site, host, self.path)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if body:
            self.wfile.write(content)


@pytest.fixture(scope="module")
def outlet():
    """A started fixture outlet (tests/outlet.py), fresh for each test module."""
    with Outlet() as site:
        yield site
