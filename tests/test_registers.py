"""Takedown orders imported from the registers that publish them (issue 17), on the publishers' own samples
in ../shared/registries/: Roskomnadzor's dump, GitHub's gov-takedowns, OONI's measurements; Lumen's notice
JSON (which has no public fixture) as its API documents it, fetched from a local stand-in for Lumen's API.

Expected counts are computed here from the files by other means than the importer's (plain splitting,
json.load, a regular expression), so a parser that loses or invents rows fails.
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from archive import catalog
from archive.cli import main
from archive.orders.registers import Report, import_entries, rkn, watcher
from archive.orders.registers import ooni as ooni_format
from archive.orders.takedowns import get_takedown, read_document, url_evidence
from archive.removals.events import update_events
from archive.removals.reports import blocking_evidence, get_event
from archive.settings import Settings
from archive.watches.scheduler import schedule_due
from crawler.netpolicy import URLRejected, normalize_url

from .conftest import free_port, run_cli
from .sites import SHARED

REGISTRIES = SHARED / "registries"
DUMP = REGISTRIES / "rkn" / "dump_2014-03-27_cp1251.csv"
GOV = REGISTRIES / "gov-takedowns"
OONI = REGISTRIES / "ooni"


# --- what the samples hold, computed without the importer ------------------------------------------

def dump_rows(path: Path = DUMP) -> list[list[str]]:
    lines = path.read_bytes().decode("cp1251").split("\n")
    assert lines[0].startswith("Updated: ")
    return [line.split(";") for line in lines[1:] if line.strip()]


def decisions(rows: list[list[str]]) -> set[tuple[str, str, str]]:
    return {(r[-3], r[-2] or "б/н", r[-1]) for r in rows}


def gov_urls(path: Path) -> list[str]:
    found = re.findall(r"https?://\S+", path.read_text())
    return sorted({u.rstrip(".") for u in found if ".gov." not in u})


def ooni_blocking() -> list[dict]:
    out = []
    for path in sorted(OONI.glob("*.json")):
        m = json.loads(path.read_text())
        if m["test_keys"]["blocking"] not in (False, None):
            out.append(m)
    return out


def cli(monkeypatch, capsys, home: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """`python -m archive ARGS` in this process (quick), with ARCHIVE_HOME=home."""
    monkeypatch.setenv("ARCHIVE_HOME", str(home))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def tables(db: sqlite3.Connection) -> dict[str, list[tuple]]:
    return {t: [tuple(r) for r in db.execute(f"SELECT * FROM {t} ORDER BY 1, 2")]
            for t in ("takedowns", "takedown_urls", "takedown_domains", "blocking_measurements")}


def later_dump(tmp_path: Path, drop: set[tuple[str, str, str]], add: list[str], name: str = "dump.csv",
               updated: str = "2014-04-02 06:00:00 +0000") -> Path:
    """The sample as a later dump would be: ``drop``'s decisions gone, ``add`` rows new."""
    lines = DUMP.read_bytes().split(b"\n")
    kept = [b"Updated: " + updated.encode()]
    for raw in lines[1:]:
        if raw.strip():
            f = raw.decode("cp1251").split(";")
            if (f[-3], f[-2] or "б/н", f[-1]) not in drop:
                kept.append(raw)
    kept += [a.encode("cp1251") for a in add]
    path = tmp_path / name
    path.write_bytes(b"\n".join(kept) + b"\n")
    return path


@pytest.fixture(scope="module")
def rkn_home(tmp_path_factory):
    """The sample dump imported once, by the command a user runs."""
    home = tmp_path_factory.mktemp("rkn")
    env = {"ARCHIVE_HOME": str(home), "PATH": "/usr/bin:/bin"}
    proc = run_cli(env | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                   "import-orders", "--format", "rkn", str(DUMP))
    return home, proc


# --- Roskomnadzor ---------------------------------------------------------------------------------------

def test_rkn_sample_imports_one_order_per_decision(rkn_home):
    home, proc = rkn_home
    rows = dump_rows()
    expected = decisions(rows)
    assert (len(rows), len(expected)) == (1433, 1369)  # README: 1,434 lines, one of them Updated:
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"rkn: {len(rows)} row(s) read; orders: {len(expected)} added, 0 updated, "
                                   "0 lifted; 0 row(s) rejected")
    db = catalog.connect(home / "catalog.sqlite3")
    got = db.execute("SELECT authority, register_key, country, published, action_demanded, listed_at, lifted_on"
                     " FROM takedowns WHERE register = 'rkn'").fetchall()
    assert {tuple(r["register_key"].split("|")) for r in got} == expected
    assert {(r["country"], r["published"], r["action_demanded"], r["listed_at"], r["lifted_on"]) for r in got} == {
        ("RU", 1, "block", "2014-03-27T12:05:00.000000Z", None)}
    # The authorities as written, each decision counted once, and normalised.
    assert Counter(r["authority"] for r in got) == Counter(d[0] for d in expected)
    names = dict(db.execute("SELECT DISTINCT authority, authority_normalized FROM takedowns WHERE register = 'rkn'"))
    assert names == {"ФСКН": "Federal Drug Control Service (FSKN)", "суд": "court", "Роскомнадзор": "Roskomnadzor",
                     "Генпрокуратура": "Prosecutor General's Office", "Роспотребнадзор": "Rospotrebnadzor",
                     "Мосгорсуд": "Moscow City Court"}
    # Every URL of every row is named by its decision's order (in the one normal form, fragments dropped).
    named = {(r[0], r[1]) for r in db.execute(
        "SELECT t.register_key, u.url FROM takedown_urls u JOIN takedowns t ON t.id = u.takedown_id")}
    want = {("|".join((r[-3], r[-2] or "б/н", r[-1])), normalize_url(u.strip(), None))
            for r in rows for u in ";".join(r[2:-3]).split(" | ") if u.strip()}
    assert named == want
    domains = {r[0] for r in db.execute("SELECT domain FROM takedown_domains")}
    assert domains == {r[1].lower().rstrip(".") for r in rows if r[1]}


