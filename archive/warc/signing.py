"""Signing WACZ packages (WACZ signing spec ``wacz-auth`` 0.1.0) and RFC 3161 trusted timestamps.

A package's ``datapackage-digest.json`` gets ``signedData``: the hash of ``datapackage.json``, the
instant it was made, and an ECDSA P-256 signature over the hash by the archive's key, with either
the bare public key (anonymous) or a certificate chain for the archive's domain. Where time-stamping
authorities are configured (``TSA_URL``), one of them timestamps the signature (``timeSignature``:
its RFC 3161 TimeStampResp, base64; ``timestampCert``: its certificate chain), so the package's time
rests on someone other than the archive.

Requests and replies are built and checked with ``rfc3161-client`` (Trail of Bits); keys and
signatures with ``cryptography``. Nothing here is hand-written cryptography.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.settings import Settings
from crawler.version import __version__

log = logging.getLogger(__name__)

SPEC_VERSION = "0.1.0"
SIGN_SOFTWARE = f"takedown-archive/{__version__} (WACZ signer)"
TSA_TIMEOUT = 30  # seconds one authority may take to answer
MAX_CLOCK_SKEW = 600  # seconds between signedData's created and the TSA's time the spec allows
TSR_TYPE = "application/timestamp-reply"


class TimestampError(RuntimeError):
    """No configured authority gave a usable timestamp; the message says what each answered."""


def _pem(cert) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding
    return cert.public_bytes(Encoding.PEM).decode("ascii")


def public_key_der(key) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def key_fingerprint(public_der: bytes) -> str:
    """How a bare public key is named: ``sha256:`` and the hex of its DER SubjectPublicKeyInfo."""
    return "sha256:" + hashlib.sha256(public_der).hexdigest()


def request_timestamp(data: bytes, url: str, timeout: float = TSA_TIMEOUT) -> bytes:
    """Ask the authority at ``url`` to timestamp SHA-256(``data``); its checked TimeStampResp (DER)."""
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

    request = (TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256).nonce(nonce=True)
               .cert_request(cert_request=True).build())
    http = urllib.request.Request(url, data=request.as_bytes(), method="POST",
                                  headers={"Content-Type": "application/timestamp-query"})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:  # noqa: S310 (configured http(s) URLs)
            reply = answer.read()
    except (urllib.error.URLError, OSError) as exc:
        raise TimestampError(f"time-stamping authority {url} did not answer: {exc}") from None
    try:
        parsed = decode_timestamp_response(reply)
    except ValueError as exc:
        raise TimestampError(f"{url} answered with no RFC 3161 reply ({exc})") from None
    if parsed.status not in (0, 1):
        raise TimestampError(f"{url} refused the timestamp (status {parsed.status}: {parsed.status_string})")
    if parsed.tst_info.message_imprint.message != hashlib.sha256(data).digest():
        raise TimestampError(f"{url} timestamped something else than what was asked")
    if parsed.tst_info.nonce != request.nonce:
        raise TimestampError(f"{url} answered with another request's nonce")
    return reply


def first_timestamp(data: bytes, urls: tuple[str, ...]) -> tuple[str, bytes]:
    """The first authority of ``urls`` that timestamps ``data``: (its URL, its reply)."""
    failures = []
    for url in urls:
        try:
            return url, request_timestamp(data, url)
        except TimestampError as exc:
            log.warning("%s", exc)
            failures.append(str(exc))
    raise TimestampError("no time-stamping authority gave a timestamp: " + "; ".join(failures)
                         + " (check TSA_URL)")


def reply_chain(reply: bytes, known: str = "") -> str:
    """The TSA's certificate chain as PEM, the signer first, then each issuer up to a root: from the
    certificates in the reply and the ``known`` ones (TSA_CERTS: authorities often send only their own)."""
    from cryptography import x509
    from rfc3161_client import decode_timestamp_response

    parsed = decode_timestamp_response(reply)
    certs = [x509.load_der_x509_certificate(c) for c in parsed.signed_data.certificates]
    certs += x509.load_pem_x509_certificates(known.encode()) if known.strip() else []
    signer = next(iter(parsed.signed_data.signer_infos))
    chain = [c for c in certs if c.issuer == signer.issuer and c.serial_number == signer.serial_number]
    while chain and chain[-1].issuer != chain[-1].subject:
        issuer = next((c for c in certs if c.subject == chain[-1].issuer and c not in chain), None)
        if issuer is None:
            break
        chain.append(issuer)
    return "".join(_pem(c) for c in chain)


@dataclass(frozen=True)
class Timestamp:
    """A verified timestamp: when, by whom, and the root its chain ends in."""

    time: datetime
    authority: str  # the TSA certificate's subject
    root: str  # the chain's last certificate: subject and SHA-256 fingerprint, for the reader to judge

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%dT%H:%M:%SZ} by {self.authority}"


def check_timestamp(reply: bytes, data: bytes, chain_pem: str | None = None) -> Timestamp:
    """Check an RFC 3161 reply over ``data``: its signature by the TSA certificate, that certificate's
    chain (``chain_pem``, else the certificates in the reply) at the time stamped, the TSA key usage and
    the imprint. Raises ValueError saying what fails."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    try:
        parsed = decode_timestamp_response(reply)
    except ValueError as exc:
        raise ValueError(f"not an RFC 3161 timestamp reply ({exc})") from None
    chain = x509.load_pem_x509_certificates((chain_pem or reply_chain(reply)).encode())
    if not chain:
        raise ValueError("no certificate of the time-stamping authority to check its signature with")
    builder = VerifierBuilder().tsa_certificate(chain[0]).add_root_certificate(chain[-1])
    for middle in chain[1:-1]:
        builder = builder.add_intermediate_certificate(middle)
    try:
        builder.build().verify_message(parsed, data)
    except VerificationError as exc:
        raise ValueError(f"the timestamp does not verify: {exc}") from None
    root = chain[-1]
    return Timestamp(parsed.tst_info.gen_time, chain[0].subject.rfc4514_string(),
                     f"{root.subject.rfc4514_string()} (sha256:{root.fingerprint(hashes.SHA256()).hex()})")


