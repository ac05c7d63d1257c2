"""Takedown orders: checking, storing the document as a WARC record, watching URLs, the audit log."""
from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive import catalog
from archive.orders.documents import safe_filename, sniff
from archive.orders.takedowns import (
    InvalidTakedown,
    create_takedown,
    get_takedown,
    list_takedowns,
    read_document,
    update_takedown,
)
from archive.staff import audit
from archive.staff.users import create_user
from archive.warc.store import WarcStoreError, hex_digest

from .conftest import warcio_check
from .webapp import make_settings, tiny_png

MAX_DOC = 5000
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 40
GOOD = {
    "authority": "Ministry of Culture of the Kyrgyz Republic",
    "recipient": "Kloop Media",
    "country": "kg",
    "legal_basis": "Law on Mass Media, art. 23",
    "issued_on": "2024-04-10",
    "received_on": "2024-04-12",
    "effective_on": "2024-04-15",
    "action_demanded": "remove",
    "action_reported": "refused",
    "summary": "Demands removal of an article about the TikTok ban.",
    "urls": ["https://KLOOP.kg/blog/2024/04/18/tiktok/#comments", "http://www.kloop.kg/other"],
}


@pytest.fixture
def settings(tmp_path: Path, database_url: str):  # the catalog conformance suite: SQLite and PostgreSQL
    return make_settings(tmp_path / "home", takedown_max_document_bytes=str(MAX_DOC), database_url=database_url)


@pytest.fixture
def db(settings):
    conn = catalog.connect(settings.catalog_location)
    yield conn
    conn.close()


@pytest.fixture
def staff(db) -> int:
    return create_user(db, "editor", "a long enough password")


def warc_state(warc_dir: Path) -> dict[str, tuple[int, int]]:
    """Each WARC file's size and its number of records, read back with warcio."""
    state = {}
    for path in sorted(warc_dir.glob("*.warc.gz*")):
        with open(path, "rb") as fh:
            state[path.name] = (path.stat().st_size, sum(1 for _ in ArchiveIterator(fh)))
    return state


TABLES = ("takedowns", "takedown_urls", "watches", "audit_log")


def snapshot(db, settings) -> tuple:
    """Row counts of everything an order writes, and the WARC files' sizes and record counts."""
    return ({t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES},
            warc_state(settings.warc_dir))


def warc_record(settings, row) -> tuple:
    """The takedown's document record as warcio reads it from its file: (record, payload)."""
    with open(settings.warc_dir / row["document_warc_file"], "rb") as fh:
        it = ArchiveIterator(fh)
        for record in it:
            if record.rec_headers.get_header("WARC-Record-ID") == row["document_record_id"]:
                payload = record.content_stream().read()
                assert it.get_record_offset() == row["document_offset"]
                return record, payload
    raise AssertionError("document record not found")


def test_good_order_stores_document_as_resource_record(db, settings, staff):
    takedown_id = create_takedown(db, settings, GOOD, ("Предписание №17.PDF", PDF), staff)
    row = get_takedown(db, takedown_id)
    assert row["country"] == "KG" and row["published"] == 0
    assert row["urls"] == ["https://kloop.kg/blog/2024/04/18/tiktok/", "http://www.kloop.kg/other"]
    assert (row["issued_on"], row["received_on"], row["effective_on"]) == ("2024-04-10", "2024-04-12", "2024-04-15")
    record, payload = warc_record(settings, row)
    h = record.rec_headers
    assert record.rec_type == "resource"
    assert h.get_header("WARC-Target-URI").startswith(f"urn:takedown:{takedown_id}/")
    assert h.get_header("Content-Type") == "application/pdf"
    assert payload == PDF
    digest = hashlib.sha256(PDF).hexdigest()
    assert hex_digest(h.get_header("WARC-Payload-Digest")) == digest == row["document_sha256"]
    assert h.get_header("WARC-Block-Digest").startswith("sha256:")
    assert row["document_name"] == "Предписание _17.pdf"
    assert read_document(settings, row) == PDF
    # Its WARC file is finished (not .open) and whole by warcio's own check.
    assert row["document_warc_file"].endswith(".warc.gz")
    warcio_check([settings.warc_dir / row["document_warc_file"]])


def test_targeted_urls_are_watched(db, settings, staff):
    takedown_id = create_takedown(db, settings, GOOD, None, staff)
    watches = db.execute("SELECT url, vantage, every_seconds, source, active FROM watches ORDER BY url").fetchall()
    assert [tuple(w) for w in watches] == [
        ("http://www.kloop.kg/other", "direct", settings.watch_every, f"takedown:{takedown_id}", 1),
        ("https://kloop.kg/blog/2024/04/18/tiktok/", "direct", settings.watch_every, f"takedown:{takedown_id}", 1)]


def future() -> str:
    return (datetime.now(UTC).date() + timedelta(days=30)).isoformat()


