"""The watchlist: adding (idempotent), removing, listing and importing watched URLs; the `watch` CLI."""
from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from archive import catalog
from archive.catalog import from_iso, to_iso
from archive.urlcheck import url_checker
from archive.watches.watchlist import (
    COUNT_SQL,
    WatchError,
    add_watch,
    check_vantage,
    count_watches,
    format_every,
    get_watch,
    import_watches,
    list_watches,
    parse_every,
    remove_watch,
)
from crawler.netpolicy import URLRejected
from crawler.vantage import UnknownVantage

from .conftest import ROOT, run_cli
from .webapp import HOST_RULES, make_settings


@pytest.fixture
def wsettings(tmp_path, database_url):  # the catalog conformance suite: SQLite and PostgreSQL
    return make_settings(tmp_path / "home", capture_vantages="ru-isp=RU=socks5://127.0.0.1:1080",
                         database_url=database_url)


@pytest.fixture
def db(wsettings):
    conn = catalog.connect(wsettings.catalog_location)
    yield conn
    conn.close()


def test_add_is_due_at_once_and_idempotent(db):
    before = datetime.now(UTC)
    first = add_watch(db, "https://KLOOP.kg/news/1#comments", every_seconds=3600)
    watch = get_watch(db, first)
    assert (watch["url"], watch["host"], watch["vantage"], watch["every_seconds"], watch["active"], watch["source"]) \
        == ("https://kloop.kg/news/1", "kloop.kg", "direct", 3600, 1, "user")
    assert before <= from_iso(watch["next_due"]) <= datetime.now(UTC)

    # The same URL (normalized) again: the same watch, with the new interval, its schedule kept.
    again = add_watch(db, "https://kloop.kg/news/1", every_seconds=7200, source="takedown:3")
    assert again == first
    watch = get_watch(db, first)
    assert watch["every_seconds"] == 7200 and watch["source"] == "user"
    assert db.execute("SELECT count(*) FROM watches").fetchone()[0] == 1

    # Another vantage is another watch.
    assert add_watch(db, "https://kloop.kg/news/1", 3600, vantage="ru-isp") != first


def test_readding_pulls_a_far_next_due_in_but_never_pushes_it_out(db):
    far = to_iso(datetime.now(UTC) + timedelta(days=5))
    watch_id = add_watch(db, "https://kloop.kg/a", 7 * 86400, first_due=far)
    assert get_watch(db, watch_id)["next_due"] == far
    add_watch(db, "https://kloop.kg/a", 3600)  # now every hour: due within the hour, not in 5 days
    due = from_iso(get_watch(db, watch_id)["next_due"])
    assert due <= datetime.now(UTC) + timedelta(hours=1)
    add_watch(db, "https://kloop.kg/a", 86400)  # a longer interval does not postpone it
    assert from_iso(get_watch(db, watch_id)["next_due"]) == due


def test_remove_then_readd_reactivates(db):
    watch_id = add_watch(db, "https://kloop.kg/a", 3600, first_due=to_iso(datetime.now(UTC) + timedelta(days=1)))
    assert remove_watch(db, watch_id) is True
    assert remove_watch(db, watch_id) is False
    assert remove_watch(db, 999) is False
    assert list_watches(db) == []
    assert get_watch(db, watch_id)["active"] == 0  # kept: its jobs and captures point at it
    assert add_watch(db, "https://kloop.kg/a", 1800, source="takedown:9") == watch_id
    watch = get_watch(db, watch_id)
    assert (watch["active"], watch["every_seconds"], watch["source"]) == (1, 1800, "takedown:9")
    assert from_iso(watch["next_due"]) <= datetime.now(UTC)  # due at once again


def test_list_pages_in_order_with_last_job(db):
    ids = [add_watch(db, f"https://kloop.kg/{i}", 3600) for i in range(5)]
    remove_watch(db, add_watch(db, "https://kloop.kg/removed", 3600))
    assert (count_watches(db), count_watches(db, at_most=3), count_watches(db, at_most=9)) == (5, 3, 5)
    if db.engine == "sqlite":  # SQLite's plan (PostgreSQL's planner chooses by its statistics)
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + COUNT_SQL)]
        assert plan == ["SEARCH watches USING INDEX watches_due (next_due>?)"]  # the index, not the table
    assert [w["id"] for w in list_watches(db, limit=2, offset=0)] == ids[:2]
    assert [w["id"] for w in list_watches(db, limit=10, offset=3)] == ids[3:]
    assert list_watches(db)[0]["last_job_status"] is None


