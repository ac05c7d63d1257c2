"""From what the crawler recorded to an Observation the classifier reads."""
from __future__ import annotations

from io import BytesIO
from urllib.parse import urljoin

from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeadersParser

from crawler import CaptureResult
from crawler.httpwire import Exchange, header_value, parse_head
from search.charset import decode

from .classify import Observation, failure_kind

# Blockpages and notices are small; bytes past this are not read for matching, which keeps
# classification cheap on 50 MB downloads.
MAX_BODY = 2_000_000
MAX_HOPS = 30
_TEXTUAL = ("text/", "html", "xml", "json", "javascript")


def observe(result: CaptureResult, main_text: str) -> Observation:
    """The Observation of a finished capture: its main document, the redirect hops leading to it."""
    main = result.main
    if main is None:
        raise ValueError(f"capture of {result.url} has no main document; use observe_failure")
    _, headers = parse_head(main.response_head)
    # The proxy records status 0 for a status line it could not read: an answer, but not HTTP.
    failure = None if main.status else {"kind": "reset", "error": "the response had no readable HTTP status line"}
    return Observation(requested_url=result.url, final_url=result.final_url, status=main.status or None,
                       headers=headers, body_text=body_text(main), main_text=main_text,
                       redirects=redirect_hops(result.url, result.exchanges), failure=failure)


def observe_failure(url: str, failure: dict) -> Observation:
    """The Observation of a capture that got no response (``failure`` as the proxy records it)."""
    if not isinstance(failure, dict) or "kind" not in failure:
        raise ValueError(f"failure must be a dict with a 'kind', not {failure!r}")
    kind = failure_kind(str(failure["kind"]))
    error = str(failure.get("error") or "no response was received")
    return Observation(requested_url=url, final_url=url, status=None, headers=[], body_text="", main_text="",
                       redirects=[], failure={"kind": kind, "error": error})


def redirect_hops(url: str, exchanges: list[Exchange]) -> list[tuple[int, str]]:
    """(status, absolute Location) of each HTTP redirect followed from ``url``, first to last."""
    by_url: dict[str, Exchange] = {}
    for ex in exchanges:
        if ex.method == "GET":
            by_url.setdefault(ex.url, ex)
    hops: list[tuple[int, str]] = []
    current, seen = url.split("#")[0], set()
    while len(hops) < MAX_HOPS and current not in seen:
        seen.add(current)
        ex = by_url.get(current)
        location = ex.header("location") if ex is not None else None
        if ex is None or not (300 <= ex.status < 400 and location):
            break
        current = urljoin(current, location).split("#")[0]
        hops.append((ex.status, current))
    return hops


def body_text(ex: Exchange) -> str:
    """The exchange's body as text: de-chunked and decompressed by warcio, decoded by its charset."""
    _, headers = parse_head(ex.response_head)
    content_type = header_value(headers, "content-type") or ""
    if content_type and not any(t in content_type.lower() for t in _TEXTUAL):
        return ""
    # Decoded as the standard says (search/charset.py), as the extracted text is.
    return decode(payload(ex, MAX_BODY), content_type)[0]


def payload(ex: Exchange, limit: int | None = None) -> bytes:
    """The exchange's payload (de-chunked and decompressed) as warcio's content_stream gives it,
    as the WARC readers of this project see it; at most ``limit`` bytes (None: all)."""
    ex.body.seek(0)
    raw = ex.body.read(limit)
    ex.body.seek(0)  # the WARC writer reads the body after us
    http_headers = StatusAndHeadersParser([], verify=False).parse(BytesIO(ex.response_head))
    record = ArcWarcRecord("warc", "response", None, BytesIO(raw), http_headers, None, len(raw))
    try:
        return record.content_stream().read(limit)
    except Exception:  # a cut chunk or broken gzip: keep what came, as sent
        return raw
