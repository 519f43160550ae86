"""The import graph of edge_rep and firmware_bridge has no cycle.

Every ``import`` statement counts, function-level ones included (a lazy import still ties two modules
together, and running both directions is how a partially initialised module gets used). An edge goes
to the most specific module named: ``from .base import Backend`` -> ``edge_rep.backends.base``,
``from . import commands`` -> ``edge_rep.commands``. Implicit parent-package imports are not edges
(a package's ``__init__`` importing its own submodules is the normal pattern).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("edge_rep", "firmware_bridge")


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of ``PACKAGES``."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in ``importer``."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ``PACKAGES`` it imports anywhere in its source."""
    files = module_files()
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module)
                # "from pkg import sub" imports the submodule pkg.sub when there is one
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                while target and target not in files:   # "import a.b.c" of a non-module: nearest module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None when the graph is acyclic."""
    state: dict[str, int] = {}        # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_graph_sees_the_modules_and_their_imports():
    graph = import_graph()
    assert "edge_rep.stream.daemon" in graph and "firmware_bridge.codec" in graph
    # module-level, relative and package-relative imports all count
    assert "edge_rep.errors" in graph["edge_rep.backends.onnxrt"]
    assert "edge_rep.commands" in graph["edge_rep.cli"]
    # function-level imports count too (the commands import their work inside run())
    assert "edge_rep.stream.daemon" in graph["edge_rep.commands.stream"]


def test_find_cycle_reports_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
