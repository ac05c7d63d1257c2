"""A capture's media as WARC records and as facts: the file yt-dlp fetched as a ``resource`` at the
media's own URL (so replay finds it), its info.json, thumbnail and subtitles, and one ``metadata``
record (``urn:media:<page>``) listing every media file and stream of the capture with its size,
SHA-256 and duration, plus the post's metadata (author, time, text, counts) for the record page and
the search index.
"""
from __future__ import annotations

import hashlib
import json
import mimetypes
from io import BytesIO
from typing import Any
from urllib.parse import urljoin

import lxml.html

from archive.catalog import get_records
from archive.warc.store import read_payload, read_record
from crawler.httpwire import Exchange
from crawler.media import is_media, stream_kind
from crawler.ytdlp import YtdlpResult, media_info, subtitle_text

MEDIA_URN = "urn:media:"
_MEDIA_TRACKS = ("subtitles", "thumbnail")  # urn:media:<kind>:...: yt-dlp's other files


def media_role(rec_type: str, uri: str) -> str | None:
    """The catalog role a media record is stored under, from its WARC type and the URI this module gave
    it (what `reindex --catalog` reads back), or None for a record that is not a media one."""
    if not uri.startswith(MEDIA_URN):
        return None
    kind = uri[len(MEDIA_URN):].split(":", 1)[0]
    if rec_type == "metadata":
        return "media-info" if kind == "info" else "media"
    return f"media-{kind}" if kind in _MEDIA_TRACKS else "media-file"


def _sha256(ex: Exchange) -> str:
    """The SHA-256 of a response's body; the body is left at its start, as its record will read it from there."""
    ex.body.seek(0)
    digest = hashlib.sha256()
    while chunk := ex.body.read(1 << 20):
        digest.update(chunk)
    ex.body.seek(0)
    return digest.hexdigest()


def _complete(ex: Exchange) -> bool:
    return ex.method == "GET" and ex.status == 200 and not ex.truncated


def without_covered_ranges(exchanges: list[Exchange]) -> tuple[list[Exchange], list[dict]]:
    """The capture's exchanges without the players' range responses (206) of media whose whole file (200)
    was recorded too, and a note of each left out (URL, range asked, bytes). Replay answers any range from
    the whole file; kept, the ranges would store a large video several times over (a player seeking at
    16x asks for the rest of the file again and again)."""
    whole = {ex.url for ex in exchanges if ex.media and _complete(ex)}
    kept, left = [], []
    for ex in exchanges:
        if ex.media and ex.status == 206 and ex.url in whole:
            asked = next((line.split(b":", 1)[1].strip().decode("latin-1") for line in ex.request_head.split(b"\r\n")
                          if line.lower().startswith(b"range:")), None)
            left.append({"url": ex.url, "range": asked, "content_range": ex.header("content-range"),
                         "bytes": ex.body_length, "time": ex.started.isoformat()})
        else:
            kept.append(ex)
    return kept, left


def ytdlp_media_uri(info: dict, page_url: str) -> str:
    """Where the file yt-dlp fetched is stored: the media's own URL for a single file; for a stream
    (whose playlist and segments keep their URLs as responses) ``urn:media:<playlist URL>``."""
    url = info.get("url") or ""
    if url.startswith("http") and not str(info.get("protocol", "http")).startswith(("m3u8", "http_dash", "f4m")):
        return url
    return MEDIA_URN + (info.get("manifest_url") or url or info.get("webpage_url") or page_url)


def _content_type(name: str, fallback: str = "application/octet-stream") -> str:
    return mimetypes.guess_type(name)[0] or {".vtt": "text/vtt", ".ts": "video/mp2t"}.get(
        name[name.rfind("."):], fallback)


