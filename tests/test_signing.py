"""Signed WACZ (WACZ signing spec 0.1.0), RFC 3161 timestamps from a real TSA on 127.0.0.1, `verify-wacz`."""
from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from archive import catalog
from archive.keys import signing_key
from archive.warc.signing import TimestampError, archive_signer, check_timestamp
from archive.warc.wacz import export_wacz

from .conftest import ROOT, run_cli
from .test_wacz import TEXT, TITLE, URL, wacz_validate
from .webapp import ArchiveBuilder, make_settings

FOREIGN = ROOT.parent / "shared" / "corpus" / "foreign-warcs"


def cli_env(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TSA_URL", "SIGNING_KEY", "SIGNING_CERT")}
    return dict(env, ARCHIVE_HOME=str(home), PYTHONPATH=str(ROOT), **extra)


def signed_data(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("datapackage-digest.json"))["signedData"]


def verify_cli(path: Path, home: Path):
    return run_cli(cli_env(home), "verify-wacz", str(path))


@pytest.fixture
def tsa_archive(tmp_path, tsa):
    """An archive with one capture whose settings name the test TSA."""
    settings = make_settings(tmp_path / "home", tsa_url=tsa.url, tsa_certs=str(tsa.ca_pem))
    builder = ArchiveBuilder(settings)
    capture_id = builder.add(URL, TITLE, TEXT, lang="ru")
    yield settings, builder, capture_id
    builder.close()


def test_download_is_signed_with_the_published_key(archive_builder, web_server, tmp_path):
    capture_id = archive_builder.add(URL, TITLE, TEXT, lang="ru")
    path = tmp_path / "capture.wacz"
    path.write_bytes(web_server.get(f"/capture/{capture_id}/wacz").content)
    signed = signed_data(path)
    with zipfile.ZipFile(path) as zf:
        package = json.loads(zf.read("datapackage.json"))
        digest = json.loads(zf.read("datapackage-digest.json"))
    assert signed["hash"] == digest["hash"] and signed["created"] == package["created"]
    assert signed["version"] == "0.1.0" and "domain" not in signed and "timeSignature" not in signed

    published = web_server.get("/.well-known/wacz-signing-key.pem")
    assert published.status_code == 200
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
    key = load_pem_public_key(published.content)
    assert base64.b64encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode() \
        == signed["publicKey"]
    about = web_server.get("/about/signatures").text
    assert published.text.strip().splitlines()[1] in about and "verify-wacz" in about

    done = verify_cli(path, tmp_path / "elsewhere")  # nothing but the file: another, empty archive home
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    datapackage-digest.json: ECDSA P-256 signature" in done.stdout
    assert "verified; signed by public key sha256:" in done.stdout
    wacz_validate(path)  # py-wacz accepts the hashes and the package digest beside the signature


def test_signing_key_is_made_once_and_kept_private(web_settings):
    first = signing_key(web_settings)
    path = web_settings.archive_home / "signing_key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing_key(web_settings).private_numbers() == first.private_numbers()


def test_unusable_signing_key_is_a_clear_error(tmp_path):
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    with pytest.raises(RuntimeError, match="holds no usable private key"):
        signing_key(make_settings(tmp_path / "home", signing_key=str(bad)))
    with pytest.raises(RuntimeError, match="does not exist"):
        signing_key(make_settings(tmp_path / "home", signing_key=str(tmp_path / "missing.pem")))


def test_tsa_timestamps_the_signature(tsa_archive, tsa, tmp_path):
    settings, builder, capture_id = tsa_archive
    path = tmp_path / "stamped.wacz"
    export_wacz(builder.db, settings.warc_dir, [capture_id], path, signer=archive_signer(settings))
    signed = signed_data(path)
    reply = base64.b64decode(signed["timeSignature"])
    from cryptography import x509
    tsa_cert = x509.load_pem_x509_certificates(signed["timestampCert"].encode())[0]
    assert "Test TSA Unit" in tsa_cert.subject.rfc4514_string()
    # Our own check, and OpenSSL's, of the very token in the package.
    stamp = check_timestamp(reply, signed["signature"].encode(), signed["timestampCert"])
    created = datetime.fromisoformat(signed["created"].replace("Z", "+00:00"))
    assert abs((stamp.time - created).total_seconds()) < 600
    verified = tsa.openssl_verify(reply, signed["signature"].encode())
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stdout + verified.stderr
    assert tsa.openssl_verify(reply, signed["signature"].encode() + b"x").returncode != 0

    done = verify_cli(path, tmp_path / "elsewhere")
    assert done.returncode == 0, done.stdout
    assert "RFC 3161 timestamp over the signature" in done.stdout and "Test TSA Unit" in done.stdout
    wacz_validate(path)


def test_a_changed_timestamp_is_refused(tsa_archive, tmp_path):
    settings, builder, capture_id = tsa_archive
    path = tmp_path / "stamped.wacz"
    export_wacz(builder.db, settings.warc_dir, [capture_id], path, signer=archive_signer(settings))
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    digest = json.loads(members["datapackage-digest.json"])
    reply = bytearray(base64.b64decode(digest["signedData"]["timeSignature"]))
    reply[-5] ^= 1  # inside the TSA's signature
    digest["signedData"]["timeSignature"] = base64.b64encode(bytes(reply)).decode()
    members["datapackage-digest.json"] = json.dumps(digest).encode()
    forged = tmp_path / "forged.wacz"
    with zipfile.ZipFile(forged, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    done = verify_cli(forged, tmp_path / "elsewhere")
    assert done.returncode == 1
    assert "FAIL  datapackage-digest.json: timeSignature:" in done.stdout


def test_a_tsa_that_refuses_stops_the_export_and_leaves_no_file(tsa_archive, tsa, tmp_path):
    settings, builder, capture_id = tsa_archive
    refusing = make_settings(settings.archive_home, tsa_url=tsa.url.rsplit("/", 1)[0] + "/refuse")
    path = tmp_path / "never.wacz"
    with pytest.raises(TimestampError, match="no time-stamping authority gave a timestamp.*503.*TSA_URL"):
        export_wacz(builder.db, settings.warc_dir, [capture_id], path, signer=archive_signer(refusing))
    assert not path.exists() and not list(tmp_path.glob("never.wacz*"))


def flip(src: Path, dst: Path, member: str, at: int = 200) -> None:
    """Copy ``src`` to ``dst`` with one byte of ``member``'s stored bytes changed."""
    shutil.copy(src, dst)
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo(member)
    assert info.compress_type == zipfile.ZIP_STORED
    with open(dst, "r+b") as fh:
        fh.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(fh.read(2), "little"), int.from_bytes(fh.read(2), "little")
        pos = info.header_offset + 30 + name_len + extra_len + min(at, info.compress_size - 1)
        fh.seek(pos)
        byte = fh.read(1)
        fh.seek(pos)
        fh.write(bytes([byte[0] ^ 0x20]))


@pytest.mark.parametrize("member", ["warc", "datapackage.json"])
def test_any_changed_byte_is_caught_and_named(archive_builder, web_settings, tmp_path, member):
    capture_id = archive_builder.add(URL, TITLE, TEXT, lang="ru")
    path = tmp_path / "good.wacz"
    export_wacz(archive_builder.db, web_settings.warc_dir, [capture_id], path, signer=archive_signer(web_settings))
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".warc.gz")) if member == "warc" else member
    bad = tmp_path / "bad.wacz"
    flip(path, bad, name, at=100 if member == "warc" else 30)
    done = verify_cli(bad, tmp_path / "elsewhere")
    assert done.returncode == 1
    assert f"FAIL  {name}:" in done.stdout, done.stdout


