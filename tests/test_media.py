"""Issue 16: video, audio and social posts. Real media made by ffmpeg (tests/mediasite.py) served under
news and player host names, captured once per module by the real worker (Chromium through the
recording proxy, yt-dlp through its own), then read back from the WARC files, the replay origin,
the record page, the WACZ and the search index."""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import threading
import zipfile
from contextlib import contextmanager

import lxml.html
import pytest
import requests

from archive import catalog
from archive.capturing import jobs
from archive.capturing.media import media_listing, post_metadata
from archive.capturing.worker import Worker
from archive.replay.origin import HLS_JS, create_replay_app, missing_hls_player
from archive.settings import Settings
from archive.warc.store import read_payload, read_record
from archive.warc.wacz import export_wacz
from crawler.capture import CaptureOptions, Capturer
from crawler.media import MediaLimits, dash_parts, hls_parts, is_media
from crawler.ytdlp import ytdlp_version
from search import SearchQuery, open_backend

from .mediasite import JSON_LD, NEWS, PLAYER, ffmpeg, media_site  # noqa: F401 (the fixture)
from .replaying import replay_origin_server
from .webapp import LiveServer

MEDIA_MAX_BYTES = 600_000  # every small page fits; the 30 s broadcast (about 1.5 MB) does not


@pytest.fixture(scope="module")
def archived(media_site, tmp_path_factory):  # noqa: F811
    """Every media page captured by one worker run; the site is still up (for byte comparisons)."""
    home = tmp_path_factory.mktemp("media") / "home"
    settings = Settings.from_env({"ARCHIVE_HOME": str(home), "CAPTURE_ALLOW_NETWORKS": "127.0.0.1/32",
                                  "CAPTURE_HOST_RULES": media_site.rules, "CAPTURE_SETTLE_TIMEOUT": "3",
                                  "CAPTURE_TIMEOUT": "40", "CAPTURE_MEDIA_SECONDS": "90",
                                  "CAPTURE_MEDIA_MAX_BYTES": str(MEDIA_MAX_BYTES), "CAPTURE_YTDLP": "never"})
    db = catalog.connect(settings.catalog_path)
    pages = {  # name: (URL, the submission's yt-dlp option)
        "post": (media_site.url("post.html"), "always"),
        "hls": (media_site.url("hls.html"), None),
        "hls_link": (media_site.url("media/stream/index.m3u8"), "always"),
        "click": (media_site.url("click.html"), None),
        "long": (media_site.url("long.html"), None),
    }
    job_ids = {name: jobs.enqueue(db, url, options={"ytdlp": mode} if mode else None)
               for name, (url, mode) in pages.items()}
    asyncio.run(Worker(settings).run(threading.Event(), once=True))
    found = {name: jobs.get_job(db, job_id) for name, job_id in job_ids.items()}
    failed = {name: job for name, job in found.items() if job["status"] != "done"}
    assert not failed, failed
    ids = {name: job["capture_id"] for name, job in found.items()}
    yield settings, db, ids
    db.close()


def payloads(settings, db, capture_id: int) -> dict[tuple[str, str, int | None], list[bytes]]:
    """(record type, URI, HTTP status) -> payloads, revisits resolved to their originals."""
    refs = catalog.get_records(db, capture_id, with_originals=True)
    by_id = {r.record_id: r for r in refs}
    out: dict = {}
    for ref in refs:
        if ref.role == "original" or ref.record_type in ("request", "warcinfo"):
            continue
        record = read_record(settings.warc_dir, ref)
        status = int(record.http_headers.get_statuscode()) if record.http_headers and ref.record_type in (
            "response", "revisit") else None
        source = by_id[ref.refers_to] if ref.record_type == "revisit" else ref
        out.setdefault((ref.record_type, ref.target_uri, status), []).append(read_payload(settings.warc_dir, source))
    return out


def whole(found: dict, url: str) -> bytes:
    """The complete (200) response payload recorded for ``url``."""
    return found[("response", url, 200)][0] if ("response", url, 200) in found else found[("revisit", url, 200)][0]


