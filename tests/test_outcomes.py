"""The outcome vocabulary is declared once (detect/outcomes.py), and so are the proxy's failure kinds
(crawler/failures.py); every reader takes them from there, so no two copies can disagree."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from crawler.failures import FAILURE_KINDS, SITE_FAILURES, UNREACHABLE_KINDS
from detect.outcomes import LABELS, OUTCOME_LABELS, OUTCOMES, REMOVAL_OUTCOMES

from .conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("archive", "crawler", "detect", "search")


def parsed(relative: str) -> ast.AST:
    return ast.parse((ROOT / relative).read_text(encoding="utf-8"))


def classifier_returns() -> set[str]:
    """Every label detect/classify.py can return: the first argument of each ``Outcome(...)`` it builds."""
    return {node.args[0].value for node in ast.walk(parsed("detect/classify.py"))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Outcome"
            and node.args and isinstance(node.args[0], ast.Constant)}


def test_every_outcome_the_classifier_returns_is_declared_with_its_flags():
    returned = classifier_returns()
    assert len(returned) >= 9, returned  # the scan found the classifier's returns
    assert returned == set(LABELS)  # and nothing declared is never returned
    for outcome in OUTCOMES:
        assert outcome.label.strip() and outcome.meaning.strip(), outcome
        assert isinstance(outcome.removal, bool) and isinstance(outcome.site_failure, bool), outcome
    assert len(LABELS) == len(set(LABELS))
    assert REMOVAL_OUTCOMES == set(LABELS) - {"ok", "error"}
    assert [o.name for o in OUTCOMES if o.site_failure] == ["unreachable"]


def literal_strings(node: ast.AST) -> list[str] | None:
    """The strings of a tuple, list, set or dict literal made only of strings (dict: its keys)."""
    items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
    if not isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict) or not items:
        return None
    if not all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items):
        return None
    return [i.value for i in items]


def test_no_module_keeps_its_own_list_of_outcomes_or_failure_kinds():
    kinds = {k.name for k in FAILURE_KINDS} | set(UNREACHABLE_KINDS)
    copies = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            if relative in ("detect/outcomes.py", "crawler/failures.py"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                strings = literal_strings(node)
                if not strings or len(strings) < 3:
                    continue
                if set(strings) <= set(LABELS) or set(strings) <= kinds:
                    copies.append((relative, node.lineno, strings))
    assert copies == []


def test_the_schemas_and_the_openapi_enum_are_the_vocabulary(web_settings):
    from marshmallow import validate

    from archive.web import api_schemas, create_app
    from archive.web.removal_queries import RemovalArgs
    from archive.web.schemas import SearchArgs

    def choices(schema_field) -> set[str]:
        return {c for v in schema_field.validators if isinstance(v, validate.OneOf) for c in v.choices}

    assert choices(SearchArgs().fields["outcome"]) == set(LABELS)
    assert choices(RemovalArgs().fields["outcome"]) == set(LABELS)
    assert api_schemas.OUTCOMES == sorted(LABELS)
    spec = create_app(web_settings).test_client().get("/api/openapi.json").get_json()
    enums = [node["enum"] for node in walk_json(spec) if isinstance(node, dict) and "enum" in node
             and "not_found" in node["enum"]]
    assert enums and all(set(e) - {None} == set(LABELS) for e in enums), enums  # None: not classified


def walk_json(node):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from walk_json(child)


def test_labels_shown_to_people_are_the_declared_ones_and_translated(web_settings):
    from archive.web import create_app
    from archive.web.removals import outcome_label

    app = create_app(web_settings)
    with app.test_request_context("/"):
        assert {name: outcome_label(name) for name in LABELS} == OUTCOME_LABELS
    with app.test_request_context("/", headers={"Accept-Language": "ru"}):
        russian = {name: outcome_label(name) for name in LABELS}
    assert all(russian[name] != OUTCOME_LABELS[name] for name in LABELS), russian


def proxy_kinds_raised() -> set[str]:
    """Every failure kind the crawler raises or records: ProxyError("kind", ...) and {"kind": "..."}."""
    found = set()
    for path in sorted((ROOT / "crawler").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ProxyError" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (isinstance(key, ast.Constant) and key.value == "kind" and isinstance(value, ast.Constant)
                            and isinstance(value.value, str)):
                        found.add(value.value)
    return found


def test_every_failure_kind_is_declared_and_the_crawler_and_classifier_agree():
    from crawler.capture import CaptureFailed
    from detect.classify import failure_kind

    raised = proxy_kinds_raised()
    assert {"dns", "protocol", "blocked", "vantage"} <= raised, raised  # the scan found them
    assert raised <= {k.name for k in FAILURE_KINDS}
    for kind in FAILURE_KINDS:
        unreachable = CaptureFailed("x", failure={"kind": kind.name}).site_unreachable
        assert unreachable == (kind.site_kind is not None), kind
        if unreachable:
            assert failure_kind(kind.name) == kind.site_kind in UNREACHABLE_KINDS
        else:
            with pytest.raises(ValueError, match=f"failure kind '{kind.name}' does not say the site is unreachable"):
                failure_kind(kind.name)
    assert SITE_FAILURES["protocol"] == "reset"  # the copy in crawler/capture.py used to leave it out


def test_a_reply_that_is_not_readable_http_is_kept_as_an_unreachable_capture(env, site):
    def garbage(handler):
        # A header block bigger than the proxy reads: the proxy's "protocol" failure.
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Filler: " + b"a" * 70_000 + b"\r\n\r\n<html>hi</html>")

    site.routes["/garbage.html"] = garbage
    proc = run_cli(env, "capture", "http://news.example.com/garbage.html", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["outcome"], out["evidence"]["kind"], out["status"]) == ("unreachable", "reset", None)
    assert "header block too large" in out["evidence"]["error"]
