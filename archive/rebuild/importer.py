"""`python -m archive import FILE …`: WARC, ARC and WACZ files made by other tools (wget, warcio,
Heritrix, Browsertrix, Scoop, pywb) into the archive.

Each WARC or ARC file is copied into the WARC directory byte for byte (named
``import-<sha256>-<name>``, so the same file is never stored twice) and read with warcio (an ARC
file as warcio reads it: as WARC). A WACZ package is verified whole first (archive/warc/waczcheck.py);
its WARCs are then copied in like any others, with a ``.source.json`` beside each saying which
package they came from, whether and by whom it was signed, and its pages' titles, so a
``reindex --catalog`` rebuilds the same captures. Every HTML ``response`` (status
200-399, ``text/html``) becomes a capture: its response record (role ``main``) and its request
if there is one; its text is extracted, its outcome judged, and it is indexed. Every other
record (warcinfo, images, scripts, revisits, resources, metadata) stays in the file and is listed
in the catalog with the page it follows, so a capture's WARC download carries its page's
resources; they are not searchable. A response already in the catalog (same WARC-Record-ID) is
not imported again. A file damaged in the middle is imported up to the damage, which is reported
with its file and offset.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from archive.catalog import RecordRef, add_capture, find_original, to_iso
from archive.keys import create_private, private_dir
from archive.rebuild.regroup import record_ref
from archive.removals.outcomes import OutcomeJudge
from archive.warc.gzipmember import GZIP_MAGIC
from archive.warc.store import IMPORT_PREFIX, digest_bytes, read_record
from archive.warc.waczcheck import WaczInvalid, WaczPackage, is_wacz, verify_wacz
from archive.warc.walk import Damage, Walked, WarcWalk
from crawler.httpwire import Exchange
from detect import Observation
from detect.observe import body_text
from search import IndexDoc, extract

IMPORT_VANTAGE = "imported"  # not seen from any vantage of ours: another tool made it
WARC_MAGIC = (GZIP_MAGIC, b"WARC/", b"filedesc://")  # gzipped, WARC, ARC v1
SOURCE_SUFFIX = ".source.json"  # beside a WARC taken from a package: where it came from
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ImportFileError(ValueError):
    """A file given to `import` cannot be imported; the message names it and says what to do."""


@dataclass
class Page:
    """One HTML response and the records listed with it."""

    main: Walked
    request: Walked | None = None
    others: list[Walked] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.main.header("WARC-Record-ID") or ""

    @property
    def html(self) -> str:
        """The page's body as text, decoded by its charset."""
        head = self.main.record.http_headers.to_bytes() if self.main.record.http_headers else b""
        data = self.main.payload or b""
        # body_text decodes by the Content-Type charset or a <meta charset>; the payload is already
        # de-chunked and decompressed, which its decoder tolerates (it keeps bytes it cannot decode).
        ex = Exchange(url="", method="GET", started=datetime.now(), ip="", request_head=b"", request_body=b"",
                      response_head=head, body=BytesIO(data), body_length=len(data))
        return body_text(ex) if data else ""


