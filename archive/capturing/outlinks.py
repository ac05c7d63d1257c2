"""Outlinks: after a page asked for with ``capture_outlinks`` is captured, queue its links.

Links are the http(s) ``<a href>`` targets of the captured DOM (what the reader's browser had,
scripts included), resolved against the final URL, put through the same checks as a submission
(form, address policy, the host's byte budget), deduplicated, and at most ``OUTLINKS_MAX`` of
them queued as child jobs of the page's job. Depth 1 only: a child never queues outlinks.
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from archive.capturing import jobs
from archive.capturing.budget import OverBudget, check_budget
from crawler.netpolicy import URLRejected

log = logging.getLogger("archive.outlinks")

# Links looked at per page, accepted or not: a page of a thousand links to private hosts must
# not cost a thousand DNS lookups.
CANDIDATES_PER_OUTLINK = 10


def extract_links(dom: str, base_url: str) -> Iterator[str]:
    """The absolute http(s) targets of ``<a href>`` in ``dom``, in document order, fragments dropped."""
    if not dom.strip():
        return
    try:
        tree = lxml.html.document_fromstring(dom)
    except (etree.ParserError, ValueError):
        return
    base = tree.xpath("string(//base/@href)").strip()
    base_url = urljoin(base_url, base) if base else base_url
    for href in tree.xpath("//a/@href"):
        href = href.strip()
        if not href:
            continue
        try:
            url = urljoin(base_url, href).split("#", 1)[0]
            scheme = urlsplit(url).scheme.lower()
        except ValueError:  # e.g. an invalid IPv6 host
            continue
        if scheme in ("http", "https"):
            yield url


def choose_outlinks(db: sqlite3.Connection, parent: dict, dom: str, base_url: str, check: Callable[[str], str],
                    most: int, host_daily_bytes: int) -> list[str]:
    """Up to ``most`` links of ``dom`` worth capturing for job ``parent``, normalized; writes nothing.

    ``check`` normalizes a URL or raises URLRejected (see ``archive.urlcheck.url_checker``); hosts
    already over today's byte budget are left out. Both are logged with the reason.
    """
    if most <= 0:
        return []
    seen = {parent["url"]}
    chosen: list[str] = []
    looked = 0
    for link in extract_links(dom, base_url):
        if len(chosen) >= most or looked >= most * CANDIDATES_PER_OUTLINK:
            break
        looked += 1
        try:
            url = check(link)
        except URLRejected as exc:
            log.info("outlink %s of job %s not queued: %s", link, parent["id"], exc)
            continue
        if url in seen:
            continue
        seen.add(url)
        try:
            check_budget(db, url, host_daily_bytes)
        except OverBudget as exc:
            log.info("outlink %s of job %s not queued: %s", url, parent["id"], exc)
            continue
        chosen.append(url)
    return chosen


def queue_children(db: sqlite3.Connection, parent: dict, urls: list[str]) -> list[int]:
    """Queue ``urls`` as child jobs of ``parent`` (same vantage and token); return their ids.

    The caller holds the transaction, so the children and the parent's ``done`` commit together.
    """
    return [jobs.enqueue(db, url, parent.get("vantage") or "direct", parent_job_id=parent["id"],
                         token_id=parent.get("token_id")) for url in urls]


__all__ = ["choose_outlinks", "extract_links", "queue_children"]
