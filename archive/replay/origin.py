"""The replay origin: archived pages are replayed here, never on the app's origin.

Archived HTML and scripts are hostile. They run only on this separate origin (a
second port and, by default, a different host name, so no cookie of the app is
ever sent here), inside replayweb.page's service worker, which loads the
capture's WACZ with HTTP Range requests. A script-free "safe view" serves the
archived main document under ``Content-Security-Policy: sandbox``.
"""
from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import quote

from flask import Flask, Response, abort, render_template_string, request, send_file, send_from_directory

from archive import catalog
from archive.capturing.media import media_listing, media_payload, stream_part
from archive.staff.moderation import STATUS, pass_allows, withheld_message
from archive.warc.objects import warc_store
from archive.warc.store import read_record
from archive.warc.wacz import export_wacz

REPO = Path(__file__).resolve().parents[2]  # archive/replay/origin.py -> the checkout

EMBED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Replay of {{ url }}</title>
<style>html, body { margin: 0; height: 100%; } replay-web-page { display: block; height: 100vh; }</style>
<script src="/replay/ui.js"></script>
</head><body>
<replay-web-page source="/wacz/{{ capture_id }}.wacz{% if pass_ %}?pass={{ pass_ | urlencode }}{% endif %}"
  url="{{ url }}" ts="{{ ts }}"
  replayBase="/replay/" embed="replayonly" swName="{{ sw_name }}"></replay-web-page>
</body></html>"""

# replayweb.page's service worker takes its options from its script URL's query: it injects
# `injectScripts` into every replayed page from `/replay/static/proxy/<script>`, which it fetches from
# here (the replay origin) only under `allowProxyPaths`. The viewer appends "?serveIndex=1" to this name,
# so it ends with "&": that lands in a parameter of its own.
SW_NAME = "sw.js?injectScripts=hls/attach.js&allowProxyPaths=hls/&serveIndex=1&"
HLS_JS = "hls.js-1.7.4"  # the Makefile's HLS_DIR, beside replayweb.page's folder (REPLAY_ASSETS)
HLS_ATTACH = Path(__file__).with_name("hls-attach.js")

# The replay origin needs scripts (the viewer) but must not be framed by strangers
# nor be able to reach the app: its pages only talk to this origin.
REPLAY_CSP = ("default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; "
              "frame-ancestors 'self' {app_origin}; connect-src 'self' data: blob:")
SAFE_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; font-src data:"


PLAYER_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Archived media</title>
<style>html, body {{ margin: 0; background: #111; }} video, audio {{ width: 100%; max-height: 100vh; }}</style>
</head><body><{tag} controls preload="metadata" src="{src}"></{tag}></body></html>"""

