"""The outcome classifier: each rule on realistic responses, and observe() on real Chromium captures."""
from __future__ import annotations

import asyncio
import gzip
import os

import pytest

from archive.settings import Settings
from crawler import CaptureOptions, Capturer
from detect import FingerprintSet, Observation, classify, diff_lines, observe, observe_failure, similarity
from search import extract

from .sites import DATA, SHARED, FixtureSite, send

OONI = SHARED / "fingerprints" / "fingerprints_http.csv"
ARTICLE = "https://kloop.kg/2024/03/12/sud-zablokiroval-sajt/"
RKN_PAGE = ("<html><head><meta charset='utf-8'><title>Доступ ограничен</title></head><body><h1>Доступ "
            "ограничен</h1><p>Доступ к информационному ресурсу ограничен на основании Федерального закона от "
            "27 июля 2006 г. № 149-ФЗ «Об информации, информационных технологиях и о защите информации».</p>"
            "<p>Проверить наличие ресурса в Едином реестре: <a href='https://eais.rkn.gov.ru/'>eais.rkn.gov.ru"
            "</a></p></body></html>")
KG_PAGE = ("<html><head><meta charset='windows-1251'><title>Ресурс заблокирован</title></head><body>"
           "<h2>Доступ к данному ресурсу ограничен</h2><p>Ресурс заблокирован по решению уполномоченного "
           "государственного органа Кыргызской Республики (ГКНБ).</p></body></html>")
NEWS = ("Суд в Бишкеке рассмотрел иск Министерства культуры к редакции. Заседание продлилось четыре часа. "
        "Адвокаты редакции заявили, что будут обжаловать решение в вышестоящей инстанции. Представитель министерства "
        "отказался от комментариев. Журналисты продолжают работать, несмотря на блокировку сайта. "
        "Читатели могут открыть сайт через зеркало. Редакция благодарит всех, кто поддержал её в эти дни. "
        "Следующее заседание назначено на конец месяца. Эксперты считают, что решение суда создаёт опасный прецедент. "
        "Международные организации выразили обеспокоенность происходящим.")


@pytest.fixture(scope="module")
def fingerprints() -> FingerprintSet:
    loaded, problems = FingerprintSet.load([OONI])
    assert not problems
    return loaded


def obs(status=200, body="", text="", headers=(), url=ARTICLE, final=None, redirects=(), failure=None):
    return Observation(requested_url=url, final_url=final or url, status=status, headers=list(headers),
                       body_text=body, main_text=text, redirects=list(redirects), failure=failure)


def test_no_response_is_unreachable_with_the_failure_kind(fingerprints):
    # Failure records as the recording proxy writes them (crawler/proxy.py).
    for proxy_kind, kind in (("dns", "dns"), ("connect", "refused"), ("refused", "refused"), ("reset", "reset"),
                             ("tls", "tls"), ("timeout", "timeout")):
        failure = {"url": ARTICLE, "kind": proxy_kind, "error": f"{proxy_kind} trouble", "time": "2024-03-12T10:00Z"}
        outcome = classify(observe_failure(ARTICLE, failure), fingerprints, NEWS, 0.8)
        assert outcome.label == "unreachable"
        assert outcome.evidence == {"kind": kind, "error": f"{proxy_kind} trouble"}
    assert classify(obs(status=None), fingerprints, None, 0.8).label == "unreachable"


def test_our_own_refusals_are_not_the_site_being_unreachable():
    with pytest.raises(ValueError, match="'blocked' does not say the site is unreachable"):
        observe_failure(ARTICLE, {"kind": "blocked", "error": "resolves to a private address"})
    with pytest.raises(ValueError, match="must be a dict with a 'kind'"):
        observe_failure(ARTICLE, {"error": "x"})


def test_451_is_legal_with_the_blocking_authority_and_law(fingerprints):
    headers = [("Content-Type", "text/html; charset=utf-8"),
               ("Link", '<https://kloop.kg/>; rel="canonical", <https://eais.rkn.gov.ru/?id=12, 13>; '
                        'rel="blocked-by"; title="Роскомнадзор"'),
               ("link", "</authority/gknb>; rel=blocked-by")]
    outcome = classify(obs(451, RKN_PAGE.replace("<h1>", "<p>Решение Роскомнадзора, статья 15.3</p><h1>"),
                           headers=headers), fingerprints, NEWS, 0.8)
    assert outcome.label == "legal"
    ev = outcome.evidence
    assert ev["blocked_by"] == ["https://eais.rkn.gov.ru/?id=12, 13", "https://kloop.kg/authority/gknb"]
    assert ev["authorities"] == ["Roskomnadzor"]
    assert ev["laws"] == ["Federal Law 149-FZ (RU)", "статья 15.3"]
    assert "builtin.ru_rkn_149fz" in [m["name"] for m in ev["fingerprints"]]


