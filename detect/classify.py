"""What a capture shows happened to a page: one outcome label and the evidence for it.

Pure and fast: it reads an Observation (what came back) and never touches the network or disk.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from .fingerprints import WEAK_SCOPES, WITHHELD_PREFIX, FingerprintSet, Match
from .textdiff import diff_lines, similarity

LABELS = ("ok", "not_found", "legal", "blockpage", "redirect_notice", "withheld", "changed", "unreachable", "error")
# As OONI records them: dns_nxdomain_error, connection_refused, connection_reset, eof_error (closed
# without an answer), ssl_failed_handshake, generic_timeout_error.
FAILURE_KINDS = ("dns", "refused", "reset", "closed", "tls", "timeout")
# The recording proxy's failure kinds (crawler/proxy.py ProxyError.kind) that say the site could not
# be reached, onto the outcome's kinds. "blocked" and "vantage" are our own refusals or faults.
PROXY_FAILURES = {"dns": "dns", "refused": "refused", "connect": "refused", "reset": "reset",
                  "closed": "closed", "protocol": "reset", "tls": "tls", "timeout": "timeout"}
# Where redirects to a notice lead (path or query markers, lower-case).
NOTICE_MARKERS = ("/access/blockpage.html", "blockpage", "blank.php?rkn=", "/blocked", "warning.rt.ru",
                  "eais.rkn.gov.ru", "/block.html", "/deny.html", "/stop.html", "zapret")
# Authorities and laws a legal notice may name: (label, pattern). Kept small on purpose.
AUTHORITIES = (
    ("Roskomnadzor", r"Roskomnadzor|Роскомнадзор\w*|\bРКН\b|\brkn\.gov\.ru"),
    ("Prosecutor General (RU)", r"Генеральн\w+ прокуратур\w+|Генпрокуратур\w+|Prosecutor General"),
    ("GKNB (KG)", r"ГКНБ|\bGKNB\b|Государственн\w+ комитет\w* национальной безопасности"),
    ("Ministry of Culture (KG)", r"Министерств\w+ культуры|Ministry of Culture"),
    ("BTK (TR)", r"\bBTK\b|Bilgi Teknolojileri ve İletişim Kurumu"),
    ("Court", r"Sulh Ceza Hakimliği|\bсуд\w* (?:г\.|города|района)|court order"),
)
LAWS = (
    ("Federal Law 149-FZ (RU)", r"149-ФЗ|149-FZ"),
    ("Law 5651 (TR)", r"5651 [Ss]ayılı|Law (?:No\.? )?5651"),
    ("article", r"\b(?:Article|Art\.) \d+[\w.]*|\b[Сс]тать(?:я|и|е|ей) \d+[\w.]*|\bст\. ?\d+[\w.]*"),
)
_AUTHORITIES = [(label, re.compile(p)) for label, p in AUTHORITIES]
_LAWS = [(label, re.compile(p)) for label, p in LAWS]
_COUNTRY = re.compile(r"(?:withheld in|access to this content in) ([^.<>\n]{2,60}?) in response to a legal")
_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[^;,=\s]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?)*)')
_PARAM = re.compile(r';\s*([^;,=\s]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*))?')
MAX_SCAN = 300_000  # characters of a page searched for named authorities and laws
MAX_DIFF = 20_000  # characters of diff kept as evidence
_EQUAL_CONTEXT = 120  # characters of an unchanged line kept for context


@dataclass(frozen=True)
class Observation:
    requested_url: str
    final_url: str
    status: int | None  # main document's HTTP status; None when nothing came back
    headers: list[tuple[str, str]]  # main document response headers
    body_text: str  # main document body decoded to text ('' if none)
    main_text: str  # extracted article text
    redirects: list[tuple[int, str]]  # each hop (status, location URL) from the requested URL to the final one
    failure: dict | None = None  # {"kind": "dns"|"refused"|"reset"|"tls"|"timeout", "error": "..."}


@dataclass(frozen=True)
class Outcome:
    label: str
    evidence: dict


def classify(obs: Observation, fingerprints: FingerprintSet, previous_ok_text: str | None,
             change_threshold: float) -> Outcome:
    """The outcome of one capture; rules apply in the order of LABELS' precedence (see README)."""
    if not 0 <= change_threshold <= 1:
        raise ValueError(f"change_threshold must be from 0 to 1, not {change_threshold!r}")
    if obs.failure is not None or obs.status is None:
        failure = obs.failure or {}
        return Outcome("unreachable", {"kind": failure_kind(failure.get("kind", "reset")),
                                       "error": failure.get("error") or "no response was received"})
    matches = _matches(obs, fingerprints)
    status = obs.status
    if status == 451:
        return Outcome("legal", {"status": 451, "blocked_by": blocked_by(obs.headers, obs.final_url),
                                 **named_authorities(obs.body_text + "\n" + obs.main_text),
                                 "fingerprints": [m.to_json() for m in matches]})
    withheld = [m for m in matches if m.name.startswith(WITHHELD_PREFIX)]
    if withheld:
        evidence = {"status": status, "fingerprints": [m.to_json() for m in withheld]}
        country = _withheld_country(obs.main_text) or _withheld_country(obs.body_text)
        if country:
            evidence["country"] = country
        return Outcome("withheld", evidence)
    hop_matches = _hop_matches(obs, fingerprints)
    conclusive = [m for m in matches if _conclusive(m)]
    why = _redirect_reasons(obs, hop_matches, conclusive)
    if why:
        return Outcome("redirect_notice", {
            "from": obs.requested_url, "to": obs.final_url, "status": status,
            "hops": [{"status": s, "location": loc} for s, loc in obs.redirects], "why": why,
            "fingerprints": [m.to_json() for m in _unique(hop_matches + conclusive)]})
    if conclusive:
        return Outcome("blockpage", {"status": status, "fingerprints": [m.to_json() for m in conclusive],
                                     **named_authorities(obs.body_text + "\n" + obs.main_text)})
    weak = [m.to_json() for m in matches]
    if status in (404, 410):
        return Outcome("not_found", {"status": status})
    if not 200 <= status < 300:
        kind = "server error" if status >= 500 else "client error" if status >= 400 else "not a final response"
        return Outcome("error", {"status": status, "why": f"HTTP {status}: {kind}"})
    if previous_ok_text is not None:
        score = similarity(previous_ok_text, obs.main_text)
        if score < change_threshold:
            return Outcome("changed", {"status": status, "similarity": round(score, 4),
                                       "threshold": change_threshold,
                                       **diff_summary(previous_ok_text, obs.main_text)})
    evidence = {"status": status}
    if weak:
        evidence["weak_fingerprints"] = weak  # vague words or known false positives: recorded, not decisive
    return Outcome("ok", evidence)


