"""WARC files in an S3-compatible object store (WARC_STORE=s3://bucket/prefix), on a real SeaweedFS.

Every capture's file is closed, uploaded, read back against its SHA-256 and only then catalogued; the
local copy goes. Record reads (record page, /web/, WACZ export, the replay origin, `verify`) are ranged
GETs: each GetObject the store sends is counted here from botocore's view of the reply (status 206,
Content-Range, bytes received), so a whole-object download would show.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive import catalog
from archive.replay.origin import create_replay_app
from archive.warc.objects import SHA256_META, ObjectStoreError, S3WarcStore, warc_store
from archive.warc.store import RollingWarcWriter, read_payload
from archive.warc.verify import verify_archive

from .conftest import ROOT, run_cli
from .seaweed import S3Service
from .test_verify import rewrite_member
from .test_wacz import OTHER, TEXT, TITLE, URL
from .test_warcstore import resource
from .waiting import wait_until
from .webapp import ArchiveBuilder, LiveServer, make_settings

MULTIPART = 5 << 20  # the smallest part S3 takes: a test file past it goes up in parts


@pytest.fixture
def s3_settings(seaweed: S3Service, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name, value in seaweed.env(s3_bucket).items():
        monkeypatch.setenv(name, value)  # boto3 reads the credentials from the environment, as in production
    return make_settings(tmp_path / "home", warc_store=f"s3://{s3_bucket}/warcs", s3_endpoint_url=seaweed.endpoint,
                         s3_multipart_threshold=str(MULTIPART))


class GetCounter:
    """Every GetObject reply the store's client received: (status, Range asked, bytes received)."""

    def __init__(self, store: S3WarcStore):
        self.gets: list[tuple[int, str | None, int]] = []
        self.lock = threading.Lock()
        store.client.meta.events.register("after-call.s3.GetObject", self.after)

    def after(self, http_response, parsed, context=None, **kwargs) -> None:
        headers = parsed.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        with self.lock:
            self.gets.append((http_response.status_code, headers.get("content-range"),
                              int(headers.get("content-length", 0))))

    def take(self) -> list[tuple[int, str | None, int]]:
        with self.lock:
            taken, self.gets = self.gets, []
        return taken


def objects(service: S3Service, bucket: str) -> dict[str, dict]:
    client = service.client()
    found = {}
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        found[item["Key"]] = client.head_object(Bucket=bucket, Key=item["Key"])
    return found


def spool_warcs(settings) -> list[str]:
    return sorted(p.name for p in settings.warc_dir.iterdir() if ".warc" in p.name)


def cli_env(settings, service: S3Service, bucket: str) -> dict:
    return dict(os.environ, ARCHIVE_HOME=str(settings.archive_home), PYTHONPATH=str(ROOT),
                S3_MULTIPART_THRESHOLD=str(MULTIPART), **service.env(bucket))


