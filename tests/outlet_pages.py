"""The pages of the fixture outlet (tests/outlet.py): one function per kind of page.

`respond(site, host, path)` answers a request as (status, headers, body). Everything is rendered
from the outlet's current state, so a deleted article drops out of every listing, sitemap and feed.
"""
from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
from urllib.parse import parse_qsl, urlsplit

CATEGORIES = ("politics", "society", "economy", "investigations")
CALENDAR_START = (2024, 5)  # the month the home page's calendar link opens
SESSION = ";jsessionid="
NOTICE_PATH = "/notice/removed"
PER_PAGE = 10
HTML = "text/html; charset=utf-8"
XML = "application/xml; charset=utf-8"
FOREIGN = ("https://twitter.com/kloopnews", "https://www.facebook.com/kloop.kg",
           "https://www.azattyk.org/a/32900000.html")
DEAD_LINK = "/ky/2019/01/01/zhok-bolgon-makala/"
NAMES = {
    "ky": {"politics": "Саясат", "society": "Коом", "economy": "Экономика", "investigations": "Иликтөө",
           "related": "Окшош материалдар", "more": "Дагы окуңуз"},
    "ru": {"politics": "Политика", "society": "Общество", "economy": "Экономика",
           "investigations": "Расследования", "related": "Похожие материалы", "more": "Читайте также"},
}
ROBOTS = """# robots.txt for kloop.kg
User-agent: *
Allow: /wp-admin/admin-ajax.php
Disallow: /private/
Disallow: /wp-admin/

User-agent: BadBot
Disallow: /

User-agent: SlowBot
Crawl-delay: 5

Sitemap: http://kloop.kg/sitemap_index.xml
"""
SUB_ROBOTS = "User-agent: *\nDisallow:\n\nSitemap: http://ru.kloop.kg/sitemap.xml\n"


def respond(site, host: str, target: str) -> tuple[int, dict, bytes]:
    parts = urlsplit(target)
    path, query = parts.path or "/", parts.query
    url = f"http://{host}{target}"
    retry = site._take_throttle(url)
    if retry is not None:
        return 503, {"Retry-After": str(retry), "Content-Type": HTML}, b"<title>Busy</title>Try later."
    if SESSION in path:
        return _session(site, host, path, query)
    if host == site.SUBHOST:
        return _sub(site, path)
    if host != site.HOST:
        return 421, {"Content-Type": HTML}, b"<title>Misdirected</title>not this server"
    article = site._by_path.get((host, path))
    if article is not None:
        return _article_or_gone(site, article)
    if path == "/":
        return _ok(_home(site))
    if path == "/robots.txt":
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, ROBOTS.encode()
    if path == "/sitemap_index.xml":
        return _ok(_sitemap_index(site), XML)
    if path == "/sitemaps/post-sitemap1.xml.gz":
        first, _ = _sitemap_halves(site)
        return 200, {"Content-Type": "application/x-gzip"}, gzip.compress(_urlset(first).encode(), mtime=0)
    if path == "/sitemaps/post-sitemap2.xml":
        return _ok(_urlset(_sitemap_halves(site)[1]), XML)
    if path == "/sitemaps/page-sitemap.xml":
        pages = [("http://kloop.kg/", None)] + [(f"http://kloop.kg/{lang}/category/{c}", None)
                                               for lang in ("ky", "ru") for c in CATEGORIES]
        return _ok(_urlset(pages), XML)
    if path == "/rss.xml":
        return _ok(_rss(site), "application/rss+xml; charset=utf-8")
    if path == NOTICE_PATH:
        return _ok(_notice())
    if path == "/private/":
        return _ok(_listing("ky", "Жабык бөлүм", [a for a in site._published() if a.private]))
    found = re.fullmatch(r"/(ky|ru)/category/([a-z]+)", path)
    if found and found[2] in CATEGORIES:
        return _category(site, found[1], found[2], query)
    found = re.fullmatch(r"/calendar/(\d{4})/(\d{2})", path)
    if found and 1 <= int(found[2]) <= 12:
        return _ok(_calendar(site, int(found[1]), int(found[2])))
    if path == "/ky/search":
        return _ok(_search(site, query))
    if re.fullmatch(r"/about/(team/)*", path):
        return _ok(_page("ky", "Биз жөнүндө", "<p>Kloop редакциясы.</p><a href='team/'>Команда</a>"))
    found = re.fullmatch(r"/(old|older)/(\d)", path)
    if found:
        return _redirect(site, found[1], int(found[2]))
    return _not_found()


