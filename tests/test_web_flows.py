"""What a reader does on the site, in Chromium at a desktop's and a phone's width, by keyboard where
it matters; each flow leaves screenshots under test-screenshots/ (README, "Tests").

The first tests are the defects issue 18 found (checkboxes apart from their labels, an odd-sized
select, a page wider than the phone, facets without "more", a 12,000 px screenshot pushing the text
away, a submit form without the API's options, a job page without its steps): each failed before.
"""
from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from warcio.archiveiterator import ArchiveIterator

from archive import catalog
from archive.capturing import jobs
from archive.capturing.worker import run_worker
from archive.settings import Settings
from crawler.browser import find_chromium, launch_args

from .sitepages import DESKTOP, PHONE, RU_TITLE, Site, build_site, screenshot, sideways
from .webapp import ArchiveBuilder, LiveServer, make_settings

SIZES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Iterator[tuple[LiveServer, Site, ArchiveBuilder]]:
    settings = make_settings(tmp_path_factory.mktemp("flows") / "home",
                             capture_vantages="kg-bishkek=KG=socks5://203.0.113.5:1080")
    builder = ArchiveBuilder(settings)
    site = build_site(builder)
    with LiveServer(settings) as server:
        yield server, site, builder
    builder.close()


@pytest.fixture(scope="module")
def page(built) -> Iterator[Page]:
    """One browser page for the module (JavaScript on, the clipboard allowed); tests set its size."""
    server, _, _ = built
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=launch_args())
        context = browser.new_context(viewport=DESKTOP, accept_downloads=True, locale="en-US")
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        tab = context.new_page()
        tab.errors = []
        tab.on("console", lambda msg: msg.type == "error" and tab.errors.append(msg.text))
        yield tab
        browser.close()


@pytest.fixture(autouse=True)
def english(page, built):
    """Each test starts in English with no console errors seen."""
    page.goto(f"{built[0].url}/lang/en?next=/")
    page.errors.clear()
    yield
    assert page.errors == []