@dataclass(frozen=True)
class Signer:
    """The archive's signing key, its certificate chain if it has one, and the TSAs to ask."""

    key: Any  # cryptography EllipticCurvePrivateKey (P-256)
    domain_cert: str | None = None  # PEM chain, the first certificate holding ``key``
    tsa_urls: tuple[str, ...] = ()
    tsa_certs: str = ""  # PEM: the authorities' certificates up to their roots (TSA_CERTS)

    @property
    def domain(self) -> str | None:
        if not self.domain_cert:
            return None
        from cryptography import x509
        cert = x509.load_pem_x509_certificates(self.domain_cert.encode())[0]
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise ValueError("SIGNING_CERT's first certificate names no domain (no subjectAltName)") from None
        return names.get_values_for_type(x509.DNSName)[0]

    @property
    def public_key(self) -> str:
        """The public key as the spec's ``publicKey``: base64 DER SubjectPublicKeyInfo."""
        return base64.b64encode(public_key_der(self.key)).decode("ascii")

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(public_key_der(self.key))

    def public_pem(self) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        return self.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def sign(self, package_hash: str, created: str) -> dict[str, Any]:
        """``signedData`` for a package whose ``datapackage.json`` hashes to ``package_hash``
        (``sha256:<hex>``) and says it was ``created`` then. Raises TimestampError when TSAs are
        configured and none answers: a package promised a timestamp is not shipped without one."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        signature = base64.b64encode(self.key.sign(package_hash.encode("ascii"), ec.ECDSA(hashes.SHA256())))
        signed: dict[str, Any] = {"hash": package_hash, "created": created, "software": SIGN_SOFTWARE,
                                  "version": SPEC_VERSION, "signature": signature.decode("ascii")}
        if self.domain_cert:
            signed.update(domain=self.domain, domainCert=self.domain_cert)
        else:
            signed["publicKey"] = self.public_key
        if self.tsa_urls:
            # The spec timestamps the signature as written (its base64 text), as authsign does.
            url, reply = first_timestamp(signed["signature"].encode("ascii"), self.tsa_urls)
            chain = reply_chain(reply, self.tsa_certs)
            try:  # checked as a reader will check it, before a package ships with it
                check_timestamp(reply, signed["signature"].encode("ascii"), chain)
            except ValueError as exc:
                raise TimestampError(f"{url}'s timestamp cannot be checked ({exc}); put the authority's "
                                     "certificate chain, up to its root, in TSA_CERTS") from None
            signed.update(timeSignature=base64.b64encode(reply).decode("ascii"), timestampCert=chain)
        return signed


def archive_signer(settings: Settings) -> Signer:
    """The archive's signer as its settings say (``SIGNING_KEY``, ``SIGNING_CERT``, ``TSA_URL``)."""
    from pathlib import Path

    from archive.keys import signing_key

    cert = None
    if settings.signing_cert:
        try:
            cert = Path(settings.signing_cert).read_text()
        except OSError as exc:
            raise RuntimeError(f"SIGNING_CERT: cannot read {settings.signing_cert} ({exc}); give a PEM chain") from None
    signer = Signer(signing_key(settings), cert, tuple(settings.tsa_url), tsa_certs_text(settings))
    if cert:
        from cryptography import x509
        if x509.load_pem_x509_certificates(cert.encode())[0].public_key() != signer.key.public_key():
            raise RuntimeError(f"SIGNING_CERT: {settings.signing_cert}'s first certificate is not for SIGNING_KEY")
        signer.domain  # noqa: B018 (fails early for a certificate naming no domain)
    return signer


