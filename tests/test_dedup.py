"""Deduplication with revisit records: ten real captures of one page, read back every way."""
from __future__ import annotations

import base64
import gzip
import hashlib
import random
from collections import Counter
from io import BytesIO

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive import catalog
from archive.capturing import jobs
from archive.capturing.worker import capture_now, run_worker
from archive.settings import Settings
from archive.warc.dedup import MIN_GZIPPED_PAYLOAD, worth_a_revisit
from archive.warc.store import WarcStoreError, read_bytes, read_payload

from .conftest import warcio_check
from .sites import DATA, send
from .webapp import LiveServer

PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
SITE = "http://news.example.com"
PAGE = SITE + "/gallery.html"
CAPTURES = 10
# Payloads worth a revisit, and how many URLs serve each on the page.
DEDUPED = {"/gallery.html": 1, "/static/gallery.css": 1, "/static/gallery.js": 1, "/static/photo.png": 2}
TINY = "/static/logo.png"  # 157 bytes: stored again every time


def warc_digest(data: bytes) -> str:
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode()


def fixture_bytes(path: str) -> bytes:
    return (DATA / "site" / path.lstrip("/")).read_bytes()


def all_records(settings: Settings) -> list:
    """Every record of every WARC file: (record, payload), digests checked by warcio."""
    out = []
    for path in sorted(settings.warc_dir.glob("*.warc.gz*")):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh, check_digests=True):
                payload = rec.content_stream().read()
                assert not rec.digest_checker.problems, rec.digest_checker.problems
                out.append((rec, payload))
    return out


def header(rec, name: str) -> str | None:
    return rec.rec_headers.get_header(name)


@pytest.fixture(scope="module")
def ten(tmp_path_factory, host_rules):
    """The photo report captured ten times, one after another, by a real worker."""
    home = tmp_path_factory.mktemp("dedup") / "home"
    settings = Settings.from_env({}, archive_home=str(home), capture_allow_networks="127.0.0.1/32",
                                 capture_host_rules=host_rules, capture_settle_timeout="3",
                                 capture_concurrency="1")
    db = catalog.connect(settings.catalog_path)
    job_ids = [jobs.enqueue(db, PAGE) for _ in range(CAPTURES)]
    run_worker(settings, once=True)
    finished = [jobs.get_job(db, j) for j in job_ids]
    assert [j["status"] for j in finished] == ["done"] * CAPTURES, finished
    capture_ids = [j["capture_id"] for j in finished]
    for capture_id in capture_ids:
        assert catalog.get_capture(db, capture_id)["partial"] is False
    yield settings, db, capture_ids
    db.close()


def test_payloads_are_stored_once(ten):
    settings, _, _ = ten
    records = all_records(settings)
    for path, urls in DEDUPED.items():
        digest = warc_digest(fixture_bytes(path))
        kinds = Counter(r.rec_type for r, _ in records if header(r, "WARC-Payload-Digest") == digest)
        assert kinds == {"response": 1, "revisit": CAPTURES * urls - 1}, path
        stored = [p for r, p in records if r.rec_type == "response" and header(r, "WARC-Payload-Digest") == digest]
        assert stored == [fixture_bytes(path)]
    tiny = Counter(r.rec_type for r, _ in records
                   if header(r, "WARC-Target-URI") == SITE + TINY and r.rec_type != "request")
    assert tiny == {"response": CAPTURES}


def test_the_same_image_twice_in_one_page(ten):
    settings, db, capture_ids = ten
    refs = catalog.get_records(db, capture_ids[0])
    digest = warc_digest(fixture_bytes("/static/photo.png"))
    photos = [r for r in refs if r.payload_digest == digest]
    assert sorted(r.record_type for r in photos) == ["response", "revisit"]
    response = next(r for r in photos if r.record_type == "response")
    revisit = next(r for r in photos if r.record_type == "revisit")
    assert revisit.refers_to == response.record_id
    assert {response.target_uri, revisit.target_uri} == {SITE + "/static/photo.png", SITE + "/static/photo.png?w=320"}


def revisit_block(settings: Settings, ref: catalog.RecordRef) -> tuple[bytes, bytes]:
    """A stored revisit record's WARC headers and its block, straight from the gzip member."""
    raw = gzip.decompress(read_bytes(settings.warc_dir, ref))
    head, _, rest = raw.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    assert rest[length:] == b"\r\n\r\n"
    return head, rest[:length]


