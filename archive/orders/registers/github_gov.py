"""GitHub's gov-takedowns notices (github/gov-takedowns): government takedown notices as GitHub posts them.

One Markdown file per notice, named ``YYYY-MM-DD-authority[-N].md`` (the date GitHub received it),
in Russian, English or both. The authority comes from the file name (and the text, for those the
archive knows), the URLs from the text; a government site the notice cites (``*.gov.*``, such as the
register's own address) is a reference, not a target. The notice itself is the order's document.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

from archive.orders.registers import BadRow, Entry
from crawler.netpolicy import URLRejected, normalize_url

NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-(.+?)(?:-\d+)?\.md$")
URL = re.compile(r"""https?://[^\s<>"'«»()\[\]]+""")
# Who the archive knows by the name GitHub files them under: (name, country).
KNOWN = {"roskomnadzor": ("Roskomnadzor", "RU"), "rkn": ("Roskomnadzor", "RU"),
         "kazakhstan": ("Kazakhstan government", "KZ"), "china": ("China government", "CN")}
TEXT_AUTHORITIES = (("РОСКОМНАДЗОР", "Roskomnadzor", "RU"),
                    ("ФЕДЕРАЛЬНАЯ СЛУЖБА ПО НАДЗОРУ В СФЕРЕ СВЯЗИ", "Roskomnadzor", "RU"))
REGISTER_WORDS = ("Единый реестр", "Unified register")


def read_files(paths: Iterable[str | Path]) -> Iterator[Entry | BadRow]:
    for path in paths:
        yield read_notice(Path(path))


def read_notice(path: Path) -> Entry | BadRow:
    """One notice file as an order entry, or why it is not one."""
    match = NAME.match(path.name)
    if not match:
        return BadRow(path.name, 1, "the name is not YYYY-MM-DD-authority.md, as gov-takedowns names its "
                                    "notices; the date in it is when GitHub received the notice")
    try:
        received = date.fromisoformat(match[1])
    except ValueError:
        return BadRow(path.name, 1, f"{match[1]!r} in the name is not a date")
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return BadRow(path.name, 1, f"cannot be read as UTF-8 Markdown: {exc}")
    slug = match[2].lower()
    authority, country = KNOWN.get(slug, (slug.replace("-", " ").title(), ""))
    upper = text.upper()
    for words, name, code in TEXT_AUTHORITIES:
        if words in upper:
            authority, country = name, code
            break
    urls, first_line = _urls(text)
    if not urls:
        return BadRow(path.name, 1, "the notice names no URL (http:// or https://) other than government sites")
    basis = ("notice of entry into the Unified register of prohibited information"
             if any(w.lower() in text.lower() for w in REGISTER_WORDS) else "government takedown notice")
    return Entry(key=path.stem, authority=authority, authority_normalized=authority, recipient="GitHub",
                 country=country, action_demanded="remove", action_reported="blocked", file=path.name,
                 line=first_line, received_on=received.isoformat(),
                 legal_basis=f"{basis} (GitHub gov-takedowns {path.name})", summary=text[:20_000], urls=urls,
                 document=(path.name, "text/markdown; charset=utf-8", data))


def _urls(text: str) -> tuple[list[str], int]:
    """The URLs the text names, in order, without government sites; and the line of the first."""
    urls: list[str] = []
    first_line = 1
    for number, line in enumerate(text.splitlines(), start=1):
        for raw in URL.findall(line):
            raw = raw.rstrip(".,;:!?")
            try:
                url = normalize_url(raw, max_length=None)
            except URLRejected:
                continue
            host = url.split("/")[2].split(":")[0]
            if host.endswith(".gov") or ".gov." in host:
                continue
            if url not in urls:
                if not urls:
                    first_line = number
                urls.append(url)
    return urls, first_line
