"""Turn an archived HTML page into the title, main text and language to index.

The one entry point is extract(). Given the response's bytes, it decodes them as
the HTML standard says (search/charset.py), not as the browser guessed: the text
of a page declaring no charset comes out right even when Chromium's DOM is
mojibake. The main text comes from the server's HTML, which for most pages is the
cleaner source; the rendered DOM is used only when the server's HTML has almost no
text and the DOM has more (a page its scripts build), and never when the browser
decoded the page with another encoding than ours.

Archived pages are hostile input: anything can arrive here, from an empty
body to binary junk or a 10 MB page. extract() never raises; what it cannot
read comes back as empty fields.
"""

from __future__ import annotations

import logging
import re
from copy import deepcopy
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import trafilatura
from lxml import html as lxml_html
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from search.charset import Charset, codec_name, decode
from search.title import choose_title

log = logging.getLogger(__name__)

# lxml refuses NUL and most C0 control characters; junk pages contain them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# huge_tree: real pages can exceed libxml2's default depth and text-node limits.
_PARSER = lxml_html.HTMLParser(
    encoding="utf-8", huge_tree=True, remove_comments=True, remove_pis=True, collect_ids=False
)
_BINARY_CHARS = frozenset(
    [chr(c) for c in range(32) if chr(c) not in "\t\n\r\f"] + [chr(c) for c in range(0x7F, 0xA0)] + ["\ufffd"]
)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# Enough text to identify a language; more only costs time.
_LANG_SAMPLE = 4000
# Pages with more elements skip trafilatura (see _main_text).
_MAX_ELEMENTS = 30_000
# Server HTML with less main text than this (non-space characters) may be a
# shell that scripts fill: the rendered DOM is then extracted too.
_MIN_RESPONSE_TEXT = 200
# Below this many letters a guess is noise (a title, a cookie banner).
_MIN_LETTERS = 20
# Below this probability the detector is guessing; the page's own
# <html lang> then wins if it names a language at all.
_MIN_CONFIDENCE = 0.9
# A page that names no language gets the detector's only above this: below, the text mixes
# languages or is none, and "unknown" is the truthful answer (real articles score above 0.9).
_MIN_GUESS = 0.5


@dataclass(frozen=True)
class Extracted:
    """What the index needs from one page."""

    title: str
    text: str
    lang: str  # ISO 639-1, or "" when unknown
    charset: Charset | None = None  # how the response bytes were decoded (None: text was given)
    source: str = ""  # "response" or "dom": which HTML the text came from ("" if given as text)
    dom_mojibake: bool = False  # the browser decoded the page with another encoding than the standard's

    def provenance(self) -> dict[str, Any]:
        """What the capture's provenance record says about the text."""
        return {**(self.charset.describe() if self.charset else {}), "text_from": self.source,
                "dom_mojibake": self.dom_mojibake}


def extract(html: str | bytes, url: str | None = None, *, content_type: str | None = None,
            dom: str | None = None, dom_charset: str | None = None) -> Extracted:
    """Extract title, main text and language from an HTML page; never raises.

    ``html`` is either text already decoded, or the response payload as bytes, decoded here by
    its ``content_type`` (the HTTP header), BOM, <meta> or detection. ``dom`` is the browser's
    rendered DOM and ``dom_charset`` the encoding the browser used (document.characterSet)."""
    try:
        return _extract(html, url, content_type, dom, dom_charset)
    except Exception:  # hostile pages must not break indexing
        log.warning("extraction failed for %s", url, exc_info=True)
        return Extracted(title="", text="", lang="")


def detect_language(text: str) -> str:
    """Return the ISO 639-1 code of the text's language, or "" if unsure."""
    lang, _ = _detect(text)
    return lang


def _extract(html: str | bytes, url: str | None, content_type: str | None, dom: str | None,
             dom_charset: str | None) -> Extracted:
    charset = None
    if isinstance(html, bytes):
        html, charset = decode(html, content_type)
    # The browser's DOM is mojibake when it decoded the bytes otherwise than the standard says.
    mojibake = bool(charset and dom_charset and codec_name(dom_charset) != charset.encoding)
    title, text, declared = _page(html, url)
    source = "response" if charset else ""
    usable_dom = dom and not mojibake and (charset is None or dom_charset or charset.source in _DECLARED)
    if usable_dom and _letters(text) < _MIN_RESPONSE_TEXT:
        dom_title, dom_text, dom_declared = _page(dom, url)
        if _letters(dom_text) > _letters(text):
            text, source, declared, title = dom_text, "dom", dom_declared or declared, title or dom_title
    return Extracted(title=title, text=text, lang=_choose_language(text or title, declared), charset=charset,
                     source=source, dom_mojibake=mojibake)


