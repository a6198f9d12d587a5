"""The layout's rules, read from the source (docs/architecture.md says why each holds): layers import
only downwards, module-level imports make no cycle, OCP only under cadlib/occ, no Prefect or
torch in cadlib, modules of at most 400 lines, flow functions of about 50 at most."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {
    "config": set(),
    "cadlib": set(),
    "vlm": {"cadlib"},
    "tasks": {"cadlib", "vlm", "config"},
    "flows": {"cadlib", "vlm", "config", "tasks"},
    "deployments": {"cadlib", "vlm", "config", "tasks", "flows"},
}
"""Each package and the packages below it that it may import."""
FORBIDDEN = {"cadlib": {"prefect", "torch", "transformers", "peft", "fastapi"}, "vlm": {"prefect", "fastapi"},
             "tasks": {"fastapi"}, "flows": {"fastapi"}}
MAX_MODULE_LINES = 400
MAX_FLOW_FUNCTION_LINES = 50


def _modules():
    for pkg in LAYERS:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            yield pkg, name, path, ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.AST, *, top_level: bool):
    nodes = tree.body if top_level else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def test_packages_import_only_the_layers_below():
    wrong = []
    for pkg, name, _, tree in _modules():
        for mod in _imports(tree, top_level=False):
            top = mod.split(".")[0]
            if top in LAYERS and top != pkg and top not in LAYERS[pkg]:
                wrong.append(f"{name} imports {mod}")
            if top in FORBIDDEN.get(pkg, ()):
                wrong.append(f"{name} imports {mod} ({top} does not belong in {pkg}/)")
            if top == "OCP" and not name.startswith("cadlib.occ"):
                wrong.append(f"{name} imports {mod} (OCP only under cadlib/occ)")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_module_level_imports_make_no_cycle():
    mods = {name: tree for _, name, _, tree in _modules()}
    graph = defaultdict(set)
    for name, tree in mods.items():
        for mod in _imports(tree, top_level=True):
            # a package's __init__ importing its own submodules is how a package exports, not a cycle
            if mod in mods and mod != name and not mod.startswith(name + "."):
                graph[name].add(mod)
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]) if nxt in stack else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(mods):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


def test_no_module_over_400_lines():
    long = [f"{name}: {n} lines" for _, name, path, _ in _modules()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not long, "\n".join(long)


def test_flow_functions_read_as_recipes():
    long = []
    for pkg, name, _, tree in _modules():
        if pkg != "flows":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FLOW_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, "\n".join(long)


def test_the_rules_see_the_code():
    """The checks above read every package (a renamed folder would make them pass vacuously)."""
    seen = defaultdict(int)
    for pkg, *_ in _modules():
        seen[pkg] += 1
    assert all(seen[pkg] > 0 for pkg in LAYERS), dict(seen)
    assert seen["cadlib"] > 40 and seen["flows"] >= 5