def test_video_audio_in_iframe_and_shadow_dom_are_kept_whole_and_byte_identical(archived, media_site):  # noqa: F811
    settings, db, ids = archived
    found = payloads(settings, db, ids["post"])
    assert whole(found, media_site.url("media/clip.mp4")) == media_site.file("clip.mp4")  # the page's <video>
    assert whole(found, media_site.url("media/embed.webm", PLAYER)) == media_site.file("embed.webm")  # iframe
    assert whole(found, media_site.url("media/tone.webm")) == media_site.file("tone.webm")  # shadow root
    # The player's range requests (206) went through the proxy; the whole file (200) answers them in
    # replay, so they are noted in the provenance rather than stored as more copies of the video.
    assert not [key for key in found if key[2] == 206]
    provenance = next(r for r in catalog.get_records(db, ids["post"]) if r.role == "provenance")
    ranges = json.loads(read_payload(settings.warc_dir, provenance))["media_ranges_not_stored"]
    assert media_site.url("media/clip.mp4") in {r["url"] for r in ranges}
    assert all(r["range"] and r["range"].startswith("bytes=") for r in ranges)
    capture = catalog.get_capture(db, ids["post"])
    assert not capture["partial"], capture["partial_reasons"]


def test_hls_playlist_and_every_segment_are_kept(archived, media_site):  # noqa: F811
    settings, db, ids = archived
    found = payloads(settings, db, ids["hls"])
    playlist = media_site.file("stream/index.m3u8")
    assert whole(found, media_site.url("media/stream/index.m3u8")) == playlist
    segments = [line for line in playlist.decode().splitlines() if line.endswith(".ts")]
    assert len(segments) >= 3
    for name in segments:
        assert whole(found, media_site.url(f"media/stream/{name}")) == media_site.file(f"stream/{name}")


def test_a_player_that_starts_on_click_is_clicked_and_recorded(archived, media_site):  # noqa: F811
    settings, db, ids = archived
    found = payloads(settings, db, ids["click"])
    assert whole(found, media_site.url("media/click.webm")) == media_site.file("click.webm")


def test_the_media_byte_limit_cuts_a_long_stream_and_marks_the_capture_partial(archived, media_site):  # noqa: F811
    settings, db, ids = archived
    capture = catalog.get_capture(db, ids["long"])
    assert capture["partial"]
    assert any("CAPTURE_MEDIA_MAX_BYTES" in reason for reason in capture["partial_reasons"])
    kept = sum(ref.length for ref in catalog.get_records(db, ids["long"]) if ref.target_uri.endswith(".ts"))
    served = sum(p.stat().st_size for p in (media_site.root / "media" / "long").glob("*.ts"))
    assert kept < served and kept < MEDIA_MAX_BYTES + 100_000


def test_the_media_time_limit_cuts_a_long_stream_and_marks_the_capture_partial(media_site):  # noqa: F811
    """CAPTURE_MEDIA_SECONDS: 1 s cannot play the 30 s broadcast even at 16x; the capture says so."""
    settings = Settings.from_env({"CAPTURE_ALLOW_NETWORKS": "127.0.0.1/32", "CAPTURE_HOST_RULES": media_site.rules,
                                  "CAPTURE_SETTLE_TIMEOUT": "2", "CAPTURE_SCROLL_STEPS": "1", "CAPTURE_YTDLP": "never"})
    options = dataclasses.replace(CaptureOptions.from_settings(settings), media=MediaLimits(seconds=1))

    async def go():
        async with Capturer(options) as capturer:
            return await capturer.capture(media_site.url("long.html"), screenshot=False)

    result = asyncio.run(go())
    assert any("CAPTURE_MEDIA_SECONDS = 1 s" in reason for reason in result.partial_reasons), result.partial_reasons
    assert not any("CAPTURE_MEDIA_MAX_BYTES" in reason for reason in result.partial_reasons)


