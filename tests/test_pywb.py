"""Round trip with pywb, the reference replay tool: our WARCs indexed by `wb-manager add` and served by
`wayback`, every page found by URL (its CDX lists exactly our captures of it, nothing else) and by
date (the bytes pywb returns are the page's, by its SHA-256).

pywb runs from its own virtualenv, ``.pywb-venv`` (made by `make setup`, or here if missing, from
tests/pywb-requirements.txt): it pins older dependencies than ours.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from archive import catalog

from .conftest import ROOT, free_port, run_cli

PYWB_VENV = ROOT / ".pywb-venv"
PAGES = ("http://news.example.com/", "http://news.example.com/gallery.html", "http://news.example.com/")


@pytest.fixture(scope="session")
def pywb_bin() -> Path:
    """The pywb virtualenv's bin/, installed if it is not there yet."""
    bin_dir = PYWB_VENV / "bin"
    if not (bin_dir / "wayback").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PYWB_VENV)], check=True, timeout=300)
        proc = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               "-r", str(ROOT / "tests" / "pywb-requirements.txt")],
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            pytest.fail(f"cannot install pywb into {PYWB_VENV} (run `make setup` with PyPI reachable):\n"
                        f"{proc.stderr[-2000:]}")
    return bin_dir


def _wait_for(url: str, log: Path, process: subprocess.Popen, deadline_s: float = 90) -> None:
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"wayback exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=5).status_code < 500:
                return
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.2)  # polling a server that is starting: there is nothing to wait on but its port
    pytest.fail(f"wayback did not answer {url} within {deadline_s}s (last: {last}):\n{log.read_text()[-3000:]}")


def _stamp(warc_date: str) -> str:
    return "".join(c for c in warc_date if c.isdigit())[:14]


def test_pywb_indexes_and_replays_our_captures(env, settings, tmp_path, pywb_bin):
    for url in PAGES:
        proc = run_cli(env, "capture", url, "--json", timeout=240)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    warcs = sorted(settings.warc_dir.glob("*.warc.gz"))
    assert warcs and not list(settings.warc_dir.glob("*.open"))
    db = catalog.connect(settings.catalog_path)
    captures = []
    for row in db.execute("SELECT id, url, sha256 FROM captures ORDER BY id"):
        main = catalog.get_records(db, row["id"], role="main")[0]
        captures.append((row["url"], _stamp(main.warc_date), row["sha256"]))
    db.close()
    assert [url for url, _, _ in captures] == list(PAGES)

    root = tmp_path / "pywb"
    root.mkdir()
    for args in (["init", "ours"], ["add", "ours", *map(str, warcs)]):
        done = subprocess.run([str(pywb_bin / "wb-manager"), *args], cwd=root, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    log = root / "wayback.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([str(pywb_bin / "wayback"), "-p", str(port), "-b", "127.0.0.1"], cwd=root,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}/ours"
        _wait_for(f"{base}/cdx?url=http://news.example.com/&output=json", log, server)
        for url in dict.fromkeys(PAGES):
            ours = sorted((stamp, sha) for u, stamp, sha in captures if u == url)
            lines = requests.get(f"{base}/cdx", params={"url": url, "output": "json"}, timeout=30).text.splitlines()
            listed = [json.loads(line) for line in lines if line.strip()]
            # Exactly our captures of the page: no provenance record listed as another capture of it.
            assert sorted(entry["timestamp"] for entry in listed) == [stamp for stamp, _ in ours], listed
            assert {entry["mime"] for entry in listed} <= {"text/html", "warc/revisit"}, listed
            for stamp, sha256 in ours:
                replayed = requests.get(f"{base}/{stamp}id_/{url}", timeout=30)
                assert replayed.status_code == 200, (url, stamp, replayed.text[:500])
                assert hashlib.sha256(replayed.content).hexdigest() == sha256, (url, stamp)
            # By URL alone: pywb serves the capture nearest to the time asked for, here the latest.
            latest = requests.get(f"{base}/29991231235959id_/{url}", timeout=30)
            assert latest.status_code == 200 and hashlib.sha256(latest.content).hexdigest() == ours[-1][1]
            page = requests.get(f"{base}/{ours[0][0]}mp_/{url}", timeout=30)  # rewritten for replay, unframed
            assert page.status_code == 200 and b"<title>" in page.content
    finally:
        server.terminate()
        server.wait(timeout=30)