def test_browsertrix_signed_package_verifies_and_tampered_one_is_refused(tmp_path):
    good = verify_cli(FOREIGN / "pywacz__valid_signed_example_1.wacz", tmp_path)
    assert good.returncode == 0, good.stdout
    assert "signed by btrix-sign-test.webrecorder.net at 2022-01-18T19:00:12Z" in good.stdout
    assert "timestamped 2022-01-18T19:00:12Z by" in good.stdout and "freetsa.org" in good.stdout
    bad = verify_cli(FOREIGN / "pywacz__invalid_signed_example_1.wacz", tmp_path)
    assert bad.returncode == 1 and "FAIL  datapackage-digest.json" in bad.stdout and "NOT VERIFIED" in bad.stdout


def test_verify_wacz_of_a_missing_or_non_zip_file(tmp_path):
    missing = verify_cli(tmp_path / "nothing.wacz", tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    junk = tmp_path / "junk.wacz"
    junk.write_bytes(b"this is not a zip")
    done = verify_cli(junk, tmp_path)
    assert done.returncode == 1 and "not a readable zip file" in done.stdout


def test_export_cli_signs_with_the_archive_key(archive_builder, web_settings, tmp_path):
    capture_id = archive_builder.add(URL, TITLE, TEXT, lang="ru")
    out = tmp_path / "cli.wacz"
    done = run_cli(cli_env(web_settings.archive_home), "export-wacz", "--capture", str(capture_id), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert signed_data(out)["publicKey"] == archive_signer(web_settings).public_key
    assert catalog.get_capture(archive_builder.db, capture_id)


def _capture_result(url: str, body: bytes):
    """A capture as the crawler hands one over (as tests/webapp.py's ArchiveBuilder makes it)."""
    from datetime import UTC
    from datetime import datetime as dt

    from crawler import CaptureResult
    from crawler.httpwire import Exchange

    when = dt(2026, 12, 7, 10, 0, tzinfo=UTC)
    exchange = Exchange(url=url, method="GET", started=when, ip="93.184.216.34",
                        request_head=b"GET / HTTP/1.1\r\nHost: kloop.kg\r\n\r\n", request_body=b"", status=200,
                        response_head=(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                                       b"Content-Length: %d\r\n\r\n" % len(body)))
    exchange.body.write(body)
    exchange.body_length = len(body)
    return CaptureResult(url=url, final_url=url, status=200, title=TITLE, started=when, ended=when,
                         exchanges=[exchange], main=exchange, blocked=[], failed=[], screenshot=b"",
                         dom=body.decode(), partial_reasons=[], provenance={"software": "signing tests"})


def test_each_capture_is_timestamped_when_stored(tmp_path, tsa):
    """TSA_URL set: the stored capture carries a urn:timestamp: record over its records' digests, which
    our check and `openssl ts -verify` accept, and which still groups with its capture on reindex."""
    from warcio.archiveiterator import ArchiveIterator

    from archive.capturing.store import Found, Storage, store
    from archive.rebuild.regroup import walk_captures
    from archive.warc.signing import check_records_timestamp
    from archive.warc.store import RollingWarcWriter, read_payload

    from .conftest import warcio_check

    settings = make_settings(tmp_path / "home", tsa_url=f"{tsa.url},{tsa.url.rsplit('/', 1)[0]}/refuse")
    db = catalog.connect(settings.catalog_path)
    writer = RollingWarcWriter(settings.warc_dir, settings.warc_max_size, "signing tests")
    body = "<html><head><title>Указ</title></head><body><p>Президент подписал указ.</p></body></html>".encode()
    try:
        stored = store(Found(URL, result=_capture_result(URL, body)),
                       Storage(db, writer, dedup=False, tsa_urls=settings.tsa_url, tsa_certs=tsa.ca_pem.read_text()))
    finally:
        writer.close()
    stamp_ref = next(r for r in stored.refs if r.role == "timestamp")
    assert stamp_ref.target_uri == f"urn:timestamp:{URL}" and stored.refs[-1].role == "provenance"
    payload = read_payload(settings.warc_dir, stamp_ref)
    found = json.loads(payload)
    assert [s["tsa"] for s in found["timestamps"]] == [tsa.url]  # the refusing authority cost only its stamp

    # The digests as warcio reads them back from the file, not as we wrote them.
    (warc,) = settings.warc_dir.glob("*.warc.gz")
    warcio_check([warc])
    with open(warc, "rb") as fh:
        read = [(r.rec_headers.get_header("WARC-Record-ID"), r.rec_headers.get_header("WARC-Block-Digest"))
                for r in ArchiveIterator(fh) if r.rec_type != "warcinfo"]
    stamped = read[:read.index((stamp_ref.record_id, stamp_ref.block_digest))] + read[-1:]
    (checked,) = check_records_timestamp(payload, stamped)
    assert "Test TSA Unit" in checked.authority
    manifest = found["manifest"].encode()
    reply = base64.b64decode(found["timestamps"][0]["reply"])
    verified = tsa.openssl_verify(reply, manifest)
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stderr
    with pytest.raises(ValueError, match="not those of the capture's records"):
        check_records_timestamp(payload, stamped[:-1])

    _, groups = walk_captures(warc)
    (group,) = list(groups)
    assert "timestamp" in [r.role for r in group.refs]
    db.close()


def test_without_tsa_url_no_timestamp_record_and_no_request(tmp_path, tsa):
    from archive.capturing.store import Found, Storage, store
    from archive.capturing.worker import storage_for
    from archive.warc.store import RollingWarcWriter

    settings = make_settings(tmp_path / "home")
    asked = len(tsa.replies)
    db = catalog.connect(settings.catalog_path)
    writer = RollingWarcWriter(settings.warc_dir, settings.warc_max_size, "signing tests")
    try:
        storage = storage_for(settings, db, writer)
        assert storage.tsa_urls == ()
        stored = store(Found(URL, result=_capture_result(URL, b"<html><body>x</body></html>")),
                       Storage(db, writer, dedup=False, tsa_urls=storage.tsa_urls))
        storage.backend.close()
    finally:
        writer.close()
        db.close()
    assert "timestamp" not in {r.role for r in stored.refs} and len(tsa.replies) == asked


def test_record_page_says_how_to_check_the_signature(archive_builder, web_server):
    capture_id = archive_builder.add(URL, TITLE, TEXT, lang="ru")
    page = web_server.get(f"/capture/{capture_id}").text
    assert 'id="verify-signature">python -m archive verify-wacz capture-' in page and 'href="/about/signatures"' in page


def _certificate_chain(tmp_path: Path, key, domain: str) -> Path:
    """A CA made here and a certificate for ``domain`` holding ``key``: the chain an archive with a
    certificate for its domain gives as SIGNING_CERT (leaf first)."""
    from datetime import UTC, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test signing CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
          .not_valid_after(now + timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    path = tmp_path / "chain.pem"
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca)))
    return path


