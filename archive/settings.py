"""Every setting declared once: name, default, type, help.

Values come from the environment; README's settings table and
``python -m archive settings`` are derived from ``SETTINGS``.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from crawler.vantage import Vantage

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(value: str) -> tuple[IPNetwork, ...]:
    nets = []
    for part in value.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise SettingError(
                f"CAPTURE_ALLOW_NETWORKS: {part!r} is not a network; use CIDR like 127.0.0.0/8"
            ) from exc
    return tuple(nets)


def _int(value: str) -> int:
    return int(value.replace("_", ""))


def _bool(value: str) -> bool:
    word = value.strip().lower()
    if word in ("1", "on", "true", "yes"):
        return True
    if word in ("0", "off", "false", "no"):
        return False
    raise ValueError("use on or off")


def _ytdlp_mode(value: str) -> str:
    from crawler.ytdlp import MODES

    word = value.strip().lower()
    if word not in MODES:
        raise ValueError(f"use one of {', '.join(MODES)}")
    return word


def _vantages(value: str) -> dict[str, Vantage]:
    from crawler.vantage import parse_vantages

    try:
        return parse_vantages(value)
    except ValueError as exc:
        raise SettingError(f"CAPTURE_VANTAGES: {exc}") from exc


def _host_rules(value: str) -> str:
    from crawler.netpolicy import HostRules

    try:
        HostRules(value)  # read now, so a rule that cannot work stops the command, not every capture
    except ValueError as exc:
        raise SettingError(str(exc)) from exc
    return value


def _host_rules(value: str) -> str:
    from crawler.netpolicy import HostRules

    try:
        HostRules(value)  # read now, so a rule that cannot work stops the command, not every capture
    except ValueError as exc:
        raise SettingError(str(exc)) from exc
    return value


def _warc_store(value: str) -> str:
    value = value.strip()
    if value and (not value.startswith("s3://") or not value[5:].split("/", 1)[0]):
        raise SettingError(f"WARC_STORE={value!r} is not s3://bucket/prefix; leave it empty to keep WARC files "
                           f"in ARCHIVE_HOME/warcs")
    return value.rstrip("/")


def _multipart(value: str) -> int:
    size = _int(value)
    if size < 5 << 20:
        raise ValueError("S3 refuses parts under 5 MiB (5242880 bytes)")
    return size


def _limit_storage(value: str) -> str:
    value = value.strip() or "memory://"
    scheme = value.partition("://")[0]
    if scheme not in ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster", "redis+unix", "valkey",
                      "valkeys", "memcached", "mongodb", "mongodb+srv"):
        raise SettingError(f"RATE_LIMIT_STORAGE={value!r} is not a storage flask-limiter knows; use memory:// "
                           f"or redis://host:6379/0")
    return value


def _viewport(value: str) -> tuple[int, int]:
    w, _, h = value.lower().partition("x")
    return int(w), int(h)


def _paths(value: str) -> tuple[Path, ...]:
    return tuple(Path(part) for part in value.split(":") if part.strip())


def _urls(value: str) -> tuple[str, ...]:
    urls = tuple(part.strip() for part in value.split(",") if part.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL of a time-stamping authority")
    return urls


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise ValueError("use a number from 0 to 1")
    return number


MIN_DURATION = 60  # seconds: the shortest interval parse_duration accepts
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class DurationTooShort(ValueError):
    """A duration under the one-minute floor of ``parse_duration``."""


def parse_duration(value: str) -> int:
    """Seconds in ``6h``, ``30m``, ``1d`` or a bare number of seconds; at least 60 (DurationTooShort)."""
    text = value.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        seconds = int(float(number) * (unit or 1))
    except ValueError:
        raise ValueError(f"{value!r} is not a duration; use a number with s, m, h, d or w, like 6h") from None
    if seconds < MIN_DURATION:
        # A floor, not a unit problem: `90s` is fine. Watching a page more often than this is
        # not archiving but hammering the site.
        raise DurationTooShort(f"{value!r} is shorter than a minute, the shortest interval; use 1m or more, like 6h")
    return seconds


_duration = parse_duration


class SettingError(ValueError):
    """A setting has a value that cannot be used; the message names it and the fix."""


def _database_url(value: str) -> str:
    text = value.strip()
    if text and not text.startswith(("postgresql://", "postgres://")):
        raise SettingError(f"DATABASE_URL {_masked_url(text)!r} is not a PostgreSQL URL: use "
                           "postgresql://user:password@host:5432/dbname, or leave it empty for the SQLite catalog")
    return text


def _secret(value: Any) -> str:
    return "***" if value else ""


def _masked_url(value: Any) -> str:
    from crawler.vantage import mask_passwords

    return mask_passwords(str(value))


def _masked_vantages(value: Any) -> str:
    return ", ".join(str(v) for v in value.values())  # a Vantage prints its proxy's password as ***


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], Any] = str
    show: Callable[[Any], str] = str  # how a value is shown or logged: passwords and keys as ***

    def shown(self, value: Any) -> str:
        """``value`` (parsed, or the raw text from the environment) as it may be printed or logged."""
        if isinstance(value, str) and self.show is not _secret:
            from crawler.vantage import mask_passwords

            return mask_passwords(value)
        return self.show(value)


def _setting(default: str, help: str, parse: Callable[[str], Any] = str, show: Callable[[Any], str] = str) -> Any:
    """One setting's declaration: its default and help as text, the parser that gives its type, and how
    its value may be shown (passwords and keys as ***)."""
    return field(metadata={"default": default, "help": help, "parse": parse, "show": show})


@dataclass(frozen=True)
class Settings:
    """Every setting, declared once as a typed field: the field's name is the environment variable's
    in lower case, its type what the parser gives. ``SETTINGS`` and README's table derive from these."""

    archive_home: Path = _setting("./data", "Data directory: catalog, WARC files, search index.", Path)
    archive_name: str = _setting("Takedown Archive", "Archive name used in citations and page titles.")
    archive_host: str = _setting("127.0.0.1", "Address `serve` listens on.")
    archive_port: int = _setting("8000", "Port `serve` listens on.", _int)
    capture_allow_networks: tuple[IPNetwork, ...] = _setting("",
            "Comma-separated CIDR networks captures may reach although private/loopback "
            "(e.g. 127.0.0.0/8 for tests). Empty: only public addresses.", _networks)
    capture_host_rules: str = _setting("",
            "Host rules in Chromium's --host-resolver-rules form (MAP host address[:port], EXCLUDE host; "
            "wildcards allowed, e.g. 'MAP kloop.kg 127.0.0.1:8081' or 'MAP * 127.0.0.1:8081'), applied by "
            "the recording proxy that every request of a capture goes through.", _host_rules)
    capture_vantages: dict[str, Vantage] = _setting("",
            "Vantage points captures may go through: comma-separated name=COUNTRY=proxy, the proxy "
            "http://host:port (CONNECT) or socks5://host:port, e.g. 'kg-bishkek=KG=socks5://10.0.0.5:1080'. "
            "`direct` (this machine) is always there. A proxy that wants a user name and password takes them "
            "as http://user:password@host:port (sent as Basic Proxy-Authorization) or socks5://user:password@host:port "
            "(RFC 1929); the password is shown and logged as ***.", _vantages, _masked_vantages)
    chromium_path: str = _setting("", "Chromium executable. Empty: a Playwright-installed one, then /usr/bin/chromium.")
    capture_timeout: float = _setting("60",
            "Seconds a whole capture may take before it is cut and marked partial.", float)
    capture_settle_timeout: float = _setting("10", "Seconds to wait for the network to go quiet after load.", float)
    capture_scroll_steps: int = _setting("20", "Most viewport-heights to scroll to trigger lazy content.", _int)
    capture_max_bytes: int = _setting("200000000",
            "Bytes of responses one capture may record before it is marked partial.", _int)
    capture_max_resource_bytes: int = _setting("50000000",
            "Bytes one response may record before it is truncated.", _int)
    capture_media_max_bytes: int = _setting("500000000",
            "Bytes of video and audio (files, stream playlists and segments) one capture may record, in the "
            "browser and through yt-dlp together, before it is cut and the capture marked partial.", _int)
    capture_media_seconds: float = _setting("120",
            "Seconds a capture may play and fetch its media in the browser, and again for yt-dlp, before "
            "it is cut and the capture marked partial.", float)
    capture_ytdlp: str = _setting("auto",
            "Which pages yt-dlp also fetches media from: auto (pages one of its site extractors reads, "
            "e.g. TikTok, YouTube, Telegram, and players the browser could not drive), always, never. "
            "A submission may ask otherwise (`ytdlp`).", _ytdlp_mode)
    capture_concurrency: int = _setting("2", "Captures a worker runs at once.", _int)
    capture_max_attempts: int = _setting("2", "Attempts per capture job before it is marked failed.", _int)
    capture_viewport: tuple[int, int] = _setting("1280x900", "Browser viewport, WIDTHxHEIGHT.", _viewport)
    capture_nice: int = _setting("10",
            "Scheduling niceness (0-19) of capture work: the worker's threads and the Chromium they start, "
            "so readers are served first when `serve` runs both.", _int)
    shutdown_grace: float = _setting("30",
        "Seconds `serve` and `worker` give running captures to finish after SIGINT or SIGTERM; captures "
        "still fetching then are stopped and their jobs queued again without using up an attempt.", float)
    database_url: str = _setting("",
            "The catalog and job queue on PostgreSQL, postgresql://user:password@host:5432/dbname, shared by "
            "workers on other machines. Empty: the SQLite file ARCHIVE_HOME/catalog.sqlite3.",
            _database_url, _masked_url)
    job_lease_seconds: float = _setting("0",
            "Seconds a running job's worker may stay silent (no heartbeat) before another worker takes the "
            "job over. 0: twice CAPTURE_TIMEOUT plus a minute.", float)
    job_heartbeat_seconds: float = _setting("5", "Seconds between a running job's heartbeats.", float)
    max_url_length: int = _setting("2048", "Longest URL accepted for capture.", _int)
    warc_max_size: int = _setting("1000000000", "Bytes after which a WARC file is closed and a new one started.", _int)
    warc_dedup: bool = _setting("on",
            "Write a response whose payload is already archived as a revisit record pointing to it (on/off).",
            _bool)
    warc_store: str = _setting("",
            "Where finished WARC files are kept: empty for ARCHIVE_HOME/warcs on this disk, or "
            "s3://bucket/prefix for an S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph RGW, "
            "Cloudflare R2; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or boto3's other usual "
            "places). Files are written in ARCHIVE_HOME/warcs, uploaded when closed, then removed there.",
            _warc_store)
    s3_endpoint_url: str = _setting("",
            "S3 endpoint for WARC_STORE, e.g. http://127.0.0.1:8333 (SeaweedFS), https://<account>.r2."
            "cloudflarestorage.com (R2). Empty: AWS S3 in AWS_DEFAULT_REGION.")
    s3_multipart_threshold: int = _setting("67108864",
            "Bytes from which a WARC file is uploaded in parts of this size (multipart upload); at least 5 MiB.",
            _multipart)
    search_backend: str = _setting("tantivy",
            "Search engine: tantivy (embedded, in ARCHIVE_HOME/index) or elasticsearch (ELASTICSEARCH_URL).")
    replay_port: int = _setting("8001",
            "Port of the replay origin `serve` also starts (archived pages run only there).", _int)
    replay_url: str = _setting("",
            "Public base URL of the replay origin. Empty: http://localhost:REPLAY_PORT, a different host name "
            "from the app's 127.0.0.1 so no app cookie is ever sent to archived pages.")
    replay_assets: str = _setting("vendor/replaywebpage-2.5.3",
            "Directory with replayweb.page's sw.js and ui.js (fetched from npm by `make setup`).")
    fingerprints_path: tuple[Path, ...] = _setting("",
            "Blockpage fingerprint files in OONI's CSV format, loaded beside the built-in set "
            "(several separated by `:`), e.g. ../shared/fingerprints/fingerprints_http.csv.", _paths)
    change_threshold: float = _setting("0.8",
            "Main-text similarity (0-1) to the last `ok` capture below which a 2xx capture is `changed`.",
            _fraction)
    watch_every: int = _setting("6h",
            "Default interval between captures of a watched URL: a number with s, m, h or d, at least 1m (60s).",
            _duration)
    watch_jitter: float = _setting("0.1",
            "Fraction of the interval by which each next capture time is moved at random, so watches spread out.",
            _fraction)
    watch_host_delay: float = _setting("10", "Seconds between two scheduled captures of the same host (politeness).",
            float)
    watch_max_pending: int = _setting("20",
            "Most scheduled captures queued or running at once; the rest wait for the next round.", _int)
    secret_key: str = _setting("",
            "Key signing staff sessions and form tokens. Empty: one is made and kept in ARCHIVE_HOME/secret_key.",
        show=_secret)
    takedown_max_document_bytes: int = _setting("20000000",
            "Largest takedown order document (PDF, image or HTML) accepted.", _int)
    elasticsearch_url: str = _setting("",
            "Elasticsearch base URL, for SEARCH_BACKEND=elasticsearch (e.g. https://es.example:9200).",
        show=_masked_url)
    elasticsearch_api_key: str = _setting("",
            "Elasticsearch API key (base64 id:key); or use the user name and password.", show=_secret)
    elasticsearch_username: str = _setting("", "Elasticsearch basic-auth user name.")
    elasticsearch_password: str = _setting("", "Elasticsearch basic-auth password.", show=_secret)
    elasticsearch_index: str = _setting("takedown-archive",
            "Alias searches and writes go through; `reindex` builds a new index behind it and swaps.")
    archive_url: str = _setting("",
            "Public base URL of the app (https://archive.example), for citations, feeds and Memento links. "
            "Empty: taken from each request.")
    rate_limit_anonymous: str = _setting("5/minute",
            "Capture submissions allowed per IP address without an API token (flask-limiter syntax).")
    rate_limit_token: str = _setting("60/minute", "Capture submissions allowed per API token.")
    rate_limit_storage: str = _setting("memory://",
            "Where rate-limit counters are kept (flask-limiter's storage URI): memory:// (each process its own), "
            "or redis://host:6379/0 (rediss:// for TLS, redis+sentinel://, redis+cluster://) so every web server "
            "counts against one limit.", _limit_storage, _masked_url)
    host_daily_bytes: int = _setting("2000000000",
            "Bytes the archive captures from one host per UTC day; further submissions for it are refused.", _int)
    outlinks_max: int = _setting("20", "Most outlinks of a page captured when a submission asks for them.", _int)
    bulk_max: int = _setting("100", "Most URLs in one bulk submission (API token holders only).", _int)
    register_watch: bool = _setting("off",
            "`import-orders` watches every URL it imports (never-captured ones due at once, spread out by the "
            "WATCH_* politeness limits); `--watch`/`--no-watch` decide for one import (on/off).", _bool)
    lumen_api_url: str = _setting("https://lumendatabase.org",
            "Base URL of the Lumen database's API, for `import-orders --format lumen --lumen-id/--lumen-search`.")
    lumen_api_token: str = _setting("",
            "Lumen API token (sent as X-Authentication-Token); needed to fetch notices from Lumen.", show=_secret)
    signing_key: str = _setting("",
            "PEM file with the ECDSA P-256 private key that signs exported WACZ packages. Empty: one is made on "
            "first use and kept in ARCHIVE_HOME/signing_key.pem.")
    signing_cert: str = _setting("",
            "PEM certificate chain for SIGNING_KEY, issued for the archive's domain (first certificate holds the "
            "key): packages are then signed for that domain (WACZ signing spec's domain + domainCert). Empty: "
            "signed anonymously with the public key.")
    tsa_url: tuple[str, ...] = _setting("",
            "RFC 3161 time-stamping authorities (comma-separated URLs), asked to timestamp each signed WACZ and "
            "each capture's record digests when it is stored. Empty: no timestamps, no network.", _urls)
    tsa_certs: tuple[Path, ...] = _setting("",
            "PEM files (separated by `:`) with the time-stamping authorities' certificate chains up to their "
            "roots, for the authorities that send only their own certificate in a reply.", _paths)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from ``environ`` (default ``os.environ``); ``overrides`` win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for s in SETTINGS:
            raw = overrides.pop(s.name.lower(), None)
            if raw is None:
                raw = environ.get(s.name, s.default)
            if isinstance(raw, str):
                try:
                    raw = s.parse(raw)
                except SettingError:
                    raise
                except (TypeError, ValueError) as exc:
                    raise SettingError(f"{s.name}={s.shown(raw)!r} is not valid: {exc}; "
                                      f"default is {s.default!r}") from exc
            values[s.name] = raw
        if overrides:
            raise SettingError(f"unknown settings: {', '.join(sorted(overrides))}")
        values["ARCHIVE_HOME"] = Path(values["ARCHIVE_HOME"]).resolve()
        return cls(**{name.lower(): value for name, value in values.items()})

    def __repr__(self) -> str:
        # Settings end up in logs and test reports: never with a password or key in them.
        return f"Settings({ {s.name: self.shown(s.name) for s in SETTINGS}!r})"

    def shown(self, name: str) -> str:
        """Setting ``name``'s value as it may be printed or logged: passwords and keys as ***."""
        setting = next(s for s in SETTINGS if s.name == name)
        return setting.shown(getattr(self, name.lower()))

    @property
    def warc_dir(self) -> Path:
        return self.archive_home / "warcs"

    @property
    def index_dir(self) -> Path:
        return self.archive_home / "index"

    @property
    def replay_origin(self) -> str:
        """Where archived pages are replayed; never the app's own origin."""
        return (self.replay_url or f"http://localhost:{self.replay_port}").rstrip("/")

    @property
    def catalog_path(self) -> Path:
        return self.archive_home / "catalog.sqlite3"

    @property
    def catalog_location(self) -> Path | str:
        """What `archive.catalog.connect` opens: DATABASE_URL when set, else the SQLite file."""
        return self.database_url or self.catalog_path


