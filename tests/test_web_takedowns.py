"""Takedown orders on the web, over real HTTP: staff forms, the public register, the document, the JSON."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import lxml.html
import pytest

from archive.settings import Settings
from archive.staff import audit
from archive.staff.users import create_user

from .test_takedowns import EXE, PDF, ZIP, warc_state
from .webapp import ArchiveBuilder, LiveServer, csrf_token, make_settings

PASSWORD = "correct horse battery staple"
MAX_DOC = 1_500_000  # above the app's 1 MB limit for other request bodies
URL = "https://kloop.kg/blog/2024/04/18/tiktok/"
FORM = {
    "authority": "Ministry of Culture of the Kyrgyz Republic",
    "recipient": "Kloop Media",
    "country": "KG",
    "legal_basis": "Law on Mass Media",
    "issued_on": "2024-04-10",
    "received_on": "2024-04-12",
    "effective_on": "",
    "action_demanded": "remove",
    "action_reported": "refused",
    "summary": "Remove the article.\n\nIt says the ban is unlawful.",
    "urls": URL + "\r\nhttps://kloop.kg/other\r\n",
}
HOSTILE_HTML = b"<!doctype html><html><script>fetch('/logout', {method: 'POST'})</script><p>order</p></html>"


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home", takedown_max_document_bytes=str(MAX_DOC))


@pytest.fixture
def staff(web_server: LiveServer, archive_builder: ArchiveBuilder) -> Iterator[int]:
    """The web server's session signed in as a staff account."""
    user_id = create_user(archive_builder.db, "editor", PASSWORD)
    r = web_server.post_form("/login", {"username": "editor", "password": PASSWORD})
    assert r.status_code == 303
    yield user_id


def submit(server: LiveServer, path: str, form: dict, document: tuple | None = None, token: bool = True):
    data = dict(form)
    if token:
        data["csrf_token"] = csrf_token(server.get(path).text)
    files = {"document": document} if document else None
    return server.post(path, data=data, files=files)


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def new_takedown(server: LiveServer, form: dict = FORM, document: tuple | None = ("order.pdf", PDF)) -> int:
    r = submit(server, "/takedowns/new", form, document)
    assert r.status_code == 303, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def test_staff_enter_an_order_and_download_its_document(web_server, archive_builder, staff):
    takedown_id = new_takedown(web_server, FORM | {"published": "on"})
    page = web_server.get(f"/takedowns/{takedown_id}")
    doc = lxml.html.fromstring(page.text)
    sha = hashlib.sha256(PDF).hexdigest()
    assert doc.get_element_by_id("document-sha256").text_content() == sha
    assert doc.get_element_by_id("country").text_content() == "Kyrgyzstan (KG)"
    assert [h.text_content() for h in doc.xpath("//div[@class='target']/h3")] == [URL, "https://kloop.kg/other"]
    r = web_server.get(doc.get_element_by_id("document-link").get("href"))
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == f'attachment; filename="takedown-{takedown_id}-order.pdf"'
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    watched = archive_builder.db.execute("SELECT url, source FROM watches ORDER BY id").fetchall()
    assert [tuple(w) for w in watched] == [(URL, f"takedown:{takedown_id}"), ("https://kloop.kg/other",
                                                                           f"takedown:{takedown_id}")]
    entry = audit.list_entries(archive_builder.db, target=f"takedown:{takedown_id}")[0]
    assert (entry["action"], entry["username"]) == ("takedown.create", "editor")
    assert entry["detail"]["document_sha256"] == sha


def test_document_named_in_russian_downloads_with_its_name(web_server, staff):
    takedown_id = new_takedown(web_server, FORM, ("Предписание №17.pdf", PDF))
    r = web_server.get(f"/takedowns/{takedown_id}/document")
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["Content-Disposition"] == (
        f"attachment; filename=\"takedown-{takedown_id}- _17.pdf\"; "
        f"filename*=UTF-8''{quote(f'takedown-{takedown_id}-Предписание _17.pdf')}")


def test_hostile_html_document_is_only_ever_an_attachment(web_server, staff):
    takedown_id = new_takedown(web_server, FORM | {"published": "on"}, ("order.html", HOSTILE_HTML))
    web_server.http.cookies.clear()  # the public too
    r = web_server.get(f"/takedowns/{takedown_id}/document")
    assert r.status_code == 200 and r.content == HOSTILE_HTML
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    page = web_server.get(f"/takedowns/{takedown_id}").text
    assert "fetch('/logout'" not in page