def test_captures_are_uploaded_checked_and_read_back_by_range(s3_settings, seaweed, s3_bucket):
    builder = ArchiveBuilder(s3_settings)
    try:
        first = builder.add(URL, TITLE, TEXT, lang="ru")
        second = builder.add(*OTHER)
    finally:
        builder.close()
    assert spool_warcs(s3_settings) == [], "the local copies stay after their upload"
    stored = objects(seaweed, s3_bucket)
    client = seaweed.client()
    refs = {cid: catalog.get_records(catalog.connect(s3_settings.catalog_path), cid) for cid in (first, second)}
    names = {ref.warc_file for rs in refs.values() for ref in rs}
    assert sorted(stored) == sorted(f"warcs/{name}" for name in names) and len(names) == 2  # a file per capture
    for key, head in stored.items():
        body = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert head["Metadata"][SHA256_META] == hashlib.sha256(body).hexdigest()
        types = [r.rec_type for r in ArchiveIterator(io.BytesIO(body))]  # warcio reads the stored file
        assert types[0] == "warcinfo" and "response" in types and "metadata" in types

    store = warc_store(s3_settings)
    counter = GetCounter(store)
    size = {name: stored[f"warcs/{name}"]["ContentLength"] for name in names}
    with LiveServer(s3_settings) as server:
        page = server.get(f"/capture/{first}")
        assert page.status_code == 200 and TEXT[0] in page.text
        gets = counter.take()
        main_file = refs[first][0].warc_file
        assert gets and all(status == 206 and rng for status, rng, _ in gets), gets
        assert sum(n for *_, n in gets) < size[main_file], "the record page fetched the whole file"

        wayback = server.get(f"/web/{URL}", allow_redirects=True)
        assert wayback.status_code == 200 and TITLE in wayback.text
        assert all(status == 206 for status, *_ in counter.take())

        cdx = server.get(f"/cdx?url={URL}&fl=mimetype,statuscode")
        assert cdx.status_code == 200 and cdx.text.split() == ["text/html", "200"], cdx.text
        (status, rng, received), = counter.take()  # the page record's headers: one ranged GET
        assert status == 206 and received <= 65536

        package = server.get(f"/capture/{first}/wacz")
        assert package.status_code == 200
        with zipfile.ZipFile(io.BytesIO(package.content)) as zf:
            warc = next(n for n in zf.namelist() if n.startswith("archive/"))
            uris = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(zf.open(warc))]
        assert URL in uris
        gets = counter.take()
        assert gets and all(status == 206 and rng for status, rng, _ in gets), gets

    replay = LiveServer(s3_settings)  # waitress in a thread, serving the replay origin's app instead
    replay.server.application = create_replay_app(s3_settings, replay.url)
    with replay:
        safe = replay.get(f"/safe/{second}")
        assert safe.status_code == 200 and OTHER[2][0].encode() in safe.content
        gets = counter.take()
        assert gets and all(status == 206 for status, *_ in gets)
        assert sum(n for *_, n in gets) < size[refs[second][0].warc_file]

    with catalog.connect(s3_settings.catalog_path) as db:
        report = verify_archive(db, store, [first])  # records where the catalog says: ranged reads
        assert report.problems == [] and report.cataloged > 0
        assert all(status == 206 for status, *_ in counter.take())
        report = verify_archive(db, store)  # every file end to end, and each object against its SHA-256
        assert report.problems == [] and report.files == 2


def test_file_past_the_threshold_goes_up_in_parts(s3_settings, seaweed, s3_bucket):
    store = warc_store(s3_settings)
    parts = []
    store.client.meta.events.register("after-call.s3.UploadPart", lambda **kw: parts.append(1))
    builder = ArchiveBuilder(s3_settings)
    try:
        big = builder.add(URL, TITLE, TEXT, screenshot=os.urandom(MULTIPART + (1 << 20)))
    finally:
        builder.close()
    assert len(parts) >= 2
    (key, head), = objects(seaweed, s3_bucket).items()
    assert head["ContentLength"] > MULTIPART and head["ETag"].strip('"').endswith(f"-{len(parts)}")
    with catalog.connect(s3_settings.catalog_path) as db:
        assert verify_archive(db, store).problems == []
        shot = catalog.get_records(db, big, role="screenshot")[0]
    counter = GetCounter(store)
    assert len(read_payload(store, shot)) == MULTIPART + (1 << 20)
    (status, rng, received), = counter.take()
    assert status == 206 and rng.startswith(f"bytes {shot.offset}-") and received == shot.length


