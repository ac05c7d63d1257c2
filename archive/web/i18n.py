"""The interface's language: English, Russian, Kyrgyz where translations exist.

Chosen from a `lang` cookie set by the switch in the page header, else from the
browser's Accept-Language. Translations are the .po files in `translations/`
(kept as text in the repository); they are compiled to .mo on start into the
archive's cache, so no binary file is committed and no build step is needed.
"""
from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, Response, redirect, request
from flask_babel import Babel, get_locale

TRANSLATIONS = Path(__file__).parent / "translations"
# English is the source language; the others are offered when their catalog exists.
LANGUAGES = {"en": "English", "ru": "Русский", "ky": "Кыргызча"}
COOKIE = "lang"

bp = Blueprint("i18n", __name__)


def compile_catalogs(target: Path) -> Path:
    """Compile every translations/<lang>/LC_MESSAGES/messages.po that is newer than its .mo in ``target``."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = target / po.relative_to(TRANSLATIONS).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as src:
            catalog = read_po(src)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as out:
            write_mo(out, catalog)
        tmp.replace(mo)  # atomic: another process starting at the same time never reads half a file
    return target


def available() -> list[str]:
    return ["en", *sorted(p.name for p in TRANSLATIONS.iterdir() if (p / "LC_MESSAGES/messages.po").exists())]


def select_locale() -> str:
    offered = available()
    chosen = request.cookies.get(COOKIE)
    if chosen in offered:
        return chosen
    return request.accept_languages.best_match(offered) or "en"


@bp.get("/lang/<code>")
def switch(code: str) -> Response:
    """Remember the reader's choice of language and go back to where they were."""
    target = request.args.get("next", "/")
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        target = "/"  # never an open redirect
    response = redirect(target, 303)
    if code in available():
        response.set_cookie(COOKIE, code, max_age=365 * 86400, httponly=True, samesite="Lax",
                            secure=request.is_secure)
    return response


def init_app(app: Flask, cache_dir: Path) -> None:
    directory = compile_catalogs(cache_dir / "translations")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(directory)
    Babel(app, locale_selector=select_locale)
    # {% trans %} blocks join their lines with one space, as `pybabel extract` does (babel.cfg: trimmed):
    # the catalog's msgids then read as sentences, not as indented template source.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.register_blueprint(bp)

    @app.after_request
    def vary(response: Response) -> Response:
        # The same URL is English for one reader and Russian for another: caches must know.
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
        return response

    @app.context_processor
    def languages() -> dict:
        offered = available()
        return {"languages": [(code, LANGUAGES.get(code, code)) for code in offered],
                "current_locale": str(get_locale() or "en")}