def box(page: Page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


# -- the defects ----------------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
def test_search_checkboxes_sit_beside_their_labels(page, built, size):
    page.set_viewport_size(SIZES[size])
    page.goto(f"{built[0].url}/?q=TikTok")
    for name in ("removed", "group"):
        check, label = box(page, f"#{name}"), box(page, f"label[for={name}]")
        assert check["width"] <= 24 and check["height"] <= 24, f"#{name} is a {check['width']} px box"
        assert 0 <= label["x"] - (check["x"] + check["width"]) <= 16  # right beside it, on its line
        assert abs((label["y"] + label["height"] / 2) - (check["y"] + check["height"] / 2)) <= 8
    # Clicking the label ticks its box: they belong together.
    page.click("label[for=removed]")
    assert page.is_checked("#removed")
    screenshot(page, f"search-form-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_order_select_is_as_tall_as_the_fields_beside_it(page, built, size):
    page.set_viewport_size(SIZES[size])
    page.goto(f"{built[0].url}/")
    select, field = box(page, "#sort"), box(page, "#to")
    assert abs(select["height"] - field["height"]) <= 1


@pytest.mark.parametrize("width", [320, 390])
def test_search_page_fits_a_phone_with_its_facet_counts(page, built, width):
    """A capture without a title shows its long URL as its heading: the page still fits."""
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{built[0].url}/?q=TikTok")
    assert sideways(page) == 0
    for count in page.locator("#facets > .facet > ul .count").all():
        right = count.bounding_box()
        assert count.is_visible() and right["x"] + right["width"] <= width


@pytest.mark.parametrize("size", SIZES)
def test_facets_show_top_values_with_counts_and_more(page, built, size):
    page.set_viewport_size(SIZES[size])
    page.goto(f"{built[0].url}/?q=TikTok")
    sites = page.locator("#facet-domain")
    shown = sites.locator("> ul > li")
    assert shown.count() == 5
    assert all(c.strip().isdigit() for c in shown.locator(".count").all_inner_texts())
    hidden = sites.locator("details.more li")
    assert hidden.count() > 30 and not hidden.first.is_visible()
    # By keyboard: "more" opens the rest, counts and all.
    summary = sites.locator("details.more summary")
    assert "more" in summary.inner_text()
    summary.focus()
    page.keyboard.press("Enter")
    expect(hidden.first).to_be_visible()
    screenshot(page, f"search-facets-more-{size}")
    # A value chosen from behind "more" stays in view among the top ones.
    value = hidden.nth(10).locator("a").get_attribute("data-value")
    hidden.nth(10).locator("a").click()
    page.wait_for_url(f"**domain={value}**")
    assert page.locator(f"#facet-domain > ul a[data-value='{value}'][aria-current]").count() == 1


@pytest.mark.parametrize("size", SIZES)
def test_long_screenshot_is_a_bounded_view_that_opens_the_whole(page, built, size):
    server, site, _ = built
    page.set_viewport_size(SIZES[size])
    page.goto(f"{server.url}/capture/{site.captures['long']}")
    shot = page.locator("#screenshot .shot")
    view = shot.bounding_box()
    assert view["height"] <= 0.75 * SIZES[size]["height"] + 2
    assert shot.evaluate("e => e.scrollHeight > e.clientHeight")  # scrollable inside, the image whole
    # The text below it is near, not 12,000 px down.
    assert box(page, "#text")["y"] < view["y"] + view["height"] + 2000
    screenshot(page, f"record-long-screenshot-{size}")
    page.keyboard.press("Escape")
    with page.expect_response(lambda r: r.url.endswith("/screenshot.png")) as opened:
        shot.click()
    assert opened.value.status == 200
    page.go_back()
    # Chromium's own image viewer styles the bare PNG inline, which the screenshot's sandbox CSP refuses
    # (and logs): that document is the browser's, not one of ours.
    page.errors[:] = [e for e in page.errors if "inline style" not in e]


def test_submit_form_offers_what_the_api_does(page, built):
    """Vantage and outlinks go into the job as the API puts them; the API's messages come back."""
    server, _, builder = built
    for size in SIZES:
        page.set_viewport_size(SIZES[size])
        page.goto(f"{server.url}/submit")
        page.fill("#url", "http://10.1.2.3/inside")
        page.keyboard.press("Enter")
        expect(page.locator("#url-error")).to_contain_text("10.1.2.3")
        assert page.locator("#url").get_attribute("aria-invalid") == "true"
        screenshot(page, f"submit-refused-{size}")
    page.select_option("#vantage", "kg-bishkek")
    page.check("#capture_outlinks")
    page.fill("#url", "https://kloop.kg/blog/with-links")
    page.locator("#submit-form button[type=submit]").click()
    page.wait_for_url("**/jobs/*")
    page.errors[:] = [e for e in page.errors if "status of 400" not in e]  # the refusals above, as meant
    job = jobs.get_job(builder.db, int(page.url.rsplit("/", 1)[1]))
    assert job["vantage"] == "kg-bishkek" and jobs.job_options(job) == {"capture_outlinks": True}


def test_submit_a_url_and_follow_the_job_to_the_capture(page, built):
    """By keyboard: the URL, Enter; the job page then follows each step in place (no reload).
    At a desktop's width; the phone's is the real capture's below."""
    server, _, builder = built
    db = builder.db
    for size in ("desktop",):
        page.set_viewport_size(SIZES[size])
        page.goto(f"{server.url}/submit")
        page.locator("#url").focus()
        page.keyboard.type("https://kloop.kg/blog/2024/04/18/tiktok/")
        page.keyboard.press("Enter")
        page.wait_for_url("**/jobs/*")
        job_id = int(page.url.rsplit("/", 1)[1])
        expect(page.locator("#job-steps li[aria-current=step]")).to_have_attribute("data-step", "queued")
        page.evaluate("window.sameDocument = true")
        while jobs.claim(db, "tests:1")["id"] != job_id:  # earlier tests' jobs stay queued
            pass
        for step in ("loading", "recording"):
            jobs.set_step(db, job_id, step)
            expect(page.locator("#job-steps li[aria-current=step]")).to_have_attribute("data-step", step)
        screenshot(page, f"job-{size}")
        capture_id = builder.add("https://kloop.kg/blog/2024/04/18/tiktok/", "TikTok blocked", ["Text."],
                                 index=False)
        jobs.finish(db, job_id, capture_id)
        expect(page.locator("#job-steps li[aria-current=step]")).to_have_attribute("data-step", "indexing")
        builder.index(capture_id)
        expect(page.locator("#job-steps li.step-passed")).to_have_count(5)
        expect(page.locator("#capture-link")).to_be_visible()
        assert page.evaluate("window.sameDocument") is True  # followed in place, never reloaded
        screenshot(page, f"job-done-{size}")
        page.locator("#capture-link").focus()
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/capture/{capture_id}")
        assert page.locator("h1").inner_text() == "TikTok blocked"


def test_submit_and_follow_a_real_capture_on_a_phone(page, env, site):
    """The whole way with the real worker and its Chromium: the fixture site's page, captured and indexed."""
    settings = Settings.from_env(env)
    stop = threading.Event()
    with LiveServer(settings) as server:
        worker = threading.Thread(target=run_worker, args=(settings, stop), name="worker", daemon=True)
        worker.start()
        try:
            page.set_viewport_size(PHONE)
            page.goto(f"{server.url}/submit")
            page.fill("#url", "http://news.example.com/index.html")
            page.keyboard.press("Enter")
            page.wait_for_url("**/jobs/*")
            expect(page.locator("#job-steps li.step-passed")).to_have_count(5, timeout=90_000)
            screenshot(page, "job-real-capture-phone")
            page.click("#capture-link")
            page.wait_for_url("**/capture/*")
            assert page.locator("#warc-link").is_visible() and sideways(page) == 0
            # The worker said which step it was at: the last before "done" was writing the WARC.
            db = catalog.connect(settings.catalog_path)
            assert [tuple(r) for r in db.execute("SELECT step FROM jobs")] == [("recording",)]
            db.close()
        finally:
            stop.set()
            worker.join(timeout=120)
    assert not worker.is_alive()


def test_a_failed_job_says_where_and_why_in_words(page, built):
    server, _, builder = built
    job_id = jobs.enqueue(builder.db, "https://kloop.kg/failing")
    while jobs.claim(builder.db, "tests:1")["id"] != job_id:
        pass
    jobs.set_step(builder.db, job_id, "loading")
    jobs.fail(builder.db, job_id, "net::ERR_CONNECTION_RESET", max_attempts=1)
    for size in SIZES:
        page.set_viewport_size(SIZES[size])
        page.goto(f"{server.url}/jobs/{job_id}")
        failed = page.locator("#job-steps li.step-failed")
        assert failed.first.get_attribute("data-step") == "loading"
        assert "(failed here)" in failed.first.inner_text() and "✗" in failed.first.inner_text()
        assert "ERR_CONNECTION_RESET" in page.locator("#job-error").inner_text()
        screenshot(page, f"job-failed-{size}")


# -- every flow ------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
def test_search_filter_and_open_a_result_by_keyboard(page, built, size):
    server, site, _ = built
    page.set_viewport_size(SIZES[size])
    page.goto(f"{server.url}/")
    page.locator("#q").focus()
    page.keyboard.type("TikTok")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=TikTok**")
    page.locator("#facet-lang a[data-value=ru]").click()
    page.wait_for_url("**lang=ru**")
    expect(page.locator("#active-filters")).to_contain_text("ru")
    screenshot(page, f"search-{size}")
    result = page.locator("ol.results h3 a").first
    assert result.inner_text() == RU_TITLE
    result.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/capture/{site.captures['ru']}")
    assert page.locator(".archived-text").get_attribute("lang") == "ru"
    assert sideways(page) == 0
    screenshot(page, f"record-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_copy_each_citation_format_by_keyboard(page, built, size):
    server, site, _ = built
    page.set_viewport_size(SIZES[size])
    page.goto(f"{server.url}/capture/{site.captures['ru']}")
    boxes = page.locator("textarea.copyable")
    assert boxes.count() == 6
    for i in range(boxes.count()):
        text = boxes.nth(i).input_value()
        button = page.locator(f"button.copy[aria-controls='{boxes.nth(i).get_attribute('id')}']")
        button.focus()
        page.keyboard.press("Enter")
        expect(button).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == text
    assert json.loads(page.input_value("#cite-csl_json"))  # the CSL-JSON one is JSON
    screenshot(page, f"citations-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_replay_section_and_the_safe_view(page, built, size):
    """The replay frame comes from the replay origin, never this one; the safe view is linked."""
    server, site, _ = built
    page.set_viewport_size(SIZES[size])
    page.goto(f"{server.url}/capture/{site.captures['ru']}")
    frame = page.locator("#replay")
    src = frame.get_attribute("src")
    origin = server.settings.replay_origin
    assert src.startswith(f"{origin}/embed/{site.captures['ru']}") and not src.startswith(server.url)
    assert frame.get_attribute("title") and "sandbox" in frame.evaluate("f => f.outerHTML")
    assert page.get_attribute("#safe-view", "href").startswith(f"{origin}/safe/")
    frame.scroll_into_view_if_needed()
    assert frame.bounding_box()["width"] <= SIZES[size]["width"]
    screenshot(page, f"replay-{size}")


def test_download_the_warc_and_the_wacz(page, built):
    server, site, _ = built
    for size in SIZES:
        page.set_viewport_size(SIZES[size])
        page.goto(f"{server.url}/capture/{site.captures['ru']}")
        with page.expect_download() as warc:
            page.click("#warc-link")
        with open(warc.value.path(), "rb") as f:
            uris = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(f)]
        assert any(u and u.startswith("https://kloop.kg/blog/") for u in uris)
        with page.expect_download() as wacz:
            page.click("#wacz-link")
        with zipfile.ZipFile(io.BytesIO(open(wacz.value.path(), "rb").read())) as z:
            assert "datapackage.json" in z.namelist()
        screenshot(page, f"downloads-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_browse_removals_and_a_before_after(page, built, size):
    server, site, _ = built
    page.set_viewport_size(SIZES[size])
    page.goto(f"{server.url}/removals")
    assert page.locator("ol.removals li").count() >= 4
    screenshot(page, f"removals-{size}")
    page.locator(f"a[href='/removals/{site.events['blocked']}']").first.click()
    page.wait_for_url(f"**/removals/{site.events['blocked']}")
    expect(page.locator("#before h2")).to_be_visible()
    expect(page.locator("#after h2")).to_be_visible()
    # Removed and added lines are marked by a sign and for screen readers (<del>, <ins>), not by colour alone.
    assert page.locator("#diff li.diff-removed > del").count() >= 1
    assert page.locator("#diff li.diff-added > ins").count() >= 1
    assert set(page.locator("#diff li.diff-removed .op").all_inner_texts()) == {"−"}
    assert sideways(page) == 0
    screenshot(page, f"removal-before-after-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_read_a_takedown_order(page, built, size):
    server, site, _ = built
    page.set_viewport_size(SIZES[size])
    page.goto(f"{server.url}/takedowns")
    page.locator(f"a[href='/takedowns/{site.takedowns['published']}']").first.click()
    page.wait_for_url(f"**/takedowns/{site.takedowns['published']}")
    expect(page.locator("main")).to_contain_text("Ministry of Culture")
    assert sideways(page) == 0
    screenshot(page, f"takedown-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_switch_to_russian_and_kyrgyz_by_keyboard(page, built, size):
    server, site, _ = built
    page.set_viewport_size(SIZES[size])
    page.goto(f"{server.url}/capture/{site.captures['ky']}")
    for code, search in (("ru", "Поиск"), ("ky", None)):
        page.locator(f"#languages a[hreflang={code}]").focus()
        page.keyboard.press("Enter")
        page.wait_for_function(f"document.documentElement.lang === '{code}'")
        assert page.url.endswith(f"/capture/{site.captures['ky']}")
        nav = page.locator("header.site nav").first.locator("a").all_inner_texts()
        if search:
            assert nav[0] == search
        assert page.locator("#languages a[aria-current]").get_attribute("hreflang") == code
        assert page.locator(".archived-text").get_attribute("lang") == "ky"
        assert sideways(page) == 0
        screenshot(page, f"language-{code}-{size}")