def failure_kind(kind: str) -> str:
    """The outcome's failure kind for a proxy failure kind; ValueError for one that is not the site's."""
    if kind in FAILURE_KINDS:
        return kind
    if kind not in PROXY_FAILURES:
        raise ValueError(f"failure kind {kind!r} does not say the site is unreachable "
                         f"(expected one of {', '.join(sorted(PROXY_FAILURES))})")
    return PROXY_FAILURES[kind]


def blocked_by(headers: list[tuple[str, str]], base_url: str) -> list[str]:
    """Targets of every RFC 7725 `Link: <...>; rel="blocked-by"` (RFC 8288 syntax), absolute."""
    found = []
    for key, value in headers:
        if key.strip().lower() != "link":
            continue
        for m in _LINK.finditer(value):
            for name, raw in _PARAM.findall(m.group(2)):
                rel = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
                if name.lower() == "rel" and "blocked-by" in rel.lower().split():
                    found.append(urljoin(base_url, m.group(1).strip()))
    return found


def named_authorities(text: str) -> dict:
    """Authorities and laws the text names, from the small tables above."""
    text = text[:MAX_SCAN]
    authorities = [label for label, regex in _AUTHORITIES if regex.search(text)]
    laws: list[str] = []
    for label, regex in _LAWS:
        if label == "article":
            laws += [m.group(0) for m in regex.finditer(text)][:5]
        elif regex.search(text):
            laws.append(label)
    return {"authorities": authorities, "laws": list(dict.fromkeys(laws))}


def diff_summary(before: str, after: str) -> dict:
    """Characters removed and added, and the diff itself cut to MAX_DIFF characters."""
    ops = diff_lines(before, after)
    removed = sum(len(text) for op, text in ops if op == "removed")
    added = sum(len(text) for op, text in ops if op == "added")
    kept, size, cut = [], 0, False
    for op, text in ops:
        if op == "equal" and len(text) > _EQUAL_CONTEXT:
            text = text[:_EQUAL_CONTEXT] + "…"
        if size + len(text) > MAX_DIFF:
            cut = True
            break
        kept.append([op, text])
        size += len(text)
    return {"removed_chars": removed, "added_chars": added, "diff": kept, "diff_truncated": cut}


def _matches(obs: Observation, fingerprints: FingerprintSet) -> list[Match]:
    # Notices rendered by scripts (X, Facebook) are only in the extracted text, not the served HTML.
    return _unique(fingerprints.match(obs.headers, obs.body_text) + fingerprints.match([], obs.main_text))


def _hop_matches(obs: Observation, fingerprints: FingerprintSet) -> list[Match]:
    found: list[Match] = []
    for _, location in obs.redirects:
        found += fingerprints.match([("Location", location)], "")
    return _unique(found)


def _redirect_reasons(obs: Observation, hop_matches: list[Match], conclusive: list[Match]) -> list[str]:
    # Scripts and <meta refresh> move the browser too, without an HTTP hop: the final URL tells.
    if not obs.redirects and _same_url(obs.requested_url, obs.final_url):
        return []
    why = []
    start, end = urlsplit(obs.requested_url), urlsplit(obs.final_url)
    if _site(start.hostname) != _site(end.hostname):
        why.append(f"redirected to another host ({end.hostname})")
    targets = [loc for _, loc in obs.redirects] + [obs.final_url]
    notices = [loc for loc in targets if any(m in loc.lower() for m in NOTICE_MARKERS)]
    if notices:
        why.append(f"redirected to a notice address ({notices[-1]})")
    if any(_conclusive(m) for m in hop_matches):
        why.append("a redirect matches a blockpage fingerprint")
    if conclusive:
        why.append("the page redirected to matches a blockpage fingerprint")
    if start.path.strip("/") and not end.path.strip("/") and not end.query and _site(start.hostname) == _site(
            end.hostname):
        why.append("redirected from an article to the site's home page")
    return why


def _conclusive(m: Match) -> bool:
    return m.scope not in WEAK_SCOPES and not m.name.startswith(WITHHELD_PREFIX)


def _same_url(a: str, b: str) -> bool:
    a, b = urlsplit(a.split("#")[0]), urlsplit(b.split("#")[0])
    # http -> https on the same address is an upgrade (HSTS), not a move.
    return (_site(a.hostname), a.path.rstrip("/"), a.query) == (_site(b.hostname), b.path.rstrip("/"), b.query)


def _site(host: str | None) -> str:
    host = (host or "").lower()
    return host[4:] if host.startswith("www.") else host


def _withheld_country(text: str) -> str | None:
    m = _COUNTRY.search(text[:MAX_SCAN])
    return m.group(1).strip() if m else None


def _unique(matches: list[Match]) -> list[Match]:
    return list(dict.fromkeys(matches))
