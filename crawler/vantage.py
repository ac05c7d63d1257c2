"""Vantage points: capturing a page as it is seen from somewhere else.

A vantage is a named HTTP (CONNECT) or SOCKS5 proxy with the country it stands
in, e.g. ``kg-bishkek=KG=socks5://203.0.113.5:1080``. The recording proxy opens
its upstream connections through it, so names are resolved and pages fetched
from the vantage's network; ``direct`` is the archive's own connection.

A proxy may need a user name and password (``http://user:secret@host:port``):
they are sent as HTTP Basic ``Proxy-Authorization`` on CONNECT, or as SOCKS5
username/password (RFC 1929). They never leave this module unmasked: ``repr``,
``describe`` and ``mask_url`` show ``***`` instead of the password.
"""
from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import re
import struct
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DIRECT = "direct"


MASK = "***"


# The password of a URL's user part: scheme://user:PASSWORD@host (up to the last @ before the path).
_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s,]*:)[^\s,/]*@")


def mask_passwords(text: str) -> str:
    """``text`` with the password of every URL in it (``scheme://user:password@host``) shown as ``***``."""
    return _PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)


def mask_url(url: str) -> str:
    """``url`` with the password in its user part (if any) replaced by ``***``, for showing and logging."""
    return mask_passwords(url)


@dataclass(frozen=True)
class Vantage:
    name: str
    country: str
    proxy: str  # http://host:port or socks5://host:port, optionally with user:password@

    def __repr__(self) -> str:
        return f"Vantage(name={self.name!r}, country={self.country!r}, proxy={mask_url(self.proxy)!r})"

    def __str__(self) -> str:
        return f"{self.name}={self.country}={mask_url(self.proxy)}"

    @property
    def credentials(self) -> tuple[str, str] | None:
        """(user name, password) for the proxy, percent-decoded, or None if it takes none."""
        parts = urlsplit(self.proxy)
        if parts.username is None:
            return None
        return unquote(parts.username), unquote(parts.password or "")

    def describe(self) -> dict:
        """For the provenance record: where the capture was made from (no credentials)."""
        parts = urlsplit(self.proxy)
        return {"name": self.name, "country": self.country, "proxy": f"{parts.scheme}://{parts.hostname}:{parts.port}"}


def parse_vantages(text: str) -> dict[str, Vantage]:
    """``name=CC=scheme://host:port`` entries, comma-separated; raises ValueError naming the bad one."""
    vantages: dict[str, Vantage] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        try:
            name, country, proxy = (p.strip() for p in entry.split("=", 2))
        except ValueError:
            raise ValueError(f"vantage {entry!r}: use name=COUNTRY=socks5://host:port") from None
        parts = urlsplit(proxy)
        if parts.scheme not in ("http", "socks5", "socks5h") or not parts.hostname or not parts.port:
            raise ValueError(f"vantage {name!r}: proxy {mask_url(proxy)!r} must be http://host:port or "
                             "socks5://host:port (with user:password@ before the host if it asks for them)")
        if not (len(country) == 2 and country.isalpha()):
            raise ValueError(f"vantage {name!r}: country {country!r} must be a two-letter ISO code")
        if name == DIRECT or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"vantage name {name!r} must be letters, digits, - or _, and not {DIRECT!r}")
        vantages[name] = Vantage(name, country.upper(), proxy)
    return vantages


class UnknownVantage(ValueError):
    """A vantage point was asked for that is not configured; the message lists those that are."""


def vantage_named(vantages: dict[str, Vantage], name: str | None) -> Vantage | None:
    """The vantage called ``name`` (None for direct); UnknownVantage if there is none."""
    if not name or name == DIRECT:
        return None
    try:
        return vantages[name]
    except KeyError:
        known = ", ".join([DIRECT, *vantages])
        raise UnknownVantage(f"there is no vantage point {name!r}; configured: {known}") from None


class VantageError(ConnectionError):
    """The vantage proxy refused or failed the connection; the message says which and why."""


