"""WACZ packages: the download route and `export-wacz`, checked with py-wacz, cdxj-indexer and warcio."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from archive import catalog
from archive.lookup.present import citation
from archive.warc.store import PendingRecord, read_record

from .conftest import ROOT, run_cli, warcio_check
from .webapp import ARCHIVE_NAME

BIN = Path(sys.executable).parent
URL = "https://kloop.kg/blog/2024/04/18/tiktok-blocked/"
FINAL = "https://www.kloop.kg/blog/2024/04/18/tiktok-blocked/"
TITLE = "ГКНБ обязал провайдеров заблокировать TikTok"
TEXT = ["Служба безопасности потребовала от провайдеров закрыть доступ к TikTok.",
        "Kloop itself has been unreachable in Kyrgyzstan since September 2023."]
OTHER = ("https://rus.azattyk.org/a/33000000.html", "Азаттык вернулся после удаления материалов",
         ["Радио Азаттык снова доступно после удаления материалов."])


def wacz_validate(path: Path) -> str:
    """py-wacz's own `wacz validate -f`; fail the test unless it says the package is valid."""
    proc = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and "the passed WACZ is valid" in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout


def cli_env(settings) -> dict:
    return dict(os.environ, ARCHIVE_HOME=str(settings.archive_home), ARCHIVE_NAME=ARCHIVE_NAME,
                PYTHONPATH=str(ROOT))


def add_revisit_capture(builder, original_id: int) -> int:
    """A later capture of the same URL whose page is a revisit of ``original_id``'s response."""
    main = catalog.get_records(builder.db, original_id, role="main")[0]
    original = read_record(builder.settings.warc_dir, main)
    date = "2024-04-19T10:00:00.000000Z"
    headers = StatusAndHeaders("200 OK", original.http_headers.headers, protocol="HTTP/1.1")
    revisit = builder._records.create_revisit_record(
        main.target_uri, main.payload_digest, main.target_uri, original.rec_headers.get_header("WARC-Date"),
        http_headers=headers, warc_headers_dict={"WARC-Date": date, "WARC-Refers-To": main.record_id})
    text = builder._record(f"urn:text:{main.target_uri}", "resource", "\n".join(TEXT).encode(),
                           "text/plain; charset=utf-8", warc_headers_dict={"WARC-Date": date})
    refs = builder.writer.write([PendingRecord("main", revisit), PendingRecord("text", text)])
    refs = [catalog.RecordRef(**{**r.__dict__, "refers_to": main.record_id}) if r.role == "main" else r
            for r in refs]
    row = catalog.get_capture(builder.db, original_id)
    return catalog.add_capture(builder.db, {**row, "captured_at": date, "ended_at": date, "permalink": None}, refs)


def open_wacz(path: Path) -> tuple[zipfile.ZipFile, dict, list[str], list[dict]]:
    zf = zipfile.ZipFile(path)
    package = json.loads(zf.read("datapackage.json"))
    index = zf.read("indexes/index.cdx").decode().splitlines()
    pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()]
    return zf, package, index, pages


def record_at(warc_dir: Path, line: str):
    """The record a CDXJ line points to, headers parsed."""
    fields = json.loads(line.split(" ", 2)[2])
    with open(warc_dir / fields["filename"], "rb") as fh:
        fh.seek(int(fields["offset"]))
        return next(ArchiveIterator(BytesIO(fh.read(int(fields["length"])))))


