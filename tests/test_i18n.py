"""The interface in English, Russian and Kyrgyz: chosen from Accept-Language or the /lang/ switch."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from babel.messages.pofile import read_po

from archive.web import create_app
from archive.web.i18n import TRANSLATIONS

from .webapp import CAPTURED_AT, ArchiveBuilder

NAV_EN = ["Search", "Removals", "Takedown orders", "Submit a URL", "Watched URLs"]
NAV_RU = ["Поиск", "Удаления", "Требования об удалении", "Отправить ссылку", "Отслеживаемые ссылки"]
NAV_KY = ["Издөө", "Өчүрүүлөр", "Өчүрүү талаптары", "Шилтеме жөнөтүү", "Көзөмөлдөгү шилтемелер"]


@pytest.fixture
def client(web_settings):
    return create_app(web_settings).test_client()


def nav(html: str) -> list[str]:
    block = re.search(r"<nav>(.*?)</nav>", html, re.S).group(1)
    return re.findall(r">([^<]+)</a>", block)


def html_lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)">', html).group(1)


def page(client, path: str, **headers: str) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_no_header_is_english(client):
    html = page(client, "/")
    assert html_lang(html) == "en"
    assert nav(html) == NAV_EN
    assert "Words in the archived text" in html
    assert "All times are UTC." in html


def test_russian_from_accept_language(client):
    html = page(client, "/", **{"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert html_lang(html) == "ru"
    assert nav(html) == NAV_RU
    assert "Слова в сохранённом тексте" in html
    assert "Всё время указано в UTC." in html
    assert "<title>Поиск · " in html


def test_kyrgyz_where_translated_english_elsewhere(client):
    html = page(client, "/", **{"Accept-Language": "ky"})
    assert html_lang(html) == "ky"
    assert nav(html) == NAV_KY
    assert "Архивделген тексттеги сөздөр" in html
    # No Kyrgyz translation for the takedown page's prose yet: it falls back to English, not to Russian.
    html = page(client, "/takedowns", **{"Accept-Language": "ky"})
    assert nav(html) == NAV_KY
    assert "No takedown orders have been published yet." in html


def test_unknown_language_is_english(client):
    html = page(client, "/", **{"Accept-Language": "de-DE,fr;q=0.8"})
    assert html_lang(html) == "en"
    assert nav(html) == NAV_EN


def test_vary_names_accept_language_and_cookie(client):
    vary = client.get("/").headers["Vary"]
    assert "Accept-Language" in vary and "Cookie" in vary


def test_the_switch_sets_a_cookie_and_goes_back(client):
    response = client.get("/lang/ru?next=/removals?outcome=legal")
    assert response.status_code == 303
    assert response.headers["Location"] == "/removals?outcome=legal"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=ru;")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # The cookie outweighs Accept-Language.
    html = page(client, "/", **{"Accept-Language": "en"})
    assert html_lang(html) == "ru" and nav(html) == NAV_RU
    client.get("/lang/en?next=/")
    assert nav(page(client, "/", **{"Accept-Language": "ru"})) == NAV_EN


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "/\\evil.example", "evil"])
def test_the_switch_redirects_only_to_local_paths(client, target):
    response = client.get("/lang/ru", query_string={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_the_switch_ignores_unknown_languages(client):
    response = client.get("/lang/xx?next=/")
    assert response.status_code == 303
    assert "Set-Cookie" not in response.headers


def test_the_header_switch_links_back_to_this_page(client):
    html = page(client, "/removals?outcome=legal", **{"Accept-Language": "ru"})
    switch = re.search(r'<nav class="languages".*?</nav>', html, re.S).group(0)
    assert 'href="/lang/en?next=/removals?outcome%3Dlegal"' in switch
    assert re.search(r'hreflang="ru" lang="ru" aria-current="true">Русский</a>', switch)
    assert 'aria-current' not in switch.split('hreflang="en"')[1].split("</a>")[0]


@pytest.mark.parametrize("count, words", [(1, "1 снимок"), (3, "3 снимка"), (5, "5 снимков"), (21, "21 снимок")])
def test_russian_plurals(web_settings, count, words):
    builder = ArchiveBuilder(web_settings)
    url = "https://kloop.kg/plural"
    for n in range(count):
        builder.add(url, "Статья", ["Текст."], captured_at=CAPTURED_AT + timedelta(hours=n), index=False)
    builder.close()
    client = create_app(web_settings).test_client()
    html = page(client, f"/timeline?url={url}", **{"Accept-Language": "ru"})
    assert f"· {words}</span>" in html
    english = page(client, f"/timeline?url={url}")
    assert f"· {count} capture{'s' if count != 1 else ''}</span>" in english


def test_outcome_labels_are_translated_on_pages_not_in_the_api(client):
    from archive.web.removals import outcome_label
    from detect.outcomes import OUTCOME_LABELS
    app = client.application
    with app.test_request_context("/", headers={"Accept-Language": "ru"}):
        assert outcome_label("legal") == "недоступна по юридическим причинам"
        assert outcome_label(None) == "не оценено"
        assert outcome_label("something_new") == "something_new"
    with app.test_request_context("/", headers={"Accept-Language": "ky"}):
        assert outcome_label("blockpage") == "бөгөт барагы"
    with app.test_request_context("/"):
        assert outcome_label("legal") == OUTCOME_LABELS["legal"] == "unavailable for legal reasons"


def test_error_pages_in_russian_but_api_errors_in_english(client):
    response = client.get("/no/such/page", headers={"Accept-Language": "ru"})
    assert response.status_code == 404
    assert "По этому адресу ничего нет." in response.get_data(as_text=True)
    response = client.get("/api/no/such/thing", headers={"Accept-Language": "ru"})
    assert response.status_code == 404
    assert response.get_json()["error"] == "There is nothing at this address."


def catalog(lang: str):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po)


def test_the_russian_catalog_is_complete():
    ru = catalog("ru")
    assert ru.num_plurals == 3
    assert ru.plural_expr.replace(" ", "") == (
        "(n%10==1&&n%100!=11?0:n%10>=2&&n%10<=4&&(n%100<10||n%100>=20)?1:2)")
    messages = [m for m in ru if m.id]
    assert len(messages) > 200
    untranslated = [m.id for m in messages if not (all(m.string) if m.pluralizable else m.string)]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert untranslated == [] and fuzzy == []
    problems = [(m.id, errors) for m, errors in ru.check() if errors]
    assert problems == []  # placeholders such as %(name)s kept in every translation


def test_the_kyrgyz_catalog_covers_navigation_search_footer_and_outcomes():
    ky = catalog("ky")
    translated = {m.id for m in ky if m.id and m.string and not m.fuzzy}
    from detect.outcomes import OUTCOME_LABELS
    needed = {"Search", "Removals", "Takedown orders", "Submit a URL", "Watched URLs", "Words in the archived text",
              "Search the archive", *OUTCOME_LABELS.values()}
    assert needed <= translated
    assert not [m.id for m in ky if m.fuzzy]
    assert [(m.id, errors) for m, errors in ky.check() if errors] == []


def test_every_string_the_code_marks_is_in_the_russian_catalog(tmp_path):
    """The catalogs follow the code: a string marked for translation but never extracted into the
    catalogs shows in English on a Russian page, and the completeness test above cannot see it."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    pot = tmp_path / "messages.pot"
    done = subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg", "-k", "_l",
                           "-o", str(pot), "--no-location", "archive", "detect"], cwd=root, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    with pot.open("rb") as fh:
        marked = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    ru = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog("ru") if m.id}
    assert len(marked) > 200
    assert sorted(marked - ru) == [], "refresh the catalogs as README's Languages section says"
