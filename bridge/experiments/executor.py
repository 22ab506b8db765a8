"""The parallel executor of training grids, shared by ``compare`` and ``study``.

Each planned cell is a :class:`TrainConfig` (or, for a cell that cannot be trained, the reason
why). Cells already complete in the store on today's inputs are reused; the rest go to
``workers`` spawned processes, each with its share of the CPU threads and the store passed by
its root (fitted rules load from it). Ctrl-C cancels the queued cells; finished ones stay in
the store, so a rerun finishes the rest.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import torch

from bridge.core.errors import UserError
from bridge.core.progress import progress_bar
from bridge.core.store import Store
from bridge.learning.train import TrainConfig, existing_run, train


def _train_in_worker(train_cfg: TrainConfig, root: str, threads: int, rerun: bool) -> str:
    """One cell in a worker process: the store is passed by its root, rules load from it."""
    torch.set_num_threads(threads)
    return str(train(train_cfg, Store(root), progress=False, rerun=rerun))


def run_grid(planned: list[TrainConfig | str], workers: int, store: Store, progress: bool = True,
             rerun: bool = False, label: str = "cells") -> list[Path | str]:
    """Train every feasible planned cell not already complete in the store (every one: ``rerun``).

    Returns, in plan order, each cell's run path, or for a cell that cannot be trained its reason.
    """
    feasible = [c for c in planned if not isinstance(c, str)]
    todo = [c for c in feasible if rerun or existing_run(c, store) is None]
    threads = max(1, (os.cpu_count() or 1) // workers)
    with progress_bar(progress) as bar:
        task = bar.add_task(label, total=len(feasible), completed=len(feasible) - len(todo))
        if todo:
            _execute(todo, workers, store, threads, rerun, lambda: bar.advance(task))
    results = [c if isinstance(c, str) else existing_run(c, store) for c in planned]
    if any(r is None for r in results):
        raise UserError(f"{label}: some runs did not finish; rerun to complete them")
    return results


def _execute(todo: list[TrainConfig], workers: int, store: Store, threads: int, rerun: bool,
             done: Callable[[], None]) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {pool.submit(_train_in_worker, c, str(store.root), threads, rerun) for c in todo}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
                    done()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
