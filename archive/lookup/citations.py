"""How to cite a capture: APA, MLA, Chicago, Bluebook, BibTeX and CSL-JSON.

Pure functions of a capture's facts, so the record page, the API and tests agree.
Every citation names the title, the original URL, the archive's permanent link
and the capture time in UTC (to the second: a page can change within a day).
Titles come from archived pages, i.e. from anyone: each format escapes them
its own way (BibTeX specials, JSON by ``json.dumps``); HTML escaping is left to
the template that shows them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from archive.catalog import to_utc
from crawler.netpolicy import site_host

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
# MLA 9 and the Bluebook abbreviate the same months the same way.
MONTHS_SHORT = ("Jan.", "Feb.", "Mar.", "Apr.", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec.")
BIBTEX_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
UNTITLED = "[Untitled page]"
STYLES = ("apa", "mla", "chicago", "bluebook", "bibtex", "csl_json")


@dataclass(frozen=True)
class CiteFacts:
    """What every citation of one capture is made from."""

    title: str  # "" when the page had none
    url: str  # the original URL that was captured
    link: str  # the archive's permanent, absolute link to the capture
    captured_at: datetime  # UTC
    archive_name: str
    key: str  # a stable citation key (BibTeX, CSL id)
    lang: str = ""

    @property
    def site(self) -> str:
        """The original's host, without ``www.``: the "website" part of a web citation."""
        return site_host(urlsplit(self.url).hostname) or self.url


def permalink_url(base_url: str, capture: dict[str, Any]) -> str:
    """The capture's permanent link under ``base_url`` (its record page if it has no permalink yet)."""
    base = base_url.rstrip("/")
    code = capture.get("permalink")
    return f"{base}/p/{code}" if code else f"{base}/capture/{capture['id']}"


def facts_of(capture: dict[str, Any], base_url: str, archive_name: str) -> CiteFacts:
    """A catalog row's citation facts; ``base_url`` is ARCHIVE_URL or the request's URL root."""
    slug = re.sub(r"[^a-z0-9]", "", archive_name.lower()) or "capture"
    return CiteFacts(title=" ".join((capture.get("title") or "").split()), url=capture["url"],
                     link=permalink_url(base_url, capture), captured_at=to_utc(capture["captured_at"]),
                     archive_name=archive_name, key=f"{slug}-{capture.get('permalink') or capture['id']}",
                     lang=capture.get("lang") or "")


def _time(f: CiteFacts) -> str:
    return f"{f.captured_at:%H:%M:%S} UTC"


def _sentence(title: str) -> str:
    """A title ending a sentence: its own ?, ! or . stands, else one is added."""
    return title if title.endswith((".", "?", "!")) else title + "."


def _quoted(f: CiteFacts) -> str:
    """MLA and Chicago: "Title." with the period inside the quotes; an untitled page is described, unquoted."""
    return f"“{_sentence(f.title)}”" if f.title else f"{UNTITLED}."


def apa(f: CiteFacts) -> str:
    """APA 7, a web page without author or date, retrieved from the archive."""
    d = f.captured_at
    return (f"{_sentence(f.title or UNTITLED)} (n.d.). {f.site}. {f.url}. Archived {MONTHS[d.month - 1]} "
            f"{d.day}, {d.year}, {_time(f)}, by {f.archive_name}: {f.link}")


def mla(f: CiteFacts) -> str:
    """MLA 9: title, website, original URL; then the archive as a second container."""
    d = f.captured_at
    return (f"{_quoted(f)} {f.site}, {f.url}. {f.archive_name}, archived {d.day} {MONTHS_SHORT[d.month - 1]} "
            f"{d.year}, {_time(f)}, {f.link}.")


def chicago(f: CiteFacts) -> str:
    """Chicago 17 (notes-bibliography): … URL, archived <date> at <archive name>, <link>."""
    d = f.captured_at
    return (f"{_quoted(f)} {f.site}. {f.url}, archived {MONTHS[d.month - 1]} {d.day}, {d.year}, {_time(f)}, "
            f"at {f.archive_name}, {f.link}.")


def bluebook(f: CiteFacts) -> str:
    """Bluebook rule 18.2: title, site, URL (date) [archived link]."""
    d = f.captured_at
    return (f"{f.title or UNTITLED}, {f.site}, {f.url} (archived {MONTHS_SHORT[d.month - 1]} {d.day}, {d.year}, "
            f"{_time(f)}, by {f.archive_name}) [{f.link}].")


# LaTeX's special characters in text, and what prints each one.
_TEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&",
        "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    """``text`` as literal LaTeX text: every special character escaped, so braces always balance."""
    return "".join(_TEX.get(c, c) for c in text)


def _bib_url(url: str) -> str:
    # The url field is read verbatim, but BibTeX itself still needs balanced braces; a backslash or
    # brace in a URL is percent-encoded (what a browser sends for them anyway).
    return url.replace("\\", "%5C").replace("{", "%7B").replace("}", "%7D")


def bibtex(f: CiteFacts) -> str:
    """A biblatex/BibTeX ``@misc`` entry; the title double-braced so styles keep its capitals."""
    d = f.captured_at
    fields = [
        ("title", f"{{{tex_escape(f.title or UNTITLED)}}}"),
        ("howpublished", tex_escape(f.site)),
        ("url", _bib_url(f.link)),
        ("urldate", f"{d:%Y-%m-%d}"),
        ("note", tex_escape(f"Archived {d:%Y-%m-%d} {_time(f)} at {f.archive_name}. Original URL: {f.url}")),
        ("year", str(d.year)),
    ]
    lines = [f"@misc{{{f.key},"] + [f"  {name} = {{{value}}}," for name, value in fields]
    lines.append(f"  month = {BIBTEX_MONTHS[d.month - 1]},")
    return "\n".join(lines) + "\n}"


def csl_item(f: CiteFacts) -> dict[str, Any]:
    """One CSL-JSON item: a ``webpage`` whose URL is the archive's link, filed under the original URL."""
    d = f.captured_at
    item: dict[str, Any] = {
        "id": f.key,
        "type": "webpage",
        "title": f.title or UNTITLED,
        "container-title": f.site,
        "URL": f.link,
        "archive": f.archive_name,
        "archive_location": f.url,
        "accessed": {"date-parts": [[d.year, d.month, d.day]]},
        "note": f"Captured {d:%Y-%m-%dT%H:%M:%SZ}. Original URL: {f.url}",
    }
    if f.lang:
        item["language"] = f.lang
    return item


def csl_json(f: CiteFacts) -> str:
    """CSL-JSON as reference managers import it: an array of one item, UTF-8, indented."""
    return json.dumps([csl_item(f)], ensure_ascii=False, indent=2)


def citations(f: CiteFacts) -> dict[str, str]:
    """Every style, as text, keyed by the names in ``STYLES``."""
    return {"apa": apa(f), "mla": mla(f), "chicago": chicago(f), "bluebook": bluebook(f), "bibtex": bibtex(f),
            "csl_json": csl_json(f)}