@pytest.mark.parametrize("change, document, field, words", [
    ({"country": "XX"}, None, "country", "'XX' is not an ISO 3166-1 alpha-2"),
    ({"issued_on": "2999-01-01"}, None, "issued_on", "in the future"),
    ({"issued_on": "2024-05-03", "received_on": "2024-05-01"}, None, "received_on",
     "issued_on 2024-05-03 is after received_on 2024-05-01"),
    ({"urls": "https://kloop.kg/a\nfile:///etc/passwd"}, None, "urls", "'file:///etc/passwd'"),
    ({"urls": "  \n "}, None, "urls", "at least one URL"),
    # The same URL check as a watch or a submission: these became watches failing every six hours.
    ({"urls": "https://kloop.kg/a\nhttp://10.0.0.1/"}, None, "urls", "'http://10.0.0.1/': 10.0.0.1 is a private"),
    ({"urls": "http://169.254.169.254/latest/meta-data/"}, None, "urls", "169.254.169.254 is a link-local address"),
    ({"urls": "http://[::1]/"}, None, "urls", "'http://[::1]/': ::1 is a loopback address"),
    ({"urls": "http://localhost:22/"}, None, "urls", "localhost resolves to a loopback address"),
    ({}, ("order.pdf", PDF + b"\0" * MAX_DOC), "document", f"the limit is {MAX_DOC} bytes"),
    ({}, ("order.pdf", ZIP), "document", "not a PDF, image or HTML"),
    ({}, ("setup.png", EXE), "document", "not a PDF, image or HTML"),
])
def test_bad_form_input_shows_the_form_again_and_stores_nothing(web_server, archive_builder, web_settings, staff,
                                                                  change, document, field, words):
    new_takedown(web_server)
    before = ({t: count(archive_builder.db, t) for t in ("takedowns", "takedown_urls", "watches", "audit_log")},
              warc_state(web_settings.warc_dir))
    r = submit(web_server, "/takedowns/new", FORM | change, document)
    assert r.status_code == 400
    doc = lxml.html.fromstring(r.text)
    assert words in doc.get_element_by_id(f"{field}-error").text_content()
    assert doc.get_element_by_id(field).get("aria-invalid") == "true"
    assert "Nothing was saved" in doc.get_element_by_id("form-errors").text_content()
    assert doc.get_element_by_id("authority").get("value") == FORM["authority"]  # what was typed is kept
    after = ({t: count(archive_builder.db, t) for t in ("takedowns", "takedown_urls", "watches", "audit_log")},
             warc_state(web_settings.warc_dir))
    assert after == before


def test_document_near_the_limit_is_taken_and_far_over_it_refused(web_server, archive_builder, staff):
    big = PDF + b"\0" * (MAX_DOC - len(PDF))
    takedown_id = new_takedown(web_server, FORM, ("big.pdf", big))
    assert web_server.get(f"/takedowns/{takedown_id}/document").content == big
    r = submit(web_server, "/takedowns/new", FORM, ("huge.pdf", PDF + b"\0" * (3 * MAX_DOC)))
    assert r.status_code == 413
    assert f"at most {MAX_DOC} bytes" in r.text
    assert count(archive_builder.db, "takedowns") == 1


def test_anonymous_visitors_cannot_enter_or_edit(web_server, archive_builder):
    user_id = create_user(archive_builder.db, "editor", PASSWORD)
    from archive.orders.takedowns import create_takedown

    takedown_id = create_takedown(archive_builder.db, web_server.settings, {
        "authority": "Ministry", "recipient": "Kloop", "country": "KG", "action_demanded": "remove",
        "urls": [URL], "published": True}, None, user_id)
    for path in ("/takedowns/new", f"/takedowns/{takedown_id}/edit"):
        r = web_server.get(path)
        assert r.status_code == 303 and r.headers["Location"].startswith("/login?next=")
    # With a valid form token (from the public submit page) but no account: still nothing.
    token = csrf_token(web_server.get("/submit").text)
    for path in ("/takedowns/new", f"/takedowns/{takedown_id}/edit", f"/takedowns/{takedown_id}/publish"):
        r = web_server.post(path, data=FORM | {"csrf_token": token, "published": "0"},
                            files={"document": ("order.pdf", PDF)})
        assert r.status_code == 303 and r.headers["Location"].startswith("/login?next="), path
    assert count(archive_builder.db, "takedowns") == 1
    row = archive_builder.db.execute("SELECT published, authority FROM takedowns").fetchone()
    assert tuple(row) == (1, "Ministry")
    assert [e["action"] for e in audit.list_entries(archive_builder.db)] == ["takedown.create"]


def test_staff_post_without_token_is_refused(web_server, archive_builder, staff):
    r = submit(web_server, "/takedowns/new", FORM, ("order.pdf", PDF), token=False)
    assert r.status_code == 400
    assert count(archive_builder.db, "takedowns") == 0


