"""Web sites the tests capture, served on loopback addresses.

`FixtureSite` serves tests/data/site plus a few hostile routes, and logs every
request it gets so a test can prove what was (not) fetched.
"""
from __future__ import annotations

import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus" / "readability"


class _Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self):
        site: FixtureSite = self.server.site
        site.hits.append((self.path, self.headers.get("Host")))
        route = site.routes.get(self.path.split("?")[0])
        if route is not None:
            return route(self)
        return super().do_GET()


class FixtureSite:
    """A threaded HTTP server on ``host`` serving ``root``, with extra ``routes``."""

    def __init__(self, root: Path, host: str = "127.0.0.1"):
        self.root = root
        self.hits: list[tuple[str, str]] = []
        self.routes: dict = {}
        handler = lambda *a, **kw: _Handler(*a, directory=str(root), **kw)  # noqa: E731
        self.server = ThreadingHTTPServer((host, 0), handler)
        self.server.daemon_threads = True
        self.server.site = self
        self.host, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FixtureSite:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def rule(self, name: str) -> str:
        return f"MAP {name} {self.host}:{self.port}"


def send(handler, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8",
         headers: dict | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


def slow(seconds: float):
    """A route that answers after ``seconds`` (a capture can be killed meanwhile)."""
    def route(handler):
        time.sleep(seconds)
        send(handler, 200, b"<html><title>Slow page</title><body>finally</body></html>")
    return route
