"""HTTPS pages are captured through the proxy's interception, with the server's TLS details kept."""
from __future__ import annotations

import json

from warcio.archiveiterator import ArchiveIterator

from .conftest import run_cli, warcio_check


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
