"""The catalog: captures, their WARC records, and capture jobs, in SQLite or PostgreSQL.

The WARC files are the source of truth; the catalog says where each capture's
records are. A capture row is only written after its records are on disk.

One set of queries serves both engines: they are written in SQLite's dialect, and
`archive.pgcatalog` translates them for PostgreSQL (DATABASE_URL). What differs between the
engines (starting a write transaction, the schema version, DDL types, advisory locks) is the
`Engine` protocol, which both connection classes implement.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from archive import pgcatalog
from archive.keys import private_dir, private_file

# Each entry moves the schema up one version (PRAGMA user_version; on PostgreSQL the schema_version
# table); never edit a shipped entry, append a new one, in portable SQL (pgcatalog.translate_ddl).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE captures (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        final_url TEXT,
        captured_at TEXT NOT NULL,
        ended_at TEXT,
        status INTEGER,
        title TEXT NOT NULL DEFAULT '',
        lang TEXT NOT NULL DEFAULT '',
        sha256 TEXT,
        partial INTEGER NOT NULL DEFAULT 0,
        partial_reasons TEXT NOT NULL DEFAULT '[]',
        blocked TEXT NOT NULL DEFAULT '[]',
        job_id INTEGER,
        indexed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX captures_url ON captures(url, captured_at);
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        capture_id INTEGER NOT NULL REFERENCES captures(id),
        role TEXT NOT NULL,
        record_type TEXT NOT NULL,
        target_uri TEXT NOT NULL,
        record_id TEXT NOT NULL,
        content_type TEXT NOT NULL DEFAULT '',
        warc_file TEXT NOT NULL,
        offset INTEGER NOT NULL,
        length INTEGER NOT NULL,
        payload_digest TEXT,
        block_digest TEXT
    );
    CREATE INDEX records_capture ON records(capture_id, id);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        capture_id INTEGER REFERENCES captures(id),
        worker TEXT,
        heartbeat_at TEXT
    );
    CREATE INDEX jobs_status ON jobs(status, id);
    """,
    # 2: revisit records name the record holding their payload; find records by digest and id.
    """
    ALTER TABLE records ADD COLUMN refers_to TEXT;
    CREATE INDEX records_payload_digest ON records(payload_digest);
    CREATE INDEX records_record_id ON records(record_id);
    """,
    # 3: each record's WARC-Date and WARC-Truncated, so a revisit can name its original's date
    # and never a cut-short one. Rows from before have no warc_date: they are never dedup targets.
    """
    ALTER TABLE records ADD COLUMN warc_date TEXT;
    ALTER TABLE records ADD COLUMN truncated TEXT;
    CREATE INDEX records_original ON records(payload_digest)
        WHERE record_type = 'response' AND truncated IS NULL AND warc_date IS NOT NULL;
    """,
    # 4: where a capture was made from (a vantage point's name, or direct), and where a job asks for.
    """
    ALTER TABLE captures ADD COLUMN vantage TEXT NOT NULL DEFAULT 'direct';
    ALTER TABLE jobs ADD COLUMN vantage TEXT NOT NULL DEFAULT 'direct';
    """,
    # 5: removals. Each capture's outcome and the evidence for it; watched URLs and when each is
    # next due; removal events (before/after pairs); takedown orders and the URLs they target;
    # staff accounts and their audit log.
    """
    ALTER TABLE captures ADD COLUMN outcome TEXT;
    ALTER TABLE captures ADD COLUMN evidence TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE captures ADD COLUMN watch_id INTEGER;
    CREATE INDEX captures_outcome ON captures(outcome, captured_at);
    CREATE INDEX captures_url_vantage ON captures(url, vantage, captured_at);
    CREATE TABLE watches (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        host TEXT NOT NULL,
        vantage TEXT NOT NULL DEFAULT 'direct',
        every_seconds INTEGER NOT NULL,
        next_due TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        last_job_id INTEGER,
        source TEXT NOT NULL DEFAULT 'user',
        UNIQUE (url, vantage)
    );
    CREATE INDEX watches_due ON watches(next_due) WHERE active = 1;
    ALTER TABLE jobs ADD COLUMN watch_id INTEGER;
    ALTER TABLE jobs ADD COLUMN not_before TEXT;
    CREATE TABLE removal_events (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        vantage TEXT NOT NULL,
        country TEXT,
        outcome TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('source', 'country')),
        before_capture_id INTEGER NOT NULL REFERENCES captures(id),
        after_capture_id INTEGER NOT NULL REFERENCES captures(id),
        last_ok_at TEXT NOT NULL,
        first_removed_at TEXT NOT NULL,
        closed_at TEXT,
        restored_capture_id INTEGER REFERENCES captures(id)
    );
    CREATE INDEX removal_events_url ON removal_events(url, vantage, closed_at);
    CREATE INDEX removal_events_time ON removal_events(first_removed_at);
    CREATE TABLE takedowns (
        id INTEGER PRIMARY KEY,
        authority TEXT NOT NULL,
        recipient TEXT NOT NULL,
        country TEXT NOT NULL,
        legal_basis TEXT NOT NULL DEFAULT '',
        issued_on TEXT,
        received_on TEXT,
        effective_on TEXT,
        action_demanded TEXT NOT NULL,
        action_reported TEXT NOT NULL DEFAULT '',
        summary TEXT NOT NULL DEFAULT '',
        document_name TEXT,
        document_type TEXT,
        document_sha256 TEXT,
        document_record_id TEXT,
        document_warc_file TEXT,
        document_offset INTEGER,
        document_length INTEGER,
        published INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        created_by INTEGER
    );
    CREATE TABLE takedown_urls (
        takedown_id INTEGER NOT NULL REFERENCES takedowns(id),
        url TEXT NOT NULL,
        PRIMARY KEY (takedown_id, url)
    );
    CREATE INDEX takedown_urls_url ON takedown_urls(url);
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT 'staff',
        created_at TEXT NOT NULL
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user_id INTEGER,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 6: citing and submitting. Short permalinks; staff moderation (private / removed by us, with a
    # reason); API tokens (only their hash is kept); bytes captured per host per day (the budget);
    # capture options on jobs (outlinks) and the job that asked for an outlink capture.
    """
    ALTER TABLE captures ADD COLUMN permalink TEXT;
    CREATE UNIQUE INDEX captures_permalink ON captures(permalink);
    ALTER TABLE captures ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
    ALTER TABLE captures ADD COLUMN visibility_reason TEXT;
    ALTER TABLE captures ADD COLUMN bytes INTEGER;
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        user_id INTEGER REFERENCES users(id),
        revoked_at TEXT
    );
    CREATE TABLE host_bytes (
        host TEXT NOT NULL,
        day TEXT NOT NULL,
        bytes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (host, day)
    );
    ALTER TABLE jobs ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE jobs ADD COLUMN parent_job_id INTEGER;
    ALTER TABLE jobs ADD COLUMN token_id INTEGER;
    """,
    # 7: evidence kept as it was seen. The country a capture's vantage stood in, kept with the capture
    # (settings may rename or drop a vantage later; older rows are filled from their WARC provenance
    # by archive.capturing.countries); and the capture holding an event's strongest evidence.
    """
    ALTER TABLE captures ADD COLUMN vantage_country TEXT;
    ALTER TABLE removal_events ADD COLUMN evidence_capture_id INTEGER REFERENCES captures(id);
    """,
    # 8: staff sessions that can be ended from the server (a session names its account's
    # session_version, which logout, disabling and a password reset raise); disabled accounts;
    # failed sign-ins per account and per client address, read by every process to throttle them;
    # watches by source, so those of unpublished orders are counted out of the public's total quickly.
    """
    ALTER TABLE users ADD COLUMN session_version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE users ADD COLUMN disabled_at TEXT;
    CREATE TABLE login_failures (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('account', 'address')),
        key TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX login_failures_key ON login_failures(kind, key, at);
    CREATE INDEX watches_source ON watches(source) WHERE active = 1;
    """,
    # 9: where an imported capture came from when that was more than a bare WARC: JSON such as
    # {"kind": "wacz", "package": ..., "signed": true, "signed_by": ..., "signed_at": ...}; NULL otherwise.
    """
    ALTER TABLE captures ADD COLUMN source TEXT;
    """,
    # 10: when scheduled captures started, by time, so WATCH_HOST_DELAY is measured from a host's
    # last start (the scheduler and the worker look back that far) without scanning every job.
    """
    CREATE INDEX jobs_watch_started ON jobs(started_at) WHERE watch_id IS NOT NULL;
    """,
    # issue 21: crawls of whole sites. A crawl (its seeds, scope, limits, politeness, robots override
    # and why, state and counters, when it is next crawled again); its frontier, one row per URL
    # (UNIQUE: each URL once per crawl), which feeds the ordinary job queue a few jobs per host at a
    # time; per host, the robots.txt seen and when the next job may start; jobs name their crawl.
    """
    CREATE TABLE crawls (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        seeds TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('page', 'prefix', 'host', 'domain')),
        include_re TEXT,
        exclude_re TEXT,
        max_depth INTEGER,
        max_pages INTEGER,
        max_bytes INTEGER,
        max_seconds INTEGER,
        host_delay REAL NOT NULL DEFAULT 1,
        host_concurrency INTEGER NOT NULL DEFAULT 2,
        vantage TEXT NOT NULL DEFAULT 'direct',
        ignore_robots INTEGER NOT NULL DEFAULT 0,
        robots_reason TEXT,
        options TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'paused', 'cancelled', 'done')),
        stop_reason TEXT,
        previous_crawl_id INTEGER REFERENCES crawls(id),
        token_id INTEGER,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        pages INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        recrawl_every INTEGER,
        recrawl_due TEXT
    );
    CREATE INDEX crawls_state ON crawls(state);
    CREATE INDEX crawls_recrawl_due ON crawls(recrawl_due) WHERE recrawl_due IS NOT NULL;
    CREATE TABLE crawl_urls (
        id INTEGER PRIMARY KEY,
        crawl_id INTEGER NOT NULL REFERENCES crawls(id),
        url TEXT NOT NULL,
        host TEXT NOT NULL,
        depth INTEGER NOT NULL,
        via TEXT NOT NULL,
        listed INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL CHECK (state IN ('pending', 'queued', 'captured', 'skipped', 'failed')),
        reason TEXT,
        retries INTEGER NOT NULL DEFAULT 0,
        capture_id INTEGER REFERENCES captures(id),
        job_id INTEGER,
        discovered_from INTEGER,
        created_at TEXT NOT NULL,
        finished_at TEXT,
        UNIQUE (crawl_id, url)
    );
    CREATE INDEX crawl_urls_state ON crawl_urls(crawl_id, state, host);
    CREATE TABLE crawl_hosts (
        crawl_id INTEGER NOT NULL REFERENCES crawls(id),
        host TEXT NOT NULL,
        next_at TEXT,
        robots TEXT,
        PRIMARY KEY (crawl_id, host)
    );
    ALTER TABLE jobs ADD COLUMN crawl_id INTEGER;
    CREATE INDEX jobs_crawl ON jobs(crawl_id, status) WHERE crawl_id IS NOT NULL;
    """,
    # issue 22: an order's URLs in the order it lists them, without SQLite's rowid (PostgreSQL has
    # none). Orders stored before get 0 and list their URLs alphabetically.
    """
    ALTER TABLE takedown_urls ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
    """,
    # issue 17: orders imported from the registers that publish them (Roskomnadzor, Lumen, GitHub).
    # An imported order names its register, its key there (one decision, one notice), the file it
    # came from, the authority normalised, and when it was last listed and lifted (never deleted);
    # each URL is lifted on its own too. Domains and redacted URLs are kept as the register gives
    # them. OONI measurements are blocking evidence of a URL in a country, beside our own captures.
    """
    ALTER TABLE takedowns ADD COLUMN register TEXT;
    ALTER TABLE takedowns ADD COLUMN register_key TEXT;
    ALTER TABLE takedowns ADD COLUMN register_source TEXT;
    ALTER TABLE takedowns ADD COLUMN authority_normalized TEXT;
    ALTER TABLE takedowns ADD COLUMN listed_at TEXT;
    ALTER TABLE takedowns ADD COLUMN lifted_on TEXT;
    ALTER TABLE takedowns ADD COLUMN redacted_urls INTEGER NOT NULL DEFAULT 0;
    CREATE UNIQUE INDEX takedowns_register_key ON takedowns(register, register_key);
    ALTER TABLE takedown_urls ADD COLUMN listed_at TEXT;
    ALTER TABLE takedown_urls ADD COLUMN lifted_on TEXT;
    CREATE TABLE takedown_domains (
        takedown_id INTEGER NOT NULL REFERENCES takedowns(id),
        domain TEXT NOT NULL,
        redacted_count INTEGER,
        PRIMARY KEY (takedown_id, domain)
    );
    CREATE INDEX takedown_domains_domain ON takedown_domains(domain);
    CREATE TABLE register_imports (
        id INTEGER PRIMARY KEY,
        register TEXT NOT NULL,
        source TEXT NOT NULL,
        listed_at TEXT,
        imported_at TEXT NOT NULL,
        rows_read INTEGER NOT NULL DEFAULT 0,
        added INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        lifted INTEGER NOT NULL DEFAULT 0,
        rejected INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE blocking_measurements (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        measurement_id TEXT NOT NULL UNIQUE,
        url TEXT NOT NULL,
        country TEXT NOT NULL,
        asn TEXT NOT NULL DEFAULT '',
        measured_at TEXT NOT NULL,
        blocking TEXT NOT NULL,
        accessible INTEGER,
        imported_from TEXT NOT NULL DEFAULT '',
        imported_at TEXT NOT NULL
    );
    CREATE INDEX blocking_measurements_url ON blocking_measurements(url, measured_at);
    """,
    # issue 18: the step a running job is at ('loading', 'recording', 'indexing'), for its page;
    # NULL while queued and for jobs that ended before steps were kept.
    """
    ALTER TABLE jobs ADD COLUMN step TEXT;
    """,
)

# The one visibility rule. Staff may take a capture out of public view (visibility 'private' or
# 'removed'); for everyone else it then reads as if it were not there. Every reader of captures,
# and of what points at them (removal events, jobs, watches, orders), asks through these.
PUBLIC = "public"


def visible_sql(alias: str = "captures", staff: bool = False) -> str:
    """SQL that is true for the rows of ``alias`` (a captures table) this reader may see."""
    return "1 = 1" if staff else f"{alias}.visibility = '{PUBLIC}'"


def event_visible_sql(alias: str = "e", staff: bool = False) -> str:
    """SQL that is true for the removal events (table alias ``alias``) this reader may see: staff see all,
    the public those whose before and after captures are both public."""
    if staff:
        return "1 = 1"
    return (f"NOT EXISTS (SELECT 1 FROM captures hc WHERE hc.id IN ({alias}.before_capture_id,"
            f" {alias}.after_capture_id) AND NOT {visible_sql('hc')})")


def is_visible(capture: Mapping[str, Any] | sqlite3.Row, staff: bool = False) -> bool:
    """Whether this reader may see ``capture`` (a catalog row, as a dict or a sqlite3.Row)."""
    try:
        visibility = capture["visibility"]
    except (KeyError, IndexError):  # a row read without the column: from before moderation existed
        visibility = PUBLIC
    return staff or visibility == PUBLIC


def utcnow() -> str:
    """Now in UTC as the catalog stores times: ISO 8601 with a Z."""
    return to_iso(datetime.now(UTC))


def to_iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def to_utc(value: datetime | str) -> datetime:
    """An aware datetime or a catalog time string, as a datetime in UTC."""
    if isinstance(value, str):
        value = from_iso(value)
    return value.astimezone(UTC)


def iso_utc(value: datetime | str | None) -> str | None:
    """``value`` as ISO 8601 UTC with a Z; microseconds only when there are any."""
    if value is None or value == "":
        return None
    return to_utc(value).isoformat(timespec="auto").replace("+00:00", "Z")


class Engine(Protocol):
    """What differs between the catalog's engines; a catalog connection (sqlite3's or
    `pgcatalog.PgConnection`) offers sqlite3.Connection's methods and these."""

    engine: str  # "sqlite" or "postgresql"

    def begin(self) -> None: ...  # start a write transaction that holds the catalog's write lock
    def schema_version(self) -> int: ...
    def set_schema_version(self, version: int) -> None: ...
    def run_ddl(self, statement: str) -> None: ...  # one migration statement, in the engine's types
    def tables(self) -> list[str]: ...
    def columns(self, table: str) -> list[str]: ...
    def reset_ids(self, table: str) -> None: ...  # after rows were copied in with their ids

    def only_one(self, lock: int) -> Any: ...  # context: yields whether this process alone holds ``lock``


