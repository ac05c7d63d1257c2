"""The deployment recipe in deploy/: every process it starts is a real command, every setting it names is
one, and the scheduler runs as a process of its own."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from archive import catalog
from archive.capturing import jobs
from archive.cli import build_parser
from archive.settings import SETTINGS

from .conftest import ROOT, run_cli
from .waiting import wait_until

DEPLOY = ROOT / "deploy"
BOTO3_SETTINGS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}  # read by boto3 itself


def commands() -> dict[str, list[str]]:
    """What each unit and Procfile line runs: ``python -m archive`` and its arguments."""
    found = {}
    for unit in sorted(DEPLOY.glob("*.service")):
        (line,) = re.findall(r"^ExecStart=(.+)$", unit.read_text(), re.M)
        found[unit.name] = line.split()
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        found[f"Procfile {name}"] = command.split()
    return found


def test_every_process_is_a_real_command():
    found = commands()
    assert {"archive-web.service", "archive-worker@.service", "archive-scheduler.service",
            "Procfile web", "Procfile worker", "Procfile scheduler"} <= set(found)
    parser = build_parser()
    for where, argv in found.items():
        start = argv.index("archive")
        assert argv[start - 2].endswith("python") and argv[start - 1] == "-m", where
        args = [a if not a.startswith("${") else "8000" for a in argv[start + 1:]]
        parsed = parser.parse_args(args)  # exits (fails the test) on an unknown command or option
        assert parsed.command in ("serve", "worker", "scheduler"), where


def test_every_setting_named_is_a_setting():
    names = {s.name for s in SETTINGS}
    example = (DEPLOY / "archive.env.example").read_text()
    named = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, re.M))
    for unit in DEPLOY.glob("*.service"):
        named |= {n for n in re.findall(r"\b([A-Z][A-Z0-9_]+)=", unit.read_text()) if n != "HOME"}
    unknown = named - names - BOTO3_SETTINGS - {"DATABASE_URL"}  # DATABASE_URL: the PostgreSQL catalog's
    assert not unknown, f"deploy/ names settings archive/settings.py does not have: {sorted(unknown)}"
    assert {"WARC_STORE", "S3_ENDPOINT_URL", "SECRET_KEY", "RATE_LIMIT_STORAGE", "SEARCH_BACKEND"} <= named


def test_the_scheduler_process_queues_due_watches_and_stops_on_sigterm(tmp_path: Path):
    env = dict(os.environ, ARCHIVE_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    added = run_cli(env, "watch", "add", "https://kloop.kg/article", "--every", "1h")
    assert added.returncode == 0, added.stderr
    log = tmp_path / "scheduler.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "archive", "scheduler"], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        db = catalog.connect(tmp_path / "home" / "catalog.sqlite3")
        wait_until(lambda: jobs.counts(db).get("queued"), "the scheduler to queue the due watch",
                   seen=lambda: log.read_text(errors="replace")[-2000:])
        db.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
