"""What the views read from: the settings, the catalog and the search backend.

The catalog connection is opened per request and kept on ``g`` (as in Flask's
tutorial), because SQLite connections are cheap and each waitress thread needs
its own. The search backend holds an open index, which is expensive to open,
so it is opened once per app.
"""
from __future__ import annotations

import sqlite3
from contextlib import closing

from flask import Flask, abort, current_app, g

from archive import catalog
from archive.capturing.countries import fill_vantage_countries
from archive.removals.events import vantage_countries
from archive.settings import Settings
from archive.staff.moderation import STATUS, withheld_message
from archive.staff.users import ROLES
from archive.warc.objects import warc_store
from search import open_backend


def init_app(app: Flask, settings: Settings) -> None:
    """Keep ``settings`` and an open search backend on ``app``; close catalogs after requests."""
    app.extensions["archive.settings"] = settings
    # Create or migrate the schema once, at start (ARCHIVE_HOME 0700), before the index folder is made.
    with closing(catalog.connect(settings.catalog_location)) as db:
        fill_vantage_countries(db, warc_store(settings), vantage_countries(settings.capture_vantages))
    app.extensions["archive.search"] = open_backend(settings.search_backend, settings.index_dir, settings)
    app.teardown_appcontext(close_db)


def get_settings() -> Settings:
    return current_app.extensions["archive.settings"]


def get_search():
    """The app's search backend (see ``search.open_backend``)."""
    return current_app.extensions["archive.search"]


def get_db() -> sqlite3.Connection:
    """This request's catalog connection, opened on first use."""
    if "db" not in g:
        g.db = catalog.connect(get_settings().catalog_location, migrate_schema=False)
    return g.db


def is_staff() -> bool:
    """Whether this request comes from a signed-in staff account."""
    user = g.get("user")
    return user is not None and user["role"] in ROLES


def capture_or_404(capture_id: int) -> dict:
    """The catalog row of capture ``capture_id``; a 404 if there is none.

    A capture staff took out of public view is 403 (private) or 410 (removed by us), with the
    reason, for everyone but staff; for staff its responses are marked not to be cached.
    """
    capture = catalog.get_capture(get_db(), capture_id)
    if capture is None:
        abort(404, f"There is no capture {capture_id} in this archive.")
    if not catalog.is_visible(capture):
        if not is_staff():
            abort(STATUS.get(capture["visibility"], 403), withheld_message(capture))
        g.nonpublic_capture = True  # see moderation.no_store
    return capture


def close_db(exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()
