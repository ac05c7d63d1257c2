"""Reading and verifying WACZ packages written by any tool (WACZ 1.0 and 1.1.x).

``verify_wacz`` checks a package before anything is taken from it: every file listed in
``datapackage.json`` against its hash and size, every WARC under ``archive/`` listed there,
``datapackage.json`` itself against ``datapackage-digest.json`` (1.1), and, where the package is
signed (the WACZ signing spec's ``signedData``), the ECDSA P-256 signature over that hash, made
either with a bare ``publicKey`` or with a key certified for a ``domain`` (``domainCert``: a
chain to a root that certifi trusts, valid for that domain when the package was signed), and its
RFC 3161 ``timeSignature`` over the signature (``timestampCert``), within 10 minutes of ``created``. A
package failing any check raises WaczInvalid with every problem found (which file, which hash).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from archive.warc.signing import MAX_CLOCK_SKEW, Timestamp, check_timestamp

DATAPACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
PAGES = "pages/pages.jsonl"
WARC_SUFFIXES = (".warc.gz", ".warc")
CHUNK = 1 << 20


class WaczInvalid(ValueError):
    """A package that does not check out; ``problems`` says each thing wrong, naming the file;
    ``checks`` every check made, passed or not, in order."""

    def __init__(self, path: Path, problems: list[str], checks: list[tuple[bool, str]] | None = None):
        self.path, self.problems = Path(path), problems
        self.checks = checks if checks is not None else [(False, p) for p in problems]
        super().__init__(f"{path}: not a valid WACZ package: " + "; ".join(problems))


class Checks(list):
    """The problems found (the list itself, as before) and every check made, in order (``done``)."""

    def __init__(self) -> None:
        super().__init__()
        self.done: list[tuple[bool, str]] = []

    def append(self, problem: str) -> None:  # type: ignore[override]
        super().append(problem)
        self.done.append((False, problem))

    def __iadd__(self, problems):  # type: ignore[override]
        for problem in problems:
            self.append(problem)
        return self

    def passed(self, what: str) -> None:
        self.done.append((True, what))


@dataclass(frozen=True)
class Signature:
    """Who signed a package and when, as verified."""

    signer: str  # the certified domain, or "public key sha256:<fingerprint of the key>"
    signed_at: str  # signedData's ``created``, as written
    software: str
    timestamp: Timestamp | None = None  # the RFC 3161 timestamp over the signature, verified

    def __str__(self) -> str:
        text = f"signed by {self.signer} at {self.signed_at}"
        return text + (f", timestamped {self.timestamp}" if self.timestamp else ", no trusted timestamp")


@dataclass
class WaczPackage:
    """A package that checked out: its WARCs, its pages' titles, its signature if any."""

    path: Path
    version: str
    software: str
    warcs: list[str] = field(default_factory=list)  # member names, in the package's order
    titles: dict[str, str] = field(default_factory=dict)  # page URL -> title, from pages.jsonl
    signature: Signature | None = None
    checks: list[tuple[bool, str]] = field(default_factory=list)  # (passed, what), every check made

    @contextmanager
    def open(self, member: str) -> Iterator[IO[bytes]]:
        """A member's bytes, streamed from the package."""
        with zipfile.ZipFile(self.path) as zf, zf.open(member) as fh:
            yield fh

    def size(self, member: str) -> int:
        with zipfile.ZipFile(self.path) as zf:
            return zf.getinfo(member).file_size

    def source(self) -> dict[str, Any]:
        """What the catalog keeps of where an imported capture came from."""
        return {"kind": "wacz", "package": self.path.name, "software": self.software,
                "signed": self.signature is not None,
                "signed_by": self.signature.signer if self.signature else None,
                "signed_at": self.signature.signed_at if self.signature else None,
                "timestamped_at": (f"{self.signature.timestamp.time:%Y-%m-%dT%H:%M:%SZ}"
                                   if self.signature and self.signature.timestamp else None),
                "timestamped_by": (self.signature.timestamp.authority
                                   if self.signature and self.signature.timestamp else None)}


def is_wacz(path: Path) -> bool:
    """A zip file, or the start of one (a cut-off package is still a package, to be refused as such)."""
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04" or zipfile.is_zipfile(path)


def _hash_of(zf: zipfile.ZipFile, name: str, algo: str) -> tuple[str, int]:
    digest, size = hashlib.new(algo), 0
    try:
        with zf.open(name) as fh:
            while data := fh.read(CHUNK):
                digest.update(data)
                size += len(data)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        # A changed byte inside a member fails the zip's own CRC before our hash is done.
        return f"unreadable ({exc})", size
    return digest.hexdigest(), size


