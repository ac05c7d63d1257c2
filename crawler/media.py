"""Media in the browser capture: play every <video> and <audio> so the recording proxy keeps what
they fetch, then fetch what playing left out (the rest of a file, every segment of an HLS or DASH
stream) through the same proxy, within the media limits.

A page that loads but never plays its player leaves a poster and a few kilobytes of a stream in
the archive; what gets taken down is usually the video itself.
"""
from __future__ import annotations

import asyncio
import http.client
import re
import ssl
import time
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin
from xml.etree import ElementTree

from playwright.async_api import Error as PlaywrightError

from .httpwire import Exchange

# Found in the document, every open shadow root, and (run per frame) every iframe; played muted and
# fast so a capture need not sit through a video at normal speed.
PLAY_JS = """(rate) => {
  const found = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'VIDEO' || el.tagName === 'AUDIO') found.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return found.map(el => {
    const sources = [el.currentSrc, el.src, ...Array.from(el.querySelectorAll('source')).map(s => s.src)]
      .filter(s => s && /^https?:/.test(s));
    el.muted = true; el.playbackRate = rate; el.preload = 'auto';
    if (el.paused && !el.ended) { const p = el.play(); if (p) p.catch(() => {}); }
    return {tag: el.tagName.toLowerCase(), sources: [...new Set(sources)],
            duration: isFinite(el.duration) ? el.duration : null, ended: el.ended,
            error: el.error ? el.error.code : null};
  });
}"""

# A player that starts only when clicked: its play button (the usual names for one).
# Whole words only: "display", "playlist" or "screenplay" in a class name is no play button.
PLAY_BUTTONS = ("[aria-label='play' i], [aria-label^='play ' i], [title='play' i], [title^='play ' i], "
                "[class~='play' i], [class*='play-button' i], [class*='play-btn' i], [class*='playbutton' i], "
                "[class*='big-play' i], [class*='large-play' i], [data-play]")

MEDIA_TYPES = ("video/", "audio/", "application/vnd.apple.mpegurl", "application/x-mpegurl",
               "audio/mpegurl", "application/dash+xml", "video/mp2t")
MEDIA_SUFFIXES = (".mp4", ".m4v", ".m4a", ".m4s", ".webm", ".mp3", ".ogg", ".ogv", ".oga", ".opus", ".wav",
                  ".mov", ".ts", ".m3u8", ".mpd", ".aac", ".flac")
RATE = 16.0  # Chromium's fastest playback rate


def is_media(url: str, content_type: str | None) -> bool:
    """Whether a response is media (a file, a stream's playlist, manifest or segment)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind.startswith(MEDIA_TYPES):
        return True
    path = url.split("?")[0].split("#")[0].lower()
    return (not kind or kind in ("application/octet-stream", "binary/octet-stream")) and path.endswith(MEDIA_SUFFIXES)


def stream_kind(url: str, content_type: str | None) -> str | None:
    """'hls' or 'dash' for a stream's playlist or manifest, else None."""
    kind = (content_type or "").lower()
    path = url.split("?")[0].lower()
    if "mpegurl" in kind or path.endswith(".m3u8"):
        return "hls"
    if "dash+xml" in kind or path.endswith(".mpd"):
        return "dash"
    return None


@dataclass(frozen=True)
class MediaLimits:
    seconds: float = 120  # CAPTURE_MEDIA_SECONDS: playing and fetching media, per capture
    max_bytes: int = 500_000_000  # CAPTURE_MEDIA_MAX_BYTES: media bytes recorded, per capture


async def play_all(page, seconds: float) -> tuple[list[dict], bool]:
    """Play every media element of every frame until all have ended or ``seconds`` pass;
    (the elements found, whether all ended). Clicks a play button where a frame shows none."""
    end = time.monotonic() + seconds
    elements = await _scan(page)
    if not any(e["sources"] for e in elements):
        await _click_play(page)
        elements = await _scan(page)
    while elements and time.monotonic() < end:
        if all(e["ended"] or e["error"] is not None for e in elements):
            return elements, True
        await asyncio.sleep(0.25)
        elements = await _scan(page)
    return elements, all(e["ended"] or e["error"] is not None for e in elements)