def test_451_without_a_link_still_is_legal(fingerprints):
    outcome = classify(obs(451, "<h1>451 Unavailable For Legal Reasons</h1>"), fingerprints, None, 0.8)
    assert outcome.label == "legal" and outcome.evidence["blocked_by"] == []
    assert outcome.evidence["authorities"] == [] and outcome.evidence["laws"] == []


def test_platform_notice_is_withheld_with_the_country(fingerprints):
    text = "Kloop\n@kloop_kg\nThis Post from @kloop_kg has been withheld in Russia in response to a legal demand."
    outcome = classify(obs(200, "<html><div id='react-root'></div><script src='/main.js'></script></html>", text,
                           url="https://x.com/kloop_kg/status/1767"), fingerprints, None, 0.8)
    assert outcome.label == "withheld"
    assert outcome.evidence["country"] == "Russia"
    assert [m["name"] for m in outcome.evidence["fingerprints"]] == ["withheld.x_legal_demand"]
    youtube = classify(obs(200, "<div class='message'>This content is not available on this country domain due "
                                "to a legal complaint from the government.</div>", url="https://www.youtube.com/watch"
                                "?v=abc"), fingerprints, None, 0.8)
    assert youtube.label == "withheld" and "country" not in youtube.evidence


def test_redirect_to_a_providers_blockpage_is_a_redirect_notice(fingerprints):
    hops = [(302, "http://homeline.kg/access/blockpage.html")]
    outcome = classify(obs(200, KG_PAGE, url="http://24.kg/obschestvo/1234/", final=hops[-1][1], redirects=hops),
                       fingerprints, None, 0.8)
    assert outcome.label == "redirect_notice"
    ev = outcome.evidence
    assert (ev["from"], ev["to"], ev["hops"]) == ("http://24.kg/obschestvo/1234/", hops[-1][1],
                                                   [{"status": 302, "location": hops[-1][1]}])
    assert any("another host" in why for why in ev["why"]) and any("notice address" in why for why in ev["why"])
    names = {m["name"] for m in ev["fingerprints"]}
    assert {"ooni.kg_0", "builtin.kg_blockpage_location", "builtin.kg_blockpage_text"} <= names


def test_redirect_reasons_each_alone(fingerprints):
    # Rostelecom's warning page on its own host.
    rt = classify(obs(200, "<p>Уважаемый абонент!</p>", final="http://warning.rt.ru/?id=1",
                      redirects=[(307, "http://warning.rt.ru/?id=1")]), fingerprints, None, 0.8)
    assert rt.label == "redirect_notice" and "builtin.ru_rostelecom_warning" in str(rt.evidence["fingerprints"])
    # Same host, from the article to the home page.
    home = classify(obs(200, "<p>Главная</p>", text="Главная", final="https://kloop.kg/",
                        redirects=[(301, "https://kloop.kg/")]), fingerprints, NEWS, 0.8)
    assert home.label == "redirect_notice" and home.evidence["why"] == [
        "redirected from an article to the site's home page"]
    # Same host, a page that is a blockpage after the redirect.
    same = classify(obs(200, RKN_PAGE, final="https://kloop.kg/stop", redirects=[(302, "https://kloop.kg/stop")]),
                    fingerprints, None, 0.8)
    assert same.label == "redirect_notice"
    assert same.evidence["why"] == ["the page redirected to matches a blockpage fingerprint"]
    # A script moving the browser (no HTTP hop) to a notice path.
    script = classify(obs(200, "<p>blocked</p>", final="https://kloop.kg/blocked?u=1"), fingerprints, None, 0.8)
    assert script.label == "redirect_notice" and script.evidence["hops"] == []