def test_every_revisit_has_the_right_headers_and_an_original(ten):
    settings, db, capture_ids = ten
    records = all_records(settings)
    by_id = {header(r, "WARC-Record-ID"): r for r, _ in records}
    revisits = [(i, r) for i, (r, _) in enumerate(records) if r.rec_type == "revisit"]
    assert len(revisits) >= (CAPTURES - 1) * len(DEDUPED)
    for i, rec in revisits:
        assert rec.rec_headers.protocol == "WARC/1.1"
        assert header(rec, "WARC-Profile") == PROFILE
        original = by_id[header(rec, "WARC-Refers-To")]
        assert original.rec_type == "response" and header(original, "WARC-Truncated") is None
        assert header(rec, "WARC-Refers-To-Target-URI") == header(original, "WARC-Target-URI")
        assert header(rec, "WARC-Refers-To-Date") == header(original, "WARC-Date")
        assert header(rec, "WARC-Payload-Digest") == header(original, "WARC-Payload-Digest")
        assert header(rec, "WARC-IP-Address") == "127.0.0.1"
        # The HTTP response headers are kept: the record is the exchange minus the payload.
        assert rec.http_headers.get_statuscode() == "200"
        assert rec.http_headers.get_header("Content-Type") == original.http_headers.get_header("Content-Type")
        assert rec.http_headers.get_header("Content-Length") == original.http_headers.get_header("Content-Length")
        # The request comes next and names the revisit.
        request = records[i + 1][0]
        assert request.rec_type == "request"
        assert header(request, "WARC-Concurrent-To") == header(rec, "WARC-Record-ID")

    # warcio does not check a revisit's block digest; check it here, on the stored bytes.
    for capture_id in capture_ids:
        for ref in catalog.get_records(db, capture_id):
            if ref.record_type != "revisit":
                continue
            head, block = revisit_block(settings, ref)
            assert block.startswith(b"HTTP/1.1 200 ") and block.endswith(b"\r\n\r\n")
            assert ref.block_digest == warc_digest(block) and f"WARC-Block-Digest: {ref.block_digest}".encode() in head
            assert ref.refers_to == header(by_id[ref.record_id], "WARC-Refers-To")
            original = catalog.payload_ref(db, ref)
            assert original.role == "original" and original.record_type == "response"
            assert warc_digest(read_payload(settings.warc_dir, original)) == ref.payload_digest


def test_warcio_check_passes(ten):
    settings, _, _ = ten
    out = warcio_check(sorted(settings.warc_dir.glob("*.warc.gz*")))
    assert "digest present but not checked (revisit)" in out
    assert "digest pass" in out


def test_the_main_document_is_deduplicated_and_still_reads(ten):
    settings, db, capture_ids = ten
    page = fixture_bytes("/gallery.html")
    last = catalog.get_capture(db, capture_ids[-1])
    assert last["sha256"] == hashlib.sha256(page).hexdigest()
    main = catalog.get_records(db, capture_ids[-1], role="main")[0]
    assert main.record_type == "revisit"
    with pytest.raises(WarcStoreError, match="revisit record holds no payload"):
        read_payload(settings.warc_dir, main)
    assert read_payload(settings.warc_dir, catalog.payload_ref(db, main)) == page
    first_main = catalog.get_records(db, capture_ids[0], role="main")[0]
    assert first_main.record_type == "response" and main.refers_to == first_main.record_id


def test_downloaded_warc_of_the_tenth_capture_holds_every_payload(ten):
    settings, db, capture_ids = ten
    capture_id = capture_ids[-1]
    with LiveServer(settings) as server:
        r = server.get(f"/capture/{capture_id}/warc")
        api = server.get(f"/api/captures/{capture_id}").json()
        record_page = server.get(f"/capture/{capture_id}")
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content)
    assert record_page.status_code == 200

    seen, payloads, refers_to = [], {}, []
    for rec in ArchiveIterator(BytesIO(r.content), check_digests=True):
        payload = rec.content_stream().read()
        assert not rec.digest_checker.problems, rec.digest_checker.problems
        seen.append((rec.rec_type, header(rec, "WARC-Record-ID")))
        if rec.rec_type == "response":
            payloads[header(rec, "WARC-Payload-Digest")] = payload
        if rec.rec_type == "revisit":
            refers_to.append(header(rec, "WARC-Refers-To"))
    own = catalog.get_records(db, capture_id)
    originals = catalog.get_records(db, capture_id, with_originals=True)[len(own):]
    # warcinfo, the capture's records in order, then the originals its revisits refer to.
    assert seen == [(ref.record_type, ref.record_id) for ref in own + originals]
    assert seen[0][0] == "warcinfo" and {o.role for o in originals} == {"original"}
    assert set(refers_to) <= {rid for kind, rid in seen if kind == "response"}
    for path in DEDUPED:
        data = fixture_bytes(path)
        assert payloads[warc_digest(data)] == data, path

    main = next(rec for rec in api["records"] if rec["role"] == "main")
    assert (main["type"], main["target_uri"]) == ("revisit", PAGE)
    assert main["refers_to"] in {o.record_id for o in originals}
    assert api["sha256"] == hashlib.sha256(fixture_bytes("/gallery.html")).hexdigest()


