"""Files other archives wrote: `import`, `verify` and `reindex` on WARC 1.0/1.1 (plain or gzipped per
record), ARC and WACZ, and the refusal of damaged and tampered ones.

The files in ../shared/corpus/foreign-warcs/ were written by warcio, Wget, Scoop and Browsertrix;
its README's table says what each should give, and the first test walks that table. The others
build variants from those files or from our own export (an ARC gzipped per record, a WACZ with one
byte changed, a WACZ signed here with a fresh P-256 key).
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from warcio.archiveiterator import ArchiveIterator

from archive import catalog
from archive.warc.waczcheck import WaczInvalid, verify_wacz
from search import SearchQuery, open_backend

from .conftest import ROOT, run_cli
from .test_wacz import cli_env
from .webapp import LiveServer

CORPUS = ROOT.parent / "shared" / "corpus" / "foreign-warcs"


def corpus_table() -> list[dict[str, str]]:
    """The rows of the corpus README's table: file, written by, what it is, expected."""
    rows = []
    for line in (CORPUS / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            row = dict(zip(("file", "by", "what", "expected"), cells, strict=True))
            rows.append(row | {"file": cells[0].strip("`")})
    return rows


def _captures(home: Path) -> list[dict]:
    db = catalog.connect(home / "catalog.sqlite3")
    try:
        return [catalog.get_capture(db, r[0]) for r in db.execute("SELECT id FROM captures ORDER BY id")]
    finally:
        db.close()


def _hits(settings, q: str) -> list[str]:
    with open_backend(settings.search_backend, settings.index_dir) as backend:
        return [h.url for h in backend.search(SearchQuery(q=q, limit=20)).hits]


def _no_traceback(proc) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


def _html_responses(path: Path) -> list[str]:
    """Target URIs of the 2xx/3xx text/html responses in a WARC or ARC file, as warcio reads them."""
    with open(path, "rb") as fh:
        return [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh, arc2warc=True)
                if r.rec_type == "response" and r.http_headers
                and "text/html" in (r.http_headers.get_header("Content-Type") or "")
                and 200 <= int(r.http_headers.get_statuscode() or 0) < 400]


