"""Choose a page's article title the way a reader-mode view would.

Measured against the 130 pages of ../shared/corpus/readability, declared
metadata (JSON-LD headline, Dublin Core, Open Graph, ...) followed by a
cleaned-up <title> matches the reference title far more often than
trafilatura's own title or the first <h1>, which on many sites is the site
name or a section heading. The order and the <title> clean-up follow
Mozilla Readability, whose output is the reference.
"""

from __future__ import annotations

import json
import re

from lxml import html as lxml_html

# Metadata keys in order of preference; the first non-empty one wins.
_META_ORDER = (
    "dc:title",
    "dcterm:title",
    "og:title",
    "weibo:article:title",
    "weibo:webpage:title",
    "title",
    "twitter:title",
    "parsely-title",
)
_PROPERTY_RE = re.compile(r"\s*(dc|dcterm|og|twitter)\s*:\s*(title)\s*", re.I)
_NAME_RE = re.compile(
    r"^\s*(?:(dc|dcterm|og|twitter|parsely|weibo:(?:article|webpage))\s*[-.:]\s*)?(title)\s*$",
    re.I,
)
_ARTICLE_TYPES = re.compile(
    r"^(Article|AdvertiserContentArticle|NewsArticle|AnalysisNewsArticle|"
    r"AskPublicNewsArticle|BackgroundNewsArticle|OpinionNewsArticle|ReportageNewsArticle|"
    r"ReviewNewsArticle|Report|SatiricalArticle|ScholarlyArticle|MedicalScholarlyArticle|"
    r"SocialMediaPosting|BlogPosting|LiveBlogPosting|DiscussionForumPosting|"
    r"TechArticle|APIReference)$"
)
_SEPARATORS = re.compile(r" [|\-–—\\/>»] ")
_HIERARCHICAL = re.compile(r" [\\/>»] ")
_SPACES = re.compile(r"\s+")


def choose_title(tree: lxml_html.HtmlElement) -> str:
    """Return the best article title found in a parsed page, or ""."""
    title = _jsonld_title(tree) or _meta_title(tree) or _document_title(tree)
    return _SPACES.sub(" ", title).strip()


def _jsonld_title(tree: lxml_html.HtmlElement) -> str:
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads((script.text or "").strip().removeprefix("<![CDATA[").removesuffix("]]>"))
        except ValueError:
            continue
        for item in _jsonld_items(data):
            types = item.get("@type")
            types = types if isinstance(types, list) else [types]
            if not any(isinstance(t, str) and _ARTICLE_TYPES.match(t) for t in types):
                continue
            name, headline = item.get("name"), item.get("headline")
            if isinstance(name, str) and isinstance(headline, str) and name != headline:
                # Both given and different: the one closer to <title> is the
                # article's, the other is often the site or section name.
                doc_title = _raw_document_title(tree)
                return name if _similarity(name, doc_title) > _similarity(headline, doc_title) else headline
            for value in (headline, name):
                if isinstance(value, str) and value.strip():
                    return value.strip()
    return ""


def _jsonld_items(data: object) -> list[dict]:
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    if not isinstance(data, dict):
        return []
    graph = data.get("@graph")
    if isinstance(graph, list):
        return [data, *(item for item in graph if isinstance(item, dict))]
    return [data]


def _similarity(a: str, b: str) -> float:
    tokens_a = set(re.findall(r"\w+", a.lower()))
    tokens_b = re.findall(r"\w+", b.lower())
    if not tokens_a or not tokens_b:
        return 0.0
    missing = [t for t in tokens_b if t not in tokens_a]
    return 1 - len(" ".join(missing)) / max(len(" ".join(tokens_b)), 1)


def _meta_title(tree: lxml_html.HtmlElement) -> str:
    values: dict[str, str] = {}
    for meta in tree.iter("meta"):
        content = (meta.get("content") or "").strip()
        if not content:
            continue
        # property="og:title twitter:title" declares several keys at once.
        for match in _PROPERTY_RE.finditer(meta.get("property") or ""):
            values[f"{match.group(1).lower()}:title"] = content
        name = meta.get("name") or ""
        if _NAME_RE.match(name):
            key = re.sub(r"\s+", "", name.lower()).replace(".", ":")
            values[key] = content
    for key in _META_ORDER:
        if values.get(key):
            return values[key]
    return ""


def _raw_document_title(tree: lxml_html.HtmlElement) -> str:
    for element in tree.iter("title"):
        return _SPACES.sub(" ", element.text_content()).strip()
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _document_title(tree: lxml_html.HtmlElement) -> str:
    """<title> without the site name, or the single <h1> when <title> is odd."""
    original = _raw_document_title(tree)
    title = original
    hierarchical = False
    separators = list(_SEPARATORS.finditer(original))
    if separators:
        hierarchical = bool(_HIERARCHICAL.search(original))
        title = original[: separators[-1].start()]
        if _words(title) < 3:
            title = re.sub(r"^[^|\-–—\\/>»]*[|\-–—\\/>»]", "", original)
    elif ": " in title:
        headings = [_SPACES.sub(" ", h.text_content()).strip() for h in tree.iter("h1", "h2")]
        if original not in headings:
            title = original[original.rfind(":") + 1 :]
            if _words(title) < 3:
                title = original[original.find(":") + 1 :]
            elif _words(original[: original.find(":")]) > 5:
                title = original
    elif len(title) > 150 or len(title) < 15:
        h1s = list(tree.iter("h1"))
        if len(h1s) == 1:
            title = h1s[0].text_content()
    title = _SPACES.sub(" ", title).strip()
    # A short remainder after cutting usually lost meaningful words; keep the
    # whole <title> unless the cut removed exactly one hierarchical level.
    count = _words(title)
    if count <= 4 and (not hierarchical or count != _words(re.sub(r"[|\-–—\\/>»]+", "", original)) - 1):
        title = original
    return title
