"""Security headers on every response.

App pages carry no scripts, no inline styles and no third-party anything, so
the policy can be strict. Archived HTML is never served from this origin at
all: record pages show a screenshot we made and the extracted text, escaped.
"""
from __future__ import annotations

from flask import Flask, Response, current_app

# `meta http-equiv="refresh"` (the job page without JavaScript) is not governed by CSP, so it
# needs no exception here.
# Archived pages are replayed only inside a frame from the separate replay origin.
APP_CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
           "base-uri 'none'; frame-ancestors 'none'; frame-src {replay_origin}")
# For bytes that are not our pages (screenshots, WARC downloads): even if a
# browser were talked into rendering them, they get no origin to act from.
SANDBOX_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"

HEADERS = {
    "Content-Security-Policy": APP_CSP,
    "X-Content-Type-Options": "nosniff",
    # Readers of a takedown archive should not announce to the sites they
    # follow links to (often the censoring party's) what they were reading.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def allow_own_scripts(response: Response, connect: bool = False) -> Response:
    """The app's policy plus ``script-src 'self'`` for one page: the record page's copy buttons
    (static/copy.js), the job and crawl pages' follower (static/follow.js, which also needs ``connect``: fetching
    its own page again). Both are progressive enhancements; every other page keeps no scripts at all."""
    policy = current_app.extensions["archive.csp"]
    extra = "; connect-src 'self'" if connect else ""
    response.headers["Content-Security-Policy"] = f"{policy}; script-src 'self'{extra}"
    return response


def init_app(app: Flask, replay_origin: str) -> None:
    headers = dict(HEADERS, **{"Content-Security-Policy": APP_CSP.format(replay_origin=replay_origin)})
    app.extensions["archive.csp"] = headers["Content-Security-Policy"]

    @app.after_request
    def add_headers(response: Response) -> Response:
        """Set each security header unless the view chose a stricter one."""
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
