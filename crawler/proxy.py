"""A recording HTTP(S) proxy between the browser and the web (the warcprox design).

Every exchange the page makes passes through here, so the proxy can
- check the address it actually connects to against the address policy, after
  DNS and after redirects (DNS may answer differently than at submission), and
- keep the request and response bytes exactly as exchanged, for the WARC.
HTTPS is intercepted with certificates from ``certs.CertAuthority``.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import socket
import ssl
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from .certs import CertAuthority, describe_peer_certificate
from .httpwire import CHUNK, MAX_HEAD, Exchange, ProxyError, header_value, parse_head, pipe, read_head
from .media import is_media
from .netpolicy import HostRules, address_problem
from .vantage import UnreachableThere, Vantage, VantageError, open_through, os_reason


@functools.cache
def upstream_tls_context() -> ssl.SSLContext:
    """The client TLS context for real servers; built once, as loading CA paths is slow.

    An archive records what a server sent, valid certificate or not; the
    certificate's details go into the provenance record instead.
    """
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


# Hop-by-hop headers the browser addressed to this proxy; the upstream gets its own Connection.
HOP_HEADERS = ("proxy-connection", "proxy-authorization", "connection", "keep-alive")


def upstream_request_head(method: str, path: str, headers) -> tuple[bytes, bool]:
    """The request head sent upstream (and recorded), and whether it asks for a WebSocket upgrade."""
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{key}: {value}" for key, value in headers if key.lower() not in HOP_HEADERS]
    upgrade = (header_value(headers, "upgrade") or "").lower() == "websocket"
    lines.append("Connection: Upgrade" if upgrade else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), upgrade


class RecordingProxy:
    """One proxy per capture: records its exchanges and the requests it refused."""

    def __init__(self, *, allow=(), host_rules: HostRules | None = None, ca: CertAuthority | None = None,
                 max_resource_bytes: int = 50_000_000, max_total_bytes: int = 200_000_000,
                 connect_timeout: float = 15, read_timeout: float = 30, vantage: Vantage | None = None,
                 max_media_bytes: int | None = None):
        self.allow = tuple(allow)
        self.rules = host_rules or HostRules()
        self.ca = ca or CertAuthority()
        self.max_resource_bytes = max_resource_bytes
        self.max_total_bytes = max_total_bytes
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.exchanges: list[Exchange] = []
        self.blocked: list[dict] = []
        self.failed: list[dict] = []
        self.limits_hit: list[str] = []
        self.total_bytes = 0
        self.max_media_bytes = max_media_bytes  # CAPTURE_MEDIA_MAX_BYTES (crawler.media); None: no own limit
        self.media_bytes = 0
        self.media_limit_reached = False
        self._dns: dict[str, asyncio.Future] = {}
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.vantage = vantage
        self.inflight = 0
        self.last_activity = time.monotonic()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0, limit=MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        """Stop accepting and cut exchanges still running (they are kept, marked truncated)."""
        if self._server:
            self._server.close()
        for task in [*self._tasks, *self._dns.values()]:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_quiet(self, quiet: float, timeout: float) -> bool:
        """Wait until no exchange has been running for ``quiet`` seconds; False after ``timeout``."""
        end = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if self.inflight == 0 and now - self.last_activity >= quiet:
                return True
            if now >= end:
                return False
            await asyncio.sleep(0.05)

    def _limit(self, reason: str) -> None:
        if reason not in self.limits_hit:
            self.limits_hit.append(reason)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, ProxyError, OSError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        first, headers = parse_head(head)
        if first[0].upper() == "CONNECT":
            host, _, port = first[1].rpartition(":")
            host = host.strip("[]")
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await writer.start_tls(self.ca.context_for(host))
            origin = ("https", host, int(port or 443))
            head = None
        else:
            origin = None
        while True:
            if head is None:
                try:
                    head = await read_head(reader)
                except asyncio.IncompleteReadError:
                    return
            keep = await self._exchange(head, reader, writer, origin)
            head = None
            if not keep:
                return

    async def _exchange(self, head: bytes, reader, writer, origin) -> bool:
        self.inflight += 1
        self.last_activity = time.monotonic()
        try:
            return await self._exchange_counted(head, reader, writer, origin)
        finally:
            self.inflight -= 1
            self.last_activity = time.monotonic()

    async def _exchange_counted(self, head: bytes, reader, writer, origin) -> bool:
        """One request from the browser: its target, its body, the upstream connection, the exchange."""
        (method, target, *_), headers = parse_head(head)
        where = self._target(target, headers, origin)
        if where is None:
            await self._reply(writer, 400, f"proxy cannot fetch {target}")
            return False
        scheme, host, port, path, url = where
        body = await self._request_body(headers, reader)
        started = datetime.now(UTC)
        try:
            up_reader, up_writer, ip, tls = await self._connect(url, host, port, scheme == "https")
        except ProxyError as exc:
            await self._refuse(writer, url, exc, started)
            return True
        request_head, upgrade = upstream_request_head(method, path, headers)
        ex = Exchange(url=url, method=method, started=started, ip=ip, request_head=request_head,
                      request_body=body, tls=tls)
        try:
            up_writer.write(request_head + body)
            await up_writer.drain()
            return await self._relay_response(ex, up_reader, writer, method, upgrade, reader, up_writer)
        except asyncio.CancelledError:
            ex.truncated = ex.truncated or "time"
            raise
        except ProxyError as exc:  # the reply could not be read as HTTP ("protocol"): the site's failure
            if not ex.response_head:
                self.failed.append({"url": url, "kind": exc.kind, "error": str(exc), "time": started.isoformat()})
                with contextlib.suppress(Exception):
                    await self._reply(writer, 502, f"{exc.kind}: {exc}")
                return False
            ex.truncated = ex.truncated or "disconnect"
            return False
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError) as exc:
            await self._cut_short(ex, writer, "reset", f"connection lost: {os_reason(exc)}", 502,
                                  f"reset: {os_reason(exc)}", "disconnect")
            return False
        except TimeoutError:
            await self._cut_short(ex, writer, "timeout", "server did not answer in time", 504, "timeout", "time")
            return False
        finally:
            up_writer.close()
            if ex.response_head:
                self.exchanges.append(ex)

    @staticmethod
    def _target(target: str, headers, origin) -> tuple[str, str, int, str, str] | None:
        """(scheme, host, port, path, url) of a request: inside a CONNECT tunnel to ``origin``, or an
        absolute http URL; None for anything else."""
        if origin:
            scheme, host, port = origin
            netloc = header_value(headers, "host") or (host if port == 443 else f"{host}:{port}")
            return scheme, host, port, target, f"https://{netloc}{target}"
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            return None
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return "http", parts.hostname, parts.port or 80, path, target.split("#")[0]

    async def _request_body(self, headers, reader) -> bytes:
        length = header_value(headers, "content-length")
        if length and length.isdigit():
            return await reader.readexactly(int(length))
        if (header_value(headers, "transfer-encoding") or "").lower() == "chunked":
            return await self._read_chunked(reader, None, lambda data: None)
        return b""

    async def _refuse(self, writer, url: str, exc: ProxyError, started: datetime) -> None:
        """No upstream connection: a blocked address (403, listed as blocked) or a failure (502, listed as failed)."""
        if exc.kind == "blocked":
            self.blocked.append({"url": url, "reason": str(exc), "time": started.isoformat()})
            await self._reply(writer, 403, f"Blocked by the archive: {exc}", blocked=str(exc))
        else:
            self.failed.append({"url": url, "kind": exc.kind, "error": str(exc), "time": started.isoformat()})
            await self._reply(writer, 502, f"{exc.kind}: {exc}")

    async def _cut_short(self, ex: Exchange, writer, kind: str, error: str, status: int, reply: str,
                         truncated: str) -> None:
        """The upstream failed: before any answer it is a failure (and the browser gets ``status``);
        after one, the response is kept, marked truncated."""
        if ex.response_head:
            ex.truncated = ex.truncated or truncated
            return
        self.failed.append({"url": ex.url, "kind": kind, "error": error, "time": ex.started.isoformat()})
        with contextlib.suppress(Exception):
            await self._reply(writer, status, reply)

    async def _relay_response(self, ex: Exchange, up_reader, writer, method, upgrade, reader, up_writer) -> bool:
        while True:
            head = await asyncio.wait_for(read_head(up_reader), self.read_timeout)
            status_line, headers = parse_head(head)
            status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
            if 100 <= status < 200 and status != 101:
                continue  # interim responses are not recorded
            break
        ex.response_head, ex.status = head, status
        ex.media = is_media(ex.url, header_value(headers, "content-type"))
        writer.write(head)
        if status == 101 and upgrade:
            # A WebSocket: pass it through, unrecorded (WARC has no standard record for it).
            # An open socket is not page loading: do not let it keep the capture from settling.
            self.inflight -= 1
            await writer.drain()
            try:
                await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)
            finally:
                self.inflight += 1  # balanced by _exchange
            return False

        def sink(data: bytes) -> None:
            writer.write(data)

        if method == "HEAD" or status in (204, 304):
            pass
        elif (header_value(headers, "transfer-encoding") or "").lower() == "chunked":
            await self._read_chunked(up_reader, ex, sink)
        elif (header_value(headers, "content-length") or "").isdigit():
            await self._copy(up_reader, ex, sink, int(header_value(headers, "content-length")))
        else:
            await self._copy(up_reader, ex, sink, None)
        await writer.drain()
        return not ex.truncated and "close" not in (header_value(headers, "connection") or "").lower()

    def _record(self, ex: Exchange | None, data: bytes) -> bool:
        """Keep ``data`` for the WARC; False once a limit says stop."""
        if ex is None:
            return True
        room = min(self.max_resource_bytes - ex.body_length, self.max_total_bytes - self.total_bytes)
        if ex.media and self.max_media_bytes is not None and len(data) > self.max_media_bytes - self.media_bytes:
            data = data[:max(self.max_media_bytes - self.media_bytes, 0)]
            ex.truncated = "length"
            self.media_limit_reached = True
        if len(data) > room:
            data = data[:max(room, 0)]
            ex.truncated = "length"
            if self.total_bytes + len(data) >= self.max_total_bytes:
                self._limit(f"capture reached its byte limit ({self.max_total_bytes} bytes)")
            else:
                self._limit(f"a resource reached the per-resource byte limit ({self.max_resource_bytes} bytes)")
        ex.body.write(data)
        ex.body_length += len(data)
        self.total_bytes += len(data)
        if ex.media:
            self.media_bytes += len(data)
        return ex.truncated is None

    async def _copy(self, up_reader, ex, sink, length: int | None) -> None:
        remaining = length
        while remaining is None or remaining > 0:
            want = CHUNK if remaining is None else min(CHUNK, remaining)
            data = await asyncio.wait_for(up_reader.read(want), self.read_timeout)
            if not data:
                if remaining:
                    ex.truncated = "disconnect"
                return
            if remaining is not None:
                remaining -= len(data)
            sink(data)
            if not self._record(ex, data):
                return

    async def _read_chunked(self, up_reader, ex, sink) -> bytes:
        """Relay a chunked body keeping its framing (the WARC stores it as sent)."""
        kept = bytearray()

        def take(data: bytes) -> bool:
            sink(data)
            if ex is None:
                kept.extend(data)
                return True
            return self._record(ex, data)

        while True:
            line = await asyncio.wait_for(up_reader.readuntil(b"\r\n"), self.read_timeout)
            if not take(line):
                return bytes(kept)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, then the final empty line
                    trailer = await asyncio.wait_for(up_reader.readuntil(b"\r\n"), self.read_timeout)
                    take(trailer)
                    if trailer == b"\r\n":
                        return bytes(kept)
            remaining = size + 2
            while remaining:
                data = await asyncio.wait_for(up_reader.read(min(CHUNK, remaining)), self.read_timeout)
                if not data:
                    if ex is not None:
                        ex.truncated = "disconnect"
                    return bytes(kept)
                remaining -= len(data)
                if not take(data):
                    return bytes(kept)

    async def _connect(self, url: str, host: str, port: int, tls: bool):
        """Resolve, check and connect to the exact address checked; check it again once connected."""
        target, port = self.rules.map(host, port)
        if self.vantage is not None:
            return await self._connect_through_vantage(host, target, port, tls)
        addrs = await self._resolve(target, host, port)
        problems = [p for p in (address_problem(ip, self.allow) for ip in addrs) if p]
        allowed = [ip for ip in addrs if address_problem(ip, self.allow) is None]
        if not allowed:
            raise ProxyError("blocked", f"{host} resolves to a {problems[0]}")
        ip = allowed[0]
        ctx = upstream_tls_context() if tls else None
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(str(ip), port, ssl=ctx, server_hostname=host if tls else None,
                                        limit=MAX_HEAD),
                self.connect_timeout)
        except TimeoutError as exc:
            raise ProxyError("timeout", f"connecting to {host} ({ip}) timed out") from exc
        except ssl.SSLError as exc:
            raise ProxyError("tls", f"TLS handshake with {host} failed: {exc.reason or exc}") from exc
        except ConnectionRefusedError as exc:
            raise ProxyError("refused", f"{host} ({ip}) refused the connection") from exc
        except OSError as exc:
            raise ProxyError("connect", f"cannot connect to {host} ({ip}): {exc.strerror or exc}") from exc
        peer = up_writer.get_extra_info("peername")
        peer_ip = ipaddress.ip_address(peer[0].split("%")[0])
        problem = address_problem(peer_ip, self.allow)
        if problem:  # the socket says where we really are; trust it over the lookup
            up_writer.close()
            raise ProxyError("blocked", f"{host} connected to a {problem}")
        tls_info = describe_peer_certificate(up_writer.get_extra_info("ssl_object")) if tls else None
        return up_reader, up_writer, str(peer_ip), tls_info

    async def _connect_through_vantage(self, host: str, target: str, port: int, tls: bool):
        """Connect via the vantage's proxy; the vantage resolves names, as a reader there would.

        A name that resolves here to a forbidden address is still refused: the
        policy protects this machine's network whatever the route.
        """
        try:
            addrs = await self._resolve(target, host, port)
        except ProxyError:
            addrs = []  # unknown here (perhaps only there): the vantage will say
        for ip in addrs:
            problem = address_problem(ip, self.allow)
            if problem:
                raise ProxyError("blocked", f"{host} resolves to a {problem}")
        name = self.vantage.name
        try:
            reader, writer = await open_through(self.vantage, target, port, self.connect_timeout)
        except UnreachableThere as exc:  # the vantage works; the site is what it cannot reach
            raise ProxyError(exc.kind, f"{host} from {name}: {exc}") from exc
        except VantageError as exc:
            raise ProxyError("vantage", f"vantage {name}: {exc}") from exc
        except TimeoutError as exc:
            raise ProxyError("timeout", f"connecting to {host} through {name} timed out") from exc
        except OSError as exc:
            raise ProxyError("vantage", f"vantage {name} unreachable: {os_reason(exc)}") from exc
        if tls:
            await self._start_tls_through(writer, host, name)
        tls_info = describe_peer_certificate(writer.get_extra_info("ssl_object")) if tls else None
        return reader, writer, "", tls_info  # the address is the vantage's business: WARC-IP-Address omitted

    async def _start_tls_through(self, writer, host: str, name: str) -> None:
        """The TLS start inside an open tunnel. The vantage answered, so a reset, a hang-up or
        silence now is the network there acting on the ClientHello's server name: the way
        providers block HTTPS sites, recorded as OONI does (connection_reset, eof_error,
        generic_timeout_error)."""
        try:
            await asyncio.wait_for(writer.start_tls(upstream_tls_context(), server_hostname=host),
                                   self.connect_timeout)
        except TimeoutError as exc:
            writer.close()
            raise ProxyError("timeout", f"TLS handshake with {host} from {name} got no answer within "
                                        f"{self.connect_timeout:g} s") from exc
        except ssl.SSLError as exc:
            writer.close()
            raise ProxyError("tls", f"TLS handshake with {host} from {name} failed: {exc.reason or exc}") from exc
        except (OSError, EOFError) as exc:
            writer.close()
            if getattr(exc, "errno", None) == errno.ECONNRESET:
                raise ProxyError("reset", f"TLS handshake with {host} from {name}: connection reset "
                                          f"({os_reason(exc)})") from exc
            raise ProxyError("closed", f"TLS handshake with {host} from {name}: connection closed without "
                                       "an answer") from exc

    async def _resolve(self, target: str, host: str, port: int) -> list:
        """Addresses for ``target``, looked up once per capture (failures too): a page may ask
        for one missing host a hundred times."""
        try:
            return [ipaddress.ip_address(target.strip("[]"))]
        except ValueError:
            pass
        if target not in self._dns:
            self._dns[target] = asyncio.ensure_future(self._lookup(target, host, port))
        result = await asyncio.shield(self._dns[target])
        if isinstance(result, ProxyError):
            raise ProxyError(result.kind, str(result))
        return result

    async def _lookup(self, target: str, host: str, port: int):
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(target, port, type=socket.SOCK_STREAM), self.connect_timeout)
        except socket.gaierror as exc:
            return ProxyError("dns", f"cannot resolve {host}: {exc.strerror}")
        except TimeoutError:
            return ProxyError("dns", f"DNS lookup for {host} timed out")
        return list(dict.fromkeys(ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos))

    async def _reply(self, writer, status: int, message: str, blocked: str | None = None) -> None:
        body = (message + "\n").encode("utf-8", "replace")
        reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 504: "Gateway Timeout"}[status]
        extra = f"X-Archive-Blocked: {blocked.encode('ascii', 'replace').decode()}\r\n" if blocked else ""
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     f"Content-Length: {len(body)}\r\n{extra}Cache-Control: no-store\r\n\r\n".encode() + body)
        await writer.drain()
