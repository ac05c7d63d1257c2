"""Where a crawl's URLs come from besides links: sitemaps, feeds and robots.txt. Pure parsing, no
network: the crawl fetches the bytes, these functions read them.

Sitemaps and feeds are XML from the site being crawled, so hostile: they are parsed with
defusedxml (no DTDs, no entities: no billion laughs, no external entity reads), gzip is inflated
only up to the sitemap protocol's 50 MB, and a malformed file raises ValueError naming its URL.
"""
from __future__ import annotations

import re
import urllib.robotparser
import zlib
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_UNCOMPRESSED = 50 * 1024 * 1024  # sitemaps.org: a sitemap is at most 50 MB uncompressed
MAX_ROBOTS = 500 * 1024  # RFC 9309 asks parsers to read at least 500 KiB; past it is ignored
_GZIP_MAGIC = b"\x1f\x8b"
_ROOT_TAG = re.compile(rb"<\s*([A-Za-z_][\w.:-]*)")
_SITEMAP_LINE = re.compile(r"^\s*sitemap\s*:\s*(\S+)", re.I | re.M)


def parse_sitemap(body: bytes, base_url: str) -> tuple[list[str], list[str]]:
    """(page URLs, child sitemap URLs) of a sitemap or sitemap index at ``base_url``; gzipped or
    not (told by its magic bytes), any namespace; a plain-text sitemap (one URL a line) too."""
    body = _gunzip(body, base_url, "sitemap")
    if body.strip() and not body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return _text_sitemap(body, base_url), []
    root = _parse_xml(body, base_url, "sitemap")
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise ValueError(f"{base_url}: not a sitemap (its root element is <{kind}>, not <urlset> or "
                         "<sitemapindex>); give the sitemap's own URL")
    item = "url" if kind == "urlset" else "sitemap"
    locs = [_child_text(node, "loc") for node in root.iter() if _local(node.tag) == item]
    urls = _urls(locs, base_url)
    return (urls, []) if kind == "urlset" else ([], urls)


def parse_feed(body: bytes, base_url: str) -> list[str]:
    """The item links of an RSS 2.0, Atom or RSS 1.0 (RDF) feed at ``base_url``, in feed order."""
    root = _parse_xml(_gunzip(body, base_url, "feed"), base_url, "feed")
    kind = _local(root.tag)
    links: list[str | None] = []
    if kind == "feed":  # Atom: <entry><link rel="alternate" href=...>, rel defaults to alternate
        for entry in (n for n in root.iter() if _local(n.tag) == "entry"):
            hrefs = [n.get("href") for n in entry if _local(n.tag) == "link"
                     and n.get("rel", "alternate") == "alternate"]
            links.append(hrefs[0] if hrefs else None)
    elif kind in ("rss", "RDF"):  # RSS 2.0 <item><link>, else a permalink <guid>; RSS 1.0 <item rdf:about>
        for item in (n for n in root.iter() if _local(n.tag) == "item"):
            link = _child_text(item, "link")
            guid = next((n for n in item if _local(n.tag) == "guid"), None)
            if not link and guid is not None and guid.get("isPermaLink", "true") != "false":
                link = (guid.text or "").strip()
            about = next((v for k, v in item.attrib.items() if _local(k) == "about"), None)
            links.append(link or about)
    else:
        raise ValueError(f"{base_url}: not a feed (its root element is <{kind}>, not <rss>, <feed> or "
                         "<rdf:RDF>); give the feed's own URL")
    return _urls(links, base_url)


def robots_sitemaps(robots_txt: str, base_url: str) -> list[str]:
    """The sitemaps a robots.txt names (``Sitemap:`` lines, in any group), as absolute URLs."""
    return _urls(_SITEMAP_LINE.findall(robots_txt[:MAX_ROBOTS]), base_url)


class Robots:
    """A site's robots.txt: urllib.robotparser reads the groups; matching follows RFC 9309, which
    robotparser does not: the longest matching rule wins (Allow on a tie), ``*`` and ``$`` are
    wildcards, and a fractional Crawl-delay is kept."""

    def __init__(self, parser: urllib.robotparser.RobotFileParser, delays: list[tuple[list[str], float | None]]):
        self._parser = parser
        self._delays = delays

    @classmethod
    def parse(cls, text: str, url: str) -> Robots:
        """The robots.txt ``text`` fetched from ``url``."""
        lines = text[:MAX_ROBOTS].splitlines()
        parser = urllib.robotparser.RobotFileParser(url)
        parser.parse(lines)
        return cls(parser, _delays(lines))

    def allowed(self, url: str, agent: str) -> bool:
        """Whether ``agent`` may fetch ``url`` (a URL on the robots.txt's own site)."""
        entry = self._entry(agent)
        if entry is None:
            return True
        parts = urlsplit(unquote(url))
        target = quote(urlunsplit(("", "", parts.path or "/", parts.query, ""))) or "/"
        best: tuple[int, bool] | None = None
        for rule in entry.rulelines:
            length = _rule_match(rule.path, target)
            if length is not None and (best is None or (length, rule.allowance) > best):
                best = (length, rule.allowance)
        return True if best is None else best[1]

    def crawl_delay(self, agent: str) -> float | None:
        """Seconds between requests the robots.txt asks of ``agent``, or None. The group that names
        the agent counts, even without a delay; the ``*`` group only when none names it."""
        token = agent.split("/")[0].lower()
        for agents, delay in self._delays:
            if any(a != "*" and a.lower() in token for a in agents):
                return delay
        return next((delay for agents, delay in self._delays if "*" in agents), None)

    def _entry(self, agent: str):
        for entry in self._parser.entries:
            if entry.applies_to(agent):
                return entry
        return self._parser.default_entry