class SqliteConnection(sqlite3.Connection):
    """A catalog connection to a SQLite file."""

    engine = "sqlite"

    def begin(self) -> None:
        # BEGIN IMMEDIATE takes the write lock at the start (see `transaction`).
        self.execute("BEGIN IMMEDIATE")

    def schema_version(self) -> int:
        return self.execute("PRAGMA user_version").fetchone()[0]

    def set_schema_version(self, version: int) -> None:
        self.execute(f"PRAGMA user_version = {int(version)}")

    def run_ddl(self, statement: str) -> None:
        self.execute(statement)

    def tables(self) -> list[str]:
        return [r[0] for r in self.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                           " AND name NOT LIKE 'sqlite_%' ORDER BY name")]

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.execute(f"PRAGMA table_info({table})")]

    def reset_ids(self, table: str) -> None:
        pass  # SQLite numbers new rows above the highest id anyway

    @contextmanager
    def only_one(self, lock: int) -> Iterator[bool]:
        yield True  # a SQLite catalog has one machine; its processes already agree through the write lock


Catalog = SqliteConnection | pgcatalog.PgConnection


def is_database_url(where: Path | str) -> bool:
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


def connect(path: Path | str, migrate_schema: bool = True) -> Catalog:
    """Open the catalog (a SQLite file's path, or a postgresql:// URL); unless told not to, create it
    and apply pending migrations.

    The web app migrates once at start and then opens connections per request without.
    """
    if is_database_url(path):
        db = pgcatalog.connect(str(path))
        if migrate_schema:
            migrate(db)
        return db
    path = Path(path)
    if migrate_schema or not path.exists():
        private_dir(path.parent)
        private_file(path)  # it holds password hashes; SQLite gives its -wal and -shm files the same mode
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False,
                         factory=SqliteConnection)
    db.row_factory = sqlite3.Row
    _use_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    if migrate_schema:
        migrate(db)
    return db