def test_ytdlp_generic_extractor_on_a_video_page(archived, media_site):  # noqa: F811
    settings, db, ids = archived
    listing = media_listing(db, settings.warc_dir, ids["post"])
    assert listing["yt_dlp"]["version"] == ytdlp_version() and listing["yt_dlp"]["ok"], listing["yt_dlp"]
    item = listing["items"][0]
    assert item["source"] == "yt-dlp" and item["url"] == media_site.url("media/clip.mp4")
    assert item["sha256"] == hashlib.sha256(media_site.file("clip.mp4")).hexdigest()
    # The generic extractor numbers a page's players: "(1)" is the first.
    assert item["info"]["title"].startswith("Arrest of a blogger in Bishkek")
    assert item["duration"] == pytest.approx(3, abs=0.2)
    refs = catalog.get_records(db, ids["post"])
    info = next(r for r in refs if r.role == "media-info")
    assert info.record_type == "metadata"
    whole_info = json.loads(read_payload(settings.warc_dir, info))
    assert whole_info["extractor"] in ("generic", "html5")  # the generic extractor's <video> embeds are "html5"
    assert whole_info["subtitles"]["en"][0]["url"] == media_site.url("media/clip.en.vtt")
    assert "/tmp/" not in json.dumps(whole_info)  # no path of the machine that ran yt-dlp
    subtitles = next(r for r in refs if r.role == "media-subtitles")
    assert read_payload(settings.warc_dir, subtitles) == media_site.file("clip.en.vtt")
    assert any(r.role == "media-thumbnail" for r in refs)
    provenance = next(r for r in refs if r.role == "provenance")
    assert json.loads(read_payload(settings.warc_dir, provenance))["yt_dlp"]["version"] == ytdlp_version()


def test_ytdlp_on_an_hls_link_stores_the_stream_as_one_resource(archived, media_site):  # noqa: F811
    settings, db, ids = archived
    playlist = media_site.file("stream/index.m3u8").decode()
    joined = b"".join(media_site.file(f"stream/{line}") for line in playlist.splitlines() if line.endswith(".ts"))
    listing = media_listing(db, settings.warc_dir, ids["hls_link"])
    item = listing["items"][0]
    assert item["source"] == "yt-dlp", listing
    resource = next(r for r in catalog.get_records(db, ids["hls_link"]) if r.record_id == item["record_id"])
    assert resource.record_type == "resource" and resource.target_uri.startswith("urn:media:")
    assert read_payload(settings.warc_dir, resource) == joined  # the segments, as served, in order


def test_replay_origin_answers_range_requests_with_the_archived_bytes(archived, media_site):  # noqa: F811
    settings, db, ids = archived
    clip = media_site.file("clip.mp4")
    with replay_origin_server(settings) as origin:
        url = f"{origin}/media/{ids['post']}/0"
        full = requests.get(url, timeout=10)
        assert full.status_code == 200 and full.content == clip and full.headers["Accept-Ranges"] == "bytes"
        part = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
        assert part.status_code == 206 and part.content == clip[1000:2000]
        assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(clip)}"
        tail = requests.get(url, headers={"Range": "bytes=-500"}, timeout=10)
        assert tail.status_code == 206 and tail.content == clip[-500:]
        player = requests.get(f"{origin}/player/{ids['post']}/0", timeout=10)
        assert f'src="/media/{ids["post"]}/0"' in player.text


def test_a_withheld_captures_stream_plays_only_with_a_staff_pass_carried_to_every_segment(archived, media_site):  # noqa: F811
    from archive.keys import secret_key
    from archive.staff.moderation import replay_pass

    settings, db, ids = archived
    kinds = [item["kind"] for item in media_listing(db, settings.warc_dir, ids["hls"])["items"]]
    base = f"/stream/{ids['hls']}/{kinds.index('hls')}"
    token = replay_pass(secret_key(settings), ids["hls"])
    with catalog.transaction(db):
        db.execute("UPDATE captures SET visibility = 'private' WHERE id = ?", (ids["hls"],))
    try:
        with replay_origin_server(settings) as origin:
            assert requests.get(f"{origin}{base}/index.m3u8", timeout=10).status_code == 403
            other = replay_pass(secret_key(settings), ids["post"])
            assert requests.get(f"{origin}{base}/~pass/{other}/index.m3u8", timeout=10).status_code == 403
            player = requests.get(f"{origin}/player/{ids['hls']}/{kinds.index('hls')}", params={"pass": token},
                                  timeout=10)
            assert f'src="{base}/~pass/{token}/index.m3u8"' in player.text
            # The playlist names its segments relatively: they are asked for under the same path, pass and all.
            segment = requests.get(f"{origin}{base}/~pass/{token}/seg000.ts", timeout=10)
            assert segment.content == media_site.file("stream/seg000.ts")
            assert segment.headers["Cache-Control"] == "private, no-store"
    finally:
        with catalog.transaction(db):
            db.execute("UPDATE captures SET visibility = 'public' WHERE id = ?", (ids["hls"],))