@pytest.mark.parametrize("every", [59, 0, -60, 367 * 86400, 3600.5, "3600"])
def test_add_refuses_bad_intervals(db, every):
    with pytest.raises(WatchError, match="interval"):
        add_watch(db, "https://kloop.kg/", every)
    assert list_watches(db) == []


@pytest.mark.parametrize("text, minimum, words", [
    ("10s", 60, "too short; the shortest is 1m"),
    ("10m", 900, "too short; the shortest is 15m"),
    ("-5m", 60, "too short"),
    ("often", 60, "'often' is not a duration"),
    ("400d", 60, "too long; the longest is 366d"),
    ("1e400h", 60, "too long"),
])
def test_parse_every_says_what_is_wrong(text, minimum, words):
    with pytest.raises(WatchError, match=words):
        parse_every(text, minimum)


def test_parse_and_format_every():
    assert parse_every("6h") == 21600
    assert parse_every("15m", 900) == 900
    assert [format_every(s) for s in (21600, 900, 86400 * 2, 90, 61)] == ["6h", "15m", "2d", "90s", "61s"]


def test_url_checker_and_vantage(wsettings):
    check = url_checker(wsettings)
    assert check(" https://kloop.kg/x ") == "https://kloop.kg/x"
    with pytest.raises(URLRejected, match="private address"):
        check("http://intranet.kloop.kg/admin")
    with pytest.raises(URLRejected, match="private address"):  # the host's verdict is remembered
        check("http://intranet.kloop.kg/other")
    with pytest.raises(URLRejected, match="only http and https"):
        check("ftp://kloop.kg/")
    assert check_vantage(wsettings, "ru-isp") == "ru-isp"
    assert check_vantage(wsettings, None) == "direct"
    with pytest.raises(UnknownVantage, match="'mars'; configured: direct, ru-isp"):
        check_vantage(wsettings, "mars")


def test_import_reports_bad_lines_and_adds_the_good(db, wsettings):
    existing = add_watch(db, "https://kloop.kg/old", 3600)
    lines = ["# watched for the 2024 order", "", "https://kloop.kg/a", "  https://rus.azattyk.org/b  ",
             "kloop.kg/no-scheme", "http://intranet.kloop.kg/x", "https://kloop.kg/old",
             "javascript:alert(1)", "https://kloop.kg/a"]
    report = import_watches(db, lines, 7200, "direct", url_checker(wsettings))
    assert (report.lines, report.added, report.existing) == (9, 2, 2)
    assert [(n, reason.split(";")[0]) for n, _, reason in report.bad] == [
        (5, "'kloop.kg/no-scheme' is not a URL"),
        (6, "intranet.kloop.kg resolves to a private address (10.1.2.3)"),
        (8, "only http and https URLs can be captured, not javascript:"),
    ]
    assert [(w["url"], w["every_seconds"], w["source"]) for w in list_watches(db)] == [
        ("https://kloop.kg/old", 7200, "user"), ("https://kloop.kg/a", 7200, "import"),
        ("https://rus.azattyk.org/b", 7200, "import")]
    assert get_watch(db, existing)["every_seconds"] == 7200


def test_import_of_a_big_file_reports_progress(db, wsettings):
    seen = []
    lines = (f"https://kloop.kg/n/{i}" if i % 500 else "not a url" for i in range(2500))
    report = import_watches(db, lines, 3600, "direct", url_checker(wsettings),
                            progress=lambda n, r: seen.append((n, r.added, len(r.bad))))
    assert seen == [(1000, 998, 2), (2000, 1996, 4)]
    assert (report.added, len(report.bad)) == (2495, 5)
    assert db.execute("SELECT count(*) FROM watches").fetchone()[0] == 2495


