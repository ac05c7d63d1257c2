"""Blocking seen through a vantage is evidence, not a vantage fault (issue 23, point 8).

Providers in Kyrgyzstan and Russia block HTTPS sites by resetting or silently closing the
connection once the TLS ClientHello names the host, or their resolvers do not know the name
(the vantage's proxy then answers CONNECT with 502/503). Each is kept as a capture from that
vantage with the outcome `unreachable` and its kind, and opens a removal event scoped to the
vantage's country when direct saw the page. Only a vantage that cannot be used at all is blamed.
"""
from __future__ import annotations

import json
import os

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive import catalog
from archive.capturing.worker import capture_now
from archive.settings import Settings
from archive.warc.store import pageinfo_uri
from crawler import CaptureFailed

from . import vantages
from .conftest import free_port, run_cli

URL = "https://kloop.kg/"
BLOCKING = [  # (vantage, the handler and how it behaves, expected kind)
    ("kg-reset", vantages.SniFilterHandler, {"blocked_names": {"kloop.kg"}, "action": "reset"}, "reset"),
    ("kg-close", vantages.SniFilterHandler, {"blocked_names": {"kloop.kg"}, "action": "close"}, "closed"),
    ("kg-dns502", vantages.RefusingHandler, {"answer": "HTTP/1.1 502 Bad Gateway"}, "dns"),
    ("kg-dns503", vantages.RefusingHandler, {"answer": "HTTP/1.1 503 Service Unavailable"}, "dns"),
    ("kg-socks-dns", vantages.Socks5ReplyHandler, {"reply": 4}, "dns"),  # SOCKS5 "host unreachable"
]


@pytest.fixture(scope="module")
def proxies():
    servers = {name: vantages.start(handler, **attrs) for name, handler, attrs, _ in BLOCKING}
    servers["kg-auth"] = vantages.start(vantages.RefusingHandler, answer="HTTP/1.1 407 Proxy Authentication Required")
    servers["kg-forbidden"] = vantages.start(vantages.RefusingHandler, answer="HTTP/1.1 403 Forbidden")
    servers["kg-open"] = vantages.start(vantages.SniFilterHandler, blocked_names={"blocked.example"}, action="reset")
    servers["kg-socks-refuses"] = vantages.start(vantages.Socks5ReplyHandler, reply=2)  # "not allowed": its own rule
    yield servers
    for server in servers.values():
        server.shutdown()


def vantage_setting(proxies) -> str:
    entries = [f"{name}=KG={'socks5' if 'socks' in name else 'http'}://127.0.0.1:{server.server_address[1]}"
               for name, server in proxies.items()]
    return ", ".join([*entries, f"kg-down=KG=http://127.0.0.1:{free_port()}"])  # nothing listens there


@pytest.fixture(scope="module")
def archive(tmp_path_factory, proxies, https_site):
    """kloop.kg captured directly (ok), then through each blocking vantage."""
    env = dict(os.environ, ARCHIVE_HOME=str(tmp_path_factory.mktemp("blocking")), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
               CAPTURE_HOST_RULES=https_site, CAPTURE_TIMEOUT="30", CAPTURE_SETTLE_TIMEOUT="2",
               CAPTURE_VANTAGES=vantage_setting(proxies))
    settings = Settings.from_env(env)
    direct = capture_now(settings, URL)
    rows = {name: capture_now(settings, URL, name) for name, *_ in BLOCKING}
    return env, settings, direct, rows


def test_direct_sees_the_page(archive):
    _, _, direct, _ = archive
    assert direct["outcome"] == "ok" and direct["status"] == 200


@pytest.mark.parametrize("name, kind", [(b[0], b[3]) for b in BLOCKING])
def test_blocking_is_an_unreachable_capture_from_that_vantage(archive, proxies, name, kind):
    _, settings, _, rows = archive
    row = rows[name]
    assert (row["vantage"], row["outcome"], row["status"]) == (name, "unreachable", None)
    assert row["evidence"]["kind"] == kind, row["evidence"]
    error = row["evidence"]["error"]
    assert "kloop.kg" in error and name in error and not error.rstrip().endswith(":"), error
    if kind in ("reset", "closed"):
        assert set(proxies[name].hellos) == {"kloop.kg"}  # it acted on the ClientHello's server name
    # The WARC keeps it too: the capture's provenance names the vantage and the failure.
    provenance = [json.loads(r.content_stream().read()) for p in sorted(settings.warc_dir.glob("*.warc.gz*"))
                  for r in ArchiveIterator(open(p, "rb"))
                  if r.rec_type == "metadata" and r.rec_headers.get_header("WARC-Target-URI") == pageinfo_uri(URL)]
    mine = [p for p in provenance if p["vantage"]["name"] == name]
    assert len(mine) == 1 and mine[0]["failure"]["kind"] == kind and mine[0]["vantage"]["country"] == "KG"


@pytest.mark.parametrize("name", [b[0] for b in BLOCKING])
def test_blocking_opens_an_event_scoped_to_the_vantage_country(archive, name):
    _, settings, direct, rows = archive
    db = catalog.connect(settings.catalog_path)
    events = [dict(e) for e in db.execute("SELECT * FROM removal_events WHERE vantage = ?", (name,))]
    assert len(events) == 1, events
    event = events[0]
    assert (event["scope"], event["country"], event["outcome"]) == ("country", "KG", "unreachable")
    assert (event["before_capture_id"], event["after_capture_id"]) == (direct["id"], rows[name]["id"])


def test_a_vantage_that_lets_the_name_through_is_not_blocking(archive):
    _, settings, _, _ = archive
    row = capture_now(settings, URL, "kg-open")
    assert row["outcome"] == "ok" and row["status"] == 200 and row["vantage"] == "kg-open"


@pytest.mark.parametrize("name, words", [
    ("kg-down", "cannot connect to its proxy 127.0.0.1:"),
    ("kg-auth", "407 Proxy Authentication Required"),
    ("kg-forbidden", "403 Forbidden"),
    ("kg-socks-refuses", "not allowed"),
])
def test_an_unusable_vantage_is_blamed_on_the_vantage(archive, name, words):
    env, settings, _, _ = archive
    db = catalog.connect(settings.catalog_path)
    before = db.execute("SELECT count(*) FROM captures").fetchone()[0]
    with pytest.raises(CaptureFailed) as failed:
        capture_now(settings, URL, name)
    message = str(failed.value)
    assert f"vantage {name}: " in message and words in message, message
    assert not failed.value.site_unreachable
    assert db.execute("SELECT count(*) FROM captures").fetchone()[0] == before  # nothing stored, no event
    if name == "kg-down":  # and the command says so, with the reason at the end
        proc = run_cli(env, "capture", URL, "--vantage", name)
        assert proc.returncode == 1 and "Connection refused" in proc.stderr, proc.stderr
