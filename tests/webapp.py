"""Fixtures for the web tests: real captures without a browser, and the app over real HTTP.

`ArchiveBuilder` writes a capture the way the crawler does (warcio records in a
rolling WARC file, a catalog row, an index entry) from a title and some text.
`LiveServer` runs the app in waitress, as `python -m archive serve` does.
Other test modules reuse them with `from .webapp import ...`; conftest registers its fixtures.
"""
from __future__ import annotations

import hashlib
import html
import struct
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
import pytest
import requests
from waitress.server import create_server

from archive import catalog
from archive.capturing.indexing import index_doc
from archive.capturing.store import build_records
from archive.settings import Settings
from archive.warc.objects import warc_store
from archive.warc.store import RollingWarcWriter, Sha256WARCWriter, read_payload
from archive.web import create_app
from crawler import CaptureResult
from crawler.httpwire import Exchange
from search import open_backend

# Test hosts resolve (through CAPTURE_HOST_RULES, without DNS) to public
# addresses, so submissions pass the address policy; nothing is ever fetched.
HOST_RULES = ("MAP kloop.kg 93.184.216.34, MAP www.kloop.kg 93.184.216.34, MAP rus.azattyk.org 93.184.216.35,"
              " MAP intranet.kloop.kg 10.1.2.3")
ARCHIVE_NAME = "Test Takedown Archive"
# The one script any app page may carry: the record page's copy buttons, from our own origin, no inline code
# (and the job and crawl pages' follower, static/follow.js).
OWN_SCRIPT = '<script src="/static/copy.js" defer></script>'
OWN_SCRIPT_XPATH = ("//script[not(@src='/static/copy.js' or @src='/static/follow.js')"
                    " or normalize-space(.) != '']")
CAPTURED_AT = datetime(2024, 4, 18, 9, 30, 15, tzinfo=UTC)


def tiny_png(width: int = 3, height: int = 2, rgb: tuple[int, int, int] = (180, 20, 20)) -> bytes:
    """A real, valid PNG of one colour."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def page_html(title: str, paragraphs: list[str]) -> bytes:
    """An archived page, with the kind of script we must never run from our origin."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>{body}"
            "<script>document.title = 'PWNED'; fetch('/api/captures', {method: 'POST'})</script>"
            "</body></html>").encode()


