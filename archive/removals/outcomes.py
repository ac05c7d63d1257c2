"""What each capture says happened to its URL: its outcome, and the evidence for it.

The classifier itself (detect.classify) is pure; this module gives it what the
archive knows: the fingerprint files named in settings, and the main text of
the URL's last `ok` capture from the same vantage, read back from its WARC.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from archive.catalog import get_records
from archive.settings import Settings
from archive.warc.objects import warc_store
from archive.warc.store import WarcStoreError, read_payload
from detect import FingerprintSet, Observation, Outcome, classify

log = logging.getLogger("archive.outcomes")


class OutcomeJudge:
    """Classifies captures for one archive; loads the fingerprint files once, on first use."""

    def __init__(self, warc_dir: Path, fingerprint_paths: tuple = (), change_threshold: float = 0.8):
        self.warc_dir = warc_dir
        self.fingerprint_paths = tuple(fingerprint_paths)
        self.change_threshold = change_threshold
        self._fingerprints: FingerprintSet | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> OutcomeJudge:
        return cls(warc_store(settings), settings.fingerprints_path, settings.change_threshold)

    @property
    def fingerprints(self) -> FingerprintSet:
        with self._lock:
            if self._fingerprints is None:
                self._fingerprints, problems = FingerprintSet.load(self.fingerprint_paths)
                for problem in problems:
                    log.warning("fingerprint not used: %s", problem)
            return self._fingerprints

    def judge(self, db: sqlite3.Connection, observation: Observation, url: str, vantage: str) -> Outcome:
        previous = None
        if observation.status is not None and 200 <= observation.status < 300:
            previous = last_ok_text(db, self.warc_dir, url, vantage)
        return classify(observation, self.fingerprints, previous, self.change_threshold)


def last_ok_text(db: sqlite3.Connection, warc_dir: Path, url: str, vantage: str) -> str | None:
    """Main text of the URL's latest `ok` capture from ``vantage``; None if there is none (or it is unreadable)."""
    row = db.execute(
        "SELECT id FROM captures WHERE url = ? AND vantage = ? AND outcome = 'ok' ORDER BY captured_at DESC LIMIT 1",
        (url, vantage)).fetchone()
    if row is None:
        return None
    refs = get_records(db, row["id"], role="text")
    if not refs:
        return None
    try:
        return read_payload(warc_dir, refs[0]).decode("utf-8", errors="replace")
    except (OSError, WarcStoreError) as exc:
        log.warning("cannot read the text of capture %s to compare with: %s", row["id"], exc)
        return None
