"""The package's layering, read from the source (docs/architecture.md):

* physics/process (``sensor``, ``raw``, ``cfa``, ``noise``, ``diffusion``, with ``errors``,
  ``kinds`` and ``defaults`` below them) imports
  only itself, torch and numpy: never the networks, ``config``, files, or anything above;
* networks (``nets``) import only the physics layer and themselves;
* inference (``inference``) never imports training (``train``);
* the packages of ``src/expodiff`` (each subpackage and each top-level module, the package's
  own ``__init__`` included) form a directed acyclic graph of imports;
* no import cycles between the modules of one package.

Every import counts, also those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "expodiff"

PHYSICS = {"sensor", "raw", "cfa", "noise", "diffusion", "errors", "kinds", "defaults"}
NETWORKS = {"nets"}
# Modules that read or write files, or parse file formats: the orchestration layer's.
FILE_MODULES = {
    "json", "pickle", "tempfile", "shutil", "yaml", "safetensors", "rawpy", "exifread",
    "PIL", "tifffile", "pidng", "importlib", "glob", "io",
}  # fmt: skip
FILE_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "savez",
              "savez_compressed", "load", "save", "iterdir", "glob", "rglob"}  # fmt: skip


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> tuple[set[str], set[str], set[str]]:
    """``(expodiff modules imported, third-party/stdlib top-level modules, called names)``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours, others, calls = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "expodiff":
                ours.update(f"{target}.{a.name}" for a in node.names)
                ours.add(target)
            else:
                others.add(target.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                (ours if alias.name.startswith("expodiff") else others).add(
                    alias.name if alias.name.startswith("expodiff") else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.Call):
            func = node.func
            calls.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return ours, others, calls


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _existing(targets: set[str]) -> set[str]:
    """The imported names that are modules of the package (not names inside one)."""
    return {t for t in targets if t in MODULES}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _top(m) in PHYSICS | NETWORKS))
def test_lower_layers_import_only_downwards(module):
    allowed = PHYSICS | (NETWORKS if _top(module) in NETWORKS else set())
    ours, _, _ = GRAPH[module]
    upward = sorted(t for t in _existing(ours) if _top(t) not in allowed)
    assert upward == [], f"{module} imports {upward}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _top(m) in PHYSICS | NETWORKS))
def test_lower_layers_touch_no_files(module):
    _, others, calls = GRAPH[module]
    assert sorted(others & FILE_MODULES) == [], f"{module} imports file-format modules"
    assert sorted(calls & FILE_CALLS) == [], f"{module} calls file functions"


def test_inference_does_not_import_training():
    assert any(_top(m) == "inference" for m in MODULES)
    offenders = {
        m: sorted(t for t in _existing(GRAPH[m][0]) if _top(t) == "train")
        for m in MODULES
        if _top(m) == "inference"
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_no_import_cycles_inside_a_package():
    edges: dict[str, set[str]] = defaultdict(set)
    for module, (ours, _, _) in GRAPH.items():
        for target in _existing(ours):
            if (
                target != module
                and _top(target) == _top(module)
                and not MODULES[target].name.startswith("__init__")
            ):
                edges[module].add(target)

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    return path + [start]
                if nxt not in path:
                    stack.append((nxt, path + [nxt]))
        return None

    cycles = {m: c for m in MODULES if (c := cycle_from(m))}
    assert cycles == {}


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph ``edges`` (as the list of its nodes, first repeated at
    the end), or None when the graph is acyclic (depth-first search with three colours)."""
    state: dict[str, int] = {}  # absent: unvisited; 1: on the current path; 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def _package(module: str) -> str:
    """The package a module belongs to for the package graph: ``expodiff.io.rawio`` ->
    ``io``, ``expodiff.build`` -> ``build``, the package's own ``__init__`` -> ``expodiff``."""
    return _top(module) or "expodiff"


def package_edges() -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    """The package-level import graph and, for each edge, the module imports that make it."""
    edges: dict[str, set[str]] = defaultdict(set)
    witnesses: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, (ours, _, _) in GRAPH.items():
        for target in _existing(ours):
            a, b = _package(module), _package(target)
            if a != b:
                edges[a].add(b)
                witnesses[(a, b)].append(f"{module} -> {target}")
    return edges, witnesses


def test_packages_form_a_directed_acyclic_graph():
    edges, witnesses = package_edges()
    cycle = _find_cycle(edges)
    detail = [witnesses[(a, b)][0] for a, b in zip(cycle, cycle[1:], strict=False)] if cycle else []
    assert cycle is None, f"package import cycle {' -> '.join(cycle or [])}: {detail}"


def test_the_cycle_check_sees_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_check_sees_a_violation(tmp_path):
    """The parser finds an upward import inside a function (the check can fail)."""
    bad = tmp_path / "expodiff" / "noise" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from ..config import NoiseConfig\n    open('x')\n")
    global SRC
    saved, SRC = SRC, tmp_path / "expodiff"
    try:
        ours, _, calls = _imports(bad)
    finally:
        SRC = saved
    assert "expodiff.config" in ours and "open" in calls


ROOT = SRC.parents[1]
TOOLS = sorted([*ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/**/*.py")])


@pytest.mark.parametrize("tool", TOOLS, ids=lambda p: str(p.relative_to(ROOT)))
def test_scripts_and_benchmarks_import_what_exists(tool):
    """The repository's scripts import only names the package still has (a restructuring
    that moves a module must update them)."""
    import importlib
    import importlib.util

    tree = ast.parse(tool.read_text(encoding="utf-8"))
    missing = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("expodiff"):
            module = importlib.import_module(node.module)
            missing += [
                f"{node.module}.{a.name}"
                for a in node.names
                if not hasattr(module, a.name)
                and importlib.util.find_spec(f"{node.module}.{a.name}") is None
            ]
    assert missing == []
