"""Which URLs a crawl follows (`Scope`) and how far it follows a crawler trap (`TrapGuard`).

Pure: no I/O. URLs come here already normalised by the one URL check (archive/urlcheck.py,
crawler/netpolicy.py); this module only compares them.
"""
from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from crawler.netpolicy import site_host

KINDS = ("page", "prefix", "host", "domain")
# When several seeds reject a URL, the reason of the seed that came closest is the one reported.
_CLOSEST = ("not a seed page", "outside prefix", "other host")


@dataclass(frozen=True)
class Scope:
    """A crawl's scope: ``kind`` relative to the ``seeds``, narrowed by ``include``/``exclude``.

    - page: only the seed URLs themselves;
    - prefix: the seed's host, paths under the seed's folder (``/ky/news/x.html`` -> ``/ky/news/``);
    - host: the seed's host;
    - domain: the seed's host and its subdomains.

    Hosts compare as `site_host` gives them (lower case, without port and a leading "www."), so
    kloop.kg and www.kloop.kg are one host, as the rest of the archive treats them; http and https
    are one site too (outlets move between them by redirect). "domain" is the seed host and every
    host under it, not the registrable domain of the Public Suffix List: tldextract would download
    that list at run time, and a crawl seeded at news.example.co.uk should not spread to
    shop.example.co.uk unasked. ``include``: when given, a URL must match one (re.search);
    ``exclude``: a URL matching one is out, whatever else holds.
    """

    kind: str
    seeds: tuple[str, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    _include: tuple[re.Pattern, ...] = field(init=False, repr=False, compare=False)
    _exclude: tuple[re.Pattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"scope {self.kind!r}: use one of {', '.join(KINDS)}")
        if isinstance(self.seeds, str) or not self.seeds:
            raise ValueError("a scope needs at least one seed URL (a tuple of URLs)")
        for seed in self.seeds:
            if urlsplit(seed).scheme not in ("http", "https") or not urlsplit(seed).hostname:
                raise ValueError(f"seed {seed!r}: not an http(s) URL with a host; give a full URL like https://kloop.kg/")
        object.__setattr__(self, "_include", _compile("include", self.include))
        object.__setattr__(self, "_exclude", _compile("exclude", self.exclude))

    def check(self, url: str) -> str | None:
        """None if ``url`` is in scope, else a short reason ("other host", "outside prefix",
        "not a seed page", "excluded by RE", "not included", "not http(s)")."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "not http(s)"
        for pattern in self._exclude:
            if pattern.search(url):
                return f"excluded by {pattern.pattern}"
        reasons = {self._against(seed, parts) for seed in self.seeds}
        if None not in reasons:
            return next(r for r in _CLOSEST if r in reasons)
        if self._include and not any(p.search(url) for p in self._include):
            return "not included"
        return None

    def _against(self, seed: str, parts) -> str | None:
        own = urlsplit(seed)
        host, seed_host = site_host(parts.hostname), site_host(own.hostname)
        if self.kind == "domain":
            return None if host == seed_host or host.endswith("." + seed_host) else "other host"
        if host != seed_host:
            return "other host"
        if self.kind == "host":
            return None
        path, seed_path = parts.path or "/", own.path or "/"
        if self.kind == "prefix":
            return None if path.startswith(seed_path[: seed_path.rindex("/") + 1]) else "outside prefix"
        same = (path, parts.query) == (seed_path, own.query) and _port(parts) == _port(own)
        return None if same else "not a seed page"


def _port(parts) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def _compile(name: str, expressions: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    if isinstance(expressions, str):
        raise ValueError(f"{name}: give a tuple of regular expressions, not the string {expressions!r}")
    compiled = []
    for expression in expressions:
        try:
            compiled.append(re.compile(expression))
        except re.error as e:
            raise ValueError(f"{name} regular expression {expression!r}: {e}; fix or quote it") from None
    return tuple(compiled)


# Digit runs become {n}; ids (UUIDs, long hex with a digit) become {id} first, so that
# /calendar/2024/05 and /calendar/1999/12 share the pattern /calendar/{n}/{n}.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_HEX = re.compile(r"(?<![0-9a-z])(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{16,}(?![0-9a-z])", re.I)
# Five digits or more name an item (azattyk.org/a/32900000.html), unless they read as a compact date
# (20240512, 202405): those are a calendar's, and counted.
_LONG_NUMBER = re.compile(r"(?<!\d)(?!(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:(?:0[1-9]|[12]\d|3[01]))?(?!\d))\d{5,}")
_DIGITS = re.compile(r"\d+")
# Session ids put in the path by servers that do not trust cookies: Java's ;jsessionid=, PHP's,
# ColdFusion's, and ASP.NET's cookieless /(S(...))/ segment.
_SESSION = re.compile(
    r"[;/](?:jsessionid|phpsessid|aspsessionid\w*|sessionid|session_id|sessid|sid|cfid|cftoken)=|"
    r"/\((?:[a-z]\([^)/]*\))+\)/", re.I)


def url_pattern(url: str) -> str:
    """``url``'s path with numbers and ids replaced by placeholders, and its query's parameter
    names: what a trap's endless URLs have in common (``/calendar/{n}/{n}``, ``/search?f&tag``)."""
    parts = urlsplit(url)
    path = _DIGITS.sub("{n}", _LONG_NUMBER.sub("{id}", _HEX.sub("{id}", _UUID.sub("{id}", parts.path or "/"))))
    names = sorted({name for name, _ in parse_qsl(parts.query, keep_blank_values=True)})
    return path + ("?" + "&".join(names) if names else "")


class TrapGuard:
    """Bounds crawler traps: over-long URLs, session ids in paths, too many query parameters,
    a path segment repeated (relative-link loops: /about/team/team/team/), and more than
    ``max_per_pattern`` URLs of one pattern (endless calendars, pagination).

    A pattern with an id in it (``/a/{id}.html``, every article of azattyk.org) names one item per
    URL rather than a trap, so it is not counted; numeric path segments are not counted as
    repeated (2011/11/11 is a date). A limit of 0 turns that check off. Stateful and thread-safe:
    `check` counts each URL it lets through, so call it once per new URL (after the frontier's
    duplicate check); `remember` counts one admitted earlier (rebuilding the counts on resume).
    """

    def __init__(self, max_url_length: int = 500, max_per_pattern: int = 50, max_query_params: int = 12,
                 max_repeated_segment: int = 2) -> None:
        for name, value in (("max_url_length", max_url_length), ("max_per_pattern", max_per_pattern),
                            ("max_query_params", max_query_params), ("max_repeated_segment", max_repeated_segment)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"TrapGuard {name}={value!r}: give a whole number, 0 for no limit")
        self.max_url_length = max_url_length
        self.max_per_pattern = max_per_pattern
        self.max_query_params = max_query_params
        self.max_repeated_segment = max_repeated_segment
        self._seen: Counter[str] = Counter()
        self._cut: Counter[str] = Counter()
        self._lock = threading.Lock()

    def check(self, url: str) -> str | None:
        """None if ``url`` may be followed (and it is counted), else the reason it is cut."""
        reason = self._shape(url)
        with self._lock:
            if reason is None:
                pattern = url_pattern(url)
                if self.max_per_pattern and "{id}" not in pattern:
                    if self._seen[pattern] >= self.max_per_pattern:
                        reason = f"pattern {pattern} seen {self._seen[pattern]} times"
                    else:
                        self._seen[pattern] += 1
            if reason is not None:
                self._cut[reason] += 1
        return reason

    def remember(self, url: str) -> None:
        """Count ``url`` as followed without checking it (it was admitted before a restart)."""
        pattern = url_pattern(url)
        if "{id}" not in pattern:
            with self._lock:
                self._seen[pattern] += 1

    def cut(self) -> dict[str, int]:
        """How many URLs were cut, by reason, for the crawl log."""
        with self._lock:
            return dict(self._cut)

    def _shape(self, url: str) -> str | None:
        if self.max_url_length and len(url) > self.max_url_length:
            return f"url longer than {self.max_url_length}"
        parts = urlsplit(url)
        if _SESSION.search(parts.path):
            return "session id in path"
        if self.max_query_params and len(parse_qsl(parts.query, keep_blank_values=True)) > self.max_query_params:
            return "too many query parameters"
        segments = [s for s in parts.path.split("/") if s and not s.isdigit()]
        if self.max_repeated_segment and any(n > self.max_repeated_segment for n in Counter(segments).values()):
            return "repeated path segment"
        return None
