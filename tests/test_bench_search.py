"""bench/search.py at its smoke size, on the session's real engine: it runs, prints both engines
side by side, and the Elasticsearch backend finds as many matches as tantivy for every query."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.elastic import EsService

from .conftest import ROOT


def test_the_search_bench_runs_both_engines_at_smoke_size(es_service: EsService) -> None:
    env = dict(os.environ, ELASTICSEARCH_URL=es_service.url, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "bench/search.py", "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "indexing: ours" in out and "ratio ours/raw" in out  # tantivy beside raw tantivy
    assert f"elasticsearch: Elasticsearch at {es_service.url}" in out
    assert "ratio es/tantivy" in out and "ratio es/bare" in out
    assert "same number of matches as tantivy: 20 of 20 queries" in out
