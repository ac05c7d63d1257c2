"""A site that cannot be reached is a finding, not a failed job: the capture is kept with its reason."""
from __future__ import annotations

import json

from warcio.archiveiterator import ArchiveIterator

from archive import catalog
from archive.capturing.worker import capture_now
from archive.settings import Settings
from archive.web import create_app

from .conftest import free_port, run_cli
from .statefulsite import StatefulNewsSite


def test_unresolvable_host_is_an_unreachable_capture(env):
    proc = run_cli(env, "capture", "http://no-such-host.invalid/article", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["outcome"] == "unreachable" and out["evidence"]["kind"] == "dns" and out["status"] is None
    settings = Settings.from_env(env)
    # The evidence is in the WARC too: a metadata record naming the DNS failure.
    metadata = [json.loads(r.content_stream().read()) for p in settings.warc_dir.glob("*.warc.gz*")
                for r in ArchiveIterator(open(p, "rb")) if r.rec_type == "metadata"]
    provenance = metadata[-1]
    assert provenance["failure"]["kind"] == "dns" and "no-such-host.invalid" in provenance["failure"]["error"]


def test_refused_connection_after_ok_opens_an_event(tmp_path, host_rules):
    import os

    closed = free_port()
    with StatefulNewsSite() as news:
        env = dict(os.environ, ARCHIVE_HOME=str(tmp_path / "home"), CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
                   CAPTURE_HOST_RULES=", ".join([host_rules, *news.host_rules()]), CAPTURE_SETTLE_TIMEOUT="2")
        first = capture_now(Settings.from_env(env), news.article_url)
    # The site is gone: its host now leads to a closed port.
    env["CAPTURE_HOST_RULES"] = f"MAP news.example.org 127.0.0.1:{closed}"
    settings = Settings.from_env(env)
    gone = capture_now(settings, news.article_url)
    assert first["outcome"] == "ok"
    assert gone["outcome"] == "unreachable" and gone["evidence"]["kind"] == "refused"
    db = catalog.connect(settings.catalog_path)
    event = db.execute("SELECT * FROM removal_events").fetchone()
    assert (event["before_capture_id"], event["after_capture_id"], event["outcome"]) == (
        first["id"], gone["id"], "unreachable")
    client = create_app(settings).test_client()
    page = client.get(f"/capture/{gone['id']}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "unreachable" in text.lower() and "refused" in text
    assert 'id="no-replay"' in text and 'id="replay"' not in text  # nothing was received to replay
    api = client.get(f"/api/captures/{gone['id']}").get_json()
    assert api["outcome"] == "unreachable" and api["status"] is None