def test_rkn_keeps_cyrillic_urls_as_given_and_decisions_without_number(rkn_home):
    home, _ = rkn_home
    db = catalog.connect(home / "catalog.sqlite3")
    raw = db.execute("SELECT t.source_line FROM (SELECT register_source AS source_line FROM takedowns"
                     " WHERE register_key = 'ФСКН|2/1/11-10934|2013-09-04') t").fetchone()
    assert raw[0] == f"{DUMP.name}:90"  # the file and line it came from
    urls = [r[0] for r in db.execute("SELECT u.url FROM takedown_urls u JOIN takedowns t ON t.id = u.takedown_id"
                                     " WHERE t.register_key = 'ФСКН|2/1/11-10934|2013-09-04'")]
    assert urls == ["http://bratva.name/xenforo/index.php?threads/Метамфетамин-на-фольге.772/"]  # raw cp1251 bytes
    encoded = db.execute("SELECT t.legal_basis, u.url FROM takedown_urls u JOIN takedowns t ON t.id = u.takedown_id"
                         " WHERE u.url LIKE 'http://logr.org/%'").fetchone()
    assert encoded["url"] == "http://logr.org/russdivision/%D0%B1%D0%B8%D0%B1%D0%BB%D0%B8%D0%BE%D1%82%D0%B5%D0%BA%D0%B0/"
    assert "without number" in encoded["legal_basis"]


def test_rkn_fast_url_form_agrees_with_the_url_check():
    # rkn.normalize takes a short cut for the common URL; it must give what normalize_url gives, or refuse alike.
    urls = [u.strip() for r in dump_rows() for u in ";".join(r[2:-3]).split(" | ") if u.strip()]
    urls += ["http://a..b/", "HTTP://A.ru/x", "http://a.ru?", "http://a.ru/#x", "http://a.ru?q=1#f", "https://x.y.",
             "http://a.ru:80/", "http://a.ru/ b", "http://" + "a" * 64 + ".ru/", "http://a.ru./x?y", "http://_x.ru",
             "http://1.2.3.4/x", "ftp://a.ru/", "http://a.ru..", "http://user@a.ru/", "http://xn--80a.ru/путь",
             # Cyrillic hosts take a short cut of their own (each label through IDNA once)
             "http://сайт.рф/путь?q=1#x", "http://Сайт.РФ", "HTTP://a.рф/", "http://a..рф/", "http://-a.рф/",
             "http://a.рф./x", "http://ёлка.рф:8080/", "http://" + "ж" * 60 + ".рф/", "http://рф/", "http://a.рф?",
             "https://пример.испытание/ a", "http://a_b.рф/", "http://сайт.рф@evil.ru/"]

    def outcome(f, u):
        try:
            return f(u)
        except URLRejected:
            return "refused"

    assert [outcome(rkn.normalize, u) for u in urls] == [outcome(lambda x: normalize_url(x, None), u) for u in urls]


def test_the_same_dump_twice_changes_nothing(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(DUMP))
    db = catalog.connect(home / "catalog.sqlite3")
    before = tables(db)
    code, out, _ = cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(DUMP))
    assert code == 0
    assert out.strip() == "rkn: 1433 row(s) read; orders: 0 added, 0 updated, 0 lifted; 0 row(s) rejected"
    assert tables(db) == before


def test_a_later_dump_adds_updates_and_lifts(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(DUMP))
    rows = dump_rows()
    gone = sorted(decisions(rows))[:5]
    kept = sorted(decisions(rows))[10]
    later = later_dump(tmp_path, set(gone), [
        "1.2.3.4;new-site.ru;http://new-site.ru/page;Генпрокуратура;27-31-2014/Ид2145-14;2014-03-30",
        f"1.2.3.5;extra.ru;http://extra.ru/more;{kept[0]};{kept[1]};{kept[2]}"])  # a new URL of a listed decision
    code, out, err = cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(later))
    assert code == 0, err
    read = len(rows) - sum((r[-3], r[-2] or "б/н", r[-1]) in gone for r in rows) + 2
    assert out.strip() == f"rkn: {read} row(s) read; orders: 1 added, 1 updated, 5 lifted; 0 row(s) rejected"
    db = catalog.connect(home / "catalog.sqlite3")
    lifted = {tuple(r[0].split("|")): r[1] for r in db.execute(
        "SELECT register_key, lifted_on FROM takedowns WHERE lifted_on IS NOT NULL")}
    assert lifted == dict.fromkeys(gone, "2014-04-02")  # on the later dump's Updated: date, never deleted
    assert db.execute("SELECT count(*) FROM takedowns").fetchone()[0] == 1369 + 1
    assert db.execute("SELECT count(*) FROM takedown_urls u JOIN takedowns t ON t.id = u.takedown_id"
                      " WHERE t.lifted_on IS NOT NULL AND u.lifted_on = '2014-04-02'").fetchone()[0] >= 5
    # The same later dump again: nothing; the older dump after it: nothing lifted or listed again.
    assert cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(later))[1].strip().endswith(
        "0 added, 0 updated, 0 lifted; 0 row(s) rejected")
    code, out, err = cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(DUMP))
    assert "0 added, 0 updated, 0 lifted" in out and "older than a listing imported before" in err
    assert db.execute("SELECT count(*) FROM takedowns WHERE lifted_on IS NOT NULL").fetchone()[0] == 5
    # A decision listed again on a later dump is back in force.
    again = later_dump(tmp_path, set(), [], name="again.csv", updated="2014-04-05 06:00:00 +0000")
    out = cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(again))[1]
    assert "0 added, 5 updated, 1 lifted" in out  # the five come back; the new decision is gone
    assert db.execute("SELECT count(*) FROM takedowns WHERE lifted_on IS NULL").fetchone()[0] == 1369
    # The URL added to a decision still listed is lifted alone: its order stays in force.
    assert db.execute("SELECT u.lifted_on, t.lifted_on FROM takedown_urls u JOIN takedowns t ON t.id = u.takedown_id"
                      " WHERE u.url = 'http://extra.ru/more'").fetchone()[:] == ("2014-04-05", None)