def _wacz_pages(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        urls = []
        for member in zf.namelist():
            if member.startswith("archive/"):
                copy = Path(path).parent / Path(member).name
                copy.write_bytes(zf.read(member))
                urls += _html_responses(copy)
                copy.unlink()
        return urls


@pytest.mark.parametrize("row", corpus_table(), ids=lambda row: row["file"])
def test_every_file_in_the_foreign_corpus_gives_what_its_readme_says(row, env, settings, tmp_path):
    source = CORPUS / row["file"]
    expected = row["expected"].lower()
    proc = run_cli(env, "import", str(source))
    _no_traceback(proc)
    if expected.startswith("must be refused"):
        assert proc.returncode == 2 and str(source) in proc.stderr and "nothing was imported" in proc.stderr
        assert "signature" in proc.stderr  # says which check failed
        assert not settings.warc_dir.exists() or not list(settings.warc_dir.iterdir())
        return
    if expected.startswith("damaged"):
        assert proc.returncode == 1, proc.stdout + proc.stderr
        damaged_at = int(re.search(rf"{re.escape(str(source))} \(kept whole as [^)]+\) offset (\d+):",
                                   proc.stdout).group(1))
        with open(source, "rb") as fh:
            it = ArchiveIterator(fh)
            offsets = [it.get_record_offset() for _ in it]
        assert damaged_at in offsets  # at the start of the damaged record
        assert [c["url"] for c in _captures(settings.archive_home)] == []  # no page before the damage
        (stored,) = settings.warc_dir.iterdir()
        assert stored.read_bytes() == source.read_bytes()  # kept whole, damage and all
        return

    assert "valid" in expected or "readable" in expected, row  # the table knows no fourth kind
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pages = _wacz_pages(source) if source.suffix == ".wacz" else _html_responses(source)
    captures = _captures(settings.archive_home)
    assert [c["url"] for c in captures] == pages and pages  # every HTML page, by its own URL
    for capture in captures:
        assert capture["title"] and capture["status"] == 200 and capture["indexed"]
        assert not capture["url"].startswith("<")  # Wget's <bracketed> URI, read as warcio reads it
        assert _hits(settings, f'"{capture["title"]}"') == [capture["url"]]
    if source.suffix == ".wacz":
        assert {c["source"]["kind"] for c in captures} == {"wacz"}
        assert all(c["source"]["package"] == source.name for c in captures)
        signed = "signature verifies" in expected
        assert all(c["source"]["signed"] is signed for c in captures)
        assert ("signed by btrix-sign-test.webrecorder.net at 2022-01-18T19:00:12Z" in proc.stdout) is signed
        # issue 13: the RFC 3161 timestamp over Browsertrix's signature is checked and reported too
        assert ("timestamped 2022-01-18T19:00:12Z by" in proc.stdout) is signed
        assert all((c["source"].get("timestamped_at") == "2022-01-18T19:00:12Z") is signed for c in captures)
    else:  # a plain file says so, and that nobody signed it
        kind = "arc" if ".arc" in source.name else "warc"
        assert all(c["source"] == {"kind": kind, "file": source.name, "signed": False} for c in captures)
    with LiveServer(settings) as server:  # the JSON API says where each capture came from (issue 13)
        shown = server.get(f"/api/captures/{captures[0]['id']}").json()["source"]
    noted = captures[0]["source"]
    assert (shown["kind"], shown["signed"], shown["signed_by"], shown["timestamped_at"]) == (
        noted["kind"], noted["signed"], noted.get("signed_by"), noted.get("timestamped_at"))

    # verify and reindex read the file the same way: digests check out, the same captures come back
    check = run_cli(env, "verify")
    assert check.returncode == 0, check.stdout + check.stderr
    rebuilt_home = tmp_path / "rebuilt"
    shutil.copytree(settings.warc_dir, rebuilt_home / "warcs")
    rebuilt = run_cli(dict(env, ARCHIVE_HOME=str(rebuilt_home)), "reindex", "--catalog")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    keep = ("url", "captured_at", "status", "title", "sha256", "source")
    assert [{k: c[k] for k in keep} for c in _captures(rebuilt_home)] == [{k: c[k] for k in keep} for c in captures]


def test_a_chunked_payload_is_indexed_de_chunked(env, settings):
    proc = run_cli(env, "import", str(CORPUS / "warcio__example-iana.org-chunked.warc"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (capture,) = _captures(settings.archive_home)
    assert capture["title"] == "Internet Assigned Numbers Authority"
    assert _hits(settings, '"Management of the DNS Root Zone"') == ["http://www.iana.org/"]
    db = catalog.connect(settings.catalog_path)
    main = catalog.get_records(db, capture["id"], role="main")[0]
    db.close()
    from archive.warc.store import read_payload
    body = read_payload(settings.warc_dir, main)
    assert body.lstrip().startswith(b"<!doctype html>") and b"\r\n0\r\n" not in body[-16:]


def _arc_records(path: Path) -> list[bytes]:
    """The records of an uncompressed ARC file, each with the newline that ends it."""
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        spans = []
        for record in it:
            it.read_to_end(record)
            spans.append((it.get_record_offset(), it.get_record_length()))
    data = path.read_bytes()
    return [data[offset:offset + length + 1] for offset, length in spans]


def test_an_arc_file_gzipped_per_record_imports_once(env, settings, tmp_path):
    arc = tmp_path / "example.arc.gz"
    arc.write_bytes(b"".join(gzip.compress(r, mtime=0) for r in _arc_records(CORPUS / "warcio__example.arc")))
    proc = run_cli(env, "import", str(arc))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (capture,) = _captures(settings.archive_home)
    assert (capture["url"], capture["title"], capture["captured_at"]) == (
        "http://example.com/", "Example Domain", "2014-02-16T05:02:21.000000Z")
    again = run_cli(env, "import", str(arc))  # the ARC record's id is stable: not imported twice
    assert again.returncode == 0 and "1 already in the archive" in again.stdout, again.stdout + again.stderr
    assert run_cli(env, "verify").returncode == 0


def test_a_whole_file_gzip_and_members_off_record_boundaries_are_damage(env, settings, tmp_path):
    plain = (CORPUS / "warcio__example.warc").read_bytes()
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(plain, mtime=0))
    split = tmp_path / "split.warc.gz"  # two members, the cut in the middle of the response record
    split.write_bytes(gzip.compress(plain[:1500], mtime=0) + gzip.compress(plain[1500:], mtime=0))
    for path in (whole, split):
        proc = run_cli(env, "import", str(path))
        _no_traceback(proc)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert re.search(rf"damaged: {re.escape(str(path))} \(kept whole as [^)]+\) offset \d+: ", proc.stdout)
    assert _captures(settings.archive_home) == []


def _rewrite(source: Path, target: Path, changes: dict[str, bytes]) -> Path:
    """A copy of a zip with some members' bytes replaced (or added), the rest as they were."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, changes.pop(info.filename, None) or src.read(info.filename))
        for name, data in changes.items():
            dst.writestr(name, data)
    return target


def _refused(env, settings, package: Path, *named: str) -> None:
    proc = run_cli(env, "import", str(package))
    _no_traceback(proc)
    assert proc.returncode == 2 and "nothing was imported" in proc.stderr, proc.stdout + proc.stderr
    for text in named:
        assert text in proc.stderr, (text, proc.stderr)
    assert not settings.warc_dir.exists() or not list(settings.warc_dir.iterdir())
    assert not settings.catalog_path.exists() or _captures(settings.archive_home) == []


def test_a_tampered_wacz_is_refused_naming_the_file_and_hash(env, settings, tmp_path):
    scoop = CORPUS / "scoop__example.com.wacz"
    with zipfile.ZipFile(scoop) as zf:
        warc = zf.read("archive/data.warc")
        package = json.loads(zf.read("datapackage.json"))
    changed = warc[:2000] + bytes([warc[2000] ^ 1]) + warc[2001:]  # one bit, inside the page's response
    got = "sha256:" + hashlib.sha256(changed).hexdigest()
    _refused(env, settings, _rewrite(scoop, tmp_path / "warc.wacz", {"archive/data.warc": changed}),
             "archive/data.warc", got, "does not match datapackage.json's sha256:ac2779ac")

    package["resources"][0]["hash"] = got  # the listing made to match: the package digest no longer does
    _refused(env, settings, _rewrite(scoop, tmp_path / "listing.wacz", {
        "archive/data.warc": changed, "datapackage.json": json.dumps(package).encode()}),
        "datapackage.json: sha256:", "datapackage.json's sha256:adfa35e9")

    extra = _rewrite(scoop, tmp_path / "extra.wacz", {"archive/more.warc": warc})
    _refused(env, settings, extra, "archive/more.warc: a WARC not listed in datapackage.json")


def _sign(package: Path, target: Path, key: ec.EllipticCurvePrivateKey, *, signed_hash: str | None = None) -> Path:
    """``package`` signed as the WACZ signing spec says, with a bare public key."""
    with zipfile.ZipFile(package) as zf:
        digest = json.loads(zf.read("datapackage-digest.json"))
    signature = key.sign((signed_hash or digest["hash"]).encode(), ec.ECDSA(hashes.SHA256()))
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    digest["signedData"] = {"hash": digest["hash"], "created": "2026-12-07T10:00:00Z", "software": "test signer",
                            "publicKey": base64.b64encode(public).decode(),
                            "signature": base64.b64encode(signature).decode()}
    return _rewrite(package, target, {"datapackage-digest.json": json.dumps(digest).encode()})


def test_our_wacz_signed_with_a_key_imports_elsewhere_and_the_record_page_says_so(archive_builder, web_settings,
                                                                                  tmp_path):
    capture_id = archive_builder.add("https://kloop.kg/blog/2024/04/tiktok/", "TikTok blocked in Kyrgyzstan",
                                     ["The security service ordered providers to block the platform."])
    exported = tmp_path / "ours.wacz"
    proc = run_cli(cli_env(web_settings), "export-wacz", "--capture", str(capture_id), "-o", str(exported))
    assert proc.returncode == 0, proc.stderr
    key = ec.generate_private_key(ec.SECP256R1())
    signed = _sign(exported, tmp_path / "signed.wacz", key)
    fingerprint = hashlib.sha256(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    assert verify_wacz(signed).signature.signer == f"public key sha256:{fingerprint}"

    elsewhere = tmp_path / "elsewhere"
    env = dict(cli_env(web_settings), ARCHIVE_HOME=str(elsewhere))
    forged = _sign(exported, tmp_path / "forged.wacz", ec.generate_private_key(ec.SECP256R1()))
    digest = json.loads(zipfile.ZipFile(forged).read("datapackage-digest.json"))
    digest["signedData"]["publicKey"] = json.loads(zipfile.ZipFile(signed).read(
        "datapackage-digest.json"))["signedData"]["publicKey"]  # another key's signature under our key
    forged = _rewrite(forged, tmp_path / "forged2.wacz", {"datapackage-digest.json": json.dumps(digest).encode()})
    with pytest.raises(WaczInvalid, match="does not verify"):
        verify_wacz(forged)
    proc = run_cli(env, "import", str(forged))
    assert proc.returncode == 2 and "does not verify" in proc.stderr and not (elsewhere / "warcs").exists()

    proc = run_cli(env, "import", str(signed))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"signed by public key sha256:{fingerprint} at 2026-12-07T10:00:00Z" in proc.stdout
    (capture,) = _captures(elsewhere)
    assert capture["title"] == "TikTok blocked in Kyrgyzstan" and capture["source"]["signed"] is True
    settings = web_settings.__class__.from_env(env)
    with LiveServer(settings) as server:
        page = server.get(f"/capture/{capture['id']}")
        assert page.status_code == 200
        assert "signed.wacz" in page.text and f"signed by public key sha256:{fingerprint}" in page.text


def test_bad_wacz_inputs_each_have_a_clear_error(env, settings, tmp_path):
    scoop = CORPUS / "scoop__example.com.wacz"
    with zipfile.ZipFile(scoop) as zf:
        names = [n for n in zf.namelist() if n != "datapackage.json"]
        no_listing = tmp_path / "no-listing.wacz"
        with zipfile.ZipFile(no_listing, "w") as out:
            for name in names:
                out.writestr(name, zf.read(name))
    _refused(env, settings, no_listing, "no datapackage.json")
    truncated = tmp_path / "cut.wacz"
    truncated.write_bytes(scoop.read_bytes()[:5000])
    proc = run_cli(env, "import", str(truncated))
    _no_traceback(proc)
    assert proc.returncode == 2 and str(truncated) in proc.stderr and "nothing was imported" in proc.stderr


def _our_capture_warc(path: Path, url: str, provenance_uri: str) -> None:
    """One capture in our layout (response, request, text, provenance), its provenance record at ``provenance_uri``."""
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders

    from archive.warc.store import Sha256WARCWriter

    body = b"<html><head><title>Quarterly water report</title></head><body><p>Quarterly water report.</p></html>"
    with open(path, "wb") as fh:
        writer = Sha256WARCWriter(fh, gzip=True, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "takedown-archive"}))
        response = writer.create_warc_record(url, "response", payload=BytesIO(body), length=len(body),
                                             http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                                                           protocol="HTTP/1.1"))
        writer.write_record(response)
        main_id = response.rec_headers.get_header("WARC-Record-ID")
        for uri, rec_type, data, kind, link in (
                (url, "request", b"", None, "WARC-Concurrent-To"),
                (f"urn:text:{url}", "resource", b"Quarterly water report.", "text/plain", "WARC-Concurrent-To"),
                (provenance_uri, "metadata", b'{"status": 200}', "application/json", "WARC-Refers-To")):
            http = StatusAndHeaders("GET / HTTP/1.1", [], is_http_request=True) if rec_type == "request" else None
            writer.write_record(writer.create_warc_record(uri, rec_type, payload=BytesIO(data), length=len(data),
                                                          warc_content_type=kind, http_headers=http,
                                                          warc_headers_dict={link: main_id}))


def test_reindex_reads_provenance_records_at_urn_pageinfo_and_at_the_page_url(env, settings):
    settings.warc_dir.mkdir(parents=True)
    _our_capture_warc(settings.warc_dir / "capture-20241101-1-00001.warc.gz", "https://old.example.org/report",
                      "https://old.example.org/report")  # as files were written before urn:pageinfo:
    _our_capture_warc(settings.warc_dir / "capture-20261207-1-00001.warc.gz", "https://new.example.org/report",
                      "urn:pageinfo:https://new.example.org/report")
    proc = run_cli(env, "reindex", "--catalog")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c["url"] for c in _captures(settings.archive_home)] == ["https://old.example.org/report",
                                                                    "https://new.example.org/report"]


def test_a_plain_warc_or_arc_capture_downloads_as_a_valid_warc_gz_and_wacz(env, settings, tmp_path):
    from .conftest import warcio_check
    from .test_wacz import wacz_validate

    for name in ("warcio__example.warc", "warcio__example.arc"):
        proc = run_cli(env, "import", str(CORPUS / name))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    captures = _captures(settings.archive_home)
    assert len(captures) == 2
    with LiveServer(settings) as server:
        for capture in captures:
            warc = server.get(f"/capture/{capture['id']}/warc")
            assert warc.status_code == 200 and int(warc.headers["Content-Length"]) == len(warc.content)
            path = tmp_path / f"capture-{capture['id']}.warc.gz"
            path.write_bytes(warc.content)
            with open(path, "rb") as fh:  # one gzip member per record, as the name says
                it = ArchiveIterator(fh)
                records = [(it.get_record_offset(), r.rec_type, r.rec_headers.get_header("WARC-Target-URI"))
                           for r in it]
            assert all(warc.content[offset:offset + 2] == b"\x1f\x8b" for offset, _, _ in records)
            assert ("response", "http://example.com/") in [(t, uri) for _, t, uri in records]
            warcio_check([path])
            package = tmp_path / f"capture-{capture['id']}.wacz"
            package.write_bytes(server.get(f"/capture/{capture['id']}/wacz").content)
            wacz_validate(package)
            assert verify_wacz(package).warcs  # and our own reader takes it back


def test_a_revisit_whose_original_is_in_another_file_under_another_url(env, settings, tmp_path):
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    def html(title: str) -> tuple[bytes, StatusAndHeaders]:
        body = f"<html><head><title>{title}</title></head><body><p>{title}, in full.</p></body></html>".encode()
        return body, StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")

    first, second = tmp_path / "first.warc.gz", tmp_path / "second.warc.gz"
    with open(first, "wb") as fh:  # warcio's own writer: SHA-1 digests, as warcio and pywb write them
        writer = WARCWriter(fh, gzip=True)
        body, head = html("Ministry report on water use")
        original = writer.create_warc_record("http://example.org/report", "response", payload=BytesIO(body),
                                             length=len(body), http_headers=head)
        writer.write_record(original)
    with open(second, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        body, head = html("Ministry report on water use")
        revisit = writer.create_revisit_record(  # names its original by URI and date only, no WARC-Refers-To
            "http://mirror.example.org/report", original.rec_headers.get_header("WARC-Payload-Digest"),
            "http://example.org/report", original.rec_headers.get_header("WARC-Date"), http_headers=head)
        writer.write_record(revisit)
        body, head = html("Follow-up on the water report")
        writer.write_record(writer.create_warc_record("http://example.org/follow-up", "response",
                                                      payload=BytesIO(body), length=len(body), http_headers=head))
    for path in (first, second):
        proc = run_cli(env, "import", str(path))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    db = catalog.connect(settings.catalog_path)
    try:
        follow_up = next(c for c in _captures(settings.archive_home) if c["url"] == "http://example.org/follow-up")
        refs = catalog.get_records(db, follow_up["id"], with_originals=True)
    finally:
        db.close()
    revisits = [r for r in refs if r.record_type == "revisit"]
    assert [r.target_uri for r in revisits] == ["http://mirror.example.org/report"]
    assert revisits[0].refers_to == original.rec_headers.get_header("WARC-Record-ID")
    assert refs[-1].role == "original" and refs[-1].warc_file.endswith("first.warc.gz")  # travels with it
    check = run_cli(env, "verify")
    assert check.returncode == 0, check.stdout + check.stderr
