"""One signed evidence WACZ per removal (issue 14 point 4): from the event's page and the API,
checked with our verify-wacz, py-wacz and warcio; any changed byte is caught and named."""
from __future__ import annotations

import hashlib
import json
import zipfile

import pytest

from archive.evidence.bundle import write_bundle
from archive.orders.takedowns import create_takedown

from .conftest import run_cli, warcio_check
from .test_signing import cli_env
from .test_wacz import wacz_validate
from .test_web_removals import add_capture, add_event, at

URL = "https://kloop.kg/blog/2024/03/01/decree/"
BEFORE = ["Президент подписал указ о СМИ.", "The decree names three outlets."]
BLOCK = ["Доступ к ресурсу ограничен по решению суда"]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ORDER = {"authority": "Ministry of Culture", "recipient": "Kloop Media", "country": "KG", "issued_on": "2024-03-05",
         "legal_basis": "Law 123", "action_demanded": "remove", "urls": [URL], "published": True}


@pytest.fixture
def removal(archive_builder, web_settings):
    """A page seen ok, then a blockpage from Kyrgyzstan and a 404 directly, and a published order naming it."""
    db = archive_builder.db
    ids = {
        "before": add_capture(archive_builder, URL, at("2024-03-01"), BEFORE, title="Decree"),
        "kg": add_capture(archive_builder, URL, at("2024-03-10"), BLOCK, vantage="kg-bishkek", outcome="blockpage",
                          title="Blocked"),
        "direct": add_capture(archive_builder, URL, at("2024-03-11"), ["Not found"], status=404,
                              outcome="not_found", title="404"),
        "unrelated": add_capture(archive_builder, "https://kloop.kg/other/", at("2024-03-11"), ["x"]),
    }
    ids["event"] = add_event(db, URL, ids["before"], ids["kg"], outcome="blockpage", scope="country",
                             vantage="kg-bishkek", country="KG")
    db.commit()
    ids["order"] = create_takedown(db, web_settings, ORDER, ("order.pdf", PDF))
    return ids


def test_a_removal_downloads_as_one_signed_bundle(removal, web_server, tmp_path):
    page = web_server.get(f"/removals/{removal['event']}").text
    assert f'href="/removals/{removal["event"]}/evidence.wacz"' in page
    api = web_server.get(f"/api/removals/{removal['event']}").json()
    assert api["links"]["evidence"] == f"/api/removals/{removal['event']}/evidence.wacz"
    answer = web_server.get(api["links"]["evidence"])
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/wacz"
    path = tmp_path / "bundle.wacz"
    path.write_bytes(answer.content)

    done = run_cli(cli_env(tmp_path / "elsewhere"), "verify-wacz", str(path))
    assert done.returncode == 0, done.stdout
    wacz_validate(path)
    zf = zipfile.ZipFile(path)
    # pages.jsonl: the capture before and both that saw it gone, each for replayweb.page to open
    pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()[1:]]
    assert [p["id"] for p in pages] == [f"capture-{removal[k]}" for k in ("before", "kg", "direct")]
    warcs = [n for n in zf.namelist() if n.startswith("archive/")]
    assert len(warcs) == 3
    zf.extractall(tmp_path / "out")
    warcio_check(tmp_path / "out" / n for n in warcs)

    assert zf.read(f"orders/takedown-{removal['order']}-order.pdf") == PDF
    order = json.loads(zf.read(f"orders/takedown-{removal['order']}.json"))
    assert order["authority"] == "Ministry of Culture" and "created_by" not in order
    summary = zf.read("evidence/summary.html").decode()
    facts = json.loads(zf.read("evidence/event.json"))
    assert URL in summary and "Ministry of Culture" in summary and "kg-bishkek" in summary
    assert hashlib.sha256(PDF).hexdigest() in summary
    for capture in [facts["before"], *facts["gone"]]:
        assert capture["sha256"] and capture["sha256"] in summary
        assert all(r["block_sha256"] in summary for r in capture["records"] if r["block_sha256"])
    assert facts["before"]["outcome"] == "ok" and [c["outcome"] for c in facts["gone"]] == ["blockpage", "not_found"]
    assert "<script" not in summary.lower()
    printed = zf.read("evidence/summary.pdf")  # printed by the Chromium captures use
    assert printed.startswith(b"%PDF-") and len(printed) > 2000


def test_a_changed_byte_in_the_summary_is_named(removal, archive_builder, web_settings, tmp_path):
    path = tmp_path / "bundle.wacz"
    with open(path, "wb") as out:  # the route's writer, without printing the PDF again
        write_bundle(out, archive_builder.db, web_settings, removal["event"], pdf=False)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("evidence/summary.html")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x01
    bad = tmp_path / "bad.wacz"
    bad.write_bytes(bytes(data))
    done = run_cli(cli_env(tmp_path / "elsewhere"), "verify-wacz", str(bad))
    assert done.returncode == 1 and "FAIL  evidence/summary.html:" in done.stdout, done.stdout


def test_unknown_removal_has_no_bundle(web_server):
    answer = web_server.get("/api/removals/999999/evidence.wacz")
    assert answer.status_code == 404 and "no removal event 999999" in answer.text