def test_batched_import_on_both_engines(catalog_location, tmp_path, monkeypatch):
    """The batched writer (few IN queries and executemany per batch) on SQLite and PostgreSQL, with batches
    so small that one decision's rows fall in several: the counts and tables are those of the whole dump."""
    import archive.orders.registers as registers

    monkeypatch.setattr(registers, "BATCH", 97)
    settings = Settings.from_env({}, archive_home=str(tmp_path / "home"))
    db = catalog.connect(catalog_location)
    rows = dump_rows()

    def run(path: Path) -> Report:
        (when, dumps), = rkn.snapshots([path])
        return import_entries(db, settings, "rkn", (e for d in dumps for e in d.entries()), path.name,
                              listed_at=when, snapshot=True)

    first = run(DUMP)
    assert (first.rows, first.added, first.updated, first.lifted, first.rejected) == (1433, 1369, 0, 0, 0)
    want = {("|".join((r[-3], r[-2] or "б/н", r[-1])), normalize_url(u.strip(), None))
            for r in rows for u in ";".join(r[2:-3]).split(" | ") if u.strip()}
    named = {(r[0], r[1]) for r in db.execute(
        "SELECT t.register_key, u.url FROM takedown_urls u JOIN takedowns t ON t.id = u.takedown_id")}
    assert named == want
    before = tables(db)
    again = run(DUMP)
    assert (again.added, again.updated, again.lifted) == (0, 0, 0) and tables(db) == before
    gone = sorted(decisions(rows))[:3]
    kept = sorted(decisions(rows))[7]
    later = run(later_dump(tmp_path, set(gone), [f"1.2.3.5;extra.ru;http://extra.ru/more;{kept[0]};{kept[1]};{kept[2]}",
                                                 "1.2.3.4;new.ru;http://new.ru/;суд;77;2014-03-30"]))
    assert (later.added, later.updated, later.lifted) == (1, 1, 3)
    assert {tuple(r[0].split("|")) for r in db.execute(
        "SELECT register_key FROM takedowns WHERE lifted_on = '2014-04-02'")} == set(gone)
    back = run(later_dump(tmp_path, set(), [], name="back.csv", updated="2014-04-05 06:00:00 +0000"))
    assert (back.added, back.updated, back.lifted) == (0, 3, 1)
    assert db.execute("SELECT count(*) FROM takedowns WHERE lifted_on IS NULL").fetchone()[0] == 1369
    db.close()


def test_split_dump_parts_are_one_listing(tmp_path, monkeypatch, capsys):
    lines = DUMP.read_bytes().split(b"\n")
    header, body = lines[0], [x for x in lines[1:] if x.strip()]
    parts = [body[:500], body[500:1000], body[1000:]]
    paths = []
    for i, part in enumerate(parts):
        path = tmp_path / f"dump-{i:02d}.csv"
        path.write_bytes(b"\n".join(([header] if i == 0 else []) + part) + b"\n")
        paths.append(str(path))
    code, out, _ = cli(monkeypatch, capsys, tmp_path / "home", "import-orders", "--format", "rkn", *paths)
    assert code == 0
    # Parts without an Updated: line continue the listing: nothing in dump-01 or dump-02 is lifted by dump-00.
    assert out.strip() == "rkn: 1433 row(s) read; orders: 1369 added, 0 updated, 0 lifted; 0 row(s) rejected"
    code, _, err = cli(monkeypatch, capsys, tmp_path / "other", "import-orders", "--format", "rkn", paths[1])
    assert code == 2 and "dump-01.csv: no 'Updated:' line" in err and "--listed-at" in err
    code, _, err = cli(monkeypatch, capsys, tmp_path / "other", "import-orders", "--format", "rkn", paths[0],
                       str(tmp_path / "dump-99.csv"))
    assert code == 2 and "no such file: " in err and "dump-99.csv; nothing was imported" in err
    assert catalog.connect(tmp_path / "other" / "catalog.sqlite3").execute(
        "SELECT count(*) FROM takedowns").fetchone()[0] == 0


