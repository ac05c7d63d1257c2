"""Roskomnadzor's register of blocked addresses, as zapret-info publishes it (``dump.csv``).

Windows-1251, one entry a line after an ``Updated: <time> +0000`` line, 6 fields split by ``;``:
``IPs;domain;URLs;authority;decision number;decision date``, several IPs or URLs joined by
`` | ``. A URL may itself hold ``;``, so the two first and three last fields are split off and
what is between is the URLs. Each decision (authority, number, date) is one order; today's dumps
are split into ``dump-00.csv`` … ``dump-NN.csv``, parts of one listing.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from pathlib import Path

from archive.orders.registers import BadRow, Entry, parse_listed
from crawler.netpolicy import URLRejected, normalize_url

ENCODING = "cp1251"
NO_NUMBER = "б/н"  # "без номера": a decision without a number
RECIPIENT = "internet service providers in Russia"
# The authorities the register names, as written, and who they are; a name not here is kept as written.
AUTHORITIES = {
    "фскн": "Federal Drug Control Service (FSKN)",
    "суд": "court",
    "мосгорсуд": "Moscow City Court",
    "роскомнадзор": "Roskomnadzor",
    "генпрокуратура": "Prosecutor General's Office",
    "роспотребнадзор": "Rospotrebnadzor",
    "фнс": "Federal Tax Service",
    "мвд": "Ministry of Internal Affairs",
    "минкультуры": "Ministry of Culture",
    "минкомсвязь": "Ministry of Communications",
    "росалкогольрегулирование": "Federal Service for Alcohol Market Regulation",
    "фас": "Federal Antimonopoly Service",
    "роскомнадзор (суд)": "court",
}


# The common URL (lower-case ASCII host, no port, user, space or control character) in the form
# crawler.netpolicy.normalize_url gives it, without its cost: a dump has a million of them. Anything
# else goes through normalize_url itself; tests/test_registers.py checks both agree on the sample.
_HOST = r"[a-z0-9_][a-z0-9_-]{0,62}(?:\.[a-z0-9_-]{1,63})+\.?"
_SIMPLE_URL = re.compile(rf"(https?)://({_HOST})(/[^#?]*)?(\?[^#]+)?(?:#.*)?", re.S)
_SIMPLE_HOST = re.compile(_HOST)
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


# The same with a Cyrillic host (сайт.рф): each Cyrillic label through IDNA once (the register repeats
# its few TLDs), the result checked as the plain form's host is; anything else goes the long way.
_CYRILLIC_URL = re.compile(r"(https?)://([a-zA-Z0-9_.\u0400-\u04ff-]+)(/[^#?]*)?(\?[^#]+)?(?:#.*)?", re.S)


@lru_cache(maxsize=4096)
def _ascii_label(label: str) -> str:
    return label.encode("idna").decode("ascii") if not label.isascii() else label


def normalize(url: str) -> str:
    """``url`` normalised as ``crawler.netpolicy.normalize_url`` does (URLRejected if it is not one)."""
    if _UNSAFE.search(url) is None:
        match = _SIMPLE_URL.fullmatch(url)
        if match is not None:
            return f"{match[1]}://{match[2]}{match[3] or '/'}{match[4] or ''}"
        match = _CYRILLIC_URL.fullmatch(url)
        if match is not None and match[1] == match[1].lower():
            try:
                host = ".".join(_ascii_label(label) for label in match[2].lower().split("."))
            except UnicodeError:
                host = ""
            if _SIMPLE_HOST.fullmatch(host):
                return f"{match[1]}://{host}{match[3] or '/'}{match[4] or ''}"
    return normalize_url(url, max_length=None)


@lru_cache(maxsize=4096)  # a register names few authorities, a million times
def normalize_authority(written: str) -> str:
    """An authority's English name from how the register writes it (``суд`` → ``court``)."""
    key = " ".join(written.split()).casefold()
    if key in AUTHORITIES:
        return AUTHORITIES[key]
    if "суд" in key:  # a named court: "Кировский районный суд г. Перми"
        return "court"
    return written.strip()


