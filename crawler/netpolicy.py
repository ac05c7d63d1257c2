"""Which URLs may be captured and which addresses a capture may reach.

A submitted URL is checked here first; the recording proxy checks again the
address it actually connects to, since DNS may answer differently later.
"""
from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

_HOSTNAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62}\.?)*", re.I)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class URLRejected(ValueError):
    """A URL that will not be captured; the message says why, for the submitter."""


class UnresolvableHost(URLRejected):
    """The host name has no address now: for a watched or submitted URL that is itself evidence."""


def forbidden_kind(ip: IPAddress, allow: Iterable = ()) -> str | None:
    """What kind of address ``ip`` is that may not be reached (``loopback``, ``private``, ...), or
    None when it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allow if net.version == ip.version):
        return None
    for label, test in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                        ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
                        ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if test:
            return label
    return None if ip.is_global else "non-public"


def address_problem(ip: IPAddress, allow: Iterable = ()) -> str | None:
    """Why ``ip`` may not be reached, or None when it may."""
    kind = forbidden_kind(ip, allow)
    if kind is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return f"{kind} address {ip} is not allowed"


@dataclass(frozen=True)
class HostRule:
    pattern: str
    target: str | None  # None: EXCLUDE
    port: int | None


class HostRules:
    """The MAP/EXCLUDE subset of Chromium's --host-resolver-rules, for the proxy's own lookups."""

    def __init__(self, text: str = ""):
        self.text = text.strip()
        self.rules: list[HostRule] = []
        for part in self.text.split(","):
            words = part.split()
            if not words:
                continue
            if words[0].upper() == "MAP" and len(words) == 3:
                self.rules.append(HostRule(words[1].lower(), *_target(part.strip(), words[2])))
            elif words[0].upper() == "EXCLUDE" and len(words) == 2:
                self.rules.append(HostRule(words[1].lower(), None, None))
            else:
                raise ValueError(f"CAPTURE_HOST_RULES: cannot read rule {part.strip()!r}; "
                                 "use 'MAP host address[:port]' or 'EXCLUDE host'")

    def map(self, host: str, port: int) -> tuple[str, int]:
        """(host or address to resolve, port) after the first matching rule."""
        host = host.lower()
        for rule in self.rules:
            if fnmatch.fnmatchcase(host, rule.pattern):
                if rule.target is None:
                    return host, port
                return rule.target, rule.port or port
        return host, port


def _target(rule: str, text: str) -> tuple[str, int | None]:
    """(host, port) a MAP rule sends to; ValueError naming the rule when it cannot be followed."""
    host, port = text, None
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif host.count(":") == 1:
        host, port = host.split(":")
    if not host or any(c in host for c in "*?~"):
        # Chromium's ~NOTFOUND and patterns name no address the recording proxy could connect to.
        raise ValueError(f"CAPTURE_HOST_RULES: rule {rule!r} maps to {text!r}, which is not a host or address; "
                         "give one, e.g. 'MAP * 127.0.0.1:8081', or leave the host out of the rules")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"CAPTURE_HOST_RULES: rule {rule!r} has port {port!r}; a port is a number from 1 to 65535")
    return host, int(port) if port is not None else None


def resolve(host: str, port: int, rules: HostRules) -> tuple[list[IPAddress], int]:
    """Addresses for ``host`` (after host rules) and the port to use."""
    target, port = rules.map(host, port)
    try:
        return [ipaddress.ip_address(target.strip("[]"))], port
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(target, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnresolvableHost(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    addrs = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if ip not in addrs:
            addrs.append(ip)
    return addrs, port


def normalize_url(url: str, max_length: int | None = 2048) -> str:
    """Check the form of a submitted URL and return it normalized; raise URLRejected.

    ``max_length`` None: the length is not checked here (the caller's URL check did, with its setting)."""
    if not isinstance(url, str) or not url.strip():
        raise URLRejected("URL is empty")
    url = url.strip()
    if max_length is not None and len(url) > max_length:
        raise URLRejected(f"URL is {len(url)} characters long; the limit is {max_length}")
    if any(ord(c) < 0x20 or c == "\x7f" for c in url):
        raise URLRejected("URL contains control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if not scheme:
        raise URLRejected(f"{url!r} is not a URL; give a full address such as https://example.org/page")
    if scheme not in ("http", "https"):
        raise URLRejected(f"only http and https URLs can be captured, not {scheme}:")
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise URLRejected(f"URL has an invalid host or port: {exc}") from exc
    if not host:
        raise URLRejected("URL has no host name")
    if parts.username or parts.password:
        raise URLRejected("URLs with a user name or password are not captured")
    try:
        host = host.encode("idna").decode("ascii") if not _is_ip(host) else host
    except UnicodeError as exc:
        raise URLRejected(f"host name {host!r} is not valid") from exc
    if not _is_ip(host) and not _HOSTNAME.fullmatch(host):
        raise URLRejected(f"host name {host!r} is not valid")
    if "." not in host and not _is_ip(host) and host != "localhost":
        raise URLRejected(f"host name {host!r} has no domain; give a full address such as https://example.org/")
    netloc = f"[{host}]" if ":" in host else host
    if port and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def site_host(host: str | None) -> str:
    """``host`` as the site it names: lower case, without port, trailing dot or a leading "www.".

    The one rule for "the same site" (search's domain filter and facet, the removal list's site,
    citations, the classifier's redirect checks). Takes a host as ``urlsplit(url).hostname``
    gives it, or as a person types it (``www.Kloop.kg:443``, ``[::1]:8080``).
    """
    host = (host or "").strip().lower()
    if host.startswith("[") and "]" in host:  # an IPv6 literal, maybe with a port
        host = host[: host.index("]") + 1]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".").removeprefix("www.")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def check_url(url: str, allow: Iterable = (), rules: HostRules | None = None, max_length: int = 2048,
              allow_unresolvable: bool = False) -> str:
    """Normalize ``url`` and make sure its host resolves only to addresses a capture may reach.

    With ``allow_unresolvable`` a host that does not resolve passes: its capture records the DNS
    failure (a seized or deleted domain is a removal), and the recording proxy checks the
    address again at connect time, so nothing private is reached that way.
    """
    url = normalize_url(url, max_length)
    parts = urlsplit(url)
    try:
        addrs, _ = resolve(parts.hostname, parts.port or {"http": 80, "https": 443}[parts.scheme],
                           rules or HostRules())
    except UnresolvableHost:
        if allow_unresolvable:
            return url
        raise
    for ip in addrs:
        kind = forbidden_kind(ip, allow)
        if kind:
            where = (f"{parts.hostname} is a {kind} address" if _is_ip(parts.hostname.strip("[]"))
                     else f"{parts.hostname} resolves to a {kind} address ({ip})")
            raise URLRejected(f"{where}; captures may only reach public addresses")
    return url
