"""Replay fidelity: does a capture replay as it looked when it was captured?

A capture's own screenshot (taken by the crawler) is compared with a screenshot
of its replay from the replay origin, at the same viewport. The figure is the
share of pixels that match (every channel within a small tolerance), over the
first viewport of the page, counting only pixels that are not background, with
each band of the page aligned on its own (see ``similarity``).
"""
from __future__ import annotations

import io
import time

from PIL import Image, ImageChops
from playwright.sync_api import TimeoutError as PlaywrightTimeout

TOLERANCE = 24  # per channel, out of 255: antialiasing and font hinting differ a little


MAX_SHIFT = 64  # px: a line more or less above a part of the page moves everything below it
BAND = 100  # px: each horizontal band of the page finds its own best shift


def similarity(expected_png: bytes, actual_png: bytes, size: tuple[int, int]) -> float:
    """How alike the top ``size`` of two screenshots are (0..1).

    Counting every pixel would call any two mostly-white pages alike, so only
    the pixels that carry something count: those that differ from the expected
    image's background colour in either screenshot. The figure is the share of
    those that match (every channel within TOLERANCE). A line missing or added
    (a broken-image icon, a banner) shifts all below it by a few pixels, so
    each BAND-high strip of the expected image is compared with the actual one
    at its best vertical offset up to MAX_SHIFT px: a shifted block is a small
    difference, not a total one. Different content still differs at any offset.
    """
    width, height = size
    box = (0, 0, width, height)  # crop pads past the edge with black, the same for both
    a = Image.open(io.BytesIO(expected_png)).convert("RGB").crop(box)
    b = Image.open(io.BytesIO(actual_png)).convert("RGB").crop(box)
    background = max(a.getcolors(width * height))[1]
    a_content = _mask(a, Image.new("RGB", a.size, background))
    matched = content = 0
    for top in range(0, height, BAND):
        bottom = min(top + BAND, height)
        best: tuple[int, int] | None = None
        for dy in sorted(range(-MAX_SHIFT, MAX_SHIFT + 1), key=abs):
            # Compare only rows both images have; expected content shifted out of view counts as missing.
            b_top, b_bottom = max(0, top + dy), min(height, bottom + dy)
            if b_bottom <= b_top:
                continue
            a_top, a_bottom = b_top - dy, b_bottom - dy
            same, total = _match(a.crop((0, a_top, width, a_bottom)), b.crop((0, b_top, width, b_bottom)),
                                 background)
            lost = (_count(a_content, top, a_top, width) + _count(a_content, a_bottom, bottom, width))
            total += lost
            if best is None or total - same < best[1] - best[0]:
                best = (same, total)
            if same == total:
                break
        matched += best[0]
        content += best[1]
    return 1.0 if content == 0 else matched / content


def _mask(x: Image.Image, y: Image.Image) -> Image.Image:
    """White where two images differ by more than TOLERANCE in some channel."""
    return ImageChops.difference(x, y).convert("L").point(lambda v: 255 if v > TOLERANCE else 0)


def _count(mask: Image.Image, top: int, bottom: int, width: int) -> int:
    return mask.crop((0, top, width, bottom)).histogram()[255] if bottom > top else 0


def _match(a: Image.Image, b: Image.Image, background: tuple) -> tuple[int, int]:
    """(matching, content) pixel counts of two same-size images."""
    flat = Image.new("RGB", a.size, background)
    content = ImageChops.lighter(_mask(a, flat), _mask(b, flat)).histogram()[255]
    different = _mask(a, b).histogram()[255]
    return content - min(different, content), content


def replay_screenshot(page, replay_origin: str, capture_id: int, timeout: float = 60) -> bytes:
    """Open a capture's replay (Playwright sync ``page``) and screenshot it once it has settled."""
    page.goto(f"{replay_origin}/embed/{capture_id}")
    end = time.monotonic() + timeout
    frame = None
    while time.monotonic() < end and frame is None:
        frame = next((f for f in page.frames if "mp_/" in f.url), None)
        if frame is None:
            page.wait_for_timeout(100)
    if frame is None:
        raise TimeoutError(f"replay of capture {capture_id} did not start within {timeout:g} s")
    # A page that never finishes loading or settling is screenshotted as it is, as at capture.
    for state, limit in (("load", 15_000), ("networkidle", 5_000)):
        try:
            frame.wait_for_load_state(state, timeout=limit)
        except PlaywrightTimeout:
            pass
    # The capture's screenshot is of the top of the page (the crawler scrolls back up); an
    # autofocused field may have scrolled the replay down, so compare the same position.
    frame.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    return page.screenshot()


def replay_frame(page):
    """The frame in which the archived page itself runs, once replay has started."""
    return next((f for f in page.frames if "mp_/" in f.url), None)


def measure(settings, capture_ids, replay_origin: str, browser) -> list[dict]:
    """Similarity of each capture's replay to its capture-time screenshot.

    ``browser`` is a Playwright sync Browser; the replay origin must be serving.
    """
    from archive import catalog
    from archive.warc.objects import warc_store
    from archive.warc.store import read_payload

    db = catalog.connect(settings.catalog_location, migrate_schema=False)
    width, height = settings.capture_viewport
    results = []
    try:
        for capture_id in capture_ids:
            capture = catalog.get_capture(db, capture_id)
            shot = catalog.get_records(db, capture_id, role="screenshot")
            context = browser.new_context(viewport={"width": width, "height": height})
            try:
                replayed = replay_screenshot(context.new_page(), replay_origin, capture_id)
            finally:
                context.close()
            results.append({"id": capture_id, "url": capture["url"],
                            "similarity": similarity(read_payload(warc_store(settings), shot[0]), replayed,
                                                     (width, height))})
    finally:
        db.close()
    return results
