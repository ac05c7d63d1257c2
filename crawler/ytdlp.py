"""Media through yt-dlp, beside the browser capture: for pages yt-dlp's extractors read (TikTok,
YouTube, Telegram, X, VK and hundreds more, and any page with a <video> or an HLS link through its
generic extractor) and players the browser could not drive.

yt-dlp runs as a subprocess (so a capture's time limit can stop it) whose every fetch goes through a
recording proxy of its own, with the capture's address policy, host rules and vantage: what it
fetched is recorded and checked exactly as the browser's requests are.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

SUBTITLE_SUFFIXES = (".vtt", ".srt", ".ass", ".ttml", ".srv3", ".json3")
THUMBNAIL_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# What of yt-dlp's info.json the record page and the search index use; the whole file is kept too.
INFO_FIELDS = ("id", "title", "description", "uploader", "uploader_id", "uploader_url", "channel", "creator",
               "timestamp", "upload_date", "duration", "view_count", "like_count", "comment_count",
               "repost_count", "webpage_url", "extractor", "extractor_key", "format_id", "ext", "protocol",
               "width", "height", "url", "filesize")


def ytdlp_version() -> str | None:
    """yt-dlp's version (for the provenance), or None when it is not installed."""
    try:
        return version("yt-dlp")
    except PackageNotFoundError:
        return None


@dataclass
class YtdlpFile:
    """One file yt-dlp wrote: the media, its thumbnail or a subtitle track."""

    kind: str  # media, thumbnail, subtitles
    path: Path
    size: int
    sha256: str
    lang: str | None = None


@dataclass
class YtdlpResult:
    version: str | None
    ok: bool
    error: str | None = None
    info: dict = field(default_factory=dict)  # the whole info.json
    files: list[YtdlpFile] = field(default_factory=list)
    workdir: Path | None = None
    timed_out: bool = False
    too_large: bool = False

    @property
    def media(self) -> YtdlpFile | None:
        return next((f for f in self.files if f.kind == "media"), None)

    def summary(self) -> dict:
        """For the provenance: which yt-dlp, what it found, why it stopped."""
        return {"version": self.version, "ok": self.ok, "error": self.error, "timed_out": self.timed_out,
                "too_large": self.too_large, "extractor": self.info.get("extractor_key"),
                "files": [{"kind": f.kind, "name": f.path.name, "size": f.size, "sha256": f.sha256,
                           "lang": f.lang} for f in self.files]}

    def cleanup(self) -> None:
        if self.workdir is not None:
            for path in sorted(self.workdir.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            with contextlib.suppress(OSError):
                self.workdir.rmdir()


def media_info(info: dict) -> dict:
    """The fields of yt-dlp's info.json that are shown and indexed."""
    return {k: info[k] for k in INFO_FIELDS if info.get(k) not in (None, "", [])}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def command(url: str, proxy_port: int, workdir: Path, max_bytes: int, user_agent: str | None) -> list[str]:
    """yt-dlp's command line: the best single file (no merging, no fix-up, so the file is the bytes
    served), its info.json, thumbnail and every subtitle track, all fetched through the proxy."""
    args = [sys.executable, "-m", "yt_dlp", "--ignore-config", "--no-cache-dir", "--no-playlist",
            # A page with several players is a "playlist" to the generic extractor: its first is the post's.
            "--playlist-items", "1", "--no-write-playlist-metafiles",
            "--proxy", f"http://127.0.0.1:{proxy_port}", "--no-check-certificates",
            "-f", "best/bestvideo/bestaudio", "--max-filesize", str(max_bytes), "--fixup", "never",
            "--no-part", "--no-mtime", "--no-progress", "--no-warnings", "--socket-timeout", "30",
            "--write-info-json", "--no-clean-info-json", "--write-thumbnail", "--write-subs",
            "--sub-langs", "all", "-o", str(workdir / "media.%(ext)s")]
    if user_agent:
        args += ["--user-agent", user_agent]
    return [*args, "--", url]


async def run_ytdlp(url: str, proxy_port: int, max_bytes: int, timeout: float,
                    user_agent: str | None = None) -> YtdlpResult:
    """yt-dlp on ``url`` through the recording proxy on ``proxy_port``; its files in a temporary folder
    the caller cleans up (``YtdlpResult.cleanup``) once they are stored."""
    found = ytdlp_version()
    if found is None:
        return YtdlpResult(None, False, "yt-dlp is not installed: pip install -r requirements.txt")
    workdir = Path(tempfile.mkdtemp(prefix="ytdlp-"))
    result = YtdlpResult(found, False, workdir=workdir)
    proc = await asyncio.create_subprocess_exec(
        *command(url, proxy_port, workdir, max_bytes, user_agent),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), max(timeout, 1))
    except TimeoutError:
        proc.kill()
        await proc.wait()
        result.timed_out, err = True, b""
        result.error = f"yt-dlp did not finish within {timeout:g} s"
    message = err.decode("utf-8", "replace").strip()
    lines = [line for line in message.splitlines() if "ERROR" in line] or message.splitlines()[-1:]
    if proc.returncode and not result.error:
        result.error = " ".join(lines)[:500] or f"yt-dlp exited with {proc.returncode}"
    if "larger than max-filesize" in message or "File is larger than max-filesize" in message:
        result.too_large = True
        result.error = result.error or f"the media is larger than the limit ({max_bytes} bytes)"
    _collect(result, workdir)
    result.ok = result.media is not None and not result.timed_out
    return result