@contextmanager
def transaction(db: Catalog) -> Iterator[Catalog]:
    """``with transaction(db):`` runs its block as one write transaction.

    BEGIN IMMEDIATE takes the write lock at the start, so two writers wait for each other instead
    of failing with "database is locked" halfway through (on PostgreSQL an advisory lock does the
    same: `pgcatalog.PgConnection.begin`). COMMIT when the block ends, ROLLBACK when
    it raises (the exception goes on). Nested inside another transaction it is a SAVEPOINT: an
    exception undoes only the inner block's writes, and the outer block decides about the rest.
    """
    if db.in_transaction:
        name = f"nested_{secrets.token_hex(4)}"
        db.execute(f"SAVEPOINT {name}")
        try:
            yield db
        except BaseException:
            db.execute(f"ROLLBACK TO {name}")
            db.execute(f"RELEASE {name}")
            raise
        db.execute(f"RELEASE {name}")
        return
    if hasattr(db, "begin"):
        db.begin()
    else:  # a bare sqlite3 connection (tests open some)
        db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # also when COMMIT itself failed: the lock must not stay held
            db.execute("ROLLBACK")
        raise


def _use_wal(db: sqlite3.Connection, patience: float = 30.0) -> None:
    """Put the catalog in WAL mode, retrying while another connection holds it.

    On a new file the switch needs the file to itself, and SQLite answers "database is locked"
    at once instead of waiting its busy timeout: `serve`'s worker or scheduler thread, opening the
    catalog beside the web app's, died of it (issue 23). WAL is kept in the file, so later opens
    find it set and switch nothing.
    """
    deadline = time.monotonic() + patience
    pause = 0.01
    while True:
        try:
            if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
            # Not switched (SQLite then names the old mode): someone else has the file; wait and retry.
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"could not switch the catalog to WAL mode in {patience:.0f} s: "
                                           "another process keeps it locked")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def migrate(db: Catalog) -> int:
    """Apply migrations the database has not seen; return the schema version."""
    with transaction(db):
        version = db.schema_version()
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"catalog schema version {version} is newer than this software knows "
                f"({len(MIGRATIONS)}); upgrade the archive software"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    db.run_ddl(statement)
            db.set_schema_version(number)
        if version < 6 <= len(MIGRATIONS):
            backfill_permalinks(db)  # rows from before v6 get theirs in the same transaction
    return len(MIGRATIONS)


