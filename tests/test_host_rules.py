"""CAPTURE_HOST_RULES in Chromium's form, wildcards included, applied by the recording proxy alone.

Given to Chromium as well, ``MAP * 127.0.0.1:<port>`` remapped the capture's own proxy address and
every capture failed with "no response was received". Rules the proxy cannot follow stop the
command with an error naming the rule, before anything is stored.
"""
from __future__ import annotations

import json

import pytest

from archive import catalog

from .conftest import run_cli


def test_a_wildcard_rule_captures_a_real_page(env, settings, site):
    hits = len(site.hits)
    proc = run_cli(dict(env, CAPTURE_HOST_RULES=f"MAP * 127.0.0.1:{site.port}"), "capture",
                   "http://news.example.com/", "--json", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    captured = json.loads(proc.stdout)
    assert captured["status"] == 200 and captured["title"] == "Court upholds order to block independent outlet"
    assert len(site.hits) > hits  # the page came from the fixture site, through the rule
    db = catalog.connect(settings.catalog_path)
    try:
        assert catalog.get_capture(db, captured["id"])["outcome"] == "ok"
    finally:
        db.close()


@pytest.mark.parametrize("rules, says", [
    ("MAP * 127.0.0.1:abc", "has port 'abc'; a port is a number from 1 to 65535"),
    ("MAP * 127.0.0.1:70000", "has port '70000'"),
    ("MAP *.example.com ~NOTFOUND", "maps to '~NOTFOUND', which is not a host or address"),
    ("MAP news.example.com *.example.org", "which is not a host or address"),
    ("REDIRECT * 127.0.0.1", "cannot read rule 'REDIRECT * 127.0.0.1'"),
])
def test_rules_that_cannot_work_are_refused_before_anything_is_stored(env, settings, rules, says):
    proc = run_cli(dict(env, CAPTURE_HOST_RULES=rules), "capture", "http://news.example.com/")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: CAPTURE_HOST_RULES: ") and says in proc.stderr, proc.stderr
    assert not settings.archive_home.exists() or not settings.catalog_path.exists()
