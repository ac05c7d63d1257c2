"""A time-stamping authority on 127.0.0.1 for tests: real RFC 3161 replies made by `openssl ts -reply`.

The fixture makes a root CA and a TSA certificate (critical extended key usage timeStamping) with
``cryptography``, and serves HTTP POSTs of TimeStampReq bodies by handing them to openssl, which
signs the reply with the TSA key and puts the TSA certificate in it (only that one: rfc3161-client
wants a certificate set in DER order, which openssl does not sort). Only the few lines of
HTTP around openssl are ours: the tokens are what a real authority running OpenSSL would give.
``/refuse`` answers 503, for the error paths.
"""
from __future__ import annotations

import datetime
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OPENSSL = "/usr/bin/openssl"

CONFIG = """
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test TSA"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class TestTSA:
    url: str
    dir: Path
    ca_pem: Path  # the root, for `openssl ts -verify -CAfile`
    tsa_pem: Path  # the TSA certificate, for `-untrusted`
    replies: list[bytes]

    def openssl_verify(self, reply: bytes, data: bytes) -> subprocess.CompletedProcess:
        """`openssl ts -verify` of ``reply`` over ``data`` against the test CA."""
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "r.tsr").write_bytes(reply)
            (Path(tmp) / "data").write_bytes(data)
            return subprocess.run([OPENSSL, "ts", "-verify", "-in", f"{tmp}/r.tsr", "-data", f"{tmp}/data",
                                   "-CAfile", str(self.ca_pem), "-untrusted", str(self.tsa_pem)],
                                  capture_output=True, text=True, timeout=60)


def make_tsa_files(folder: Path) -> tuple[Path, Path, Path]:
    """A root CA and a TSA certificate under it, and openssl's TSA configuration using them."""
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    later = now + datetime.timedelta(days=30)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Test TSA Root")).issuer_name(_name("Test TSA Root"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(later)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = (x509.CertificateBuilder().subject_name(_name("Test TSA Unit")).issuer_name(ca.subject)
           .public_key(tsa_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now).not_valid_after(later)
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
           .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(_pem(ca))
    (folder / "tsa.pem").write_bytes(_pem(tsa))
    (folder / "tsa.key").write_bytes(_key_pem(tsa_key))
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(CONFIG.format(dir=folder))
    return folder / "ca.pem", folder / "tsa.pem", folder / "tsa.cnf"


@pytest.fixture(scope="session")
def tsa(tmp_path_factory) -> Iterator[TestTSA]:
    folder = tmp_path_factory.mktemp("tsa")
    ca_pem, tsa_pem, config = make_tsa_files(folder)
    replies: list[bytes] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/refuse":
                self.send_error(503, "test TSA refuses")
                return
            with lock, tempfile.TemporaryDirectory(dir=folder) as tmp:
                (Path(tmp) / "q.tsq").write_bytes(body)
                done = subprocess.run([OPENSSL, "ts", "-reply", "-config", str(config), "-queryfile",
                                       f"{tmp}/q.tsq", "-out", f"{tmp}/r.tsr"], capture_output=True, timeout=60)
                if done.returncode:
                    self.send_error(400, done.stderr.decode(errors="replace")[:200])
                    return
                reply = (Path(tmp) / "r.tsr").read_bytes()
            replies.append(reply)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield TestTSA(f"http://127.0.0.1:{server.server_port}/tsa", folder, ca_pem, tsa_pem, replies)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
