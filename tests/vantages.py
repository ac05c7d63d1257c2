"""Stand-ins for vantage proxies, on loopback: one that answers every page with a national
blockpage (as a censoring provider does), a plain SOCKS5 tunnel, one that resets or hangs up at a
TLS ClientHello naming a blocked host, one that refuses CONNECT with a given status, and tunnels
that want a user name and password (HTTP CONNECT with Basic Proxy-Authorization; SOCKS5 with RFC 1929)."""
from __future__ import annotations

import base64
import socket
import socketserver
import struct
import threading

BLOCKPAGE = ("<html><head><meta charset='utf-8'><title>Доступ ограничен</title></head><body>"
             "<h1>Доступ к информационному ресурсу ограничен</h1><p>Доступ к информационному ресурсу "
             "ограничен на основании Федерального закона от 27 июля 2006 г. № 149-ФЗ.</p></body></html>").encode()


def _pump(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class BlockpageHandler(socketserver.StreamRequestHandler):
    """Accepts CONNECT, then answers whatever is asked inside with the blockpage."""

    def handle(self):
        line = self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        self.server.connects.append(line.split()[1].decode())
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        while self.rfile.readline() not in (b"\r\n", b""):  # the tunnelled request's head
            pass
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BLOCKPAGE) + BLOCKPAGE)


# What the authenticating stand-ins accept.
USER, PASSWORD = "reader", "s3cret-pass"


def _tunnel(client: socket.socket, upstream: socket.socket) -> None:
    t = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    t.start()
    _pump(client, upstream)
    t.join(10)


def _exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        data += chunk
    return data


class AuthConnectHandler(socketserver.StreamRequestHandler):
    """HTTP CONNECT that answers 407 unless Basic credentials USER:PASSWORD come with it; then a real tunnel."""

    def handle(self):
        target = self.rfile.readline().split()[1].decode()
        headers = {}
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        given = headers.get("proxy-authorization")
        if given != "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
            self.server.refused.append(given)
            self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic realm=\"vantage\"\r\nContent-Length: 0\r\n\r\n")
            return
        self.server.connects.append(target)
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        _tunnel(self.request, upstream)


class Socks5Handler(socketserver.BaseRequestHandler):
    """SOCKS5, CONNECT only: a real tunnel to the target. No authentication, unless ``credentials``
    is set: then only username/password (RFC 1929) with exactly those."""

    credentials: tuple[str, str] | None = None

    def handle(self):
        s = self.request
        n = s.recv(2)[1]
        methods = _exactly(s, n)
        if self.credentials is None:
            s.sendall(b"\x05\x00")
        elif 2 not in methods:
            self.server.refused.append("no username/password method offered")
            s.sendall(b"\x05\xff")
            return
        else:
            s.sendall(b"\x05\x02")
            _, ulen = _exactly(s, 2)
            user = _exactly(s, ulen).decode()
            password = _exactly(s, _exactly(s, 1)[0]).decode()
            if (user, password) != self.credentials:
                self.server.refused.append(f"{user}:{password}")
                s.sendall(b"\x01\x01")
                return
            s.sendall(b"\x01\x00")
        ver, cmd, _, atyp = s.recv(4)
        if atyp == 1:
            host = socket.inet_ntoa(s.recv(4))
        elif atyp == 3:
            host = s.recv(s.recv(1)[0]).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, s.recv(16))
        port = struct.unpack(">H", s.recv(2))[0]
        self.server.connects.append(f"{host}:{port}")
        try:
            upstream = socket.create_connection((host, port), timeout=10)
        except OSError:
            s.sendall(b"\x05\x05\x00\x01" + b"\x00" * 6)
            return
        s.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", 0))
        _tunnel(s, upstream)


class Socks5AuthHandler(Socks5Handler):
    credentials = (USER, PASSWORD)


def start(handler, **attributes) -> _Server:
    """A vantage stand-in on a free port; ``attributes`` are what its handler reads
    (blocked_names and action, answer)."""
    server = _Server(("127.0.0.1", 0), handler)
    server.connects, server.hellos = [], []
    server.refused = []  # what credentials were turned away (None: none were sent)
    for key, value in attributes.items():
        setattr(server, key, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def server_name(hello: bytes) -> str | None:
    """The SNI host name in a TLS ClientHello record, as a censor's middlebox reads it."""
    try:
        if hello[0] != 0x16 or hello[5] != 0x01:
            return None
        at = 9 + 2 + 32  # record header, handshake header, client version, random
        at += 1 + hello[at]  # session id
        at += 2 + int.from_bytes(hello[at:at + 2], "big")  # cipher suites
        at += 1 + hello[at]  # compression methods
        end = at + 2 + int.from_bytes(hello[at:at + 2], "big")
        at += 2
        while at + 4 <= end:
            kind, size = int.from_bytes(hello[at:at + 2], "big"), int.from_bytes(hello[at + 2:at + 4], "big")
            if kind == 0:  # server_name: list length, name type, name length, name
                return hello[at + 9:at + 9 + int.from_bytes(hello[at + 7:at + 9], "big")].decode("ascii")
            at += 4 + size
    except (IndexError, UnicodeDecodeError):
        return None
    return None


def _read_connect(s: socket.socket) -> str:
    head = b""
    while b"\r\n\r\n" not in head:
        data = s.recv(4096)
        if not data:
            raise ConnectionError("client left before its CONNECT head ended")
        head += data
    return head.split(b"\r\n", 1)[0].split()[1].decode()


class SniFilterHandler(socketserver.BaseRequestHandler):
    """A provider that blocks HTTPS by the server name: accepts CONNECT, reads the ClientHello, and
    for a name in ``server.blocked_names`` resets the connection (``server.action = "reset"``) or
    hangs up without a word (``"close"``); other names are tunnelled to the target."""

    def handle(self):
        s = self.request
        target = _read_connect(s)
        self.server.connects.append(target)
        s.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        hello = s.recv(65536)
        name = server_name(hello)
        self.server.hellos.append(name)
        if name in self.server.blocked_names:
            if self.server.action == "reset":  # RST, not FIN: linger 0, then close
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                s.shutdown(socket.SHUT_RDWR)
            s.close()
            return
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=10)
        upstream.sendall(hello)
        t = threading.Thread(target=_pump, args=(upstream, s), daemon=True)
        t.start()
        _pump(s, upstream)
        t.join(10)


class RefusingHandler(socketserver.BaseRequestHandler):
    """Answers every CONNECT with ``server.answer`` (a status line): 502/503 as a proxy whose
    resolver does not know the name, 407/403 as a proxy refusing us."""

    def handle(self):
        s = self.request
        self.server.connects.append(_read_connect(s))
        body = b"<html><body>ERR_DNS_FAIL</body></html>"
        s.sendall(self.server.answer.encode() + b"\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n" % len(body) + body)



class Socks5ReplyHandler(socketserver.BaseRequestHandler):
    """SOCKS5 that answers every CONNECT with the reply code ``server.reply`` (RFC 1928): 4 "host
    unreachable" as a vantage whose resolver does not know the name, 2 "not allowed" as one refusing us."""

    def handle(self):
        s = self.request
        s.recv(s.recv(2)[1])  # greeting: version and method count, then the methods
        s.sendall(b"\x05\x00")
        request = s.recv(512)  # version, CONNECT, reserved, address type, address, port
        self.server.connects.append(request[5:5 + request[4]].decode() if request[3] == 3 else request[4:-2].hex())
        s.sendall(b"\x05" + bytes([self.server.reply]) + b"\x00\x01" + b"\x00" * 6)