def _check_hash(zf: zipfile.ZipFile, name: str, expected: Any, size: Any, problems: list[str]) -> None:
    algo, _, want = str(expected or "").partition(":")
    if not want or algo.lower() not in hashlib.algorithms_available:
        problems.append(f"{name}: datapackage.json gives no usable hash for it ({expected!r})")
        return
    if name not in zf.namelist():
        problems.append(f"{name}: listed in datapackage.json but not in the package")
        return
    got, got_size = _hash_of(zf, name, algo.lower())
    if got != want.lower():
        problems.append(f"{name}: {algo}:{got} does not match datapackage.json's {expected}")
    elif size is not None and size != got_size:
        problems.append(f"{name}: {got_size} bytes, datapackage.json says {size}")
    elif isinstance(problems, Checks):
        problems.passed(f"{name}: {expected} as listed")


def _json(zf: zipfile.ZipFile, name: str, problems: list[str]) -> dict | None:
    try:
        value = json.loads(zf.read(name))
    except KeyError:
        return None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        problems.append(f"{name}: its bytes were changed or damaged ({exc})")
        return None
    except ValueError as exc:
        problems.append(f"{name}: not JSON ({exc})")
        return None
    if not isinstance(value, dict):
        problems.append(f"{name}: not a JSON object")
        return None
    return value


def verify_wacz(path: Path) -> WaczPackage:
    """Check the package at ``path`` (see the module's docstring); WaczInvalid lists what fails.

    The checks made, passed or not, are the package's ``checks`` (or the exception's)."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WaczInvalid(path, [f"not a readable zip file ({exc})"]) from None
    problems = Checks()
    with zf:
        package = _json(zf, DATAPACKAGE, problems)
        if package is None:
            raise WaczInvalid(path, problems or [f"no {DATAPACKAGE}: a WACZ lists and hashes its files there"])
        resources = package.get("resources")
        if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
            raise WaczInvalid(path, [f"{DATAPACKAGE}: no list of resources"])
        problems += [f"{n}: in the package but not listed in {DATAPACKAGE}, so nothing vouches for it"
                     for n in zf.namelist() if n not in {str(r.get("path")) for r in resources}
                     and n not in (DATAPACKAGE, DIGEST) and not n.endswith("/")]
        listed = set()
        for resource in resources:
            name = str(resource.get("path") or "")
            listed.add(name)
            _check_hash(zf, name, resource.get("hash"), resource.get("bytes"), problems)
        warcs = [n for n in zf.namelist() if n.startswith("archive/") and n.endswith(WARC_SUFFIXES)]
        problems += [f"{n}: a WARC not listed in {DATAPACKAGE}, so its bytes cannot be checked"
                     for n in warcs if n not in listed]
        if not warcs:
            problems.append("no WARC file under archive/")
        signature = None
        digest = _json(zf, DIGEST, problems)
        if digest is not None:
            want = digest.get("hash")
            if digest.get("path", DATAPACKAGE) != DATAPACKAGE:
                problems.append(f"{DIGEST}: names {digest.get('path')!r}, not {DATAPACKAGE}")
            else:
                _check_hash(zf, DATAPACKAGE, want, None, problems)
            if digest.get("signedData") is not None:
                signature = _signature(digest["signedData"], want, problems)
            else:
                problems.passed(f"{DIGEST}: not signed (nothing says who made the package)")
        else:
            problems.passed(f"{DIGEST}: none (a WACZ 1.0 package; nothing binds its file list)")
        titles = _titles(zf)
    if problems:
        raise WaczInvalid(path, list(problems), problems.done)
    found = WaczPackage(path, str(package.get("wacz_version") or "1.0.0"), str(package.get("software") or ""),
                        warcs, titles, signature)
    found.checks = problems.done
    return found


def _titles(zf: zipfile.ZipFile) -> dict[str, str]:
    titles: dict[str, str] = {}
    if PAGES not in zf.namelist():
        return titles
    try:
        listing = zf.read(PAGES)
    except (zipfile.BadZipFile, zlib.error, EOFError):
        return titles  # its hash check has said so already
    for line in listing.decode("utf-8", errors="replace").splitlines():
        try:
            page = json.loads(line)
        except ValueError:
            continue  # pages.jsonl is a listing, not evidence: a bad line costs a title, no more
        if isinstance(page, dict) and page.get("url") and page.get("title") and "format" not in page:
            titles.setdefault(str(page["url"]), str(page["title"]))
    return titles


def _signature(signed: Any, package_hash: Any, problems: list[str]) -> Signature | None:
    """Verify ``signedData``; on failure add the reason to ``problems`` and return None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(signed, dict):
        problems.append(f"{DIGEST}: signedData is not an object")
        return None
    if signed.get("hash") != package_hash:
        problems.append(f"{DIGEST}: the signed hash {signed.get('hash')} is not the package's {package_hash}")
        return None
    try:
        if signed.get("publicKey"):
            key = _public_key(signed["publicKey"])
            signer = "public key sha256:" + hashlib.sha256(base64.b64decode(signed["publicKey"])).hexdigest()
        elif signed.get("domain") and signed.get("domainCert"):
            key = _certified_key(signed["domain"], signed["domainCert"], _when(signed.get("created")))
            signer = str(signed["domain"])
        else:
            raise ValueError("signedData has neither publicKey nor domain and domainCert")
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise ValueError("the signing key is not an ECDSA P-256 key")
        key.verify(_der(base64.b64decode(signed.get("signature") or "")), str(signed["hash"]).encode(),
                   ec.ECDSA(_sha256()))
    except InvalidSignature:
        problems.append(f"{DIGEST}: the signature over {package_hash} does not verify with the signer's key")
        return None
    except (ValueError, TypeError) as exc:
        problems.append(f"{DIGEST}: signature cannot be verified: {exc}")
        return None
    if isinstance(problems, Checks):
        problems.passed(f"{DIGEST}: ECDSA P-256 signature over {package_hash} by {signer}")
    stamp = None
    if signed.get("timeSignature"):
        stamp = _time_signature(signed, problems)
        if stamp is None:
            return None
    elif isinstance(problems, Checks):
        problems.passed(f"{DIGEST}: no timeSignature (the signing time rests on the signer's word)")
    return Signature(signer, str(signed.get("created") or ""), str(signed.get("software") or ""), stamp)


