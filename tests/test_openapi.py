"""The OpenAPI document against the running app: it covers every /api/ route, the /api page is made
from it and its examples work, and schemathesis finds no 5xx and no reply that breaks the document.

The archive behind the live server is real: captures written as WARC records by ArchiveBuilder, a
removal event opened by the write side (``events.update_events``), a published takedown order with
its document, a job and a watch, so replies carry real objects, not just empty lists.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import lxml.html
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from archive import catalog
from archive.capturing import jobs
from archive.orders.takedowns import create_takedown
from archive.removals import events
from archive.watches.watchlist import add_watch
from archive.web.api_page import code_spans
from archive.web.openapi import api_rules, openapi_path, undocumented

from .webapp import CAPTURED_AT, ArchiveBuilder, LiveServer, make_settings, tiny_png

URL = "https://kloop.kg/news/blocked"


def seed(builder: ArchiveBuilder) -> None:
    """One of each object the API returns, with id 1 (the document's path examples)."""
    ok = builder.add(URL, "Статья о блокировке", ["Суд постановил заблокировать сайт."], lang="ru")
    gone = builder.add(URL, "Not found", [], status=404, captured_at=CAPTURED_AT + timedelta(days=3))
    db = builder.db
    db.execute("UPDATE captures SET outcome = 'ok', evidence = '{\"status\": 200}' WHERE id = ?", (ok,))
    db.execute("UPDATE captures SET outcome = 'not_found', evidence = '{\"status\": 404}' WHERE id = ?", (gone,))
    assert events.update_events(db, gone, lambda vantage: None) == {"opened": 1, "scope": "source"}
    job = jobs.enqueue(db, URL)
    jobs.claim(db, "test:1")
    jobs.finish(db, job, ok)
    add_watch(db, URL, every_seconds=3600)
    create_takedown(db, builder.settings, {
        "authority": "Ministry of Culture", "recipient": "Kloop Media", "country": "KG",
        "issued_on": "2024-04-01", "action_demanded": "remove", "urls": URL, "published": True},
        ("order.png", tiny_png()))


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Schemathesis submits many captures from one address: lift the anonymous rate limit here.
    api_settings = make_settings(tmp_path_factory.mktemp("openapi") / "home", rate_limit_anonymous="100000/minute")
    builder = ArchiveBuilder(api_settings)
    try:
        seed(builder)
    finally:
        builder.close()
    with LiveServer(api_settings) as server:
        yield server


@pytest.fixture(scope="module")
def document(api_server: LiveServer) -> dict:
    r = api_server.get("/api/openapi.json")
    assert (r.status_code, r.headers["Content-Type"]) == (200, "application/json")
    return r.json()


def test_every_api_route_is_in_the_document(api_server, document):
    assert undocumented(api_server.app) == [], "add these endpoints to OPERATIONS in archive/web/openapi.py"
    expected = {(openapi_path(r.rule), m.lower()) for r in api_rules(api_server.app)
                for m in r.methods - {"HEAD", "OPTIONS"}}
    assert {(p, m) for p, ops in document["paths"].items() for m in ops} == expected
    assert {"/api/captures", "/api/search", "/api/removals", "/api/timeline", "/api/takedowns",
            "/api/watches", "/api/jobs/{job_id}"} <= document["paths"].keys()


def test_document_describes_bodies_errors_and_tokens(document):
    submit = document["paths"]["/api/captures"]["post"]
    body = submit["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert document["components"]["schemas"][body]["required"] == ["url"]
    assert {"bearerAuth": []} in submit["security"] and {} in submit["security"]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]
        ["bearerAuth"]["description"]}
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and error["properties"]["fields"]["type"] == "object"
    for ops in document["paths"].values():
        for op in ops.values():
            for status, reply in op["responses"].items():
                if status.startswith("4"):
                    assert reply["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    search = {p["name"]: p for p in document["paths"]["/api/search"]["get"]["parameters"]}
    assert search["limit"]["schema"] | {} == {"type": "integer", "default": 10, "minimum": 1, "maximum": 100}


def test_api_page_shows_every_operation_with_an_example(api_server, document):
    r = api_server.get("/api")
    assert (r.status_code, r.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    page = lxml.html.fromstring(r.text)
    assert not page.xpath("//script | //style | //*[@style]")
    assert page.xpath("//a[@id='openapi-json']/@href") == ["/api/openapi.json"]
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            section = page.xpath(f"//section[@id='{op['operationId']}']")
            assert section, (method, path)
            assert section[0].xpath("string(.//h3)") == f"{method.upper()} {path}"
            assert section[0].xpath(".//pre/code[starts-with(normalize-space(.), 'curl')]"), (method, path)
            names = set(section[0].xpath(".//td[@data-label='Parameter']/code/text()"))
            assert {p["name"] for p in op.get("parameters", [])} <= names, (method, path)
    home = lxml.html.fromstring(api_server.get("/").text)
    assert home.xpath("//a[@id='api-link']/@href") == ["/api"]


def test_page_examples_work(api_server):
    """Every anonymous GET example on the page, run against the seeded archive, gets a 200 with JSON."""
    page = lxml.html.fromstring(api_server.get("/api").text)
    examples = [" ".join(c.split()) for c in page.xpath("//section//pre/code[starts-with(., 'curl')]/text()")]
    # Those needing a token (crawls) are for token holders; the crawl tests run them with one.
    gets = [e for e in examples if " -X " not in e and "Authorization:" not in e]
    assert len(gets) >= 10
    for line in gets:
        url = re.fullmatch(r"curl '([^']+)'", line)[1]
        assert url.startswith(api_server.url), url
        r = api_server.get(url.removeprefix(api_server.url))
        assert r.status_code == 200, (line, r.text[:300])
        if urlsplit(url).path != "/api":
            json.loads(r.text)
    submit = next(e for e in examples if "-X POST" in e and "/api/captures'" in e)
    body = json.loads(re.search(r"-d '(\{.*\})'", submit)[1])
    r = api_server.post("/api/captures", json=body)
    assert r.status_code == 202, r.text


# Bounded and repeatable: this many generated requests per operation, from a fixed seed.
EXAMPLES_PER_OPERATION = 15
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


def test_api_conforms_to_its_document(api_server, document, subtests):
    """Property-based: whatever the document allows, the API answers without a 5xx and as documented.

    (schemathesis' own pytest plugin reads a node attribute pytest 9 no longer has, so each
    operation runs as a plain Hypothesis test inside a subtest.)
    """
    api = schemathesis.openapi.from_url(api_server.url + "/api/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    # schemathesis leaves out the operation it loaded the document from.
    documented = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    assert {op.label for op in operations} == documented - {"GET /api/openapi.json"}
    for operation in operations:
        with subtests.test(operation=operation.label):
            # The document's own examples (id 1 exists in the seeded archive) and generated cases.
            strategy = st.one_of(*api.get_strategies_from_examples(operation), operation.as_strategy())

            @given(case=strategy)
            @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def conforms(case: schemathesis.Case) -> None:
                case.call_and_validate(checks=CHECKS, timeout=30)

            conforms()


def test_catalog_is_consistent_after_the_run(api_server):
    """What schemathesis stored through the API (jobs, watches) is readable back through the API."""
    db = catalog.connect(api_server.settings.catalog_path)
    try:
        job_ids = [row[0] for row in db.execute("SELECT id FROM jobs ORDER BY id")]
    finally:
        db.close()
    for job_id in job_ids[:50]:
        assert api_server.get(f"/api/jobs/{job_id}").status_code == 200


def test_page_text_is_escaped():
    assert code_spans("`<b>` & <i>x</i>") == "<code>&lt;b&gt;</code> &amp; &lt;i&gt;x&lt;/i&gt;"
