"""Which engine trains a cell, and training cells into the store.

A config that can be an ensemble member (``ensemble.ensemble_problem``) always trains on the
ensemble engine, with others like it (``ensemble_training.run_ensemble``) or alone as an
ensemble of one: an ensemble member equals the same cell trained alone, bit for bit, whatever
the ensemble. The engine is part of a run's inputs (``train.run_inputs``): at small widths and
batches the ensemble's batched products round otherwise than ``F.linear``'s matrix-vector
kernels of the single engine (``train.run_training``, the reference path of every other
config), so one run id never holds two results.
"""

from __future__ import annotations

from pathlib import Path

from bridge.core.store import Stopwatch, Store
from bridge.fitting.rules import Rule
from bridge.learning.ensemble import engine_of
from bridge.learning.ensemble_training import run_ensemble
from bridge.learning.train import TrainConfig, load_train_rule, run_path, run_training, write_training


def run_cells(configs: list[TrainConfig], rule: Rule | None, progress: bool = True) -> list[dict]:
    """The histories of ``configs``: one ensemble, or one single run (a config of the single engine)."""
    if engine_of(configs[0], rule) == "ensemble":
        return run_ensemble(configs, rule, progress)
    if len(configs) != 1:
        raise ValueError(f"{configs[0].norm!r} cells train one at a time")
    return [run_training(configs[0], rule, progress)]


def train_cells(configs: list[TrainConfig], store: Store, progress: bool = True, rerun: bool = False) -> list[Path]:
    """Train ``configs`` (one ensemble, or one single cell) and write each run to ``store``; the
    cells already complete there are returned untouched (all retrained: ``rerun``)."""
    rule = load_train_rule(configs[0], store)
    paths = [None if rerun else store.find_run(*run_path(c, rule)) for c in configs]
    todo = [i for i, path in enumerate(paths) if path is None]
    if todo:
        clock = Stopwatch()
        for i, history in zip(todo, run_cells([configs[i] for i in todo], rule, progress)):
            paths[i] = write_training(configs[i], rule, history, store, clock)
    return paths


def train(config: TrainConfig, store: Store, progress: bool = True, rerun: bool = False) -> Path:
    """Train one cell and write it to ``store`` (an existing complete run is returned unless ``rerun``)."""
    return train_cells([config], store, progress, rerun)[0]