def test_bad_rows_are_reported_and_the_rest_imported(tmp_path):
    good = DUMP.read_bytes().split(b"\n")[:4]
    bad = [b"1.1.1.1;a.ru;http://a.ru/;\xd4\xd1\xca\xcd;12",  # 5 fields
           b"1.1.1.1;b.ru;http://b.ru/;\xd4\xd1\xca\xcd;12;2013-13-45",  # no such date
           b"1.1.1.1;c.ru;http://c.ru/\x98;\xd4\xd1\xca\xcd;12;2013-01-01",  # 0x98 is no Windows-1251 character
           b"1.1.1.1;d.ru;http://d.ru/; ;12;2013-01-01",  # no authority
           b"1.1.1.1;e.ru;ftp://e.ru/x;\xd4\xd1\xca\xcd;12;2013-01-01",  # not a web address
           b";;;\xd4\xd1\xca\xcd;12;2013-01-01"]  # blocks nothing
    path = tmp_path / "broken.csv"
    path.write_bytes(b"\n".join(good[:2] + bad[:3] + good[2:] + bad[3:]) + b"\n")
    home = tmp_path / "home"
    proc = run_cli({"ARCHIVE_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                   "import-orders", "--format", "rkn", str(path))
    assert proc.returncode == 1
    assert proc.stdout.strip() == "rkn: 9 row(s) read; orders: 3 added, 0 updated, 0 lifted; 6 row(s) rejected"
    errors = proc.stderr.strip().splitlines()
    assert errors[0].startswith("broken.csv:3: 5 field(s); a row has 6 split by ';'")
    assert errors[1].startswith("broken.csv:4: decision date '2013-13-45' (field 6) is not a date")
    assert errors[2].startswith("broken.csv:5: byte 26 is not Windows-1251 text")
    assert errors[3].startswith("broken.csv:8: no authority")
    assert errors[4].startswith("broken.csv:9: URL 'ftp://e.ru/x' (field 3): only http and https")
    assert errors[5].startswith("broken.csv:10: no IP, domain or URL")
    db = catalog.connect(home / "catalog.sqlite3")
    assert db.execute("SELECT count(*) FROM takedowns").fetchone()[0] == 3


# --- GitHub gov-takedowns -----------------------------------------------------------------------------

def test_github_gov_notices_with_their_documents(tmp_path, monkeypatch, capsys):
    notices = sorted(GOV.glob("20*.md"))
    code, out, err = cli(monkeypatch, capsys, tmp_path / "home", "import-orders", "--format", "github-gov",
                         *map(str, sorted(GOV.glob("*.md"))))
    assert code == 1  # the upstream README is not a notice, and says so; the notices are imported
    assert out.strip() == (f"github-gov: {len(notices) + 1} row(s) read; orders: {len(notices)} added, 0 updated, "
                           "0 lifted; 1 row(s) rejected")
    assert "UPSTREAM-README.md:1: the name is not YYYY-MM-DD-authority.md" in err
    settings = Settings.from_env({}, archive_home=str(tmp_path / "home"))
    db = catalog.connect(settings.catalog_path)
    for path in notices:
        row = db.execute("SELECT id FROM takedowns WHERE register = 'github-gov' AND register_key = ?",
                         (path.stem,)).fetchone()
        t = get_takedown(db, row["id"])
        assert sorted(t["urls"]) == gov_urls(path)
        assert (t["authority"], t["country"], t["recipient"], t["received_on"], t["published"]) == (
            "Roskomnadzor", "RU", "GitHub", path.name[:10], 1)
        assert read_document(settings, t) == path.read_bytes()  # the notice itself, from its WARC record
    assert cli(monkeypatch, capsys, tmp_path / "home", "import-orders", "--format", "github-gov",
               *map(str, notices))[1].strip().endswith("0 added, 0 updated, 0 lifted; 0 row(s) rejected")


# --- Lumen --------------------------------------------------------------------------------------------

COURT_ORDER = {"court_order": {
    "id": 4711, "type": "CourtOrder", "title": "Court order to remove defamatory articles",
    "body": "The court orders the removal of the articles listed.", "date_sent": "2021-05-03T00:00:00.000Z",
    "date_received": "2021-05-05T10:00:00.000Z", "sender_name": "Tverskoy District Court of Moscow",
    "principal_name": "A. Person", "recipient_name": "Google LLC", "jurisdictions": ["RU"], "action_taken": "Yes",
    "language": "ru", "works": [
        {"description": "Article one", "targetted_urls": [{"url": "https://news.example.org/a/1"},
                                                          {"url": "https://news.example.org/a/2#comments"}]},
        {"description": "Article two", "targetted_urls": [{"url": "[REDACTED]"}]}]}}
GOVERNMENT_REQUEST = {"government_request": {
    "id": 4712, "type": "GovernmentRequest", "title": "Request", "explanation": "Unlawful content under local law.",
    "date_sent": "2022-01-10", "sender_name": "Ministry of Information", "recipient_name": "Twitter",
    "jurisdictions": ["TR"], "works": [{"urls_in_request": [{"fqdn": "blog.example.net", "count": 3},
                                                          {"url": "http://blog.example.net/post/9"}]}]}}
SEARCH_PAGE = {"notices": [
    {"id": 5001, "type": "Dmca", "title": "DMCA notice", "sender_name": "Rights Holder Inc.",
     "recipient_name": "GitHub", "jurisdictions": ["US"], "date_sent": "2023-02-01T00:00:00Z",
     "works": [{"description": "Software", "infringing_urls": [{"url": "https://code.example.com/repo"}]}]},
    {"id": 5002, "type": "Dmca", "title": "DMCA notice with nothing targeted", "works": [{"infringing_urls": []}]},
    {"title": "no id"}],
    "meta": {"current_page": 1, "per_page": 50, "total_entries": 3}}


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False))
    return path


