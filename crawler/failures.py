"""Why the recording proxy could not fetch something: its failure kinds, declared once.

Each kind says whether it tells about the site (it could not be reached: the capture is kept as
evidence, outcome ``unreachable``) and, if so, under which of the outcome's kinds, the ones OONI
records (dns, refused, reset, closed, tls, timeout). The others are our own refusals or a vantage's fault:
nothing about the site is learnt, and the job fails with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FailureKind:
    name: str  # ProxyError.kind, and "kind" in a capture's failed-request list
    meaning: str
    site_kind: str | None  # the unreachable outcome's kind when the site could not be reached; None: not the site


FAILURE_KINDS: tuple[FailureKind, ...] = (
    FailureKind("dns", "the host name did not resolve", "dns"),
    FailureKind("refused", "the server refused the connection", "refused"),
    FailureKind("connect", "no connection could be made to the server", "refused"),
    FailureKind("reset", "the connection was reset or closed before a whole reply", "reset"),
    FailureKind("closed", "the connection was closed without an answer (OONI: eof_error)", "closed"),
    FailureKind("protocol", "what came back was not an HTTP reply that can be read", "reset"),
    FailureKind("tls", "the TLS handshake with the server failed", "tls"),
    FailureKind("timeout", "the server did not answer in time", "timeout"),
    FailureKind("blocked", "the address policy refused the address (private, loopback, ...)", None),
    FailureKind("vantage", "the vantage point's proxy could not be used", None),
)
# Proxy failure kind -> the unreachable outcome's kind, for the kinds that say the site could not be reached.
SITE_FAILURES: dict[str, str] = {k.name: k.site_kind for k in FAILURE_KINDS if k.site_kind}
# The unreachable outcome's kinds.
UNREACHABLE_KINDS: tuple[str, ...] = tuple(dict.fromkeys(SITE_FAILURES.values()))

__all__ = ["FAILURE_KINDS", "SITE_FAILURES", "UNREACHABLE_KINDS", "FailureKind"]