TIMESTAMP_URI = "urn:timestamp:"  # the WARC record keeping a capture's timestamps: urn:timestamp:<page URL>


def records_manifest(records: list[tuple[str, str]]) -> bytes:
    """What a capture's timestamp is over: one line per WARC record, its WARC-Record-ID and
    WARC-Block-Digest, in the order written."""
    return "".join(f"{record_id} {digest}\n" for record_id, digest in records).encode("ascii")


def timestamp_records(records: list[tuple[str, str]], tsa_urls: tuple[str, ...], tsa_certs: str = "") -> bytes:
    """The JSON payload of a capture's timestamp record: the manifest and each authority's checked reply
    (every configured one that answers, so the time does not rest on one of them); b"" if none did."""
    manifest = records_manifest(records)
    stamps = []
    for url in tsa_urls:
        try:
            reply = request_timestamp(manifest, url)
            chain = reply_chain(reply, tsa_certs)
            stamp = check_timestamp(reply, manifest, chain)
        except (TimestampError, ValueError) as exc:
            log.warning("capture not timestamped by %s: %s", url, exc)
            continue
        stamps.append({"tsa": url, "time": f"{stamp.time:%Y-%m-%dT%H:%M:%SZ}", "authority": stamp.authority,
                       "reply": base64.b64encode(reply).decode("ascii"), "chain": chain})
    if not stamps:
        return b""
    return json.dumps({"manifest": manifest.decode("ascii"), "timestamps": stamps}, indent=1).encode("utf-8")


def check_records_timestamp(payload: bytes, records: list[tuple[str, str]]) -> list[Timestamp]:
    """Check a capture's timestamp record against the records as read from the WARC: the manifest must
    be theirs and every reply must verify over it. Raises ValueError saying what fails."""
    found = json.loads(payload)
    if found.get("manifest", "").encode("ascii") != records_manifest(records):
        raise ValueError("the timestamped digests are not those of the capture's records as stored")
    return [check_timestamp(base64.b64decode(s["reply"]), records_manifest(records), s.get("chain"))
            for s in found.get("timestamps", [])]


def tsa_certs_text(settings: Settings) -> str:
    """The PEM text of TSA_CERTS' files."""
    from pathlib import Path

    text = ""
    for path in settings.tsa_certs:
        try:
            text += Path(path).read_text()
        except OSError as exc:
            raise RuntimeError(f"TSA_CERTS: cannot read {path} ({exc}); give PEM files of the authorities' "
                               "certificate chains") from None
    return text
