"""Shared fixtures: a fixture site on loopback, a second 'private' host, settings for both."""
from __future__ import annotations

import datetime
import os
import socket
import ssl
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from archive.replay.origin import missing_replay_assets
from archive.settings import Settings

from .sites import DATA, FixtureSite, send

pytest_plugins = [
    "tests.webapp",  # fixtures for the web app: web_settings, archive_builder, web_server
    "tests.corpus",  # captured_corpus: the whole shared corpus captured once per session
    "tests.elastic",  # es_service (a real OpenSearch node, or ELASTICSEARCH_URL), es_alias, es_backend
    "tests.outlet",  # outlet: a realistic news outlet (kloop.kg, ru.kloop.kg) for whole-site crawls
    "tests.postgres",  # postgres_url (a real PostgreSQL server), catalog_engine/database_url: both catalog engines
]

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = "127.0.0.1/32"  # the fixture site; 127.0.0.2 stands for a private address


@pytest.fixture(scope="session")
def private_site():
    """A server on 127.0.0.2: captures must never reach it."""
    with FixtureSite(DATA / "site", host="127.0.0.2") as site:
        site.routes["/secret"] = lambda h: send(h, 200, b"<title>internal</title>secret admin panel")
        yield site


@pytest.fixture(scope="session")
def site(private_site):
    """The fixture news site as http://news.example.com (and hostile routes)."""
    with FixtureSite(DATA / "site") as s:
        private = "http://intranet.example/secret"
        s.routes["/redirect-private"] = lambda h: send(h, 302, b"", headers={"Location": private})
        s.routes["/fetch-private.html"] = lambda h: send(h, 200, (
            "<html><head><title>Script fetches private</title></head><body><p>hello</p><script>"
            f"fetch('{private}').catch(function(){{}}); var i = new Image(); i.src = 'http://intranet.example/pixel.png';"
            "</script></body></html>").encode())
        yield s


@pytest.fixture(scope="session")
def host_rules(site, private_site):
    return ", ".join([site.rule("news.example.com"), site.rule("www.news.example.com"),
                      private_site.rule("intranet.example")])


@pytest.fixture(scope="session")
def replay_viewer() -> None:
    """Replay in a browser needs replayweb.page (`make setup`): without it, fail at once saying so,
    rather than wait a minute for a frame that never loads."""
    missing = missing_replay_assets(Settings.from_env())
    if missing:
        pytest.fail(missing, pytrace=False)


@pytest.fixture
def env(tmp_path, host_rules):
    """Environment for a test archive: its own ARCHIVE_HOME, the fixture hosts mapped."""
    e = dict(os.environ)
    e.update({
        "ARCHIVE_HOME": str(tmp_path / "home"),
        "CAPTURE_ALLOW_NETWORKS": ALLOWED,
        "CAPTURE_HOST_RULES": host_rules,
        "CAPTURE_TIMEOUT": "30",
        "CAPTURE_SETTLE_TIMEOUT": "3",
        "PYTHONPATH": str(ROOT),
        "REPLAY_PORT": str(free_port()),  # `serve` starts the replay origin; never clash with a running one
    })
    return e


@pytest.fixture(scope="module")
def chromium():
    """The system Chromium through Playwright, for tests of what a visitor's browser does."""
    from playwright.sync_api import sync_playwright

    from crawler.browser import find_chromium, launch_args

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=launch_args())
        yield browser
        browser.close()


@pytest.fixture
def settings(env) -> Settings:
    return Settings.from_env(env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(env: dict, *args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    """Run `python -m archive ARGS` as a user would (``input``: what is typed on stdin)."""
    return subprocess.run([sys.executable, "-m", "archive", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, input=input)


def warcio_check(paths) -> str:
    """Run warcio's own `warcio check -v` on WARC files; fail the test if it complains."""
    paths = [str(p) for p in paths]
    assert paths, "no WARC files to check"
    proc = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v", *paths],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="session")
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
