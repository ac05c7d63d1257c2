"""The web UI in a real Chromium: a phone-sized screen, JavaScript off, the app's CSP enforced."""
from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from archive.capturing import jobs
from crawler.browser import find_chromium, launch_args

PHONE = {"width": 390, "height": 844}
TITLE = "ГКНБ обязал провайдеров заблокировать TikTok — очень длинный заголовок статьи для маленького экрана"
LONG_URL = "https://kloop.kg/blog/2024/04/18/" + "very-long-slug-" * 12


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=launch_args())
        yield browser
        browser.close()


@pytest.fixture
def phone(chromium):
    """A phone-sized page with JavaScript off; ``page.errors`` collects console errors (CSP, 404s)."""
    context = chromium.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
    yield page
    context.close()


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_record_page_on_a_phone(phone, web_server, archive_builder):
    capture_id = archive_builder.add(LONG_URL, TITLE, ["Первый абзац текста.", "Второй абзац."], lang="ru",
                                     blocked=[{"url": LONG_URL + "tracker.js", "reason": "private address"}])
    response = phone.goto(f"{web_server.url}/capture/{capture_id}")
    assert response.status == 200
    assert phone.title().startswith(TITLE)
    # Our stylesheet loaded under the CSP, and the screenshot is a PNG the browser can decode.
    assert "Georgia" in phone.evaluate("getComputedStyle(document.body).fontFamily")
    assert phone.locator("#screenshot img").evaluate("img => img.complete && img.naturalWidth") == 3
    assert no_sideways_scroll(phone)
    assert phone.locator(".archived-text p").all_inner_texts() == ["Первый абзац текста.", "Второй абзац."]
    assert phone.errors == []


def test_search_page_on_a_phone(phone, web_server, archive_builder):
    archive_builder.add(LONG_URL, TITLE, ["Служба безопасности потребовала заблокировать TikTok."], lang="ru")
    phone.goto(f"{web_server.url}/")
    phone.fill("#q", "TikTok")
    phone.click("button[type=submit]")
    phone.wait_for_url("**/?q=TikTok**")
    assert phone.locator("ol.results li").count() == 1
    assert phone.locator("ol.results mark").first.inner_text() == "TikTok"
    assert no_sideways_scroll(phone)
    assert phone.errors == []


def test_submit_and_watch_without_javascript(phone, web_server, archive_builder):
    phone.goto(f"{web_server.url}/submit")
    phone.fill("#url", "https://kloop.kg/blog/2024/04/18/tiktok/")
    phone.click("button[type=submit]")
    phone.wait_for_url("**/jobs/*")
    assert phone.locator("#job-status").inner_text().lower() == "queued"
    job_id = int(phone.url.rsplit("/", 1)[1])

    # The worker's part, done by hand: the page must notice by reloading itself.
    db = archive_builder.db
    jobs.claim(db, "tests:1")
    capture_id = archive_builder.add("https://kloop.kg/blog/2024/04/18/tiktok/", "TikTok blocked", ["Text."])
    jobs.finish(db, job_id, capture_id)
    phone.locator("#capture-link").wait_for(timeout=10_000)
    phone.click("#capture-link")
    phone.wait_for_url(f"**/capture/{capture_id}")
    assert phone.locator("h1").inner_text() == "TikTok blocked"
    assert phone.errors == []


def test_submit_error_keeps_the_url(phone, web_server, archive_builder):
    phone.goto(f"{web_server.url}/submit")
    phone.fill("#url", "http://169.254.169.254/latest/meta-data/")
    phone.click("button[type=submit]")
    assert "link-local" in phone.locator("#url-error").inner_text()
    assert phone.input_value("#url") == "http://169.254.169.254/latest/meta-data/"
    assert sum(jobs.counts(archive_builder.db).values()) == 0


def test_russian_on_a_small_phone_and_the_switch_to_english(chromium, web_server, archive_builder):
    """375 px wide, a Russian-speaking browser: Russian pages that fit, and the switch to English sticks."""
    capture_id = archive_builder.add(LONG_URL, TITLE, ["Первый абзац текста."], lang="ru")
    context = chromium.new_context(viewport={"width": 375, "height": 812}, locale="ru-RU", java_script_enabled=False)
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    try:
        for path in ("/", f"/capture/{capture_id}"):
            assert page.goto(f"{web_server.url}{path}").status == 200
            assert page.evaluate("document.documentElement.lang") == "ru"
            assert page.locator("header.site nav").first.locator("a").all_inner_texts()[:2] == ["Поиск", "Удаления"]
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        assert page.locator("#facts dt").first.inner_text() == "Исходная ссылка"
        # The switch: back to this very record page, in English, and the next page is English too.
        page.click("#languages a[hreflang=en]")
        page.wait_for_url(f"**/capture/{capture_id}")
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.locator("#facts dt").first.inner_text() == "Original URL"
        assert page.locator("#languages a[aria-current]").inner_text() == "English"
        page.goto(f"{web_server.url}/removals")
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.locator("h1").inner_text() == "Removals"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert errors == []
    finally:
        context.close()
