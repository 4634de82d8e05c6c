"""The import graph of the product reads like the tree: bench -> flink_rag -> {udfs, sql,
connectors}, never back. Checked on the source (ast), so a lazy import inside a function
counts as much as one at the top of a module."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
# folder of the checkout -> the package it installs as (pyproject's package-dir)
PACKAGES = {
    "flink_rag": "flink_rag",
    "udfs": "flink_rag.udfs",
    "connectors": "flink_rag.connectors",
    "sql": "flink_rag.sql",
}
LOWER = ("flink_rag.udfs", "flink_rag.connectors", "flink_rag.sql")


def _in(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imports(module: str) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, written absolute as flink_rag.*) of every import in `module`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    here = module if _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, alias.name.startswith("flink_rag.")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            absolute = node.level == 0 and target.startswith("flink_rag")
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in MODULES else target), node.lineno, absolute


def graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in imports(m) if t in MODULES and t != m} for m in MODULES}


def test_the_walk_sees_the_product():
    assert "flink_rag.udfs.embed" in MODULES and "flink_rag.jobs.minicluster" in MODULES
    assert "flink_rag.connectors.errors" in graph()["flink_rag.udfs.embed"] or any(
        t.startswith("flink_rag.connectors") for t in graph()["flink_rag.udfs.embed"]
    )


def test_the_product_never_imports_its_harness():
    found = [
        f"{m}:{line} imports {t}"
        for m in MODULES
        for t, line, _ in imports(m)
        if t.split(".")[0] == "flink_rag_bench"
    ]
    # the CLI names the optional commands' modules as strings, never as imports
    assert found == []


def test_jobs_never_import_the_demo():
    found = [
        f"{m}:{line} imports {t}"
        for m in MODULES
        if m.startswith("flink_rag.jobs")
        for t, line, _ in imports(m)
        if t.startswith("flink_rag.airline")
    ]
    assert found == []


def test_udfs_connectors_and_sql_import_relatively_and_never_upwards():
    absolute, upward = [], []
    for m in MODULES:
        if not _in(m, LOWER):
            continue
        for t, line, written_absolute in imports(m):
            if written_absolute:
                absolute.append(f"{m}:{line} from {t}")
            if _in(t, ("flink_rag",)) and not _in(t, LOWER) and t != "flink_rag":
                upward.append(f"{m}:{line} imports {t}")
    assert absolute == []
    assert upward == []


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


# No cycle is known: the embedder factory lives in connectors/embedders.py, apart from the
# `Embedder` contract its providers import. The test asserts equality, so a new cycle shows.
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()


def cycles(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Every cycle, each named by an edge that closes it (found one at a time, then cut)."""
    edges = {m: set(ts) for m, ts in edges.items()}
    found = set()
    while cycle := _cycle(edges):
        closing = min(itertools.pairwise(cycle))
        found.add(closing)
        edges[closing[0]].discard(closing[1])
    return found


def test_no_import_cycles_between_modules_of_the_product():
    # A package's __init__ importing its own modules is how packages work, not a cycle.
    edges = {
        m: {t for t in ts if not (_is_package(m) and t.startswith(m + "."))}
        for m, ts in graph().items()
    }
    assert cycles(edges) == KNOWN_CYCLE_EDGES


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    assert cycles({"a": {"b"}, "b": {"a", "c"}, "c": {"b"}}) == {("a", "b"), ("b", "c")}
