"""Lumen database notices (court orders, government requests, DMCA) as takedown orders.

A notice is ``GET /notices/<id>.json``: ``{"<type>": {id, type, title, body | explanation, date_sent,
date_received, sender_name, principal_name, recipient_name, jurisdictions, action_taken, language,
works: [{description, infringing_urls | targetted_urls | urls_in_request: [{url}]}]}}``; a search
page is ``{"notices": [...], "meta": {...}}``. Lumen redacts some URLs: ``[REDACTED]``, or only a
``fqdn`` with a ``count``; those are kept as what they are (a redacted count, a domain with its
count), never guessed. ``LumenClient`` fetches the same JSON through Lumen's API with a token.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pycountry

from archive.orders.registers import BadRow, Entry
from crawler.netpolicy import URLRejected, normalize_url

URL_LISTS = ("infringing_urls", "targetted_urls", "urls_in_request", "copyrighted_urls")
# Lumen's action_taken, in the archive's vocabulary of reported actions (archive.orders.takedowns).
ACTIONS = {"yes": "removed", "no": "refused", "partial": "removed"}
TIMEOUT = 30.0


class LumenError(Exception):
    """Lumen's API could not be asked (no token, refused, unreachable); the message says the fix."""


def read_files(paths: Iterable[str | Path]) -> tuple[Iterator[Entry | BadRow], ...]:
    """One stream of entries per file (a notice, or a search page of them)."""
    return tuple(read_file(Path(p)) for p in paths)


def read_file(path: Path) -> Iterator[Entry | BadRow]:
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        yield BadRow(path.name, exc.lineno, f"not JSON ({exc.msg}); a Lumen notice is the body of "
                                            "GET /notices/<id>.json")
        return
    except (OSError, UnicodeDecodeError) as exc:
        yield BadRow(path.name, 0, f"cannot be read: {exc}")
        return
    yield from entries(data, path.name)


def entries(data: Any, source: str) -> Iterator[Entry | BadRow]:
    """The notices in one document: a notice (root key its type) or a search page (``notices``)."""
    if isinstance(data, dict) and isinstance(data.get("notices"), list):
        for number, item in enumerate(data["notices"], start=1):
            yield notice_entry(item, source, number)
    else:
        yield notice_entry(data, source, 1)


def _unwrap(item: Any) -> tuple[str, Any]:
    """(type, fields) of ``{"court_order": {...}}`` or of a flat notice with a ``type``."""
    if isinstance(item, dict) and len(item) == 1:
        (kind, fields), = item.items()
        if isinstance(fields, dict):
            return kind, fields
    if isinstance(item, dict):  # a search result names its type: "Dmca", "CourtOrder"
        return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", str(item.get("type") or "")).lower(), item
    return "", item


def notice_entry(item: Any, source: str, number: int) -> Entry | BadRow:
    """One notice as an order entry; BadRow (``number`` is its place in the file) if it is not one."""
    kind, n = _unwrap(item)
    if not isinstance(n, dict):
        return BadRow(source, number, f"notice {number} is not a JSON object with the notice's fields")
    if n.get("id") in (None, ""):
        return BadRow(source, number, f"notice {number} has no id; every Lumen notice has one")
    urls, domains, redacted, unreadable = _targets(n.get("works"))
    if not (urls or domains or redacted or unreadable):
        return BadRow(source, number, f"notice {n['id']} names no URL in its works (infringing_urls, "
                                      "targetted_urls or urls_in_request)")
    authority = _text(n.get("sender_name")) or _text(n.get("principal_name")) or "not named"
    summary = "\n".join(p for p in (_text(n.get("title")), _text(n.get("body")) or _text(n.get("explanation")),
                                    _works_text(n.get("works")),
                                    f"Lumen notice {n['id']} ({kind or 'notice'}); principal: "
                                    f"{_text(n.get('principal_name')) or 'not named'}; language: "
                                    f"{_text(n.get('language')) or 'not stated'}; action taken: "
                                    f"{_text(n.get('action_taken')) or 'not stated'}",
                                    ("URLs as given that are not web addresses: " + ", ".join(unreadable))
                                    if unreadable else "") if p)
    return Entry(key=str(n["id"]), authority=authority, authority_normalized=authority,
                 recipient=_text(n.get("recipient_name")) or "not named", country=_country(n.get("jurisdictions")),
                 action_demanded="remove", file=source, line=number, issued_on=_day(n.get("date_sent")),
                 received_on=_day(n.get("date_received")),
                 legal_basis=f"{kind.replace('_', ' ') or 'notice'} (Lumen notice {n['id']})",
                 summary=summary[:20_000], urls=urls, domains=domains, redacted=redacted,
                 action_reported=ACTIONS.get(_text(n.get("action_taken")).lower(), "unknown"))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _day(value: Any) -> str | None:
    text = _text(value)
    return text[:10] if len(text) >= 10 and text[4] == "-" and text[7] == "-" else None