def check_package(path: Path, tmp_path: Path) -> tuple[zipfile.ZipFile, dict, list[str], list[dict]]:
    """Everything a WACZ must be, checked by py-wacz, warcio, cdxj-indexer and by hand."""
    wacz_validate(path)
    zf, package, index, pages = open_wacz(path)
    assert package["profile"] == "data-package" and package["wacz_version"] == "1.1.1"
    assert package["software"].startswith("takedown-archive/")
    digest = json.loads(zf.read("datapackage-digest.json"))
    signed = digest.pop("signedData")  # every export is signed (tests/test_signing.py checks the signature)
    assert digest == {"path": "datapackage.json",
                      "hash": "sha256:" + hashlib.sha256(zf.read("datapackage.json")).hexdigest()}
    assert signed["hash"] == digest["hash"] and signed["created"] == package["created"]
    listed = {r["path"]: r for r in package["resources"]}
    assert set(listed) == set(zf.namelist()) - {"datapackage.json", "datapackage-digest.json"}
    for name, resource in listed.items():
        data = zf.read(name)
        assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest(), name
        assert resource["bytes"] == len(data), name

    warcs = sorted(n for n in zf.namelist() if n.startswith("archive/"))
    assert warcs and all(zf.getinfo(n).compress_type == zipfile.ZIP_STORED for n in warcs)
    out = tmp_path / "unpacked"
    zf.extractall(out)
    warcio_check(out / n for n in warcs)

    # The index is sorted and each line points at the record it describes.
    assert index == sorted(index) and len(index) == len(set(index))
    raw = path.read_bytes()
    for line in index:
        key, timestamp, fields = line.split(" ", 2)
        fields = json.loads(fields)
        info = zf.getinfo("archive/" + fields["filename"])
        stored = zf.read(info)[int(fields["offset"]):int(fields["offset"]) + int(fields["length"])]
        assert fields["recordDigest"] == "sha256:" + hashlib.sha256(stored).hexdigest()
        record = next(ArchiveIterator(BytesIO(stored)))
        assert record.rec_headers.get_header("WARC-Target-URI") == fields["url"]
        assert record.rec_headers.get_header("WARC-Payload-Digest") == fields["digest"]
        assert record.rec_headers.get_header("WARC-Date").replace("-", "").replace("T", "").replace(":", "")[:14] \
            == timestamp and len(timestamp) == 14
        # Stored, not deflated: the same bytes lie in the .wacz itself, for HTTP Range requests.
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        at = start + int(fields["offset"])
        assert raw[at:at + len(stored)] == stored, key
    # The same lines as Webrecorder's indexer gives (what py-wacz puts into a WACZ), less metadata
    # records about a page, which replayweb.page would take for the page itself.
    reference = subprocess.run([str(BIN / "cdxj-indexer"), "--sort", "--post-append", "--digest-records",
                                *(n.removeprefix("archive/") for n in warcs)], cwd=out / "archive",
                               capture_output=True, text=True, check=True).stdout.splitlines()
    about_pages = [line for line in reference if record_at(out / "archive", line).rec_type == "metadata"
                   and json.loads(line.split(" ", 2)[2])["url"].startswith("http")]
    assert index == sorted(set(reference) - set(about_pages))

    assert pages[0]["format"] == "json-pages-1.0" and pages[0]["id"] == "pages" and pages[0]["title"]
    assert len(pages) - 1 == len(warcs)
    return zf, package, index, pages


def test_capture_wacz_download(archive_builder, web_server, tmp_path):
    capture_id = archive_builder.add(URL, TITLE, TEXT, final_url=FINAL, lang="ru")
    other = archive_builder.add(*OTHER)
    r = web_server.get(f"/capture/{capture_id}/wacz")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/wacz"
    assert r.headers["Content-Disposition"] == f'attachment; filename="capture-{capture_id}-20240418093015.wacz"'
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert "sandbox" in r.headers["Content-Security-Policy"]
    path = tmp_path / "capture.wacz"
    path.write_bytes(r.content)

    zf, package, index, pages = check_package(path, tmp_path)
    # The WARC inside is the WARC download, byte for byte.
    warc = web_server.get(f"/capture/{capture_id}/warc")
    name = f"archive/capture-{capture_id}-20240418093015.warc.gz"
    assert zf.namelist()[0] == name and zf.read(name) == warc.content
    refs = catalog.get_records(archive_builder.db, capture_id)
    assert [rec.rec_headers.get_header("WARC-Record-ID") for rec in ArchiveIterator(BytesIO(zf.read(name)))] \
        == [r.record_id for r in refs]
    assert catalog.get_capture(archive_builder.db, other)["url"] not in "".join(index)

    assert pages[0]["title"] == TITLE and pages[0]["hasText"] is True
    assert pages[1:] == [{"id": f"capture-{capture_id}", "url": FINAL, "ts": "2024-04-18T09:30:15Z", "title": TITLE,
                          "text": "\n".join(TEXT)}]
    record_url = f"{web_server.url}/capture/{capture_id}"
    assert package["title"] == TITLE
    assert package["description"] == citation(catalog.get_capture(archive_builder.db, capture_id), record_url,
                                              ARCHIVE_NAME)
    assert (package["mainPageURL"], package["mainPageDate"]) == (FINAL, "2024-04-18T09:30:15Z")
    lines = {json.loads(line.split(" ", 2)[2])["url"]: line for line in index}
    # The provenance record is indexed under urn:pageinfo:, never as a second capture of the page.
    assert set(lines) == {FINAL, f"urn:screenshot:{URL}", f"urn:dom:{URL}", f"urn:text:{URL}", f"urn:pageinfo:{URL}"}
    assert lines[FINAL].startswith("kg,kloop)/blog/2024/04/18/tiktok-blocked 20240418093015 {")
    assert json.loads(lines[FINAL].split(" ", 2)[2])["status"] == "200"