class ArchiveBuilder:
    """Adds captures to the archive under ``settings`` and indexes them.

    A capture is made as the crawler hands one over (a CaptureResult with its HTTP exchange,
    screenshot and DOM) and stored by the archive's own ``build_records`` and WARC writer: the
    tests read what production writes, not a second copy of it.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        # Through the WARC store the settings name (local disk, or an S3 bucket: tests/test_s3_store.py).
        self.writer = RollingWarcWriter(warc_store(settings), settings.warc_max_size, "web tests", prefix="webtest")
        self.db = catalog.connect(settings.catalog_path)
        self.backend = open_backend(settings.search_backend, settings.index_dir, settings)
        # For the few tests that craft a record production never writes on its own (a bare revisit).
        self._records = Sha256WARCWriter(None, warc_version="1.1")

    def _record(self, uri: str, rec_type: str, data: bytes, content_type: str = "", **kw):
        return self._records.create_warc_record(uri, rec_type, payload=BytesIO(data), length=len(data),
                                                warc_content_type=content_type, **kw)

    def add(self, url: str, title: str, paragraphs: list[str], *, captured_at: datetime = CAPTURED_AT,
            status: int = 200, lang: str = "en", final_url: str | None = None, partial_reasons: list[str] = (),
            blocked: list[dict] = (), screenshot: bytes | None = None, index: bool = True) -> int:
        """Write one capture's WARC records, catalog it and (with ``index``) index it; return its id.

        ``screenshot`` defaults to a small PNG; ``b""`` leaves the screenshot out.
        """
        final_url = final_url or url
        body = page_html(title, paragraphs)
        parts = urlsplit(final_url)
        exchange = Exchange(
            url=final_url, method="GET", started=captured_at, ip="93.184.216.34",
            request_head=f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode(),
            request_body=b"", status=status,
            response_head=(f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                           f"Content-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n").encode())
        exchange.body.write(body)
        exchange.body_length = len(body)
        result = CaptureResult(
            url=url, final_url=final_url, status=status, title=title, started=captured_at, ended=captured_at,
            exchanges=[exchange], main=exchange, blocked=list(blocked), failed=[],
            screenshot=tiny_png() if screenshot is None else screenshot, dom=body.decode(),
            partial_reasons=list(partial_reasons), provenance={"software": "web tests", "final_url": final_url})
        refs = self.writer.write(build_records(result, "\n".join(paragraphs)))
        capture_id = catalog.add_capture(self.db, {
            "url": url, "final_url": final_url, "captured_at": catalog.to_iso(captured_at),
            "ended_at": catalog.to_iso(captured_at), "status": status, "title": title, "lang": lang,
            "sha256": hashlib.sha256(body).hexdigest(), "partial": result.partial,
            "partial_reasons": result.partial_reasons, "blocked": result.blocked,
        }, refs)
        if index:
            self.index(capture_id)
        return capture_id

    def index(self, *capture_ids: int) -> None:
        """Index captures as the worker does, from their catalog rows and text records, in one commit."""
        docs = []
        for capture_id in capture_ids:
            row = catalog.get_capture(self.db, capture_id)
            text_ref = catalog.get_records(self.db, capture_id, role="text")[0]
            docs.append(index_doc(self.db, row, read_payload(self.writer.store, text_ref).decode()))
        self.backend.add(docs)
        for capture_id in capture_ids:
            catalog.set_indexed(self.db, capture_id)

    def close(self) -> None:
        self.writer.close()
        self.backend.close()
        self.db.close()


class LiveServer:
    """The app served by waitress on 127.0.0.1 in a thread."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.app = create_app(settings)
        self.server = create_server(self.app, host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, name="waitress", daemon=True)
        self.http = requests.Session()

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()
        # waitress has no stop(): have its own loop thread close every channel
        # (closing them from here races its select()), so the loop runs dry.
        def close_all() -> None:
            for channel in list(self.server._map.values()):
                channel.close()

        try:
            self.server.trigger.pull_trigger(close_all)
        except OSError:
            # Its wake-up pipe is already closed: the loop has stopped by itself (seen once, after a test
            # ran asyncio and Chromium in the main thread); there is nothing left to close.
            pass
        self.thread.join(timeout=10)
        self.server.task_dispatcher.shutdown()
        assert not self.thread.is_alive(), "waitress did not stop"

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.url + path, timeout=30, allow_redirects=kw.pop("allow_redirects", False), **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.http.post(self.url + path, timeout=30, allow_redirects=kw.pop("allow_redirects", False), **kw)

    def post_form(self, path: str, data: dict, form_page: str | None = None, **kw) -> requests.Response:
        """Fill in the form on ``form_page`` (default ``path``) as a browser would: with its CSRF token."""
        token = csrf_token(self.get(form_page or path).text)
        return self.post(path, data={**data, "csrf_token": token}, **kw)


def csrf_token(page: str) -> str:
    """The CSRF token in a page's form (every form that changes something carries one)."""
    return lxml.html.fromstring(page).xpath("//input[@name='csrf_token']/@value")[0]


def make_settings(home: Path, **overrides: str) -> Settings:
    """Settings for a test archive in ``home``, independent of the caller's environment."""
    values = {"archive_home": str(home), "archive_name": ARCHIVE_NAME, "capture_host_rules": HOST_RULES}
    return Settings.from_env({}, **(values | overrides))


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    """A fresh archive home; only public addresses may be captured."""
    return make_settings(tmp_path / "home")


@pytest.fixture
def archive_builder(web_settings: Settings) -> Iterator[ArchiveBuilder]:
    builder = ArchiveBuilder(web_settings)
    yield builder
    builder.close()


@pytest.fixture
def web_server(web_settings: Settings) -> Iterator[LiveServer]:
    """The app over real HTTP for ``web_settings``; add captures before or after starting it."""
    with LiveServer(web_settings) as server:
        yield server