def _country(jurisdictions: Any) -> str:
    # The first jurisdiction that is a country code; "" when none is (Lumen leaves it out at times).
    for j in jurisdictions if isinstance(jurisdictions, list) else [jurisdictions]:
        code = _text(j).upper()
        if len(code) == 2 and pycountry.countries.get(alpha_2=code):
            return code
    return ""


def _works_text(works: Any) -> str:
    return "\n".join(_text(w.get("description")) for w in works or [] if isinstance(w, dict)
                     and _text(w.get("description")))


def _targets(works: Any) -> tuple[list[str], list[tuple[str, int | None]], int, list[str]]:
    """(URLs, redacted domains with counts, fully redacted URLs, URLs that are not web addresses)."""
    urls: list[str] = []
    domains: dict[str, int | None] = {}
    redacted = 0
    unreadable: list[str] = []
    for work in works if isinstance(works, list) else []:
        if not isinstance(work, dict):
            continue
        for key in URL_LISTS:
            if key == "copyrighted_urls":
                continue  # the works themselves, not what was targeted
            for item in work.get(key) or []:
                url = _text(item.get("url")) if isinstance(item, dict) else _text(item)
                if not url or "REDACTED" in url.upper():
                    fqdn = _text(item.get("fqdn")) if isinstance(item, dict) else ""
                    if fqdn:
                        count = item.get("count")
                        domains[fqdn.lower()] = (domains.get(fqdn.lower()) or 0) + (
                            count if isinstance(count, int) else 1)
                    else:
                        redacted += 1
                    continue
                try:
                    normalized = normalize_url(url, max_length=None)
                except URLRejected:
                    unreadable.append(url)
                    continue
                if normalized not in urls:
                    urls.append(normalized)
    return urls, list(domains.items()), redacted, unreadable


class LumenClient:
    """Lumen's API: ``GET /notices/<id>.json`` and ``GET /notices/search.json?term=``, with the token
    in ``X-Authentication-Token`` (as Lumen's API documentation asks)."""

    def __init__(self, base_url: str, token: str):
        if not token:
            raise LumenError("LUMEN_API_TOKEN is not set; Lumen gives API tokens to researchers on request "
                             "(https://lumendatabase.org): set it, or import notice JSON files instead")
        self.base_url = base_url.rstrip("/")
        self.token = token

    @classmethod
    def from_settings(cls, settings: Any) -> LumenClient:
        return cls(settings.lumen_api_url, settings.lumen_api_token)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                       "X-Authentication-Token": self.token,
                                                       "User-Agent": "takedown-archive (import-orders)"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 (configured URL)
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise LumenError(f"Lumen refused the token (HTTP {exc.code} for {url}): check LUMEN_API_TOKEN") \
                    from None
            raise LookupError(f"HTTP {exc.code} for {url}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise LumenError(f"cannot reach Lumen at {self.base_url} ({exc}); check LUMEN_API_URL and the network") \
                from None
        except json.JSONDecodeError as exc:
            raise LumenError(f"{url} did not answer JSON ({exc.msg}); is LUMEN_API_URL Lumen's API?") from None

    def notices(self, ids: Iterable[str], term: str | None = None, pages: int = 1) -> Iterator[Entry | BadRow]:
        """The notices with these ids, then those a search for ``term`` finds (``pages`` pages)."""
        for notice_id in ids:
            source = f"lumen:notices/{notice_id}"
            try:
                yield from entries(self.get(f"/notices/{urllib.parse.quote(str(notice_id))}.json"), source)
            except LookupError as exc:
                yield BadRow(source, 0, f"Lumen has no notice {notice_id} to give ({exc})")
        if term:
            for page in range(1, pages + 1):
                source = f"lumen:search?term={term}&page={page}"
                try:
                    data = self.get("/notices/search.json", {"term": term, "page": page, "per_page": 50})
                except LookupError as exc:
                    yield BadRow(source, 0, f"the search failed ({exc})")
                    return
                yield from entries(data, source)
                if not data.get("notices"):
                    return
