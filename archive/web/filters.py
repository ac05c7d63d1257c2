"""Jinja filters for showing capture times: always UTC, always saying so."""
from __future__ import annotations

from datetime import datetime

from flask import Flask

from archive.catalog import iso_utc, to_utc
from archive.lookup.present import cite_time


def utc(value: datetime | str | None) -> str:
    """``2024-04-01 12:00:00 UTC``: the form used in citations."""
    return cite_time(value) if value else ""


def utc_human(value: datetime | str | None) -> str:
    """``1 April 2024, 12:00 UTC``: for reading, not for copying."""
    if not value:
        return ""
    moment = to_utc(value)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def init_app(app: Flask) -> None:
    app.add_template_filter(utc)
    app.add_template_filter(utc_human)
    app.add_template_filter(iso_utc)