class MediaRecords:
    """Builds the media records of one capture (given the response ids of its complete responses)."""

    def __init__(self, page_url: str, exchanges: list[Exchange], ytdlp: YtdlpResult | None, elements: list[dict],
                 make_record):
        self.page_url = page_url
        self.exchanges = exchanges
        self.ytdlp = ytdlp
        self.durations = {s: e.get("duration") for e in elements for s in e.get("sources", [])}
        self.make_record = make_record  # (uri, rec_type, payload stream, length, content type) -> record

    def text(self) -> str:
        """What of the media is searchable: yt-dlp's title and description and the subtitles' words."""
        if self.ytdlp is None:
            return ""
        parts = [self.ytdlp.info.get("title") or "", self.ytdlp.info.get("description") or ""]
        parts += [subtitle_text(f.path.read_bytes()) for f in self.ytdlp.files if f.kind == "subtitles"]
        return "\n\n".join(p.strip() for p in parts if p and p.strip())

    def items(self, response_ids: dict[str, str]) -> tuple[list[tuple[str, Any]], list[dict]]:
        """(role, record) pairs to write, and the items for the listing."""
        records: list[tuple[str, Any]] = []
        items = self._browser_items(response_ids)
        if self.ytdlp is not None and self.ytdlp.media is not None:
            item, extra = self._ytdlp_item(response_ids)
            items.insert(0, item)
            records += extra
        return records, items

    def _browser_items(self, response_ids: dict[str, str]) -> list[dict]:
        items, streams = [], {}
        for ex in self.exchanges:
            if not (ex.media and _complete(ex)):
                continue
            kind = stream_kind(ex.url, ex.header("content-type"))
            if kind:
                streams[ex.url] = {"url": ex.url, "kind": kind, "source": "browser",
                                   "record_id": response_ids.get(ex.url)}
            elif not ex.url.split("?")[0].endswith((".ts", ".m4s")):
                items.append({"url": ex.url, "kind": "file", "source": "browser", "record_id": response_ids.get(ex.url),
                              "content_type": ex.header("content-type"), "size": ex.body_length,
                              "sha256": _sha256(ex), "duration": self.durations.get(ex.url)})
        for stream in streams.values():  # a stream's parts: what its playlists name, as recorded
            parts = [ex for ex in self.exchanges if ex.media and not stream_kind(ex.url, ex.header("content-type"))
                     and ex.url.rsplit("/", 1)[0] == stream["url"].rsplit("/", 1)[0]]
            stream.update(segments=len(parts), size=sum(ex.body_length for ex in parts),
                          complete=all(_complete(ex) for ex in parts), duration=self.durations.get(stream["url"]))
        return items + list(streams.values())

    def _ytdlp_item(self, response_ids: dict[str, str]) -> tuple[dict, list[tuple[str, Any]]]:
        result = self.ytdlp
        media = result.media
        info = result.info
        uri = ytdlp_media_uri(info, self.page_url)
        records = []
        record_id = None
        same = next((ex for ex in self.exchanges
                     if ex.url == uri and _complete(ex) and _sha256(ex) == media.sha256), None)
        if same is not None:  # the browser recorded the very same bytes at that URL: stored once
            record_id = response_ids.get(uri)
        else:
            # Read when the record is written (the file may be large); closed when it is collected.
            fh = media.path.open("rb")  # noqa: SIM115
            rec = self.make_record(uri, "resource", fh, media.size, _content_type(media.path.name, "video/mp4"))
            records.append(("media", rec))
            record_id = rec.rec_headers.get_header("WARC-Record-ID")
        tracks = []
        for f in result.files:
            if f.kind == "media":
                continue
            data = f.path.read_bytes()
            sub_uri = f"{MEDIA_URN}{f.kind}:{f.lang + ':' if f.lang else ''}{uri}"
            rec = self.make_record(sub_uri, "resource", BytesIO(data), len(data), _content_type(f.path.name))
            records.append((f"media-{f.kind}", rec))
            tracks.append({"kind": f.kind, "lang": f.lang, "uri": sub_uri, "size": f.size, "sha256": f.sha256})
        whole = json.dumps(info, ensure_ascii=False, default=str).encode("utf-8")
        records.append(("media-info", self.make_record(f"{MEDIA_URN}info:{uri}", "metadata", BytesIO(whole),
                                                       len(whole), "application/json")))
        # yt-dlp knows a site's durations; for a bare <video> the browser's player read it.
        duration = info.get("duration") or self.durations.get(info.get("url") or uri)
        item = {"url": uri, "kind": "file", "source": "yt-dlp", "record_id": record_id, "duration": duration,
                "content_type": _content_type(media.path.name, "video/mp4"), "size": media.size,
                "sha256": media.sha256, "info": media_info(info), "files": tracks}
        return item, records


def media_listing(db, warc_dir, capture_id: int) -> dict:
    """The capture's ``urn:media:`` record: {items, post, yt_dlp}; empty lists when it has none."""
    refs = get_records(db, capture_id, role="media")
    if not refs:
        return {"items": [], "post": {}, "yt_dlp": None}
    return json.loads(read_payload(warc_dir, refs[0]).decode("utf-8"))


def media_payload(db, warc_dir, capture_id: int, number: int) -> tuple[bytes, str] | None:
    """The bytes and content type of the capture's media item ``number`` (0-based), from its record
    (a revisit's from the record it refers to); None when there is no such item or record."""
    items = media_listing(db, warc_dir, capture_id)["items"]
    if not 0 <= number < len(items) or not items[number].get("record_id"):
        return None
    refs = {r.record_id: r for r in get_records(db, capture_id, with_originals=True)}
    ref = refs.get(items[number]["record_id"])
    if ref is not None and ref.record_type == "revisit":
        ref = refs.get(ref.refers_to)
    if ref is None:
        return None
    return read_payload(warc_dir, ref), items[number].get("content_type") or ref.content_type


