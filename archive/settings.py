"""Every setting declared once: name, default, type, help.

Values come from the environment; README's settings table and
``python -m archive settings`` are derived from ``SETTINGS``.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _networks(value: str) -> tuple:
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


def _vantages(value: str) -> dict:
    from crawler.vantage import parse_vantages

    try:
        return parse_vantages(value)
    except ValueError as exc:
        raise SettingError(f"CAPTURE_VANTAGES: {exc}") from exc


def _viewport(value: str) -> tuple[int, int]:
    w, _, h = value.lower().partition("x")
    return int(w), int(h)


def _paths(value: str) -> tuple[Path, ...]:
    return tuple(Path(part) for part in value.split(":") if part.strip())


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise ValueError("use a number from 0 to 1")
    return number


MIN_DURATION = 60  # seconds: the shortest interval parse_duration accepts
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str) -> int:
    """Seconds in ``6h``, ``30m``, ``1d`` or a bare number of seconds; at least 60."""
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
        raise ValueError(f"{value!r} is shorter than a minute, the shortest interval; use 1m or more, like 6h")
    return seconds


_duration = parse_duration


class SettingError(ValueError):
    """A setting has a value that cannot be used; the message names it and the fix."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting("ARCHIVE_HOME", "./data", "Data directory: catalog, WARC files, search index.", Path),
    Setting("ARCHIVE_NAME", "Takedown Archive", "Archive name used in citations and page titles."),
    Setting("ARCHIVE_HOST", "127.0.0.1", "Address `serve` listens on."),
    Setting("ARCHIVE_PORT", "8000", "Port `serve` listens on.", _int),
    Setting("CAPTURE_ALLOW_NETWORKS", "",
            "Comma-separated CIDR networks captures may reach although private/loopback "
            "(e.g. 127.0.0.0/8 for tests). Empty: only public addresses.", _networks),
    Setting("CAPTURE_HOST_RULES", "",
            "Chromium --host-resolver-rules, also honoured by the recording proxy "
            "(e.g. 'MAP kloop.kg 127.0.0.1:8081').")
    ,
    Setting("CAPTURE_VANTAGES", "",
            "Vantage points captures may go through: comma-separated name=COUNTRY=proxy, the proxy "
            "http://host:port (CONNECT) or socks5://host:port, e.g. 'kg-bishkek=KG=socks5://10.0.0.5:1080'. "
            "`direct` (this machine) is always there.", _vantages),
    Setting("CHROMIUM_PATH", "", "Chromium executable. Empty: a Playwright-installed one, then /usr/bin/chromium."),
    Setting("CAPTURE_TIMEOUT", "60", "Seconds a whole capture may take before it is cut and marked partial.", float),
    Setting("CAPTURE_SETTLE_TIMEOUT", "10", "Seconds to wait for the network to go quiet after load.", float),
    Setting("CAPTURE_SCROLL_STEPS", "20", "Most viewport-heights to scroll to trigger lazy content.", _int),
    Setting("CAPTURE_MAX_BYTES", "200000000",
            "Bytes of responses one capture may record before it is marked partial.", _int),
    Setting("CAPTURE_MAX_RESOURCE_BYTES", "50000000", "Bytes one response may record before it is truncated.", _int),
    Setting("CAPTURE_CONCURRENCY", "2", "Captures a worker runs at once.", _int),
    Setting("CAPTURE_MAX_ATTEMPTS", "2", "Attempts per capture job before it is marked failed.", _int),
    Setting("CAPTURE_VIEWPORT", "1280x900", "Browser viewport, WIDTHxHEIGHT.", _viewport),
    Setting("CAPTURE_NICE", "10",
            "Scheduling niceness (0-19) of capture work: the worker's threads and the Chromium they start, "
            "so readers are served first when `serve` runs both.", _int),
    Setting("SHUTDOWN_GRACE", "30",
            "Seconds `serve` and `worker` give running captures to finish after SIGINT or SIGTERM; captures "
            "still fetching then are stopped and their jobs queued again without using up an attempt.", float),
    Setting("MAX_URL_LENGTH", "2048", "Longest URL accepted for capture.", _int),
    Setting("WARC_MAX_SIZE", "1000000000", "Bytes after which a WARC file is closed and a new one started.", _int),
    Setting("WARC_DEDUP", "on",
            "Write a response whose payload is already archived as a revisit record pointing to it (on/off).",
            _bool),
    Setting("SEARCH_BACKEND", "tantivy",
            "Search engine: tantivy (embedded, in ARCHIVE_HOME/index) or elasticsearch (ELASTICSEARCH_URL)."),
    Setting("REPLAY_PORT", "8001",
            "Port of the replay origin `serve` also starts (archived pages run only there).", _int),
    Setting("REPLAY_URL", "",
            "Public base URL of the replay origin. Empty: http://localhost:REPLAY_PORT, a different host name "
            "from the app's 127.0.0.1 so no app cookie is ever sent to archived pages."),
    Setting("REPLAY_ASSETS", "vendor/replaywebpage-2.5.3",
            "Directory with replayweb.page's sw.js and ui.js (fetched from npm by `make setup`)."),
    Setting("FINGERPRINTS_PATH", "",
            "Blockpage fingerprint files in OONI's CSV format, loaded beside the built-in set "
            "(several separated by `:`), e.g. ../shared/fingerprints/fingerprints_http.csv.", _paths),
    Setting("CHANGE_THRESHOLD", "0.8",
            "Main-text similarity (0-1) to the last `ok` capture below which a 2xx capture is `changed`.",
            _fraction),
    Setting("WATCH_EVERY", "6h",
            "Default interval between captures of a watched URL: a number with s, m, h or d, at least 1m (60s).",
            _duration),
    Setting("WATCH_JITTER", "0.1",
            "Fraction of the interval by which each next capture time is moved at random, so watches spread out.",
            _fraction),
    Setting("WATCH_HOST_DELAY", "10", "Seconds between two scheduled captures of the same host (politeness).",
            float),
    Setting("WATCH_MAX_PENDING", "20",
            "Most scheduled captures queued or running at once; the rest wait for the next round.", _int),
    Setting("SECRET_KEY", "",
            "Key signing staff sessions and form tokens. Empty: one is made and kept in ARCHIVE_HOME/secret_key."),
    Setting("TAKEDOWN_MAX_DOCUMENT_BYTES", "20000000",
            "Largest takedown order document (PDF, image or HTML) accepted.", _int),
    Setting("ELASTICSEARCH_URL", "",
            "Elasticsearch base URL, for SEARCH_BACKEND=elasticsearch (e.g. https://es.example:9200)."),
    Setting("ELASTICSEARCH_API_KEY", "", "Elasticsearch API key (base64 id:key); or use the user name and password."),
    Setting("ELASTICSEARCH_USERNAME", "", "Elasticsearch basic-auth user name."),
    Setting("ELASTICSEARCH_PASSWORD", "", "Elasticsearch basic-auth password."),
    Setting("ELASTICSEARCH_INDEX", "takedown-archive",
            "Alias searches and writes go through; `reindex` builds a new index behind it and swaps."),
    Setting("ARCHIVE_URL", "",
            "Public base URL of the app (https://archive.example), for citations, feeds and Memento links. "
            "Empty: taken from each request."),
    Setting("RATE_LIMIT_ANONYMOUS", "5/minute",
            "Capture submissions allowed per IP address without an API token (flask-limiter syntax)."),
    Setting("RATE_LIMIT_TOKEN", "60/minute", "Capture submissions allowed per API token."),
    Setting("HOST_DAILY_BYTES", "2000000000",
            "Bytes the archive captures from one host per UTC day; further submissions for it are refused.", _int),
    Setting("OUTLINKS_MAX", "20", "Most outlinks of a page captured when a submission asks for them.", _int),
    Setting("BULK_MAX", "100", "Most URLs in one bulk submission (API token holders only).", _int),
)


@dataclass(frozen=True)
class Settings:
    """Parsed settings; attribute names are the lower-cased setting names."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from ``environ`` (default ``os.environ``); ``overrides`` win."""
        environ = os.environ if environ is None else environ
        values = {}
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
                    raise SettingError(f"{s.name}={raw!r} is not valid: {exc}; default is {s.default!r}") from exc
            values[s.name] = raw
        if overrides:
            raise SettingError(f"unknown settings: {', '.join(sorted(overrides))}")
        values["ARCHIVE_HOME"] = Path(values["ARCHIVE_HOME"]).resolve()
        return cls(values)

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


def settings_table() -> str:
    """Markdown table of every setting, for README.md."""
    rows = ["| Setting | Default | Meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        rows.append(f"| `{s.name}` | `{s.default}` | {s.help} |")
    return "\n".join(rows)
