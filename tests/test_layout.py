"""The house's shape, checked from the code's own imports (README, "Where things are").

Three rules: no import cycle between modules; each layer of ``archive/`` imports only from layers
below it (or from itself); no module takes another package's ``_private`` name. Every import
counts, also those inside functions: a deferred import hides a cycle, it does not remove it.
Imports under ``if TYPE_CHECKING:`` are for annotations only and are left out.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("archive", "crawler", "detect", "search")

# The data path, lowest first. A module may import from its own layer and any layer before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("crawler",),
    ("detect", "search"),
    ("archive.settings", "archive.progress", "archive.keys", "archive.urlcheck", "archive.pgcatalog"),
    ("archive.catalog", "archive.catalogcopy"),
    ("archive.warc",),
    ("archive.removals",),
    ("archive.capturing",),
    ("archive.crawls",),
    ("archive.watches",),
    ("archive.orders", "archive.staff", "archive.lookup"),
    ("archive.rebuild",),
    ("archive.replay",),
    ("archive.web",),
    ("archive.cli", "archive.__main__", "archive"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = all_modules()


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST):
    """Every import node, skipping ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                stack.extend(child.orelse)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child
            stack.append(child)


def _resolve(importer: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def edges() -> dict[str, set[str]]:
    """module -> the project modules it imports (a name that is itself a module counts as that module)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _resolve(name, path, node)
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]
            graph[name].update(t for t in targets if t in MODULES and t != name)
    return graph


def private_uses() -> list[str]:
    """``from other_package import _name`` and ``other_module._name`` across top-level subpackages."""
    found = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        home = _area(name)
        module_aliases: dict[str, str] = {}
        for node in _imports(tree):
            if isinstance(node, ast.ImportFrom):
                source = _resolve(name, path, node)
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    if full in MODULES:
                        module_aliases[alias.asname or alias.name] = full
                    elif _private(alias.name) and _area(source) != home:
                        found.append(f"{name} imports {source}.{alias.name}")
            else:
                for alias in node.names:
                    if alias.name in MODULES:
                        module_aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and _private(node.attr)
                    and node.value.id in module_aliases and module_aliases[node.value.id] != name):
                found.append(f"{name} uses {module_aliases[node.value.id]}.{node.attr}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _area(module: str) -> str:
    """The unit privacy is kept within: a module's own package (``archive.warc``, ``search``)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "archive" and len(parts) > 2 else parts[0] if len(parts) > 1 else module


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layout.py and README")
    return best


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    found = cycles(edges())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_layers_only_look_down():
    wrong = [f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
             for a, targets in sorted(edges().items()) for b in sorted(targets) if layer_of(b) > layer_of(a)]
    assert not wrong, "imports that look up:\n" + "\n".join(wrong)


def test_no_private_names_across_packages():
    found = private_uses()
    assert not found, "private names used from another package:\n" + "\n".join(found)


def test_every_module_has_a_layer():
    layers = {module: layer_of(module) for module in MODULES}  # fails naming a module in no layer
    assert layers["crawler.capture"] == 0 and layers["archive.cli"] == len(LAYERS) - 1


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
])
def test_the_cycle_finder_finds_cycles(graph, expected):
    assert cycles(graph) == expected


def test_json_api_modules_import_no_html_view():
    """The JSON API reads through shared non-view modules (removal_queries, search_queries), never
    through an HTML page's module; the error handler's texts live in the web layer, not in a report."""
    graph = edges()
    views = {m for m, p in MODULES.items()
             if m.startswith("archive.web.") and m != "archive.web.errors" and "render_template(" in p.read_text()}
    json_modules = [m for m in MODULES if m in ("archive.web.api", "archive.web.removals_api")]
    assert len(json_modules) == 2, json_modules  # the check must look at both
    assert {m: sorted(graph[m] & views) for m in json_modules if graph[m] & views} == {}
    assert not any(t.startswith("archive.removals") for t in graph["archive.web.errors"])
