"""A throwaway PostgreSQL server for the tests, started once per session.

With TEST_DATABASE_URL set, tests use that server (each test in a database of its own). Otherwise
the session runs Debian's PostgreSQL (`make test-setup` installs it as root): `initdb` in a temporary
folder, `pg_ctl start` on a free port on 127.0.0.1, stopped and removed at the session's end. As
root, PostgreSQL refuses to run, so both run as the `postgres` user, which then owns the folder.
Where no PostgreSQL can be found the tests that need one skip, saying why and how to get one.

The catalog conformance suite: a test module whose ``settings`` take ``database_url`` (or whose
catalog opens ``catalog_location``) runs each test on both engines, SQLite and PostgreSQL, as
tests/test_search_conformance.py does for the search backends. ``sqlite_only`` marks the few tests
of SQLite's own machinery (its query plans, its file locks).
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import free_port

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # newest version first
SUPERUSER = "archive"


def pg_bin(name: str) -> str | None:
    """A PostgreSQL program: Debian keeps them out of PATH, under /usr/lib/postgresql/N/bin."""
    for folder in BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in a temporary folder."""

    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def database(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr or done.stdout}\n{tail}")

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            os.chown(self.folder, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
        data = self.folder / "data"
        self._run(pg_bin("initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")
        # fsync off: a test server's data need not outlive a power cut; it spares the shared disk.
        # `-l` gives the server its own log file: a pipe nobody reads would block it once full.
        self._run(pg_bin("pg_ctl"), "-D", str(data), "-l", str(self.folder / "server.log"), "-w", "-t", "120",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
                        " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                  "start")
        return self

    def stop(self) -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")


ENGINES = ("sqlite", "postgresql")
sqlite_only = pytest.mark.parametrize("catalog_engine", ["sqlite"])
SHARED = "catalog_tests"


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server at ``admin_url``; return its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database: TEST_DATABASE_URL, else one started here."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    if pg_bin("initdb") is None or pg_bin("pg_ctl") is None:
        pytest.skip("PostgreSQL is not installed: `make test-setup` as root installs Debian's postgresql, "
                    "or set TEST_DATABASE_URL=postgresql://... to a server the tests may create databases on")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, PostgreSQL needs the `postgres` user (Debian's postgresql package makes it)")
    folder = Path(tempfile.mkdtemp(prefix="archive-pg-"))
    server = PostgresServer(folder, free_port())
    try:
        server.start()
        yield server.url
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh empty database for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = create_database(postgres_url, name)
    yield url
    drop_database(postgres_url, name)


@pytest.fixture(scope="session")
def shared_catalog(postgres_url: str) -> str:
    """One catalog database for the session's tests, migrated once (tests run one at a time)."""
    from archive import catalog

    drop_database(postgres_url, SHARED)
    url = create_database(postgres_url, SHARED)
    catalog.connect(url).close()
    return url


@pytest.fixture
def postgres_catalog(shared_catalog: str) -> str:
    """An empty catalog on PostgreSQL for one test: the session's, every table emptied and its ids
    started again (quicker than a new database and every migration)."""
    from archive import catalog

    with closing(catalog.connect(shared_catalog, migrate_schema=False)) as db:
        # Connections a previous test left open would hold the truncation up: end them.
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                   " AND pid != pg_backend_pid()")
        db.execute(f"TRUNCATE {', '.join(db.tables())} RESTART IDENTITY CASCADE")
    return shared_catalog


@pytest.fixture(params=ENGINES)
def catalog_engine(request: pytest.FixtureRequest) -> str:
    """The catalog's engine this run of the test uses."""
    return request.param


@pytest.fixture
def database_url(catalog_engine: str, request: pytest.FixtureRequest) -> str:
    """DATABASE_URL for this run: empty for SQLite (the file in ARCHIVE_HOME), a fresh catalog on PostgreSQL."""
    return request.getfixturevalue("postgres_catalog") if catalog_engine == "postgresql" else ""


@pytest.fixture
def catalog_location(database_url: str, tmp_path: Path) -> Path | str:
    """Where this run's catalog is: a SQLite file in the test's folder, or a fresh PostgreSQL database."""
    return database_url or tmp_path / "catalog.sqlite3"
