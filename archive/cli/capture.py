"""`python -m archive capture URL`: capture one page now and print what was stored."""
from __future__ import annotations

import argparse
import json
import sys

from archive.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``capture`` subcommand."""
    c = sub.add_parser("capture", help="capture a URL now")
    c.add_argument("url")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--vantage", default="direct", help="capture through this vantage point (CAPTURE_VANTAGES)")
    c.add_argument("--ytdlp", choices=("auto", "always", "never"), default=None,
                   help="fetch the page's media with yt-dlp too (default: CAPTURE_YTDLP)")
    c.set_defaults(run=capture)


def capture(settings: Settings, args) -> int:
    from archive.capturing.worker import capture_now
    from archive.lookup.present import capture_json
    from crawler import CaptureFailed, URLRejected
    from crawler.browser import BrowserNotFound
    from crawler.vantage import UnknownVantage

    try:
        row = capture_now(settings, args.url, args.vantage, args.ytdlp)
    except (URLRejected, CaptureFailed, BrowserNotFound, UnknownVantage) as exc:
        if args.json:
            print(json.dumps({"error": str(exc), "url": args.url}))
        print(f"error: capture of {args.url} failed: {exc}", file=sys.stderr)
        return 1
    records = row.pop("records")
    out = capture_json(row, records)
    out["warc_files"] = sorted({r.warc_file for r in records})
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        status = f"HTTP {out['status']}" if out["status"] else "no response"
        print(f"capture {out['id']}: {out['url']} -> {out['final_url']} {status}, outcome {out.get('outcome')}"
              f"{' (partial)' if out['partial'] else ''}\n  title: {out['title']}\n  sha256: {out['sha256']}"
              f"\n  warc: {', '.join(out['warc_files'])}")
    return 0