def _ok(body: str, content_type: str = HTML) -> tuple[int, dict, bytes]:
    return 200, {"Content-Type": content_type}, body.encode()


def _not_found() -> tuple[int, dict, bytes]:
    return 404, {"Content-Type": HTML}, _page("ky", "Бет табылган жок", "<p>Бет табылган жок.</p>").encode()


def _listed(site, host: str | None = None, lang: str | None = None) -> list:
    """Articles a listing shows: published, linked in the open, of ``host`` and ``lang``."""
    return [a for a in site._published() if a.listed and not a.private
            and a.host == (host or site.HOST) and (lang is None or a.lang == lang)]


def _page(lang: str, heading: str, body: str, head: str = "") -> str:
    return (f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>"
            f"<title>{_e(heading)} | Kloop</title>{head}</head><body><header><nav><a href='/'>Kloop</a> "
            + " ".join(f"<a href='/{lang}/category/{c}'>{NAMES[lang][c]}</a>" for c in CATEGORIES)
            + f"</nav></header><main><h1>{_e(heading)}</h1>{body}</main>"
            "<footer><p>© Kloop Media</p></footer></body></html>")


def _links(articles) -> str:
    return "<ul>" + "".join(f"<li><a href='{a.url}'>{_e(a.title)}</a> <time>{a.date:%d.%m.%Y}</time></li>"
                            for a in articles) + "</ul>"


def _listing(lang: str, heading: str, articles, extra: str = "") -> str:
    return _page(lang, heading, _links(articles) + extra)


def _article_or_gone(site, article) -> tuple[int, dict, bytes]:
    how = site._gone.get(article.url)
    if how in ("404", "410"):
        return int(how), {"Content-Type": HTML}, _page("ky", "Бет табылган жок", "<p>Жок.</p>").encode()
    if how == "451":
        body = "<p>Бул материал мыйзамдын талабы боюнча Кыргызстанда жеткиликсиз.</p>"
        return 451, {"Content-Type": HTML}, _page("ky", "Unavailable For Legal Reasons", body).encode()
    if how == "home":
        return 301, {"Location": f"http://{article.host}/", "Content-Type": HTML}, b""
    if how == "notice":
        return 302, {"Location": f"http://{site.HOST}{NOTICE_PATH}", "Content-Type": HTML}, b""
    return _ok(_article(site, article))


def _article(site, a) -> str:
    siblings = _listed(site, a.host, a.lang)
    after = [s for s in siblings if s.date < a.date][:3]
    iso = a.date.isoformat()
    head = (f"<meta property='og:title' content='{_e(a.title)}'>"
            f"<meta property='article:published_time' content='{iso}'><link rel='canonical' href='{a.url}'>")
    body = (f"<article><p class='meta'><time datetime='{iso}'>{a.date:%d.%m.%Y %H:%M}</time></p>"
            + "".join(f"<p>{_e(p)}</p>" for p in a.paragraphs) + "</article>"
            f"<aside><h2>{NAMES[a.lang]['related']}</h2>{_links(after)}</aside>")
    return _page(a.lang, a.title, body, head)