INDEX_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Replay</title><script src="./ui.js"></script></head>
<body><replay-app-main></replay-app-main></body></html>"""


class ReplayData:
    """What the replay origin reads: capture facts, the main document, the WACZ (built once, cached)."""

    def __init__(self, settings):
        self.settings = settings
        self.cache = Path(settings.archive_home) / "cache" / "wacz"
        self._lock = threading.Lock()

    def _db(self):
        return catalog.connect(self.settings.catalog_location, migrate_schema=False)

    def info(self, capture_id: int) -> dict | None:
        db = self._db()
        try:
            capture = catalog.get_capture(db, capture_id)
        finally:
            db.close()
        if capture is None:
            return None
        ts = capture["captured_at"][:19].replace("-", "").replace("T", "").replace(":", "")
        return {"url": capture["url"], "final_url": capture["final_url"] or capture["url"], "ts": ts,
                "visibility": capture["visibility"], "withheld": withheld_message(capture)}

    def wacz(self, capture_id: int) -> Path | None:
        path = self.cache / f"{capture_id}.wacz"
        if path.exists():
            return path
        db = self._db()
        try:
            if catalog.get_capture(db, capture_id) is None:
                return None
            with self._lock:  # one build at a time; a second asker finds the file
                if not path.exists():
                    self.cache.mkdir(parents=True, exist_ok=True)
                    export_wacz(db, warc_store(self.settings), [capture_id], path)
        finally:
            db.close()
        return path

    def media(self, capture_id: int, number: int) -> tuple[bytes, str] | None:
        db = self._db()
        try:
            return media_payload(db, self.settings.warc_dir, capture_id, number)
        finally:
            db.close()

    def stream_part(self, capture_id: int, number: int, part: str) -> tuple[bytes, str] | None:
        db = self._db()
        try:
            return stream_part(db, self.settings.warc_dir, capture_id, number, part)
        finally:
            db.close()

    def media_item(self, capture_id: int, number: int) -> dict:
        db = self._db()
        try:
            items = media_listing(db, self.settings.warc_dir, capture_id)["items"]
        finally:
            db.close()
        return items[number] if 0 <= number < len(items) else {}

    def main_document(self, capture_id: int) -> tuple[bytes, str] | None:
        db = self._db()
        try:
            refs = catalog.get_records(db, capture_id, with_originals=True)
        finally:
            db.close()
        main = next((r for r in refs if r.role == "main"), None)
        if main is None:
            return None
        if main.refers_to:  # a revisit: the payload is in the original it names
            main = next((r for r in refs if r.record_id == main.refers_to), main)
        record = read_record(warc_store(self.settings), main)
        content_type = (record.http_headers.get_header("Content-Type") if record.http_headers else None)
        return record.content_stream().read(), content_type or "text/html"


def private(response: Response, info: dict) -> Response:
    """A non-public capture, served on a staff pass: no cache may keep it."""
    if info.get("pass"):
        response.headers["Cache-Control"] = "private, no-store"
    return response


VIEWER_FILES = ("sw.js", "ui.js")
STREAM_PASS = "~pass"  # /stream/<id>/<n>/~pass/<token>/<part>: a staff pass for a withheld capture's stream


def replay_assets(settings) -> Path:
    """Where replayweb.page's files are (REPLAY_ASSETS, relative to the checkout unless absolute)."""
    assets = Path(settings.replay_assets)
    return assets if assets.is_absolute() else REPO / assets


def missing_replay_assets(settings) -> str | None:
    """Why archived pages cannot be replayed here (the viewer is not installed), or None."""
    assets = replay_assets(settings)
    missing = [name for name in VIEWER_FILES if not (assets / name).is_file()]
    if missing:
        return f"replay viewer missing at {assets} (no {', '.join(missing)}): run `make setup`"
    return None


def hls_player(settings) -> Path:
    """Where hls.js is: beside replayweb.page's folder, as the Makefile's setup fetches it."""
    return replay_assets(settings).parent / HLS_JS / "hls.min.mjs"


def missing_hls_player(settings) -> str | None:
    """Why replayed pages' HLS streams cannot play (hls.js is not installed), or None; the rest of replay
    works without it."""
    path = hls_player(settings)
    return None if path.is_file() else f"HLS player missing at {path} (hls.js): run `make setup`"


def ranged(body: bytes, content_type: str | None) -> Response:
    """Archived media bytes with Range support (players ask for ranges)."""
    response = Response(body, content_type=content_type or "application/octet-stream")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response.make_conditional(request, accept_ranges=True, complete_length=len(body))


