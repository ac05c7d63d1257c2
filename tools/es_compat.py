"""A compatibility shim for OpenSearch and Elasticsearch 7 in front of the Elasticsearch 9 client.

The official 9.x client sends ``Content-Type``/``Accept: application/vnd.elasticsearch+json;
compatible-with=9`` (``+x-ndjson`` for bulk) and refuses replies without
``X-Elastic-Product: Elasticsearch``. OpenSearch and Elasticsearch 7 answer 406 to those media
types, so this HTTP proxy turns them into plain ``application/json`` / ``application/x-ndjson``
going in and adds the product header coming back. Nothing else is changed: bodies pass through
byte for byte. The tests' engine (tools/search_engine.py, OpenSearch) and `make search-engine` run
behind it; an Elasticsearch 8/9 server needs no shim.

    with CompatProxy("http://127.0.0.1:9201") as proxy:
        Elasticsearch(proxy.url)
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# "application/vnd.elasticsearch+json; compatible-with=9" -> "application/json"
_VENDOR_TYPE = re.compile(r"application/vnd\.elasticsearch\+([\w-]+)(\s*;\s*compatible-with=\d+)?", re.IGNORECASE)
_REJECTED = b'{"error":{"type":"es_rejected_execution_exception","reason":"es_compat: reject_bulk"},"status":429}'
# Hop-by-hop headers are the proxy's own business (RFC 9110 7.6.1).
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


def plain_media_type(value: str) -> str:
    """The standard media type for an Elasticsearch vendor one; other values unchanged."""
    return _VENDOR_TYPE.sub(lambda m: f"application/{m.group(1)}", value)


class CompatProxy:
    """Forward http://127.0.0.1:PORT to `upstream`, rewriting the headers above."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0, reject_bulk: int = 0,
                 before_bulk: Callable[[int], None] | None = None) -> None:
        """For tests of what a busy or failing server does to the client: `reject_bulk` answers that
        many bulk requests 429 Too Many Requests first, as a loaded cluster does; `before_bulk` is
        called with each bulk request's number (1, 2, ...) before it is forwarded (to stop the
        node under it, say)."""
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            msg = f"es_compat: upstream must be an http:// URL with a host, not {upstream!r}"
            raise ValueError(msg)
        state = {"upstream": (parts.hostname, parts.port or 80), "rejects": [reject_bulk], "bulks": [0],
                 "before_bulk": staticmethod(before_bulk) if before_bulk else None, "lock": threading.Lock()}
        handler = type("Handler", (_Handler,), state)
        self._state = state
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="es-compat", daemon=True)

    @property
    def bulk_requests(self) -> int:
        """Bulk requests received so far, the refused ones included."""
        return self._state["bulks"][0]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> CompatProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CompatProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    upstream: tuple[str, int]
    rejects: list[int]
    bulks: list[int]
    before_bulk: Callable[[int], None] | None
    lock: threading.Lock

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self._is_bulk():
            with self.lock:
                self.bulks[0] += 1
                number = self.bulks[0]
            if self._reject():
                self._reply(429, "Too Many Requests", [("Content-Type", "application/json")], _REJECTED)
                return
            if self.before_bulk:
                self.before_bulk(number)
        headers = {
            name: plain_media_type(value) if name.lower() in ("content-type", "accept") else value
            for name, value in self.headers.items()
            if name.lower() not in _HOP_BY_HOP and name.lower() != "host"
        }
        connection = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            reply = connection.getresponse()
            data = reply.read()
        except OSError as error:
            reason = f"es_compat: upstream {self.upstream[0]}:{self.upstream[1]} failed: {error}"
            body = json.dumps({"error": {"type": "bad_gateway", "reason": reason}, "status": 502}).encode()
            self._reply(502, "Bad Gateway", [("Content-Type", "application/json")], body)
            return
        finally:
            connection.close()
        self._reply(reply.status, reply.reason, reply.getheaders(), data)

    def _is_bulk(self) -> bool:
        # The 9.x client sends bulk requests as PUT /<index>/_bulk, others POST.
        return self.command in ("POST", "PUT") and self.path.split("?")[0].endswith("/_bulk")

    def _reject(self) -> bool:
        with self.lock:
            if self.rejects[0] <= 0:
                return False
            self.rejects[0] -= 1
            return True

    def _reply(self, status: int, reason: str, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() not in ("content-length", "x-elastic-product"):
                self.send_header(name, value)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: the output is about the archive, not the shim
