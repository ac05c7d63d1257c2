"""Media capture: a page with one large video, captured by the browser alone and by the browser plus
yt-dlp, in the same run.

    python bench/media.py [--mb 20] [--smoke]

The video is made by ffmpeg (H.264 MP4 of about --mb megabytes) and served with Range support under
a news host name; each capture is the real one (Chromium playing the video through the recording proxy,
the whole file fetched, yt-dlp through its own proxy when asked), stored as the worker stores it (WARC
records with deduplication, catalog, index), one Chromium for both after a warm-up capture. Prints
capture time and WARC bytes stored for each way, their ratios, and the bytes the video's records take
in the WARC files against the source file's size (1.0: stored once; 2.0: twice).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archive import catalog  # noqa: E402
from archive.capturing.store import SOFTWARE, Found, store  # noqa: E402
from archive.capturing.worker import storage_for  # noqa: E402
from archive.settings import Settings  # noqa: E402
from archive.warc.store import RollingWarcWriter  # noqa: E402
from crawler import CaptureOptions, Capturer  # noqa: E402
from tests.mediasite import NEWS, MediaSite, ffmpeg  # noqa: E402

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Broadcast of the session</title></head>
<body><h1>Broadcast of the session</h1><video controls src="/media/big.mp4"></video></body></html>"""


def make_site(root: Path, megabytes: float, seconds: int, size: str) -> Path:
    """The page and a video of about ``megabytes`` MB (``seconds`` long at the bit rate that gives it)."""
    (root / "media").mkdir(parents=True)
    rate = int(megabytes * 8_000_000 / seconds)
    video = root / "media" / "big.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=duration={seconds}:size={size}:rate=25", "-f", "lavfi", "-i",
           f"anoisesrc=duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", str(rate),
           "-minrate", str(rate), "-maxrate", str(rate), "-bufsize", str(rate), "-x264-params", "nal-hrd=cbr",
           "-c:a", "aac", "-movflags", "+faststart", str(video))
    (root / "page.html").write_text(PAGE, "utf-8")
    return video


def settings_for(site: MediaSite, home: Path) -> Settings:
    return Settings.from_env({"ARCHIVE_HOME": str(home), "CAPTURE_ALLOW_NETWORKS": "127.0.0.1/32",
                              "CAPTURE_HOST_RULES": site.rules, "CAPTURE_SETTLE_TIMEOUT": "3",
                              "CAPTURE_TIMEOUT": "120", "CAPTURE_MEDIA_SECONDS": "120"})


async def capture_both(site: MediaSite, root: Path, warm_up: bool) -> dict[str, tuple[float, int, int]]:
    """Per way, (seconds to capture and store, WARC bytes, bytes of the video's records): one Chromium for
    both, each capture stored in an archive of its own, as the worker stores it."""
    rows = {}
    settings = settings_for(site, root / "never")
    async with Capturer(CaptureOptions.from_settings(settings)) as capturer:
        if warm_up:  # Chromium's first page is slower than the rest
            await capturer.capture(site.url("page.html"), ytdlp="never")
        for label, mode in (("browser only", "never"), ("browser + yt-dlp", "always")):
            settings = settings_for(site, root / mode)
            start = time.perf_counter()
            result = await capturer.capture(site.url("page.html"), ytdlp=mode)
            rows[label] = (start, *await asyncio.to_thread(store_it, settings, result))
            rows[label] = (time.perf_counter() - start, *rows[label][1:])
    return rows


def store_it(settings: Settings, result) -> tuple[int, int]:
    db = catalog.connect(settings.catalog_path)
    writer = RollingWarcWriter(settings.warc_dir, settings.warc_max_size, SOFTWARE)
    try:
        stored = store(Found(result.url, result=result), storage_for(settings, db, writer))
    finally:
        writer.close()
    video = result.url.rsplit("/", 1)[0] + "/media/big.mp4"
    media = sum(r.length for r in stored.refs
                if r.target_uri in (video, f"urn:media:{video}") and r.record_type != "request")
    warc = sum(p.stat().st_size for p in settings.warc_dir.glob("*.warc.gz"))
    db.close()
    return warc, media


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=20.0, help="size of the video in MB (default 20)")
    parser.add_argument("--smoke", action="store_true", help="a 0.2 MB, 2 s video: checks the script runs")
    args = parser.parse_args(argv)
    megabytes, seconds, size = (0.2, 2, "320x240") if args.smoke else (args.mb, 10, "1280x720")
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        root = Path(tmp)
        video = make_site(root / "site", megabytes, seconds, size)
        source = video.stat().st_size
        with MediaSite(root / "site") as site:
            print(f"media benchmark: page on {NEWS} with a {source / 1e6:.1f} MB video (MP4, {seconds} s)")
            rows = asyncio.run(capture_both(site, root, warm_up=not args.smoke))
            for label, (seconds, warc, media) in rows.items():
                print(f"  {label:<17} capture {seconds:6.1f} s   WARC bytes {warc:,}   "
                      f"media stored / source {media / source:.2f}")
        (t0, w0, _), (t1, w1, _) = rows.values()
        print(f"  ratio browser + yt-dlp / browser only: time {t1 / t0:.2f}, bytes stored {w1 / w0:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