def _rule_match(pattern: str, target: str) -> int | None:
    """The rule's length if ``pattern`` (robotparser-quoted: * is %2A, $ is %24) matches ``target``."""
    if pattern in ("", "*"):
        return 0 if pattern == "" else 1
    anchored = pattern.endswith("%24")
    body = pattern[:-3] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("%2A")) + ("$" if anchored else "")
    return len(pattern) if re.match(regex, target) else None


def _delays(lines: list[str]) -> list[tuple[list[str], float | None]]:
    """(user agents, Crawl-delay or None) of each group, in file order."""
    groups: list[tuple[list[str], float | None]] = []
    agents: list[str] = []
    in_rules = False
    for raw in lines:
        key, _, value = raw.split("#", 1)[0].partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if in_rules or not groups:
                agents = []
                groups.append((agents, None))
                in_rules = False
            agents.append(value)
        elif key in ("allow", "disallow", "crawl-delay") and groups:
            in_rules = True
            if key == "crawl-delay":
                try:
                    groups[-1] = (agents, max(0.0, float(value)))
                except ValueError:
                    pass  # an unreadable delay is no delay, as in robotparser
    return groups


def sniff(body: bytes, content_type: str) -> str:
    """What a fetched body is: "sitemap", "feed" or "page", by content type and root element."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        return "page"
    if kind in ("application/rss+xml", "application/atom+xml", "application/rdf+xml"):
        return "feed"
    head = body[:65536]
    if head.startswith(_GZIP_MAGIC):
        try:
            head = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(head, 65536)
        except zlib.error:
            return "page"
    text = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head, flags=re.S | re.I)
    root = _ROOT_TAG.search(text)
    if root:
        name = root[1].decode("ascii", "replace").rsplit(":", 1)[-1]
        return {"urlset": "sitemap", "sitemapindex": "sitemap", "rss": "feed", "feed": "feed",
                "RDF": "feed"}.get(name, "page")
    lines = [line.strip() for line in head.decode("utf-8-sig", "replace").splitlines() if line.strip()]
    if len(body) > 65536 or len(head) >= 65536:
        lines = lines[:-1]  # the last line may be cut short
    if kind == "text/plain" and lines and all(re.match(r"https?://\S+$", line) for line in lines):
        return "sitemap"
    return "page"


def _gunzip(body: bytes, url: str, what: str) -> bytes:
    if not body.startswith(_GZIP_MAGIC):
        return body
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(body, MAX_UNCOMPRESSED + 1)
    except zlib.error as e:
        raise ValueError(f"{url}: the gzipped {what} is corrupt ({e}); fetch it again") from None
    if len(out) > MAX_UNCOMPRESSED:
        raise ValueError(f"{url}: the gzipped {what} inflates past {MAX_UNCOMPRESSED // 2**20} MB, "
                         "the sitemap protocol's limit; split it")
    if not inflater.eof:
        raise ValueError(f"{url}: the gzipped {what} is truncated (the gzip stream ends early); fetch it again")
    return out


def _parse_xml(body: bytes, url: str, what: str) -> Element:
    if not body.strip():
        raise ValueError(f"{url}: the {what} is empty")
    if re.search(rb"<!doctype\s+html|<html[\s>]", body[:4096], re.I):
        raise ValueError(f"{url}: got an HTML page, not a {what} (a moved or missing file answered "
                         "with a page?); check the URL")
    try:
        return fromstring(body, forbid_dtd=True)
    except DefusedXmlException as e:
        raise ValueError(f"{url}: the {what} declares a DTD or entities ({type(e).__name__}), "
                         "refused as a possible XML bomb") from None
    except ParseError as e:
        raise ValueError(f"{url}: the {what} is not well-formed XML ({e})") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child_text(node: Element, name: str) -> str | None:
    child = next((n for n in node if _local(n.tag) == name), None)
    return (child.text or "").strip() if child is not None else None


def _text_sitemap(body: bytes, url: str) -> list[str]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{url}: a text sitemap must be UTF-8 ({e})") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        if not re.match(r"https?://[^\s/]+\S*$", line):
            raise ValueError(f"{url}: not a sitemap: line {number} ({line[:60]!r}) is not an absolute "
                             "http(s) URL, and the body is not XML")
    return _urls(lines, url)


def _urls(values, base_url: str) -> list[str]:
    """Absolute http(s) URLs of ``values`` (relative ones against ``base_url``), first seen first."""
    seen: dict[str, None] = {}
    for value in values:
        value = (value or "").strip()
        if not value:
            continue
        absolute = urljoin(base_url, value)
        if urlsplit(absolute).scheme in ("http", "https"):
            seen.setdefault(absolute, None)
    return list(seen)
