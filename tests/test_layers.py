"""The package's imports point one way: no cycles, and no layer imports a layer above it.

Every import counts, those inside functions included (an import moved into a function to dodge a cycle
is still a cycle). A module importing its own parent package (a re-export) is not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "arrhythmia"

#: Layers from the bottom up; a module may import its own layer and those below. The first match wins.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("errors", "files", "device", "settings")),
    ("data", ("data",)),
    ("models", ("models", "scaling", "augment", "losses")),
    (
        "inference",
        ("checkpoint", "pretrained", "inference", "adapt", "episodes", "hourly", "diary", "predict", "export"),
    ),
    ("training", ("config", "distributed", "batches", "runs", "train")),
    ("evaluation", ("evaluation", "ectopic_runs", "scoring")),
    ("reporting", ("figures", "report", "recording_report")),
    (
        "interface",
        ("experiment", "crossval", "comparison", "labelling", "archive", "review", "serve", "cli", "__main__"),
    ),
]


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (names resolved to the deepest existing module)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in filter(None, map(resolve, targets)):
                if target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> int:
    first = module.split(".")[1] if "." in module else ""
    for level, (_, members) in enumerate(LAYERS):
        if first in members:
            return level
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {Path(__file__).name}")


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_point_down_the_layers():
    upward = [
        f"{module} ({LAYERS[layer(module)][0]}) imports {target} ({LAYERS[layer(target)][0]})"
        for module, targets in import_graph().items()
        if module != "arrhythmia"
        for target in sorted(targets)
        if target != "arrhythmia" and layer(target) > layer(module)
    ]
    assert upward == []
