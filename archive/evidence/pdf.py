"""The evidence summary as PDF, printed by the Chromium the archive already runs for captures.

The page is our own HTML (autoescaped, no scripts); it is printed with JavaScript off and every
request refused, so nothing in it can reach anywhere. Where Chromium cannot be started the bundle
goes out without the PDF (the HTML summary says the same), and the reason is logged.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def summary_pdf(html: str, chromium_path: str = "") -> bytes | None:
    """``html`` printed to PDF (A4), or None if no browser could print it."""
    try:
        from playwright.sync_api import sync_playwright

        from crawler.browser import find_chromium

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(chromium_path),
                                         args=["--no-first-run", "--disable-extensions"])
            try:
                context = browser.new_context(java_script_enabled=False, offline=True)
                page = context.new_page()
                page.route("**/*", lambda route: route.abort())
                page.set_content(html, wait_until="load")
                return page.pdf(format="A4", print_background=True)
            finally:
                browser.close()
    except Exception as exc:  # noqa: BLE001 (any failure to print costs only the PDF; the HTML stays)
        log.warning("evidence summary not printed to PDF: %s", exc)
        return None
