"""The API page (``/api``): the OpenAPI document laid out for people, with an example per route.

Examples come from the document itself: each schema's ``example`` values, else a placeholder
of the right type, so the page cannot drift from what the API declares.
"""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape

METHOD_ORDER = {"get": 0, "post": 1, "put": 2, "patch": 3, "delete": 4}
PLACEHOLDER = {"string": "…", "integer": 1, "number": 1.0, "boolean": True}
MAX_DEPTH = 6  # nested captures of captures: enough for every reply, bounded for any schema


def code_spans(text: str) -> Markup:
    """Docstring text for the page: escaped, with Markdown `code` spans as <code>."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with a top-level ``$ref`` followed into ``components``."""
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def example(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A value that fits ``schema``: its example, its first allowed value, or a placeholder."""
    schema = resolve(spec, schema)
    if "example" in schema:
        return schema["example"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if depth > MAX_DEPTH:
        return None
    if kind == "object" or "properties" in schema:
        return {name: example(spec, sub, depth + 1) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(spec, schema.get("items", {}), depth + 1)]
    if kind == "integer" and "minimum" in schema:
        return max(schema["minimum"], 1)
    return PLACEHOLDER.get(kind, "…")


def _type_text(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    schema = resolve(spec, schema)
    text = schema.get("type", "any")
    if schema.get("format"):
        text += f" ({schema['format']})"
    limits = []
    if "enum" in schema:
        limits.append("one of " + ", ".join(str(v) for v in schema["enum"] if v is not None))
    if "minimum" in schema or "maximum" in schema:
        limits.append(f"{schema.get('minimum', '')}–{schema.get('maximum', '')}")
    if "maxLength" in schema:
        limits.append(f"at most {schema['maxLength']} characters")
    if "pattern" in schema:
        limits.append(f"matching {schema['pattern']}")
    if "default" in schema and schema["default"] is not None:
        limits.append(f"default {json.dumps(schema['default'], ensure_ascii=False)}")
    return text + (f"; {'; '.join(limits)}" if limits else "")


def _parameters(spec: dict[str, Any], op: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for p in op.get("parameters", []):
        rows.append({"name": p["name"], "in": p["in"], "required": p.get("required", False),
                     "type": _type_text(spec, p.get("schema", {})),
                     "description": p.get("description") or p.get("schema", {}).get("description", "")})
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        schema = resolve(spec, body["schema"])
        required = set(schema.get("required", []))
        for name, sub in schema.get("properties", {}).items():
            rows.append({"name": name, "in": "body", "required": name in required, "type": _type_text(spec, sub),
                         "description": resolve(spec, sub).get("description", "")})
    return rows


def _example_request(spec: dict[str, Any], method: str, path: str, op: dict[str, Any], base_url: str) -> str:
    params = op.get("parameters", [])
    for p in params:
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", str(p.get("example", 1)))
    query = {p["name"]: p.get("example", p.get("schema", {}).get("example")) for p in params if p["in"] == "query"}
    query = {k: v for k, v in query.items() if v is not None}
    url = base_url + path + (f"?{urlencode(query)}" if query else "")
    parts = ["curl"]
    if method != "get":
        parts.append(f"-X {method.upper()}")
    if any("bearerAuth" in s for s in op.get("security", [])):
        parts.append("-H 'Authorization: Bearer <token>'")
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        # What a caller must send, and the options the document gives an example of.
        schema = resolve(spec, body["schema"])
        required = set(schema.get("required", []))
        data = {name: example(spec, sub) for name, sub in schema.get("properties", {}).items()
                if name in required or "example" in resolve(spec, sub)}
        parts.append("-H 'Content-Type: application/json'")
        parts.append(f"-d '{json.dumps(data, ensure_ascii=False)}'")
    parts.append(f"'{url}'")
    return " ".join(parts)


def _responses(spec: dict[str, Any], op: dict[str, Any]) -> tuple[list[dict[str, str]], str | None]:
    rows, shown = [], None
    for status, response in op.get("responses", {}).items():
        rows.append({"status": status, "description": response.get("description", "")})
        content = response.get("content", {}).get("application/json")
        if shown is None and status.startswith("2") and content and "$ref" in content["schema"]:
            shown = json.dumps(example(spec, content["schema"]), ensure_ascii=False, indent=2)
    return rows, shown


def operations_for_page(spec: dict[str, Any], base_url: str = "") -> list[tuple[str, list[dict[str, Any]]]]:
    """The document's operations grouped by tag, each with parameters, replies and an example."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, methods in spec.get("paths", {}).items():
        for method, op in sorted(methods.items(), key=lambda m: METHOD_ORDER.get(m[0], 9)):
            responses, reply = _responses(spec, op)
            security = [name for s in op.get("security", []) for name in s]
            groups.setdefault((op.get("tags") or ["Other"])[0], []).append({
                "id": op["operationId"], "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "parameters": _parameters(spec, op),
                "request": _example_request(spec, method, path, op, base_url), "responses": responses,
                "reply": reply, "security": security, "anonymous": {} in op.get("security", [{}])})
    return list(groups.items())