def test_record_page_shows_player_from_the_replay_origin_with_the_facts(archived, media_site):  # noqa: F811
    settings, db, ids = archived
    with LiveServer(settings) as app:
        page = lxml.html.fromstring(app.http.get(f"{app.url}/capture/{ids['post']}", timeout=10).text)
        stream = lxml.html.fromstring(app.http.get(f"{app.url}/capture/{ids['hls']}", timeout=10).text)
    # The browser-recorded HLS stream has its player too (it plays: see the HLS test below).
    kinds = [item["kind"] for item in media_listing(db, settings.warc_dir, ids["hls"])["items"]]
    assert stream.xpath("//section[@id='media']//iframe/@src") == [
        f"{settings.replay_origin}/player/{ids['hls']}/{kinds.index('hls')}"]
    frames = page.xpath("//section[@id='media']//iframe/@src")
    assert frames and all(src.startswith(settings.replay_origin + "/player/") for src in frames)
    assert not any(src.startswith(app.url) for src in frames)
    first = page.xpath("//div[@id='media-0']")[0]
    clip_sha256 = hashlib.sha256(media_site.file("clip.mp4")).hexdigest()
    assert first.xpath(".//code[@class='media-sha256']/text()") == [clip_sha256]
    assert first.xpath(".//dd[@class='media-size']/text()")[0].startswith(str(len(media_site.file("clip.mp4"))))
    assert first.xpath(".//dd[@class='media-duration']/text()")
    assert first.xpath(".//dd[@class='media-info-title']/text()")[0].startswith("Arrest of a blogger in Bishkek")
    assert page.xpath("//dd[@class='post-author']/text()") == ["Aibek Temirov"]
    assert page.xpath("//dd[@class='post-views']/text()") == ["15230"]


def test_wacz_and_pages_jsonl_include_the_media(archived, media_site, tmp_path):  # noqa: F811
    settings, db, ids = archived
    path = tmp_path / "media.wacz"
    export_wacz(db, settings.warc_dir, [ids["post"]], path)
    with zipfile.ZipFile(path) as z:
        index = z.read("indexes/index.cdx").decode()
        pages = [json.loads(line) for line in z.read("pages/pages.jsonl").decode().splitlines()[1:]]
    assert "/media/clip.mp4" in index and "urn:media:" in index
    assert "Милиция задержала блогера" in pages[0]["text"]  # the subtitles


def test_title_description_and_subtitles_are_searchable(archived):
    settings, db, ids = archived
    backend = open_backend(settings.search_backend, settings.index_dir, settings)
    for words in ("блогера Бишкеке", "interview takedown order", "Arrest blogger"):
        hits = backend.search(SearchQuery(q=words))
        assert ids["post"] in [int(h.id) for h in hits.hits], words


def test_search_by_the_posts_author(archived):
    settings, db, ids = archived
    assert catalog.get_capture(db, ids["post"])["author"] == "Aibek Temirov"
    backend = open_backend(settings.search_backend, settings.index_dir, settings)
    assert [int(h.id) for h in backend.search(SearchQuery(q="", author="aibek temirov")).hits] == [ids["post"]]
    assert backend.search(SearchQuery(q="", author="Temirov")).hits == []
    with LiveServer(settings) as app:
        reply = app.http.get(f"{app.url}/api/search", params={"author": "Aibek Temirov"}, timeout=10).json()
    assert [hit["id"] for hit in reply["hits"]] == [ids["post"]]


CATALOG_FIELDS = ("url", "final_url", "captured_at", "status", "title", "sha256", "partial", "partial_reasons",
                  "outcome", "author")
RECORD_FIELDS = ("role", "record_type", "target_uri", "record_id", "warc_file", "offset", "length", "refers_to")


