"""Archived pages are hostile: replayed, a page that tries to read the app's cookies or call
its API as the user gets nothing, because it runs on the separate replay origin."""
from __future__ import annotations

import json

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from archive import catalog
from archive.capturing import jobs
from crawler.browser import find_chromium, launch_args

from .conftest import free_port, run_cli
from .sites import send
from .waiting import Served, wait_until

HOSTILE = """<html><head><title>Hostile page</title></head><body><p id="out">waiting</p><script>
var APP = '{app}', out = ['cookie=' + document.cookie];
function done() {{ document.getElementById('out').textContent = 'DONE ' + out.join(' | '); }}
fetch(APP + '/api/captures', {{method: 'POST', credentials: 'include',
  headers: {{'Content-Type': 'application/json'}}, body: JSON.stringify({{url: 'http://news.example.com/stolen'}})}})
  .then(function (r) {{ return r.text(); }}).then(function (t) {{ out.push('post=' + t.slice(0, 60)); }})
  .catch(function (e) {{ out.push('post-error=' + e); }})
  .then(function () {{ return fetch(APP + '/api/search?q=court', {{credentials: 'include'}}); }})
  .then(function (r) {{ return r.text(); }}).then(function (t) {{ out.push('get=' + t.slice(0, 60)); }})
  .catch(function (e) {{ out.push('get-error=' + e); }}).then(done);
</script></body></html>"""


def test_hostile_page_cannot_use_the_apps_cookies_or_api(env, settings, site, replay_viewer):
    port, replay_port = free_port(), free_port()
    app = f"http://127.0.0.1:{port}"
    site.routes["/hostile.html"] = lambda h: send(h, 200, HOSTILE.format(app=app).encode())
    env = dict(env, REPLAY_PORT=str(replay_port))
    # Captured while the app is not running: its script's calls fail at capture time.
    proc = run_cli(env, "capture", "http://news.example.com/hostile.html", "--json")
    assert proc.returncode == 0, proc.stderr
    capture_id = json.loads(proc.stdout)["id"]
    with Served(env, "--no-worker", port=port), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=launch_args())
        context = browser.new_context()
        # The worst case: a readable (not HttpOnly) cookie of the app's origin.
        context.add_cookies([{"name": "session", "value": "SECRET-SESSION", "url": app}])
        page = context.new_page()
        page.goto(f"{app}/capture/{capture_id}")
        frame_src = page.get_attribute("iframe#replay", "src")
        assert frame_src.startswith(f"http://localhost:{replay_port}/"), frame_src

        def script_result() -> str:
            # Sync Playwright learns of new frames only while one of its calls runs: let it listen a moment.
            page.wait_for_timeout(100)
            frame = next((f for f in page.frames if "mp_/" in f.url), None)
            try:
                text = frame.inner_text("#out", timeout=5000) if frame is not None else ""
            except PlaywrightError:  # the replay frame is still loading or was replaced: look again
                return ""
            return text if text.startswith("DONE") else ""

        text = wait_until(script_result, "the hostile script to finish in the replay frame",
                          seen=lambda: [f.url for f in page.frames])
        browser.close()
    assert text.startswith("DONE"), f"the hostile script did not run in replay: {text!r}"
    assert "SECRET-SESSION" not in text
    assert "cookie= |" in text  # it could read no cookie at all
    assert "job_id" not in text and '"hits"' not in text  # no API answer reached it
    db = catalog.connect(settings.catalog_path)
    assert jobs.counts(db) == {}  # nothing was queued as the user
