"""The package's structure (issue 9): one-way layers, no import cycle, no hidden imports.

import-linter checks the layer contracts of pyproject.toml (also run by ``make test``); these
tests check the whole module graph for cycles and the source for function-local imports of our
own modules, which would hide a cycle from both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import numpy as np
from importlinter.api import read_configuration
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bridge", "models", "sims")


def test_the_module_graph_has_no_cycle():
    graph = grimp.build_graph(*PACKAGES)
    modules = sorted(graph.modules)
    index = {name: i for i, name in enumerate(modules)}
    edges = [(index[m], index[i]) for m in modules for i in graph.find_modules_directly_imported_by(m)]
    rows, cols = zip(*edges)
    matrix = csr_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(modules), len(modules)))
    _, labels = connected_components(matrix, directed=True, connection="strong")
    cycles = [[modules[i] for i in np.flatnonzero(labels == label)]
              for label in np.unique(labels) if (labels == label).sum() > 1]
    assert cycles == []


def test_nothing_imports_our_own_modules_inside_a_function():
    # but the command line, the top layer: each command imports its layers when it runs, so that
    # --help starts at once and a training command starts its workers' fork server first
    # (import-linter still sees those imports and checks them against the contracts)
    hidden = []
    for path in sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if p.name != "cli.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    names = ([a.name for a in inner.names] if isinstance(inner, ast.Import)
                             else [inner.module or ""] if isinstance(inner, ast.ImportFrom) else [])
                    hidden += [f"{path.relative_to(ROOT)}:{inner.lineno} {n}" for n in names
                               if n.split(".")[0] in PACKAGES]
    assert hidden == []


def test_the_layers_contract_names_every_top_folder_of_bridge():
    (contract, *_) = read_configuration(str(ROOT / "pyproject.toml"))["contracts_options"]
    layers = set(contract["layers"])
    folders = {f"bridge.{p.name}" for p in (ROOT / "bridge").iterdir() if (p / "__init__.py").exists()}
    assert folders <= layers and {"bridge.cli", "models", "sims"} <= layers
