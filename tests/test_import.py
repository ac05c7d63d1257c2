"""`python -m archive import`: WARC files made by other tools, kept byte for byte and catalogued.

The fixtures are real: a WARC written by `wget --warc-file` crawling the fixture site, and one
written with warcio's WARCWriter in the shapes Browsertrix writes (response/request pairs, an
image, a JSON response, a revisit record, a `urn:pageinfo:` resource, a metadata record, and a
page in windows-1251). Damaged files: tests/data/warcs' truncated one, and a copy of the wget
file with bytes flipped inside one record.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from archive import catalog
from archive.warc.store import Sha256WARCWriter  # warcio's WARCWriter with SHA-256 digests
from search import SearchQuery, open_backend

from .conftest import run_cli
from .sites import DATA

RU_TEXT = ("Роскомнадзор потребовал блокировки сайта независимой газеты после публикации расследования о "
           "государственных закупках в нескольких регионах страны.")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _offsets(path: Path) -> list[tuple[int, str, str]]:
    """(offset, type, target URI) of every record, read with warcio."""
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        return [(it.get_record_offset(), r.rec_type, r.rec_headers.get_header("WARC-Target-URI") or "") for r in it]


@pytest.fixture
def wget_warc(tmp_path, site) -> tuple[Path, Path]:
    """(the WARC file wget wrote, the directory it mirrored the pages into)."""
    if shutil.which("wget") is None:
        pytest.fail("wget is not installed: apt-get install -y wget")
    base = f"http://127.0.0.1:{site.port}"
    subprocess.run(["wget", "-q", "--warc-file", str(tmp_path / "crawl"), "-r", "-l", "1", "-e", "robots=off",
                    "-P", str(tmp_path / "mirror"), "-nH", f"{base}/index.html", f"{base}/gallery.html"],
                   check=True, timeout=60)
    return tmp_path / "crawl.warc.gz", tmp_path / "mirror"


def _http(status: str, content_type: str, body: bytes) -> StatusAndHeaders:
    return StatusAndHeaders(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))],
                            protocol="HTTP/1.1")


def browsertrix_warc(path: Path) -> Path:
    """A WARC in Browsertrix's shapes, written with warcio (SHA-256 digests, as Browsertrix writes)."""
    page = (b"<html><head><title>Zanzibarite mining report</title></head><body><article><h1>Zanzibarite mining"
            b" report</h1><p>The zanzibarite mine near the coast was closed by the ministry after the report on"
            b" its water use was published by local reporters last spring.</p></article></body></html>")
    ru_page = (f"<html><head><meta charset='windows-1251'><title>Блокировка газеты</title></head><body><article>"
               f"<h1>Блокировка газеты</h1><p>{RU_TEXT}</p></article></body></html>").encode("cp1251")
    with open(path, "wb") as fh:
        writer = Sha256WARCWriter(fh, gzip=True, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "Browsertrix-Crawler 1.0.0"}))

        def exchange(url: str, status: str, content_type: str, body: bytes):
            response = writer.create_warc_record(url, "response", payload=BytesIO(body), length=len(body),
                                                 http_headers=_http(status, content_type, body))
            writer.write_record(response)
            request = writer.create_warc_record(
                url, "request", payload=BytesIO(b""), length=0,
                http_headers=StatusAndHeaders(f"GET {url.split('example.net')[1]} HTTP/1.1",
                                              [("Host", "site.example.net")], is_http_request=True),
                warc_headers_dict={"WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID")})
            writer.write_record(request)
            return response

        first = exchange("https://site.example.net/zanzibarite", "200 OK", "text/html; charset=utf-8", page)
        exchange("https://site.example.net/logo.png", "200 OK", "image/png",
                 (DATA / "site" / "static" / "logo.png").read_bytes())
        exchange("https://site.example.net/api/quokka.json", "200 OK", "application/json",
                 b'{"word": "quokkaword appears only in JSON"}')
        revisit = writer.create_revisit_record(
            "https://site.example.net/zanzibarite", first.rec_headers.get_header("WARC-Payload-Digest"),
            "https://site.example.net/zanzibarite", first.rec_headers.get_header("WARC-Date"),
            http_headers=_http("200 OK", "text/html; charset=utf-8", page))
        revisit.rec_headers.add_header("WARC-Refers-To", first.rec_headers.get_header("WARC-Record-ID"))
        writer.write_record(revisit)
        info = json.dumps({"pageid": "p1", "url": "https://site.example.net/zanzibarite"}).encode()
        writer.write_record(writer.create_warc_record(
            "urn:pageinfo:https://site.example.net/zanzibarite", "resource", payload=BytesIO(info),
            length=len(info), warc_content_type="application/json"))
        meta = b"seed: https://site.example.net/zanzibarite\n"
        writer.write_record(writer.create_warc_record(
            "https://site.example.net/zanzibarite", "metadata", payload=BytesIO(meta), length=len(meta),
            warc_content_type="application/warc-fields"))
        exchange("https://site.example.net/ru/blokirovka", "200 OK", "text/html", ru_page)
    return path


