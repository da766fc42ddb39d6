"""The package's layering holds: no import cycle, no upward import, no private name across packages.

Each top-level part of ``fastgnn`` has a rank; a module may import only from
parts of lower rank or from its own part. Imports inside functions count too:
a lazy import that dodges a cycle is still a cycle of the design.
"""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "src" / "fastgnn"

# Lower ranks are lower layers. Parts of equal rank may not import each other.
RANKS = {
    "_kernels": 0,
    "_runtime": 1,
    "graph": 2,
    "ops": 3,
    "interop": 4, "testing": 4, "nn": 4, "losses": 4, "data": 4, "bench": 4, "plotting": 4,
    "metrics": 5, "optim": 5, "datasets": 5,
    "models": 6,
    "train": 7,
    "distributed": 8,
    "cli": 9,
    "__main__": 10,
}


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


MODULES = _modules()


def _resolve(importer, node):
    """The fastgnn modules (and imported names) an import statement refers to."""
    found = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith("fastgnn"):
                found.append((alias.name, None))
        return found
    if node.level:
        base = importer.split(".")
        is_package = MODULES[importer].name == "__init__.py"
        base = base[:len(base) - node.level + (1 if is_package else 0)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if not module.startswith("fastgnn"):
        return found
    for alias in node.names:
        candidate = f"{module}.{alias.name}"
        found.append((candidate, None) if candidate in MODULES else (module, alias.name))
    return found


def _imports():
    edges = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target, imported_name in _resolve(name, node):
                    edges.append((name, target, imported_name, node.lineno))
    return edges


EDGES = _imports()


def _part(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_part_has_a_rank():
    parts = {_part(name) for name in MODULES} - {None}
    assert parts <= set(RANKS), f"parts without a rank in this test: {sorted(parts - set(RANKS))}"


def test_no_upward_or_sideways_import():
    violations = []
    for importer, target, _, line in EDGES:
        source, destination = _part(importer), _part(target)
        if source is None or destination is None or source == destination:
            continue  # the top-level package may re-export anything; a part may use itself
        if RANKS[destination] >= RANKS[source]:
            violations.append(f"{importer}:{line} imports {target} ({destination} is not below {source})")
    assert not violations, "\n".join(violations)


def test_no_private_name_crosses_a_part():
    violations = []
    for importer, target, imported_name, line in EDGES:
        source, destination = _part(importer), _part(target)
        if source == destination or destination in ("_kernels", "_runtime") or source is None:
            continue  # private parts are the runtime's own namespace
        private_module = any(piece.startswith("_") and piece != "__init__" for piece in target.split(".")[1:])
        if (imported_name or "").startswith("_") or private_module:
            violations.append(f"{importer}:{line} imports private {target}{'.' + imported_name if imported_name else ''}")
    assert not violations, "\n".join(violations)


def test_no_import_cycle():
    graph = {}
    for importer, target, _, _ in EDGES:
        if target in MODULES and target != importer:
            graph.setdefault(importer, set()).add(target)
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    # A package's __init__ importing its own submodules, which import nothing back, is no cycle.
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize("module", ["fastgnn.testing.conformance", "fastgnn.graph", "fastgnn.ops",
                                    "fastgnn.train", "fastgnn.cli", "fastgnn.nn.conv.registry"])
def test_documented_modules_import(module):
    import importlib

    importlib.import_module(module)