def test_a_catalog_rebuilt_from_the_warc_files_keeps_the_media_and_the_posts_author(archived, tmp_path):
    """`reindex --catalog` on a lost catalog: media captures come back whole (their media records do not
    split them), with the media listing the record page and replay read, and searchable by author."""
    import shutil

    from archive.rebuild.reindex import reindex

    settings, db, ids = archived
    columns = ", ".join(CATALOG_FIELDS)
    captures = [tuple(r) for r in db.execute(f"SELECT {columns} FROM captures ORDER BY id")]
    records = [tuple(r) for r in db.execute(f"SELECT {', '.join(RECORD_FIELDS)} FROM records ORDER BY capture_id, id")]
    assert ("post", "Aibek Temirov") in [(n, catalog.get_capture(db, i)["author"]) for n, i in ids.items()]
    home = tmp_path / "home"
    shutil.copytree(settings.archive_home / "warcs", home / "warcs")
    rebuilt = dataclasses.replace(settings, archive_home=home)  # no catalog, no index: both from the WARCs

    report = reindex(rebuilt, rebuild_catalog=True)
    assert report.captures_added == len(captures) and not report.damage, report.summary()
    again = catalog.connect(rebuilt.catalog_path)
    try:
        assert [tuple(r) for r in again.execute(f"SELECT {columns} FROM captures ORDER BY id")] == captures
        assert [tuple(r) for r in again.execute(
            f"SELECT {', '.join(RECORD_FIELDS)} FROM records ORDER BY capture_id, id")] == records
        assert media_listing(again, home / "warcs", ids["post"]) == media_listing(db, settings.warc_dir, ids["post"])
    finally:
        again.close()
    with open_backend(rebuilt.search_backend, rebuilt.index_dir, rebuilt) as backend:
        assert [int(h.id) for h in backend.search(SearchQuery(q="", author="Aibek Temirov")).hits] == [ids["post"]]
        assert ids["post"] in [int(h.id) for h in backend.search(SearchQuery(q="Милиция задержала блогера")).hits]


def test_post_metadata_from_json_ld_open_graph_and_ytdlp():
    page = f'<html><head><script type="application/ld+json">{json.dumps(JSON_LD)}</script></head></html>'
    post = post_metadata(page, None)
    assert post["author"] == "Aibek Temirov" and post["published"] == "2026-11-30T08:15:00+06:00"
    assert post["views"] == 15230 and post["likes"] == 812 and "Ministry of Culture" in post["text"]
    og = ('<html><head><meta property="og:description" content="A post"><meta property="article:author" '
          'content="Kloop"><meta property="article:published_time" content="2026-12-01T10:00:00Z"></head></html>')
    assert post_metadata(og, None) == {"author": "Kloop", "published": "2026-12-01T10:00:00Z", "text": "A post"}
    info = {"uploader": "kloop_media", "timestamp": 1764576000, "description": "TikTok text", "view_count": 9,
            "like_count": 2, "comment_count": 1, "repost_count": 0, "title": "t"}
    assert post_metadata("", info) == {"author": "kloop_media", "published": "2025-12-01T08:00:00+00:00",
                                       "text": "TikTok text", "headline": "t", "views": 9, "likes": 2,
                                       "comments": 1, "shares": 0}


def test_dash_and_hls_manifests_name_every_part(tmp_path):
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=3:size=96x64:rate=10", "-c:v", "libvpx", "-b:v", "50k",
           "-seg_duration", "1", "-f", "dash", str(tmp_path / "manifest.mpd"))
    base = "http://cdn.example.org/v/manifest.mpd"
    named = {u.rsplit("/", 1)[1] for u in dash_parts(base, (tmp_path / "manifest.mpd").read_text())}
    made = {p.name for p in tmp_path.iterdir() if p.name != "manifest.mpd"}
    assert named == made
    playlist = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:1,\nseg1.m4s\n#EXTINF:1,\nhttps://b.example/seg2.m4s\n'
    assert hls_parts("http://a.example/x/p.m3u8", playlist) == [
        "http://a.example/x/init.mp4", "http://a.example/x/seg1.m4s", "https://b.example/seg2.m4s"]
    assert is_media("http://a.example/v.ts", "video/mp2t") and not is_media("http://a.example/", "text/html")


@pytest.fixture(scope="module")
def replay_browser(archived, replay_viewer):
    """The replay origin and one Chromium for every replay test of the module."""
    from playwright.sync_api import sync_playwright

    from crawler.browser import find_chromium, launch_args

    with replay_origin_server(archived[0]) as origin, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=launch_args())
        try:
            yield origin, browser
        finally:
            browser.close()


@contextmanager
def replayed(replay_browser, capture_id: int):
    """The replay frame of a capture in replayweb.page on the replay origin, in a page of its own."""
    from archive.replay.fidelity import replay_frame, replay_screenshot

    origin, browser = replay_browser
    page = browser.new_page()
    try:
        replay_screenshot(page, origin, capture_id)
        yield replay_frame(page)
    finally:
        page.close()


