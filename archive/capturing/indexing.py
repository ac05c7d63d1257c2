"""What the search index holds for a capture, built from the catalog.

Besides the page's text, a capture's index entry carries what the catalog
knows about it: its outcome, whether its text has since been removed (an
open removal event names it as "before"), and the countries and authorities
connected to its URL: the vantage's country and those of published takedown
orders targeting the URL. These change after the capture is stored (a later
capture opens an event, an order is entered or published), so reindex_url
rebuilds every entry of a URL from the catalog and its WARC text records.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

from archive.catalog import from_iso, get_records
from archive.removals.events import CountryOf, open_event_before_ids
from archive.urlcheck import url_variants
from archive.warc.store import read_payload
from crawler.netpolicy import site_host
from search import IndexDoc, SearchBackend


def domain_of(url: str) -> str:
    """The site the URL is on (``crawler.netpolicy.site_host``): what the search index files it under."""
    return site_host(urlsplit(url).hostname)


def orders_for(db: sqlite3.Connection, url: str) -> list[sqlite3.Row]:
    """(id, country, authority, register) of the published takedown orders naming ``url``, oldest first."""
    return db.execute(
        "SELECT t.id, t.country, t.authority, t.register FROM takedowns t JOIN takedown_urls u ON u.takedown_id = t.id"
        " WHERE u.url IN (?, ?) AND t.published = 1 ORDER BY t.id", url_variants(url)).fetchall()


def index_doc(db: sqlite3.Connection, capture: sqlite3.Row | dict, text: str,
              country_of: CountryOf | None = None, removed_ids: set[int] | None = None,
              orders: list[sqlite3.Row] | None = None) -> IndexDoc:
    """The index entry of catalog row ``capture`` with its extracted ``text``.

    ``removed_ids`` and ``orders`` (from open_event_before_ids and orders_for) may be passed
    when indexing many captures of one URL, so they are read once."""
    url = capture["url"]
    if removed_ids is None:
        removed_ids = open_event_before_ids(db, url)
    if orders is None:
        orders = orders_for(db, url)
    # The country kept with the capture; today's settings only for a row that has none.
    vantage_country = capture["vantage_country"] if "vantage_country" in capture.keys() else None
    if vantage_country is None and country_of:
        vantage_country = country_of(capture["vantage"])
    countries = _unique([vantage_country, *(o["country"] for o in orders)])
    return IndexDoc(
        id=str(capture["id"]), url=url, domain=domain_of(capture["final_url"] or url),
        title=capture["title"] or "", text=text, lang=capture["lang"] or "",
        captured_at=from_iso(capture["captured_at"]), status=capture["status"] or 0,
        removed=capture["id"] in removed_ids, outcome=capture["outcome"] or "",
        countries=tuple(c.upper() for c in countries),
        authorities=tuple(_unique([o["authority"] for o in orders])),
        orders=tuple(str(o["id"]) for o in orders),
        registers=tuple(_unique([*(o["register"] for o in orders), "ooni" if _measured(db, url) else None])))


def _measured(db: sqlite3.Connection, url: str) -> bool:
    """Did an imported measurement (OONI) find ``url`` blocked?"""
    return db.execute("SELECT 1 FROM blocking_measurements WHERE url IN (?, ?) LIMIT 1",
                      url_variants(url)).fetchone() is not None


def reindex_url(db: sqlite3.Connection, backend: SearchBackend, warc_dir: Path, url: str,
                country_of: CountryOf | None = None) -> int:
    """Rebuild the index entries of every indexed capture of ``url`` (removed flags, countries,
    authorities); return how many. Text comes from each capture's WARC text record."""
    removed_ids = open_event_before_ids(db, url)
    orders = orders_for(db, url)
    docs = []
    for row in db.execute("SELECT * FROM captures WHERE url IN (?, ?) AND indexed = 1", url_variants(url)).fetchall():
        refs = get_records(db, row["id"], role="text")
        if not refs:
            continue
        text = read_payload(warc_dir, refs[0]).decode("utf-8", errors="replace")
        docs.append(index_doc(db, row, text, country_of, removed_ids, orders))
    return backend.add(docs) if docs else 0


def _unique(values: list[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value:
            seen[value] = None
    return list(seen)