class Dump:
    """One dump file: its ``listed_at`` (from the ``Updated:`` line, None without one) and its rows."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = self.path.name
        self.listed_at: str | None = None
        with self.path.open("rb") as f:
            first = f.readline()
        if first.startswith(b"Updated:"):
            try:
                self.listed_at = parse_listed(first[len(b"Updated:"):].decode("ascii", "replace"))
            except ValueError as exc:
                raise ValueError(f"{self.name}:1: the Updated: line says {exc}; a dump starts with e.g. "
                                 "'Updated: 2014-03-27 12:05:00 +0000'") from None

    def entries(self) -> Iterator[Entry | BadRow]:
        """The rows, read one at a time (a million-row dump is never held whole)."""
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if number == 1 and raw.startswith(b"Updated:"):
                    continue
                line = raw.rstrip(b"\r\n")
                if not line.strip():
                    continue
                yield parse_row(line, self.name, number)


def parse_row(raw: bytes, file: str, line: int) -> Entry | BadRow:
    """One dump row as an order entry, or why it cannot be one."""
    try:
        text = raw.decode(ENCODING)
    except UnicodeDecodeError as exc:
        return BadRow(file, line, f"byte {exc.start + 1} is not Windows-1251 text; the register is published in "
                                  "Windows-1251: convert the file back with iconv -t cp1251")
    head = text.split(";", 2)
    tail = head[-1].rsplit(";", 3) if len(head) == 3 else []
    if len(tail) != 4:
        return BadRow(file, line, f"{text.count(';') + 1} field(s); a row has 6 split by ';': "
                                  "IPs;domain;URLs;authority;decision number;decision date")
    ips, domain = head[0].strip(), head[1].strip()
    url_field, authority, number, day = [v.strip() for v in tail]
    if not authority:
        return BadRow(file, line, "no authority (field 4); every decision names who made it")
    try:
        issued = date.fromisoformat(day)
    except ValueError:
        return BadRow(file, line, f"decision date {day!r} (field 6) is not a date YYYY-MM-DD")
    urls: list[str] = []
    for raw_url in url_field.split(" | "):
        raw_url = raw_url.strip()
        if not raw_url:
            continue
        try:
            url = normalize(raw_url)
        except URLRejected as exc:
            return BadRow(file, line, f"URL {raw_url!r} (field 3): {exc}")
        if url not in urls:
            urls.append(url)
    domains = [domain.lower().rstrip(".")] if domain else []
    if not urls and not domains:
        # An address-only entry: the IPs are what is blocked.
        domains = [ip.strip() for ip in ips.split(" | ") if ip.strip()]
    if not urls and not domains:
        return BadRow(file, line, "no IP, domain or URL: the row blocks nothing")
    number, day = number or NO_NUMBER, issued.isoformat()
    basis = f"decision of {day} without number" if number == NO_NUMBER else f"decision No. {number} of {day}"
    return Entry(key=f"{authority}|{number}|{day}", authority=authority,
                 authority_normalized=normalize_authority(authority), recipient=RECIPIENT, country="RU",
                 action_demanded="block", file=file, line=line, issued_on=day,
                 legal_basis=f"{authority}: {basis} (register of blocked addresses)",
                 urls=urls, domains=[(d, None) for d in domains])


def snapshots(paths: list[str | Path], listed_at: str | None = None) -> list[tuple[str, list[Dump]]]:
    """The files grouped into listings: a file with an ``Updated:`` time other than the one before
    starts a new listing; one without continues it (the parts of a split dump). ``listed_at`` overrides
    every file's time. ValueError naming the file if the first has no time and none is given."""
    groups: list[tuple[str, list[Dump]]] = []
    for path in paths:
        dump = Dump(path)
        when = listed_at or dump.listed_at
        if when is None:
            if not groups:
                raise ValueError(f"{dump.name}: no 'Updated:' line, so the date it was listed is unknown; "
                                 "give it with --listed-at 2024-01-31T00:00:00Z, or import it after the part "
                                 "that has one")
            when = groups[-1][0]
        if groups and groups[-1][0] == when:
            groups[-1][1].append(dump)
        else:
            groups.append((when, [dump]))
    return groups