def test_lumen_notices_and_a_search_page(tmp_path, monkeypatch, capsys):
    files = [write_json(tmp_path / "4711.json", COURT_ORDER), write_json(tmp_path / "4712.json", GOVERNMENT_REQUEST),
             write_json(tmp_path / "search.json", SEARCH_PAGE)]
    (tmp_path / "broken.json").write_text('{"court_order": {"id": 1,\n "works": [}')
    home = tmp_path / "home"
    code, out, err = cli(monkeypatch, capsys, home, "import-orders", "--format", "lumen", *map(str, files),
                         str(tmp_path / "broken.json"))
    assert code == 1
    assert out.strip() == "lumen: 6 row(s) read; orders: 3 added, 0 updated, 0 lifted; 3 row(s) rejected"
    assert "search.json:2: notice 5002 names no URL" in err and "search.json:3: notice 3 has no id" in err
    assert "broken.json:2: not JSON" in err
    db = catalog.connect(home / "catalog.sqlite3")
    key = {r["register_key"]: get_takedown(db, r["id"]) for r in db.execute("SELECT id, register_key FROM takedowns")}
    court = key["4711"]
    assert court["urls"] == ["https://news.example.org/a/1", "https://news.example.org/a/2"]
    assert (court["authority"], court["recipient"], court["country"], court["issued_on"], court["received_on"],
            court["action_reported"], court["redacted_urls"]) == (
        "Tverskoy District Court of Moscow", "Google LLC", "RU", "2021-05-03", "2021-05-05", "removed", 1)
    assert "court order" in court["legal_basis"]
    gov = key["4712"]  # a domain with a count, kept as Lumen gives it: no URL is guessed
    assert gov["urls"] == ["http://blog.example.net/post/9"]
    assert gov["domains"] == [{"domain": "blog.example.net", "redacted_count": 3}]
    assert (gov["country"], gov["redacted_urls"]) == ("TR", 0)
    assert key["5001"]["country"] == "US" and key["5001"]["urls"] == ["https://code.example.com/repo"]
    before = tables(db)
    assert cli(monkeypatch, capsys, home, "import-orders", "--format", "lumen",
               *map(str, files))[1].strip().startswith("lumen: 5 row(s) read; orders: 0 added, 0 updated")
    assert tables(db) == before


class LumenStandIn(BaseHTTPRequestHandler):
    """A stand-in for Lumen's API (lumendatabase.org cannot be reached from here): the same paths, token
    header and JSON shapes its documentation gives."""

    token = "secret-token"
    notices = {"4711": COURT_ORDER, "4712": GOVERNMENT_REQUEST}
    seen: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.seen.append(self.path)
        if self.headers.get("X-Authentication-Token") != self.token:
            return self.reply(401, {"error": "You need to sign in or sign up before continuing."})
        path, _, query = self.path.partition("?")
        if path == "/notices/search.json":
            page = 1 if "page=1" in query else 2
            return self.reply(200, SEARCH_PAGE if page == 1 and "term=dmca" in query else {"notices": [], "meta": {}})
        notice = self.notices.get(path.removeprefix("/notices/").removesuffix(".json"))
        return self.reply(200, notice) if notice else self.reply(404, {"error": "not found"})

    def reply(self, status, data):
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def lumen_api():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), LumenStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_lumen_fetch_through_the_api(tmp_path, monkeypatch, capsys, lumen_api):
    home = tmp_path / "home"
    code, out, err = cli(monkeypatch, capsys, home, "import-orders", "--format", "lumen", "--lumen-id", "4711",
                         "--lumen-id", "999", "--lumen-search", "dmca", "--lumen-pages", "3",
                         LUMEN_API_URL=lumen_api, LUMEN_API_TOKEN=LumenStandIn.token)
    assert out.strip() == "lumen: 5 row(s) read; orders: 2 added, 0 updated, 0 lifted; 3 row(s) rejected"
    assert "lumen:notices/999:0: Lumen has no notice 999 to give (HTTP 404" in err
    assert code == 1
    db = catalog.connect(home / "catalog.sqlite3")
    assert sorted(r[0] for r in db.execute("SELECT register_key FROM takedowns")) == ["4711", "5001"]
    # No token: the command says which setting to set; a wrong one: Lumen's refusal, named.
    code, _, err = cli(monkeypatch, capsys, home, "import-orders", "--format", "lumen", "--lumen-id", "4711",
                       LUMEN_API_URL=lumen_api, LUMEN_API_TOKEN="")
    assert code == 2 and "LUMEN_API_TOKEN is not set" in err
    code, _, err = cli(monkeypatch, capsys, home, "import-orders", "--format", "lumen", "--lumen-id", "4711",
                       LUMEN_API_URL=lumen_api, LUMEN_API_TOKEN="wrong")
    assert code == 2 and "Lumen refused the token (HTTP 401" in err


# --- OONI ---------------------------------------------------------------------------------------------

