"""HTTPS pages are captured through the proxy's interception, with the server's TLS details kept."""
from __future__ import annotations

import datetime
import json
import ssl
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from warcio.archiveiterator import ArchiveIterator

from .conftest import run_cli, warcio_check
from .sites import DATA


@pytest.fixture(scope="module")
def https_site(tmp_path_factory):
    """kloop.kg (HSTS-preloaded, so the browser only ever asks for https://) on 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kloop.kg")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("kloop.kg")]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = tmp_path_factory.mktemp("tls") / "site.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem)

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 lambda *a, **kw: Handler(*a, directory=str(DATA / "site"), **kw))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"MAP kloop.kg 127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_https_capture_records_tls_details(env, settings, https_site):
    env = dict(env, CAPTURE_HOST_RULES=https_site)
    proc = run_cli(env, "capture", "http://kloop.kg/", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["final_url"] == "https://kloop.kg/" and out["status"] == 200
    assert out["title"] == "Court upholds order to block independent outlet"
    warcs = sorted(settings.warc_dir.glob("*.warc.gz*"))
    warcio_check(warcs)
    uris, provenance = set(), None
    for path in warcs:
        for rec in ArchiveIterator(open(path, "rb")):
            uris.add(rec.rec_headers.get_header("WARC-Target-URI"))
            if rec.rec_type == "metadata":
                provenance = json.loads(rec.content_stream().read())
    assert {"https://kloop.kg/", "https://kloop.kg/static/style.css", "https://kloop.kg/api/live.json"} <= uris
    tls = provenance["tls"]
    assert tls["subject"] == "CN=kloop.kg" and tls["issuer"] == "CN=kloop.kg"
    assert tls["protocol"].startswith("TLS")
    assert tls["not_after"]