def stream_part(db, warc_dir, capture_id: int, number: int, part: str) -> tuple[bytes, str] | None:
    """The bytes and content type (as the site sent it) of ``part``, a path relative to the playlist of the
    capture's stream item ``number`` (the playlist's own name, or a segment or variant playlist it names
    relatively): what a player given the archived playlist asks for. None when the item is no stream or
    the capture has no complete response at that URL."""
    items = media_listing(db, warc_dir, capture_id)["items"]
    if not 0 <= number < len(items) or items[number].get("kind") not in ("hls", "dash"):
        return None
    url = urljoin(items[number]["url"], part)
    if not url.startswith(items[number]["url"].rsplit("/", 1)[0] + "/"):
        return None  # ../ out of the stream's folder: not one of its parts
    refs = get_records(db, capture_id, with_originals=True)
    by_id = {r.record_id: r for r in refs}
    for ref in refs:
        if ref.target_uri != url or ref.role not in ("main", "response") or ref.truncated:
            continue
        record = read_record(warc_dir, ref)
        headers = record.http_headers
        if headers is None or headers.get_statuscode() != "200":
            continue
        holder = by_id.get(ref.refers_to) if ref.record_type == "revisit" else ref
        if holder is not None:
            body = record.content_stream().read() if holder is ref else read_payload(warc_dir, holder)
            return body, headers.get_header("Content-Type") or _content_type(url.split("?")[0])
    return None


def post_metadata(dom: str, info: dict | None) -> dict:
    """Author, posting time, text and counts of a social post or article: from the page's JSON-LD,
    then Open Graph / article meta tags, then yt-dlp's info; the first source that has a field wins."""
    post: dict[str, Any] = {}
    try:
        tree = lxml.html.fromstring(dom) if dom.strip() else None
    except (ValueError, lxml.etree.ParserError):
        tree = None
    if tree is not None:
        for script in tree.xpath("//script[@type='application/ld+json']"):
            try:
                data = json.loads(script.text_content())
            except ValueError:
                continue
            for node in _ld_nodes(data):
                _merge(post, _from_json_ld(node))
        meta = {(m.get("property") or m.get("name") or "").lower(): m.get("content")
                for m in tree.xpath("//meta[@content]")}
        _merge(post, {"author": meta.get("article:author") or meta.get("author"),
                      "published": meta.get("article:published_time"),
                      "text": meta.get("og:description") or meta.get("description"),
                      "headline": meta.get("og:title")})
    if info:
        stamp = info.get("timestamp")
        _merge(post, {"author": info.get("uploader") or info.get("channel") or info.get("creator"),
                      "published": _iso(stamp) if stamp else _date(info.get("upload_date")),
                      "text": info.get("description"), "headline": info.get("title"),
                      "views": info.get("view_count"), "likes": info.get("like_count"),
                      "comments": info.get("comment_count"), "shares": info.get("repost_count")})
    return {k: v for k, v in post.items() if v not in (None, "")}


_COUNTERS = {"watchaction": "views", "viewaction": "views", "likeaction": "likes", "commentaction": "comments",
             "shareaction": "shares"}
_POST_TYPES = ("socialmediaposting", "videoobject", "newsarticle", "article", "blogposting", "discussionforumposting",
               "reportagenewsarticle")


def _ld_nodes(data) -> list[dict]:
    nodes = data if isinstance(data, list) else [data]
    out = []
    for node in nodes:
        if isinstance(node, dict):
            out += _ld_nodes(node["@graph"]) if "@graph" in node else [node]
    kinds = [n for n in out if str(n.get("@type", "")).lower() in _POST_TYPES]
    return kinds


def _from_json_ld(node: dict) -> dict:
    author = node.get("author") or node.get("creator")
    if isinstance(author, list):
        author = author[0] if author else None
    if isinstance(author, dict):
        author = author.get("name") or author.get("alternateName")
    counts = {}
    stats = node.get("interactionStatistic") or []
    for stat in stats if isinstance(stats, list) else [stats]:
        if isinstance(stat, dict):
            kind = stat.get("interactionType")
            kind = (kind.get("@type") if isinstance(kind, dict) else str(kind or "")).rsplit("/", 1)[-1].lower()
            if kind in _COUNTERS and str(stat.get("userInteractionCount", "")).isdigit():
                counts[_COUNTERS[kind]] = int(stat["userInteractionCount"])
    return {"author": author, "published": node.get("datePublished") or node.get("uploadDate"),
            "text": node.get("articleBody") or node.get("text") or node.get("description"),
            "headline": node.get("headline") or node.get("name"), **counts}


def _merge(into: dict, more: dict) -> None:
    for key, value in more.items():
        if value not in (None, "") and into.get(key) in (None, ""):
            into[key] = value.strip() if isinstance(value, str) else value


def _iso(stamp) -> str | None:
    from datetime import UTC, datetime

    try:
        return datetime.fromtimestamp(float(stamp), UTC).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


def _date(value) -> str | None:
    text = str(value or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else None


__all__ = ["MEDIA_URN", "MediaRecords", "is_media", "media_listing", "media_payload", "without_covered_ranges",
           "media_role", "post_metadata", "stream_part", "ytdlp_media_uri"]
