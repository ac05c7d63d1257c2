"""Vantage proxies that want a user name and password (issue 23, point 7): a real capture through an
HTTP CONNECT proxy that checks Basic Proxy-Authorization and through a SOCKS5 server that checks
RFC 1929 username/password; wrong credentials are a clear error naming the vantage; the password is
never printed, logged or archived."""
from __future__ import annotations

import gzip
import json

import pytest

from archive.settings import SettingError, Settings
from crawler.vantage import parse_vantages

from . import vantages
from .conftest import run_cli

SECRET = vantages.PASSWORD


@pytest.fixture(scope="module")
def auth_proxies():
    connect, socks = vantages.start(vantages.AuthConnectHandler), vantages.start(vantages.Socks5AuthHandler)
    yield connect, socks
    for server in (connect, socks):
        server.shutdown()


@pytest.fixture
def auth_env(env, auth_proxies):
    connect, socks = (f"127.0.0.1:{s.server_address[1]}" for s in auth_proxies)
    user = vantages.USER
    return dict(env, CAPTURE_VANTAGES=", ".join([
        f"kg-http=KG=http://{user}:{SECRET}@{connect}", f"kz-socks=KZ=socks5://{user}:{SECRET}@{socks}",
        f"kg-wrong=KG=http://{user}:not-it@{connect}", f"kz-wrong=KZ=socks5://{user}:not-it@{socks}",
        f"kg-none=KG=http://{connect}", f"kz-none=KZ=socks5://{socks}"]))


def capture(env, vantage: str):
    return run_cli(env, "capture", "http://news.example.com/", "--json", "--vantage", vantage)


def archived_bytes(settings: Settings) -> bytes:
    """Everything in the archive's WARC files and catalog, uncompressed."""
    out = b""
    for path in sorted(settings.warc_dir.glob("*.warc.gz*")):
        with gzip.open(path) as fh:
            out += fh.read()
    return out + settings.catalog_path.read_bytes()


@pytest.mark.parametrize("vantage, server", [("kg-http", 0), ("kz-socks", 1)])
def test_a_capture_goes_through_a_vantage_that_wants_credentials(auth_env, auth_proxies, site, vantage, server):
    proc = capture(auth_env, vantage)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["vantage"] == vantage and out["title"] == "Court upholds order to block independent outlet"
    assert f"127.0.0.1:{site.port}" in auth_proxies[server].connects
    settings = Settings.from_env(auth_env)
    assert SECRET.encode() not in archived_bytes(settings)  # the provenance names the proxy without it
    assert f"http://127.0.0.1:{auth_proxies[server].server_address[1]}".encode() in archived_bytes(settings) \
        or f"socks5://127.0.0.1:{auth_proxies[server].server_address[1]}".encode() in archived_bytes(settings)
    assert SECRET not in proc.stdout + proc.stderr


@pytest.mark.parametrize("vantage, says", [
    ("kg-wrong", "kg-wrong: vantage proxy refused the user name and password in CAPTURE_VANTAGES"),
    ("kz-wrong", "kz-wrong: SOCKS5 vantage refused the user name and password in CAPTURE_VANTAGES"),
    ("kg-none", "kg-none: vantage proxy asks for a user name and password"),
    ("kz-none", "kz-none: SOCKS5 vantage refused: it wants a user name and password"),
])
def test_wrong_or_missing_credentials_are_a_clear_error_naming_the_vantage(auth_env, auth_proxies, vantage, says):
    refused_before = sum(len(s.refused) for s in auth_proxies)
    proc = capture(auth_env, vantage)
    assert proc.returncode != 0
    assert says in proc.stderr, proc.stderr
    assert "not-it" not in proc.stderr and SECRET not in proc.stderr
    assert sum(len(s.refused) for s in auth_proxies) > refused_before  # the proxy did turn them away


def test_settings_never_show_the_password(auth_env):
    proc = run_cli(auth_env, "settings")
    assert proc.returncode == 0, proc.stderr
    line = next(t for t in proc.stdout.splitlines() if t.startswith("CAPTURE_VANTAGES="))
    assert f"kg-http=KG=http://{vantages.USER}:***@127.0.0.1:" in line
    assert SECRET not in proc.stdout and "not-it" not in proc.stdout
    settings = Settings.from_env(auth_env)
    assert SECRET not in repr(settings) and SECRET not in repr(settings.capture_vantages)
    # Other secrets are masked too, and a bad value's error does not repeat its password.
    shown = Settings.from_env({"SECRET_KEY": "k" * 40, "ELASTICSEARCH_PASSWORD": "espw-123",
                               "ELASTICSEARCH_URL": "https://elastic:espw-456@es.example:9200"})
    assert not any(s in repr(shown) for s in ("k" * 40, "espw-123", "espw-456"))
    with pytest.raises(SettingError) as bad:
        Settings.from_env({"CAPTURE_VANTAGES": f"kg=KG=ftp://{vantages.USER}:{SECRET}@10.0.0.5:21"})
    assert SECRET not in str(bad.value) and "***" in str(bad.value)


def test_credentials_are_percent_decoded():
    (vantage,) = parse_vantages("kg=KG=socks5://r%C3%A9ader:p%40ss%3Aword@10.0.0.5:1080").values()
    assert vantage.credentials == ("réader", "p@ss:word")
    assert vantage.describe()["proxy"] == "socks5://10.0.0.5:1080"
    assert "p%40ss" not in repr(vantage)
