"""Turn an archived HTML page into the title, main text and language to index.

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

import trafilatura
from lxml import html as lxml_html
from py3langid.langid import MODEL_FILE, LanguageIdentifier

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
# trafilatura's text shorter than this share of the baseline's is a fragment.
_MIN_SHARE = 0.2
# Below this many letters a guess is noise (a title, a cookie banner).
_MIN_LETTERS = 20
# Below this probability the detector is guessing; the page's own
# <html lang> then wins if it names a language at all.
_MIN_CONFIDENCE = 0.9


@dataclass(frozen=True)
class Extracted:
    """What the index needs from one page."""

    title: str
    text: str
    lang: str  # ISO 639-1, or "" when unknown


def extract(html: str, url: str | None = None) -> Extracted:
    """Extract title, main text and language from an HTML page; never raises."""
    try:
        return _extract(html, url)
    except Exception:  # hostile pages must not break indexing
        log.warning("extraction failed for %s", url, exc_info=True)
        return Extracted(title="", text="", lang="")


def detect_language(text: str) -> str:
    """Return the ISO 639-1 code of the text's language, or "" if unsure."""
    lang, _ = _detect(text)
    return lang


def _extract(html: str, url: str | None) -> Extracted:
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    if not isinstance(html, str) or not html.strip():
        return Extracted(title="", text="", lang="")
    if _looks_binary(html):
        return Extracted(title="", text="", lang="")
    html = _CONTROL.sub("", html)
    tree = _parse(html)
    if tree is None:
        return Extracted(title="", text="", lang="")
    # Title and <html lang> are read before trafilatura, which prunes the tree.
    title = choose_title(tree)
    declared = _declared_language(tree)
    text = _main_text(tree, html, url)
    return Extracted(title=title, text=text, lang=_choose_language(text or title, declared))


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
    """trafilatura's main text; failing that, plainer extractions, so that
    every page with any visible text yields some."""
    text = ""
    # trafilatura's time grows faster than the page: 1 s at 20,000 elements,
    # 14 s at 75,000. Past the limit the linear baseline alone does the job.
    if sum(1 for _ in tree.iter()) <= _MAX_ELEMENTS:
        try:
            # A copy: trafilatura edits the tree and the fallbacks need it whole.
            result = trafilatura.bare_extraction(deepcopy(tree), url=url, favor_recall=True, with_metadata=False)
            text = (result.text if result is not None else "") or ""
        except Exception:
            log.debug("trafilatura failed for %s", url, exc_info=True)
    try:
        plain = trafilatura.baseline(html)[1] or ""
    except Exception:
        plain = ""
    # trafilatura sometimes keeps a fragment (a caption, a byline) of a page
    # whose article it missed; the plainer extraction then has far more.
    if len(text.strip()) < _MIN_SHARE * len(plain.strip()):
        text = plain
    if not text.strip():
        text = _body_text(tree)
    return _tidy(text)


def _body_text(tree: lxml_html.HtmlElement) -> str:
    for bad in tree.xpath("//script|//style|//noscript|//template"):
        bad.drop_tree()
    return tree.text_content()


def _tidy(text: str) -> str:
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
        return detected
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