def _time_signature(signed: dict, problems: list[str]) -> Timestamp | None:
    """Check ``timeSignature``: an RFC 3161 reply over the signature's text, signed by ``timestampCert``'s
    first certificate, its time within 10 minutes of ``created``."""
    try:
        reply = base64.b64decode(str(signed["timeSignature"]), validate=True)
        stamp = check_timestamp(reply, str(signed.get("signature") or "").encode("ascii"),
                                signed.get("timestampCert") or None)
        created = _when(signed.get("created"))
    except (ValueError, TypeError, binascii.Error) as exc:
        problems.append(f"{DIGEST}: timeSignature: {exc}")
        return None
    skew = abs((stamp.time - created).total_seconds())
    if skew > MAX_CLOCK_SKEW:
        problems.append(f"{DIGEST}: signedData's created {signed.get('created')} is {skew:.0f} s from the "
                        f"timestamp's {stamp.time:%Y-%m-%dT%H:%M:%SZ}; the spec allows {MAX_CLOCK_SKEW} s")
        return None
    if isinstance(problems, Checks):
        problems.passed(f"{DIGEST}: RFC 3161 timestamp over the signature, {stamp}, imprint and TSA signature "
                        f"verify; chain ends in {stamp.root}")
        problems.passed(f"{DIGEST}: created {signed.get('created')} is within {MAX_CLOCK_SKEW} s of the timestamp")
    return stamp


def _sha256():
    from cryptography.hazmat.primitives import hashes
    return hashes.SHA256()


def _when(created: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"signedData's created {created!r} is not an ISO 8601 time") from None


def _public_key(text: str):
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    return load_der_public_key(base64.b64decode(text))


def _der(signature: bytes) -> bytes:
    """A DER ECDSA signature; a raw r||s one (what WebCrypto makes, 64 bytes for P-256) converted."""
    if len(signature) != 64:
        return signature
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


def _certified_key(domain: str, pem: str, when: datetime):
    """The key of ``domain``'s certificate, once its chain checks out at ``when`` against certifi's roots."""
    import certifi
    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    with warnings.catch_warnings():  # a few roots in the bundle have non-positive serials: not ours to judge
        warnings.simplefilter("ignore")
        roots = Store(x509.load_pem_x509_certificates(Path(certifi.where()).read_bytes()))
        certs = x509.load_pem_x509_certificates(pem.encode())
    verifier = PolicyBuilder().store(roots).time(when).build_server_verifier(x509.DNSName(domain))
    try:
        verifier.verify(certs[0], certs[1:])
    except VerificationError as exc:
        raise ValueError(f"the certificate for {domain} does not chain to a trusted root at {when:%Y-%m-%dT%H:%M:%SZ}"
                         f" ({exc})") from None
    return certs[0].public_key()