def _on_this_machine(database_url: str) -> bool:
    """Whether the catalog's server can only be reached from this machine (a Unix socket or a loopback
    address): then every process that shares it shares this machine's ARCHIVE_HOME/index too."""
    host = urlsplit(database_url).hostname or ""
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_shared_deployment(settings: Settings) -> None:
    """Refuse, naming the fix, what cannot work once several machines share the catalog (DATABASE_URL).

    An embedded tantivy index lives in one machine's ARCHIVE_HOME/index: the captures other machines
    store would never be found, and each web server would answer from a different index.
    """
    url = getattr(settings, "database_url", "")
    if url and settings.search_backend == "tantivy" and not _on_this_machine(url):
        raise SettingError("DATABASE_URL is set (a catalog shared by several machines), but SEARCH_BACKEND=tantivy "
                           "keeps the search index in this machine's ARCHIVE_HOME/index, which the other machines "
                           "never see: set SEARCH_BACKEND=elasticsearch and ELASTICSEARCH_URL (one index for every "
                           "process), then `python -m archive reindex` once to fill it")


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name.upper(), f.metadata["default"], f.metadata["help"], f.metadata["parse"], f.metadata["show"])
    for f in fields(Settings))


def settings_table() -> str:
    """Markdown table of every setting, for README.md."""
    rows = ["| Setting | Default | Meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        rows.append(f"| `{s.name}` | `{s.default}` | {s.help} |")
    return "\n".join(rows)
