"""The package's import graph is layered: no module, and no subpackage, imports one above it.

Layers, bottom to top; a module may import its own layer's modules and any below:
errors, paths, distributed, platform -> core -> data -> models, text -> evaluation -> retrieval
-> train -> the entry points (main, compare, cli). Function-level imports count too, so a
cycle cannot hide inside a function.
"""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "recall_jax"
LAYERS = [
    {"recall_jax", "recall_jax.errors", "recall_jax.paths", "recall_jax.distributed",
     "recall_jax.platform"},
    {"recall_jax.core"},
    {"recall_jax.data"},
    {"recall_jax.models", "recall_jax.text"},
    {"recall_jax.evaluation"},
    {"recall_jax.retrieval"},
    {"recall_jax.train"},
    {"recall_jax.main", "recall_jax.compare", "recall_jax.cli", "recall_jax.console"},
]


def module_names() -> dict[str, pathlib.Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imported_modules(path: pathlib.Path, known: set[str]) -> set[str]:
    """recall_jax modules `path` imports anywhere in its body (`from a import b`: a.b if it is a
    module, else a)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return {name for name in found if name in known}


def layer_of(module: str) -> int:
    group = ".".join(module.split(".")[:2])
    for index, layer in enumerate(LAYERS):
        if group in layer or module in layer:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def import_graph() -> dict[str, set[str]]:
    names = module_names()
    return {name: imported_modules(path, set(names)) - {name} for name, path in names.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (iterative depth-first search)."""
    state = {}
    for root in graph:
        if root in state:
            continue
        stack = [(root, iter(sorted(graph[root])))]
        path = [root]
        state[root] = "open"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
                path.pop()
            elif state.get(child) == "open":
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = "open"
                stack.append((child, iter(sorted(graph.get(child, ())))))
                path.append(child)
    return None


def test_no_module_imports_a_higher_layer():
    upward = sorted(f"{module} (layer {layer_of(module)}) imports {target} (layer "
                    f"{layer_of(target)})"
                    for module, targets in import_graph().items() for target in targets
                    if layer_of(target) > layer_of(module))
    assert not upward, "\n".join(upward)


def test_module_graph_has_no_cycle():
    assert find_cycle(import_graph()) is None, find_cycle(import_graph())


def test_subpackage_graph_has_no_cycle():
    packages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        group = ".".join(module.split(".")[:2])
        packages.setdefault(group, set()).update(
            ".".join(t.split(".")[:2]) for t in targets)
    for group in packages:
        packages[group].discard(group)
    assert find_cycle(packages) is None, find_cycle(packages)


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) in (["a", "b", "c", "a"], ["b", "c", "a", "b"], ["c", "a", "b", "c"])
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", ["recall_jax.main", "recall_jax.compare"])
def test_importing_an_entry_point_leaves_xla_flags_alone(module):
    """Device splitting happens when an entry point runs, never as an import side effect."""
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    probe = f"import os, {module}; print(repr(os.environ.get('XLA_FLAGS')))"
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                            text=True, cwd=PACKAGE.parent, check=True)
    assert result.stdout.strip() == "None", result.stdout


def torch_imports(path: pathlib.Path) -> list[str]:
    """`import torch...` / `from torch... import` statements anywhere in `path` (line: text)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [f"{path.name}:{node.lineno}: {name}" for name in names
                  if name == "torch" or name.startswith("torch.")]
    return found


def test_no_module_imports_torch():
    """torch is a test-time reference only (scripts/torch_sasrec.py): recall_jax never imports
    it, at module level or inside a function."""
    offending = [hit for path in PACKAGE.rglob("*.py") for hit in torch_imports(path)]
    assert not offending, "\n".join(offending)
    planted = PACKAGE.parent / "scripts" / "torch_sasrec.py"
    assert torch_imports(planted), "the checker finds nothing in a file that imports torch"


@pytest.mark.parametrize("left_out", ["recall_jax.compare", "recall_jax.main"])
def test_importing_every_module_loads_no_torch(left_out):
    """Every module imported (main and compare define the same flags: one per process)."""
    probe = ("import importlib, pkgutil, sys, recall_jax\n"
             "for module in pkgutil.walk_packages(recall_jax.__path__, 'recall_jax.'):\n"
             f"    if module.name != {left_out!r}:\n"
             "        importlib.import_module(module.name)\n"
             "print(sorted(name for name in sys.modules if name.split('.')[0] == 'torch'))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=PACKAGE.parent, check=True)
    assert result.stdout.strip() == "[]", result.stdout