class UnreachableThere(VantageError):
    """The vantage works, but from where it stands the target could not be reached: its DNS had no
    answer (a proxy's 502/503, SOCKS5 "host unreachable") or the connection there failed. That is
    a finding about the site as seen from the vantage's country, not a fault of the vantage.

    ``kind`` is the recording proxy's failure kind (dns, connect, refused, timeout).
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# A CONNECT answer that says the proxy could not reach the target, not that it refuses us
# (403, 407 and the rest are the proxy's own refusals). Squid answers 503 for a name its
# resolver does not know, other proxies 502.
CONNECT_FAILURES = {502: "dns", 503: "dns", 504: "timeout"}
# SOCKS5 replies (RFC 1928) that say the same; 1, 2, 7 and 8 are the vantage's own refusals.
SOCKS5_FAILURES = {3: "connect", 4: "dns", 5: "refused", 6: "timeout"}


def os_reason(exc: BaseException) -> str:
    """Words for a socket error, never empty: an EOF has no strerror and often no message, and
    asyncio's connect errors put their own text where the system's words would be."""
    code = getattr(exc, "errno", None)
    return (os.strerror(code) if isinstance(code, int) else "") or str(exc) or type(exc).__name__


async def open_through(vantage: Vantage, host: str, port: int, timeout: float):
    """A (reader, writer) pair to ``host:port`` tunnelled through ``vantage``'s proxy."""
    parts = urlsplit(vantage.proxy)
    where = f"{parts.hostname}:{parts.port}"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), timeout)
    except TimeoutError:
        raise VantageError(f"its proxy {where} did not accept a connection within {timeout:g} s") from None
    except OSError as exc:
        raise VantageError(f"cannot connect to its proxy {where}: {os_reason(exc)}") from exc
    try:
        if parts.scheme == "http":
            await _http_connect(reader, writer, host, port, timeout, vantage.credentials)
        else:
            await _socks5_connect(reader, writer, host, port, timeout, vantage.credentials)
    except asyncio.IncompleteReadError:
        writer.close()
        # A working proxy answers CONNECT, even with an error: hanging up is the proxy's own fault.
        raise VantageError(f"its proxy {where} closed the connection before answering") from None
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def _http_connect(reader, writer, host: str, port: int, timeout: float,
                        credentials: tuple[str, str] | None = None) -> None:
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    auth = ""
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode("utf-8")).decode("ascii")
        auth = f"Proxy-Authorization: Basic {token}\r\n"
    writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n".encode("ascii"))
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    first_line = head.split(b"\r\n", 1)[0]
    status = first_line.split(b" ")
    code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
    if code == 407:
        said = first_line.decode("latin-1")
        raise VantageError(f"vantage proxy refused the user name and password in CAPTURE_VANTAGES ({said})"
                           if credentials else
                           f"vantage proxy asks for a user name and password ({said}); put them in "
                           "CAPTURE_VANTAGES as http://user:password@host:port")
    if code in CONNECT_FAILURES:
        raise UnreachableThere(CONNECT_FAILURES[code], f"the vantage could not reach {target}: "
                                                       f"{first_line.decode('latin-1')}")
    if code != 200:
        raise VantageError(f"vantage proxy refused CONNECT {target}: {first_line.decode('latin-1')}")


async def _socks5_connect(reader, writer, host: str, port: int, timeout: float,
                          credentials: tuple[str, str] | None = None) -> None:
    # Version 5 and the one method we can use: username/password (RFC 1929) if we have them, else none.
    method = b"\x02" if credentials is not None else b"\x00"
    writer.write(b"\x05\x01" + method)
    await writer.drain()
    if await asyncio.wait_for(reader.readexactly(2), timeout) != b"\x05" + method:
        raise VantageError("SOCKS5 vantage refused: it wants a user name and password; put them in CAPTURE_VANTAGES"
                           " as socks5://user:password@host:port" if credentials is None else
                           "SOCKS5 vantage refused: it does not take a user name and password")
    if credentials is not None:
        user, password = (c.encode("utf-8") for c in credentials)
        if not (0 < len(user) < 256 and len(password) < 256):
            raise VantageError("SOCKS5 user name and password must be 1-255 and 0-255 bytes long")
        writer.write(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
        await writer.drain()
        if (await asyncio.wait_for(reader.readexactly(2), timeout))[1] != 0:
            raise VantageError("SOCKS5 vantage refused the user name and password in CAPTURE_VANTAGES")
    try:
        ip = ipaddress.ip_address(host)
        address = (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
    except ValueError:  # a name: resolved at the vantage, as a reader there would
        name = host.encode("idna")
        address = b"\x03" + bytes([len(name)]) + name
    writer.write(b"\x05\x01\x00" + address + struct.pack(">H", port))
    await writer.drain()
    reply = await asyncio.wait_for(reader.readexactly(4), timeout)
    if reply[1] != 0:
        reasons = {1: "general failure", 2: "not allowed", 3: "network unreachable", 4: "host unreachable",
                   5: "connection refused", 6: "TTL expired", 7: "command not supported"}
        message = f"SOCKS5 vantage could not reach {host}:{port}: {reasons.get(reply[1], reply[1])}"
        if reply[1] in SOCKS5_FAILURES:
            raise UnreachableThere(SOCKS5_FAILURES[reply[1]], message)
        raise VantageError(message)
    skip = {1: 4, 4: 16}.get(reply[3])
    if skip is None:
        skip = (await asyncio.wait_for(reader.readexactly(1), timeout))[0]
    await asyncio.wait_for(reader.readexactly(skip + 2), timeout)
