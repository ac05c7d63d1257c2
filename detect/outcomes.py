"""What a capture can show happened to a page: the outcome vocabulary, declared once.

The classifier returns these names; the catalog stores them (``captures.outcome``); removal
events open on the ``removal`` ones; search facets, the removal pages, the JSON API, its
schemas and OpenAPI enum all take them from here. ``label`` is marked with ``N_`` for the
translation catalog (babel.cfg): the web pages show it translated, the API and feed in English.
"""
from __future__ import annotations

from dataclasses import dataclass

from crawler.failures import UNREACHABLE_KINDS


def N_(message: str) -> str:
    """Marks ``message`` for the translation catalog (pybabel extract); the web pages translate it when shown."""
    return message


@dataclass(frozen=True)
class OutcomeKind:
    name: str
    label: str  # a few words for people; translated on the web pages
    meaning: str  # when a capture gets it
    removal: bool  # after an `ok`, it opens a removal event
    site_failure: bool  # the site could not be reached at all (kinds: UNREACHABLE_KINDS)


OUTCOMES: tuple[OutcomeKind, ...] = (
    OutcomeKind("ok", N_("available"), "served as before", False, False),
    OutcomeKind("not_found", N_("not found"), "HTTP 404 or 410", True, False),
    OutcomeKind("legal", N_("unavailable for legal reasons"), "HTTP 451 (RFC 7725)", True, False),
    OutcomeKind("blockpage", N_("blockpage"), "the page matches a blockpage fingerprint (OONI format)", True, False),
    OutcomeKind("redirect_notice", N_("redirected to a notice"), "redirected to a blocking or removal notice",
                True, False),
    OutcomeKind("withheld", N_("withheld in country"), "the platform withholds it where the vantage stands",
                True, False),
    OutcomeKind("changed", N_("changed"), "the text moved further from the last `ok` capture than the threshold",
                True, False),
    OutcomeKind("unreachable", N_("unreachable"),
                "no response: " + ", ".join(UNREACHABLE_KINDS) + " (OONI's failure kinds)", True, True),
    # A server having a bad minute is not a removal.
    OutcomeKind("error", N_("capture error"), "another HTTP status, e.g. a server error (5xx)", False, False),
)
BY_NAME: dict[str, OutcomeKind] = {o.name: o for o in OUTCOMES}
LABELS: tuple[str, ...] = tuple(o.name for o in OUTCOMES)
OUTCOME_LABELS: dict[str, str] = {o.name: o.label for o in OUTCOMES}  # English; pages translate them
REMOVAL_OUTCOMES: frozenset[str] = frozenset(o.name for o in OUTCOMES if o.removal)

__all__ = ["BY_NAME", "LABELS", "OUTCOMES", "OUTCOME_LABELS", "REMOVAL_OUTCOMES", "OutcomeKind"]
