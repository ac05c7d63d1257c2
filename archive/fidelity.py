"""Replay fidelity: does a capture replay as it looked when it was captured?

A capture's own screenshot (taken by the crawler) is compared with a screenshot
of its replay from the replay origin, at the same viewport. The figure is the
share of pixels that match (every channel within a small tolerance), over the
first viewport of the page, counting only pixels that are not background.
"""
from __future__ import annotations

import io
import time

from PIL import Image, ImageChops
from playwright.sync_api import TimeoutError as PlaywrightTimeout

TOLERANCE = 24  # per channel, out of 255: antialiasing and font hinting differ a little


MAX_SHIFT = 64  # px: a line more or less above the fold moves everything below it


def similarity(expected_png: bytes, actual_png: bytes, size: tuple[int, int]) -> float:
    """How alike the top ``size`` of two screenshots are (0..1).

    Counting every pixel would call any two mostly-white pages alike, so only
    the pixels that carry something count: those that differ from the expected
    image's background colour in either screenshot. The figure is the share of
    those that match (every channel within TOLERANCE). A line missing or added
    near the top shifts all below it, so the best of the vertical offsets up to
    MAX_SHIFT px is taken: a shifted page is a small difference, not a total one.
    """
    width, height = size
    box = (0, 0, width, height)  # crop pads past the edge with black, the same for both
    a = Image.open(io.BytesIO(expected_png)).convert("RGB").crop(box)
    b = Image.open(io.BytesIO(actual_png)).convert("RGB").crop(box)
    background = max(a.getcolors(width * height))[1]
    best = 0.0
    for dy in range(-MAX_SHIFT, MAX_SHIFT + 1):
        top = abs(dy)
        part_a = a.crop((0, max(dy, 0), width, height - max(-dy, 0)))
        part_b = b.crop((0, max(-dy, 0), width, height - max(dy, 0)))
        score = _match(part_a, part_b, background) * (height - top) / height
        best = max(best, score)
        if best == 1.0:
            break
    return best


def _match(a: Image.Image, b: Image.Image, background: tuple) -> float:
    flat = Image.new("RGB", a.size, background)

    def mask(x: Image.Image, y: Image.Image) -> Image.Image:
        return ImageChops.difference(x, y).convert("L").point(lambda v: 255 if v > TOLERANCE else 0)

    content = ImageChops.lighter(mask(a, flat), mask(b, flat)).histogram()[255]
    if content == 0:
        return 1.0  # both blank
    return max(0.0, 1 - mask(a, b).histogram()[255] / content)


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
    from . import catalog
    from .warcstore import read_payload

    db = catalog.connect(settings.catalog_path, migrate_schema=False)
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
                            "similarity": similarity(read_payload(settings.warc_dir, shot[0]), replayed,
                                                     (width, height))})
    finally:
        db.close()
    return results
