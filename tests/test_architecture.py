"""The layout's rules, read from the source (docs/architecture.md says why each holds): layers import
only downwards, module-level imports make no cycle, OCP only under cadlib/occ, no Prefect or
torch in cadlib, modules of at most 400 lines, flow functions of about 50 at most, public functions
that hand results on by a named type (no bare dict), one definition of each vocabulary."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {
    "cadlib": set(),
    "config": {"cadlib"},
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


TYPED_RETURNS = ("cadlib", "vlm", "tasks", "flows")
"""The packages whose public functions hand results across a module boundary as named types."""
_UNTYPED_VALUES = {"Any", "object", "dict"}


def _bare_dicts(node: ast.expr | None) -> list[str]:
    """The parts of a return annotation that are a dict whose shape has no name: `dict`, `Dict`,
    `dict[str, Any]`, `dict[str, dict]`, `list[dict]`... (`dict[str, ModelRecord]` and a TypedDict
    name are typed)."""
    found = []
    for sub in ast.walk(node) if node is not None else ():
        if isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name) and sub.value.id in ("dict", "Dict"):
            parts = sub.slice.elts if isinstance(sub.slice, ast.Tuple) else [sub.slice]
            if isinstance(parts[-1], ast.Name) and parts[-1].id in _UNTYPED_VALUES:
                found.append(ast.unparse(sub))
    bare_names = {id(s.value) for s in ast.walk(node) if isinstance(s, ast.Subscript)} if node is not None else set()
    for sub in ast.walk(node) if node is not None else ():
        if isinstance(sub, ast.Name) and sub.id in ("dict", "Dict") and id(sub) not in bare_names:
            found.append("dict")
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "dict" in sub.value:
            found += _bare_dicts(ast.parse(sub.value, mode="eval").body)
    return found[:1]


def _public_functions(tree: ast.Module):
    """Module-level functions and methods of module-level classes not named with a leading `_`."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item


def test_public_functions_return_named_types_not_bare_dicts():
    """A report, a summary or a record handed to another module has a type that names its keys
    (a dataclass, or a TypedDict where the value is a JSON document on disk or in Prefect's store)."""
    bare = []
    for pkg, name, path, tree in _modules():
        if pkg not in TYPED_RETURNS:
            continue
        for fname, fn in _public_functions(tree):
            for part in _bare_dicts(fn.returns):
                bare.append(f"{path.relative_to(ROOT)}:{fn.lineno} {name}.{fname} returns {part}")
            if fn.returns is None and any(isinstance(n, ast.Return) and isinstance(n.value, (ast.Dict, ast.DictComp))
                                          for n in ast.walk(fn)):
                bare.append(f"{path.relative_to(ROOT)}:{fn.lineno} {name}.{fname} returns a dict and names no type")
    assert not bare, f"{len(bare)} public function(s) return an unnamed dict:\n" + "\n".join(bare)


def test_the_typed_returns_rule_catches_every_spelling():
    spelled = {"dict": 1, "dict[str, Any]": 1, "list[dict]": 1, "dict | None": 1, "tuple[list[str], dict]": 1,
               "dict[str, dict]": 1, "'dict'": 1, "dict[str, int]": 0, "dict[str, ModelRecord]": 0, "Report": 0,
               "list[Failure] | None": 0, "dict[str, list[Sample]]": 0}
    for text, wanted in spelled.items():
        assert bool(_bare_dicts(ast.parse(text, mode="eval").body)) == bool(wanted), text


VOCABULARY_PACKAGES = ("cadlib", "vlm", "tasks", "flows", "deployments", "config")


def _strings(node: ast.AST) -> frozenset[str]:
    """The string constants of a Literal's or a tuple's elements (empty when any is not one)."""
    elts = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    if all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elts):
        return frozenset(e.value for e in elts)
    return frozenset()


def _vocabularies():
    """(where, kind, values) of every Enum class, string Literal and tuple of strings given as
    `choices` or tested with `in` in the packages."""
    for _, name, path, tree in _modules():
        if name.split(".")[0] not in VOCABULARY_PACKAGES:
            continue
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ClassDef) and any("Enum" in ast.unparse(b) for b in node.bases):
                values = frozenset(s.value.value for s in node.body if isinstance(s, ast.Assign)
                                   and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str))
                yield where, f"enum {node.name}", values
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "Literal":
                yield where, "Literal", _strings(node.slice)
            elif isinstance(node, ast.keyword) and node.arg == "choices":
                yield where, "choices", _strings(node.value)
            elif isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
                yield where, "membership test", _strings(node.comparators[0])


def test_each_vocabulary_is_defined_once():
    """An Enum's words are not spelled again (as a Literal, a `choices` tuple, an `in (...)` test or
    another Enum), and no two Literals or tuples spell the same set of words: one definition each,
    which the others import (`cadlib.vocabulary` for the words several layers share)."""
    found = [(w, k, v) for w, k, v in _vocabularies() if len(v) >= 2]
    enums = [(w, k, v) for w, k, v in found if k.startswith("enum")]
    twice = []
    for where, kind, values in found:
        for e_where, e_kind, e_values in enums:
            if (where, kind) != (e_where, e_kind) and len(values & e_values) >= 2:
                twice.append(f"{where} {kind} {sorted(values)} spells {e_kind} ({e_where}) again")
    spelled: dict[frozenset[str], list[str]] = defaultdict(list)
    for where, kind, values in found:
        if not kind.startswith("enum"):
            spelled[values].append(f"{where} {kind}")
    twice += [f"{sorted(v)} is spelled in {len(w)} places: {', '.join(w)}" for v, w in spelled.items() if len(w) > 1]
    assert not twice, "\n".join(twice)