def _home(site) -> str:
    latest = sorted(_listed(site), key=lambda a: a.date, reverse=True)[:30]
    hidden = [a for a in site._published() if not a.listed]
    parts = [[*a.path.strip("/").split("/"), a.title] for a in hidden]
    script = json.dumps(parts, ensure_ascii=False).replace("</", "<\\/")
    session = hashlib.md5(b"home").hexdigest().upper()
    traps = (
        "<nav class='more'><a href='/rss.xml'>RSS</a> <a href='/calendar/2024/05'>Архив</a> "
        "<a href='/ky/search?tag=politics'>Издөө</a> "
        f"<a href='/ky/category/society{SESSION}{session}'>Коом</a> <a href='/about/'>Биз жөнүндө</a> "
        f"<a href='/old/1'>Эски шилтеме</a> <a href='/old/2'>Эски шилтеме 2</a> <a href='{DEAD_LINK}'>Эски макала</a> "
        "<a href='/private/'>Жабык</a> <a href='http://ru.kloop.kg/'>Kloop на русском</a> "
        + " ".join(f"<a href='{u}'>{u.split('/')[2]}</a>" for u in FOREIGN) + "</nav>")
    # Links only a browser sees: the script builds each href from parts after the page loads.
    builder = ("<div id='more'></div><script>document.addEventListener('DOMContentLoaded', function () {"
               f"var items = {script}; var box = document.getElementById('more');"
               "items.forEach(function (it) { var a = document.createElement('a');"
               "a.href = '/' + it.slice(0, -1).join('/') + '/'; a.textContent = it[it.length - 1];"
               "box.appendChild(a); });"
               "});</script>")
    return _page("ky", "Kloop: жаңылыктар", _links(latest) + traps + builder)