def test_ooni_measurements_become_blocking_evidence(tmp_path, monkeypatch, capsys):
    files = sorted(OONI.glob("*.json"))
    blocked = ooni_blocking()
    assert (len(files), len(blocked)) == (10, 7)
    home = tmp_path / "home"
    code, out, _ = cli(monkeypatch, capsys, home, "import-orders", "--format", "ooni", *map(str, files))
    assert code == 0
    assert out.strip() == (f"ooni: {len(files)} measurement(s) read; blocking evidence: {len(blocked)} added, "
                           f"0 already kept; {len(files) - len(blocked)} showed no blocking; 0 rejected")
    db = catalog.connect(home / "catalog.sqlite3")
    got = sorted((r["url"], r["country"], r["asn"], r["measured_at"], r["blocking"]) for r in db.execute(
        "SELECT * FROM blocking_measurements"))
    assert got == sorted((normalize_url(m["input"], None), m["probe_cc"], m["probe_asn"],
                          m["measurement_start_time"].replace(" ", "T") + ".000000Z", m["test_keys"]["blocking"])
                         for m in blocked)
    # The same measurements again, also as one JSONL file as the OONI API gives them: nothing new.
    jsonl = tmp_path / "measurements.jsonl"
    jsonl.write_text("".join(json.dumps(json.loads(p.read_text())) + "\n" for p in files) + "{not json\n")
    code, out, err = cli(monkeypatch, capsys, home, "import-orders", "--format", "ooni", str(jsonl))
    assert out.strip().startswith("ooni: 11 measurement(s) read; blocking evidence: 0 added, 7 already kept")
    assert code == 1 and "measurements.jsonl:11: not JSON" in err


def capture(db, url: str, when: str, outcome: str, vantage: str = "direct", country: str | None = None) -> int:
    capture_id = catalog.add_capture(db, {"url": url, "final_url": url, "captured_at": when, "ended_at": when,
                                          "vantage": vantage, "vantage_country": country, "outcome": outcome,
                                          "status": 200 if outcome == "ok" else 404}, [])
    update_events(db, capture_id, lambda name: None)
    return capture_id


def test_ooni_blocking_turns_a_removal_into_a_block(tmp_path):
    # Our only vantage saw https://www.example.com/ go away near OONI's measurement (2024-02-12 20:33:47 UTC,
    # blocked in IT): alone, that reads as removed at source; OONI's control reached the page then, so it was a block.
    db = catalog.connect(tmp_path / "catalog.sqlite3")
    url = "https://www.example.com/"
    capture(db, url, "2024-02-12T08:00:00.000000Z", "ok", "it", "IT")
    capture(db, url, "2024-02-12T20:00:00.000000Z", "not_found", "it", "IT")
    event = db.execute("SELECT id, scope FROM removal_events").fetchone()
    assert event["scope"] == "source"
    report = ooni_format.import_measurements(db, [OONI / "dnsBlockingNXDOMAIN.measurement.json"], Report("ooni"))
    assert report.added == 1
    assert db.execute("SELECT scope FROM removal_events WHERE id = ?", (event["id"],)).fetchone()[0] == "country"
    found = get_event(db, event["id"])
    assert [(m["country"], m["asn"], m["blocking"]) for m in found["blocking"]] == [("IT", "AS137", "dns")]
    # A removal seen after the evidence is in is judged a block at once; one far from it is not.
    other = "http://www.example.com/"
    assert blocking_evidence(db, other)[0]["measurement_id"]  # either scheme is one page
    capture(db, "http://itsat.info/", "2024-02-12T07:00:00.000000Z", "ok")
    ooni_format.import_measurements(db, [OONI / "ghostDNSBlockingWithHTTP.measurement.json"], Report("ooni"))
    capture(db, "http://itsat.info/", "2024-02-12T21:00:00.000000Z", "not_found")
    capture(db, "http://itsat.info/", "2024-03-01T00:00:00.000000Z", "ok")
    capture(db, "http://itsat.info/", "2024-03-20T00:00:00.000000Z", "not_found")
    scopes = [r[0] for r in db.execute("SELECT scope FROM removal_events WHERE url = 'http://itsat.info/' ORDER BY id")]
    assert scopes == ["country", "source"]
    assert url_evidence(db, url)["status"] == {"state": "blocked", "blocked_in": ["IT"]}


# --- acting on what is imported -----------------------------------------------------------------------

