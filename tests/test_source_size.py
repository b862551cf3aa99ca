"""The shape of the source: modules of src/ and benchmarks/ under 400 lines, functions under
80, and comments that explain the code as it is (no issue numbers: those belong in commits)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "src" / "expodiff").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")])
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
ISSUE_NUMBER = re.compile(r"\bissues? ?#?\d", re.IGNORECASE)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """``(name, lines)`` of every function (methods and nested ones too) longer than
    ``limit`` lines, its decorators, signature and docstring included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = node.end_lineno - start + 1
            if lines > limit:
                found.append((node.name, lines))
    return found


def test_the_sources_are_found():
    assert len(SOURCES) > 100


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_modules_and_functions_are_short(path):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    assert long_functions(source) == []


@pytest.mark.parametrize("path", [p for p in SOURCES if "src" in p.parts], ids=_name)
def test_no_issue_numbers_in_the_package(path):
    hits = [
        f"{i}: {line.strip()}"
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ISSUE_NUMBER.search(line)
    ]
    assert hits == []


def test_the_checks_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def f():\n{body}\n") == [("f", MAX_FUNCTION_LINES + 1)]
    nested = "\n".join("    " + line for line in body.splitlines())
    assert long_functions(f"class A:\n    def g(self):\n{nested}\n") == [("g", 81)]
    assert ISSUE_NUMBER.search("# the overlap (issue 12) differed")
    assert not ISSUE_NUMBER.search("# see the tissue 3 layers")