# Each bad input: what to change in GOOD, the document, the field that must be named, words of its message.
BAD = [
    ("unknown country", {"country": "XX"}, None, "country", "'XX' is not an ISO 3166-1 alpha-2"),
    ("three-letter country", {"country": "KGZ"}, None, "country", "ISO 3166-1 alpha-2"),
    ("future date", {"issued_on": future(), "received_on": future(), "effective_on": future()}, None,
     "issued_on", "in the future"),
    ("not a date", {"received_on": "12.04.2024"}, None, "received_on", "use YYYY-MM-DD"),
    ("received before issued", {"issued_on": "2024-05-03", "received_on": "2024-05-01"}, None, "received_on",
     "issued_on 2024-05-03 is after received_on 2024-05-01"),
    ("effective before issued", {"issued_on": "2024-05-03", "effective_on": "2024-05-02"}, None, "effective_on",
     "issued_on 2024-05-03 is after effective_on 2024-05-02"),
    ("ftp URL", {"urls": ["https://kloop.kg/a", "ftp://kloop.kg/archive.zip"]}, None, "urls",
     "'ftp://kloop.kg/archive.zip': only http and https"),
    ("javascript URL", {"urls": ["javascript:alert(1)"]}, None, "urls", "'javascript:alert(1)'"),
    ("no URLs", {"urls": []}, None, "urls", "at least one URL"),
    # Every targeted URL is watched, so it passes the check every watch and submission passes.
    ("private address", {"urls": ["https://kloop.kg/a", "http://10.0.0.1/"]}, None, "urls",
     "'http://10.0.0.1/': 10.0.0.1 is a private address"),
    ("cloud metadata", {"urls": ["http://169.254.169.254/latest/meta-data/"]}, None, "urls",
     "169.254.169.254 is a link-local address"),
    ("IPv6 loopback", {"urls": ["http://[::1]/admin"]}, None, "urls", "'http://[::1]/admin': ::1 is a loopback"),
    ("localhost port", {"urls": ["http://localhost:22/"]}, None, "urls",
     "'http://localhost:22/': localhost resolves to a loopback address"),
    ("host mapped to a private address", {"urls": ["https://intranet.kloop.kg/"]}, None, "urls",
     "intranet.kloop.kg resolves to a private address (10.1.2.3)"),
    ("no recipient", {"recipient": "  "}, None, "recipient", "required: give who the order was sent to"),
    ("long recipient", {"recipient": "x" * 201}, None, "recipient", "200"),
    ("unknown action", {"action_demanded": "delete"}, None, "action_demanded", "remove, block, geo-block"),
    ("unknown reported action", {"action_reported": "ignored"}, None, "action_reported", "no-response"),
    ("oversized document", {}, ("order.pdf", PDF + b"\0" * MAX_DOC), "document", f"the limit is {MAX_DOC} bytes"),
    ("zip document", {}, ("order.pdf", ZIP), "document", "not a PDF, image or HTML"),
    ("exe document", {}, ("order.png", EXE), "document", "not a PDF, image or HTML"),
    ("empty document", {}, ("order.pdf", b""), "document", "empty"),
    ("unknown field", {"approved_by": "someone"}, None, "approved_by", "Unknown field"),
]


