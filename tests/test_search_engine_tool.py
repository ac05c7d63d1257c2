"""`make search-engine` (tools/search_engine.py serve): the real engine in the foreground, whose
printed ELASTICSEARCH_URL the archive uses as it is, to capture a page and find it."""
from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading

from .conftest import ROOT, free_port, run_cli

START_DEADLINE = 300  # seconds: a cold JVM on a loaded 2-core machine


def test_the_printed_url_is_used_as_it_is_to_capture_and_find_a_page(env, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "tools/search_engine.py", "serve", "--port", str(port),
                                 "--home", str(tmp_path / "engine")], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def read_all() -> None:  # every line, to the end: the pipe never fills
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    try:
        try:
            first = lines.get(timeout=START_DEADLINE)
        except queue.Empty:
            first = "(nothing within the deadline)"
        assert first == f"ELASTICSEARCH_URL=http://127.0.0.1:{port}\n", f"{first!r}; {log}:\n{log.read_text()}"
        es_env = dict(env, SEARCH_BACKEND="elasticsearch", ELASTICSEARCH_URL=first.strip().split("=", 1)[1])
        captured = run_cli(es_env, "capture", "http://news.example.com/", "--json")
        assert captured.returncode == 0, captured.stderr
        capture_id = json.loads(captured.stdout)["id"]
        found = run_cli(es_env, "search", "appeal district court", "--json")
        assert found.returncode == 0, found.stderr
        assert [str(hit["id"]) for hit in json.loads(found.stdout)["hits"]][:1] == [str(capture_id)]
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C, as a person stops it
        proc.wait(timeout=120)
        reader.join(timeout=10)
    assert proc.returncode == 0, log.read_text()