def test_replay_of_the_page_plays_the_archived_video(archived, replay_browser):
    """replayweb.page on the replay origin serves the video from the WACZ (the site's host names do not
    resolve for this browser: only the archive can answer), and the player reads it whole."""
    settings, db, ids = archived
    with replayed(replay_browser, ids["post"]) as frame:
        state = frame.wait_for_function(
            "() => { const v = document.querySelector('video');"
            " return v && v.readyState >= 1 && isFinite(v.duration) && v.duration; }", timeout=30_000)
        assert state.json_value() == pytest.approx(3, abs=0.2)
        assert frame.wait_for_function(PLAYS, timeout=30_000).json_value().endswith("_/http://www.vesti.kg/media/clip.mp4")


PLAYS = """() => { const v = document.querySelector('video'); v.muted = true; v.play().catch(() => {});
  return v.readyState >= 2 && v.currentTime > 0 && v.currentSrc; }"""

DIGESTS = """async (urls) => Promise.all(urls.map(async (u) => {
  const r = await fetch(u); const b = await r.arrayBuffer(); const d = await crypto.subtle.digest('SHA-256', b);
  return [r.status, Array.from(new Uint8Array(d)).map(x => x.toString(16).padStart(2, '0')).join('')]; }))"""


def test_the_click_to_play_player_plays_in_replay(archived, replay_browser):
    """Replay of the click-to-play page: clicked there too, its script's video plays from the WACZ."""
    settings, db, ids = archived
    with replayed(replay_browser, ids["click"]) as frame:
        frame.click(".play-button")
        played = frame.wait_for_function(PLAYS, timeout=30_000).json_value()
        assert played.endswith("_/http://www.vesti.kg/media/click.webm")


def test_the_hls_stream_plays_from_the_archive_and_replays_byte_identical(archived, media_site, replay_browser):  # noqa: F811
    """The browser-captured HLS stream: the record page's player on the replay origin plays it from the
    archived playlist and segments (every one asked for and served as the site served it); replay of
    the page serves the playlist and every segment back byte for byte."""
    from archive.replay.fidelity import replay_frame, replay_screenshot

    settings, db, ids = archived
    origin, browser = replay_browser
    if missing_hls_player(settings):
        pytest.fail(missing_hls_player(settings), pytrace=False)
    playlist = media_site.file("stream/index.m3u8")
    names = ["index.m3u8", *[line for line in playlist.decode().splitlines() if line.endswith(".ts")]]
    served = {name: media_site.file(f"stream/{name}") for name in names}
    items = media_listing(db, settings.warc_dir, ids["hls"])["items"]
    number = next(i for i, item in enumerate(items) if item["kind"] == "hls")
    assert items[number]["url"] == media_site.url("media/stream/index.m3u8") and items[number]["segments"] == 3

    page = browser.new_page()
    asked: list[str] = []
    page.on("requestfinished", lambda r: asked.append(r.url))
    try:
        page.goto(f"{origin}/player/{ids['hls']}/{number}")
        played = page.wait_for_function(PLAYS, timeout=30_000).json_value()
        assert played == f"{origin}/stream/{ids['hls']}/{number}/index.m3u8"
        page.evaluate("document.querySelector('video').playbackRate = 4")
        page.wait_for_function("document.querySelector('video').ended", timeout=30_000)  # every segment read
        assert {f"{origin}/stream/{ids['hls']}/{number}/{name}" for name in names} <= set(asked)
        for name, body in served.items():
            reply = requests.get(f"{origin}/stream/{ids['hls']}/{number}/{name}", timeout=10)
            assert reply.status_code == 200 and reply.content == body, name
        assert reply.headers["Content-Type"] == "video/mp2t"  # as the site sent it: players go by it
        assert requests.get(f"{origin}/stream/{ids['hls']}/{number}/../hls.html", timeout=10).status_code == 404

        # Replay of the page (replayweb.page's service worker, from the WACZ; the site's host does not
        # resolve for this browser): the injected hls.js plays the <video src="….m3u8"> on Media Source
        # Extensions, reading the playlist and segments through the service worker; and, as archived
        # (id_), every part is served back byte for byte.
        asked.clear()
        replay_screenshot(page, origin, ids["hls"])
        frame = replay_frame(page)
        played = frame.wait_for_function(PLAYS, timeout=30_000).json_value()
        assert played.startswith(f"blob:{origin}/")  # a MediaSource: hls.js, not the native player
        replayed = [url.split("_/", 1)[-1] for url in asked if "/replay/w/" in url]
        assert media_site.url("media/stream/index.m3u8") in replayed
        assert media_site.url("media/stream/seg000.ts") in replayed
        # A player the page's script adds later, its stream in a typed <source>: found and played too.
        frame.evaluate("""() => { const v = document.createElement('video'), s = document.createElement('source');
          s.type = 'application/vnd.apple.mpegurl'; s.src = '/media/stream/index.m3u8';
          v.id = 'late'; v.muted = true; v.appendChild(s); document.body.appendChild(v); }""")
        late = frame.wait_for_function(PLAYS.replace("querySelector('video')", "getElementById('late')"),
                                       timeout=30_000).json_value()
        assert late.startswith(f"blob:{origin}/")
        raw = frame.url.replace("mp_/", "id_/").rsplit("/", 1)[0] + "/media/stream/"
        digests = frame.evaluate(DIGESTS, [raw + name for name in names])
        assert digests == [[200, hashlib.sha256(body).hexdigest()] for body in served.values()]
    finally:
        page.close()


