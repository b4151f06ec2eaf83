"""No import cycles among the modules of src/mimkit, counting imports inside functions (a cycle
hidden by a function-local import is still a cycle), and the import-linter contracts of the layers
(docs/layout.md) hold."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mimkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, name: str, package: str, modules: set[str]) -> set[str]:
    """The mimkit modules that the module `name` (of `package`) imports anywhere in `source`,
    top level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from a.b import c` imports the module a.b.c where c is one, else a.b
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return {module for module in found if module in modules and module != name}


def graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in files}
    edges = {}
    for path in files:
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges[name] = imports(path.read_text(), name, package, modules)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle [a, b, ..., a] of the directed graph `edges`, or None."""
    state: dict[str, str] = {}  # visiting | done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "visiting"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "visiting":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"y"}, "y": {"y"}}) == ["y", "y"]


def test_imports_are_read_inside_functions_too():
    modules = {"mimkit.a", "mimkit.b", "mimkit.c", "mimkit.d", "mimkit.p", "mimkit.p.q"}
    source = (
        "import os\nimport mimkit.a\nfrom mimkit.p import q\n"
        "def f():\n    from mimkit.b import thing\n    if True:\n        from . import c\n"
        "class K:\n    def g(self):\n        from .d import x\n"
    )
    found = imports(source, "mimkit.z", "mimkit", modules)
    assert found == {"mimkit.a", "mimkit.b", "mimkit.c", "mimkit.d", "mimkit.p.q"}
    edges = graph()
    assert "mimkit.errors" in edges["mimkit.app.schema"]
    assert edges["mimkit.errors"] == set()  # the leaf everybody imports for ConfigError


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.skipif(importlib.util.find_spec("importlinter") is None, reason="import-linter not installed")
def test_import_contracts():
    """The layers and independence contracts of pyproject.toml ([tool.importlinter], docs/layout.md)
    hold for this checkout's src/mimkit (PYTHONPATH first, so not some other installed copy)."""
    root = PACKAGE.parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")])}
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