def test_an_archive_with_a_domain_certificate_signs_for_its_domain(tmp_path):
    """SIGNING_CERT: the package names the domain and carries the chain instead of the bare key; the
    signature checks out under the certificate's key; a reader refuses a chain to a root it does not
    trust (ours here is made by the test), naming the domain; a chain for another key is refused."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import load_pem_x509_certificates

    plain = make_settings(tmp_path / "home")
    key = signing_key(plain)  # the archive's own key, made on first use
    chain = _certificate_chain(tmp_path, key, "archive.example.org")
    settings = make_settings(tmp_path / "home", signing_cert=str(chain))
    builder = ArchiveBuilder(settings)
    try:
        capture_id = builder.add(URL, TITLE, TEXT, lang="ru")
        out = tmp_path / "domain.wacz"
        done = run_cli(cli_env(settings.archive_home, SIGNING_CERT=str(chain)), "export-wacz", "--capture",
                       str(capture_id), "-o", str(out))
    finally:
        builder.close()
    assert done.returncode == 0, done.stderr
    signed = signed_data(out)
    assert signed["domain"] == "archive.example.org" and "publicKey" not in signed
    assert signed["domainCert"] == chain.read_text()
    certified = load_pem_x509_certificates(signed["domainCert"].encode())[0].public_key()
    certified.verify(base64.b64decode(signed["signature"]), signed["hash"].encode("ascii"),
                     ec.ECDSA(hashes.SHA256()))  # raises if the signature is not the certified key's
    wacz_validate(out)

    refused = verify_cli(out, tmp_path / "elsewhere")
    assert refused.returncode == 1
    assert "the certificate for archive.example.org does not chain to a trusted root" in refused.stdout

    (tmp_path / "other").mkdir()
    other = _certificate_chain(tmp_path / "other", ec.generate_private_key(ec.SECP256R1()), "archive.example.org")
    with pytest.raises(RuntimeError, match="first certificate is not for SIGNING_KEY"):
        archive_signer(make_settings(tmp_path / "home", signing_cert=str(other)))
