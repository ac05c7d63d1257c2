"""`python -m archive reindex`: the search index (and, if lost, the catalog) rebuilt from the WARC files.

The WARC files are the source of truth. Every file in the WARC directory is walked with warcio
and its records regrouped into captures (archive/rebuild/regroup.py for ours, archive/rebuild/importer.py for
imported files). With ``--catalog``, or when catalog.sqlite3 is missing, captures the catalog
lacks are added first (records with offsets, lengths and digests; outcomes judged again; removal
events recomputed). Then every public capture's text record goes into a new index built beside
the live one (SearchBackend.rebuild), which keeps serving until the new one is complete and
swapped in.

It is resumable: ARCHIVE_HOME/reindex-checkpoint.json says which phase, file and offset were
reached and the name of the index being built, and is rewritten after each committed batch; a
reindex stopped in any way (Ctrl-C, SIGKILL, power) continues from there when run again.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from archive import catalog
from archive.capturing.indexing import index_doc
from archive.keys import private_dir
from archive.progress import Progress
from archive.rebuild.importer import IMPORT_PREFIX, ImportReport, import_file, iter_pages, known, page_walk
from archive.rebuild.regroup import capture_row, walk_captures
from archive.removals.events import rebuild_events, vantage_countries
from archive.removals.outcomes import OutcomeJudge
from archive.settings import Settings
from archive.warc.arc import ARCHIVE_SUFFIXES
from archive.warc.objects import WarcStore, warc_store
from archive.warc.store import OPEN_SUFFIX
from archive.warc.walk import Damage
from search import IndexDoc, open_backend

CHECKPOINT = "reindex-checkpoint.json"
BATCH_DOCS = 200  # documents per commit of the new index (and per checkpoint)
BATCH_CHARS = 20_000_000  # or fewer, when pages are large
# A test hook, not a setting: with this environment variable at N, the index phase stops after its
# Nth committed batch, writes ARCHIVE_HOME/PAUSED_FILE and waits there for a signal.
PAUSE_AFTER_ENV = "ARCHIVE_TEST_REINDEX_PAUSE_AFTER"
PAUSED_FILE = "reindex-paused.json"


class ReindexBusy(RuntimeError):
    """Another reindex is running on this archive."""


@dataclass
class ReindexReport:
    files: int = 0
    captures_added: int = 0  # catalog rows rebuilt
    indexed: int = 0  # documents in the new index
    not_in_catalog: int = 0  # captures found in WARC files the catalog lacks (index-only run)
    events: int | None = None  # removal events after recomputing them (catalog runs)
    resumed_from: str | None = None
    damage: list[Damage] = field(default_factory=list)

    def summary(self) -> str:
        text = ""
        if self.resumed_from:
            text += f"resumed from {self.resumed_from}\n"
        if self.events is not None:
            text += f"catalog: {self.captures_added} capture(s) added, {self.events} removal event(s)\n"
        text += f"index: {self.indexed} document(s) from {self.files} WARC file(s), swapped in"
        if self.not_in_catalog:
            text += (f"\n{self.not_in_catalog} capture(s) in the WARC files are not in the catalog: "
                     "run `python -m archive reindex --catalog` to add them")
        for damage in dict.fromkeys(self.damage):  # a file walked in both phases is reported once
            text += f"\ndamaged: {damage}; the records before it were used, the rest of the file was not"
        return text


def warc_files(warc_dir: Path) -> list[str]:
    """Names of the WARC files to walk (without ``.open``), in name order, which is time order."""
    names = set()
    for path in warc_dir.iterdir() if warc_dir.is_dir() else ():
        name = path.name.removesuffix(OPEN_SUFFIX)
        if name.endswith(ARCHIVE_SUFFIXES):
            names.add(name)
    return sorted(names)


def _path(warc_dir: Path, name: str) -> Path:
    final = warc_dir / name
    return final if final.exists() else warc_dir / (name + OPEN_SUFFIX)


class Checkpoint:
    """Where a reindex got to, kept in ARCHIVE_HOME (written whole, then renamed into place)."""

    def __init__(self, path: Path):
        self.path = path
        self.state: dict[str, Any] = {}
        if path.exists():
            try:
                self.state = json.loads(path.read_text())
            except ValueError:
                self.state = {}  # torn by a crash mid-write: start over, which is safe

    def save(self, **changes: Any) -> None:
        self.state.update(changes)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.path)

    def position(self, phase: str) -> tuple[str, int]:
        """(file, offset) reached in ``phase``; ("", 0) if it has not started."""
        if self.state.get("phase") != phase:
            return "", 0
        return self.state.get("file", ""), int(self.state.get("offset", 0))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


@contextmanager
def _exclusive(home: Path) -> Iterator[None]:
    private_dir(home)
    with open(home / "reindex.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReindexBusy(f"another reindex is running on {home}; wait for it to finish") from None
        yield


def start_rebuild(settings: Settings, resume: str | None):
    """The search backend's Rebuild, resuming ``resume`` if given.

    The live tantivy index may be of an older layout (that is why one reindexes): it is then
    not opened at all, only replaced.
    """
    try:
        backend = open_backend(settings.search_backend, settings.index_dir, settings)
    except RuntimeError:
        if settings.search_backend != "tantivy":
            raise
        from search.tantivy_backend import TantivyRebuild

        return TantivyRebuild(settings.index_dir, resume)
    return backend.rebuild(resume=resume) if resume else backend.rebuild()


def reindex(settings: Settings, rebuild_catalog: bool = False, stream: TextIO | None = None,
            batch: int = BATCH_DOCS) -> ReindexReport:
    """Rebuild the search index from the WARC files (and the catalog's missing captures first,
    with ``rebuild_catalog`` or when the catalog file is missing)."""
    with _exclusive(settings.archive_home):
        checkpoint = Checkpoint(settings.archive_home / CHECKPOINT)
        report = ReindexReport()
        if checkpoint.state:
            report.resumed_from = (f"{checkpoint.state.get('phase')} phase, {checkpoint.state.get('file') or 'start'}"
                                   f" offset {checkpoint.state.get('offset', 0)}")
        rebuild_catalog = (rebuild_catalog or not settings.catalog_path.exists()
                           or checkpoint.state.get("phase") == "catalog")
        db = catalog.connect(settings.catalog_path)
        try:
            names = warc_store(settings).names()
            report.files = len(names)
            if checkpoint.state.get("phase") != "swapped":
                if rebuild_catalog:
                    _catalog_phase(db, settings, names, checkpoint, report, stream)
                _index_phase(db, settings, names, checkpoint, report, stream, batch)
            _catch_up(db, settings, checkpoint.state["newest"], vantage_countries(settings.capture_vantages))
            checkpoint.clear()
        finally:
            db.close()
        return report


def _catalog_phase(db: sqlite3.Connection, settings: Settings, names: list[str], checkpoint: Checkpoint,
                   report: ReindexReport, stream: TextIO | None) -> None:
    judge = OutcomeJudge.from_settings(settings)
    start_file, start_offset = checkpoint.position("catalog")
    checkpoint.save(phase="catalog", file=start_file, offset=start_offset)
    progress = _progress("catalog", warc_store(settings), names, start_file, start_offset, stream)
    for name, path in _whole_files(warc_store(settings), names, start_file):
        base = progress.bytes - (start_offset if name == start_file else 0)
        if name.startswith(IMPORT_PREFIX):  # pages of another tool's file; idempotent by record id
            part = ImportReport()
            import_file(db, path.parent, path.name, judge, None, lambda i, t: None, part,
                        on_record=lambda w, b=base: progress.update(b + w.offset + w.length, records=1))
            report.captures_added += part.added
            report.damage += part.damage
        else:
            walk, groups = walk_captures(path, start_offset if name == start_file else 0)
            for group in groups:
                progress.update(base + group.end, records=len(group.refs))
                if catalog_has(db, group.key):
                    continue
                catalog.add_capture(db, capture_row(db, path.parent, group, judge), group.refs)
                report.captures_added += 1
                checkpoint.save(phase="catalog", file=name, offset=group.end)
            _note_damage(walk, report)
        progress.update(base + path.stat().st_size, files=1)
        checkpoint.save(phase="catalog", file=_next(names, name), offset=0)
    progress.done()
    report.events = rebuild_events(db, vantage_countries(settings.capture_vantages))


def catalog_has(db: sqlite3.Connection, record_id: str) -> bool:
    return known(db, record_id) is not None


def _next(names: list[str], name: str) -> str:
    """The file after ``name`` (a name after every file once the last is done)."""
    i = names.index(name)
    return names[i + 1] if i + 1 < len(names) else name + "~"


def _index_phase(db: sqlite3.Connection, settings: Settings, names: list[str], checkpoint: Checkpoint,
                 report: ReindexReport, stream: TextIO | None, batch_docs: int) -> None:
    start_file, start_offset = checkpoint.position("index")
    rebuild = start_rebuild(settings, checkpoint.state.get("target") if start_file else None)
    newest = checkpoint.state.get("newest") if start_file else None
    if newest is None:
        newest = db.execute("SELECT coalesce(max(id), 0) FROM captures").fetchone()[0]
    checkpoint.save(phase="index", file=start_file, offset=start_offset, target=getattr(rebuild, "name", None),
                    newest=newest)
    country_of = vantage_countries(settings.capture_vantages)
    progress = _progress("index", warc_store(settings), names, start_file, start_offset, stream)
    batch: list[IndexDoc] = []
    chars = 0
    committed = 0
    pause_after = int(os.environ.get(PAUSE_AFTER_ENV) or 0)

    def flush(name: str, offset: int) -> None:
        nonlocal batch, chars, committed
        if batch:
            rebuild.add(batch)
            report.indexed += len(batch)
            db.executemany("UPDATE captures SET indexed = 1 WHERE id = ?", [(int(d.id),) for d in batch])
            committed += 1
        batch, chars = [], 0
        checkpoint.save(file=name, offset=offset)  # only after the batch is committed
        if pause_after and committed == pause_after:
            _pause_for_a_signal(settings.archive_home, checkpoint)

    for name, path in _whole_files(warc_store(settings), names, start_file):
        offset = start_offset if name == start_file else 0
        base = progress.bytes - offset
        for key, text, end, records in _texts(path, offset, report):
            progress.update(base + end, records=records)
            if text is None:
                continue
            capture_id = known(db, key)
            row = catalog.get_capture(db, capture_id) if capture_id is not None else None
            if row is None:
                report.not_in_catalog += 1
                continue
            if not catalog.is_visible(row) or capture_id > newest:
                continue  # not public: kept out of search; newer: indexed by whoever stored it
            batch.append(index_doc(db, row, text, country_of))
            chars += len(text)
            if len(batch) >= batch_docs or chars >= BATCH_CHARS:
                flush(name, end)
        flush(_next(names, name), 0)
        progress.update(base + path.stat().st_size, files=1)
    progress.done()
    # Stopped while swapping, a reindex starts the index afresh (the live one is whole either way);
    # stopped after, it only catches up.
    checkpoint.save(phase="swapping")
    rebuild.finish()
    checkpoint.save(phase="swapped")


def _pause_for_a_signal(home: Path, checkpoint: Checkpoint) -> None:
    """The test hook's stop: say where the reindex is (PAUSED_FILE, the checkpoint) and wait for a
    signal, so a test interrupts it at a known point instead of racing it with a timer."""
    ready = home / PAUSED_FILE
    ready.with_suffix(".tmp").write_text(json.dumps(checkpoint.state))
    ready.with_suffix(".tmp").replace(ready)  # whole or absent: the test never reads half of it
    while True:
        signal.pause()  # SIGINT raises KeyboardInterrupt out of here; SIGKILL ends the process


def _texts(path: Path, start: int, report: ReindexReport) -> Iterator[tuple[str, str | None, int, int]]:
    """(catalog key, main text or None, end offset, records) of each capture in one file."""
    if path.name.startswith(IMPORT_PREFIX):
        from search import extract

        walk = page_walk(path, start)
        for page in iter_pages(walk):
            end = max(w.offset + w.length for w in [page.main, *page.others, *filter(None, [page.request])])
            records = 1 + len(page.others) + (page.request is not None)
            yield page.key, extract(page.html, page.main.header("WARC-Target-URI")).text, end, records
    else:
        walk, groups = walk_captures(path, start)
        for group in groups:
            yield group.key, group.text, group.end, len(group.refs)
    _note_damage(walk, report)


def _note_damage(walk, report: ReindexReport) -> None:
    # The end of a file still being written is a record in the making, not damage.
    if walk.damage is not None and not walk.path.name.endswith(OPEN_SUFFIX):
        report.damage.append(walk.damage)


def _catch_up(db: sqlite3.Connection, settings: Settings, newest: int, country_of) -> None:
    """Captures stored while the rebuild ran went into the old index: put them in the new one."""
    from archive.capturing.indexing import reindex_url

    urls = [r[0] for r in db.execute("SELECT DISTINCT url FROM captures WHERE id > ? AND indexed = 1", (newest,))]
    if not urls:
        return
    with open_backend(settings.search_backend, settings.index_dir, settings) as backend:
        for url in urls:
            reindex_url(db, backend, warc_store(settings), url, country_of)


def _whole_files(store: WarcStore, names: list[str], start_file: str) -> Iterator[tuple[str, Path]]:
    """Each file from ``start_file`` on, as a path on this disk while the caller's loop body runs."""
    for name in names:
        if name >= start_file:
            with store.local_copy(name) as path:
                yield name, path


def _progress(label: str, store: WarcStore, names: list[str], start_file: str, start_offset: int,
              stream: TextIO | None) -> Progress:
    sizes = {name: store.size(name) for name in names}
    done = sum(size for name, size in sizes.items() if name < start_file)
    done += start_offset if start_file in sizes else 0
    progress = Progress(f"reindex: {label}", len(names), sum(sizes.values()), done_bytes=done, stream=stream)
    progress.files = sum(1 for name in names if name < start_file)
    return progress