def create_replay_app(settings, app_origin: str) -> Flask:
    """The replay origin's app; ``app_origin`` (the archive app) is the only other page that may frame it."""
    data = ReplayData(settings)
    app = Flask(__name__)
    from archive.keys import secret_key  # the key the app signs staff passes with

    key = secret_key(settings)

    def visible(capture_id: int, token: str | None = None) -> dict:
        """The capture's facts; 404 if there is none, 403/410 with the reason if staff withdrew it
        (unless the request carries a staff pass for it, which also keeps it out of every cache)."""
        info = data.info(capture_id)
        if info is None:
            abort(404)
        token = token if token is not None else request.args.get("pass")
        if not catalog.is_visible(info):
            if not pass_allows(key, capture_id, token):
                abort(STATUS.get(info["visibility"], 403), info["withheld"])
            info["pass"] = token
        return info
    assets = replay_assets(settings)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", REPLAY_CSP.format(app_origin=app_origin))
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    @app.get("/replay/")
    def viewer_index():
        """The page replayweb.page loads in its own frame at the replay base."""
        return INDEX_PAGE

    @app.get("/replay/<any('sw.js', 'ui.js'):name>")
    def viewer(name: str):
        """replayweb.page's service worker and viewer, from the npm package fetched at setup."""
        missing = missing_replay_assets(settings)
        if missing:
            abort(503, missing)
        response = send_from_directory(assets, name, mimetype="application/javascript", max_age=3600)
        response.headers["Service-Worker-Allowed"] = "/replay/"
        return response

    @app.get("/replay/hls/<any('attach.js', 'hls.min.mjs'):name>")
    def hls_script(name: str):
        """The script player replayed pages get for their HLS streams (SW_NAME): this checkout's
        hls-attach.js, and hls.js from npm (fetched at setup), which it imports only for such a stream."""
        if name == "attach.js":
            return send_file(HLS_ATTACH, mimetype="application/javascript", max_age=3600)
        missing = missing_hls_player(settings)
        if missing:
            abort(503, missing)
        return send_file(hls_player(settings), mimetype="application/javascript", max_age=3600)

    @app.get("/embed/<int:capture_id>")
    def embed(capture_id: int):
        """The page the record page frames: the viewer pointed at this capture's WACZ."""
        info = visible(capture_id)
        response = Response(render_template_string(EMBED_PAGE, capture_id=capture_id, url=info["final_url"],
                                                   ts=info["ts"], pass_=info.get("pass"), sw_name=SW_NAME))
        return private(response, info)

    @app.get("/wacz/<int:capture_id>.wacz")
    def wacz(capture_id: int):
        """The capture as WACZ, with Range support (HEAD, bytes=a-b, bytes=-n)."""
        info = visible(capture_id)
        path = data.wacz(capture_id)
        if path is None:
            abort(404)
        return private(send_file(path, mimetype="application/wacz", conditional=True, etag=True, max_age=300), info)

    @app.get("/safe/<int:capture_id>")
    def safe(capture_id: int):
        """The archived main document with scripts and everything active disabled by a sandbox CSP."""
        info = visible(capture_id)
        found = data.main_document(capture_id)
        if found is None:
            abort(404)
        body, content_type = found
        response = Response(body, content_type=content_type)
        response.headers["Content-Security-Policy"] = SAFE_CSP
        return private(response, info)

    @app.get("/media/<int:capture_id>/<int:number>")
    def media(capture_id: int, number: int):
        """An archived media file (item ``number`` of the capture's media listing), with Range support:
        players ask for ranges, and evidence must be served from here, never from the app."""
        info = visible(capture_id)
        found = data.media(capture_id, number)
        if found is None:
            abort(404)
        return private(ranged(*found), info)

    @app.get("/stream/<int:capture_id>/<int:number>/<path:part>")
    @app.get(f"/stream/<int:capture_id>/<int:number>/{STREAM_PASS}/<token>/<path:part>")
    def stream(capture_id: int, number: int, part: str, token: str | None = None):
        """A part of an archived HLS or DASH stream (item ``number``), named relative to its playlist as the
        site served it: the playlist itself, its variant playlists and segments, byte for byte, so a
        player given the playlist finds every segment here. A staff pass rides in the path, where the
        segments' relative URLs keep it (a query string would not reach them)."""
        info = visible(capture_id, token)
        found = data.stream_part(capture_id, number, part)
        if found is None:
            abort(404)
        return private(ranged(*found), info)

    @app.get("/player/<int:capture_id>/<int:number>")
    def player(capture_id: int, number: int):
        """A bare player of one archived media file, for the record page to frame."""
        info = visible(capture_id)
        query = f"?pass={quote(info['pass'])}" if info.get("pass") else ""
        in_path = f"{STREAM_PASS}/{quote(info['pass'], safe='')}/" if info.get("pass") else ""
        item = data.media_item(capture_id, number)
        tag = "audio" if (item.get("content_type") or "").startswith("audio/") else "video"
        src = f"/media/{capture_id}/{number}{query}"
        if item.get("kind") in ("hls", "dash"):  # the playlist at its own name: its relative parts resolve
            name = quote(item["url"].split("?")[0].rsplit("/", 1)[-1])
            src = f"/stream/{capture_id}/{number}/{in_path}{name}"
        page = PLAYER_PAGE.format(tag=tag, src=src)
        return private(Response(page, content_type="text/html; charset=utf-8"), info)

    return app