def test_imported_urls_are_watched_politely(tmp_path, site, host_rules):
    settings = Settings.from_env({}, archive_home=str(tmp_path / "home"), capture_allow_networks="127.0.0.1/32",
                                 capture_host_rules=host_rules, watch_host_delay="60", watch_max_pending="50")
    db = catalog.connect(settings.catalog_path)
    seen = "http://news.example.com/article1.html"
    capture(db, seen, "2024-01-01T00:00:00.000000Z", "ok")
    lines = [f"127.0.0.1;news.example.com;http://news.example.com/page{i}.html;суд;{i};2014-01-10" for i in range(5)]
    lines += [f"127.0.0.1;news.example.com;{seen};суд;9;2014-01-10",
              "127.0.0.2;intranet.example;http://intranet.example/secret;суд;10;2014-01-10"]
    path = tmp_path / "dump.csv"
    path.write_bytes(("Updated: 2014-01-11 00:00:00 +0000\n" + "\n".join(lines) + "\n").encode("cp1251"))
    report = Report("rkn")
    (when, dumps), = rkn.snapshots([path])
    import_entries(db, settings, "rkn", (e for d in dumps for e in d.entries()), "dump.csv", listed_at=when,
                   snapshot=True, watch=watcher(db, settings, report=report), report=report)
    assert (report.added, report.watched) == (7, 6)
    assert any(n.startswith("not watched: http://intranet.example/secret") for n in report.notes)  # the URL check
    watches = {r["url"]: r for r in db.execute("SELECT * FROM watches")}
    assert set(watches) == {f"http://news.example.com/page{i}.html" for i in range(5)} | {seen}
    order = dict(db.execute("SELECT register_key, id FROM takedowns"))
    assert watches[seen]["source"] == f"takedown:{order['суд|9|2014-01-10']}"
    now = datetime.now(UTC)
    due_now = [u for u, w in watches.items() if w["next_due"] <= catalog.to_iso(now)]
    assert sorted(due_now) == sorted(set(watches) - {seen})  # never captured: now; captured: one interval on
    # One host: the scheduler spreads the five over WATCH_HOST_DELAY, not all at once.
    schedule_due(db, settings, now=now)
    starts = sorted(r[0] for r in db.execute("SELECT not_before FROM jobs"))
    times = [catalog.from_iso(s) for s in starts]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert len(starts) == 5 and all(g >= 60 for g in gaps)


def test_order_and_removal_pages_show_history_status_and_ooni(web_settings, web_server, monkeypatch, capsys):
    home = Path(web_settings.archive_home)
    cli(monkeypatch, capsys, home, "import-orders", "--format", "ooni",
        str(OONI / "dnsBlockingNXDOMAIN.measurement.json"))
    dump = home / "dump.csv"
    dump.write_bytes("Updated: 2024-02-13 00:00:00 +0000\n1.1.1.1;www.example.com;https://www.example.com/;"
                     "Роскомнадзор;1-URL-on;2024-02-01\n".encode("cp1251"))
    cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(dump))
    db = catalog.connect(web_settings.catalog_path)
    first = capture(db, "https://www.example.com/", "2024-02-12T08:00:00.000000Z", "ok", "it", "IT")
    second = capture(db, "https://www.example.com/", "2024-02-12T20:00:00.000000Z", "not_found", "it", "IT")
    order_id = db.execute("SELECT id FROM takedowns").fetchone()[0]
    page = web_server.get(f"/takedowns/{order_id}")
    assert page.status_code == 200
    text = page.text
    assert "rkn · Роскомнадзор|1-URL-on|2024-02-01" in text and "dump.csv:2" in text
    assert re.search(r'id="status-1">.*?<span class="state">blocked</span>.*?blocked in IT', text, re.S)
    assert f"/captures/{first}" in text or f"#{first}" in text
    assert f"#{second}" in text and "OONI: blocked in IT on AS137" in text
    listing = web_server.get("/takedowns").text
    assert f'href="/takedowns/{order_id}"' in listing and "rkn" in listing
    event = db.execute("SELECT id FROM removal_events").fetchone()[0]
    assert "OONI: blocked in IT on AS137" in web_server.get(f"/removals/{event}").text
    api = web_server.get(f"/api/takedowns/{order_id}").json()
    assert api["register"]["name"] == "rkn" and api["evidence"][0]["status"]["blocked_in"] == ["IT"]
    assert web_server.get(f"/api/removals/{event}").json()["blocking"][0]["blocking"] == "dns"
    # The next dump no longer lists it: lifted, on the page and in the JSON, the order kept.
    dump.write_bytes("Updated: 2024-02-20 00:00:00 +0000\n1.1.1.1;other.example.com;https://other.example.com/;"
                     "суд;5;2024-02-15\n".encode("cp1251"))
    assert "1 lifted" in cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(dump))[1]
    assert "lifted on 2024-02-20" in web_server.get(f"/takedowns/{order_id}").text
    assert web_server.get(f"/api/takedowns/{order_id}").json()["register"]["lifted_on"] == "2024-02-20"


def test_search_filters_by_order_and_register(web_settings, monkeypatch, capsys):
    from .webapp import ArchiveBuilder, LiveServer

    builder = ArchiveBuilder(web_settings)
    named = builder.add("https://blocked.example.org/story", "Blocked story", ["A story the register lists."])
    builder.add("https://free.example.org/story", "Free story", ["A story no register lists."])
    builder.close()
    home = Path(web_settings.archive_home)
    dump = home / "dump.csv"
    dump.write_bytes("Updated: 2024-02-13 00:00:00 +0000\n1.1.1.1;blocked.example.org;http://blocked.example.org/story;"
                     "суд;б/н;2024-02-01\n".encode("cp1251"))
    assert cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(dump))[0] == 0  # reindexes it
    order_id = catalog.connect(web_settings.catalog_path).execute("SELECT id FROM takedowns").fetchone()[0]
    with LiveServer(web_settings) as server:
        def ids(**args):
            reply = server.get("/api/search", params=args)
            assert reply.status_code == 200, reply.text
            return [int(h["id"]) for h in reply.json()["hits"]]

        assert ids(register="rkn") == [named] == ids(order=order_id) == ids(authority="суд")
        assert ids(register="lumen") == [] and ids(order=order_id + 1) == []
        assert len(ids()) == 2
        bad = server.get("/api/search", params={"register": "nowhere"})
        assert bad.status_code == 400 and "register must be one of: rkn, lumen, github-gov, ooni" in bad.text
        assert "Blocked story" in server.get("/", params={"register": "rkn"}).text


