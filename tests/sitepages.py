"""The whole site in a real Chromium: one archive with something on every page, and every page listed.

`build_site` fills an archive (real WARCs through ArchiveBuilder) with captures in three languages,
forty sites for the facets, a long screenshot, removals with their before/after, a published takedown
order, a capture job and a watch. `html_pages` lists every HTML page of the app from Flask's url_map,
filling path arguments from the ids built here: a page added later is checked without being named,
and one whose arguments we cannot fill is reported (add its id to ``page_args``).
Used by tests/test_web_pages.py (every page: width, axe-core, lang) and tests/test_web_flows.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from archive.capturing import jobs
from archive.crawls.frontier import CrawlSpec, add_urls, create_crawl
from archive.staff.users import create_user
from archive.watches.watchlist import add_watch

from .test_web_removals import URL_LEGAL, add_capture, at, build
from .webapp import ArchiveBuilder, LiveServer, tiny_png

ROOT = Path(__file__).resolve().parent.parent
# Where every browser test leaves its screenshots for a person to look over (README, "Tests"; git-ignored).
SCREENSHOTS = ROOT / "test-screenshots"
AXE = ROOT / "vendor" / "axe-core-4.14.1" / "axe.min.js"  # Makefile's AXE_VERSION, fetched by `make test-setup`
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
WIDTHS = (320, 390, 768, 1280)
STAFF = ("editor", "a long staff password 1")
SITES = 40  # more sites than a facet shows at first

RU_TITLE = "ГКНБ обязал провайдеров заблокировать TikTok"
KY_TITLE = "Жогорку Кеңеш мыйзамды кабыл алды"
LONG_URL = "https://kloop.kg/blog/2024/04/18/" + "very-long-slug-" * 12


@dataclass
class Site:
    """What was built, by name."""

    captures: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    takedowns: dict[str, int] = field(default_factory=dict)
    job: int = 0
    watch: int = 0
    crawls: tuple[int, int] = (0, 0)


def build_site(builder: ArchiveBuilder) -> Site:
    removals = build(builder)  # removals with before/after, a published and a draft order (test_web_removals)
    site = Site(dict(removals.captures), dict(removals.events), dict(removals.takedowns))
    c = site.captures
    c["ru"] = builder.add(LONG_URL, RU_TITLE, ["Служба безопасности потребовала заблокировать TikTok.",
                                                 "Второй абзац статьи."], lang="ru", index=False,
                          blocked=[{"url": LONG_URL + "tracker.js", "reason": "private address"}])
    c["ky"] = builder.add("https://kloop.kg/ky/1", KY_TITLE, ["Жогорку Кеңеш бүгүн мыйзамды кабыл алды."],
                          lang="ky", index=False)
    # No title: lists show its long URL instead.
    c["untitled"] = builder.add(LONG_URL + "?utm_source=" + "x" * 60, "", ["An untitled TikTok page."],
                                index=False)
    # A full-page screenshot as long as a long article's: 12,000 px tall.
    c["long"] = builder.add("https://kloop.kg/long", "A very long article", ["Long text."] * 30, index=False,
                            screenshot=tiny_png(600, 12_000, (240, 240, 230)))
    for n in range(SITES):
        c[f"site{n}"] = add_capture(builder, f"https://news{n:02d}.example.org/story", at("2024-02-01"),
                                    [f"Story number {n} about the TikTok block."], title=f"Story {n}")
    builder.index(*c.values())
    site.job = jobs.enqueue(builder.db, "https://kloop.kg/queued")
    site.watch = add_watch(builder.db, "https://kloop.kg/watched", 86_400)
    create_user(builder.db, *STAFF)
    site.crawls = crawl_pair(builder, c["a_ok_direct"], c["site0"])
    return site


def crawl_pair(builder: ArchiveBuilder, *capture_ids: int) -> tuple[int, int]:
    """Two finished crawls of one site whose frontiers hold ``capture_ids`` (the crawl, its log, its
    comparison and its WACZ then have something to show)."""
    db = builder.db
    made = []
    for _ in range(2):
        crawl_id = create_crawl(db, CrawlSpec(seeds=("https://kloop.kg/",), name="kloop.kg"))
        for capture_id in capture_ids:
            url = db.execute("SELECT url FROM captures WHERE id = ?", (capture_id,)).fetchone()[0]
            add_urls(db, crawl_id, [(url, 0, "seed", "captured", None, None)])
            db.execute("UPDATE crawl_urls SET capture_id = ? WHERE crawl_id = ? AND url = ?",
                       (capture_id, crawl_id, url))
        db.execute("UPDATE crawls SET state = 'done', pages = ? WHERE id = ?", (len(capture_ids), crawl_id))
        made.append(crawl_id)
    return made[0], made[1]


def page_args(site: Site) -> dict[str, str]:
    """A value for each path argument of the app's routes, from what ``build_site`` made."""
    return {"capture_id": str(site.captures["ru"]), "event_id": str(site.events["legal"]),
            "takedown_id": str(site.takedowns["published"]), "job_id": str(site.job),
            "watch_id": str(site.watch), "target": URL_LEGAL, "rest": URL_LEGAL,
            "code": "ru", "crawl_id": str(site.crawls[0]), "earlier": str(site.crawls[0]),
            "later": str(site.crawls[1])}  # /lang/ru and /p/ru redirect: not pages of their own