def _captures(settings_home: Path) -> list[dict]:
    db = catalog.connect(settings_home / "catalog.sqlite3")
    rows = [dict(r) for r in db.execute("SELECT * FROM captures ORDER BY id")]
    for row in rows:
        row["records"] = [dict(r) for r in db.execute("SELECT * FROM records WHERE capture_id = ? ORDER BY id",
                                                      (row["id"],))]
    db.close()
    return rows


def _hits(settings, q: str) -> list[str]:
    with open_backend(settings.search_backend, settings.index_dir) as backend:
        return [h.url for h in backend.search(SearchQuery(q=q, limit=20)).hits]


def test_a_wget_warc_is_kept_whole_catalogued_and_searchable_once(env, settings, wget_warc):
    warc, mirror = wget_warc
    proc = run_cli(env, "import", str(warc))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 new capture(s)" in proc.stdout and "import [" in proc.stderr
    stored = list(settings.warc_dir.iterdir())
    assert len(stored) == 1 and _sha256(stored[0]) == _sha256(warc)  # the bytes are kept as they were

    captures = _captures(settings.archive_home)
    assert sorted(c["url"].rsplit("/", 1)[1] for c in captures) == ["gallery.html", "index.html"]
    listed = sorted(r["offset"] for c in captures for r in c["records"] if r["role"] != "warcinfo")
    assert listed == [o for o, rec_type, _ in _offsets(warc) if rec_type != "warcinfo"]  # every record listed
    for capture in captures:
        name = capture["url"].rsplit("/", 1)[1]
        roles = [r["role"] for r in capture["records"]]
        assert roles[:3] == ["warcinfo", "main", "request"], roles
        assert capture["sha256"] == _sha256(mirror / name)  # SHA-256 of the page as served, not wget's SHA-1
        assert capture["status"] == 200 and capture["outcome"] == "ok" and capture["vantage"] == "imported"
        assert capture["title"] and capture["indexed"] == 1
    index_title = next(c["title"] for c in captures if c["url"].endswith("index.html"))
    assert any(u.endswith("index.html") for u in _hits(settings, f'"{index_title}"'))

    again = run_cli(env, "import", str(warc))
    assert again.returncode == 0, again.stderr
    assert "0 new capture(s)" in again.stdout and "2 already in the archive" in again.stdout
    assert len(_captures(settings.archive_home)) == 2 and len(list(settings.warc_dir.iterdir())) == 1


def test_a_browsertrix_shaped_warc(env, settings, tmp_path):
    warc = browsertrix_warc(tmp_path / "crawl-20240401.warc.gz")
    proc = run_cli(env, "import", str(warc))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    captures = _captures(settings.archive_home)
    assert [c["url"] for c in captures] == ["https://site.example.net/zanzibarite",
                                            "https://site.example.net/ru/blokirovka"]
    first, russian = captures
    types = [r["record_type"] for r in first["records"]]
    assert types == ["warcinfo", "response", "request", "response", "request", "response", "request", "revisit",
                     "resource", "metadata"]
    revisit = next(r for r in first["records"] if r["record_type"] == "revisit")
    assert revisit["refers_to"] == first["records"][1]["record_id"]
    assert russian["title"] == "Блокировка газеты" and russian["lang"] == "ru"  # decoded from windows-1251
    assert _hits(settings, "zanzibarite mine") == [first["url"]]
    assert _hits(settings, "блокировка сайта независимой газеты") == [russian["url"]]  # stemmed Russian
    assert _hits(settings, "quokkaword") == []  # non-HTML responses are kept, not searchable
    assert run_cli(env, "verify").returncode == 0  # SHA-256 digests throughout: the catalog checks out


def test_a_truncated_warc_is_imported_up_to_the_damage(env, settings):
    source = DATA / "warcs" / "example-truncated.warc.gz"
    whole = _offsets(DATA / "warcs" / "example.warc.gz")
    proc = run_cli(env, "import", str(source))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    captures = _captures(settings.archive_home)
    damaged_at = int(proc.stdout.split(" offset ")[1].split(":")[0])
    assert str(source) in proc.stdout and damaged_at in [o for o, _, _ in whole]
    assert [c["url"] for c in captures] == [uri for o, t, uri in whole if t == "response" and o < damaged_at]
    assert _sha256(next(settings.warc_dir.iterdir())) == _sha256(source)  # kept whole, damage and all


def test_a_warc_corrupt_in_the_middle_is_imported_up_to_the_damage(env, settings, wget_warc, tmp_path):
    warc, _ = wget_warc
    records = _offsets(warc)
    bad = next(i for i, (_, t, uri) in enumerate(records) if t == "response" and uri.endswith(".png"))
    offset, next_offset = records[bad][0], records[bad + 1][0]
    data = bytearray(warc.read_bytes())
    middle = (offset + next_offset) // 2
    data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
    corrupt = tmp_path / "corrupt.warc.gz"
    corrupt.write_bytes(bytes(data))

    proc = run_cli(env, "import", str(corrupt))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{corrupt} (kept whole as import-" in proc.stdout and f"offset {offset}:" in proc.stdout
    captures = _captures(settings.archive_home)
    assert [c["url"].rsplit("/", 1)[1] for c in captures] == [
        uri.rsplit("/", 1)[1] for o, t, uri in records if o < offset and t == "response" and uri.endswith(".html")]
    assert max(r["offset"] for c in captures for r in c["records"]) < offset  # nothing from the damage on


def test_bad_files_are_refused_and_nothing_is_stored(env, settings, tmp_path, wget_warc):
    text = tmp_path / "notes.txt"
    text.write_text("not a WARC file\n")
    for args, named in (([str(wget_warc[0]), str(text)], "notes.txt"),
                        ([str(tmp_path / "missing.warc.gz")], "missing.warc.gz")):
        proc = run_cli(env, "import", *args)
        assert proc.returncode == 2 and named in proc.stderr and "nothing was imported" in proc.stderr
    assert not settings.warc_dir.exists()
    assert not settings.catalog_path.exists()


def test_a_wget_warc_imported_into_elasticsearch_is_found_there(env, wget_warc, es_service, es_alias):
    from archive.settings import Settings
    from search import open_search

    env = dict(env, SEARCH_BACKEND="elasticsearch", ELASTICSEARCH_URL=es_service.url, ELASTICSEARCH_INDEX=es_alias)
    warc, _mirror = wget_warc
    proc = run_cli(env, "import", str(warc))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 new capture(s)" in proc.stdout
    settings = Settings.from_env(env)
    captures = _captures(settings.archive_home)
    assert all(c["indexed"] == 1 for c in captures)
    with open_search(settings) as backend:
        assert backend.count() == 2
        for capture in captures:
            urls = [h.url for h in backend.search(SearchQuery(q=f'"{capture["title"]}"', limit=20)).hits]
            assert capture["url"] in urls, (capture["title"], urls)
