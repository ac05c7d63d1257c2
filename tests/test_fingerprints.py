"""Blockpage fingerprints: OONI's real file loads whole, and every fingerprint finds its own pattern."""
from __future__ import annotations

import csv
import re

import pytest

from archive.settings import Settings
from detect import FingerprintFileError, FingerprintSet, load_fingerprints
from detect.fingerprints import BUILTIN_PATH, SCOPES

from .sites import SHARED

OONI = SHARED / "fingerprints" / "fingerprints_http.csv"
HEADER = "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,expected_countries,source," \
         "exp_url,notes\n"


@pytest.fixture(scope="module")
def ooni():
    return load_fingerprints(OONI)


def csv_rows(path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for row in csv.reader(fh) if any(row)) - 1


def test_every_row_of_the_real_file_is_parsed_or_reported(ooni):
    rows = csv_rows(OONI)
    assert rows > 1700
    assert ooni.rows == rows
    assert len(ooni.fingerprints) + len(ooni.problems) == rows
    # Every value of location_found, pattern_type and scope that occurs is understood.
    assert not ooni.problems, [str(p) for p in ooni.problems]
    assert {fp.pattern_type for fp in ooni.fingerprints} == {"full", "prefix", "contains", "regexp"}
    assert {fp.scope for fp in ooni.fingerprints} <= SCOPES
    kg = [fp for fp in ooni.fingerprints if "KG" in fp.countries]
    assert [(fp.location, fp.pattern) for fp in kg] == [("header.location", "http://homeline.kg/access/blockpage.html")]


def test_multi_line_patterns_keep_their_line_breaks_and_first_line_number(ooni):
    fp = next(fp for fp in ooni.fingerprints if fp.name == "ooni.th_13")
    assert fp.pattern.startswith("<h3>Web Page Blocked!</h3>\r\n<div")
    with open(OONI, encoding="utf-8", newline="") as fh:
        assert fp.name in fh.read().split("\n")[fp.line - 1]


def _sample(pattern_type: str, pattern: str) -> str | None:
    """A value the pattern matches, built from the pattern itself (None for a regexp we cannot invert)."""
    if pattern_type != "regexp":
        return pattern
    # Escaped characters stand for themselves, `.*` for nothing, a bare `.` for any one character.
    text = re.sub(r"\\(.)|\.[*?]|(\.)\+?", lambda m: m.group(1) or ("x" if m.group(2) else ""), pattern)
    return text if re.search(pattern, text) else None


def test_every_ooni_fingerprint_matches_a_page_built_from_its_pattern(ooni):
    fingerprints = FingerprintSet(ooni.fingerprints)
    checked, skipped, missed = 0, [], []
    for fp in ooni.fingerprints:
        sample = _sample(fp.pattern_type, fp.pattern)
        if sample is None:
            skipped.append(fp.name)
            continue
        if fp.header is not None:
            value = {"full": sample, "prefix": sample + "/more", "contains": "x" + sample + "y"}.get(
                fp.pattern_type, sample)
            inputs = [([("Date", "Mon, 01 Jan 2024 00:00:00 GMT"), (fp.header.title(), value)], "")]
        elif fp.pattern_type == "full":
            inputs = [([], sample + "\n")]
        else:
            # Spaced and glued to word characters: the index must find the pattern inside longer words too.
            inputs = [([], f"<html><body><p>Some text.</p> {sample} <p>More text</p></body></html>"),
                      ([], f"<html><body>abc{sample}xyz</body></html>")]
        for headers, body in inputs:
            if fp.name not in {m.name for m in fingerprints.match(headers, body)}:
                missed.append((fp.name, fp.pattern[:60]))
        checked += 1
    assert not missed, missed[:20]
    assert checked >= 0.99 * len(ooni.fingerprints), skipped
    assert len(skipped) <= 3, skipped


def test_a_normal_page_matches_no_conclusive_fingerprint(ooni):
    fingerprints = FingerprintSet(ooni.fingerprints)
    page = (SHARED / "corpus" / "readability" / "aclu" / "source.html").read_text(encoding="utf-8")
    matches = fingerprints.match([("Server", "nginx"), ("Content-Type", "text/html")], page)
    assert all(m.scope in ("fp", "vbw") for m in matches), matches


def test_headers_match_by_name_case_insensitively_and_by_type(ooni):
    fingerprints = FingerprintSet(ooni.fingerprints)
    names = {m.name for m in fingerprints.match([("SERVER", "Protected by WireFilter 8.1"),
                                                 ("location", "http://homeline.kg/access/blockpage.html")], "")}
    assert {"ooni.ae_0"} <= names  # prefix
    assert any(fp.name in names for fp in ooni.fingerprints if "KG" in fp.countries)
    # `full` compares the whole value; `prefix` its start only.
    assert not fingerprints.match([("Server", "SonicWALL v2")], "")
    assert not fingerprints.match([("Server", "x Protected by WireFilter")], "")


