"""Every page of the site in Chromium, found from the app's url_map (tests/sitepages.py): no sideways
scrolling from 320 px to 1280 px, no serious or critical axe-core violation at a phone's and a
desktop's width, the page's language and each archived text's language declared, focus visible."""
from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from crawler.browser import find_chromium, launch_args

from .sitepages import AXE, DESKTOP, PHONE, WIDTHS, axe_violations, build_site, html_pages, sideways, sign_in
from .webapp import ArchiveBuilder, LiveServer, make_settings


@pytest.fixture(scope="module")
def site_server(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("site") / "home",
                             capture_vantages="kg-bishkek=KG=socks5://203.0.113.5:1080")
    builder = ArchiveBuilder(settings)
    site = build_site(builder)
    with LiveServer(settings) as server:
        yield server, site
    builder.close()


@pytest.fixture(scope="module")
def pages(site_server) -> tuple[list[str], list[str], list[str]]:
    server, site = site_server
    return html_pages(server, site)


@pytest.fixture(scope="module")
def browser():
    assert AXE.exists(), f"{AXE} is missing: run `make test-setup` (it fetches axe-core from npm)"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=find_chromium(), args=launch_args())
        yield chromium
        chromium.close()


def test_every_route_is_checked(pages, site_server):
    public, staff, unchecked = pages
    assert not unchecked, (f"routes with arguments tests/sitepages.py cannot fill: {unchecked};"
                           " add a fixture id for each to page_args()")
    # The discovery found the pages people read, not just a few.
    for path in ("/", "/removals", "/takedowns", "/submit", "/watches", "/api", "/login"):
        assert path in public
    assert any(p.startswith("/capture/") for p in public) and any(p.startswith("/jobs/") for p in public)
    assert any(p.startswith("/staff/") for p in staff)


def check_pages(browser, base: str, paths: list[str], staff: bool = False) -> list[str]:
    """Every problem on ``paths`` as one line each (so one run reports them all)."""
    problems = []
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    try:
        if staff:
            sign_in(page, base)
        for path in paths:
            page.set_viewport_size(DESKTOP)
            if staff:
                r = page.request.get(base + path)
                if not (r.ok and r.headers.get("content-type", "").startswith("text/html")):
                    continue  # a download for staff (a crawl's WACZ, a CSV; 409 until the crawl ends), not a page
            status = page.goto(base + path).status
            if status != 200:
                problems.append(f"{path}: status {status}")
                continue
            lang = page.evaluate("document.documentElement.lang")
            if lang not in ("en", "ru", "ky"):
                problems.append(f"{path}: <html lang> is {lang!r}")
            sheets = page.evaluate("[...document.styleSheets].map(s => s.href)")
            if sheets != [f"{base}/static/style.css"]:
                problems.append(f"{path}: stylesheets {sheets}, not the one style.css")
            # Archived text is in its own language, whatever the page's (lang="" where it is unknown).
            undeclared = page.evaluate("[...document.querySelectorAll('.archived-text:not([lang]),"
                                       " .snippet:not([lang]), ol.diff li:not(:has(> [lang]))')].length")
            if undeclared:
                problems.append(f"{path}: {undeclared} archived text(s) without their own lang")
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 800})
                if over := sideways(page):
                    problems.append(f"{path}: {over} px sideways scrolling at {width} px")
                if width in (PHONE["width"], DESKTOP["width"]):
                    problems += [f"{path} at {width} px: {v}" for v in axe_violations(page)]
        problems += [f"console error: {e}" for e in errors]
    finally:
        context.close()
    return problems


def test_public_pages_fit_and_pass_axe(browser, site_server, pages):
    server, _ = site_server
    problems = check_pages(browser, server.url, pages[0])
    assert not problems, "\n".join(problems)


def test_staff_pages_fit_and_pass_axe(browser, site_server, pages):
    server, _ = site_server
    problems = check_pages(browser, server.url, pages[1], staff=True)
    assert not problems, "\n".join(problems)


def test_focus_is_visible_on_every_kind_of_control(browser, site_server):
    """Tabbing through the search page: every control that takes focus draws an outline or ring."""
    server, _ = site_server
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/?q=TikTok")
        unseen = []
        for _ in range(40):
            page.keyboard.press("Tab")
            shown = page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
                return [e.tagName + (e.id ? '#' + e.id : '') + ' ' + (e.textContent || '').trim().slice(0, 20),
                        (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none']; }""")
            if not shown[1]:
                unseen.append(shown[0])
        assert not unseen, f"focus not visible on: {unseen}"
    finally:
        context.close()


def test_outcomes_are_said_in_words_not_only_colour(browser, site_server):
    """Each outcome badge and each diff line carries text (a word or a sign), not just its colour."""
    server, site = site_server
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/removals")
        badges = page.locator(".badge").all_inner_texts()
        assert badges and all(b.strip() for b in badges)
        page.goto(f"{server.url}/capture/{site.captures['a_changed']}")
        ops = page.locator("ol.diff li .op").all_text_contents()
        assert ops and all(op.strip() in ("−", "-", "+", "=", "") for op in ops)
        assert {op.strip() for op in ops} >= {"+"}
    finally:
        context.close()
