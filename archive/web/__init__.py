"""The web app: search, record pages, submissions and the JSON API.

Archived HTML is never rendered from this origin; record pages show the
screenshot we made and the extracted text, escaped.
"""
from __future__ import annotations

from flask import Flask

from archive.settings import Settings

# Request bodies are a URL or a small JSON object; nothing needs more.
MAX_BODY_BYTES = 1_000_000


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app for ``settings`` (default: read from the environment)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, ARCHIVE_NAME=settings.archive_name)
    # Titles and snippets are often Russian or Kyrgyz: keep them readable in curl.
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    from archive.web.routing import CatalogId  # before any route is added: every <int:id> is bounded by it
    app.url_map.converters["int"] = CatalogId

    from archive.web import api, captures, db, errors, filters, search, security, submit, wacz

    db.init_app(app, settings)
    errors.init_app(app)
    filters.init_app(app)
    security.init_app(app, settings.replay_origin)
    for blueprint in (search.bp, captures.bp, wacz.bp, submit.bp, api.bp):
        app.register_blueprint(blueprint)
    from archive.web import health  # /healthz: catalog, index, worker and scheduler, queue
    app.register_blueprint(health.bp)
    from archive.web import openapi  # /api/openapi.json, generated from the routes and schemas, and the /api page
    app.register_blueprint(openapi.bp)
    from archive.web import watches  # the watchlist page and /api/watches
    watches.init_app(app)
    from archive.web import crawls  # staff crawl pages (progress, log, comparison) and /api/crawls
    crawls.init_app(app)
    from archive.web import removals, removals_api  # removal events, before/after, timelines, the feed and their JSON
    app.register_blueprint(removals.bp)
    app.register_blueprint(removals_api.bp)
    from archive.web import auth, csrf, sessions, takedowns  # staff sign-in, takedown orders, form tokens
    sessions.init_app(app, settings)
    app.register_blueprint(auth.bp)
    app.register_blueprint(takedowns.bp)
    takedowns.init_app(app)  # before csrf: uploads get their larger body limit before CSRF reads the form
    from archive.web import moderation  # staff: a capture's visibility (private / removed by us), the audit log page
    moderation.init_app(app)
    from archive.web import limits  # API bearer tokens; rate limits on capture submissions (wraps their views)
    limits.init_app(app, settings)
    from archive.web import cdx, memento, wayback  # lasting links: /web/, /p/, Memento TimeGate and TimeMaps, /cdx
    for blueprint in (wayback.bp, memento.bp, cdx.bp):
        app.register_blueprint(blueprint)
    csrf.init_app(app)  # after every blueprint: it exempts the JSON API ones (URL prefix /api)
    from archive.web import i18n  # the interface in English, Russian and Kyrgyz: Accept-Language or the /lang/ switch
    i18n.init_app(app, settings.archive_home / "cache")

    @app.context_processor
    def archive_name() -> dict[str, str]:
        return {"archive_name": settings.archive_name, "replay_origin": settings.replay_origin,
                "vantages": settings.capture_vantages}

    return app


__all__ = ["create_app"]
