"""Copying a SQLite catalog into PostgreSQL (`python -m archive migrate-catalog --to postgresql://...`).

Tables are copied parents first (by their foreign keys), in batches, each batch one transaction;
rows keep their ids. A copy that stops (killed, connection lost) is run again and goes on from the
highest id the target has; rows already there are skipped (ON CONFLICT DO NOTHING). Afterwards the
target's ids continue above the copied ones, and every table is verified: the same row count and the
same SHA-256 over its rows in id order (tables without ids: over their sorted rows).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TextIO

from archive import catalog
from archive.catalog import transaction

BATCH = 2000


class CopyError(RuntimeError):
    """The copy cannot start or cannot go on; the message says why and what to do."""


@dataclass
class CopyReport:
    copied: dict[str, int] = field(default_factory=dict)  # rows written by this run, per table
    counts: dict[str, int] = field(default_factory=dict)  # rows per table in the source
    mismatched: list[str] = field(default_factory=list)  # tables whose count or digest differ

    @property
    def verified(self) -> bool:
        return not self.mismatched


def _parents_first(db: catalog.Catalog, tables: list[str]) -> list[str]:
    """``tables`` ordered so each comes after the tables its foreign keys point to."""
    needs = {t: {r[2] for r in db.execute(f"PRAGMA foreign_key_list({t})")} & set(tables) - {t} for t in tables}
    ordered: list[str] = []
    while needs:
        ready = sorted(t for t, parents in needs.items() if parents <= set(ordered))
        if not ready:  # a cycle: the rest in name order (the catalog has none)
            ready = sorted(needs)
        for t in ready:
            ordered.append(t)
            del needs[t]
    return ordered


def _rows(db: catalog.Catalog, table: str, columns: list[str], after: int | None = None) -> Iterator[tuple]:
    """The table's rows: by id (from above ``after``), or all of them sorted when it has no id."""
    cols = ", ".join(columns)
    if "id" in columns:
        last = after if after is not None else -1
        while True:
            batch = db.execute(f"SELECT {cols} FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (last, BATCH)).fetchall()
            if not batch:
                return
            yield from (tuple(r) for r in batch)
            last = batch[-1][columns.index("id")]
    else:
        yield from sorted((tuple(r) for r in db.execute(f"SELECT {cols} FROM {table}")),
                          key=lambda r: json.dumps(r, default=str))


def digest(db: catalog.Catalog, table: str, columns: list[str]) -> tuple[int, str]:
    """Row count and SHA-256 of ``table``'s rows (``columns`` in this order), the same on both engines."""
    h, n = hashlib.sha256(), 0
    for row in _rows(db, table, columns):
        h.update(json.dumps(row, default=str).encode() + b"\n")
        n += 1
    return n, h.hexdigest()


def copy_catalog(source: Path, target: str, stream: TextIO | None = None) -> CopyReport:
    """Copy the SQLite catalog at ``source`` into the PostgreSQL database at ``target``, then verify."""
    stream = stream or sys.stderr
    if not catalog.is_database_url(target):
        raise CopyError(f"--to {target!r} is not a PostgreSQL URL: give postgresql://user:password@host:5432/dbname")
    if not Path(source).is_file():
        raise CopyError(f"no SQLite catalog at {source}: set ARCHIVE_HOME to the archive to copy, or give --from")
    src = catalog.connect(source)  # brought to the current schema, as the target will be
    try:
        try:
            dst = catalog.connect(target)
        except sqlite3.Error as exc:
            raise CopyError(f"cannot open the PostgreSQL catalog: {exc}; check the URL, that the server runs and "
                            "that the database exists (createdb)") from exc
        try:
            return _copy(src, dst, stream)
        finally:
            dst.close()
    finally:
        src.close()


def _copy_table(src: catalog.Catalog, dst: catalog.Catalog, table: str, stream: TextIO) -> tuple[int, int]:
    """Copy one table's rows the target lacks, a batch per transaction; return (source rows, rows copied)."""
    columns = [c for c in src.columns(table) if c in set(dst.columns(table))]
    total = src.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    after = dst.execute(f"SELECT max(id) FROM {table}").fetchone()[0] if "id" in columns else None
    done = dst.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if done:
        print(f"migrate-catalog: {table}: {done} of {total} rows already there, going on", file=stream)
    insert = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
              " ON CONFLICT DO NOTHING")
    started, copied = time.monotonic(), 0
    rows = _rows(src, table, columns, after)
    while batch := list(islice(rows, BATCH)):
        with transaction(dst):
            dst.executemany(insert, batch)
        copied += len(batch)
        rate = copied / max(time.monotonic() - started, 1e-6)
        print(f"migrate-catalog: {table} {min(done + copied, total)}/{total} rows"
              f" ({min(done + copied, total) / max(total, 1):.0%}), {rate:.0f} rows/s", file=stream)
    return total, copied


def _copy(src: catalog.Catalog, dst: catalog.Catalog, stream: TextIO) -> CopyReport:
    report = CopyReport()
    tables = _parents_first(src, src.tables())
    missing = sorted(set(tables) - set(dst.tables()))
    if missing:
        raise CopyError(f"the PostgreSQL catalog has no table {', '.join(missing)}: is its software older? "
                        "run the same version on both")
    for table in tables:
        report.counts[table], report.copied[table] = _copy_table(src, dst, table, stream)
        dst.reset_ids(table)
    for table in tables:
        columns = [c for c in src.columns(table) if c in set(dst.columns(table))]
        if digest(src, table, columns) != digest(dst, table, columns):
            report.mismatched.append(table)
    verdict = ("verified: every table has the same rows and digest" if report.verified
               else f"NOT verified: {', '.join(report.mismatched)} differ (rows written to the target meanwhile?)")
    print(f"migrate-catalog: {sum(report.counts.values())} rows in {len(tables)} tables; {verdict}", file=stream)
    return report


__all__ = ["copy_catalog", "CopyReport", "CopyError", "digest"]
