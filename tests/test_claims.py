"""archive/orders/claims.py: an order's reported action against the captures since its date.

The browser-level cases (contradicted, confirmed at source, blocked in one country) are in
test_order_evidence.py; these are the other verdicts, on a real catalog.
"""
from __future__ import annotations

import pytest

from archive import catalog
from archive.orders.claims import check_claim

URL = "https://kloop.kg/blog/2026/12/01/article/"


@pytest.fixture
def db(catalog_location):  # the catalog conformance suite: SQLite and PostgreSQL
    return catalog.connect(catalog_location)


def add(db, when: str, outcome: str, vantage: str = "direct", country: str | None = None, url: str = URL,
        visibility: str = "public") -> int:
    capture_id = catalog.add_capture(db, {"url": url, "final_url": url, "captured_at": when, "ended_at": when,
                                          "vantage": vantage, "vantage_country": country, "outcome": outcome,
                                          "status": 200 if outcome == "ok" else None}, [])
    db.execute("UPDATE captures SET visibility = ? WHERE id = ?", (visibility, capture_id))
    return capture_id


def order(action: str, **dates: str) -> dict:
    return {"action_reported": action, "country": "KG", "urls": [URL], **dates}


def test_nothing_captured_since_the_order_is_unchecked(db):
    add(db, "2026-12-01T10:00:00.000000Z", "ok")  # before the order: does not count
    got = check_claim(db, order("removed", effective_on="2026-12-04"), URL)
    assert (got.verdict, got.seen, got.summary) == ("unchecked", "not-seen",
                                                    "reported removed on 4 Dec 2026; not captured since")


def test_a_geo_block_seen_only_from_outside_is_unchecked(db):
    seen = add(db, "2026-12-05T10:00:00.000000Z", "ok")
    got = check_claim(db, order("geo-blocked", received_on="2026-12-04"), URL)
    assert (got.verdict, got.capture_id) == ("unchecked", seen)
    assert got.summary == ("reported geo-blocked on 4 Dec 2026; served on 5 Dec 2026 from direct; "
                           "not captured from a vantage in KG")


def test_a_refusal_is_borne_out_while_the_page_is_served(db):
    add(db, "2026-12-05T10:00:00.000000Z", "ok", vantage="kg-bishkek", country="KG")
    got = check_claim(db, order("refused", issued_on="2026-12-04"), URL)
    assert (got.verdict, got.summary) == ("confirmed", "reported refused on 4 Dec 2026; still served on "
                                                       "5 Dec 2026 from kg-bishkek (KG)")


def test_no_claim_still_says_what_was_seen(db):
    add(db, "2026-12-05T10:00:00.000000Z", "ok")
    first = add(db, "2026-12-06T10:00:00.000000Z", "not_found")
    add(db, "2026-12-07T10:00:00.000000Z", "legal")
    got = check_claim(db, order("unknown", issued_on="2026-12-04"), URL)
    assert (got.verdict, got.seen, got.capture_id) == ("no-claim", "removed-at-source", first)
    assert got.summary == "no action reported; removed at source on 6 Dec 2026"


def test_a_claimed_removal_only_blocked_in_the_country_is_partly_true(db):
    add(db, "2026-12-05T10:00:00.000000Z", "ok")
    add(db, "2026-12-05T11:00:00.000000Z", "unreachable", vantage="kg-bishkek", country="KG")
    got = check_claim(db, order("removed", effective_on="2026-12-04"), URL)
    assert (got.verdict, got.summary) == ("partly", "reported removed on 4 Dec 2026; blocked in KG only")


def test_hidden_captures_and_the_other_scheme(db):
    # The http form of the URL counts; a capture staff made private does not.
    add(db, "2026-12-05T10:00:00.000000Z", "ok", url=URL.replace("https://", "http://"))
    add(db, "2026-12-06T10:00:00.000000Z", "not_found", visibility="private")
    got = check_claim(db, order("removed", effective_on="2026-12-04"), URL)
    assert (got.verdict, got.summary) == ("contradicted",
                                          "reported removed on 4 Dec 2026; still served on 5 Dec 2026 from direct")
