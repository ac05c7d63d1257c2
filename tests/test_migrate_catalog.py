"""`archive migrate-catalog --to postgresql://...`: a SQLite catalog copied into a real PostgreSQL, resumed
after an interruption, verified by counts and digests, with clear errors for bad input."""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from archive import catalog, catalogcopy
from archive.capturing import jobs
from archive.catalog import RecordRef, to_iso
from archive.staff.users import create_user
from archive.watches.watchlist import add_watch

from .conftest import run_cli

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def fill(path, captures: int = 120) -> None:
    """A SQLite catalog with rows in the tables that reference each other."""
    db = catalog.connect(path)
    create_user(db, "editor", "a long enough passphrase", "staff")
    for i in range(captures):
        url = f"https://site{i % 7}.kg/{i}"
        job = jobs.enqueue(db, url)
        refs = [RecordRef("response", "response", url, f"<urn:uuid:{i}-{n}>", "application/http", "a.warc.gz",
                          i * 1000 + n * 100, 100, f"sha256:{i}", None, None, to_iso(T0)) for n in range(3)]
        capture_id = catalog.add_capture(db, {"url": url, "captured_at": to_iso(T0 + timedelta(minutes=i)),
                                              "status": 200, "title": f"страница {i}", "job_id": job}, refs)
        jobs.finish(db, job, capture_id)
        add_watch(db, url, 3600)
    db.execute("INSERT INTO host_bytes (host, day, bytes) VALUES ('site1.kg', '2024-05-01', 12345)")
    db.close()


def test_copy_resume_and_verify(tmp_path, postgres_db, monkeypatch):
    source = tmp_path / "catalog.sqlite3"
    fill(source)
    monkeypatch.setattr(catalogcopy, "BATCH", 50)

    class Killed(Exception):
        pass

    class DiesMidway(io.StringIO):
        """Progress output that stops the copy after its second batch (the kill comes as the batch is reported)."""

        def write(self, text: str) -> int:
            if self.getvalue().count("\n") >= 1:
                raise Killed
            return super().write(text)

    with pytest.raises(Killed):
        catalogcopy.copy_catalog(source, postgres_db, DiesMidway())
    pg = catalog.connect(postgres_db)
    partly = sum(pg.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in pg.tables())
    assert 0 < partly < 120 * 5  # stopped partway

    out = io.StringIO()
    report = catalogcopy.copy_catalog(source, postgres_db, out)
    assert report.verified, out.getvalue()
    assert "already there, going on" in out.getvalue() and "verified" in out.getvalue()
    assert report.counts["captures"] == 120 and 0 < report.copied["captures"] < 120  # the resumed run did the rest
    assert report.copied["records"] == report.counts["records"] == 360

    sqlite = catalog.connect(source)
    for capture_id in (1, 60, 120):
        assert catalog.get_capture(pg, capture_id) == catalog.get_capture(sqlite, capture_id)
        assert catalog.get_records(pg, capture_id) == catalog.get_records(sqlite, capture_id)
    # New rows continue above the copied ids.
    assert jobs.enqueue(pg, "https://kloop.kg/new") == 121
    # A difference made afterwards is found by the digests.
    pg.execute("UPDATE captures SET title = 'changed' WHERE id = 7")
    again = catalogcopy.copy_catalog(source, postgres_db, io.StringIO())
    assert again.mismatched == ["captures", "jobs"]
    sqlite.close()
    pg.close()


def test_cli_copies_and_refuses_bad_input(tmp_path, env, postgres_db, postgres_url):
    home = tmp_path / "home"
    fill(home / "catalog.sqlite3", captures=5)
    done = run_cli(env, "migrate-catalog", "--to", postgres_db)
    assert done.returncode == 0, done.stderr
    assert "copied and verified" in done.stdout and "captures 5/5 rows (100%)" in done.stderr

    not_pg = run_cli(env, "migrate-catalog", "--to", str(tmp_path / "other.sqlite3"))
    assert not_pg.returncode == 2 and "is not a PostgreSQL URL" in not_pg.stderr
    nothing = run_cli(env, "migrate-catalog", "--to", postgres_db, "--from", str(tmp_path / "missing.sqlite3"))
    assert nothing.returncode == 2 and "no SQLite catalog at" in nothing.stderr
    absent = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    refused = run_cli(env, "migrate-catalog", "--to", absent)
    assert refused.returncode == 2 and "cannot open the PostgreSQL catalog" in refused.stderr, refused.stderr
    assert "createdb" in refused.stderr
