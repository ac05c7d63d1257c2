"""The one check every URL passes before the archive will capture it.

Scheme, length and normal form (``crawler.netpolicy.normalize_url``), then the host rules and the
address policy (``check_url``: no private, loopback or reserved address unless
``CAPTURE_ALLOW_NETWORKS`` allows it). The web form, the API, the CLI, watchlists, orders and the
worker all call it; the recording proxy checks each address again when it connects.
"""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from archive.settings import Settings
from crawler.netpolicy import HostRules, URLRejected, check_url, normalize_url


def url_checker(settings: Settings) -> Callable[[str], str]:
    """The URL check with these settings: call it with a URL, get it normalized or URLRejected.

    One DNS lookup per host for the life of the check, so a list of URLs (an import, an order,
    a page's outlinks) costs one lookup per host; make a new check for each request or job, so a
    verdict is never older than that. A host that does not resolve passes (its capture records
    the DNS failure, itself evidence of a removal); the recording proxy checks the address again
    when it connects.
    """
    verdicts: dict[str, str | None] = {}  # netloc -> why it is refused, None when allowed
    rules = HostRules(settings.capture_host_rules)

    def check(url: str) -> str:
        normalized = normalize_url(url, settings.max_url_length)
        netloc = urlsplit(normalized).netloc
        if netloc not in verdicts:
            try:
                check_url(normalized, settings.capture_allow_networks, rules, settings.max_url_length,
                          allow_unresolvable=True)
                verdicts[netloc] = None
            except URLRejected as exc:
                verdicts[netloc] = str(exc)
        if verdicts[netloc] is not None:
            raise URLRejected(verdicts[netloc])
        return normalized

    return check


def url_variants(url: str) -> tuple[str, str]:
    """The http and https forms of a normalised URL: one page to every reader of captures (lookups,
    orders, watches, removal events), as a SURT key would match it; sites move to https, and a
    submission or an order keeps the scheme it was given."""
    rest = url.split("://", 1)[1]
    return f"http://{rest}", f"https://{rest}"