def test_later_captures_store_far_fewer_bytes(ten):
    settings, db, capture_ids = ten

    def stored(capture_id: int, types: tuple[str, ...] | None = None) -> int:
        return sum(r.length for r in catalog.get_records(db, capture_id)
                   if r.role != "warcinfo" and (types is None or r.record_type in types))

    http = ("response", "revisit", "request")
    first, later = stored(capture_ids[0], http), [stored(c, http) for c in capture_ids[1:]]
    first_all, later_all = stored(capture_ids[0]), [stored(c) for c in capture_ids[1:]]
    print(f"\nHTTP records: capture 1 {first} bytes; captures 2..{CAPTURES} {sum(later)} bytes in all, "
          f"{sum(later) / len(later):.0f} each ({sum(later) / len(later) / first:.0%} of capture 1)")
    print(f"all records (with screenshot, DOM, text, provenance): capture 1 {first_all} bytes; "
          f"captures 2..{CAPTURES} {sum(later_all) / len(later_all):.0f} each")
    assert max(later) < first / 3
    assert max(later_all) < first_all


def test_a_truncated_original_is_never_a_dedup_target(env, site):
    data = random.Random(7).randbytes(40_000)
    site.routes["/dedup/big.bin"] = lambda h: send(h, 200, data, "application/octet-stream")
    site.routes["/dedup/prefix.bin"] = lambda h: send(h, 200, data[:20_000], "application/octet-stream")
    for name in ("big", "prefix"):
        site.routes[f"/dedup/{name}.html"] = lambda h, name=name: send(h, 200, (
            f"<html><title>{name}</title><body><p>{name}</p><script>fetch('/dedup/{name}.bin')</script>"
            "</body></html>").encode())
    limited = Settings.from_env(env, capture_max_resource_bytes="20000")
    normal = Settings.from_env(env)
    digest = warc_digest(data[:20_000])

    def record_of(row, path):
        return next(r for r in row["records"] if r.target_uri == SITE + path)

    cut = capture_now(limited, SITE + "/dedup/big.html")
    first = record_of(cut, "/dedup/big.bin")
    assert (first.record_type, first.truncated, first.payload_digest) == ("response", "length", digest)
    # The same 20,000 bytes, whole this time: a truncated record must not stand in for them.
    whole = record_of(capture_now(normal, SITE + "/dedup/prefix.html"), "/dedup/prefix.bin")
    assert (whole.record_type, whole.truncated, whole.payload_digest) == ("response", None, digest)
    # Cut short again: a truncated response is never replaced, even with a whole original at hand.
    again = record_of(capture_now(limited, SITE + "/dedup/big.html"), "/dedup/big.bin")
    assert (again.record_type, again.truncated) == ("response", "length")
    db = catalog.connect(normal.catalog_path)
    assert catalog.find_original(db, digest).record_id == whole.record_id
    # A later whole copy is the revisit.
    later = record_of(capture_now(normal, SITE + "/dedup/prefix.html"), "/dedup/prefix.bin")
    assert (later.record_type, later.refers_to) == ("revisit", whole.record_id)
    warcio_check(sorted(normal.warc_dir.glob("*.warc.gz*")))


def test_dedup_can_be_switched_off(env):
    settings = Settings.from_env(dict(env, WARC_DEDUP="off"))
    assert settings.warc_dedup is False
    for _ in range(2):
        row = capture_now(settings, PAGE)
        assert [r.record_type for r in row["records"] if r.record_type == "revisit"] == []
    db = catalog.connect(settings.catalog_path)
    digest = warc_digest(fixture_bytes("/static/photo.png"))
    assert db.execute("SELECT count(*) FROM records WHERE payload_digest = ? AND record_type = 'response'",
                      (digest,)).fetchone()[0] == 4


def test_which_payloads_are_worth_a_revisit():
    rng = random.Random(1)
    assert not worth_a_revisit(BytesIO(b""), 0)
    assert not worth_a_revisit(BytesIO(fixture_bytes(TINY)), len(fixture_bytes(TINY)))
    assert not worth_a_revisit(BytesIO(rng.randbytes(MIN_GZIPPED_PAYLOAD - 1)), MIN_GZIPPED_PAYLOAD - 1)
    assert worth_a_revisit(BytesIO(rng.randbytes(MIN_GZIPPED_PAYLOAD + 16)), MIN_GZIPPED_PAYLOAD + 16)
    repetitive = b"p { margin: 0 }\n" * 200  # 3,200 bytes that gzip to a few dozen
    assert not worth_a_revisit(BytesIO(repetitive), len(repetitive))
    body = BytesIO(fixture_bytes("/static/gallery.css"))
    assert worth_a_revisit(body, len(body.getvalue())) and body.tell() == 0