def test_order_list_filters_by_register_and_authority(web_settings, web_server, monkeypatch, capsys):
    """/takedowns and /api/takedowns narrow by register (or staff-entered), authority (as written or normalised)
    and country, over real HTTP; a register that is none is a 400 naming the choices."""
    from archive.orders.takedowns import create_takedown

    home = Path(web_settings.archive_home)
    dump = home / "dump.csv"
    dump.write_bytes(("Updated: 2024-02-13 00:00:00 +0000\n1.1.1.1;a.example.com;https://a.example.com/;суд;7;2024-02-01\n"
                      "1.1.1.2;b.example.com;https://b.example.com/;Роскомнадзор;8;2024-02-02\n").encode("cp1251"))
    assert cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(dump))[0] == 0
    assert cli(monkeypatch, capsys, home, "import-orders", "--format", "github-gov",
               str(GOV / "2019-06-20-roskomnadzor.md"))[0] == 0
    db = catalog.connect(web_settings.catalog_path)
    staff = create_takedown(db, web_settings, {
        "authority": "Ministry of Culture", "recipient": "Kloop Media", "country": "kg", "issued_on": "2024-04-10",
        "action_demanded": "remove", "urls": ["https://kloop.kg/a"], "published": True}, None, None)
    ids = {r["register_key"] or "staff": r["id"] for r in db.execute("SELECT id, register_key FROM takedowns")}
    court, rkn_order, gov = ids["суд|7|2024-02-01"], ids["Роскомнадзор|8|2024-02-02"], ids["2019-06-20-roskomnadzor"]

    def api(**args) -> list[int]:
        reply = web_server.get("/api/takedowns", params=args)
        assert reply.status_code == 200, reply.text
        return sorted(t["id"] for t in reply.json()["takedowns"])

    def page(**args) -> list[int]:
        reply = web_server.get("/takedowns", params=args)
        assert reply.status_code == 200, reply.text
        return sorted(int(i) for i in re.findall(r'<a href="/takedowns/(\d+)">#', reply.text))

    for listing in (api, page):
        assert listing() == sorted([court, rkn_order, gov, staff])
        assert listing(register="rkn") == sorted([court, rkn_order])
        assert listing(register="github-gov") == [gov]
        assert listing(register="staff") == [staff]
        assert listing(register="lumen") == []
        assert listing(authority="суд") == [court] == listing(authority="court")  # as written, as normalised
        assert listing(authority="Roskomnadzor", register="rkn") == [rkn_order]
        assert listing(register="rkn", country="kg") == [] and listing(country="KG") == [staff]
    text = web_server.get("/takedowns", params={"register": "rkn"}).text
    assert '<option value="rkn" selected>' in text and 'href="/api/takedowns?register=rkn"' in text
    assert "No published takedown order matches these filters." in web_server.get(
        "/takedowns", params={"register": "lumen"}).text
    for path in ("/takedowns", "/api/takedowns"):
        bad = web_server.get(path, params={"register": "nowhere"})
        assert bad.status_code == 400 and "register must be one of: rkn, lumen, github-gov, ooni, staff" in bad.text


def test_register_strings_in_russian_and_kyrgyz(web_settings, monkeypatch, capsys):
    """The order list's filters and an imported order's register details are translated (Kyrgyz too)."""
    from archive.web import create_app

    home = Path(web_settings.archive_home)
    home.mkdir(parents=True, exist_ok=True)
    dump = home / "dump.csv"
    dump.write_bytes("Updated: 2024-02-13 00:00:00 +0000\n1.1.1.1;a.example.com;https://a.example.com/;суд;7;2024-02-01\n"
                     .encode("cp1251"))
    cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(dump))
    dump.write_bytes("Updated: 2024-02-20 00:00:00 +0000\n1.1.1.1;b.example.com;https://b.example.com/;суд;8;2024-02-15\n"
                     .encode("cp1251"))
    cli(monkeypatch, capsys, home, "import-orders", "--format", "rkn", str(dump))  # the first is lifted
    order_id = catalog.connect(web_settings.catalog_path).execute(
        "SELECT id FROM takedowns WHERE lifted_on IS NOT NULL").fetchone()[0]
    client = create_app(web_settings).test_client()

    def text(path: str, lang: str) -> str:
        reply = client.get(path, headers={"Accept-Language": lang})
        assert reply.status_code == 200
        return reply.get_data(as_text=True)

    listing = {lang: text("/takedowns?register=lumen", lang) for lang in ("en", "ru", "ky")}
    assert "No published takedown order matches these filters." in listing["en"]
    assert "Нет опубликованных требований об удалении, подходящих под эти условия." in listing["ru"]
    assert "Бул чыпкаларга дал келген жарыяланган өчүрүү талабы жок." in listing["ky"]
    assert "кызматкерлер киргизген" in listing["ky"] and "внесены сотрудниками" in listing["ru"]
    assert "2024-02-20 алынган" in text("/takedowns", "ky") and "снято 2024-02-20" in text("/takedowns", "ru")
    order = text(f"/takedowns/{order_id}", "ky")
    assert "Орган (нормалдаштырылган)" in order and "2024-02-20 алынган: реестр аны мындан ары камтыбайт" in order
