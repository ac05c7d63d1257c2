"""Real media made by ffmpeg in the test, served on 127.0.0.1 with HTTP Range support under news and
video host names (mapped by CAPTURE_HOST_RULES): an MP4 with subtitles, a WebM in a cross-site iframe,
audio in a shadow root, an HLS stream, a click-to-play player and a long HLS stream for the limit."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

NEWS, PLAYER = "www.vesti.kg", "player.akipress.org"  # the page's site and an embedded player's

VTT = """WEBVTT

1
00:00:00.000 --> 00:00:01.500
Милиция задержала блогера в Бишкеке

2
00:00:01.500 --> 00:00:03.000
Interview recorded before the takedown order
"""

TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".m3u8": "application/vnd.apple.mpegurl",
         ".ts": "video/mp2t", ".vtt": "text/vtt", ".html": "text/html; charset=utf-8", ".jpg": "image/jpeg"}

JSON_LD = {"@context": "https://schema.org", "@type": "SocialMediaPosting",
           "headline": "Arrest of a blogger in Bishkek",
           "author": {"@type": "Person", "name": "Aibek Temirov"},
           "datePublished": "2026-11-30T08:15:00+06:00",
           "articleBody": "Video of the arrest, removed after an order of the Ministry of Culture.",
           "interactionStatistic": [
               {"@type": "InteractionCounter", "interactionType": "https://schema.org/WatchAction",
                "userInteractionCount": 15230},
               {"@type": "InteractionCounter", "interactionType": "https://schema.org/LikeAction",
                "userInteractionCount": 812}]}

POST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Arrest of a blogger in Bishkek</title>
<meta property="og:title" content="Arrest of a blogger in Bishkek">
<meta property="og:description" content="Video of the arrest, removed after an order.">
<meta property="og:image" content="http://%s/media/poster.jpg">
<script type="application/ld+json">%s</script></head><body>
<h1>Arrest of a blogger in Bishkek</h1><p>The video below was ordered removed.</p>
<video controls poster="/media/poster.jpg" src="/media/clip.mp4">
  <track kind="subtitles" srclang="en" label="English" src="/media/clip.en.vtt"></video>
<iframe src="http://%s/embed.html" width="200" height="150"></iframe>
<sound-clip></sound-clip>
<script>
customElements.define('sound-clip', class extends HTMLElement {
  constructor() { super(); const root = this.attachShadow({mode: 'open'});
    root.innerHTML = '<audio controls src="/media/tone.webm"></audio>'; }
});
</script></body></html>"""

EMBED_PAGE = """<!doctype html><html><head><title>player</title></head><body>
<video controls><source src="/media/embed.webm" type="video/webm"></video></body></html>"""

HLS_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Live stream of the protest</title></head><body>
<h1>Live stream of the protest</h1><video controls src="/media/stream/index.m3u8"></video>
<p><a href="/media/stream/index.m3u8">Watch the stream</a></p></body></html>"""

CLICK_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Click to play</title></head><body>
<h1>Statement of the ministry</h1><div class="play-button" style="width:120px;height:60px;background:#c00">Play</div>
<div id="slot"></div><script>
document.querySelector('.play-button').addEventListener('click', () => {
  const v = document.createElement('video'); v.src = '/media/click.webm'; v.muted = true;
  document.getElementById('slot').appendChild(v); v.play().catch(() => {});
});
</script></body></html>"""

LONG_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>A long broadcast</title></head><body>
<h1>A long broadcast</h1><video controls src="/media/long/index.m3u8"></video></body></html>"""


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def make_media(root: Path) -> None:
    """The files, made once per module: small, so the whole module stays fast."""
    media = root / "media"
    (media / "stream").mkdir(parents=True)
    (media / "long").mkdir()
    src = ["-f", "lavfi", "-i", "testsrc=duration=3:size=160x120:rate=10", "-f", "lavfi", "-i",
           "sine=frequency=440:duration=3"]
    ffmpeg(*src, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart",
           str(media / "clip.mp4"))
    ffmpeg(*src, "-c:v", "libvpx", "-b:v", "100k", "-c:a", "libopus", str(media / "embed.webm"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=duration=2:size=160x120:rate=10", "-c:v", "libvpx", "-b:v", "80k",
           str(media / "click.webm"))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=660:duration=2", "-c:a", "libopus", str(media / "tone.webm"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=1", "-frames:v", "1", str(media / "poster.jpg"))
    (media / "clip.en.vtt").write_text(VTT, "utf-8")
    hls = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", "-c:a", "aac", "-f", "hls", "-hls_time", "1",
           "-hls_list_size", "0", "-hls_segment_filename"]
    ffmpeg(*src, *hls, str(media / "stream" / "seg%03d.ts"), str(media / "stream" / "index.m3u8"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=30:size=320x240:rate=25", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", "-g", "25", "-b:v", "400k", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
           "-hls_segment_filename", str(media / "long" / "seg%03d.ts"), str(media / "long" / "index.m3u8"))
    (root / "post.html").write_text(POST_PAGE % (NEWS, json.dumps(JSON_LD), PLAYER), "utf-8")
    (root / "embed.html").write_text(EMBED_PAGE, "utf-8")
    (root / "hls.html").write_text(HLS_PAGE, "utf-8")
    (root / "click.html").write_text(CLICK_PAGE, "utf-8")
    (root / "long.html").write_text(LONG_PAGE, "utf-8")


class RangeHandler(BaseHTTPRequestHandler):
    """Static files with single-range support (206, Content-Range), as media servers answer players."""

    root: Path
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = (self.root / self.path.split("?")[0].lstrip("/")).resolve()
        if self.root not in path.parents or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start, end, status = 0, len(data) - 1, 200
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if match and data:
            first, last = match.groups()
            if first:
                start, end = int(first), min(int(last), end) if last else end
            else:
                start = max(len(data) - int(last), 0)
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", TYPES.get(path.suffix, "application/octet-stream"))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        self.wfile.write(data[start:end + 1])


class MediaSite:
    def __init__(self, root: Path):
        handler = type("Handler", (RangeHandler,), {"root": root.resolve()})
        self.root = root
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MediaSite:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str, host: str = NEWS) -> str:
        return f"http://{host}/{path.lstrip('/')}"

    @property
    def rules(self) -> str:
        return ", ".join(f"MAP {host} 127.0.0.1:{self.port}" for host in (NEWS, PLAYER))

    def file(self, name: str) -> bytes:
        return (self.root / "media" / name).read_bytes()


@pytest.fixture(scope="module")
def media_site(tmp_path_factory):
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is missing: run `make setup` (installs Debian's ffmpeg as root)", pytrace=False)
    root = tmp_path_factory.mktemp("mediasite")
    make_media(root)
    with MediaSite(root) as site:
        yield site
