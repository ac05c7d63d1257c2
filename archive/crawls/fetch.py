"""Fetching what a crawl reads but does not archive as pages: robots.txt, sitemaps, feeds.

These are read directly (no browser), through the same host rules and address policy as a
capture: every URL, and every redirect target, passes the one URL check, and the address
connected to is checked again. Bodies are capped; gzip (a ``.xml.gz`` sitemap) is inflated.
"""
from __future__ import annotations

import gzip
import http.client
import io
import ssl
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from archive.settings import Settings
from archive.urlcheck import url_checker
from crawler.netpolicy import HostRules, URLRejected, forbidden_kind, resolve
from crawler.version import __version__

MAX_BODY = 50_000_000  # a sitemap may list 50,000 URLs in 50 MB (sitemaps.org)
MAX_REDIRECTS = 5
TIMEOUT = 20
USER_AGENT = f"TakedownArchive/{__version__} (crawl)"


class FetchFailed(Exception):
    """A robots.txt, sitemap or feed could not be read; the message says why."""


@dataclass(frozen=True)
class Fetched:
    url: str  # the final URL after redirects
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]


def fetcher(settings: Settings) -> Callable[[str], Fetched]:
    """``fetch(url)`` under ``settings``' URL check, host rules and address policy."""
    check = url_checker(settings)
    rules = HostRules(settings.capture_host_rules)
    allow = settings.capture_allow_networks

    def fetch(url: str) -> Fetched:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                url = check(url)
            except URLRejected as exc:
                raise FetchFailed(f"{url}: {exc}") from exc
            got = _get(url, rules, allow)
            location = got.headers.get("location")
            if 300 <= got.status < 400 and location:
                url = urljoin(url, location)
                continue
            return got
        raise FetchFailed(f"{url}: more than {MAX_REDIRECTS} redirects")

    return fetch


def _get(url: str, rules: HostRules, allow) -> Fetched:
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    try:
        addrs, port = resolve(parts.hostname, port, rules)
    except URLRejected as exc:
        raise FetchFailed(f"{url}: {exc}") from exc
    for ip in addrs:
        kind = forbidden_kind(ip, allow)
        if kind:
            raise FetchFailed(f"{url}: {parts.hostname} resolves to a {kind} address ({ip})")
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # as the recording proxy: the archive records, it does not vouch
        conn: http.client.HTTPConnection = _Pinned(str(addrs[0]), port, parts.hostname, ctx)
    else:
        conn = http.client.HTTPConnection(str(addrs[0]), port, timeout=TIMEOUT)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request("GET", path, headers={"Host": parts.netloc, "User-Agent": USER_AGENT,
                                           "Accept-Encoding": "gzip", "Accept": "*/*"})
        response = conn.getresponse()
        body = response.read(MAX_BODY + 1)
        headers = {k.lower(): v for k, v in response.getheaders()}
    except (OSError, http.client.HTTPException) as exc:
        raise FetchFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()
    if len(body) > MAX_BODY:
        raise FetchFailed(f"{url}: larger than {MAX_BODY} bytes")
    if headers.get("content-encoding", "").lower() == "gzip" or body[:2] == b"\x1f\x8b":
        try:
            body = _gunzip(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise FetchFailed(f"{url}: gzip body cannot be read: {exc}") from exc
    return Fetched(url, response.status, headers.get("content-type", ""), body, headers)


def _gunzip(body: bytes) -> bytes:
    out = gzip.GzipFile(fileobj=io.BytesIO(body)).read(MAX_BODY + 1)
    if len(out) > MAX_BODY:
        raise OSError(f"inflates to more than {MAX_BODY} bytes")
    return out


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the host's name for SNI."""

    def __init__(self, address: str, port: int, server_name: str, ctx: ssl.SSLContext):
        super().__init__(address, port, timeout=TIMEOUT, context=ctx)
        self._server_name = server_name
        self._ctx = ctx

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._ctx.wrap_socket(self.sock, server_hostname=self._server_name)


__all__ = ["FetchFailed", "Fetched", "fetcher"]
