"""The package's shape, checked from its source: pure algorithms, dependencies that point down, no cycles.

- Algorithms decide from data: no module they reach (inside hpopt) imports ``os`` or another module
  that touches files, calls ``open``, or imports the state store, the controller, the trainer side or an
  adapter.
- The core never imports an adapter (adapters import the core), and the trainer side names no adapter.
- No import cycles between hpopt's modules (module-level imports).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "hpopt"
FILE_MODULES = {"os", "io", "pathlib", "shutil", "tempfile", "fcntl", "filelock", "glob", "sqlite3", "pickle"}
NOT_FOR_ALGORITHMS = ("hpopt.state", "hpopt.run", "hpopt.trainer", "hpopt.adapters", "hpopt.views", "hpopt.api",
                      "hpopt.cli", "hpopt.experiment")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def imports(name: str, top_level_only: bool = False) -> set[str]:
    """Absolute names a module imports (relative imports resolved; ``from x import y`` gives x and x.y)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{alias.name}" for alias in node.names)
    return out


def hpopt_imports(name: str, top_level_only: bool = False) -> set[str]:
    return {m for m in imports(name, top_level_only) if m in MODULES and m != name}


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        todo.extend(hpopt_imports(mod))
    return seen


ALGORITHM_MODULES = sorted(m for m in MODULES if m.startswith("hpopt.algorithms"))


def test_the_algorithms_package_is_there():
    assert {"hpopt.algorithms.random_search", "hpopt.algorithms.gp_ucb", "hpopt.algorithms.stoppers",
            "hpopt.algorithms.asha", "hpopt.algorithms.algorithm"} <= set(ALGORITHM_MODULES)


@pytest.mark.parametrize("name", ALGORITHM_MODULES)
def test_algorithms_touch_no_files(name):
    for mod in sorted(reachable(name)):
        if mod == "hpopt":
            continue
        assert not any(n.startswith(NOT_FOR_ALGORITHMS) for n in [mod]), f"{name} reaches {mod}"
        found = imports(mod)
        assert not {m.split(".")[0] for m in found} & FILE_MODULES, f"{mod} (reached from {name}) imports " \
            f"{sorted({m.split('.')[0] for m in found} & FILE_MODULES)}"
        calls = [n for n in ast.walk(ast.parse(MODULES[mod].read_text()))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "open"]
        assert not calls, f"{mod} (reached from {name}) calls open() on line {calls[0].lineno}"


def test_the_check_would_catch_a_file_touching_algorithm(tmp_path):
    """The purity check is not vacuous: it flags os, open() and the store in a module's source."""
    bad = ast.parse("import os\nfrom ..state import FileStore\nopen('x')\n")
    names = {a.name for n in ast.walk(bad) if isinstance(n, ast.Import) for a in n.names}
    assert names & FILE_MODULES
    assert any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "open" for n in ast.walk(bad))
    assert any(isinstance(n, ast.ImportFrom) and n.module == "state" and n.level == 2 for n in ast.walk(bad))


def test_the_core_imports_no_adapter():
    for name in MODULES:
        if name.startswith(("hpopt.adapters", "hpopt.cli")):
            continue
        bad = {m for m in imports(name) if m.startswith("hpopt.adapters")}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_no_import_cycles():
    graph = {name: hpopt_imports(name, top_level_only=True) for name in MODULES}
    # A package's __init__ importing its own modules is how packages expose names, not a cycle.
    for name, deps in graph.items():
        graph[name] = {d for d in deps if not (d.startswith(name + ".") and MODULES[name].name == "__init__.py")}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            dep_pkg_init = dep
            if state.get(dep_pkg_init) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, node, dep]))
            if dep_pkg_init not in state:
                visit(dep_pkg_init, [*path, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
