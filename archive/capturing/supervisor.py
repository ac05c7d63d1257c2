"""Background threads that are restarted when they die, and say so.

`serve` runs the capture worker and the watch scheduler in threads beside the web app. A thread
that dies of an exception used to leave the app answering and accepting jobs that nobody would
ever run (issue 23, point 12). A `Supervised` thread runs its target again after a pause that
grows while it keeps failing, and keeps what `/healthz` reports: whether the target is running
now, how often it was restarted, and the last error.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("archive.supervisor")

FIRST_PAUSE = 1.0  # seconds before the first restart; doubled after each quick failure
LONGEST_PAUSE = 60.0
STEADY_SECONDS = 60.0  # a target that ran this long before failing starts again at FIRST_PAUSE


class Supervised:
    """Run ``target(stop)`` in a daemon thread named ``name`` until ``stop`` is set, restarting it
    whenever it raises or returns early."""

    def __init__(self, name: str, target: Callable[[threading.Event], None]):
        self.name = name
        self.target = target
        self.stop = threading.Event()
        self.restarts = 0
        self.last_error: str | None = None
        self._running = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Supervised:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """Whether the target is running now (not dead, not waiting to be restarted)."""
        return self._running and self._thread.is_alive()

    def status(self) -> dict[str, Any]:
        """What /healthz shows: ``alive`` is whether the target runs now."""
        return {"alive": self.running, "restarts": self.restarts, "last_error": self.last_error}

    def is_alive(self) -> bool:
        """Whether the supervising thread itself still runs (it ends only once ``stop`` is set)."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _loop(self) -> None:
        pause = FIRST_PAUSE
        while not self.stop.is_set():
            began = time.monotonic()
            self._running = True
            try:
                self.target(self.stop)
            except BaseException as exc:  # noqa: BLE001 - whatever killed it is reported, then it runs again
                log.exception("%s died; restarting it", self.name)
                self.last_error = f"{type(exc).__name__}: {exc}"
            else:
                if self.stop.is_set():
                    break
                self.last_error = "returned before it was told to stop"
                log.error("%s %s; restarting it", self.name, self.last_error)
            finally:
                self._running = False
            if time.monotonic() - began >= STEADY_SECONDS:
                pause = FIRST_PAUSE
            if self.stop.wait(pause):
                break
            self.restarts += 1
            pause = min(pause * 2, LONGEST_PAUSE)


__all__ = ["Supervised"]