def test_revisit_travels_with_its_original(archive_builder, web_server, tmp_path):
    first = archive_builder.add(URL, TITLE, TEXT, final_url=FINAL, lang="ru")
    later = add_revisit_capture(archive_builder, first)
    path = tmp_path / "later.wacz"
    path.write_bytes(web_server.get(f"/capture/{later}/wacz").content)
    zf, _, index, pages = check_package(path, tmp_path)
    (name,) = zf.namelist()[:1]
    types = [(rec.rec_type, rec.rec_headers.get_header("WARC-Record-ID"))
             for rec in ArchiveIterator(BytesIO(zf.read(name)))]
    original = catalog.get_records(archive_builder.db, first, role="main")[0]
    assert [t for t, _ in types] == ["warcinfo", "revisit", "resource", "response"]
    assert types[-1][1] == original.record_id
    entries = [json.loads(line.split(" ", 2)[2]) for line in index]
    mimes = sorted(e["mime"] for e in entries if e["url"] == FINAL)
    assert mimes == ["text/html", "warc/revisit"]
    assert pages[1]["ts"] == "2024-04-19T10:00:00Z" and pages[1]["url"] == FINAL


def test_unknown_capture_has_no_wacz(web_server):
    r = web_server.get("/capture/999/wacz")
    assert r.status_code == 404
    assert "There is no capture 999" in r.text


def test_unreadable_warc_is_an_error_page(archive_builder, web_server, web_settings):
    capture_id = archive_builder.add(URL, TITLE, TEXT)
    archive_builder.writer.close()
    for path in web_settings.warc_dir.iterdir():
        path.rename(path.with_name("moved-" + path.name))
    r = web_server.get(f"/capture/{capture_id}/wacz")
    assert r.status_code == 500 and r.headers["Content-Type"].startswith("text/html")
    assert "could not be read" in r.text


def test_record_page_links_the_wacz(archive_builder, web_server):
    import lxml.html

    capture_id = archive_builder.add(URL, TITLE, TEXT, final_url=FINAL, lang="ru")
    doc = lxml.html.fromstring(web_server.get(f"/capture/{capture_id}").text)
    link = doc.get_element_by_id("wacz-link")
    assert link.get("href") == f"/capture/{capture_id}/wacz"
    assert web_server.get(link.get("href")).status_code == 200