@dataclass(frozen=True)
class RecordRef:
    """Where one WARC record of a capture lives."""

    role: str  # warcinfo, response, request, screenshot, dom, text, provenance
    record_type: str
    target_uri: str
    record_id: str
    content_type: str
    warc_file: str
    offset: int
    length: int
    payload_digest: str | None = None
    block_digest: str | None = None
    refers_to: str | None = None  # for a revisit: WARC-Record-ID of the record with the payload
    warc_date: str | None = None  # the record's WARC-Date
    truncated: str | None = None  # its WARC-Truncated reason, if it was cut short


# Permalinks: 8 characters from an alphabet without look-alikes (no 0/o, 1/l/i), lower case;
# links are matched case-insensitively and redirected to this canonical form.
PERMALINK_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
PERMALINK_LENGTH = 8


def new_permalink() -> str:
    return "".join(secrets.choice(PERMALINK_ALPHABET) for _ in range(PERMALINK_LENGTH))


def canonical_permalink(text: str) -> str | None:
    """``text`` as a canonical permalink, or None if it cannot be one."""
    key = text.strip().lower()
    if len(key) != PERMALINK_LENGTH or any(c not in PERMALINK_ALPHABET for c in key):
        return None
    return key


def backfill_permalinks(db: sqlite3.Connection) -> int:
    """Give captures stored before permalinks existed their permalink; return how many."""
    done = 0
    for (capture_id,) in db.execute("SELECT id FROM captures WHERE permalink IS NULL").fetchall():
        while True:
            try:
                db.execute("UPDATE captures SET permalink = ? WHERE id = ?", (new_permalink(), capture_id))
                break
            except sqlite3.IntegrityError:  # one in 10^11: draw again
                continue
        done += 1
    return done