def test_unusable_rows_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "fp.csv"
    path.write_text(HEADER + "\n".join([
        'good.multi,isp,,body,contains,"<h1>Blocked</h1>\r\n<p>by order</p>",5,"RU,KG",me,,',
        "bad.type,isp,,body,glob,*blocked*,5,RU,me,,",
        "bad.regexp,isp,,body,regexp,(unclosed,5,RU,me,,",
        "bad.empty,isp,,body,contains,,5,RU,me,,",
        "bad.fields,isp,,body,contains,x,5",
        "bad.dns,nat,,dns,full,1.2.3.4,5,RU,me,,",
        "bad.scope,country,,body,contains,blocked here,5,RU,me,,",
        "bad.location,isp,,footer,contains,blocked here,5,RU,me,,",
        "good.header,isp,,header.location,prefix,http://block.example/,5,ru,me,,",
    ]) + "\n", encoding="utf-8")
    report = load_fingerprints(path)
    assert report.rows == 9
    assert [fp.name for fp in report.fingerprints] == ["good.multi", "good.header"]
    assert report.fingerprints[0].countries == ("RU", "KG")
    assert report.fingerprints[1].countries == ("RU",)
    problems = {p.line: p.message for p in report.problems}
    assert sorted(problems) == [4, 5, 6, 7, 8, 9, 10]  # good.multi spans lines 2-3
    assert "unknown pattern_type 'glob'" in problems[4]
    assert "not a valid regular expression" in problems[5]
    assert "empty pattern" in problems[6]
    assert "7 fields, expected 11" in problems[7]
    assert "DNS fingerprint" in problems[8]
    assert "unknown scope 'country'" in problems[9]
    assert "unknown location_found 'footer'" in problems[10]
    assert str(report.problems[0]).startswith(f"{path}:4: bad.type")


def test_a_file_that_is_not_a_fingerprint_file_is_a_clear_error(tmp_path):
    with pytest.raises(FingerprintFileError, match="cannot read"):
        load_fingerprints(tmp_path / "missing.csv")
    (tmp_path / "dns.csv").write_text("name,scope,pattern\nx,nat,1.2.3.4\n", encoding="utf-8")
    with pytest.raises(FingerprintFileError, match="missing column.*location_found"):
        load_fingerprints(tmp_path / "dns.csv")
    (tmp_path / "latin1.csv").write_bytes(HEADER.encode() + "a,nat,,body,contains,bloqué,5,FR,,,\n".encode("latin-1"))
    with pytest.raises(FingerprintFileError, match="not UTF-8"):
        load_fingerprints(tmp_path / "latin1.csv")


def test_the_builtin_set_is_clean_and_covers_the_notices_we_watch_for():
    report = load_fingerprints(BUILTIN_PATH)
    assert not report.problems, [str(p) for p in report.problems]
    assert report.rows == len(report.fingerprints) >= 15
    fingerprints = FingerprintSet(report.fingerprints)
    pages = {
        "builtin.ru_rkn_149fz": "<p>Доступ к информационному ресурсу ограничен на основании Федерального закона от "
                                "27 июля 2006 г. № 149-ФЗ «Об информации, информационных технологиях и о защите "
                                "информации».</p>",
        "builtin.ru_rkn_149fz_short": "ограничен на основании Федерального закона от 27 июля 2006 г. N 149-ФЗ",
        "builtin.tr_btk_decision": "Bu internet sitesi hakkında Bilgi Teknolojileri ve İletişim Kurumu tarafından "
                                   "verilen karar uygulanmaktadır.",
        "builtin.tr_5651": "5651 Sayılı Kanun kapsamında",
        "builtin.kg_blockpage_text": "<h1>Доступ к данному ресурсу ограничен</h1>",
        "withheld.x_legal_demand": "This Post from @kloop_kg has been withheld in Russia in response to a legal "
                                   "demand. Learn more.",
        "withheld.youtube_government": "This content is not available on this country domain due to a legal "
                                       "complaint from the government.",
        "withheld.facebook_legal_restriction": "This content isn&#039;t available in your country due to a legal "
                                               "restriction",
        "withheld.telegram_local_laws": "This channel can’t be displayed because it violated local laws.",
        "builtin.rfc7725_451": "<title>451 Unavailable For Legal Reasons</title>",
    }
    for name, body in pages.items():
        assert name in {m.name for m in fingerprints.match([], body)}, name
    location = fingerprints.match([("Location", "http://homeline.kg/access/blockpage.html")], "")
    assert [m.name for m in location] == ["builtin.kg_blockpage_location"]
    assert location[0].countries == ("KG",) and location[0].scope == "isp"


def test_the_setting_loads_files_beside_the_builtin_set(tmp_path):
    extra = tmp_path / "extra.csv"
    extra.write_text(HEADER + "local.isp_1,isp,,body,contains,Blocked by LocalNet,5,KG,me,,\n"
                     "local.broken,isp,,body,regexp,[,5,KG,me,,\n", encoding="utf-8")
    settings = Settings.from_env({"FINGERPRINTS_PATH": f"{OONI}:{extra}", "ARCHIVE_HOME": str(tmp_path)})
    fingerprints, problems = FingerprintSet.load(settings.fingerprints_path)
    builtin = load_fingerprints(BUILTIN_PATH).rows
    assert len(fingerprints) == builtin + csv_rows(OONI) + 1
    assert [p.line for p in problems] == [3]
    assert [m.name for m in fingerprints.match([], "<b>Blocked by LocalNet</b>")] == ["local.isp_1"]
