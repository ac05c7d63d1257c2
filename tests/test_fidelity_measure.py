"""The replay-fidelity measure itself, on drawn images: shifts forgive, different content does not."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw

from archive.replay.fidelity import similarity

SIZE = (640, 480)


def page(lines: list[str], gap_after: int | None = None, gap: int = 0) -> bytes:
    """Lines of text on white; ``gap`` px of empty space inserted after line ``gap_after``."""
    im = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(im)
    y = 10
    for i, line in enumerate(lines):
        draw.text((10, y), line, fill="black")
        draw.rectangle((400, y, 420 + 7 * i, y + 8), fill=(30, 60, 200))
        y += 18
        if i == gap_after:
            y += gap
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


LINES = [f"Paragraph {i}: the quick brown fox jumps over the lazy dog {i * 7}" for i in range(24)]


def test_identical_pages_score_one():
    assert similarity(page(LINES), page(LINES), SIZE) == 1.0


def test_a_block_shifted_midway_is_a_small_difference():
    # A broken-image icon a few px high above line 10 moves everything below it.
    assert similarity(page(LINES), page(LINES, gap_after=10, gap=6), SIZE) > 0.9


def test_different_text_scores_low_at_any_shift():
    other = [f"Совсем другой текст {i}, ничего общего с оригиналом {i * 3}" for i in range(24)]
    assert similarity(page(LINES), page(other), SIZE) < 0.8


def test_missing_content_scores_low():
    assert similarity(page(LINES), page(LINES[:6]), SIZE) < 0.5