def add_capture(db: sqlite3.Connection, capture: dict[str, Any], records: Iterable[RecordRef]) -> int:
    """Insert a capture and its record locations in one transaction; return its id."""
    with transaction(db):
        return insert_capture(db, capture, records)


def insert_capture(db: sqlite3.Connection, capture: dict[str, Any], records: Iterable[RecordRef]) -> int:
    """Insert a capture and its record locations; return its id. The caller holds the transaction,
    so what else the capture changes (its removal event, its job) commits with it."""
    cols = ("url", "final_url", "captured_at", "ended_at", "status", "title", "lang",
            "sha256", "partial", "partial_reasons", "blocked", "job_id", "vantage", "outcome", "evidence",
            "watch_id", "permalink", "bytes", "vantage_country", "source")
    row = {c: capture.get(c) for c in cols}
    row["permalink"] = row["permalink"] or new_permalink()
    row["evidence"] = json.dumps(row["evidence"] or {}, ensure_ascii=False)
    row["partial"] = int(bool(row["partial"]))
    for c in ("partial_reasons", "blocked"):
        row[c] = json.dumps(row[c] or [])
    row["title"] = row["title"] or ""
    row["vantage"] = row["vantage"] or "direct"
    row["lang"] = row["lang"] or ""
    row["source"] = json.dumps(row["source"], ensure_ascii=False) if row["source"] else None
    capture_id = db.execute(f"INSERT INTO captures ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
                            " RETURNING id", row).fetchone()[0]
    db.executemany(
        "INSERT INTO records (capture_id, role, record_type, target_uri, record_id, content_type,"
        " warc_file, offset, length, payload_digest, block_digest, refers_to, warc_date, truncated)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(capture_id, r.role, r.record_type, r.target_uri, r.record_id, r.content_type, r.warc_file,
          r.offset, r.length, r.payload_digest, r.block_digest, r.refers_to, r.warc_date, r.truncated)
         for r in records])
    return capture_id


