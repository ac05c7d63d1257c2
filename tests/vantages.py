"""Stand-ins for vantage proxies, on loopback: one that answers every page with a national
blockpage (as a censoring provider does), and a plain SOCKS5 tunnel."""
from __future__ import annotations

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


class Socks5Handler(socketserver.BaseRequestHandler):
    """SOCKS5, no authentication, CONNECT only: a real tunnel to the target."""

    def handle(self):
        s = self.request
        n = s.recv(2)[1]
        s.recv(n)
        s.sendall(b"\x05\x00")
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
        t = threading.Thread(target=_pump, args=(upstream, s), daemon=True)
        t.start()
        _pump(s, upstream)
        t.join(10)


def start(handler) -> _Server:
    server = _Server(("127.0.0.1", 0), handler)
    server.connects = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