@dataclass
class ImportReport:
    files: list[str] = field(default_factory=list)  # names in the WARC directory
    added: int = 0  # captures catalogued
    already: int = 0  # HTML responses that were in the catalog already
    records: int = 0  # whole records read
    damage: list[Damage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damage

    def summary(self) -> str:
        text = (f"imported {len(self.files)} WARC file(s): {self.records} records, {self.added} new capture(s)"
                f" of HTML pages, {self.already} already in the archive.")
        for note in self.notes:
            text += f"\n  {note}"
        for damage in self.damage:
            text += f"\n  damaged: {damage}; the records before it were imported, the rest of the file was not"
        return text


def check_files(paths: Iterable[Path]) -> list[tuple[Path, WaczPackage | None]]:
    """Every path is a readable WARC or ARC file or a WACZ package that verifies; ImportFileError
    names the first that is not (nothing is stored)."""
    checked: list[tuple[Path, WaczPackage | None]] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise ImportFileError(f"{path}: no such file; give the path of a .warc(.gz), .arc(.gz) or .wacz file")
        if is_wacz(path):
            try:
                checked.append((path, verify_wacz(path)))
            except WaczInvalid as exc:
                raise ImportFileError(f"{exc} (tampered or damaged: import it only from an intact copy)") from None
            continue
        with open(path, "rb") as fh:
            head = fh.read(11)
        if not head.startswith(WARC_MAGIC):
            raise ImportFileError(f"{path}: not a WARC, ARC or WACZ file (it starts neither with gzip's magic "
                                  "bytes, 'WARC/', 'filedesc://' nor a zip header); give a .warc(.gz), .arc(.gz) "
                                  "or .wacz file")
        checked.append((path, None))
    return checked


def copy_in(path: Path, warc_dir: Path) -> str:
    """Copy ``path`` into ``warc_dir`` unchanged (unless that file is there already); return its name there."""
    return _copy(lambda: open(path, "rb"), path.name, path.stat().st_size, warc_dir)


def copy_member(package: WaczPackage, member: str, warc_dir: Path) -> str:
    """Copy a WARC out of a package into ``warc_dir`` with what the package says of it beside it."""
    size = package.size(member)
    name = _copy(lambda: package.open(member), f"{package.path.stem}_{Path(member).name}", size, warc_dir)
    sidecar = warc_dir / (name + SOURCE_SUFFIX)
    partial = sidecar.with_name(sidecar.name + ".writing")
    partial.write_text(json.dumps({"source": package.source(), "titles": package.titles}, ensure_ascii=False))
    os.replace(partial, sidecar)
    return name


def read_source(path: Path) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(where the file came from, its pages' titles) as copy_member noted them; (None, {}) for a plain file."""
    sidecar = path.with_name(path.name + SOURCE_SUFFIX)
    if not sidecar.exists():
        return None, {}
    noted = json.loads(sidecar.read_text())
    return noted.get("source"), noted.get("titles") or {}


def _copy(open_source: Callable[[], Any], base: str, size: int, warc_dir: Path) -> str:
    digest = hashlib.sha256()
    with open_source() as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    name = f"{IMPORT_PREFIX}{digest.hexdigest()[:16]}-{_UNSAFE.sub('_', base)}"
    target = warc_dir / name
    if target.exists() and target.stat().st_size == size:
        return name  # the same bytes (the name holds their digest)
    private_dir(warc_dir)
    partial = target.with_name(name + ".copying")
    partial.unlink(missing_ok=True)  # left by an import that died mid-copy
    with open_source() as src, create_private(partial) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(partial, target)
    return name


def _status(walked: Walked) -> int:
    headers = walked.record.http_headers
    code = headers.get_statuscode() if headers else ""
    return int(code) if code and code.isdigit() else 0


def is_page(record) -> bool:
    """An HTML response worth a capture: status 200-399, Content-Type text/html."""
    if record.rec_type != "response" or record.http_headers is None:
        return False
    code = record.http_headers.get_statuscode() or ""
    content_type = (record.http_headers.get_header("Content-Type") or "").lower()
    return code.isdigit() and 200 <= int(code) < 400 and "text/html" in content_type


def _pairs(request: Walked, response: Walked) -> bool:
    """Is ``request`` the request of ``response``? (WARC-Concurrent-To either way, or the same URI.)"""
    req_id, resp_id = request.header("WARC-Record-ID"), response.header("WARC-Record-ID")
    return (request.header("WARC-Concurrent-To") == resp_id or response.header("WARC-Concurrent-To") == req_id
            or request.header("WARC-Target-URI") == response.header("WARC-Target-URI"))


def iter_pages(walk: WarcWalk, on_record: Callable[[Walked], None] = lambda w: None) -> Iterator[Page]:
    """The HTML pages of a walked file, each with the records that follow it up to the next page.

    Records before the first page go with it; a request just before its response (wget writes
    them so) goes with its response.
    """
    current: Page | None = None
    waiting: list[Walked] = []  # records not yet given to a page
    for walked in walk:
        on_record(walked)
        if is_page(walked.record):
            page = Page(walked)
            for i in range(len(waiting) - 1, -1, -1):
                if waiting[i].rec_type == "request" and _pairs(waiting[i], walked):
                    page.request = waiting.pop(i)
                    break
            if current is None:
                page.others.extend(waiting)
            else:
                current.others.extend(waiting)
                yield current
            current, waiting = page, []
        elif (walked.rec_type == "request" and current is not None and current.request is None
              and not waiting and _pairs(walked, current.main)):
            current.request = walked
        else:
            waiting.append(walked)
    if current is not None:
        current.others.extend(waiting)
        yield current


def _role(walked: Walked) -> str:
    return {"revisit": "response"}.get(walked.rec_type, walked.rec_type)


def _iso(warc_date: str | None) -> str:
    try:
        return to_iso(datetime.fromisoformat((warc_date or "").replace("Z", "+00:00")))
    except ValueError:
        return to_iso(datetime.fromisoformat("1970-01-01T00:00:00+00:00"))


def page_sha256(warc_dir: Path, main: RecordRef) -> str | None:
    """The hex SHA-256 of the page's payload: its WARC-Payload-Digest when that is SHA-256, else computed."""
    if main.payload_digest:
        try:
            algo, raw = digest_bytes(main.payload_digest)
            if algo == "sha256":
                return raw.hex()
        except ValueError:
            pass
    return hashlib.sha256(read_record(warc_dir, main).raw_stream.read()).hexdigest()


def catalog_page(db: sqlite3.Connection, warc_dir: Path, name: str, page: Page, warcinfo: RecordRef | None,
                 judge: OutcomeJudge, source: dict[str, Any] | None = None,
                 titles: dict[str, str] | None = None) -> tuple[int, str, dict[str, Any]]:
    """Add one page as a capture; return (capture id, its text, its row).

    ``source`` and ``titles`` are what its package said (read_source): a title there wins over
    the one extracted, as the tool that made the package saw the page whole."""
    main = record_ref(name, "main", page.main)
    refs = ([warcinfo] if warcinfo else []) + [main]
    if page.request is not None:
        refs.append(record_ref(name, "request", page.request))
    first = warcinfo.record_id if warcinfo else None  # already listed, as the file's warcinfo
    refs += [record_ref(name, _role(w), w) for w in page.others if w.header("WARC-Record-ID") != first]
    refs = link_revisits(db, refs)
    url = main.target_uri
    extracted = extract(page.html, url)
    headers = page.main.record.http_headers
    observation = Observation(requested_url=url, final_url=url, status=_status(page.main),
                              headers=list(headers.headers), body_text=page.html, main_text=extracted.text,
                              redirects=[])
    outcome = judge.judge(db, observation, url, IMPORT_VANTAGE)
    row = {"url": url, "final_url": url, "captured_at": _iso(main.warc_date), "ended_at": _iso(main.warc_date),
           "status": _status(page.main), "title": (titles or {}).get(url) or extracted.title,
           "lang": extracted.lang, "source": source,
           "sha256": page_sha256(warc_dir, main), "partial": bool(main.truncated),
           "partial_reasons": [f"response truncated ({main.truncated})"] if main.truncated else [],
           "blocked": [], "vantage": IMPORT_VANTAGE, "outcome": outcome.label, "evidence": outcome.evidence,
           "bytes": sum(r.length for r in refs[1:])}
    return add_capture(db, row, refs), extracted.text, row


def link_revisits(db: sqlite3.Connection, refs: list[RecordRef]) -> list[RecordRef]:
    """Revisits that name their original only by URI and date (warcio, pywb, Heritrix write them so),
    linked to it by payload digest: earlier among ``refs``, else anywhere in the catalog (another
    file, another URL), so the capture's download carries the payload. Unfound, they stay unlinked."""
    linked: list[RecordRef] = []
    for ref in refs:
        if ref.record_type == "revisit" and not ref.refers_to and ref.payload_digest:
            original = next((r for r in linked if r.record_type == "response"
                             and r.payload_digest == ref.payload_digest), None) or find_original(db, ref.payload_digest)
            if original is not None:
                ref = replace(ref, refers_to=original.record_id)
        linked.append(ref)
    return linked


def known(db: sqlite3.Connection, record_id: str) -> int | None:
    """The capture a record belongs to, if the catalog has it."""
    row = db.execute("SELECT capture_id FROM records WHERE record_id = ? LIMIT 1", (record_id,)).fetchone()
    return row[0] if row else None


def page_walk(path: Path, start: int = 0) -> WarcWalk:
    return WarcWalk(path, start, want_payload=is_page)


def first_warcinfo(path: Path) -> RecordRef | None:
    for walked in WarcWalk(path):
        return record_ref(path.name, "warcinfo", walked) if walked.rec_type == "warcinfo" else None
    return None


def import_file(db: sqlite3.Connection, warc_dir: Path, name: str, judge: OutcomeJudge,
                index: Callable[[list[IndexDoc]], object] | None, doc_of: Callable[[int, str], IndexDoc],
                report: ImportReport, on_record: Callable[[Walked], None] = lambda w: None) -> None:
    """Catalog (and with ``index``, index) the pages of one file already in ``warc_dir``."""
    path = warc_dir / name
    walk = page_walk(path)
    warcinfo = first_warcinfo(path)
    source, titles = read_source(path)
    docs: list[IndexDoc] = []
    pages = 0

    def count(walked: Walked) -> None:
        report.records += 1
        on_record(walked)

    for page in iter_pages(walk, count):
        pages += 1
        if not page.key or known(db, page.key) is not None:
            report.already += bool(page.key)
            continue
        capture_id, text, _ = catalog_page(db, warc_dir, name, page, warcinfo, judge, source, titles)
        report.added += 1
        docs.append(doc_of(capture_id, text))
        if index is not None and len(docs) >= 100:
            index(docs)
            docs = []
    if index is not None and docs:
        index(docs)
    if pages == 0:
        report.notes.append(f"{name}: no HTML page (200-399 text/html response); its records are kept in the "
                            "file but not catalogued")
    if walk.damage is not None:
        report.damage.append(walk.damage)


def import_warcs(settings, paths: Iterable[Path], stream=None) -> ImportReport:
    """Import WARC, ARC and WACZ files made elsewhere (see the module's docstring); progress on ``stream`` (stderr)."""
    from archive import catalog
    from archive.capturing.indexing import index_doc
    from archive.progress import Progress
    from archive.removals.events import update_events, vantage_countries
    from archive.warc.objects import warc_store
    from search import open_backend

    files = check_files(paths)  # all of them first: a bad name stores nothing
    store = warc_store(settings)
    db = catalog.connect(settings.catalog_location)
    backend = open_backend(settings.search_backend, settings.index_dir, settings)
    judge = OutcomeJudge.from_settings(settings)
    country_of = vantage_countries(settings.capture_vantages)
    report = ImportReport()
    progress = Progress("import", len(files), sum(p.stat().st_size for p, _ in files), stream=stream)
    done_before = 0

    def doc_of(capture_id: int, text: str) -> IndexDoc:
        update_events(db, capture_id, country_of)
        return index_doc(db, catalog.get_capture(db, capture_id), text, country_of)

    def index(docs: list[IndexDoc]) -> None:
        backend.add(docs)
        for doc in docs:
            catalog.set_indexed(db, int(doc.id))

    try:
        for path, package in files:
            if package is None:
                names = [(copy_in(path, settings.warc_dir), str(path))]
            else:
                names = [(copy_member(package, member, settings.warc_dir), f"{path}:{member}")
                         for member in package.warcs]
                report.notes.append(f"{path}: WACZ {package.version} from {package.software or 'unknown software'}, "
                                    f"every file matches its hash; "
                                    + (str(package.signature) + " (signature verified)" if package.signature
                                       else "not signed"))
            for name, shown in names:
                report.files.append(name)
                local = settings.warc_dir / name
                store.publish(local, keep=True)  # stored and checked before its records are catalogued
                import_file(db, settings.warc_dir, name, judge, index, doc_of, report,
                            on_record=lambda w, base=done_before: progress.update(base + w.offset + w.length,
                                                                                  records=1))
                if store.remote:
                    local.unlink()
                    local.with_name(name + SOURCE_SUFFIX).unlink(missing_ok=True)
                if report.damage and report.damage[-1].warc_file == name:  # name the file as the user gave it
                    found = report.damage.pop()
                    report.damage.append(Damage(f"{shown} (kept whole as {name})", found.offset, found.reason))
            done_before += path.stat().st_size
            progress.update(done_before, files=1)
        progress.done()
    finally:
        backend.close()
        db.close()
    return report