# Encodings the page itself named: a browser follows them too, so its DOM is not mojibake.
_DECLARED = ("bom", "http", "meta", "late-meta")


def _letters(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def _page(html: str, url: str | None) -> tuple[str, str, str]:
    """(title, main text, declared language) of decoded HTML; empty strings for junk."""
    if not isinstance(html, str) or not html.strip() or _looks_binary(html):
        return "", "", ""
    html = _CONTROL.sub("", html)
    tree = _parse(html)
    if tree is None:
        return "", "", ""
    # Title and <html lang> are read before trafilatura, which prunes the tree.
    return choose_title(tree), _main_text(tree, html, url), _declared_language(tree)


def _parse(html: str) -> lxml_html.HtmlElement | None:
    try:
        # Bytes, because lxml rejects str with an XML encoding declaration.
        tree = lxml_html.document_fromstring(html.encode("utf-8", errors="replace"), parser=_PARSER)
    except Exception:  # lxml raises a variety of errors on junk
        return None
    return tree if isinstance(tree, lxml_html.HtmlElement) else None


def _looks_binary(html: str) -> bool:
    """True for images, archives and other non-text bytes posing as HTML."""
    sample = html[:65536]
    junk = sum(1 for ch in sample if ch in _BINARY_CHARS)
    # Real pages carry at most a few stray control characters.
    return junk > 16 and junk > len(sample) // 50


def _main_text(tree: lxml_html.HtmlElement, html: str, url: str | None) -> str:
    """trafilatura's main text with its default options (its own fallbacks included) but
    without reader comments, which are not the page's text; failing that, the
    baseline, then the whole body, so that every page with any visible text yields some.

    favor_recall and a switch to the baseline when trafilatura's text looked short
    were tried and dropped: on real pages both cost more than they gained
    (bench/extract.py measures it)."""
    text = ""
    # trafilatura's time grows faster than the page: 1 s at 20,000 elements,
    # 14 s at 75,000. Past the limit the linear baseline alone does the job.
    if sum(1 for _ in tree.iter()) <= _MAX_ELEMENTS:
        try:
            # A copy: trafilatura edits the tree and the fallbacks need it whole.
            text = trafilatura.extract(deepcopy(tree), url=url, include_comments=False) or ""
        except Exception:
            log.debug("trafilatura failed for %s", url, exc_info=True)
    if not text.strip():
        try:
            text = trafilatura.baseline(html)[1] or ""
        except Exception:
            text = ""
    if not text.strip():
        text = _body_text(tree)
    return _tidy(text)


def _body_text(tree: lxml_html.HtmlElement) -> str:
    for bad in tree.xpath("//script|//style|//noscript|//template"):
        bad.drop_tree()
    return tree.text_content()


def _tidy(text: str) -> str:
    # Bytes no encoding could read are not text: never index U+FFFD.
    text = text.replace("\ufffd", "")
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _declared_language(tree: lxml_html.HtmlElement) -> str:
    """Primary subtag of <html lang> (or xml:lang), if it looks like ISO 639-1."""
    root = tree.getroottree().getroot()
    value = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or ""
    primary = value.strip().lower().replace("_", "-").split("-")[0]
    return primary if re.fullmatch(r"[a-z]{2}", primary) else ""


def _choose_language(text: str, declared: str) -> str:
    detected, confidence = _detect(text)
    if not declared:
        return detected if confidence >= _MIN_GUESS else ""
    if not detected or detected == declared:
        return declared
    # Sites often leave a template's lang="ru" or "en" on pages written in
    # another language (Kyrgyz pages served as "ru" are common), so a
    # confident detection overrides the declaration.
    return detected if confidence >= _MIN_CONFIDENCE else declared


def _detect(text: str) -> tuple[str, float]:
    sample = text[:_LANG_SAMPLE]
    if sum(ch.isalpha() for ch in sample) < _MIN_LETTERS:
        return "", 0.0
    try:
        lang, confidence = _identifier().classify(sample)
    except Exception:  # a detector failure means "unknown"
        return "", 0.0
    return (lang if re.fullmatch(r"[a-z]{2}", lang) else ""), float(confidence)


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    # Loaded once per process: unpacking the model takes a noticeable moment.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
