"""Replay fidelity: capture real pages, stop their server, replay them, compare screenshots.

    python bench/fidelity.py [--pages 20]

Captures N pages of ../shared/corpus/readability and the fixture site (script-built
content, XHR data, lazy images), stops the server, replays each from the replay origin
in Chromium at the capture's viewport, and prints each page's similarity to its
capture-time screenshot. Target: mean >= 0.95, no page below 0.8.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.replaying import capture_pages, corpus_pages, replay_origin_server  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pages", type=int, default=20)
    p.add_argument("--smoke", action="store_true",
                  help="tiny sizes, to check that the script runs and prints its figures "
                       "(tests/test_bench_smoke.py); the figures mean nothing then")
    args = p.parse_args(argv)
    if args.smoke:
        vars(args).update({"pages": 1})
    with tempfile.TemporaryDirectory() as tmp:
        settings, ids = capture_pages(Path(tmp), corpus_pages(args.pages), with_fixture=True,
                                      environ=dict(os.environ))
        from playwright.sync_api import sync_playwright

        from archive.replay.fidelity import measure
        from crawler.browser import find_chromium, launch_args

        with replay_origin_server(settings) as origin, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(settings.chromium_path), args=launch_args())
            results = measure(settings, ids, origin, browser)
            browser.close()
    for r in results:
        print(f"  {r['similarity']:.3f}  {r['url']}")
    sims = [r["similarity"] for r in results]
    print(f"replay fidelity over {len(sims)} pages: mean {statistics.mean(sims):.3f}, min {min(sims):.3f}"
          "  (target mean >= 0.95, min >= 0.80)")


if __name__ == "__main__":
    main()