def test_unpublished_orders_are_hidden_from_the_public(web_server, archive_builder, staff):
    takedown_id = new_takedown(web_server)
    assert web_server.get(f"/takedowns/{takedown_id}").status_code == 200  # staff see drafts
    assert f"/takedowns/{takedown_id}" in web_server.get("/takedowns").text
    cookies = web_server.http.cookies.copy()
    web_server.http.cookies.clear()
    hidden = (f"/takedowns/{takedown_id}", f"/takedowns/{takedown_id}/document", f"/api/takedowns/{takedown_id}")
    for path in hidden:
        assert web_server.get(path).status_code == 404, path
    assert f"/takedowns/{takedown_id}" not in web_server.get("/takedowns").text
    assert web_server.get("/api/takedowns").json()["takedowns"] == []
    # Staff publish it; then everyone sees it.
    web_server.http.cookies.update(cookies)
    page = web_server.get(f"/takedowns/{takedown_id}").text
    r = web_server.post(f"/takedowns/{takedown_id}/publish", data={"published": "1", "csrf_token": csrf_token(page)})
    assert r.status_code == 303
    web_server.http.cookies.clear()
    for path in hidden:
        assert web_server.get(path).status_code == 200, path
    assert [t["id"] for t in web_server.get("/api/takedowns").json()["takedowns"]] == [takedown_id]
    actions = [e["action"] for e in audit.list_entries(archive_builder.db, target=f"takedown:{takedown_id}")]
    assert actions == ["takedown.publish", "takedown.create"]


def test_edit_form_is_prefilled_and_saves(web_server, archive_builder, staff):
    takedown_id = new_takedown(web_server)
    form = lxml.html.fromstring(web_server.get(f"/takedowns/{takedown_id}/edit").text)
    assert form.get_element_by_id("authority").get("value") == FORM["authority"]
    assert form.get_element_by_id("urls").text_content() == f"{URL}\nhttps://kloop.kg/other"
    assert form.xpath("//select[@id='action_reported']/option[@selected]/@value") == ["refused"]
    r = submit(web_server, f"/takedowns/{takedown_id}/edit", FORM | {"action_reported": "removed", "urls": URL})
    assert r.status_code == 303
    page = lxml.html.fromstring(web_server.get(f"/takedowns/{takedown_id}").text)
    assert page.get_element_by_id("action-reported").text_content() == "removed"
    assert page.get_element_by_id("document-sha256").text_content() == hashlib.sha256(PDF).hexdigest()  # kept
    entry = audit.list_entries(archive_builder.db, target=f"takedown:{takedown_id}")[0]
    assert (entry["action"], entry["detail"]["changed"]) == ("takedown.update", ["action_reported", "urls"])
    bad = submit(web_server, f"/takedowns/{takedown_id}/edit", FORM | {"country": "ZZ"})
    assert bad.status_code == 400 and "ZZ" in lxml.html.fromstring(bad.text).get_element_by_id("country-error").text


def test_order_page_sets_claims_beside_captures(web_server, archive_builder, staff):
    takedown_id = new_takedown(web_server, FORM | {"published": "on"})
    db = archive_builder.db
    before = archive_builder.add(URL, "TikTok ban", ["The ban is unlawful."])
    from datetime import timedelta

    from .webapp import CAPTURED_AT

    after = archive_builder.add(URL, "Not found", ["Page not found"], status=404,
                                captured_at=CAPTURED_AT + timedelta(days=2))
    db.execute("UPDATE captures SET outcome = 'ok' WHERE id = ?", (before,))
    db.execute("UPDATE captures SET outcome = 'not_found' WHERE id = ?", (after,))
    event_id = db.execute(
        "INSERT INTO removal_events (url, vantage, country, outcome, scope, before_capture_id, after_capture_id,"
        " last_ok_at, first_removed_at) VALUES (?, 'direct', NULL, 'not_found', 'source', ?, ?, ?, ?)",
        (URL, before, after, "2024-04-18T09:30:15.000000Z", "2024-04-20T09:30:15.000000Z")).lastrowid
    web_server.http.cookies.clear()
    doc = lxml.html.fromstring(web_server.get(f"/takedowns/{takedown_id}").text)
    first, second = doc.xpath("//div[@class='target']")
    assert first.xpath(".//strong[@class='outcome']")[0].text_content() == "not_found"
    assert first.xpath(".//a/@href")[0] == f"/capture/{after}"
    row = first.xpath(".//table//tr")[1]
    assert row.xpath(".//a/@href") == [f"/removals/{event_id}", f"/capture/{before}", f"/capture/{after}"]
    assert "open" in row.text_content() and "source" in row.text_content()
    assert "Not captured yet" in second.text_content()
    api = web_server.get(f"/api/takedowns/{takedown_id}").json()
    assert api["document"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert api["urls"] == [URL, "https://kloop.kg/other"]
    evidence = {e["url"]: e for e in api["evidence"]}
    assert evidence[URL]["latest"]["outcome"] == "not_found"
    assert [(e["id"], e["before_capture_id"], e["after_capture_id"]) for e in evidence[URL]["removals"]] == [
        (event_id, before, after)]
    assert web_server.get(api["document"]["link"]).content == PDF
    assert web_server.get(api["links"]["page"]).status_code == 200
    assert web_server.get("/api/takedowns/999").json()["error"]