def test_export_wacz_cli(archive_builder, web_settings, tmp_path):
    first = archive_builder.add(URL, TITLE, TEXT, final_url=FINAL, lang="ru")
    second = archive_builder.add(*OTHER)
    third = archive_builder.add("https://kloop.kg/news/other/", "Unrelated", ["Weather in Bishkek is fine."])
    env = cli_env(web_settings)

    chosen = tmp_path / "chosen.wacz"
    proc = run_cli(env, "export-wacz", "--capture", str(first), "--capture", str(second), "-o", str(chosen))
    assert proc.returncode == 0, proc.stderr
    assert f"[1/2] capture {first}" in proc.stderr and f"[2/2] capture {second}" in proc.stderr
    _, package, _, pages = check_package(chosen, tmp_path / "chosen")
    assert [p["id"] for p in pages[1:]] == [f"capture-{first}", f"capture-{second}"]
    assert package["title"] == f"{ARCHIVE_NAME}: 2 captures" and "mainPageURL" not in package

    found = tmp_path / "found.wacz"
    proc = run_cli(env, "export-wacz", "--query", "удаления", "-o", str(found))
    assert proc.returncode == 0, proc.stderr
    _, package, _, pages = check_package(found, tmp_path / "found")
    assert [p["id"] for p in pages[1:]] == [f"capture-{second}"]
    assert package["title"] == f'{ARCHIVE_NAME}: captures matching "удаления"'
    assert pages[1]["text"] == OTHER[2][0]

    newest = tmp_path / "newest.wacz"
    proc = run_cli(env, "export-wacz", "--query", "", "--limit", "2", "-o", str(newest))
    assert proc.returncode == 0, proc.stderr
    assert "exporting the first 2 of 3 captures found" in proc.stderr
    assert len(open_wacz(newest)[3]) == 3

    everything = tmp_path / "all.wacz"
    proc = run_cli(env, "export-wacz", "--all", "-o", str(everything))
    assert proc.returncode == 0, proc.stderr
    _, _, _, pages = check_package(everything, tmp_path / "all")
    assert [p["id"] for p in pages[1:]] == [f"capture-{i}" for i in (first, second, third)]


@pytest.mark.parametrize("args, message", [
    (["--capture", "999"], "there is no capture 999"),
    (["--query", "nothingmatchesthis"], "no captures to export"),
    (["--query", '"unclosed'], "error:"),
])
def test_export_wacz_errors_leave_no_file(archive_builder, web_settings, tmp_path, args, message):
    archive_builder.add(URL, TITLE, TEXT)
    out = tmp_path / "out.wacz"
    proc = run_cli(cli_env(web_settings), "export-wacz", *args, "-o", str(out))
    assert proc.returncode != 0
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "home"]


def test_export_of_an_unreadable_capture_leaves_no_file(archive_builder, web_settings, tmp_path):
    capture_id = archive_builder.add(URL, TITLE, TEXT)
    archive_builder.writer.close()
    for path in web_settings.warc_dir.iterdir():
        path.rename(path.with_name("moved-" + path.name))
    out = tmp_path / "out.wacz"
    proc = run_cli(cli_env(web_settings), "export-wacz", "--capture", str(capture_id), "-o", str(out))
    assert proc.returncode == 1
    assert "error: WARC file webtest-" in proc.stderr and "is missing" in proc.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "home"]


def test_wacz_of_a_real_browser_capture(env, tmp_path):
    """Chromium captures the fixture site; its WACZ validates and indexes every response."""
    proc = run_cli(env, "capture", "http://news.example.com/", "--json")
    assert proc.returncode == 0, proc.stderr
    captured = json.loads(proc.stdout)
    out = tmp_path / "site.wacz"
    proc = run_cli(env, "export-wacz", "--capture", str(captured["id"]), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    zf, package, index, pages = check_package(out, tmp_path)
    urls = {json.loads(line.split(" ", 2)[2])["url"] for line in index}
    for path in ("/", "/static/style.css", "/static/logo.png", "/static/app.js", "/api/live.json"):
        assert "http://news.example.com" + path in urls
    page = pages[1]
    assert page["url"] == "http://news.example.com/" and page["title"] == captured["title"]
    assert "independent outlet" in page["text"]
    assert (package["mainPageURL"], package["mainPageDate"]) == (page["url"], page["ts"])
    # The provenance record is at urn:pageinfo:<url>, never at the page's URL: a replay must never serve it
    # as the page (its index line, if any, is under that URN).
    warc = zf.read(zf.namelist()[0])
    provenance = [(it.get_record_offset(), rec.rec_headers.get_header("WARC-Target-URI"))
                  for it in [ArchiveIterator(BytesIO(warc))] for rec in it if rec.rec_type == "metadata"]
    assert [uri for _, uri in provenance] == ["urn:pageinfo:" + page["url"]]
    assert all(json.loads(line.split(" ", 2)[2])["url"] == "urn:pageinfo:" + page["url"] for line in index
               if json.loads(line.split(" ", 2)[2])["offset"] == str(provenance[0][0]))