def _capture_dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    d = dict(row)
    d["partial"] = bool(d["partial"])
    d["partial_reasons"] = json.loads(d["partial_reasons"])
    d["blocked"] = json.loads(d["blocked"])
    if "evidence" in d:
        d["evidence"] = json.loads(d["evidence"] or "{}")
    if "source" in d:
        d["source"] = json.loads(d["source"]) if d["source"] else None
    return d


def get_capture(db: sqlite3.Connection, capture_id: int) -> dict[str, Any] | None:
    return _capture_dict(db.execute("SELECT * FROM captures WHERE id = ?", (capture_id,)).fetchone())


def list_captures(db: sqlite3.Connection, limit: int = 20, url: str | None = None) -> list[dict[str, Any]]:
    """Newest captures first, optionally of one URL."""
    if url:
        rows = db.execute("SELECT * FROM captures WHERE url = ? ORDER BY captured_at DESC LIMIT ?",
                          (url, limit))
    else:
        rows = db.execute("SELECT * FROM captures ORDER BY id DESC LIMIT ?", (limit,))
    return [_capture_dict(r) for r in rows]


_RECORD_COLUMNS = ("role, record_type, target_uri, record_id, content_type, warc_file, offset, length,"
                   " payload_digest, block_digest, refers_to, warc_date, truncated")