async def _scan(page) -> list[dict]:
    found = []
    for frame in page.frames:
        try:
            found += await asyncio.wait_for(frame.evaluate(PLAY_JS, RATE), 5)
        except (TimeoutError, PlaywrightError):
            continue  # a frame gone or navigating: nothing to play there
    return found


async def _click_play(page) -> None:
    for frame in page.frames:
        try:
            buttons = await frame.query_selector_all(PLAY_BUTTONS)
            for button in buttons[:5]:
                # Never a link: a click that navigates would change the page being captured.
                if await button.is_visible() and await button.evaluate("b => !b.closest('a[href], form')"):
                    await button.click(timeout=2000)
                    return
        except PlaywrightError:
            continue


class StreamFetcher:
    """Fetches through the recording proxy the parts of media that playing did not: whole files, and
    every playlist, segment and init part of a stream (recorded and checked like the browser's)."""

    def __init__(self, proxy, user_agent: str | None, deadline: float):
        self.proxy = proxy
        self.user_agent = user_agent
        self.deadline = deadline
        self.fetched: set[str] = set()
        self.left_out: list[str] = []

    def _complete(self, url: str) -> Exchange | None:
        for ex in self.proxy.exchanges:
            if ex.url == url and ex.method == "GET" and ex.status == 200 and not ex.truncated:
                return ex
        return None

    async def get(self, url: str, keep: bool = True) -> bytes | None:
        """The whole body of ``url``: recorded already, or fetched now; None past a limit or on failure."""
        ex = self._complete(url)
        if ex is not None:
            if not keep:
                return b""
            ex.body.seek(0)
            data = ex.body.read()
            ex.body.seek(0, 2)
            return data
        if url in self.fetched or self.proxy.media_limit_reached or time.monotonic() >= self.deadline:
            if url not in self.fetched:
                self.left_out.append(url)
            return None
        self.fetched.add(url)
        timeout = max(self.deadline - time.monotonic(), 0.1)
        return await asyncio.to_thread(_fetch, url, self.proxy.port, self.user_agent, timeout, keep)

    async def fetch(self, url: str, content_type: str | None = None) -> None:
        """``url`` whole, and if it is a stream, everything it lists."""
        kind = stream_kind(url, content_type)
        if kind is None:
            await self.get(url, keep=False)  # the whole file recorded; its bytes are not needed here
            return
        data = await self.get(url)
        if data is None:
            return
        text = data.decode("utf-8", "replace")
        parts = hls_parts(url, text) if kind == "hls" else dash_parts(url, text)
        for part in parts:
            if part.split("?")[0].lower().endswith((".m3u8", ".mpd")):
                await self.fetch(part)
            else:
                await self.get(part)


def _fetch(url: str, proxy_port: int, user_agent: str | None, timeout: float, keep: bool) -> bytes | None:
    """GET ``url`` through the proxy (plain for http, CONNECT for https: the proxy's own certificate,
    as the browser accepts it); the body if ``keep``, else read through and dropped."""
    proxy = f"http://127.0.0.1:{proxy_port}"
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy, "https": proxy}),
                                         urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, headers={"User-Agent": user_agent} if user_agent else {})
    try:
        with opener.open(request, timeout=timeout) as response:
            if not keep:
                while response.read(1 << 16):
                    pass
                return b""
            return response.read()
    except (OSError, ValueError, http.client.HTTPException):
        return None


_URI_ATTR = re.compile(r'URI="([^"]+)"')


def hls_parts(base: str, playlist: str) -> list[str]:
    """Absolute URLs an HLS playlist names: variant playlists, renditions, init maps, keys, segments."""
    parts = []
    for line in playlist.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts += [urljoin(base, uri) for uri in _URI_ATTR.findall(line)]
        else:
            parts.append(urljoin(base, line))
    return list(dict.fromkeys(parts))