def test_a_changed_object_is_found_by_verify(s3_settings, seaweed, s3_bucket, tmp_path):
    builder = ArchiveBuilder(s3_settings)
    try:
        first = builder.add(URL, TITLE, TEXT, lang="ru")
        second = builder.add(*OTHER)
    finally:
        builder.close()
    main = catalog.get_records(catalog.connect(s3_settings.catalog_path), first, role="main")[0]
    key = f"warcs/{main.warc_file}"
    client = seaweed.client()
    head = client.head_object(Bucket=s3_bucket, Key=key)
    local = tmp_path / main.warc_file
    local.write_bytes(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    rewrite_member(local, main, [(b"September 2023", b"September 202" + bytes([d])) for d in b"4567890128"])
    client.put_object(Bucket=s3_bucket, Key=key, Body=local.read_bytes(), Metadata=head["Metadata"])

    env = cli_env(s3_settings, seaweed, s3_bucket)
    proc = run_cli(env, "verify")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"s3://{s3_bucket}/{key} has SHA-256 {hashlib.sha256(local.read_bytes()).hexdigest()}, but was " \
           f"stored with {head['Metadata'][SHA256_META]}" in proc.stdout
    assert f"{main.warc_file} offset {main.offset} {main.record_id}: payload digest failed" in proc.stdout
    with catalog.connect(s3_settings.catalog_path) as db:  # ranged reads of one capture's records
        problems = verify_archive(db, warc_store(s3_settings), [first]).problems
        assert sorted(p.message.split(":")[0] for p in problems) == ["block digest failed", "payload digest failed"]
        assert verify_archive(db, warc_store(s3_settings), [second]).problems == []


class BlackHole:
    """A TCP listener that takes connections and never answers: an object store that hangs."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def test_file_left_by_a_crash_before_its_upload_is_uploaded_at_the_next_start(s3_settings, seaweed, s3_bucket,
                                                                              env):
    store_env = dict(env, **seaweed.env(s3_bucket), ARCHIVE_HOME=str(s3_settings.archive_home))
    hole = BlackHole()
    try:
        with open(s3_settings.archive_home.parent / "capture.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "archive", "capture", "http://news.example.com/"],
                                    env=dict(store_env, S3_ENDPOINT_URL=f"http://127.0.0.1:{hole.port}"), cwd=ROOT,
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            # The file is closed (renamed from .open) just before its upload starts; the store hangs it.
            warc_dir = s3_settings.warc_dir
            closed = wait_until(lambda: [p for p in warc_dir.glob("*.warc.gz")] if hole.accepted else None,
                                "the capture's WARC closed and its upload begun",
                                seen=lambda: (proc.poll(), sorted(warc_dir.glob("*")) if warc_dir.exists() else []))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        hole.close()
    (path,), = [closed]
    left = path.read_bytes()
    assert objects(seaweed, s3_bucket) == {}
    with catalog.connect(s3_settings.catalog_path) as db:  # never catalogued: it was never stored
        assert db.execute("SELECT count(*) FROM captures").fetchone()[0] == 0

    done = run_cli(store_env, "worker", "--once", "--no-scheduler", timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"stored WARC file {path.name}" in done.stderr
    stored = objects(seaweed, s3_bucket)
    assert list(stored) == [f"warcs/{path.name}"]
    body = seaweed.client().get_object(Bucket=s3_bucket, Key=f"warcs/{path.name}")["Body"].read()
    assert body == left and stored[f"warcs/{path.name}"]["Metadata"][SHA256_META] == hashlib.sha256(left).hexdigest()
    assert spool_warcs(s3_settings) == []


def test_a_capture_by_chromium_lands_in_the_bucket(s3_settings, seaweed, s3_bucket, env):
    store_env = dict(env, **seaweed.env(s3_bucket), ARCHIVE_HOME=str(s3_settings.archive_home))
    proc = run_cli(store_env, "capture", "http://news.example.com/", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert spool_warcs(s3_settings) == []
    assert sorted(objects(seaweed, s3_bucket)) == [f"warcs/{name}" for name in out["warc_files"]]
    check = run_cli(store_env, "verify")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "all digests and catalog entries match" in check.stdout, check.stdout


def test_imports_go_to_the_bucket_and_a_lost_catalog_comes_back_from_it(s3_settings, seaweed, s3_bucket,
                                                                        tmp_path):
    from .test_import import browsertrix_warc
    from .test_reindex import _captures, _records, _search_ids

    builder = ArchiveBuilder(s3_settings)
    try:
        builder.add(URL, TITLE, TEXT, lang="ru")
    finally:
        builder.close()
    env = cli_env(s3_settings, seaweed, s3_bucket)
    warc = browsertrix_warc(tmp_path / "crawl.warc.gz")
    imported = run_cli(env, "import", str(warc))
    assert imported.returncode == 0, imported.stderr
    assert spool_warcs(s3_settings) == []
    keys = sorted(objects(seaweed, s3_bucket))
    assert len(keys) == 2 and any(key.startswith("warcs/import-") for key in keys)
    with catalog.connect(s3_settings.catalog_path) as db:
        captures, records = _captures(db), _records(db)
    assert len(captures) == 3  # ours, and the two pages of the imported crawl
    for path in s3_settings.archive_home.glob("catalog.sqlite3*"):  # the machine is gone; the bucket is not
        path.unlink()

    rebuilt = run_cli(env, "reindex", "--catalog")
    assert rebuilt.returncode == 0, rebuilt.stderr
    with catalog.connect(s3_settings.catalog_path) as db:  # new ids, in file-name order: compare the rest
        again = _captures(db)
        # The imported pages come back as they were; ours (a test-made row) with its URL, page digest, records.
        assert sorted(map(repr, again[:2])) == sorted(map(repr, captures[1:]))
        assert (again[2]["url"], again[2]["sha256"]) == (captures[0]["url"], captures[0]["sha256"])
        assert sorted(_records(db)) == sorted(records)
        found = db.execute("SELECT id FROM captures WHERE title LIKE '%zanzibarite%' OR url LIKE '%zanzibar%'"
                           ).fetchall()
    assert _search_ids(s3_settings, "zanzibarite mine") == [str(row[0]) for row in found] != []
    assert spool_warcs(s3_settings) == []  # the downloads for the walk are gone


@pytest.mark.parametrize("name, value, says", [
    ("WARC_STORE", "/srv/warcs", "is not s3://bucket/prefix; leave it empty"),
    ("WARC_STORE", "s3:///warcs", "is not s3://bucket/prefix"),
    ("S3_MULTIPART_THRESHOLD", "1000", "S3 refuses parts under 5 MiB"),
    ("RATE_LIMIT_STORAGE", "postgres://db/limits", "is not a storage flask-limiter knows"),
])
def test_bad_store_settings_are_refused_naming_them(tmp_path, name, value, says):
    env = dict(os.environ, ARCHIVE_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT), **{name: value})
    proc = run_cli(env, "settings")
    assert proc.returncode == 2 and name in proc.stderr and says in proc.stderr, proc.stderr


def test_a_bucket_that_is_not_there_keeps_the_file_and_says_so(seaweed, tmp_path, monkeypatch):
    for name, value in seaweed.env("no-such-bucket").items():
        monkeypatch.setenv(name, value)
    settings = make_settings(tmp_path / "home", warc_store="s3://no-such-bucket/warcs",
                             s3_endpoint_url=seaweed.endpoint)
    builder = ArchiveBuilder(settings)
    try:
        with pytest.raises(ObjectStoreError, match=r"uploading .* to s3://no-such-bucket/warcs/.* failed .*it stays "
                                                   r"in .* and is uploaded at the next start"):
            builder.add(URL, TITLE, TEXT)
        assert len(spool_warcs(settings)) == 1  # kept, whole, for the next start
        assert catalog.connect(settings.catalog_path).execute("SELECT count(*) FROM captures").fetchone()[0] == 0
    finally:
        builder.db.close()
        builder.backend.close()


def test_capture_threads_sharing_one_writer_each_publish_their_own_file(seaweed, s3_bucket, tmp_path):
    """Workers capture on several threads through one writer; with an object store each capture's
    file is closed and uploaded after it is written. One thread's close must not take another's file
    from under it (the soak saw `publish(None)`: TypeError, a failed job)."""
    store = S3WarcStore(f"s3://{s3_bucket}/race", tmp_path / "spool", seaweed.endpoint, client=seaweed.client())
    writer = RollingWarcWriter(store, max_size=10**9, software="test")
    threads, per_thread = 4, 12
    landed: dict[int, list] = {}
    failed: list[BaseException] = []
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the window was a few bytecodes
    try:
        def capture(t: int) -> None:
            for i in range(per_thread):
                n = t * per_thread + i
                try:
                    landed[n] = writer.write([resource(n, 200)])
                except BaseException as exc:  # noqa: BLE001  (reported below with the others)
                    failed.append(exc)

        workers = [threading.Thread(target=capture, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(before)
        writer.close()
    assert failed == [], failed
    assert sorted(landed) == list(range(threads * per_thread))
    stored = objects(seaweed, s3_bucket)
    for n, refs in landed.items():
        ref = refs[-1]
        assert f"race/{ref.warc_file}" in stored, f"capture {n}'s file {ref.warc_file} was not uploaded"
        assert store.read_range(ref.warc_file, ref.offset, ref.length), n
    assert os.listdir(tmp_path / "spool") == [], "every closed file left the spool"
