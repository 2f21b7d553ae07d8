"""The house's one-way import rule, read from the source: no module imports a layer above
its own, the stages never import each other, and no import cycle exists.

Layers, bottom to top (README, "Architecture"):
    0 core        edgenn.core
    1 stages      edgenn.exporters, edgenn.quantize, edgenn.targets (each only itself+core)
    1 frontend    edgenn.frontend (data, training, zoo)
    1 devices     edgenn.devices (boards over SSH, the runner shipped to them)
    2 run         edgenn.run
    3 report      edgenn.report
    3 sweep       edgenn.sweep (searches over runs; run never imports it)
    4 api         edgenn.api (the Python API)
    5 cli         edgenn.cli (the command line)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"edgenn": "edgenn", "exporters": "edgenn.exporters", "quantize": "edgenn.quantize",
           "targets": "edgenn.targets"}
LAYERS = [("edgenn.core", 0), ("edgenn.exporters", 1), ("edgenn.quantize", 1),
          ("edgenn.targets", 1), ("edgenn.frontend", 1), ("edgenn.devices", 1),
          ("edgenn.run", 2),
          ("edgenn.report", 3), ("edgenn.sweep", 3), ("edgenn.api", 4), ("edgenn.cli", 5)]
STAGES = ("edgenn.exporters", "edgenn.quantize", "edgenn.targets")


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def layer_of(module: str) -> tuple[str, int] | None:
    for prefix, level in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, level
    return None


def imports_of(module: str, path: Path) -> set[str]:
    """Project modules `module` imports anywhere in its file (functions included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


GRAPH = {module: imports_of(module, path) for module, path in MODULES.items()}


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "edgenn" and layer_of(m) is None] == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "edgenn"))
def test_imports_go_down_only(module):
    own_prefix, own_level = layer_of(module)
    upward = []
    for target in GRAPH[module]:
        if target == "edgenn":
            continue
        prefix, level = layer_of(target)
        if level > own_level or (level == own_level and prefix != own_prefix):
            upward.append(target)
    assert upward == [], f"{module} imports above or beside its layer: {upward}"


@pytest.mark.parametrize("stage", STAGES)
def test_stages_import_only_core(stage):
    bad = {m: sorted(t for t in GRAPH[m] if not (t.startswith(stage) or
                                                 t.startswith("edgenn.core")))
           for m in GRAPH if m.startswith(stage)}
    assert {m: t for m, t in bad.items() if t} == {}


def test_no_import_cycles():
    """Tarjan's strongly connected components; a package __init__ that only hands its
    children's names on is not a cycle."""
    def edges(module: str) -> set[str]:
        return {t for t in GRAPH[module]
                if not (MODULES[module].name == "__init__.py" and t.startswith(module + "."))}

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges(node):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_check_can_fail(tmp_path):
    """The reader sees imports inside functions, the way an upward import hides."""
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from edgenn.cli.program import main\n")
    assert "edgenn.cli.program" in imports_of("edgenn.core.probe", path)
