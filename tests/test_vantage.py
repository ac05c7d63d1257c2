"""Vantage points: the same URL captured directly and through a vantage that sees a blockpage
gives two captures whose content differs, each labelled with where it was made from."""
from __future__ import annotations

import json

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.settings import SettingError, Settings
from crawler.vantage import parse_vantages

from . import vantages
from .conftest import run_cli


@pytest.fixture(scope="module")
def proxies():
    blocking, tunnel = vantages.start(vantages.BlockpageHandler), vantages.start(vantages.Socks5Handler)
    yield blocking, tunnel
    for server in (blocking, tunnel):
        server.shutdown()


@pytest.fixture
def vantage_env(env, proxies):
    blocking, tunnel = proxies
    return dict(env, CAPTURE_VANTAGES=(f"ru-isp=RU=http://127.0.0.1:{blocking.server_address[1]}, "
                                       f"de-tunnel=DE=socks5://127.0.0.1:{tunnel.server_address[1]}"))


def capture(env, *args):
    proc = run_cli(env, "capture", "http://news.example.com/", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def provenance_of(settings: Settings) -> list[dict]:
    out = []
    for path in sorted(settings.warc_dir.glob("*.warc.gz*")):
        for rec in ArchiveIterator(open(path, "rb")):
            if rec.rec_type == "metadata":
                out.append(json.loads(rec.content_stream().read()))
    return out


def test_direct_and_blocked_vantage_differ_and_are_labelled(vantage_env, proxies, site):
    blocking, _ = proxies
    direct = capture(vantage_env)
    blocked = capture(vantage_env, "--vantage", "ru-isp")
    assert direct["vantage"] == "direct" and blocked["vantage"] == "ru-isp"
    assert direct["title"] == "Court upholds order to block independent outlet"
    assert blocked["title"] == "Доступ ограничен"
    assert direct["sha256"] != blocked["sha256"]
    assert blocking.connects[0] == f"127.0.0.1:{site.port}"  # host rules applied, then asked of the vantage
    settings = Settings.from_env(vantage_env)
    prov = provenance_of(settings)
    assert [p["vantage"]["name"] for p in prov] == ["direct", "ru-isp"]
    assert prov[1]["vantage"]["country"] == "RU" and prov[1]["vantage"]["proxy"].startswith("http://127.0.0.1:")
    from archive.web import create_app

    page = create_app(settings).test_client().get(f"/capture/{blocked['id']}").get_data(as_text=True)
    assert '<dd id="vantage">ru-isp (RU)</dd>' in page


def test_socks5_vantage_fetches_the_real_page(vantage_env, proxies):
    _, tunnel = proxies
    out = capture(vantage_env, "--vantage", "de-tunnel")
    assert out["vantage"] == "de-tunnel"
    assert out["title"] == "Court upholds order to block independent outlet"
    assert tunnel.connects
    responses = [r for r in ArchiveIterator(open(next(Settings.from_env(vantage_env).warc_dir.glob("*.warc.gz*")),
                                                  "rb")) if r.rec_type == "response"]
    assert responses and all(r.rec_headers.get_header("WARC-IP-Address") is None for r in responses)


def test_unknown_vantage_is_a_clear_error(vantage_env):
    proc = run_cli(vantage_env, "capture", "http://news.example.com/", "--json", "--vantage", "kg-bishkek")
    assert proc.returncode != 0 and "no vantage point 'kg-bishkek'" in proc.stderr and "ru-isp" in proc.stderr


@pytest.mark.parametrize("text, words", [
    ("kg=KGZ=socks5://10.0.0.5:1080", "two-letter"),
    ("kg=KG=ftp://10.0.0.5:21", "must be http://host:port or socks5://host:port"),
    ("direct=KG=socks5://10.0.0.5:1080", "not 'direct'"),
    ("kg-bishkek", "name=COUNTRY=socks5://host:port"),
])
def test_bad_vantage_settings_say_why(text, words):
    with pytest.raises(ValueError, match=words):
        parse_vantages(text)
    with pytest.raises(SettingError, match="CAPTURE_VANTAGES"):
        Settings.from_env({"CAPTURE_VANTAGES": text})


def test_api_and_form_take_a_vantage(vantage_env, tmp_path):
    from archive import catalog
    from archive.capturing import jobs
    from archive.web import create_app

    from .webapp import csrf_token

    settings = Settings.from_env(vantage_env)
    client = create_app(settings).test_client()
    ok = client.post("/api/captures", json={"url": "http://news.example.com/", "vantage": "ru-isp"})
    assert ok.status_code == 202 and ok.get_json()["vantage"] == "ru-isp"
    bad = client.post("/api/captures", json={"url": "http://news.example.com/", "vantage": "mars"})
    assert bad.status_code == 400 and "no vantage point 'mars'" in bad.get_json()["error"]
    page = client.get("/submit").get_data(as_text=True)
    assert '<option value="ru-isp">ru-isp (RU)</option>' in page
    form = client.post("/submit", data={"url": "http://news.example.com/", "vantage": "de-tunnel",
                                        "csrf_token": csrf_token(page)})
    assert form.status_code == 303
    db = catalog.connect(settings.catalog_path)
    assert [jobs.get_job(db, i)["vantage"] for i in (1, 2)] == ["ru-isp", "de-tunnel"]