def _without_local_paths(value):
    """info.json without where yt-dlp wrote on this machine (temporary paths say nothing of the media)."""
    if isinstance(value, dict):
        return {k: _without_local_paths(v) for k, v in value.items()
                if not k.startswith("_") and k not in ("filepath", "filename", "infojson_filename")}
    if isinstance(value, list):
        return [_without_local_paths(v) for v in value]
    return value


def _collect(result: YtdlpResult, workdir: Path) -> None:
    info_path = workdir / "media.info.json"
    if info_path.is_file():
        with contextlib.suppress(ValueError):
            result.info = _without_local_paths(json.loads(info_path.read_text("utf-8")))
    for path in sorted(workdir.iterdir()):
        if not path.is_file() or path.name == "media.info.json" or path.stat().st_size == 0:
            continue
        name = path.name
        if name.endswith(SUBTITLE_SUFFIXES):
            lang = name[len("media."):].rsplit(".", 1)[0] or None
            kind = "subtitles"
        elif name.endswith(THUMBNAIL_SUFFIXES) and "." not in name[len("media."):].rsplit(".", 1)[0]:
            lang, kind = None, "thumbnail"
        elif name.count(".") == 1:
            lang, kind = None, "media"
        else:
            continue  # yt-dlp's leftovers (.part, .ytdl, fragments)
        result.files.append(YtdlpFile(kind, path, path.stat().st_size, _sha256(path), lang))


def without_its_file(exchanges: list, result: YtdlpResult) -> list:
    """yt-dlp's exchanges without the response that is its downloaded file: that file is stored as a
    ``resource`` record at the same URL (archive.capturing.media), not twice."""
    media, url = result.media, result.info.get("url")
    if media is None or not url:
        return exchanges

    def same(ex) -> bool:
        if ex.url != url or ex.status != 200 or ex.truncated or ex.body_length != media.size:
            return False
        ex.body.seek(0)
        digest = hashlib.sha256()
        while chunk := ex.body.read(1 << 20):
            digest.update(chunk)
        return digest.hexdigest() == media.sha256

    return [ex for ex in exchanges if not same(ex)]


def subtitle_text(data: bytes) -> str:
    """The words of a WebVTT or SRT track, without cue numbers, timings and tags (for search)."""
    words = []
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if (not line or line == "WEBVTT" or "-->" in line or line.isdigit()
                or line.startswith(("NOTE", "STYLE", "REGION", "Kind:", "Language:"))):
            continue
        words.append(_TAG.sub("", line))
    return "\n".join(dict.fromkeys(words))


_TAG = re.compile(r"<[^>]+>")

MODES = ("auto", "always", "never")


@functools.cache
def _site_extractors() -> tuple:
    """yt-dlp's extractors for particular sites (its generic one, which reads any page, left out)."""
    from yt_dlp.extractor import gen_extractor_classes

    return tuple(ie for ie in gen_extractor_classes() if ie.ie_key() != "Generic" and ie.working())


def site_extractor(url: str) -> str | None:
    """The name of yt-dlp's extractor made for ``url``'s site (TikTok, Youtube, Telegram...), or None."""
    if ytdlp_version() is None:
        return None
    return next((ie.ie_key() for ie in _site_extractors() if ie.suitable(url)), None)


def wants_ytdlp(mode: str, url: str, media: dict | None) -> bool:
    """Whether yt-dlp runs for this capture: ``always``, ``never``, or (``auto``) when one of its site
    extractors reads the URL or the page has a player the browser could not drive."""
    if mode not in MODES:
        raise ValueError(f"yt-dlp mode {mode!r}: use one of {', '.join(MODES)}")
    if mode != "auto":
        return mode == "always"
    # A player with an http(s) source was fetched whole by the browser capture already; one without (a
    # blob: of a script-fed stream, or none yet) is what the browser could not drive.
    elements = (media or {}).get("elements") or []
    if any(not e.get("sources") for e in elements):
        return True
    return site_extractor(url) is not None
