"""Blockpage fingerprints in OONI's HTTP CSV format: loading them, and matching a response against them.

A row says where to look (`body` or `header.<name>`), how to compare (`full`, `prefix`, `contains`,
`regexp`) and what a match means (`scope`: nat, isp, prod, inst, injb, prov, vbw, fp). Rows that
cannot be used are reported with their line number, never fatal: one bad row must not cost the rest.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

COLUMNS = ("name", "scope", "other_names", "location_found", "pattern_type", "pattern", "confidence_no_fp",
           "expected_countries", "source", "exp_url", "notes")
PATTERN_TYPES = frozenset({"full", "prefix", "contains", "regexp"})
# OONI's scopes: national, ISP, middlebox product, institution, injected blockpage, provider,
# vague blocking word (never conclusive alone) and known false positive.
SCOPES = frozenset({"nat", "isp", "prod", "inst", "injb", "prov", "vbw", "fp"})
# A match in these scopes says nothing conclusive about blocking on its own.
WEAK_SCOPES = frozenset({"vbw", "fp"})
# Names starting so are platform withholding notices (X, YouTube, ...), not blockpages.
WITHHELD_PREFIX = "withheld."
BUILTIN_PATH = Path(__file__).parent / "data" / "builtin_fingerprints.csv"
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")


class FingerprintFileError(Exception):
    """A fingerprint file that cannot be read at all (missing, not UTF-8, wrong columns)."""


@dataclass(frozen=True)
class Fingerprint:
    name: str
    scope: str
    location: str  # "body" or "header.<lower-case name>"
    pattern_type: str
    pattern: str
    countries: tuple[str, ...]
    source: str = ""
    line: int = 0

    @property
    def header(self) -> str | None:
        """The header this fingerprint looks at, or None for the body."""
        return self.location[7:] if self.location.startswith("header.") else None

    @property
    def withheld(self) -> bool:
        return self.name.startswith(WITHHELD_PREFIX)

    @property
    def conclusive(self) -> bool:
        """True when a match alone means a blockpage (or a withholding notice)."""
        return self.scope not in WEAK_SCOPES


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class LoadReport:
    path: str
    rows: int = 0  # data rows read (a row may span several lines)
    fingerprints: list[Fingerprint] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Match:
    name: str
    scope: str
    countries: tuple[str, ...]
    location: str
    pattern: str

    def to_json(self) -> dict:
        return {"name": self.name, "scope": self.scope, "countries": list(self.countries),
                "location": self.location, "pattern": self.pattern}


def load_fingerprints(path: str | Path) -> LoadReport:
    """Every row of an OONI HTTP fingerprint CSV: usable ones as fingerprints, the rest as problems."""
    path = Path(path)
    report = LoadReport(str(path))
    try:
        # newline="": line breaks inside quoted patterns are part of them (OONI's have \r\n).
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise FingerprintFileError(f"{path}: cannot read fingerprint file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise FingerprintFileError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise FingerprintFileError(f"{path}: empty file, expected the header {','.join(COLUMNS)}")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise FingerprintFileError(f"{path}: not an OONI HTTP fingerprint file, missing column(s) "
                                   f"{', '.join(missing)}")
    index = {name: header.index(name) for name in COLUMNS}
    line = reader.line_num + 1
    for row in reader:
        start, line = line, reader.line_num + 1  # a quoted field may span lines; report the first
        if not any(cell.strip() for cell in row):
            continue
        report.rows += 1
        if len(row) != len(header):
            report.problems.append(Problem(str(path), start, f"{len(row)} fields, expected {len(header)}"))
            continue
        try:
            report.fingerprints.append(_fingerprint({k: row[i] for k, i in index.items()}, start))
        except ValueError as exc:
            report.problems.append(Problem(str(path), start, str(exc)))
    return report


def _fingerprint(row: dict[str, str], line: int) -> Fingerprint:
    name, scope = row["name"].strip(), row["scope"].strip()
    location, kind, pattern = row["location_found"].strip(), row["pattern_type"].strip(), row["pattern"]
    if not name:
        raise ValueError("no name")
    if scope not in SCOPES:
        raise ValueError(f"{name}: unknown scope {scope!r} (known: {', '.join(sorted(SCOPES))})")
    if location == "dns":
        raise ValueError(f"{name}: a DNS fingerprint, not an HTTP one")
    if location != "body" and not (location.startswith("header.") and _HEADER_NAME.fullmatch(location[7:])):
        raise ValueError(f"{name}: unknown location_found {location!r} (expected body or header.<name>)")
    if kind not in PATTERN_TYPES:
        raise ValueError(f"{name}: unknown pattern_type {kind!r} (expected {', '.join(sorted(PATTERN_TYPES))})")
    if not pattern.strip():
        raise ValueError(f"{name}: empty pattern")
    if kind == "regexp":
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{name}: pattern is not a valid regular expression: {exc}") from exc
    countries = tuple(c.strip().upper() for c in row["expected_countries"].split(",") if c.strip())
    return Fingerprint(name, scope, location, kind, pattern, countries, row["source"].strip(), line)


class FingerprintSet:
    """Many fingerprints compiled for matching a response quickly.

    Most of OONI's rows are body `contains` patterns. Each is indexed by one word it must bring
    into the text (see _anchor); matching splits the text into words once and tests with `in` only
    the patterns whose word is there, so the cost hardly grows with the number of fingerprints.
    """

    def __init__(self, fingerprints: Iterable[Fingerprint]):
        self.fingerprints = list(fingerprints)
        self._by_header: dict[str, list[Fingerprint]] = {}
        self._anchored: dict[tuple[str, str], list[Fingerprint]] = {}
        self._scan: list[Fingerprint] = []  # contains-patterns without a usable word: tested with `in`
        self._other_body: list[tuple[Fingerprint, re.Pattern | None]] = []
        self._regex: dict[Fingerprint, re.Pattern] = {}
        for fp in self.fingerprints:
            if fp.pattern_type == "regexp":
                self._regex[fp] = re.compile(fp.pattern)
            if fp.header is not None:
                self._by_header.setdefault(fp.header, []).append(fp)
            elif fp.pattern_type == "contains":
                anchor = _anchor(fp.pattern)
                if anchor is None:
                    self._scan.append(fp)
                else:
                    self._anchored.setdefault(anchor, []).append(fp)
            else:
                self._other_body.append(fp)
        self._keys = {kind: frozenset(k for (kd, k) in self._anchored if kd == kind) for kind in ("word", "pre", "suf")}

    @classmethod
    def load(cls, paths: Sequence[str | Path] = (), builtin: bool = True) -> tuple[FingerprintSet, list[Problem]]:
        """The built-in set plus every file in ``paths``; also the rows that could not be used."""
        fingerprints: list[Fingerprint] = []
        problems: list[Problem] = []
        for path in ([BUILTIN_PATH] if builtin else []) + [Path(p) for p in paths]:
            report = load_fingerprints(path)
            fingerprints += report.fingerprints
            problems += report.problems
        return cls(fingerprints), problems

    def __len__(self) -> int:
        return len(self.fingerprints)

    def match(self, headers: list[tuple[str, str]], body_text: str) -> list[Match]:
        """Every fingerprint the response headers or body text match, in load order."""
        found: set[Fingerprint] = set()
        for key, value in headers:
            for fp in self._by_header.get(key.strip().lower(), ()):
                if _compare(fp, value, self._regex.get(fp)):
                    found.add(fp)
        if body_text:
            words = set(_WORD.findall(body_text))
            present = {"word": self._keys["word"] & words,
                       "pre": self._keys["pre"] & {w[:_AFFIX] for w in words},
                       "suf": self._keys["suf"] & {w[-_AFFIX:] for w in words}}
            for kind, keys in present.items():
                for key in keys:
                    found.update(fp for fp in self._anchored[kind, key] if fp.pattern in body_text)
            found.update(fp for fp in self._scan if fp.pattern in body_text)
            found.update(fp for fp in self._other_body if _compare(fp, body_text, self._regex.get(fp)))
        return [Match(fp.name, fp.scope, fp.countries, fp.location, fp.pattern)
                for fp in self.fingerprints if fp in found]


_WORD = re.compile(r"\w+")
_AFFIX = 4
# Words on most web pages (HTML's own, English, Russian): an index by them tests nearly every page.
_COMMON = frozenset("""
a about access address and are body br center class com content default div en error font for head height
href html http https h1 h2 h3 id iframe images img in index info internet is it javascript location meta
net not of on or org p page please script site span src style text the this title to type url web website
width www you your 10 100 blocked block и в на не что по с к доступ сайт страница
""".split())


def _anchor(pattern: str) -> tuple[str, str] | None:
    """A word the text must hold wherever ``pattern`` occurs in it, to index the pattern by.

    A word with a non-word character on both sides inside the pattern is a whole word of the text
    ("word"). One cut by the pattern's end only begins a word of the text ("pre", its first four
    characters); one cut by its start only ends one ("suf"). Longer words are rarer, so preferred.
    """
    best = None
    for m in _WORD.finditer(pattern):
        word, left, right = m.group(), m.start() > 0, m.end() < len(pattern)
        rare = word.lower() not in _COMMON
        if left and right:
            option = (rare, 2, len(word), ("word", word))
        elif left and len(word) >= _AFFIX:
            option = (rare, 1, len(word), ("pre", word[:_AFFIX]))
        elif right and len(word) >= _AFFIX:
            option = (rare, 1, len(word), ("suf", word[-_AFFIX:]))
        else:
            continue
        if best is None or option[:3] > best[:3]:
            best = option
    return best[3] if best else None


def _compare(fp: Fingerprint, value: str, regex: re.Pattern | None) -> bool:
    if fp.pattern_type == "full":
        # Servers add a trailing newline to the same page; that does not make it another page.
        return value == fp.pattern or value.strip() == fp.pattern.strip()
    if fp.pattern_type == "prefix":
        return value.startswith(fp.pattern)
    if fp.pattern_type == "contains":
        return fp.pattern in value
    return regex is not None and regex.search(value) is not None