def test_the_hls_player_is_served_from_the_replay_origin_and_a_missing_one_names_the_fix(tmp_path):
    """Replayed pages get hls.js from the replay origin (never the app's); without it (no `make setup`) the
    replay origin answers 503 naming the file and the fix, and the rest of replay is unaffected."""
    assets = tmp_path / "vendor" / "replaywebpage"
    assets.mkdir(parents=True)
    for name in ("sw.js", "ui.js"):
        (assets / name).write_text("// viewer", "utf-8")
    settings = Settings.from_env({"ARCHIVE_HOME": str(tmp_path / "home"), "REPLAY_ASSETS": str(assets)})
    client = create_replay_app(settings, "http://127.0.0.1:9").test_client()
    attach = client.get("/replay/hls/attach.js")
    assert attach.status_code == 200 and attach.mimetype == "application/javascript"
    assert b"hls.min.mjs" in attach.data
    missing = client.get("/replay/hls/hls.min.mjs")
    said = missing.get_data(as_text=True)
    assert missing.status_code == 503 and str(assets.parent / HLS_JS) in said and "make setup" in said
    assert client.get("/replay/sw.js").status_code == 200
    (assets.parent / HLS_JS).mkdir()
    (assets.parent / "hls.js-1.7.4" / "hls.min.mjs").write_text("export default class Hls {}", "utf-8")
    found = client.get("/replay/hls/hls.min.mjs")
    assert found.status_code == 200 and found.data == b"export default class Hls {}"
    assert client.get("/replay/hls/other.js").status_code == 404


def test_the_ytdlp_option_is_checked_and_kept_with_the_job(web_server):
    bad = web_server.post("/api/captures", json={"url": "https://kloop.kg/video", "ytdlp": "sometimes"})
    assert bad.status_code == 400 and "ytdlp" in bad.json()["fields"]
    good = web_server.post("/api/captures", json={"url": "https://kloop.kg/video", "ytdlp": "always"})
    assert good.status_code == 202
    job = web_server.get(f"/api/jobs/{good.json()['job_id']}").json()
    assert job["options"] == {"ytdlp": "always"}


def test_a_bad_capture_ytdlp_setting_names_it_and_the_choices():
    from archive.settings import SettingError

    with pytest.raises(SettingError, match=r"CAPTURE_YTDLP.*auto, always, never"):
        Settings.from_env({"CAPTURE_YTDLP": "sometimes"})


def test_auto_runs_ytdlp_for_site_extractors_and_players_the_browser_could_not_drive():
    from crawler.ytdlp import wants_ytdlp

    played = {"elements": [{"sources": ["http://www.vesti.kg/media/clip.mp4"], "error": None}], "media_bytes": 9}
    script_fed = {"elements": [{"sources": [], "error": None}], "media_bytes": 0}  # blob: (MSE) or no source
    assert not wants_ytdlp("auto", "http://www.vesti.kg/post.html", played)
    assert wants_ytdlp("auto", "http://www.vesti.kg/post.html", script_fed)
    assert wants_ytdlp("auto", "https://www.tiktok.com/@kloop/video/7301234567890123456", None)
    assert not wants_ytdlp("never", "https://www.tiktok.com/@kloop/video/7301234567890123456", script_fed)
    assert wants_ytdlp("always", "http://www.vesti.kg/", None)