def get_records(db: sqlite3.Connection, capture_id: int, role: str | None = None,
                with_originals: bool = False) -> list[RecordRef]:
    """A capture's records in write order.

    ``with_originals`` adds, after them, the records that its revisit records
    refer to (role ``original``), so an export of the capture is complete.
    """
    sql = f"SELECT {_RECORD_COLUMNS} FROM records WHERE capture_id = ?"
    args: tuple = (capture_id,)
    if role:
        sql += " AND role = ?"
        args += (role,)
    refs = [RecordRef(**dict(r)) for r in db.execute(sql + " ORDER BY id", args)]
    if with_originals:
        have = {r.record_id for r in refs}
        for ref in list(refs):
            if ref.refers_to and ref.refers_to not in have:
                original = _original_by_id(db, ref.refers_to)
                if original is not None:
                    refs.append(original)
                    have.add(original.record_id)
    return refs


def _original_by_id(db: sqlite3.Connection, record_id: str) -> RecordRef | None:
    row = db.execute(f"SELECT {_RECORD_COLUMNS} FROM records WHERE record_id = ? AND record_type != 'revisit'"
                     " ORDER BY id LIMIT 1", (record_id,)).fetchone()
    return None if row is None else RecordRef(**{**dict(row), "role": "original"})


def find_original(db: sqlite3.Connection, payload_digest: str) -> RecordRef | None:
    """The first archived complete ``response`` record with this payload digest, if any.

    Its ``record_id``, ``target_uri`` and ``warc_date`` are what a revisit record names.
    """
    row = db.execute(
        f"SELECT {_RECORD_COLUMNS} FROM records WHERE payload_digest = ?"
        " AND record_type = 'response' AND truncated IS NULL AND warc_date IS NOT NULL ORDER BY id LIMIT 1",
        (payload_digest,)).fetchone()
    return None if row is None else RecordRef(**{**dict(row), "role": "original"})


def payload_ref(db: sqlite3.Connection, ref: RecordRef) -> RecordRef:
    """The record that holds ``ref``'s payload: ``ref`` itself, or for a revisit its original."""
    if ref.record_type != "revisit":
        return ref
    original = _original_by_id(db, ref.refers_to or "")
    if original is None:
        raise LookupError(f"revisit record {ref.record_id} refers to {ref.refers_to!r}, "
                          "which is not in the catalog")
    return original


def set_indexed(db: sqlite3.Connection, capture_id: int, indexed: bool = True) -> None:
    db.execute("UPDATE captures SET indexed = ? WHERE id = ?", (int(indexed), capture_id))
