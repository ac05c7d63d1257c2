"""A quiet takedown: an article dropped from the sitemap, feed and listings but still served is `dropped`
in a comparison, beside a removed and a changed one. A small crawl (four articles, by --include) of its
own outlet, so the big crawl of tests/test_crawl.py keeps its site as it was."""
from __future__ import annotations

import json
import os
import re

from .conftest import ALLOWED, ROOT, run_cli
from .outlet import Outlet


def cli_json(env: dict, *args: str) -> dict:
    proc = run_cli(env, *args, "--json", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_unlisted_article_is_dropped_deleted_removed_rewritten_changed(tmp_path):
    with Outlet() as outlet:
        env = dict(os.environ, ARCHIVE_HOME=str(tmp_path / "home"), CAPTURE_ALLOW_NETWORKS=ALLOWED,
                   CAPTURE_HOST_RULES=outlet.host_rules, CAPTURE_TIMEOUT="30", CAPTURE_SETTLE_TIMEOUT="2",
                   PYTHONPATH=str(ROOT))
        articles = sorted(outlet.host_articles())[:4]
        only = "(" + "|".join(re.escape(a.split(outlet.HOST, 1)[1]) for a in articles) + ")$"
        first = cli_json(env, "crawl", "start", outlet.url("/"), "--host-delay", "0", "--include", only, "--wait")
        assert (first["state"], first["pages"]) == ("done", 4)
        outlet.unlist(articles[0])
        outlet.delete(articles[1], "home")
        outlet.rewrite(articles[2])
        second = cli_json(env, "crawl", "recrawl", str(first["id"]), "--wait")
        result = cli_json(env, "crawl", "compare", str(first["id"]), str(second["id"]))
    assert (result["dropped"], result["removed"], result["changed"]) == ([articles[0]], [articles[1]], [articles[2]])
    assert (result["unchanged"], result["added"], result["unvisited"]) == (1, [], [])