def dash_parts(base: str, manifest: str) -> list[str]:
    """Absolute URLs a DASH manifest names: BaseURL files, SegmentList entries, and SegmentTemplate
    initialization and media segments (by SegmentTimeline, or by duration over the presentation)."""
    try:
        root = ElementTree.fromstring(manifest)
    except ElementTree.ParseError:
        return []
    ns = {"d": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {"d": ""}
    q = (lambda name: f"d:{name}") if ns["d"] else (lambda name: name)
    total = _iso_seconds(root.get("mediaPresentationDuration", ""))
    parts: list[str] = []
    for adaptation in root.iter(f"{{{ns['d']}}}AdaptationSet" if ns["d"] else "AdaptationSet"):
        set_template = adaptation.find(q("SegmentTemplate"), ns)
        for rep in adaptation.findall(q("Representation"), ns):
            where = base
            for level in (root, adaptation, rep):
                found = level.find(q("BaseURL"), ns)
                if found is not None and found.text:
                    where = urljoin(where, found.text.strip())
            template = rep.find(q("SegmentTemplate"), ns)
            template = template if template is not None else set_template
            seglist = rep.find(q("SegmentList"), ns)
            if template is not None:
                parts += _template_parts(where, template, rep, total, q, ns)
            elif seglist is not None:
                init = seglist.find(q("Initialization"), ns)
                if init is not None and init.get("sourceURL"):
                    parts.append(urljoin(where, init.get("sourceURL")))
                segments = seglist.findall(q("SegmentURL"), ns)
                parts += [urljoin(where, s.get("media")) for s in segments if s.get("media")]
            elif where != base:
                parts.append(where)
    return list(dict.fromkeys(parts))


def _template_parts(where: str, template, rep, total: float, q, ns) -> list[str]:
    def fill(pattern: str, number: int | None = None, at: int | None = None) -> str:
        out = pattern.replace("$RepresentationID$", rep.get("id", "")).replace("$Bandwidth$", rep.get("bandwidth", ""))
        out = re.sub(r"\$Number(%0(\d+)d)?\$", lambda m: str(number).zfill(int(m.group(2) or 0)), out)
        return re.sub(r"\$Time(%0(\d+)d)?\$", lambda m: str(at).zfill(int(m.group(2) or 0)), out)

    parts = []
    if template.get("initialization"):
        parts.append(urljoin(where, fill(template.get("initialization"))))
    media = template.get("media")
    if not media:
        return parts
    number = int(template.get("startNumber", "1"))
    timeline = template.find(q("SegmentTimeline"), ns)
    if timeline is not None:
        at = 0
        for s in timeline.findall(q("S"), ns):
            at = int(s.get("t", at))
            for _ in range(int(s.get("r", "0")) + 1):
                parts.append(urljoin(where, fill(media, number, at)))
                at += int(s.get("d", "0"))
                number += 1
        return parts
    duration, scale = int(template.get("duration", "0")), int(template.get("timescale", "1"))
    count = int(-(-total * scale // duration)) if duration and total else 0
    return parts + [urljoin(where, fill(media, number + i, None)) for i in range(min(count, 100_000))]


def _iso_seconds(text: str) -> float:
    """Seconds in an ISO 8601 duration such as PT1M30.5S."""
    m = re.fullmatch(r"P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", text.strip())
    if not m:
        return 0.0
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


async def capture_media(page, proxy, limits: MediaLimits, left: float,
                        user_agent: str | None = None) -> tuple[dict, list[str]]:
    """Play the page's media and fetch the rest of it; (a summary for the provenance, partial reasons)."""
    seconds = min(limits.seconds, left)
    deadline = time.monotonic() + seconds
    elements, ended = await play_all(page, seconds)
    fetcher = StreamFetcher(proxy, user_agent, deadline)
    sources = [s for e in elements for s in e["sources"]]
    seen = [(ex.url, ex.header("content-type")) for ex in list(proxy.exchanges) if ex.media]
    for url, content_type in [*[(s, None) for s in sources], *seen]:
        await fetcher.fetch(url, content_type)
    reasons = []
    if proxy.media_limit_reached:
        reasons.append(f"media reached its byte limit (CAPTURE_MEDIA_MAX_BYTES = {limits.max_bytes} bytes)")
    elif fetcher.left_out or (elements and not ended and time.monotonic() >= deadline):
        reasons.append(f"media not complete within its time limit (CAPTURE_MEDIA_SECONDS = {limits.seconds:g} s)")
    summary = {"elements": elements, "fetched": sorted(fetcher.fetched), "left_out": fetcher.left_out[:50],
               "media_bytes": proxy.media_bytes}
    return summary, reasons
