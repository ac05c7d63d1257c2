"""Serving the fixture outlet (tests/outlet.py) as Chromium must reach it.

kloop.kg is on Chromium's HSTS preload list, so the browser asks for https:// whatever the link says.
The outlet serves plain HTTP; `serve_both` puts one port in front of it that speaks TLS (to the browser,
through the recording proxy) and plain HTTP (to robots.txt and sitemap reads) alike. Used by
tests/test_crawl.py and bench/crawl.py.
"""
from __future__ import annotations

import datetime
import socket
import ssl
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class EitherServer(ThreadingHTTPServer):
    """Plain HTTP and TLS on one port: a connection starting with a TLS handshake is wrapped."""

    daemon_threads = True
    context: ssl.SSLContext

    def finish_request(self, request, client_address):
        try:
            first = request.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first == b"\x16":
            try:
                request = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


def tls_context(tmp: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kloop.kg")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("kloop.kg"), x509.DNSName("ru.kloop.kg")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    pem = tmp / "outlet.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem)
    return ctx


def serve_both(outlet) -> tuple[EitherServer, str]:
    """A started EitherServer for ``outlet`` and the host rules that send its hosts there; shut it down after."""
    server = EitherServer(("127.0.0.1", 0), outlet.server.RequestHandlerClass)
    with tempfile.TemporaryDirectory() as tmp:
        server.context = tls_context(Path(tmp))
    threading.Thread(target=server.serve_forever, daemon=True, name="outlet-tls").start()
    port = server.server_address[1]
    return server, f"MAP {outlet.HOST} 127.0.0.1:{port}, MAP {outlet.SUBHOST} 127.0.0.1:{port}"