def test_an_upgrade_to_https_is_no_redirect_notice(fingerprints):
    outcome = classify(obs(200, "<p>article</p>", NEWS, url=ARTICLE.replace("https", "http"), final=ARTICLE,
                           redirects=[(307, ARTICLE)]), fingerprints, NEWS, 0.8)
    assert outcome.label == "ok"


def test_blockpage_served_in_place(fingerprints):
    outcome = classify(obs(200, RKN_PAGE, "Доступ ограничен"), fingerprints, NEWS, 0.8)
    assert outcome.label == "blockpage"
    found = {m["name"]: m for m in outcome.evidence["fingerprints"]}
    assert found["builtin.ru_rkn_149fz"]["scope"] == "nat" and found["builtin.ru_rkn_149fz"]["countries"] == ["RU"]
    assert "builtin.ru_rkn_registry" not in found  # a vague word is not evidence of a blockpage
    assert outcome.evidence["laws"] == ["Federal Law 149-FZ (RU)"]
    header = classify(obs(403, "<html>denied</html>", headers=[("Server", "Protected by WireFilter 8")]),
                      fingerprints, None, 0.8)
    assert header.label == "blockpage" and header.evidence["fingerprints"][0]["name"] == "ooni.ae_0"


def test_vague_words_and_known_false_positives_leave_a_page_ok(fingerprints):
    body = ("<html><head><meta name='twitter:card' content='summary'></head><body><p>Сайт внесли в Единый реестр "
            "запрещённой информации, сообщает eais.rkn.gov.ru.</p></body></html>")
    outcome = classify(obs(200, body, NEWS), fingerprints, NEWS, 0.8)
    assert outcome.label == "ok"
    scopes = {m["scope"] for m in outcome.evidence["weak_fingerprints"]}
    assert scopes == {"vbw", "fp"}


def test_not_found_and_errors(fingerprints):
    assert classify(obs(404, "<h1>Not Found</h1>"), fingerprints, NEWS, 0.8).label == "not_found"
    assert classify(obs(410, "<h1>Gone</h1>"), fingerprints, NEWS, 0.8).evidence == {"status": 410}
    server = classify(obs(503, "<h1>Service Unavailable</h1>"), fingerprints, NEWS, 0.8)
    assert server.label == "error" and server.evidence["why"] == "HTTP 503: server error"
    client = classify(obs(403, "<h1>Forbidden</h1>"), fingerprints, NEWS, 0.8)
    assert client.label == "error" and client.evidence["why"] == "HTTP 403: client error"


def test_changed_when_most_of_the_text_was_rewritten(fingerprints):
    sentences = NEWS.split(". ")
    rewritten = ". ".join(s if i % 5 < 2 else f"Материал отредактирован по требованию номер {i} и сокращён"
                          for i, s in enumerate(sentences))
    outcome = classify(obs(200, "<p>x</p>", rewritten), fingerprints, NEWS, 0.8)
    assert outcome.label == "changed"
    ev = outcome.evidence
    assert ev["similarity"] < 0.6 and ev["threshold"] == 0.8
    assert ev["removed_chars"] > 0 and ev["added_chars"] > 0
    assert ev["diff"][0][0] in ("removed", "added") and not ev["diff_truncated"]
    dated = "Обновлено 13 марта 2024\n" + NEWS
    assert classify(obs(200, "<p>x</p>", dated), fingerprints, "Обновлено 12 марта 2024\n" + NEWS, 0.8).label == "ok"
    assert classify(obs(200, "<p>x</p>", rewritten), fingerprints, None, 0.8).label == "ok"  # nothing to compare


def test_changed_diff_is_bounded(fingerprints):
    before = "\n".join(f"Абзац {i}: " + "старый текст " * 40 for i in range(200))
    after = "\n".join(f"Paragraph {i}: " + "new words here " * 40 for i in range(200))
    outcome = classify(obs(200, "<p>x</p>", after), fingerprints, before, 0.8)
    assert outcome.label == "changed" and outcome.evidence["diff_truncated"]
    assert sum(len(text) for _, text in outcome.evidence["diff"]) <= 20_000


def test_threshold_must_be_a_fraction(fingerprints):
    with pytest.raises(ValueError, match="change_threshold must be from 0 to 1"):
        classify(obs(200), fingerprints, NEWS, 80)


