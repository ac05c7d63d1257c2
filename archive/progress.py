"""A one-line progress bar on stderr for long jobs over WARC files: files, records, bytes, rate, ETA."""
from __future__ import annotations

import sys
import time
from typing import TextIO


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Bytes of ``total_bytes`` read so far, redrawn at most every ``every`` seconds.

    On a terminal the line is redrawn in place; otherwise (a log, a test) a line is printed
    each time, so a reader of the log still sees how far it got.
    """

    def __init__(self, label: str, total_files: int, total_bytes: int, done_bytes: int = 0,
                 stream: TextIO | None = None, every: float = 0.5):
        self.label = label
        self.total_files = total_files
        self.total_bytes = max(total_bytes, 1)
        self.stream = stream or sys.stderr
        self.every = every
        self.files = 0
        self.records = 0
        self.bytes = done_bytes
        self._resumed_at = done_bytes  # the rate counts only this run's bytes
        self._started = time.monotonic()
        self._drawn = 0.0
        self._tty = self.stream.isatty()
        self._last = ""

    def update(self, bytes_done: int | None = None, records: int = 0, files: int = 0) -> None:
        if bytes_done is not None:
            self.bytes = bytes_done
        self.records += records
        self.files += files
        now = time.monotonic()
        if now - self._drawn >= self.every:
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float, end: str | None = None) -> None:
        elapsed = max(now - self._started, 1e-6)
        rate = (self.bytes - self._resumed_at) / elapsed
        left = (self.total_bytes - self.bytes) / rate if rate > 0 else 0
        share = min(self.bytes / self.total_bytes, 1.0)
        bar = "#" * int(share * 20)
        line = (f"{self.label} [{bar:<20}] {share:4.0%} files {self.files}/{self.total_files} "
                f"records {self.records} {_size(self.bytes)}/{_size(self.total_bytes)} "
                f"{_size(rate)}/s ETA {_clock(left)}")
        if self._tty:
            self.stream.write("\r" + line + "\x1b[K" + (end or ""))
        elif line != self._last:  # a log gets each state once
            self.stream.write(line + "\n")
        self._last = line
        self.stream.flush()

    def done(self) -> None:
        self._draw(time.monotonic(), end="\n")


class CountBar:
    """A one-line bar for work counted in items (a crawl's pages): done/total, other counts, rate, ETA.

    Drawn like ``Progress``: in place on a terminal, one line per change otherwise.
    """

    def __init__(self, label: str, stream: TextIO | None = None, every: float = 1.0):
        self.label = label
        self.stream = stream or sys.stderr
        self.every = every
        self._drawn = 0.0
        self._tty = self.stream.isatty()
        self._last = ""

    def update(self, done: int, total: int, rate_per_minute: float, eta_seconds: float | None, bytes_done: int,
               extra: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < self.every:
            return
        self._drawn = now
        share = min(done / total, 1.0) if total else 0.0
        bar = "#" * int(share * 20)
        eta = _clock(eta_seconds) if eta_seconds is not None else "--:--:--"
        line = (f"{self.label} [{bar:<20}] {done}/{total} {extra} {_size(bytes_done)} "
                f"{rate_per_minute:.1f}/min ETA {eta}")
        if self._tty:
            self.stream.write("\r" + line + "\x1b[K")
        elif line != self._last:
            self.stream.write(line + "\n")
        self._last = line
        self.stream.flush()

    def done(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