def _category(site, lang: str, category: str, query: str) -> tuple[int, dict, bytes]:
    params = dict(parse_qsl(query))
    page = params.get("page", "1")
    items = sorted((a for a in _listed(site, lang=lang) if a.category == category), key=lambda a: a.date,
                   reverse=True)
    last = max(1, -(-len(items) // PER_PAGE))
    if not page.isdigit() or not 1 <= int(page) <= last or set(params) - {"page"}:
        return _not_found()
    n = int(page)
    base = f"/{lang}/category/{category}"
    pager = "<nav class='pages'>" + " ".join(
        f"<a href='{base}?page={i}'>{i}</a>" if i > 1 else f"<a href='{base}'>1</a>" for i in range(1, last + 1))
    if n < last:
        pager += f" <a rel='next' href='{base}?page={n + 1}'>→</a>"
    heading = NAMES[lang][category] + (f" ({n})" if n > 1 else "")
    return _ok(_listing(lang, heading, items[(n - 1) * PER_PAGE:n * PER_PAGE], pager + "</nav>"))


def _calendar(site, year: int, month: int) -> str:
    items = [a for a in _listed(site) if (a.date.year, a.date.month) == (year, month)]
    prev = (year, month - 1) if month > 1 else (year - 1, 12)
    nxt = (year, month + 1) if month < 12 else (year + 1, 1)
    nav = (f"<nav><a href='/calendar/{prev[0]:04d}/{prev[1]:02d}'>←</a> "
           f"<a href='/calendar/{nxt[0]:04d}/{nxt[1]:02d}'>→</a></nav>")
    return _listing("ky", f"Архив {year:04d}-{month:02d}", items, nav)


def _search(site, query: str) -> str:
    """A faceted search whose every link adds one more parameter: a query string that never ends."""
    more = f"/ky/search?{query}&f={len(parse_qsl(query)) + 1}"
    return _listing("ky", "Издөө", _listed(site, lang="ky")[:5], f"<a href='{_e(more)}'>Дагы</a>")


def _session(site, host: str, path: str, query: str) -> tuple[int, dict, bytes]:
    """Any page under a session id: its internal links carry a fresh session id each time."""
    clean = re.sub(r";jsessionid=[^/?]*", "", path)
    status, headers, body = respond(site, host, clean + (f"?{query}" if query else ""))
    fresh = hashlib.md5(path.encode()).hexdigest().upper()
    text = re.sub(r"href='(/[^'?]*)", lambda m: f"href='{m[1]}{SESSION}{fresh}", body.decode())
    return status, headers, text.encode()


def _redirect(site, kind: str, n: int) -> tuple[int, dict, bytes]:
    if kind == "old":
        return 301, {"Location": f"http://{site.HOST}/older/{n}", "Content-Type": HTML}, b""
    stable = [a for a in site._all if a.host == site.HOST and a.listed and not a.private]
    return 301, {"Location": stable[n * 7].url, "Content-Type": HTML}, b""


def _notice() -> str:
    return _page("ky", "Материал алынып салынды", (
        "<p>Бул материал Кыргыз Республикасынын Маданият, маалымат, спорт жана жаштар саясаты "
        "министрлигинин талабы боюнча алынып салынды.</p><p>Материал удален по требованию "
        "Министерства культуры, информации, спорта и молодежной политики Кыргызской Республики.</p>"))


def _sitemap_halves(site) -> tuple[list, list]:
    """The post sitemaps: the newer half (gzipped child), then the rest with the private section
    (a misconfigured CMS lists it: robots.txt, not the sitemap, must keep a crawler out)."""
    posts = sorted((a for a in site._published() if a.host == site.HOST and a.listed), key=lambda a: a.date,
                   reverse=True)
    rows = [(a.url, a.date.isoformat() if not a.revision else "2024-07-01T12:00:00+06:00") for a in posts]
    half = len(rows) // 2
    return rows[:half], rows[half:]


def _sitemap_index(site) -> str:
    children = ("post-sitemap1.xml.gz", "post-sitemap2.xml", "page-sitemap.xml")
    return ("<?xml version='1.0' encoding='UTF-8'?>"
            "<sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
            + "".join(f"<sitemap><loc>http://{site.HOST}/sitemaps/{c}</loc>"
                      "<lastmod>2024-06-30T18:00:00+06:00</lastmod></sitemap>" for c in children)
            + "</sitemapindex>")


def _urlset(rows) -> str:
    return ("<?xml version='1.0' encoding='UTF-8'?>"
            "<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
            + "".join(f"<url><loc>{_e(url)}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "") + "</url>"
                      for url, mod in rows) + "</urlset>")


def _rss(site) -> str:
    latest = sorted(_listed(site), key=lambda a: a.date, reverse=True)[:20]
    items = "".join(
        f"<item><title>{_e(a.title)}</title><link>{a.url}</link><guid isPermaLink='true'>{a.url}</guid>"
        f"<pubDate>{a.date:%a, %d %b %Y %H:%M:%S %z}</pubDate><description>{_e(a.paragraphs[0][:200])}"
        "</description></item>" for a in latest)
    return ("<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>Kloop</title>"
            f"<link>http://{site.HOST}/</link><description>Kloop</description><language>ky</language>"
            f"{items}</channel></rss>")


def _sub(site, path: str) -> tuple[int, dict, bytes]:
    """ru.kloop.kg: a subdomain with its own robots.txt, sitemap, Atom feed and articles."""
    own = sorted(_listed(site, site.SUBHOST), key=lambda a: a.date, reverse=True)
    article = site._by_path.get((site.SUBHOST, path))
    if article is not None:
        return _article_or_gone(site, article)
    if path == "/":
        return _ok(_listing("ru", "Kloop на русском", own, f"<a href='http://{site.HOST}/'>Kloop</a>"))
    if path == "/robots.txt":
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, SUB_ROBOTS.encode()
    if path == "/sitemap.xml":
        return _ok(_urlset([(a.url, a.date.isoformat()) for a in own]), XML)
    if path == "/feed.atom":
        entries = "".join(f"<entry><title>{_e(a.title)}</title><link rel='alternate' href='{a.url}'/>"
                          f"<id>{a.url}</id><updated>{a.date.isoformat()}</updated></entry>" for a in own)
        return _ok("<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
                   f"<title>Kloop RU</title><id>http://{site.SUBHOST}/</id><updated>2024-06-30T18:00:00+06:00"
                   f"</updated>{entries}</feed>", "application/atom+xml; charset=utf-8")
    return _not_found()


def _e(text: str) -> str:
    return html.escape(text, quote=True)