def test_similarity_and_diff_lines():
    assert similarity(NEWS, NEWS) == 1.0
    assert similarity("", "") == 1.0 and similarity(NEWS, "") == 0.0
    trivial = NEWS.replace("четыре часа", "пять часов")
    assert similarity(NEWS, trivial) > 0.9
    assert diff_lines("a\nb\nc", "a\nB\nc\nd") == [("equal", "a"), ("removed", "b"), ("added", "B"),
                                                   ("equal", "c"), ("added", "d")]


# ---- observe() on real captures ------------------------------------------------------------------


def _chunked_gzip_cp1251(handler, status: int, html: str, headers: dict) -> None:
    """A response as many servers send it: gzip-compressed, chunked, in windows-1251."""
    data = gzip.compress(html.encode("cp1251"))
    handler.send_response(status)
    for key, value in {"Content-Type": "text/html; charset=windows-1251", "Content-Encoding": "gzip",
                       "Transfer-Encoding": "chunked", **headers}.items():
        handler.send_header(key, value)
    handler.end_headers()
    for i in range(0, len(data), 100):
        piece = data[i:i + 100]
        handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    handler.wfile.write(b"0\r\n\r\n")


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """Real Chromium captures through the recording proxy of a blocked article and a 451 notice."""
    with FixtureSite(DATA / "site") as site:
        site.routes["/obschestvo/1234/"] = lambda h: send(
            h, 302, b"", headers={"Location": "http://homeline.kg/access/blockpage.html"})
        site.routes["/access/blockpage.html"] = lambda h: _chunked_gzip_cp1251(h, 200, KG_PAGE, {})
        site.routes["/legal"] = lambda h: _chunked_gzip_cp1251(h, 451, RKN_PAGE.replace("utf-8", "windows-1251"), {
            "Link": '<https://eais.rkn.gov.ru/>; rel="blocked-by"'})
        rules = ", ".join(site.rule(host) for host in ("news.example.com", "24.kg", "homeline.kg"))
        settings = Settings.from_env(dict(os.environ, ARCHIVE_HOME=str(tmp_path_factory.mktemp("home")),
                                          CAPTURE_ALLOW_NETWORKS="127.0.0.1/32", CAPTURE_HOST_RULES=rules,
                                          CAPTURE_SETTLE_TIMEOUT="2", CAPTURE_TIMEOUT="30"))

        async def run():
            async with Capturer(CaptureOptions.from_settings(settings)) as capturer:
                return {url: await capturer.capture(url) for url in (
                    "http://24.kg/obschestvo/1234/", "http://news.example.com/legal", "http://news.example.com/")}

        yield asyncio.run(run())


def test_observe_follows_the_redirect_and_decodes_the_blockpage(captures, fingerprints):
    result = captures["http://24.kg/obschestvo/1234/"]
    observation = observe(result, extract(result.dom, result.final_url).text)
    assert observation.status == 200
    assert observation.redirects == [(302, "http://homeline.kg/access/blockpage.html")]
    assert observation.final_url == "http://homeline.kg/access/blockpage.html"
    assert "Доступ к данному ресурсу ограничен" in observation.body_text  # un-chunked, gunzipped, from cp1251
    outcome = classify(observation, fingerprints, None, 0.8)
    assert outcome.label == "redirect_notice"
    assert "ooni.kg_0" in {m["name"] for m in outcome.evidence["fingerprints"]}


def test_observe_a_451_with_its_link_header(captures, fingerprints):
    result = captures["http://news.example.com/legal"]
    observation = observe(result, extract(result.dom, result.final_url).text)
    assert observation.status == 451 and observation.redirects == []
    assert ("Link", '<https://eais.rkn.gov.ru/>; rel="blocked-by"') in observation.headers
    outcome = classify(observation, fingerprints, None, 0.8)
    assert outcome.label == "legal" and outcome.evidence["blocked_by"] == ["https://eais.rkn.gov.ru/"]
    assert outcome.evidence["laws"] == ["Federal Law 149-FZ (RU)"]


def test_observe_an_ordinary_page_is_ok_and_leaves_the_body_readable(captures, fingerprints):
    result = captures["http://news.example.com/"]
    text = extract(result.dom, result.final_url).text
    outcome = classify(observe(result, text), fingerprints, text, 0.8)
    assert outcome.label == "ok" and outcome.evidence["status"] == 200
    assert result.main.body.read(15).lower().startswith(b"<!doctype html")  # the WARC writer still reads it whole
