"""Which character encoding an HTML response is in, decided as the HTML standard says.

The order (WHATWG HTML, "determining the character encoding"): a byte order mark;
the HTTP ``Content-Type`` charset; a ``<meta>`` found by the prescan of the first
1024 bytes; a ``<meta>`` further on, before ``<body>`` (the parser's "change the
encoding" when it meets one late); then, for pages that declare nothing, detection
(valid UTF-8 is UTF-8; otherwise charset-normalizer). Labels map to the decoders the
standard names (``iso-8859-1`` is windows-1252, ``gb2312`` is GBK, ``euc-kr`` is
windows-949, ``shift_jis`` is windows-31J), so the text is what a browser shows. One
exception: a page that declares a legacy encoding but whose bytes are valid UTF-8 (with
non-ASCII text) is read as UTF-8, where a browser shows mojibake.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

PRESCAN_BYTES = 1024
# A late <meta> is looked for up to <body>, within this much of the page.
LATE_META_BYTES = 65536
# Detection reads this much; more costs time and changes nothing.
DETECT_BYTES = 262_144

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# WHATWG Encoding labels whose decoder differs from Python's codec of the same name.
_WHATWG = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "l1": "cp1252", "ascii": "cp1252",
    "us-ascii": "cp1252", "iso_8859-1": "cp1252", "cp819": "cp1252", "ibm819": "cp1252",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "chinese": "gb18030", "csgb2312": "gb18030",
    "iso-ir-58": "gb18030", "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "korean": "cp949", "cseuckr": "cp949",
    "windows-949": "cp949", "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "ms_kanji": "cp932",
    "x-sjis": "cp932", "csshiftjis": "cp932", "windows-31j": "cp932", "big5": "big5hkscs",
    "tis-620": "cp874", "iso-8859-11": "cp874", "windows-874": "cp874", "dos-874": "cp874",
    "iso-8859-9": "cp1254", "latin5": "cp1254",
}
_COMMENT = re.compile(rb"<!--.*?(?:-->|$)", re.S)
_META = re.compile(rb"<meta[\s/]([^>]*)>?", re.I)
_ATTR = re.compile(rb"""([^\s/>=]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]*)))?""")
_CHARSET_IN = re.compile(rb"""charset\s*=\s*["']?\s*([^\s"';]+)""", re.I)
_BODY = re.compile(rb"<body[\s>]", re.I)
_MARKUP = re.compile(rb"<script\b.*?</script>|<style\b.*?</style>|<[^>]*>", re.S | re.I)
_HTML_LANG = re.compile(rb"""<html[^>]*?\blang\s*=\s*["']?([A-Za-z]{2,3})""", re.I)
# Detection scores within this "chaos" of the best are a tie.
_CHAOS_TIE = 0.01
_LATIN_CODEPAGES = ("cp1250", "cp1252", "cp1254", "cp1257", "cp1258", "iso8859-2", "iso8859-4", "iso8859-10",
                    "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16", "iso8859-1", "mac-latin2", "mac-roman",
                    "cp850", "cp775")
# The Windows code page that pages in a language written in Latin letters used when undeclared.
_LANG_CODEPAGE = {**dict.fromkeys(("pl", "cs", "sk", "hu", "hr", "sl", "ro", "bs", "sq"), "cp1250"),
                  **dict.fromkeys(("lv", "lt", "et"), "cp1257"), **dict.fromkeys(("tr", "az"), "cp1254"),
                  "vi": "cp1258"}


@dataclass(frozen=True)
class Charset:
    """The encoding decided for one response and why."""

    encoding: str  # a Python codec name
    # "bom", "http", "meta", "late-meta", "detected", "default", or "valid-utf-8" (declared
    # otherwise, but the bytes are UTF-8)
    source: str
    http: str | None = None  # the Content-Type charset as sent (None: none sent)
    meta: str | None = None  # the <meta> charset as written (None: none found)

    def describe(self) -> dict[str, str | None]:
        """For the capture's provenance record."""
        return {"encoding": self.encoding, "source": self.source, "http_charset": self.http,
                "meta_charset": self.meta}


def codec_name(label: str | None) -> str | None:
    """The Python codec behind an encoding label as a browser reads it; None if unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _WHATWG.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decide(body: bytes, content_type: str | None = None) -> Charset:
    """The encoding of an HTML response ``body`` sent with ``content_type`` (may be None)."""
    http = _http_charset(content_type)
    meta, late = _meta_charset(body)
    for bom, name in _BOMS:
        if body.startswith(bom):
            return Charset(name, "bom", http, meta)
    declared = codec_name(http) or codec_name(meta)
    # A <meta> naming UTF-16 means UTF-8: bytes that the prescan could read are not UTF-16.
    if declared and declared.startswith("utf-16") and not codec_name(http):
        declared = "utf-8"
    if declared and declared != "utf-8" and _valid_utf8(body):
        # Text in a legacy encoding is almost never valid UTF-8 by chance; a page saved again as
        # UTF-8 with its old declaration left in is common. Browsers follow the declaration and
        # show mojibake; the archive keeps the words.
        return Charset("utf-8", "valid-utf-8", http, meta)
    if codec_name(http):
        return Charset(declared, "http", http, meta)
    if declared:
        return Charset(declared, "late-meta" if late else "meta", http, meta)
    return Charset(_detect(body), "detected" if body else "default", http, meta)


def decode(body: bytes, content_type: str | None = None) -> tuple[str, Charset]:
    """The response's text as a browser following the standard shows it, and the decision."""
    charset = decide(body, content_type)
    if charset.source == "bom":
        body = body[len(next(b for b, n in _BOMS if n == charset.encoding)):]
    return body.decode(charset.encoding, errors="replace"), charset


def _http_charset(content_type: str | None) -> str | None:
    found = _CHARSET_IN.search((content_type or "").encode("latin-1", errors="replace"))
    return found.group(1).decode("ascii", errors="replace") if found else None


def _meta_charset(body: bytes) -> tuple[str | None, bool]:
    """The first <meta> charset (label as written) and whether it came after the prescan's 1024 bytes."""
    head = body[:LATE_META_BYTES]
    cut = _BODY.search(head)
    head = _COMMENT.sub(lambda m: b" " * len(m.group(0)), head[: cut.start() if cut else len(head)])
    for tag in _META.finditer(head):
        label = _label(tag.group(1))
        if codec_name(label):
            return label, tag.start() >= PRESCAN_BYTES
    return None, False


def _label(attributes: bytes) -> str | None:
    """The charset a <meta>'s attributes declare (charset=, or http-equiv content-type's content)."""
    attrs: dict[bytes, bytes] = {}
    for match in _ATTR.finditer(attributes):
        name = match.group(1).lower()
        attrs.setdefault(name, next((g for g in match.groups()[1:] if g is not None), b""))
    if attrs.get(b"charset"):
        return attrs[b"charset"].strip().decode("ascii", errors="replace")
    if attrs.get(b"http-equiv", b"").strip().lower() == b"content-type":
        found = _CHARSET_IN.search(attrs.get(b"content", b""))
        if found:
            return found.group(1).decode("ascii", errors="replace")
    return None


def _valid_utf8(body: bytes, need_non_ascii: bool = True) -> bool:
    """Whether the page's first DETECT_BYTES are UTF-8 (with some non-ASCII, if ``need_non_ascii``)."""
    sample = body[:DETECT_BYTES]
    if need_non_ascii and sample.isascii():
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # A character cut by the sample's end is not a foreign byte.
        return exc.start >= len(sample) - 3 and len(body) > len(sample)


def _detect(body: bytes) -> str:
    """Valid UTF-8 is UTF-8; otherwise charset-normalizer on the text (markup left out, it only
    dilutes). Single-byte Latin code pages often decode a page equally well: among those as
    good as the best, the one used for the page's <html lang> wins, else windows-1252, the
    standard's fallback for undeclared pages, as a browser would choose by its locale."""
    if _valid_utf8(body, need_non_ascii=False):
        return "utf-8"
    sample = body[:DETECT_BYTES]
    matches = list(from_bytes(_MARKUP.sub(b" ", sample)) or from_bytes(sample))
    if not matches:
        return "cp1252"
    least = min(m.chaos for m in matches)
    good = [codec_name(m.encoding) for m in matches if m.chaos <= least + _CHAOS_TIE]
    lang = _HTML_LANG.search(sample)
    wanted = _LANG_CODEPAGE.get(lang.group(1).decode("ascii").lower() if lang else "", "cp1252")
    if good[0] in _LATIN_CODEPAGES and wanted in good:
        return wanted
    return good[0] or "cp1252"