# Pages reached only with a query (a bare GET answers 400), and more views of one page worth checking.
EXTRA_PAGES = ("/timeline?url=" + quote(URL_LEGAL, safe=""), "/?q=TikTok", "/?q=TikTok&outcome=legal&group=1",
               "/capture/{long}", "/capture/{ky}", "/removals/{blocked}", "/takedowns/{published}")


def html_pages(server: LiveServer, site: Site) -> tuple[list[str], list[str], list[str]]:
    """(public pages, staff-only pages, routes not checked) of the app, as paths.

    Every GET route of the url_map with its arguments filled in is fetched: what answers with HTML
    is a page; what sends anonymous readers to the login form (or refuses them) is a staff page. A route with an
    argument ``page_args`` has no value for is returned in the third list.
    """
    args = page_args(site)
    public, staff, unchecked = [], [], []
    candidates = []
    for rule in server.app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        if not all(a in args for a in rule.arguments):
            unchecked.append(rule.rule)
            continue
        candidates.append(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: args[m.group(1)], rule.rule))
    ids = {**site.captures, **site.events, **site.takedowns}
    candidates += [p.format(**ids) for p in EXTRA_PAGES]
    for path in dict.fromkeys(candidates):
        r = server.get(path)
        if r.status_code == 200 and r.headers.get("Content-Type", "").startswith("text/html"):
            public.append(path)
        elif (r.status_code in (302, 303) and r.headers["Location"].startswith("/login")
              or r.status_code == 403 and r.headers.get("Content-Type", "").startswith("text/html")):
            staff.append(path)  # sends anonymous readers to sign in, or refuses them: checked signed in
    return public, staff, unchecked


def sign_in(page, base: str) -> None:
    """Sign the browser page in as the staff account, through the login form."""
    page.goto(f"{base}/login")
    page.fill("#username", STAFF[0])
    page.fill("#password", STAFF[1])
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def sideways(page) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")


def axe_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of ``impacts`` on the page as shown now, one line each.

    The script is evaluated through DevTools (not a <script> tag), so the app's CSP stays as strict
    as readers get it.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                          ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
                          " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
    return [f"{v['impact']} {v['id']} ({v['help']}): {', '.join(v['nodes'])}" for v in found
            if v["impact"] in impacts]


def screenshot(page, name: str) -> Path:
    """Keep a full-page screenshot of what the test saw under test-screenshots/ (``name``.png)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
