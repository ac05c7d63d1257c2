"""A news site whose article changes state between captures, as a removal unfolds.

The test sets `site.state` before each capture; the article route answers as
that state says: the article, a 404, a 451 with `Link: rel="blocked-by"`, the
Russian RKN blockpage in place, a redirect to a Kyrgyz provider's blockpage on
another host, or the article with most of its paragraphs rewritten.
"""
from __future__ import annotations

from .sites import DATA, FixtureSite, send

ARTICLE_PATH = "/politics/2026/11/protest-report.html"

PARAGRAPHS = [
    "Hundreds of residents gathered on the central square on Saturday to protest the closure of the "
    "independent newspaper, which had published a series of reports on public procurement.",
    "The newspaper's editor said the regulator had sent a demand to remove three articles within "
    "twenty-four hours, citing the law on information and an article on false information.",
    "Lawyers for the outlet argued that the demand named no specific false statement and that the "
    "reports were based on documents published by the ministry itself.",
    "Police officers watched the gathering but did not intervene, and the protesters dispersed "
    "peacefully after two hours, promising to return the following weekend.",
    "A spokesperson for the regulator declined to comment on the case, saying only that all demands "
    "are issued in accordance with the procedure established by law.",
]
REWRITTEN = [
    "A cultural festival took place on the central square on Saturday, attracting families and visitors "
    "from neighbouring districts with music, crafts and local food.",
    "Organisers thanked the city administration for its support and said next year's festival would "
    "be larger, with a second stage for young performers.",
    "Weather was warm and sunny throughout the afternoon, and volunteers kept the square clean as the "
    "celebrations continued into the evening.",
]

RKN_BLOCKPAGE = (
    "<html><head><meta charset='utf-8'><title>Доступ ограничен</title></head><body>"
    "<h1>Доступ к информационному ресурсу ограничен</h1><p>Доступ к информационному ресурсу ограничен на "
    "основании Федерального закона от 27 июля 2006 г. № 149-ФЗ «Об информации, информационных технологиях "
    "и о защите информации». Единый реестр: eais.rkn.gov.ru</p></body></html>")
KG_BLOCKPAGE = (
    "<html><head><meta charset='utf-8'><title>Доступ ограничен</title></head><body>"
    "<h1>Доступ к данному ресурсу ограничен</h1><p>Доступ к данному ресурсу ограничен по решению "
    "уполномоченного государственного органа Кыргызской Республики.</p></body></html>")
LEGAL_451 = (
    "<html><head><meta charset='utf-8'><title>Unavailable For Legal Reasons</title></head><body>"
    "<h1>Unavailable For Legal Reasons</h1><p>This article has been removed at the demand of "
    "Roskomnadzor under Federal Law No. 149-FZ (Article 15.3).</p></body></html>")
BLOCKED_BY = "https://rkn.example/registry/12345"


def article(paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Residents protest closure of "
        "newspaper</title></head><body><header><a href='/'>City News</a></header><main><article>"
        f"<h1>Residents protest closure of newspaper</h1>{body}</article></main>"
        "<footer>© City News</footer></body></html>").encode()


class StatefulNewsSite(FixtureSite):
    """news.example.org with one article whose state the test sets, and homeline.kg's blockpage."""

    def __init__(self) -> None:
        super().__init__(DATA / "site")
        self.state = "ok"
        self.routes[ARTICLE_PATH] = self._article
        self.routes["/"] = lambda h: send(h, 200, b"<html><head><title>City News</title></head><body>"
                                             b"<h1>City News</h1><p>Latest stories.</p></body></html>")
        self.routes["/access/blockpage.html"] = lambda h: send(h, 200, KG_BLOCKPAGE.encode())

    @property
    def article_url(self) -> str:
        return f"http://news.example.org{ARTICLE_PATH}"

    def host_rules(self) -> list[str]:
        return [self.rule("news.example.org"), self.rule("homeline.kg")]

    def _article(self, handler) -> None:
        state = self.state
        if state in ("ok", "restored"):
            send(handler, 200, article(PARAGRAPHS))
        elif state == "not_found":
            send(handler, 404, b"<html><head><title>Not found</title></head><body><h1>Page not found</h1>"
                               b"</body></html>")
        elif state == "legal":
            send(handler, 451, LEGAL_451.encode(), headers={"Link": f'<{BLOCKED_BY}>; rel="blocked-by"'})
        elif state == "blockpage":
            send(handler, 200, RKN_BLOCKPAGE.encode())
        elif state == "redirect":
            send(handler, 302, b"", headers={"Location": "http://homeline.kg/access/blockpage.html"})
        elif state == "rewritten":
            send(handler, 200, article(REWRITTEN[:3] + PARAGRAPHS[3:]))
        else:
            raise AssertionError(f"unknown state {state}")