@pytest.fixture
def cli_env(tmp_path):
    env = dict(os.environ)
    env.update({"ARCHIVE_HOME": str(tmp_path / "home"), "CAPTURE_HOST_RULES": HOST_RULES,
                "CAPTURE_VANTAGES": "ru-isp=RU=socks5://127.0.0.1:1080", "PYTHONPATH": str(ROOT)})
    return env


def test_cli_watch_add_list_remove(cli_env):
    added = run_cli(cli_env, "watch", "add", "https://kloop.kg/news/7", "--every", "30m", "--vantage", "ru-isp")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "watch 1: https://kloop.kg/news/7 from ru-isp every 30m"
    assert run_cli(cli_env, "watch", "add", "https://kloop.kg/news/8").returncode == 0
    listed = run_cli(cli_env, "watch", "list")
    assert listed.returncode == 0
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert [(r[0], r[1], r[2], r[-1]) for r in rows] == [("1", "30m", "ru-isp", "https://kloop.kg/news/7"),
                                                        ("2", "6h", "direct", "https://kloop.kg/news/8")]
    as_json = [json.loads(line) for line in run_cli(cli_env, "watch", "list", "--json").stdout.splitlines()]
    assert [(w["id"], w["every"], w["source"], w["last"]) for w in as_json] == [(1, "30m", "cli", None),
                                                                               (2, "6h", "cli", None)]
    removed = run_cli(cli_env, "watch", "remove", "1")
    assert (removed.returncode, removed.stdout.strip()) == (0, "stopped watching https://kloop.kg/news/7 (watch 1)")
    again = run_cli(cli_env, "watch", "remove", "1")
    assert again.returncode == 1 and "there is no watch 1 (it was removed before)" in again.stderr
    assert [line.split()[0] for line in run_cli(cli_env, "watch", "list").stdout.splitlines()] == ["2"]


@pytest.mark.parametrize("args, words", [
    (["http://intranet.kloop.kg/"], "resolves to a private address"),
    (["https://kloop.kg/", "--every", "30s"], "too short; the shortest is 1m"),
    (["https://kloop.kg/", "--every", "soon"], "'soon' is not a duration"),
    (["https://kloop.kg/", "--vantage", "mars"], "no vantage point 'mars'"),
])
def test_cli_watch_add_refuses_with_reason(cli_env, args, words):
    proc = run_cli(cli_env, "watch", "add", *args)
    assert proc.returncode == 2
    assert words in proc.stderr
    assert run_cli(cli_env, "watch", "list").stdout == ""


def test_cli_watch_import(cli_env, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("# order 12\nhttps://kloop.kg/1\n\nftp://kloop.kg/2\nhttps://kloop.kg/3\n")
    proc = run_cli(cli_env, "watch", "import", str(urls), "--every", "1h")
    assert proc.returncode == 1  # some lines were bad
    assert f"{urls}:4: ftp://kloop.kg/2: only http and https" in proc.stderr
    assert proc.stdout.strip() == "5 line(s): 2 watch(es) added, 0 already watched, 1 bad line(s)"
    listed = run_cli(cli_env, "watch", "list", "--json").stdout.splitlines()
    assert [(json.loads(w)["url"], json.loads(w)["every"]) for w in listed] == [("https://kloop.kg/1", "1h"),
                                                                                ("https://kloop.kg/3", "1h")]
    missing = run_cli(cli_env, "watch", "import", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "nope.txt" in missing.stderr


def test_a_url_as_long_as_the_setting_allows_can_be_watched(db, tmp_path):
    # The length limit is MAX_URL_LENGTH, checked once by the URL check, not a second fixed limit.
    from .webapp import make_settings

    settings = make_settings(tmp_path / "long", max_url_length="4096")
    url = "https://kloop.kg/" + "a" * 3000
    watch_id = add_watch(db, url_checker(settings)(url), 3600)
    assert get_watch(db, watch_id)["url"] == url
    with pytest.raises(URLRejected, match="URL is 4097 characters long; the limit is 4096"):
        url_checker(settings)("https://kloop.kg/" + "a" * 4080)
