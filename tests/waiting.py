"""The one way tests wait: for a condition, for a server, for a `serve` process.

Every wait has a deadline and, past it, fails saying what it waited for and what it last saw, so a
hang on a loaded machine reads as a message, not a silent timeout. A served process writes its
output to a file (never an unread pipe, which blocks it once full), and its tail is in the message.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

from .conftest import ROOT, free_port

T = TypeVar("T")

POLL_SECONDS = 0.1
# Generous: Chromium tests share two cores with other suites. A deadline is for failing loudly, not
# for measuring speed.
DEFAULT_TIMEOUT = 180.0
STOP_SECONDS = 60  # a test's `serve` is stopped gracefully at the end, killed past this


class WaitTimeout(AssertionError):
    """A wait reached its deadline; the message says what was awaited and what was seen."""


def wait_until(check: Callable[[], T], what: str, timeout: float = DEFAULT_TIMEOUT,
               seen: Callable[[], Any] | None = None) -> T:
    """Call ``check`` until it returns something true, and return that.

    Past ``timeout`` seconds fail with ``what``, the last value ``check`` returned and, if given,
    ``seen()`` (a log tail, a job row). An exception from ``check`` fails at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"; saw: {seen()}" if seen is not None else ""
            raise WaitTimeout(f"waited {timeout:g} s for {what}; last check gave {value!r}{extra}")
        time.sleep(POLL_SECONDS)


def answers(url: str) -> requests.Response | None:
    """The response at ``url``, or None while nothing listens there yet."""
    try:
        return requests.get(url, timeout=5)
    except requests.ConnectionError:
        return None


class Served:
    """`python -m archive serve ARGS` on a free port, its output in ARCHIVE_HOME/serve.log.

    A context manager: entering waits until the app answers; leaving stops the process (SIGTERM,
    then SIGKILL if it does not end).
    """

    def __init__(self, env: dict, *args: str, port: int | None = None):
        self.env = env
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        home = Path(env["ARCHIVE_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        self.log_path = home / "serve.log"
        with self.log_path.open("a") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "archive", "serve", "--port", str(self.port), *args],
                                         env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def wait_ready(self, timeout: float = DEFAULT_TIMEOUT) -> Served:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode} before answering:\n{self.log()}")
            return answers(self.base + "/healthz") is not None

        wait_until(up, f"serve to answer on {self.base}", timeout, seen=self.log)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Send ``sig`` and wait for the process to end; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.exit_code(timeout)

    def exit_code(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Wait for the process to end (it was told to already); its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise WaitTimeout(f"serve did not end within {timeout:g} s:\n{self.log()}") from None

    def __enter__(self) -> Served:
        try:
            return self.wait_ready()
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