@pytest.mark.parametrize("change, document, field, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_nothing_stored(db, settings, staff, change, document, field, words):
    # An earlier good order leaves a WARC file whose size and records must not change.
    create_takedown(db, settings, GOOD, ("order.pdf", PDF), staff)
    before = snapshot(db, settings)
    assert sum(count for _, count in before[1].values()) == 2  # warcinfo + the document
    with pytest.raises(InvalidTakedown) as caught:
        create_takedown(db, settings, GOOD | change, document, staff)
    assert field in caught.value.fields, caught.value.fields
    assert words in " ".join(caught.value.fields[field]), caught.value.fields
    assert f"{field}: {' '.join(caught.value.fields[field])}" in str(caught.value)  # the field named, its reasons whole
    assert snapshot(db, settings) == before


def test_all_problems_are_reported_at_once(db, settings, staff):
    before = snapshot(db, settings)
    with pytest.raises(InvalidTakedown) as caught:
        create_takedown(db, settings, GOOD | {"country": "XX", "issued_on": "2024-05-03", "received_on": "2024-05-01"},
                        ("order.zip", ZIP), staff)
    # GOOD's effective_on (2024-04-15) is now before issued_on too.
    assert set(caught.value.fields) == {"country", "received_on", "effective_on", "document"}
    assert snapshot(db, settings) == before


def test_today_is_not_the_future(db, settings, staff):
    today = datetime.now(UTC).date().isoformat()
    takedown_id = create_takedown(db, settings, GOOD | {"issued_on": today, "received_on": today,
                                                        "effective_on": today}, None, staff)
    assert get_takedown(db, takedown_id)["issued_on"] == today


def test_update_replaces_document_keeps_old_record_and_logs(db, settings, staff):
    takedown_id = create_takedown(db, settings, GOOD, ("order.pdf", PDF), staff)
    first = get_takedown(db, takedown_id)
    png = tiny_png()
    update_takedown(db, settings, takedown_id, GOOD | {"action_reported": "removed", "published": True},
                    ("scan.jpg", png), staff)
    row = get_takedown(db, takedown_id)
    assert (row["action_reported"], row["published"], row["document_type"]) == ("removed", 1, "image/png")
    assert row["document_name"] == "scan.png"  # named for what it is, not what it claimed
    assert read_document(settings, row) == png
    assert warc_record(settings, first)[1] == PDF  # the earlier document is still archived
    log = audit.list_entries(db, target=f"takedown:{takedown_id}")
    assert [e["action"] for e in log] == ["takedown.publish", "takedown.update", "takedown.create"]
    assert all(e["user_id"] == staff and e["username"] == "editor" for e in log)
    assert log[1]["detail"]["changed"] == ["action_reported", "published", "document"]
    assert log[1]["detail"]["document_sha256"] == hashlib.sha256(png).hexdigest()
    assert log[2]["detail"]["document_sha256"] == hashlib.sha256(PDF).hexdigest()


def test_bad_update_changes_nothing(db, settings, staff):
    takedown_id = create_takedown(db, settings, GOOD, ("order.pdf", PDF), staff)
    before_row, before_warcs = get_takedown(db, takedown_id), warc_state(settings.warc_dir)
    with pytest.raises(InvalidTakedown):
        update_takedown(db, settings, takedown_id, GOOD | {"urls": ["file:///etc/passwd"]}, ("x.pdf", EXE), staff)
    assert get_takedown(db, takedown_id) == before_row
    assert warc_state(settings.warc_dir) == before_warcs
    assert len(audit.list_entries(db)) == 1
    with pytest.raises(LookupError):
        update_takedown(db, settings, takedown_id + 1, GOOD, None, staff)


def test_read_document_checks_the_digest(db, settings, staff):
    takedown_id = create_takedown(db, settings, GOOD, ("order.pdf", PDF), staff)
    db.execute("UPDATE takedowns SET document_sha256 = ? WHERE id = ?", ("0" * 64, takedown_id))
    with pytest.raises(WarcStoreError, match="SHA-256"):
        read_document(settings, get_takedown(db, takedown_id))


def test_public_lists_only_published(db, settings, staff):
    hidden = create_takedown(db, settings, GOOD, None, staff)
    shown = create_takedown(db, settings, GOOD | {"published": True, "country": "RU"}, None, staff)
    assert [t["id"] for t in list_takedowns(db)] == [shown]
    assert {t["id"] for t in list_takedowns(db, published_only=False)} == {hidden, shown}
    assert [t["id"] for t in list_takedowns(db, country="ru")] == [shown]
    assert get_takedown(db, hidden, published_only=True) is None


@pytest.mark.parametrize("data, kind", [
    (PDF, "application/pdf"),
    (tiny_png(), "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    (b"GIF89a\x01\x00\x01\x00", "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"\xef\xbb\xbf \r\n<!DOCTYPE HTML><title>x</title>", "text/html"),
    (b"\n<html><body>order</body></html>", "text/html"),
    (b"<script>alert(1)</script>", None),
    (b"plain text order", None),
    (ZIP, None),
    (EXE, None),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
])
def test_sniff_by_magic_bytes(data, kind):
    assert (sniff(data) or (None,))[0] == kind


def test_safe_filename():
    assert safe_filename("../../etc/passwd.exe", ".pdf") == "passwd.pdf"
    assert safe_filename("C:\\Users\\a\\order 5.PDF", ".pdf") == "order 5.pdf"
    assert safe_filename('"><img src=x>.html', ".html") == "img src_x.html"
    assert safe_filename(".htaccess", ".png") == "htaccess.png"
    assert safe_filename("", ".gif") == "document.gif"


def test_dates_are_checked_against_the_real_calendar(db, settings, staff):
    with pytest.raises(InvalidTakedown) as caught:
        create_takedown(db, settings, GOOD | {"issued_on": "2023-02-29"}, None, staff)
    assert "issued_on" in caught.value.fields
    assert date.fromisoformat(GOOD["issued_on"])  # the good one is a real date


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
                                 "http://localhost:22/"])
def test_an_order_refuses_what_a_watch_refuses_and_says_the_same(db, settings, staff, url):
    from archive.urlcheck import url_checker
    from crawler.netpolicy import URLRejected

    with pytest.raises(URLRejected) as watch_refusal:
        url_checker(settings)(url)
    with pytest.raises(InvalidTakedown) as order_refusal:
        create_takedown(db, settings, GOOD | {"urls": [url]}, None, staff)
    assert order_refusal.value.fields["urls"] == [f"{url!r}: {watch_refusal.value}"]
    assert db.execute("SELECT count(*) FROM watches").fetchone()[0] == 0


def test_an_edit_cannot_add_a_private_address(db, settings, staff):
    takedown_id = create_takedown(db, settings, GOOD, None, staff)
    before = snapshot(db, settings)
    with pytest.raises(InvalidTakedown, match="urls: 'http://10.0.0.1/': 10.0.0.1 is a private address"):
        update_takedown(db, settings, takedown_id, GOOD | {"urls": [*GOOD["urls"], "http://10.0.0.1/"]}, None, staff)
    assert snapshot(db, settings) == before
