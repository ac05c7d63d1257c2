"""Outcome classification cost against capture cost, on the same pages, same run.

    python bench/detect.py [--pages 20]

Captures real pages (the fixture site and real articles of the shared corpus) with the project's
Capturer through the recording proxy, timing each; then times observe() + classify() on each result
with OONI's full fingerprint file loaded beside the built-in set (loading timed once, apart), the
page's own text as the last `ok` text so the similarity path runs too. Prints the mean capture ms,
mean classification ms and their ratio (target < 0.05).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archive.capturing.store import extract_capture  # noqa: E402
from archive.settings import Settings  # noqa: E402
from crawler import CaptureOptions, Capturer  # noqa: E402
from detect import FingerprintSet, classify, observe  # noqa: E402
from tests.sites import CORPUS, DATA, SHARED, FixtureSite  # noqa: E402

OONI = SHARED / "fingerprints" / "fingerprints_http.csv"


async def capture_all(urls: list[str], options: CaptureOptions) -> list[tuple[object, float]]:
    out = []
    async with Capturer(options) as capturer:
        await capturer.capture(urls[0])  # warm-up: first launch costs are not a capture's
        for url in urls:
            start = time.perf_counter()
            result = await capturer.capture(url)
            out.append((result, time.perf_counter() - start))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pages", type=int, default=20)
    p.add_argument("--smoke", action="store_true",
                  help="tiny sizes, to check that the script runs and prints its figures "
                       "(tests/test_bench_smoke.py); the figures mean nothing then")
    args = p.parse_args(argv)
    if args.smoke:
        vars(args).update({"pages": 2})
    corpus = sorted(d.name for d in CORPUS.iterdir() if (d / "source.html").is_file())
    with FixtureSite(DATA / "site") as site, FixtureSite(CORPUS) as articles, tempfile.TemporaryDirectory() as tmp:
        rules = f"{site.rule('news.example.com')}, {articles.rule('corpus.example.com')}"
        urls = [f"http://news.example.com/?page={i}" if i % 4 == 0 else
                f"http://corpus.example.com/{corpus[i * 7 % len(corpus)]}/source.html" for i in range(args.pages)]
        settings = Settings.from_env(dict(os.environ, ARCHIVE_HOME=tmp, CAPTURE_ALLOW_NETWORKS="127.0.0.1/32",
                                          CAPTURE_HOST_RULES=rules, CAPTURE_SETTLE_TIMEOUT="5"))
        captured = asyncio.run(capture_all(urls, CaptureOptions.from_settings(settings)))
    start = time.perf_counter()
    fingerprints, problems = FingerprintSet.load([OONI])
    load_ms = (time.perf_counter() - start) * 1000
    texts = [extract_capture(result.main, result.dom, result.final_url, result.provenance.get("browser_charset")).text
             for result, _ in captured]  # the capture pipeline's job
    classify_s, labels = [], {}
    for (result, _), text in zip(captured, texts, strict=True):
        start = time.perf_counter()
        outcome = classify(observe(result, text), fingerprints, text, settings.change_threshold)
        classify_s.append(time.perf_counter() - start)
        labels[outcome.label] = labels.get(outcome.label, 0) + 1
    capture_ms = sum(s for _, s in captured) / len(captured) * 1000
    classify_ms = sum(classify_s) / len(classify_s) * 1000
    body_kb = sum(r.main.body_length for r, _ in captured) / len(captured) / 1024
    print(f"detect benchmark: {len(captured)} pages captured (fixture site + corpus articles, "
          f"mean main document {body_kb:.0f} KB), {len(fingerprints)} fingerprints "
          f"({len(problems)} rows unusable)")
    print(f"  load fingerprints (built-in + OONI file, once): {load_ms:7.1f} ms")
    print(f"  capture, mean per page:                         {capture_ms:7.1f} ms")
    print(f"  observe + classify, mean per page:              {classify_ms:7.2f} ms"
          f"   (max {max(classify_s) * 1000:.2f})")
    print(f"  ratio classify / capture:                       {classify_ms / capture_ms:7.4f}  (target < 0.05)")
    print(f"  outcomes: {labels}")


if __name__ == "__main__":
    main()
